package reconcile

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Connector is a Mailstore that can open more connections to its
// account, so that a run can work on several folders at once.
type Connector interface {
	// Connect opens another connection to the same account, with the
	// same settings. The caller closes it.
	Connect(ctx context.Context) (Conn, error)
}

// Conn is a Mailstore on a connection of its own, opened by a Connector.
type Conn interface {
	Mailstore
	Close() error
}

// SelectionLeaver is a Mailstore connection that can leave the mailbox
// it has selected, so that another connection may rename or delete it:
// Dovecot ends a session whose selected mailbox another session renamed
// ("IMAP session state is inconsistent, please relogin"), and whatever
// that session was to do next fails.
type SelectionLeaver interface {
	// LeaveMailbox unselects where the connection has mailbox, or a
	// mailbox under it, selected; it does nothing otherwise, nor where
	// it is not connected.
	LeaveMailbox(ctx context.Context, mailbox string) error
}

// AppendWarmer is a Mailstore that can get ready, in the background, for
// copies into it: open the connection its copies go through, so that
// the first copy does not wait for a login. WarmAppends returns at once;
// where there is nothing to get ready it does nothing.
type AppendWarmer interface {
	WarmAppends(ctx context.Context)
}

// LatencyReporter is a Mailstore that knows how far its server is: how
// long its connection waited on the network while it came up (about a
// round trip over a network, a fraction of a millisecond to a server on
// the same machine or LAN); 0 when it does not know.
type LatencyReporter interface {
	Latency() time.Duration
}

// pool holds the connections a run uses on each side: the Mailstores
// the run was given (worker 0) and, where those are Connectors, up to
// max[s]-1 more on side s, opened the first time a worker needs them and
// closed by close. A side whose Connect failed once is not tried again:
// the run goes on with the connections it has.
type pool struct {
	max [2]int
	// near marks the sides whose server is near (see nearby).
	near [2]bool
	// use is how many connections of max the run's work calls for on
	// each side (see sizeFor); 0 until it is known, which means max.
	use [2]atomic.Int32

	mu      sync.Mutex
	conns   [2][]Mailstore     // conns[s][w]: worker w's connection on side s; nil: not open
	dialing [2][]chan struct{} // closed when worker w's Connect on side s returns; nil: none under way
	refused [2]bool
	opened  []Conn
	warming sync.WaitGroup // the goroutines of warm
}

// newPool returns a pool of at most n[s] connections on side s (at
// least one: stores[s]).
func newPool(stores [2]Mailstore, n [2]int) *pool {
	p := &pool{}
	for s := range 2 {
		p.max[s] = max(n[s], 1)
		p.conns[s] = make([]Mailstore, p.max[s])
		p.dialing[s] = make([]chan struct{}, p.max[s])
		p.conns[s][0] = stores[s]
		if lr, ok := stores[s].(LatencyReporter); ok {
			d := lr.Latency()
			p.near[s] = d > 0 && d < nearby
		}
	}
	return p
}

// workers returns how many workers may work on sides at once: the
// fewest connections any of them may have, and no more than the run's
// work calls for (use).
func (p *pool) workers(sides ...Side) int {
	n := p.max[sides[0]]
	for _, s := range sides {
		n = min(n, p.max[s])
		if u := int(p.use[s].Load()); u > 0 {
			n = min(n, u)
		}
	}
	return n
}

// Connections cost the servers: a login starts processes there. What
// another connection gains is time otherwise spent waiting for answers
// on the network, so the run sizes its connections by how far each
// server is. To a far server (across a network) a connection is worth
// a few folders' round trips: b3 (a few changes in each of 20 folders)
// at 20 ms RTT took 0.89 s with four connections scanning a, where
// mbsync, on one, took 3.3 s. To a near one (nearby: the same machine,
// or a LAN) there is little to wait for, and each login only adds work
// on the server: on the bench's machine of 2 cores, Dovecot spent 60 to
// 100 ms of CPU per login, and b3 took 0.66 s with one connection per
// account, 0.73 s with two and 0.86 s with four (BENCHMARKS-HISTORY.md, "Near
// servers get one connection"). A first sync, or one with much to copy,
// gains from every connection, near or far (b1 took a sixth less time
// with 4 than with 2).
const (
	// nearby is the Latency under which a side's server counts as near.
	nearby = 5 * time.Millisecond
	// foldersPerConn is how many folders with work one connection
	// takes on, past the first two connections, in an incremental run
	// on a far server.
	foldersPerConn = 16
	// foldersPerScan is how many folders to scan one connection takes
	// on, on a far server (see scanWorkers).
	foldersPerScan = 5
	// foldersPerNearConn is how many folders, to scan or with work, one
	// connection takes on in an incremental run on a near server.
	foldersPerNearConn = 40
	// bulkCopy is the size of a plan's copies from which a run uses
	// every connection it may.
	bulkCopy = 8 << 20
)

// scanWorkers returns how many workers scan folders on side s: one
// per foldersPerScan of them (foldersPerNearConn on a near server), no
// fewer than the run uses (workers) and no more than the side may
// have. A folder's scan is a round trip or two on one connection, and
// the run waits for every folder's, so on a far server scans of many
// folders are where connections gain time.
func (p *pool) scanWorkers(s Side, folders int) int {
	per := foldersPerScan
	if p.near[s] {
		per = foldersPerNearConn
	}
	return min(p.max[s], max(p.workers(s), (folders+per-1)/per))
}

// sizeFor sets how many connections each side's work uses, from what
// the listing shows: the folders to scan (on both sides), and whether
// any of them has no scan point (read whole, as in a first sync: every
// connection). Otherwise, on a far server, two, or one per
// foldersPerConn folders where that is more; on a near one, one per
// foldersPerNearConn folders.
func (p *pool) sizeFor(folders int, whole bool) {
	for s := range 2 {
		switch {
		case whole:
			p.use[s].Store(0)
		case p.near[s]:
			p.use[s].Store(int32(max(1, (folders+foldersPerNearConn-1)/foldersPerNearConn)))
		default:
			p.use[s].Store(int32(max(2, (folders+foldersPerConn-1)/foldersPerConn)))
		}
	}
}

// sizeForPlan lets a plan with bulkCopy bytes or more of copies use
// every connection.
func (p *pool) sizeForPlan(plan *Plan) {
	var bytes int64
	for i := range plan.Actions {
		if plan.Actions[i].Op == Copy {
			bytes += plan.Actions[i].Size
		}
	}
	if bytes >= bulkCopy {
		p.use[A].Store(0)
		p.use[B].Store(0)
	}
}

// get returns worker w's connection on side s, opening it if need be,
// or nil when there is none: the Mailstore is no Connector, or it could
// not connect.
func (p *pool) get(ctx context.Context, s Side, w int) Mailstore {
	p.mu.Lock()
	for p.conns[s][w] == nil && !p.refused[s] && p.dialing[s][w] != nil {
		// warm is opening it already.
		ch := p.dialing[s][w]
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
		p.mu.Lock()
	}
	if m := p.conns[s][w]; m != nil || p.refused[s] {
		p.mu.Unlock()
		return m
	}
	cr, ok := p.conns[s][0].(Connector)
	if !ok {
		p.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	p.dialing[s][w] = ch
	p.mu.Unlock()
	// Connecting takes a round trip or more: not under the lock, so
	// that workers log in at the same time.
	c, err := cr.Connect(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialing[s][w] = nil
	close(ch)
	if err != nil {
		p.refused[s] = true
		return nil
	}
	p.opened = append(p.opened, c)
	p.conns[s][w] = c
	return c
}

// warm opens, in the background, the connections of workers 0 to n-1
// on side s that are not open yet (no more than the side may have),
// and where appends is true gets each of them ready for copies
// (AppendWarmer), so that the work that follows does not wait for
// logins. It returns at once; a worker that needs a connection being
// opened waits for it (get).
func (p *pool) warm(ctx context.Context, s Side, n int, appends bool) {
	for w := range min(n, p.max[s]) {
		p.warming.Go(func() {
			m := p.get(ctx, s, w)
			if aw, ok := m.(AppendWarmer); ok && appends {
				aw.WarmAppends(ctx)
			}
		})
	}
}

// leave has side s's open connections, but the first, leave mailbox
// and the mailboxes under it (SelectionLeaver), before the first
// renames or deletes it: a scan may have left it selected on another
// worker's connection. The first leaves it itself (a Mailstore's
// RenameFolder and DeleteFolder do). A connection that fails to leave
// is left as it is: its next operation finds out and reconnects, or
// fails.
func (p *pool) leave(ctx context.Context, s Side, mailbox string) {
	p.mu.Lock()
	others := slices.Clone(p.conns[s][1:])
	p.mu.Unlock()
	for _, m := range others {
		if l, ok := m.(SelectionLeaver); ok {
			l.LeaveMailbox(ctx, mailbox)
		}
	}
}

// close closes the connections the pool opened.
func (p *pool) close() {
	p.warming.Wait()
	p.mu.Lock()
	opened := p.opened
	p.opened = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range opened {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
}

// run runs n independent jobs on up to workers workers (see
// pool.workers) and returns when
// all have run (or ctx is done: the jobs not started are left). sides
// says which sides job i works on; fn runs it as worker w, with w's
// connections (stores[s] is nil for a side the job does not use).
// Worker 0 runs on the run's own connections; another worker first
// opens its own, and where it cannot, it leaves its jobs to the others.
func (p *pool) run(ctx context.Context, n, workers int, sides func(i int) []Side, fn func(i, w int, stores [2]Mailstore)) {
	p.runThen(ctx, n, workers, sides, fn, nil)
}

// runThen is run, with idle, when not nil, called by each worker that
// ran a job once there is none left for it to take (and again for
// worker 0 after the jobs it took over from workers that could not
// connect), before run returns: what a worker left to do after its last
// job is done there, beside the other workers' jobs.
func (p *pool) runThen(ctx context.Context, n, workers int, sides func(i int) []Side, fn func(i, w int, stores [2]Mailstore), idle func(w int)) {
	var (
		mu   sync.Mutex
		next int
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= n || ctx.Err() != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	// pending lists the jobs handed back by workers that could not
	// connect; worker 0 always runs them.
	var pending []int
	var wg sync.WaitGroup
	for w := range min(n, workers) {
		wg.Go(func() {
			ran := false
			defer func() {
				if ran && idle != nil {
					idle(w)
				}
			}()
			for {
				i, ok := take()
				if !ok {
					break
				}
				var stores [2]Mailstore
				usable := true
				for _, s := range sides(i) {
					if stores[s] = p.get(ctx, s, w); stores[s] == nil {
						usable = false
					}
				}
				if !usable {
					mu.Lock()
					pending = append(pending, i)
					mu.Unlock()
					return
				}
				ran = true
				fn(i, w, stores)
			}
		})
	}
	wg.Wait()
	if len(pending) > 0 && idle != nil {
		defer idle(0)
	}
	// Worker 0 never gives up a job, so pending holds only jobs of
	// workers that could not connect; they run now, on worker 0.
	for _, i := range pending {
		if ctx.Err() != nil {
			return
		}
		var stores [2]Mailstore
		for _, s := range sides(i) {
			stores[s] = p.conns[s][0]
		}
		fn(i, 0, stores)
	}
}

// advanceScanPointsOn moves the scan point of each folder side a run
// changed past the run's own changes, where the side's Mailstore can
// check that nothing else changed it (ScanPointAdvancer); a folder side
// without a point (created by the run, or not trusted by Next) gets one
// where the check finds it holds exactly its records. A check that
// fails or cannot be made leaves the point Next set, which stays right.
//
// A folder side that early read during the run, from the point Next
// left it, is taken as read then where that reading moves its point;
// each connection of pl reads its share of the others in one round
// trip (ObserveScanPoints).
func advanceScanPointsOn(ctx context.Context, p *Plan, outcomes []Outcome, pl *pool, st *State, early *earlyChecks) {
	changed := [2]map[string]bool{{}, {}}
	for i := range p.Actions {
		a := &p.Actions[i]
		if i >= len(outcomes) || outcomes[i].Err != nil {
			continue
		}
		switch a.Op {
		case CreateFolder, Copy, Move, Store, Expunge:
			changed[a.Side][a.Mailbox] = true
			if a.Dest != "" {
				changed[a.Side][a.Dest] = true
			}
		}
	}
	type job struct {
		side Side
		ss   *SideState
		k    Known
	}
	var jobs [2][]job
	// What a side refuses outright in one folder, it refuses in all
	// (see refusedOutright): a copy moved into one that has not learned
	// it lacks it too.
	wide := [2]Permanent{refusedOutright(*st, A), refusedOutright(*st, B)}
	for i := range st.Folders {
		f := &st.Folders[i]
		for s := range 2 {
			ss := f.Side(Side(s))
			if _, ok := pl.conns[s][0].(ScanPointAdvancer); !ok || ss.Mailbox == "" || ss.UIDValidity == 0 && ss.HighestModSeq != 0 || !changed[s][ss.Mailbox] {
				continue
			}
			k := Known{UIDValidity: ss.UIDValidity, UIDNext: ss.UIDNext, HighestModSeq: ss.HighestModSeq, FlagsVary: f.flagsVary(Side(s)), Permanent: ss.Permanent.Intersect(wide[s])}
			k.Messages = make([]Message, 0, len(f.Records))
			for _, r := range f.Records {
				if u := r.UID(Side(s)); u != 0 {
					k.Messages = append(k.Messages, Message{UID: u, Flags: r.Flags})
				}
			}
			if o, ok := early.take(Side(s), ss.Mailbox, k); ok {
				if pt, ok := o.Advance(k); ok {
					ss.UIDValidity, ss.UIDNext, ss.HighestModSeq = pt.UIDValidity, pt.UIDNext, pt.HighestModSeq
					continue
				}
			}
			jobs[s] = append(jobs[s], job{Side(s), ss, k})
		}
	}
	var wg sync.WaitGroup
	for s := range 2 {
		// One share of the folders per worker, each read in one go.
		n := min(len(jobs[s]), pl.workers(Side(s)))
		shares := make([][]job, n)
		for i, j := range jobs[s] {
			shares[i%n] = append(shares[i%n], j)
		}
		wg.Go(func() {
			pl.run(ctx, n, n, func(int) []Side { return []Side{Side(s)} }, func(i, _ int, stores [2]Mailstore) {
				adv, ok := stores[s].(ScanPointAdvancer)
				if !ok {
					return
				}
				reqs := make([]ScanPointRequest, len(shares[i]))
				for r, j := range shares[i] {
					reqs[r] = ScanPointRequest{Mailbox: j.ss.Mailbox, Since: j.k}
				}
				obs, err := adv.ObserveScanPoints(ctx, reqs)
				if err != nil {
					return
				}
				for r, j := range shares[i] {
					if pt, ok := obs[r].Advance(j.k); ok {
						j.ss.UIDValidity, j.ss.UIDNext, j.ss.HighestModSeq = pt.UIDValidity, pt.UIDNext, pt.HighestModSeq
					}
				}
			})
		})
	}
	wg.Wait()
}
