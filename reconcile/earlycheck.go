package reconcile

import (
	"context"
	"sync"
)

// earlyChecks reads, during execution, the folders whose part of the run
// is over, as the check after the run (advanceScanPointsOn) would read
// them at its end: the check of a folder whose copies ran on a second
// connection then goes on the worker's own connection while the next
// folder's copies run, instead of after the last of them. In b3 (a few
// changes in each of 20 folders) the check after the run was 35 to 75
// ms of EXAMINEs at the end of the run; here each hides in the time a
// worker waits for the copies before it.
//
// Only folder sides that one lane changes entirely (no action of another
// lane names the mailbox: no move from elsewhere lands in it) are read
// early, and only on a near server (pool.near), where a round trip per
// folder costs nothing worth saving; on a far one the check's single
// round trip at the end stays cheaper. An observation is used only where
// its point is the one Next leaves the folder (see take); any other
// folder is read at the end as before. Where one worker runs the lanes
// with their copies ahead (execute's copiesAhead), a folder with
// changes is read at once after them (observeNow), while its mailbox
// is still the worker's selection.
type earlyChecks struct {
	p  *Plan
	pl *pool
	// owned counts, per side and mailbox, the actions that change it:
	// a lane with as many owns it.
	owned map[sideMailbox]int

	wg  sync.WaitGroup
	mu  sync.Mutex
	obs map[sideMailbox]ScanPointObservation
}

// sideMailbox is a mailbox on one side.
type sideMailbox struct {
	side    Side
	mailbox string
}

// newEarlyChecks returns the early checks of p's execution on pl, nil
// where no side can have any (no near server that is a
// ScanPointAdvancer).
func newEarlyChecks(p *Plan, pl *pool) *earlyChecks {
	usable := false
	for s := range 2 {
		if _, ok := pl.conns[s][0].(ScanPointAdvancer); ok && pl.near[s] && p.lists[s] != nil {
			usable = true
		}
	}
	if !usable {
		return nil
	}
	e := &earlyChecks{p: p, pl: pl, owned: map[sideMailbox]int{}, obs: map[sideMailbox]ScanPointObservation{}}
	for i := range p.Actions {
		for _, k := range changedBy(&p.Actions[i]) {
			e.owned[k]++
		}
	}
	return e
}

// changedBy returns the mailboxes a's success changes: its own and, for
// a move or a rename, its destination.
func changedBy(a *Action) []sideMailbox {
	ks := []sideMailbox{{a.Side, a.Mailbox}}
	if a.Dest != "" {
		ks = append(ks, sideMailbox{a.Side, a.Dest})
	}
	return ks
}

// observe reads lane's mailbox on stores in the background, once every
// action of the lane is done, where the lane owns it and its side's
// server is near; wait waits for every read. It does nothing on a nil
// receiver.
func (e *earlyChecks) observe(ctx context.Context, lane [][]int, out []Outcome, stores [2]Mailstore) {
	e.observeNow(ctx, lane, out, stores, false)
}

// observeNow is observe, which reads before it returns where now is
// true: the read then finds the mailbox as the lane's changes left it,
// selected on the worker's connection, before the worker's next lane
// selects another, and a ScanPointAdvancer may read it there without
// opening it again.
func (e *earlyChecks) observeNow(ctx context.Context, lane [][]int, out []Outcome, stores [2]Mailstore, now bool) {
	if e == nil || ctx.Err() != nil {
		return
	}
	for _, g := range lane {
		for _, i := range g {
			if out[i].Err != nil {
				return // Next sets no point where an action failed
			}
		}
	}
	k, since, ok := e.owns(lane)
	if !ok {
		return
	}
	adv, ok := stores[k.side].(ScanPointAdvancer)
	if !ok {
		return
	}
	read := func() {
		obs, err := adv.ObserveScanPoints(ctx, []ScanPointRequest{{Mailbox: k.mailbox, Since: since}})
		if err != nil || len(obs) != 1 || !obs[0].Usable {
			return
		}
		e.mu.Lock()
		e.obs[k] = obs[0]
		e.mu.Unlock()
	}
	if now {
		read()
		return
	}
	e.wg.Go(read)
}

// expect tells the store of lane's mailbox, before the lane's changes
// run, that observeNow reads the mailbox right after them, where the
// lane owns it and its side's server is near
// (CheckAheadAdvancer.ExpectCheck): copiesAhead calls it once the
// lane's copies are done, so the changes are the run's last to the
// mailbox. Whether observeNow then reads it (an action may fail)
// does not matter: a check announced and not asked for costs the
// store a STATUS and a FETCH. It does nothing on a nil receiver.
func (e *earlyChecks) expect(lane [][]int, stores [2]Mailstore) {
	if e == nil || len(lane) == 0 {
		return
	}
	k, since, ok := e.owns(lane)
	if !ok {
		return
	}
	if ca, ok := stores[k.side].(CheckAheadAdvancer); ok {
		ca.ExpectCheck(ScanPointRequest{Mailbox: k.mailbox, Since: since})
	}
}

// owns returns the mailbox lane changes and the point the check after
// the run reads it from, where the lane owns it (no action of another
// lane changes it), its side's server is near and a ScanPointAdvancer,
// and the listing has the folder with a HIGHESTMODSEQ.
func (e *earlyChecks) owns(lane [][]int) (k sideMailbox, since Known, ok bool) {
	first := &e.p.Actions[lane[0][0]]
	k = sideMailbox{first.Side, first.Mailbox}
	if !e.pl.near[k.side] || e.p.lists[k.side] == nil {
		return k, since, false
	}
	n := 0
	for _, g := range lane {
		for _, i := range g {
			for _, c := range changedBy(&e.p.Actions[i]) {
				if c == k {
					n++
				}
			}
		}
	}
	if n != e.owned[k] {
		return k, since, false
	}
	f := listed(e.p.lists[k.side], k.mailbox)
	if f == nil || f.HighestModSeq == 0 {
		return k, since, false // renamed or made by the run, or no CONDSTORE
	}
	return k, Known{UIDValidity: f.UIDValidity, UIDNext: f.UIDNext, HighestModSeq: f.HighestModSeq}, true
}

// wait waits for the reads observe started.
func (e *earlyChecks) wait() {
	if e != nil {
		e.wg.Wait()
	}
}

// take returns the observation of mailbox on side s read during the run,
// where its point is k's (the point Next left the folder side): the
// check after the run would have read it from there too.
func (e *earlyChecks) take(s Side, mailbox string, k Known) (ScanPointObservation, bool) {
	if e == nil {
		return ScanPointObservation{}, false
	}
	o, ok := e.obs[sideMailbox{s, mailbox}]
	if !ok || o.Since.HighestModSeq != k.HighestModSeq || o.Since.UIDValidity != k.UIDValidity {
		return ScanPointObservation{}, false
	}
	return o, true
}
