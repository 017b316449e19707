package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RunOptions configures one Run of one pair.
type RunOptions struct {
	Pair   string
	Policy Policy
	// PlanOnly stops after planning: nothing is changed on either side
	// and nothing is saved.
	PlanOnly bool
	// Planned, when set, is called with the plan before it is carried
	// out (not when PlanOnly, nor when a guard stops the run), so that
	// progress can be reported against it. It must not change the plan.
	Planned func(p *Plan)
	// Progress, when set, is called after each executed action.
	Progress func(done, total int, a *Action)
	// Connections is how many connections the run may use on each side
	// (by Side) to scan and change several folders at once: the
	// Mailstore given to Run and, where it is a Connector, more opened
	// as needed. Zero or one: only the Mailstore given.
	Connections [2]int
	// Checkpoint, when set, is called while the plan is carried out,
	// each time CheckpointActions more actions are done (or, once a
	// quarter of those done at the last call is more, that many) or
	// CheckpointInterval has passed since the last call (checked as
	// batches of actions finish), with the state as Next would give it
	// had the run stopped there: what is done is recorded, the rest
	// counts as not run. It is meant to save and commit that state, so
	// that a run killed later keeps its progress. Execution waits for
	// it. Zero CheckpointActions or CheckpointInterval: that trigger is
	// off.
	Checkpoint         func(ctx context.Context, cp Checkpoint)
	CheckpointActions  int
	CheckpointInterval time.Duration
	// Approve, when set, is called with the plan Build made, after
	// listing and before anything is changed (not with PlanOnly, nor
	// when a guard tripped). An error stops the run: Run returns no
	// Result and that error, unwrapped, and changes nothing. A non-nil
	// scope limits the run to those folder pairs (by logical name):
	// only the actions whose Footprint names one of them are carried
	// out (Plan.InScope), Result.Plan holds just those, and the state
	// saved is ScopeState's: the other folder pairs stay as the base
	// had them, whatever changed in them is neither done nor agreed,
	// and the next run finds it again. A scoped run makes no
	// checkpoints. mailtwin apply FILE uses it to carry out a saved
	// plan and nothing else.
	Approve func(p *Plan) (scope []string, err error)
	// Stop, when closed, stops the run gracefully: no action starts
	// after it (a copy batch stops before its next message), the
	// actions in flight finish, and the run saves the state of what was
	// done, as a checkpoint would, and returns ErrStopped. Closed
	// before the plan is carried out, it changes and saves nothing, and
	// a listing or scan under way is cut short (its connections are
	// dropped, as by a cancelled ctx: nothing was changed on them).
	// Unlike a cancelled ctx, it leaves the network alone: the
	// connections stay usable to finish and save. Nil: never.
	Stop <-chan struct{}
	// Released, when set, is called once the run will send nothing more
	// to the Mailstores it was given (after the scan-point checks, before
	// the state is saved), so that the caller can log out of them while
	// the state is written. It is not called on every path: the caller
	// still closes them after Run.
	Released func()
}

// Result is what a Run did.
type Result struct {
	Plan *Plan
	// Outcomes has one entry per Plan.Actions when the plan was executed.
	Outcomes []Outcome
	// State is the state saved (zero when PlanOnly or on a guard error).
	State State
	// Failed counts the actions that failed.
	Failed int
}

// ErrStopped reports that RunOptions.Stop ended a run before all of its
// plan was carried out; the state saved records what was done, and the
// next run does the rest.
var ErrStopped = errors.New("stopped before the plan was done")

// ErrActionsFailed reports that some actions of a run failed; the state
// saved is consistent and the next run retries them.
var ErrActionsFailed = errors.New("some actions failed")

// Run syncs one pair: load the agreed state, list and scan both sides,
// plan, and (unless PlanOnly) execute and save the next state. A guard
// error returns the Result with its Plan and changes nothing.
func Run(ctx context.Context, opts RunOptions, a, b Mailstore, repo StateRepo) (*Result, error) {
	// The state is read while the servers answer LIST: at 100,000
	// messages each takes tens of milliseconds, and a run that finds
	// nothing to do is little else. So are the scan points the state
	// records (knownOf), one side on each core: they count every record.
	var base State
	var known [2]map[string]*recorded
	var loadErr error
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		if base, loadErr = repo.Load(ctx, opts.Pair); loadErr != nil {
			return
		}
		dropOneWayPoints(&base, opts.Policy)
		var wg sync.WaitGroup
		for s := range 2 {
			wg.Go(func() { known[s] = knownOf(base, Side(s)) })
		}
		wg.Wait()
	}()
	loadBase := func() (State, [2]map[string]*recorded, error) {
		<-loaded
		if loadErr != nil {
			return base, known, fmt.Errorf("load state of pair %q: %w", opts.Pair, loadErr)
		}
		return base, known, nil
	}
	pl := newPool([2]Mailstore{a, b}, opts.Connections)
	defer pl.close()
	var pf *prefetched
	if !opts.PlanOnly {
		pf = newPrefetched()
	}
	// A Stop closed while the sides are listed and scanned ends the run
	// there: nothing is changed yet, so nothing is to finish or save,
	// and the scan of a large account is not waited for.
	listCtx, cancelList := context.WithCancel(ctx)
	defer cancelList()
	listed := make(chan struct{})
	if opts.Stop != nil {
		go func() {
			select {
			case <-opts.Stop:
				cancelList()
			case <-listed:
			}
		}()
	}
	lists, same, asBase, err := listBoth(listCtx, opts.Policy, pl, loadBase, pf)
	close(listed)
	<-loaded
	if loadErr != nil {
		return nil, fmt.Errorf("load state of pair %q: %w", opts.Pair, loadErr)
	}
	if err != nil && ctx.Err() == nil && stopped(opts.Stop) {
		return nil, fmt.Errorf("pair %q: %w: while its folders were listed, before any action", opts.Pair, ErrStopped)
	}
	if err != nil {
		return nil, fmt.Errorf("pair %q: %w", opts.Pair, err)
	}
	// Where nothing changed on either side, the plan is made without
	// copying the base's messages into the listings, if it can be
	// (buildSettled); the plan then goes no further than execute, which
	// has nothing to do. A plan that may be saved (PlanOnly) or is
	// compared with a saved one (Approve) reads the listings' messages:
	// it is made in full.
	var plan *Plan
	if same && !opts.PlanOnly && opts.Approve == nil {
		plan = buildSettled(opts.Pair, base, lists[A], lists[B], opts.Policy, asBase.mailboxes(&lists))
	}
	if plan == nil {
		asBase.fill(&lists)
		plan, err = Build(opts.Pair, base, lists[A], lists[B], opts.Policy)
	}
	var ge *GuardError
	if err != nil && !errors.As(err, &ge) {
		return nil, fmt.Errorf("pair %q: %w", opts.Pair, err)
	}
	res := &Result{Plan: plan}
	if err != nil || opts.PlanOnly {
		return res, err
	}
	var scope []string
	if opts.Approve != nil {
		if scope, err = opts.Approve(plan); err != nil {
			return nil, err
		}
	}
	full := plan
	var idx []int
	if scope != nil {
		plan, idx = plan.scoped(scope)
		res.Plan = plan
	}
	if stopped(opts.Stop) && len(plan.Actions) > 0 {
		return res, fmt.Errorf("pair %q: %w: none of %d actions run", opts.Pair, ErrStopped, len(plan.Actions))
	}
	var ck *checkpointer
	if opts.Checkpoint != nil && scope == nil {
		ck = &checkpointer{plan: plan, fn: opts.Checkpoint, every: opts.CheckpointActions, interval: opts.CheckpointInterval, last: time.Now()}
	}
	if opts.Planned != nil {
		opts.Planned(plan)
	}
	pl.sizeForPlan(plan)
	guardExpunges(plan, &lists)
	pf.renamed(plan, [2]rune{lists[A].Delim, lists[B].Delim})
	early := newEarlyChecks(plan, pl)
	res.Outcomes = execute(ctx, plan, pl, opts.Progress, ck, opts.Stop, pf, early)
	if same && len(full.Actions) == 0 {
		// Every folder is as the base left it, on both sides, and
		// nothing was done: the next state is the base, which the
		// state repository holds already (Lock reset anything staged
		// to HEAD). Encoding and staging it again cost a no-op run of
		// 100,000 messages a third of its time.
		res.State = base
		return res, ctx.Err()
	}
	if scope == nil {
		res.State = Next(plan, res.Outcomes)
	} else {
		// The actions left out count as not run; ScopeState then puts
		// back the base's record of the folder pairs they are in.
		all := make([]Outcome, len(full.Actions))
		for i := range all {
			all[i] = Outcome{Err: ErrNotRun}
		}
		for j, i := range idx {
			all[i] = res.Outcomes[j]
		}
		res.State = ScopeState(base, Next(full, all), scope)
	}
	advanceScanPointsOn(ctx, plan, res.Outcomes, pl, &res.State, early)
	// The connections are done with: they log out while the state is
	// saved.
	if opts.Released != nil {
		opts.Released()
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		pl.close()
	}()
	defer func() { <-closed }()
	if err := repo.Save(ctx, opts.Pair, res.State); err != nil {
		return res, fmt.Errorf("save state of pair %q: %w", opts.Pair, err)
	}
	var errs []string
	notRun := 0
	for i, o := range res.Outcomes {
		if o.Err == ErrNotRun && stopped(opts.Stop) {
			notRun++
			continue
		}
		if o.Err != nil {
			res.Failed++
			if len(errs) < 5 {
				errs = append(errs, plan.Actions[i].String()+": "+o.Err.Error())
			}
		}
	}
	if res.Failed > 0 {
		more := ""
		if res.Failed > len(errs) {
			more = fmt.Sprintf("\n  ... and %d more", res.Failed-len(errs))
		}
		return res, fmt.Errorf("pair %q: %w: %d of %d (the next run retries them):\n  %s%s",
			opts.Pair, ErrActionsFailed, res.Failed, len(plan.Actions), strings.Join(errs, "\n  "), more)
	}
	if notRun > 0 && ctx.Err() == nil {
		return res, fmt.Errorf("pair %q: %w: %d of %d actions done, the next run does the rest", opts.Pair, ErrStopped, len(plan.Actions)-notRun, len(plan.Actions))
	}
	return res, ctx.Err()
}

// listBoth lists both sides, then scans them, each side concurrently on
// its own connections (several folders at once where pl has more than
// one). Folders outside the pair (outside a side's prefix), folders
// whose policy is direction none and folders Policy.ExcludeSpecialUse
// leaves out are not scanned. A folder the base knows a scan point for
// (knownOf) is scanned from there where the Mailstore is an
// IncrementalScanner. loadBase gives the base and, per side, knownOf
// it; it is called once both LISTs are answered. Where pf is not nil,
// the small new mail a scan finds is read with it (see
// prefetchMaxMessage) and held in pf.
//
// A folder whose listing says it is as its scan point left it is not
// scanned either: asBase holds it, its Messages nil until asBase.fill
// gives it the base's.
//
// same reports that the listings hold exactly the base's folders, each
// as its scan point left it on both sides: the scan read nothing, and
// the listings are the base's messages.
func listBoth(ctx context.Context, p Policy, pl *pool, loadBase func() (State, [2]map[string]*recorded, error), pf *prefetched) (lists [2]Listing, same bool, asBase *unscanned, err error) {
	var errs [2]error
	var wg sync.WaitGroup
	for s := range 2 {
		wg.Go(func() {
			st := pl.conns[s][0]
			l, err := st.List(ctx)
			if err != nil {
				errs[s] = fmt.Errorf("list folders on %s (%s): %w", Side(s), st.Name(), err)
			}
			lists[s] = l
		})
	}
	wg.Wait()
	if err := errors.Join(errs[0], errs[1]); err != nil {
		return lists, false, nil, err
	}
	base, known, err := loadBase()
	if err != nil {
		return lists, false, nil, err
	}
	names, err := newNamer(p.Naming, [2]*Listing{&lists[A], &lists[B]})
	if err != nil {
		return lists, false, nil, err
	}
	// A folder left out by special-use attribute is not scanned either.
	p = p.withExclusions(names, [2]*Listing{&lists[A], &lists[B]})
	// Folders whose listing says they are as the base left them are not
	// scanned: by IncrementalScanner's contract ScanSince would read
	// nothing and give the base's messages, which asBase.fill copies out
	// of the records where the plan needs them. The rest go to the pool.
	var scan, unchanged [2][]int
	// grown marks, per side and by index in scan, the folders where at
	// least two messages arrived since the base: copies to the other
	// side may follow, once the scan shows them new mail and not
	// messages moved in from another folder (see newMail).
	var grown [2][]bool
	for s := range 2 {
		_, inc := pl.conns[s][0].(IncrementalScanner)
		for i := range lists[s].Folders {
			f := &lists[s].Folders[i]
			name := names.logicalOf(Side(s), f.Mailbox)
			if name == "" || p.For(name).Direction == None {
				continue
			}
			k, ok := known[s][f.Mailbox]
			if ok && inc && k.unchanged(f) {
				unchanged[s] = append(unchanged[s], i)
				continue
			}
			scan[s] = append(scan[s], i)
			grown[s] = append(grown[s], ok && f.UIDNext >= k.point.UIDNext+2 || !ok && f.NumMessages >= 2)
		}
	}
	// A run with several folders to scan will likely have several to
	// change, on both sides: their connections are opened now, while
	// the first connections scan. The connections copies go through
	// are opened as soon as a scan finds new mail to copy (the n-th
	// folder with new mail on one side warms n on the other), still
	// while the rest is scanned: not on the listing's word alone, which
	// cannot tell new mail from messages moved in from another folder.
	whole := false
	for s := range 2 {
		for _, i := range scan[s] {
			if _, ok := known[s][lists[s].Folders[i].Mailbox]; !ok {
				whole = true
			}
		}
	}
	pl.sizeFor(len(scan[A])+len(scan[B]), whole)
	// A run that scans a folder plans from listings with every message
	// in them (see Run): the folders not scanned get theirs now, on a
	// core of their own, while the servers answer the scans. At 100,000
	// messages that is tens of milliseconds of copying the run would
	// otherwise wait for after the last scan. Where nothing is to be
	// scanned the plan may need none of them.
	asBase = &unscanned{unchanged: unchanged, known: known}
	if len(scan[A])+len(scan[B]) > 0 {
		asBase.start([2][]Folder{lists[A].Folders, lists[B].Folders})
	}
	if n := len(scan[A]) + len(scan[B]); n >= 2 {
		for s := range 2 {
			pl.warm(ctx, Side(s), max(min(n, pl.workers(Side(s))), pl.scanWorkers(Side(s), len(scan[s]))), false)
		}
	}
	baseIDs := sync.OnceValue(func() map[Identity]bool { return identitiesOf(base) })
	var withMail [2]atomic.Int32
	for s := range 2 {
		wg.Go(func() {
			known, scan := known[s], scan[s]
			var mu sync.Mutex
			fail := func(mailbox string, st Mailstore, err error) {
				mu.Lock()
				if errs[s] == nil {
					errs[s] = fmt.Errorf("scan %q on %s (%s): %w", mailbox, Side(s), st.Name(), err)
				}
				mu.Unlock()
			}
			// ahead[w] is the read of new mail worker w's last scan found,
			// not sent yet: it goes with the worker's next scan, on the
			// same connection (ReadAheadScanner), or on its own once the
			// worker has no folder left to scan. Only worker w uses
			// ahead[w].
			workers := pl.scanWorkers(Side(s), len(scan))
			ahead := make([]*readAhead, workers)
			pl.runThen(ctx, len(scan), workers, func(int) []Side { return []Side{Side(s)} }, func(j, w int, stores [2]Mailstore) {
				prior := ahead[w]
				ahead[w] = nil
				mu.Lock()
				failed := errs[s] != nil
				mu.Unlock()
				if failed {
					return
				}
				st := stores[s]
				f := &lists[s].Folders[scan[j]]
				var err error
				inc, _ := st.(IncrementalScanner)
				ra, _ := st.(ReadAheadScanner)
				rec, ok := known[f.Mailbox]
				var k Known
				if ok {
					k = rec.known()
				}
				switch {
				case ok && ra != nil && prior != nil:
					fn, keep := pf.reader(Side(s), prior.mailbox)
					var rerr error
					rerr, err = ra.ReadThenScanSince(ctx, BodyRead{Mailbox: prior.mailbox, UIDs: prior.uids, Fn: fn}, f, k)
					if rerr != nil {
						// Both went in one exchange: the error names both.
						mu.Lock()
						if errs[s] == nil {
							errs[s] = fmt.Errorf("scan %q on %s (%s) and read new mail of %q: %w", f.Mailbox, Side(s), st.Name(), prior.mailbox, rerr)
						}
						mu.Unlock()
						return
					}
					keep()
				default:
					if prior != nil {
						if err := pf.read(ctx, st, Side(s), prior.mailbox, prior.uids); err != nil {
							fail(prior.mailbox, st, err)
							return
						}
					}
					if ok && inc != nil {
						err = inc.ScanSince(ctx, f, k)
					} else {
						err = st.Scan(ctx, f)
					}
				}
				if err != nil {
					fail(f.Mailbox, st, err)
					return
				}
				if grown[s][j] && newMail(f, k.UIDNext, baseIDs()) >= 2 {
					pl.warm(ctx, Side(s).Other(), min(int(withMail[s].Add(1)), pl.workers(Side(s).Other())), true)
				}
				if ok && pf != nil && f.UIDNext > k.UIDNext && copiesFrom(p, names, Side(s), f.Mailbox) {
					uids := pf.candidates(f, k.UIDNext, baseIDs())
					switch {
					case len(uids) == 0:
					case ra != nil:
						ahead[w] = &readAhead{mailbox: f.Mailbox, uids: uids}
					default:
						if err := pf.read(ctx, st, Side(s), f.Mailbox, uids); err != nil {
							fail(f.Mailbox, st, err)
						}
					}
				}
			}, func(w int) {
				r := ahead[w]
				ahead[w] = nil
				mu.Lock()
				failed := errs[s] != nil
				mu.Unlock()
				if r == nil || failed {
					return
				}
				if st := pl.get(ctx, Side(s), w); st != nil {
					if err := pf.read(ctx, st, Side(s), r.mailbox, r.uids); err != nil {
						fail(r.mailbox, st, err)
					}
				}
			})
			if errs[s] == nil && ctx.Err() != nil {
				errs[s] = ctx.Err()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs[0], errs[1]); err != nil {
		return lists, false, nil, err
	}
	return lists, allUnchanged(base, unchanged, scan), asBase, nil
}

// unscanned holds the folders of the listings listBoth returned that it
// did not scan because they say they are as the base left them (by
// index in each side's Folders): their Messages are nil until fill
// gives them the base's.
type unscanned struct {
	unchanged [2][]int
	known     [2]map[string]*recorded
	// filled is closed once the fill start began is done; nil when
	// start was not called.
	filled chan struct{}
}

// start fills the unscanned folders of folders (each side's Folders of
// the listings, which listBoth returns as they are: the same arrays) in
// the background; fill waits for it.
func (u *unscanned) start(folders [2][]Folder) {
	u.filled = make(chan struct{})
	go func() {
		defer close(u.filled)
		u.fillFolders(folders)
	}()
}

// fillFolders gives the unscanned folders of folders the base's
// messages.
func (u *unscanned) fillFolders(folders [2][]Folder) {
	for s := range 2 {
		for _, i := range u.unchanged[s] {
			f := &folders[s][i]
			f.Messages = u.known[s][f.Mailbox].known().Messages
		}
	}
}

// mailboxes returns the unscanned folders' mailboxes in lists, per side.
func (u *unscanned) mailboxes(lists *[2]Listing) [2]map[string]bool {
	var out [2]map[string]bool
	for s := range 2 {
		out[s] = make(map[string]bool, len(u.unchanged[s]))
		for _, i := range u.unchanged[s] {
			out[s][lists[s].Folders[i].Mailbox] = true
		}
	}
	return out
}

// fill gives each unscanned folder of lists the messages ScanSince
// would have: the base's, as recorded; where start did that already,
// it waits for it to be done. It does nothing on a nil receiver.
func (u *unscanned) fill(lists *[2]Listing) {
	if u == nil {
		return
	}
	if u.filled != nil {
		<-u.filled
		return
	}
	u.fillFolders([2][]Folder{lists[A].Folders, lists[B].Folders})
}

// readAhead is a read of new mail found by a scan (prefetched.candidates
// of mailbox), left to go with the next scan on the same connection.
type readAhead struct {
	mailbox string
	uids    []UID
}

// allUnchanged reports that the listings hold the base's folders and no
// other, each unchanged since its scan point (by recorded.unchanged) on
// both sides: every base folder, on each side where it has a mailbox,
// is among that side's unchanged folders, and nothing is to be scanned.
func allUnchanged(base State, unchanged, scan [2][]int) bool {
	for s := range 2 {
		if len(scan[s]) > 0 {
			return false
		}
		n := 0
		for i := range base.Folders {
			if base.Folders[i].Side(Side(s)).Mailbox != "" {
				n++
			}
		}
		// Each unchanged folder is a distinct mailbox that one base
		// folder, and only one, claims (knownOf): equal counts mean
		// every base mailbox was listed unchanged.
		if len(unchanged[s]) != n {
			return false
		}
	}
	return true
}

// identitiesOf returns the identities of every message the base knows.
func identitiesOf(base State) map[Identity]bool {
	n := 0
	for i := range base.Folders {
		n += len(base.Folders[i].Records)
	}
	ids := make(map[Identity]bool, n)
	for i := range base.Folders {
		for _, r := range base.Folders[i].Records {
			if r.ID != "" {
				ids[r.ID] = true
			}
		}
	}
	return ids
}

// newMail counts the messages of scanned folder f from UID from on (all
// of them for 0) that are new mail: no message of the base had their
// identity, so they are not messages moved in from another folder, and
// a copy to the other side will likely follow.
func newMail(f *Folder, from UID, base map[Identity]bool) int {
	n := 0
	for i := range f.Messages {
		if m := &f.Messages[i]; m.UID >= from && (m.ID == "" || !base[m.ID]) {
			n++
		}
	}
	return n
}

// knownOf returns, by mailbox, the scan points the base records for side
// s: folders whose side state has a HighestModSeq (see SideState). A
// mailbox two base folders claim has none. The records' messages are
// not copied out (recorded.known does that): a folder its listing shows
// unchanged needs no copy, and at 100,000 messages the copies were a
// fifth of a no-op run's CPU.
func knownOf(base State, s Side) map[string]*recorded {
	claims := map[string]int{}
	for i := range base.Folders {
		claims[base.Folders[i].Side(s).Mailbox]++
	}
	out := map[string]*recorded{}
	for i := range base.Folders {
		f := &base.Folders[i]
		ss := f.Side(s)
		if ss.Mailbox == "" || claims[ss.Mailbox] > 1 || ss.HighestModSeq == 0 || ss.UIDValidity == 0 || ss.UIDNext == 0 {
			continue
		}
		r := &recorded{point: Known{UIDValidity: ss.UIDValidity, UIDNext: ss.UIDNext, HighestModSeq: ss.HighestModSeq}, from: f, side: s}
		for i := range f.Records {
			if u := f.Records[i].UID(s); u != 0 && u < ss.UIDNext {
				r.below++
			}
		}
		out[ss.Mailbox] = r
	}
	return out
}

// dropOneWayPoints drops the scan point of each folder side of base
// whose copies may hold flags other than the records' (the target of a
// folder kept one way, FolderState.Direction), where the policy no
// longer keeps the folder that way: the side's own flags count now, as
// changes of its user's, and the side is read whole. A folder the
// policy ignores now keeps its points: it is not read.
func dropOneWayPoints(base *State, p Policy) {
	for i := range base.Folders {
		f := &base.Folders[i]
		if f.Direction == Both {
			continue
		}
		if d := p.For(f.Name).Direction; d == f.Direction || d == None {
			continue
		}
		for s := range 2 {
			if f.flagsVary(Side(s)) {
				f.Side(Side(s)).HighestModSeq = 0
			}
		}
	}
}

// recorded is the scan point the base records for one folder side
// (knownOf), its messages left in the records until a scan needs them.
type recorded struct {
	// point is the Known without its Messages.
	point Known
	from  *FolderState
	side  Side
	// below counts from's records with a UID on side below UIDNext.
	below int
}

// unchanged reports whether f's listing says the folder is as the
// recorded point left it: the same UIDVALIDITY, UIDNEXT and
// HIGHESTMODSEQ (the point has one), and as many messages as the
// records have below its UIDNEXT. An IncrementalScanner would then read
// nothing (see its ScanSince).
func (r *recorded) unchanged(f *Folder) bool {
	k := r.point
	return k.HighestModSeq != 0 && f.UIDValidity == k.UIDValidity && f.UIDNext == k.UIDNext && f.HighestModSeq == k.HighestModSeq &&
		f.NumMessages == r.below
}

// known returns the recorded point with its messages: the records'
// messages on the side below UIDNext, sorted by UID, a fresh slice.
func (r *recorded) known() Known {
	k := r.point
	k.Messages = make([]Message, 0, r.below)
	for _, rec := range r.from.Records {
		if u := rec.UID(r.side); u != 0 && u < k.UIDNext {
			k.Messages = append(k.Messages, Message{UID: u, Flags: rec.Flags, ID: rec.ID})
		}
	}
	// The records are usually in UID order on one side at least.
	byUID := func(a, b Message) int { return cmp.Compare(a.UID, b.UID) }
	if !slices.IsSortedFunc(k.Messages, byUID) {
		slices.SortFunc(k.Messages, byUID)
	}
	return k
}

// Execute carries out a plan's actions in order and returns one Outcome
// per action. Actions of one kind on one mailbox are batched into one
// command where IMAP allows it (UID STORE, UID EXPUNGE, UID MOVE over a
// UID set; copies stream through one FETCH). An action that fails does
// not stop the others, except that once ctx is done the rest are not
// run. Execute uses one connection per side; Run may use more.
func Execute(ctx context.Context, p *Plan, stores [2]Mailstore, progress func(done, total int, a *Action)) []Outcome {
	return ExecuteUntil(ctx, p, stores, progress, nil)
}

// ExecuteUntil is Execute, stopped gracefully once stop is closed, as
// RunOptions.Stop stops a Run: no action starts after it, the actions
// in flight finish, and those not run keep ErrNotRun.
func ExecuteUntil(ctx context.Context, p *Plan, stores [2]Mailstore, progress func(done, total int, a *Action), stop <-chan struct{}) []Outcome {
	return execute(ctx, p, newPool(stores, [2]int{1, 1}), progress, nil, stop, nil, nil)
}

// stopped reports whether stop is closed (never, for nil).
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// execute is Execute on the connections of pl. Folder creations,
// renames and deletions run in plan order on the first connection of
// each side. The batches between are grouped into lanes by the mailbox
// they change, first the copies, then the flag changes, moves and
// expunges; the lanes of a step run at the same time, each on one
// worker's connections: a mailbox is changed by one connection at a
// time, in plan order, and different mailboxes in parallel. Every copy
// is done before any message of its source side is moved or expunged;
// the other side's changes run with the copies (earlyOf). Where early
// is not nil, a folder is read for the check after the run as soon as
// its lane is done (see earlyChecks), and where the lanes of a step
// have one worker, each lane's copies run before its other changes
// (see copiesAhead).
// Once stop is closed no batch starts, and a copy stops before its next
// message; what is not done keeps ErrNotRun.
func execute(ctx context.Context, p *Plan, pl *pool, progress func(done, total int, a *Action), ck *checkpointer, stop <-chan struct{}, pf *prefetched, early *earlyChecks) []Outcome {
	out := make([]Outcome, len(p.Actions))
	for i := range out {
		out[i].Err = ErrNotRun
	}
	var mu sync.Mutex // guards failed and done, and serialises progress
	// failed marks the mailboxes, per side, where an action failed: a
	// folder deletion there is skipped, as it would take whatever the
	// failed action left in the folder with it.
	failed := [2]map[string]bool{{}, {}}
	wins := &windows{}
	done := 0
	// finished marks the actions whose batch is done: their outcomes
	// are final, and a checkpoint may read them.
	finished := make([]bool, len(out))
	finish := func(g []int) {
		mu.Lock()
		defer mu.Unlock()
		for _, i := range g {
			finished[i] = true
			if out[i].Err != nil {
				failed[p.Actions[i].Side][p.Actions[i].Mailbox] = true
			}
		}
		for _, i := range g {
			if out[i].Err == ErrNotRun {
				continue // stopped: not done
			}
			done++
			if progress != nil {
				progress(done, len(p.Actions), &p.Actions[i])
			}
		}
		if ck != nil && done < len(out) && !stopped(stop) {
			ck.maybe(ctx, done, out, finished)
		}
	}
	first := [2]Mailstore{pl.conns[A][0], pl.conns[B][0]}
	// failedRenames holds the RenameFolders that failed, or were left
	// out (underFailedRename), so far; notCreated the mailboxes, per
	// side, whose CreateFolder did.
	var failedRenames []*Action
	notCreated := [2]map[string]bool{{}, {}}
	groups := batches(p.Actions)
	// stage is the step a batch runs in: 0 folder creations and
	// renames, 1 copies, 2 flag changes, moves and expunges, 3 folder
	// deletions. Flag changes (phase 2) share lanes with moves and
	// expunges (phase 3): each names messages already in its mailbox,
	// so a lane runs its mailbox's stores, then its moves and expunges,
	// on one selection.
	stage := func(g []int) int {
		switch ph := p.Actions[g[0]].phase(); ph {
		case 0, 1:
			return ph
		case 2, 3:
			return 2
		}
		return 3
	}
	halt := func() bool { return ctx.Err() != nil || stopped(stop) }
	// copying holds, per worker, the end of the copies its last lane
	// left running.
	var copying struct {
		sync.Mutex
		by map[int]chan struct{}
	}
	copying.by = map[int]chan struct{}{}
	// runLane runs the batches of lane in order on stores; a mailbox's
	// flag stores and the expunge after them go as one call where the
	// store batches them (ChangeBatcher), and so do its moves to other
	// folders (MoveBatcher).
	runLane := func(lane [][]int, stores [2]Mailstore) {
		for len(lane) > 0 {
			if halt() {
				return
			}
			if err := absentTarget(&p.Actions[lane[0][0]], notCreated, failedRenames); err != nil {
				// Each copy would carry its body to the server only
				// to be refused: the folder is not there.
				for _, i := range lane[0] {
					out[i] = Outcome{Err: err}
				}
				finish(lane[0])
				lane = lane[1:]
				continue
			}
			// n batches from the start of lane go in one call, or
			// the first alone.
			st, n := stores[p.Actions[lane[0][0]].Side], 0
			if k := moveBatches(p.Actions, lane); k > 1 {
				if mb, ok := st.(MoveBatcher); ok {
					runMoves(ctx, p.Actions, lane[:k], mb, out)
					restoreMoved(ctx, p.Actions, lane[:k], st, out)
					n = k
				}
			} else if k := changeRun(p.Actions, lane); k > 1 {
				if cb, ok := st.(ChangeBatcher); ok {
					runChanges(ctx, p.Actions, lane[:k], cb, out)
					storeAlone(ctx, p.Actions, lane[:k], st, out)
					n = k
				}
			}
			if n == 0 {
				runBatch(ctx, p.Actions, lane[0], stores, out, failed, wins, stop, pf)
				n = 1
			}
			for _, g := range lane[:n] {
				finish(g)
			}
			lane = lane[n:]
		}
	}
	// copiesAhead runs lanes on one worker's stores, the copies of each
	// lane before its other changes, and each lane's copies while the
	// lane before makes its changes: a mailbox is still changed by one
	// connection at a time (its copies on the pipeline's, then its
	// changes on the worker's), and the worker finds the mailbox it has
	// just changed still selected when it reads it for the check after
	// the run (early), so that the check costs no second opening of the
	// mailbox. Where changes run first and copies after (pl.run's
	// lanes), the copies end on the other connection after the worker
	// has gone on to the next mailbox, and the check must EXAMINE it
	// again: on a near Dovecot that is as much work as the folder's
	// SELECT, one more per folder with a change.
	copiesAhead := func(lanes [][][]int, stores [2]Mailstore) {
		copied := make([]chan struct{}, len(lanes))
		for i := range copied {
			copied[i] = make(chan struct{})
		}
		go func() {
			for i, lane := range lanes {
				copies, _ := splitLane(p.Actions, lane)
				runLane(copies, stores)
				close(copied[i])
			}
		}()
		for i, lane := range lanes {
			<-copied[i]
			_, changes := splitLane(p.Actions, lane)
			if len(changes) > 0 {
				early.expect(lane, stores)
			}
			runLane(changes, stores)
			early.observeNow(ctx, lane, out, stores, len(changes) > 0)
		}
	}
	for len(groups) > 0 && !halt() {
		phase := stage(groups[0])
		n := 1
		for n < len(groups) && stage(groups[n]) == phase {
			n++
		}
		phaseGroups := groups[:n]
		groups = groups[n:]
		if phase == 1 {
			// The flag changes, moves and expunges of a side no copy
			// reads from go with the copies (see earlyOf).
			m := 0
			for m < len(groups) && stage(groups[m]) == 2 {
				m++
			}
			early, late := earlyOf(p.Actions, phaseGroups, groups[:m])
			phaseGroups = append(phaseGroups[:len(phaseGroups):len(phaseGroups)], early...)
			groups = append(late, groups[m:]...)
		}
		if phase == 0 || phase == 3 {
			for k := 0; k < len(phaseGroups); k++ {
				g := phaseGroups[k]
				if halt() {
					break
				}
				a := &p.Actions[g[0]]
				if run := createRun(p.Actions, phaseGroups[k:], failedRenames); len(run) > 1 {
					if bc, ok := first[a.Side].(FolderBatchCreator); ok {
						createBatch(ctx, p.Actions, run, bc, out, notCreated[a.Side], finish)
						k += len(run) - 1
						continue
					}
				}
				if to := underFailedRename(failedRenames, a); to != nil {
					// The folder was to go under the renamed one: made
					// or renamed there now, it would stand alone, apart
					// from the folder the state pairs it under (and
					// make the rename's destination a parent of its
					// own). The next run does it once the rename is
					// done.
					what := "created"
					if a.Op == RenameFolder {
						what = fmt.Sprintf("renamed to %q", a.Dest)
					}
					for _, i := range g {
						out[i] = Outcome{Err: fmt.Errorf("folder %q on %s not %s: the RENAME of %q to %q above it failed", a.Mailbox, a.Side, what, to.Mailbox, to.Dest)}
					}
				} else {
					if a.Op == RenameFolder || a.Op == DeleteFolder {
						pl.leave(ctx, a.Side, a.Mailbox)
					}
					runBatch(ctx, p.Actions, g, first, out, failed, wins, stop, nil)
				}
				if a.Op == RenameFolder && out[g[0]].Err != nil {
					failedRenames = append(failedRenames, a)
				}
				if a.Op == CreateFolder && out[g[0]].Err != nil {
					notCreated[a.Side][a.Mailbox] = true
				}
				finish(g)
			}
			continue
		}
		lanes := lanesOf(p.Actions, phaseGroups)
		laneSides := func(i int) []Side {
			a := &p.Actions[lanes[i][0][0]]
			if !lanePrefetched(p.Actions, lanes[i], pf) {
				return []Side{a.Side, a.Side.Other()}
			}
			return []Side{a.Side}
		}
		// As many workers as every side a lane uses may have: where
		// the lanes work on one side only, as many as that side's.
		var used []Side
		for i := range lanes {
			for _, s := range laneSides(i) {
				if !slices.Contains(used, s) {
					used = append(used, s)
				}
			}
		}
		if len(used) == 0 {
			used = []Side{A, B}
		}
		if pl.workers(used...) == 1 && early != nil {
			copiesAhead(lanes, first)
			continue
		}
		pl.run(ctx, len(lanes), pl.workers(used...), laneSides, func(i, w int, stores [2]Mailstore) {
			// A lane's flag changes, moves and expunges run first; its
			// copies then run while the worker goes on to its next
			// lane's changes (see splitLane). Two connections of the
			// worker are busy at once, each on its own mailbox: a
			// mailbox changed on two connections at once makes the
			// server lock one out (Dovecot's APPEND and STORE on one
			// Maildir each wait for the other's lock).
			copies, changes := splitLane(p.Actions, lanes[i])
			runLane(changes, stores)
			if len(copies) == 0 {
				early.observe(ctx, lanes[i], out, stores)
				return
			}
			copying.Lock()
			prev := copying.by[w]
			done := make(chan struct{})
			copying.by[w] = done
			copying.Unlock()
			if prev != nil {
				// One copy at a time per worker: two, in opposite
				// directions, could each hold the connection the
				// other's APPENDs wait for. Waiting here, not in the
				// copy, also keeps a worker from taking lanes faster
				// than it copies them, which would leave the other
				// workers without.
				<-prev
			}
			go func() {
				runLane(copies, stores)
				// The check runs in the background: the next
				// lane's copies do not wait for it.
				early.observe(ctx, lanes[i], out, stores)
				close(done)
			}()
		})
		copying.Lock()
		for _, done := range copying.by {
			<-done
		}
		clear(copying.by)
		copying.Unlock()
	}
	early.wait()
	return out
}

// createRun returns the groups from the start of groups that create
// folders on one side, one after the other, none of them under a
// RenameFolder that failed (failed, as underFailedRename): they may go to
// the server in one exchange (FolderBatchCreator), in this order. A
// RenameFolder, or a creation on the other side, ends the run: renames
// run one at a time, each after what came before it.
func createRun(acts []Action, groups [][]int, failed []*Action) [][]int {
	n := 0
	for n < len(groups) {
		a := &acts[groups[n][0]]
		if a.Op != CreateFolder || a.Side != acts[groups[0][0]].Side || underFailedRename(failed, a) != nil {
			break
		}
		n++
	}
	return groups[:n]
}

// createBatch runs the folder creations run (from createRun) in one
// exchange through bc, sets each group's outcome as runBatch would, marks
// the mailboxes not made in notCreated (the side's), and calls finish for
// each group in order.
func createBatch(ctx context.Context, acts []Action, run [][]int, bc FolderBatchCreator, out []Outcome, notCreated map[string]bool, finish func(g []int)) {
	mailboxes := make([]string, len(run))
	for j, g := range run {
		mailboxes[j] = acts[g[0]].Mailbox
	}
	for j, r := range bc.CreateFolders(ctx, mailboxes) {
		for _, i := range run[j] {
			out[i] = Outcome{UIDValidity: r.UIDValidity, Err: r.Err}
		}
		if r.Err != nil {
			notCreated[mailboxes[j]] = true
		}
		finish(run[j])
	}
}

// underFailedRename returns, for a CreateFolder or a RenameFolder a, the
// RenameFolder among failed (the ones that failed so far) on a's side
// whose destination lies above a's folder (a RenameFolder's Folder is
// its destination), or nil.
func underFailedRename(failed []*Action, a *Action) *Action {
	if a.Op != CreateFolder && a.Op != RenameFolder {
		return nil
	}
	for _, r := range failed {
		if r.Side == a.Side && strings.HasPrefix(a.Folder, r.Folder+"/") {
			return r
		}
	}
	return nil
}

// absentTarget returns, for a Copy a, why the folder it copies into is
// not there: the plan's CreateFolder of it failed or was left out
// (notCreated), or it is, or lies under, the destination of a
// RenameFolder that failed (failed); nil otherwise, and for other
// actions.
func absentTarget(a *Action, notCreated [2]map[string]bool, failed []*Action) error {
	if a.Op != Copy {
		return nil
	}
	if notCreated[a.Side][a.Mailbox] {
		return fmt.Errorf("not copied: folder %q on %s was not created", a.Mailbox, a.Side)
	}
	for _, r := range failed {
		if r.Side == a.Side && (a.Folder == r.Folder || strings.HasPrefix(a.Folder, r.Folder+"/")) {
			return fmt.Errorf("not copied: folder %q on %s is not there, the RENAME of %q to %q failed", a.Mailbox, a.Side, r.Mailbox, r.Dest)
		}
	}
	return nil
}

// splitLane parts a lane (see lanesOf) into its copies and its other
// batches, each in plan order. Either may run before the other, or at
// the same time: a copy writes a new message into the lane's mailbox,
// and a flag change, move or expunge names a message that was there
// before the run, by its UID, which no copy has.
func splitLane(acts []Action, lane [][]int) (copies, changes [][]int) {
	for _, g := range lane {
		if acts[g[0]].Op == Copy {
			copies = append(copies, g)
		} else {
			changes = append(changes, g)
		}
	}
	return copies, changes
}

// lanesOf groups the batches of one phase by the side and mailbox they
// change (a copy's target, a move's source), keeping plan order within
// a lane.
func lanesOf(acts []Action, groups [][]int) [][][]int {
	type key struct {
		side    Side
		mailbox string
	}
	index := map[key]int{}
	var lanes [][][]int
	for _, g := range groups {
		a := &acts[g[0]]
		k := key{a.Side, a.Mailbox}
		j, ok := index[k]
		if !ok {
			j = len(lanes)
			index[k] = j
			lanes = append(lanes, nil)
		}
		lanes[j] = append(lanes[j], g)
	}
	return lanes
}

// runBatch carries out one batch of actions (see batches) on stores and
// sets their outcomes. failed holds the mailboxes where
// an earlier action failed: a folder deletion there is not run. A copy
// stops before its next message once stop is closed.
func runBatch(ctx context.Context, acts []Action, g []int, stores [2]Mailstore, out []Outcome, failed [2]map[string]bool, wins *windows, stop <-chan struct{}, pf *prefetched) {
	first := &acts[g[0]]
	st := stores[first.Side]
	setAll := func(err error) {
		for _, i := range g {
			out[i] = Outcome{Err: err}
		}
	}
	switch first.Op {
	case CreateFolder:
		uv, err := st.CreateFolder(ctx, first.Mailbox)
		setAll(err)
		if err == nil {
			for _, i := range g {
				out[i].UIDValidity = uv
			}
		}
	case RenameFolder:
		setAll(st.RenameFolder(ctx, first.Mailbox, first.Dest))
	case DeleteFolder:
		if failed[first.Side][first.Mailbox] {
			setAll(fmt.Errorf("folder %q on %s not deleted: an earlier action on it failed", first.Mailbox, first.Side))
		} else {
			setAll(st.DeleteFolder(ctx, first.Mailbox))
		}
	case Store:
		err := st.StoreFlags(ctx, first.Mailbox, uidsOf(acts, g, false), first.Flags, first.Remove)
		for _, i := range g {
			out[i] = Outcome{Err: messageOutcome(err, acts[i].UID)}
		}
		storeAlone(ctx, acts, [][]int{g}, st, out)
	case Expunge:
		var err error
		if ge, ok := st.(GuardedExpunger); ok && first.unchangedSince != 0 {
			err = ge.ExpungeUnchangedSince(ctx, first.Mailbox, uidsOf(acts, g, false), first.unchangedSince)
		} else {
			err = st.Expunge(ctx, first.Mailbox, uidsOf(acts, g, false))
		}
		for _, i := range g {
			out[i] = Outcome{Err: messageOutcome(err, acts[i].UID)}
		}
	case Move:
		moved, err := st.Move(ctx, first.Mailbox, uidsOf(acts, g, false), first.Dest)
		for _, i := range g {
			out[i] = Outcome{Err: messageOutcome(err, acts[i].UID), UID: moved[acts[i].UID]}
		}
		restoreMoved(ctx, acts, [][]int{g}, st, out)
	case Copy:
		var fetch fetchFunc
		limit := wins.of(st)
		if pf.has(acts, g) {
			fetch = func(_ context.Context, mailbox string, uids []UID, fn func(FetchedMessage) error) error {
				return pf.fetch(first.Side.Other(), mailbox, uids, fn)
			}
			// Bodies read with the scan are few and small (see
			// prefetch.go): they go in one command, however new the
			// connection, rather than one, then two, then four; the
			// connection's limit grows by them as by any.
			limit.limit = max(limit.n(), min(len(g), maxInFlight))
		} else {
			fetch = stores[first.Side.Other()].Fetch
		}
		copyBatch(ctx, acts, g, fetch, st, out, limit, stop)
	}
}

// changeRun returns how many batches at the start of lane one
// ChangeBatcher call carries out: its flag stores, and the expunge
// that follows them (the lane's batches are of one mailbox, stores
// before expunges).
func changeRun(acts []Action, lane [][]int) int {
	n := 0
	for n < len(lane) && acts[lane[n][0]].Op == Store {
		n++
	}
	if n < len(lane) && acts[lane[n][0]].Op == Expunge {
		n++
	}
	return n
}

// moveBatches returns how many batches at the start of lane are moves, which
// one MoveBatcher call carries out (the lane's batches are of one
// mailbox, one batch per destination).
func moveBatches(acts []Action, lane [][]int) int {
	n := 0
	for n < len(lane) && acts[lane[n][0]].Op == Move {
		n++
	}
	return n
}

// runMoves carries out the move batches groups, of one mailbox, with
// one call (MoveBatcher), and sets their outcomes.
func runMoves(ctx context.Context, acts []Action, groups [][]int, mb MoveBatcher, out []Outcome) {
	first := &acts[groups[0][0]]
	sets := make([]MoveSet, len(groups))
	for k, g := range groups {
		sets[k] = MoveSet{UIDs: uidsOf(acts, g, false), Dest: acts[g[0]].Dest}
	}
	res := mb.MoveMessages(ctx, first.Mailbox, sets)
	for k, g := range groups {
		var r MoveResult
		if k < len(res) {
			r = res[k]
		} else {
			r.Err = fmt.Errorf("move from %q to %q: no outcome reported", first.Mailbox, sets[k].Dest)
		}
		for _, i := range g {
			out[i] = Outcome{Err: messageOutcome(r.Err, acts[i].UID), UID: r.Moved[acts[i].UID]}
		}
	}
}

// runChanges carries out the flag stores of several batches on one
// mailbox, and the expunge batch that may end them, with one call
// (ChangeBatcher), and sets their outcomes.
func runChanges(ctx context.Context, acts []Action, groups [][]int, cb ChangeBatcher, out []Outcome) {
	first := &acts[groups[0][0]]
	var changes []FlagChange
	var expunge []UID
	var since uint64
	for _, g := range groups {
		if acts[g[0]].Op == Expunge {
			expunge, since = uidsOf(acts, g, false), acts[g[0]].unchangedSince
			continue
		}
		changes = append(changes, FlagChange{UIDs: uidsOf(acts, g, false), Add: acts[g[0]].Flags, Remove: acts[g[0]].Remove})
	}
	flagsErr, expungeErr := cb.ChangeMessages(ctx, first.Mailbox, changes, expunge, since)
	for _, g := range groups {
		for _, i := range g {
			if acts[g[0]].Op == Expunge {
				out[i] = Outcome{Err: messageOutcome(expungeErr, acts[i].UID)}
			} else {
				out[i] = Outcome{Err: messageOutcome(flagsErr, acts[i].UID)}
			}
		}
	}
}

// messageOutcome is the error of a Store, Move or Expunge action on
// message uid, of a command whose error is err: where err says which
// messages were gone (GoneError) or changed (ChangedError, of an
// expunge), the others were changed, moved or expunged, and such a
// message's error is its own; any other error is every message's.
func messageOutcome(err error, uid UID) error {
	var gone *GoneError
	var changed *ChangedError
	switch {
	case errors.As(err, &gone):
		if _, found := slices.BinarySearch(gone.UIDs, uid); found {
			return &GoneError{Account: gone.Account, Mailbox: gone.Mailbox, UIDs: []UID{uid}}
		}
		return nil
	case errors.As(err, &changed):
		if _, found := slices.BinarySearch(changed.UIDs, uid); found {
			return &ChangedError{Account: changed.Account, Mailbox: changed.Mailbox, UIDs: []UID{uid}}
		}
		return nil
	}
	return err
}

// guardExpunges gives each Expunge action of p the HIGHESTMODSEQ its
// mailbox had when the run listed it (lists), followed through the
// plan's renames of that very mailbox: the expunge then removes only
// messages whose flags nobody changed since (GuardedExpunger), and a
// message a user flagged while the run was under way stays, its change
// read by the next run, where a change beats a deletion. 0 (no guard)
// where the server has no CONDSTORE, or the mailbox is not known by
// that name.
func guardExpunges(p *Plan, lists *[2]Listing) {
	var at [2]map[string]uint64
	for s := range 2 {
		at[s] = make(map[string]uint64, len(lists[s].Folders))
		for _, f := range lists[s].Folders {
			if f.HighestModSeq != 0 {
				at[s][f.Mailbox] = f.HighestModSeq
			}
		}
	}
	for i := range p.Actions {
		switch a := &p.Actions[i]; a.Op {
		case RenameFolder:
			if m, ok := at[a.Side][a.Mailbox]; ok {
				at[a.Side][a.Dest] = m
			}
		case Expunge:
			a.unchangedSince = at[a.Side][a.Mailbox]
		}
	}
}

// copyBatch streams the messages of one source mailbox into one target
// mailbox: one FETCH on the source, one APPEND per message on the target,
// bodies never held whole in memory. Where the target is a
// PipelinedAppender, up to maxInFlight APPENDs are on their way while the
// FETCH goes on (see inFlightLimit); every answer is collected before
// copyBatch returns. Once stop is closed no further message is sent:
// those not sent keep ErrNotRun.
func copyBatch(ctx context.Context, acts []Action, g []int, fetch fetchFunc, dst Mailstore, out []Outcome, limit *inFlightLimit, stop <-chan struct{}) {
	first := &acts[g[0]]
	byUID := make(map[UID]int, len(g))
	for _, i := range g {
		byUID[acts[i].SrcUID] = i
	}
	// srcFailed holds the messages whose APPEND failed because their
	// body could not be read: the source's fault, not the target's.
	srcFailed := map[int]error{}
	settle := func(i int, body *bodyReader, ap Appended, err error) {
		out[i] = Outcome{Err: err, UID: ap.UID, UIDValidity: ap.UIDValidity}
		if err != nil && body.err != nil {
			srcFailed[i] = body.err
		}
	}
	var (
		pipe     AppendPipeline
		inFlight []sentCopy
	)
	if pa, ok := dst.(PipelinedAppender); ok {
		pipe = pa.AppendPipeline()
	}
	collect := func(c sentCopy) {
		ap, err := c.wait()
		settle(c.i, c.body, ap, err)
		limit.answered(err == nil)
	}
	err := fetch(ctx, first.SrcMailbox, uidsOf(acts, g, true), func(m FetchedMessage) error {
		i, ok := byUID[m.UID]
		if !ok {
			return nil
		}
		if stopped(stop) {
			return errCopyStopped
		}
		body := &bodyReader{r: m.Body, size: m.Size}
		if pipe == nil {
			ap, err := dst.Append(ctx, acts[i].Mailbox, acts[i].Flags, m.InternalDate, m.Size, body)
			settle(i, body, ap, err)
			if err != nil && ctx.Err() != nil {
				return err
			}
			return nil
		}
		for len(inFlight) >= limit.n() {
			collect(inFlight[0])
			inFlight = inFlight[1:]
		}
		wait := pipe.Send(ctx, acts[i].Mailbox, acts[i].Flags, m.InternalDate, m.Size, body)
		inFlight = append(inFlight, sentCopy{i: i, body: body, wait: wait})
		return ctx.Err()
	})
	for _, c := range inFlight {
		collect(c)
	}
	if err == nil {
		appendAlone(ctx, acts, g, fetch, dst, out, stop, settle)
	}
	for i, rerr := range srcFailed {
		// Fetch's error says which account and what happened (a
		// timeout, say); the body's read error is the fallback.
		if err != nil {
			rerr = err
		}
		out[i].Err = fmt.Errorf("fetch from %q on %s: %w", first.SrcMailbox, first.Side.Other(), rerr)
	}
	for _, i := range g {
		if out[i].Err == ErrNotRun && errors.Is(err, errCopyStopped) {
			continue // not sent: not run
		}
		if out[i].Err == ErrNotRun {
			if err != nil {
				out[i].Err = fmt.Errorf("fetch from %q on %s: %w", first.SrcMailbox, first.Side.Other(), err)
			} else {
				out[i].Err = fmt.Errorf("message uid %d vanished from %q on %s before it could be copied (expunged or moved meanwhile; the next run finds it where it went)", acts[i].SrcUID, first.SrcMailbox, first.Side.Other())
			}
		}
	}
}

// appendAlone sends again the copies of g the target refused, in an
// APPEND of their own, their bodies read again from the source; settle
// records each new answer, and a copy not sent again keeps its error.
//
// First, those that failed because the target refused a MULTIAPPEND
// they were sent in with others (BatchRefusedError): it stored none of
// them, and any one may be the cause. Without this, one message the
// target will never take would fail every copy sent beside it, on every
// run, as the same messages are sent together again.
//
// Then, those the target refused for good (RefusedError), alone, that
// carry keywords: without their keywords. Dovecot refuses a keyword
// longer than 50 characters outright, though its PERMANENTFLAGS say it
// keeps any. Where the copy then goes, each keyword is stored on it
// alone, and those the target refuses, or whose STORE fails at all, go
// to the outcome's Refused: the next state remembers that the folder
// refuses them (Next), so the copy's lack of them is not read as its
// user's removal. Where the copy fails without its keywords too, it
// keeps the error it had with them.
func appendAlone(ctx context.Context, acts []Action, g []int, fetch fetchFunc, dst Mailstore, out []Outcome, stop <-chan struct{}, settle func(i int, body *bodyReader, ap Appended, err error)) {
	sendAgain(ctx, acts, g, out, fetch, stop, func(i int) bool {
		var br *BatchRefusedError
		return errors.As(out[i].Err, &br)
	}, func(i int, m FetchedMessage, body *bodyReader) {
		ap, err := dst.Append(ctx, acts[i].Mailbox, acts[i].Flags, m.InternalDate, m.Size, body)
		settle(i, body, ap, err)
	})
	sendAgain(ctx, acts, g, out, fetch, stop, func(i int) bool {
		var re *RefusedError
		_, keywords := splitKeywords(acts[i].Flags)
		return len(keywords) > 0 && errors.As(out[i].Err, &re)
	}, func(i int, m FetchedMessage, body *bodyReader) {
		a := &acts[i]
		system, keywords := splitKeywords(a.Flags)
		ap, err := dst.Append(ctx, a.Mailbox, system, m.InternalDate, m.Size, body)
		if err != nil {
			if body.err != nil {
				settle(i, body, ap, err)
			}
			return
		}
		var refused Flags
		for _, k := range keywords {
			if ap.UID == 0 || dst.StoreFlags(ctx, a.Mailbox, []UID{ap.UID}, Flags{k}, nil) != nil {
				refused = append(refused, k)
			}
		}
		settle(i, body, ap, nil)
		out[i].Refused = refused
	})
}

// storeAlone does again the Store actions of groups (of one mailbox,
// carried out together) whose commands the target refused for good
// (RefusedError), where one of those adds a keyword: a keyword it
// refuses outright (Dovecot's longer than 50 characters) fails every
// change sent with it, on every run. Each group (one set of flags) goes
// again with its system flags and removals, then with each keyword it
// adds on its own; those the target refuses for good go to the
// outcomes' Refused, and Next records that the folder refuses them, so
// the copies' lack of them is not read as their user's removal. Any
// other error is the action's (the next run decides it again). Storing
// a flag a message has, or removing one it lacks, changes nothing, so
// a change done already may go again. Where no refused change adds a
// keyword, the refusal is the changes' own, and they keep it.
func storeAlone(ctx context.Context, acts []Action, groups [][]int, st Mailstore, out []Outcome) {
	refused := func(i int) bool {
		var re *RefusedError
		return acts[i].Op == Store && errors.As(out[i].Err, &re)
	}
	withKeyword := false
	for _, g := range groups {
		for _, i := range g {
			if _, kw := splitKeywords(acts[i].Flags); refused(i) && len(kw) > 0 {
				withKeyword = true
			}
		}
	}
	if !withKeyword {
		return
	}
	for _, g := range groups {
		var again []int
		for _, i := range g {
			if refused(i) {
				again = append(again, i)
			}
		}
		if len(again) == 0 || ctx.Err() != nil {
			continue
		}
		first := &acts[again[0]]
		uids := uidsOf(acts, again, false)
		failed := map[int]error{}
		record := func(err error) {
			for _, i := range again {
				if e := messageOutcome(err, acts[i].UID); e != nil && failed[i] == nil {
					failed[i] = e
				}
			}
		}
		system, keywords := splitKeywords(first.Flags)
		record(st.StoreFlags(ctx, first.Mailbox, uids, system, first.Remove))
		var outright Flags
		for _, k := range keywords {
			err := st.StoreFlags(ctx, first.Mailbox, uids, Flags{k}, nil)
			var re *RefusedError
			if errors.As(err, &re) {
				outright = append(outright, k)
				continue
			}
			record(err)
		}
		for _, i := range again {
			out[i] = Outcome{Err: failed[i], Refused: outright}
			if failed[i] != nil {
				out[i].Refused = nil
			}
		}
	}
}

// restoreMoved stores on each copy the Move actions of groups moved the
// flags the Move carries (movedOutOfRefusal): those its source folder
// refused, and so the copy lacks, which its destination keeps. Copies
// of one destination with the same flags go in one STORE; where the
// target refuses it for good (a keyword it refuses outright, which the
// state did not know of), each flag goes on its own, and those it
// refuses go to the outcomes' Refused (Next records them as the
// destination's). A flag not stored otherwise (the new UID is not
// known, or its STORE fails) goes to the outcome's Unrestored, and
// Next takes it out of the record. (With no new UID the record is
// dropped, and the next run pairs the copy by identity, merging the
// other side's flags.)
func restoreMoved(ctx context.Context, acts []Action, groups [][]int, st Mailstore, out []Outcome) {
	type key struct{ dest, flags string }
	var order []key
	by := map[key][]int{}
	for _, g := range groups {
		for _, i := range g {
			a := &acts[i]
			if a.Op != Move || len(a.Flags) == 0 || out[i].Err != nil {
				continue
			}
			if out[i].UID == 0 {
				out[i].Unrestored = a.Flags
				continue
			}
			k := key{a.Dest, a.Flags.String()}
			if _, ok := by[k]; !ok {
				order = append(order, k)
			}
			by[k] = append(by[k], i)
		}
	}
	for _, k := range order {
		is := by[k]
		uids := make([]UID, len(is))
		for j, i := range is {
			uids[j] = out[i].UID
		}
		slices.Sort(uids)
		flags := acts[is[0]].Flags
		store := func(fl Flags) (refused bool) {
			err := st.StoreFlags(ctx, k.dest, uids, fl, nil)
			var re *RefusedError
			if errors.As(err, &re) {
				return true
			}
			for _, i := range is {
				if messageOutcome(err, out[i].UID) != nil {
					out[i].Unrestored = append(out[i].Unrestored, fl...)
				}
			}
			return false
		}
		if !store(flags) {
			continue
		}
		for _, f := range flags {
			if store(Flags{f}) {
				for _, i := range is {
					out[i].Refused = append(out[i].Refused, f)
				}
			}
		}
	}
}

// sendAgain reads again from the source the messages of the copies of
// g that failed and that retry picks, and hands each to send, which
// must read its body whole.
func sendAgain(ctx context.Context, acts []Action, g []int, out []Outcome, fetch fetchFunc, stop <-chan struct{}, retry func(i int) bool, send func(i int, m FetchedMessage, body *bodyReader)) {
	var again []int
	for _, i := range g {
		if out[i].Err != nil && retry(i) {
			again = append(again, i)
		}
	}
	if len(again) == 0 || ctx.Err() != nil || stopped(stop) {
		return
	}
	byUID := make(map[UID]int, len(again))
	for _, i := range again {
		byUID[acts[i].SrcUID] = i
	}
	// A failed read leaves the copies not sent again with the error
	// they have: the next run copies them.
	_ = fetch(ctx, acts[again[0]].SrcMailbox, uidsOf(acts, again, true), func(m FetchedMessage) error {
		i, ok := byUID[m.UID]
		if !ok {
			return nil
		}
		if stopped(stop) {
			return errCopyStopped
		}
		send(i, m, &bodyReader{r: m.Body, size: m.Size})
		return ctx.Err()
	})
}

// splitKeywords splits canonical flags into system flags and keywords.
func splitKeywords(f Flags) (system, keywords Flags) {
	for _, x := range f {
		if strings.HasPrefix(x, `\`) {
			system = append(system, x)
		} else {
			keywords = append(keywords, x)
		}
	}
	return system, keywords
}

// fetchFunc is Mailstore.Fetch: where a copy's bodies come from.
type fetchFunc func(ctx context.Context, mailbox string, uids []UID, fn func(FetchedMessage) error) error

// lanePrefetched reports whether every copy of lane has its bodies in
// pf, or it has none: the lane then needs no connection to the other
// side (a lane's actions are all on one side).
func lanePrefetched(acts []Action, lane [][]int, pf *prefetched) bool {
	for _, g := range lane {
		if acts[g[0]].Op == Copy && !pf.has(acts, g) {
			return false
		}
	}
	return true
}

// earlyOf splits the batches of flag changes, moves and expunges that
// follow copies (stage) into those that may run with the copies and
// those that wait for them. A side that no copy reads from may change
// its messages while the copies run: what they read is on the other
// side, and what they write (new messages) no store, move or expunge
// names. So a run that copies from a to b stores and expunges on b at
// the same time, mailbox by mailbox (a mailbox's copies, then its
// other changes, in one lane); a side that copies read from keeps its
// changes until every copy is done, so that no copy's source is moved
// or expunged under it.
func earlyOf(acts []Action, copies, stage [][]int) (early, late [][]int) {
	var read [2]bool
	for _, g := range copies {
		read[acts[g[0]].Side.Other()] = true
	}
	for _, g := range stage {
		if read[acts[g[0]].Side] {
			late = append(late, g)
		} else {
			early = append(early, g)
		}
	}
	return early, late
}

// errCopyStopped ends a copy's FETCH when the run is stopped.
var errCopyStopped = errors.New("copy stopped")

// sentCopy is a copy whose APPEND is on its way: action i, its body as
// read, and the wait for the answer.
type sentCopy struct {
	i    int
	body *bodyReader
	wait func() (Appended, error)
}

// maxInFlight bounds the APPENDs of a copy that are sent and not yet
// answered. It is the size of imapstore's MULTIAPPEND command (64
// messages): a command ends when the copy must wait for an answer, so a
// smaller window cut every command at its size. Dovecot's cost is per
// command (a save transaction), and in the bench's b1 (10,000 messages
// on a 2-core machine) a window of 64 in place of 32 took b's Dovecot
// 4.9 s of CPU in place of 5.5 and the run 5.6 s in place of 6.2
// (medians of seven, interleaved).
const maxInFlight = 64

// inFlightLimit is how many APPENDs a copy may have in flight. It starts
// at one, doubles with each message the target stored, up to
// maxInFlight, and falls back to one when one failed: a connection that
// breaks, or a server that stalls, costs the messages sent since its
// last answer, and while the target is untried or failing those are
// few. A target connection keeps its limit from one copy to the next
// (windows): once it has stored messages, the next folder's copy does
// not start again from one, which for a folder of three new messages
// would mean three APPENDs, one after the other, instead of one. A
// copy of bodies read with the scan raises it to their number first.
type inFlightLimit struct{ limit int }

// windows holds the inFlightLimit of each target connection of a run.
type windows struct {
	mu sync.Mutex
	by map[Mailstore]*inFlightLimit
}

// of returns the limit of copies into m. A connection is used by one
// lane at a time, so the limit is too.
func (w *windows) of(m Mailstore) *inFlightLimit {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.by == nil {
		w.by = map[Mailstore]*inFlightLimit{}
	}
	l, ok := w.by[m]
	if !ok {
		l = &inFlightLimit{}
		w.by[m] = l
	}
	return l
}

func (l *inFlightLimit) n() int { return max(l.limit, 1) }

func (l *inFlightLimit) answered(ok bool) {
	if ok {
		l.limit = min(2*l.n(), maxInFlight)
	} else {
		l.limit = 1
	}
}

// bodyReader remembers the error a message body failed with, or that it
// ended short of its size, so that copyBatch can tell a source that
// broke off from a target that did.
type bodyReader struct {
	r          io.Reader
	size, read int64
	err        error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	switch {
	case err == io.EOF && b.read < b.size:
		b.err = io.ErrUnexpectedEOF
	case err != nil && err != io.EOF:
		b.err = err
	}
	return n, err
}

func uidsOf(acts []Action, g []int, src bool) []UID {
	out := make([]UID, 0, len(g))
	for _, i := range g {
		if src {
			out = append(out, acts[i].SrcUID)
		} else {
			out = append(out, acts[i].UID)
		}
	}
	slices.Sort(out)
	return out
}

// batches groups action indexes that one command can carry out, keeping
// the plan's phase order: a batch never spans two phases.
func batches(acts []Action) [][]int {
	type key struct {
		phase     int
		op        Op
		side      Side
		mailbox   string
		src, dest string
		add, rem  string
	}
	var out [][]int
	index := map[key]int{}
	phase := -1
	for i := range acts {
		a := &acts[i]
		if a.phase() != phase {
			phase = a.phase()
			clear(index)
		}
		k := key{phase: phase, op: a.Op, side: a.Side, mailbox: a.Mailbox, src: a.SrcMailbox, dest: a.Dest}
		switch a.Op {
		case Store:
			k.add, k.rem = a.Flags.String(), a.Remove.String()
		case CreateFolder, DeleteFolder, RenameFolder:
			out = append(out, []int{i})
			continue
		}
		if j, ok := index[k]; ok {
			out[j] = append(out[j], i)
			continue
		}
		index[k] = len(out)
		out = append(out, []int{i})
	}
	return out
}
