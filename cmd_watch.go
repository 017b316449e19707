package main

// mailtwin watch: a long-running process. It holds an IDLE connection to
// the INBOX of every account of the selected pairs and applies a pair
// shortly after one of them reports a change (a burst of changes makes
// one run), and applies every pair each --interval. A run is apply's
// code path (syncRun) for that pair: it takes the state lock for the
// run only, so a manual apply can run between two of watch's runs.
//
// Output: one line per run and pair on stdout; reconnects and failures
// on stderr. SIGINT or SIGTERM finishes the action in flight, commits
// what was done and exits 0. A failed run does not end watch: the pair
// is tried again after a backoff, except after a safety guard, which
// waits for the pair's next change or interval. A dropped IDLE
// connection is dialled again with exponential backoff and jitter.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/reconcile"
)

// defaultWatchInterval is --interval's default.
const defaultWatchInterval = 15 * time.Minute

// Run triggers, as watch's output names them.
const (
	triggerStart     = "start"     // watch started: the first IDLE of an account is up (or failed)
	triggerIdle      = "idle"      // the server reported a change in the INBOX
	triggerReconnect = "reconnect" // IDLE is up again after a lost connection: changes may have been missed
	triggerInterval  = "interval"  // --interval passed
	triggerRetry     = "retry"     // the last run of the pair failed
)

// watchOptions are watch's timings and test hooks. Zero fields take the
// defaults (see defaults).
type watchOptions struct {
	// quiet and maxDelay debounce: a pair runs once no change was
	// reported for quiet, or maxDelay after the first change at the
	// latest.
	quiet, maxDelay time.Duration
	// idleRefresh is imapstore.IdleOptions.Refresh.
	idleRefresh time.Duration
	// backoffMin and backoffMax bound the waits between reconnects, and
	// between a failed run and the retry.
	backoffMin, backoffMax time.Duration
	// steady is how long an IDLE connection must have lasted for its
	// loss to start the backoff afresh.
	steady time.Duration
	// mailbox is the mailbox watched on every account.
	mailbox string
	// clock is the time source of the scheduler and the backoff.
	clock clock
	// jitter returns a number in [0, 1): the fraction of jitterSpan of
	// a backoff step added to it. Nil: math/rand/v2.
	jitter func() float64
}

// jitterSpan is the largest part of a backoff step added as jitter, so
// that watchers that lost one server together do not dial it together.
const jitterSpan = 0.25

func (o *watchOptions) defaults() {
	if o.quiet <= 0 {
		o.quiet = time.Second
	}
	if o.maxDelay <= 0 {
		o.maxDelay = 5 * time.Second
	}
	if o.backoffMin <= 0 {
		o.backoffMin = time.Second
	}
	if o.backoffMax <= 0 {
		o.backoffMax = 5 * time.Minute
	}
	if o.steady <= 0 {
		o.steady = time.Minute
	}
	if o.mailbox == "" {
		o.mailbox = "INBOX"
	}
	if o.clock == nil {
		o.clock = realClock{}
	}
	if o.jitter == nil {
		o.jitter = rand.Float64
	}
}

func (o *watchOptions) newBackoff() *backoff {
	return &backoff{min: o.backoffMin, max: o.backoffMax, jitter: o.jitter}
}

// clock is the time as watch sees it; tests give it a fake one.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// backoff is an exponential backoff: min, doubling up to max, each step
// with up to jitterSpan more.
type backoff struct {
	min, max time.Duration
	jitter   func() float64
	step     time.Duration
}

// next returns the next wait.
func (b *backoff) next() time.Duration {
	if b.step == 0 {
		b.step = b.min
	} else {
		b.step = min(2*b.step, b.max)
	}
	d := b.step
	if b.jitter != nil {
		d += time.Duration(float64(d) * jitterSpan * b.jitter())
	}
	return d
}

// reset starts again from min.
func (b *backoff) reset() { b.step = 0 }

// lockedWriter serialises writes from watch's goroutines.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// pendingRun is a pair's run waiting for its changes to settle.
type pendingRun struct {
	trigger     string
	first, last time.Time
}

// watcher is one watch process.
type watcher struct {
	g    *globalOptions // stdout and stderr are lockedWriters
	cfg  *hclconfig.Config
	o    watchOptions
	stop <-chan struct{}

	mu      sync.Mutex
	pending map[string]*pendingRun // by pair name
	wake    chan struct{}          // cap 1: pending changed

	// guarded holds the pairs whose last run a safety guard stopped
	// (by name; only the scheduler's goroutine uses it): a guard trips
	// again on every run until a human decides, so it is reported once
	// and not retried on the backoff.
	guarded map[string]bool
}

// note records a change (or another reason to run) for the pairs named.
// It never blocks: IDLE's notifications call it from go-imap's reader.
func (w *watcher) note(trigger string, pairs ...string) {
	now := w.o.clock.Now()
	w.mu.Lock()
	for _, name := range pairs {
		p := w.pending[name]
		if p == nil {
			p = &pendingRun{trigger: trigger, first: now}
			w.pending[name] = p
		}
		p.last = now
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// cmdWatch is mailtwin watch. It returns nil once stopped by ctx
// (SIGINT or SIGTERM in main).
func cmdWatch(ctx context.Context, g *globalOptions, o watchOptions) error {
	o.defaults()
	cfg, pairs, err := loadPairs(g)
	if err != nil {
		return err
	}
	if g.shard != "" {
		i, n, err := parseShard(g.shard)
		if err != nil {
			return err
		}
		if pairs = shardOf(pairs, i, n); len(pairs) == 0 {
			fmt.Fprintf(g.stdout, "shard %d/%d has no pairs\n", i, n)
			return nil
		}
	}
	if g.interval <= 0 {
		return usageError{fmt.Sprintf("--interval %s: want a positive duration, such as 15m", g.interval)}
	}
	if g.parallel < 1 {
		return usageError{fmt.Sprintf("--parallel %d: want 1 or more pairs at once", g.parallel)}
	}
	var outMu sync.Mutex
	wopts := *g
	wopts.stdout = lockedWriter{&outMu, g.stdout}
	wopts.stderr = lockedWriter{&outMu, g.stderr}
	wopts.json, wopts.detailedExitcode, wopts.dryRun = false, false, false
	stop := make(chan struct{})
	w := &watcher{g: &wopts, cfg: cfg, o: o, stop: stop, pending: map[string]*pendingRun{}, wake: make(chan struct{}, 1), guarded: map[string]bool{}}
	// The signal stops the run in flight gracefully (Stop); the network
	// of runs is not cancelled, so that it can finish and commit.
	cancelStop := context.AfterFunc(ctx, func() {
		w.g.log.Info("watch: stopping: a run in flight finishes the actions under way and commits")
		close(stop)
	})
	defer cancelStop()

	// One IDLE connection per account, whichever pairs share it.
	var accounts []string
	pairsOf := map[string][]string{}
	for _, p := range pairs {
		for _, a := range []string{p.A, p.B} {
			if _, ok := pairsOf[a]; !ok {
				accounts = append(accounts, a)
			}
			if l := pairsOf[a]; len(l) == 0 || l[len(l)-1] != p.Name {
				pairsOf[a] = append(l, p.Name)
			}
		}
	}
	idleCtx, cancelIdle := context.WithCancel(ctx)
	var idlers sync.WaitGroup
	defer idlers.Wait()
	defer cancelIdle()
	for _, name := range accounts {
		acc := cfg.Account(name)
		idlers.Go(func() { w.watchAccount(idleCtx, acc, pairsOf[name]) })
	}
	w.schedule(context.WithoutCancel(ctx), pairs)
	w.g.log.Info("watch: stopped")
	return nil
}

// schedule runs pairs as their changes settle and all of them every
// interval, one run at a time, until stop is closed.
func (w *watcher) schedule(ctx context.Context, pairs []*hclconfig.Pair) {
	retryAt := map[string]time.Time{}
	backoffs := map[string]*backoff{}
	for _, p := range pairs {
		backoffs[p.Name] = w.o.newBackoff()
	}
	// after settles the pairs of a run: a failed one waits its backoff
	// and is tried again, a good one starts its backoff afresh. One a
	// safety guard stopped is not tried again on its own: nothing but a
	// human's decision, or a change on the servers, makes the next run
	// differ, and a change brings a run anyway (as does the interval).
	after := func(failed map[string]bool, ran []*hclconfig.Pair) {
		for _, p := range ran {
			if failed[p.Name] && w.guarded[p.Name] {
				backoffs[p.Name].reset()
				delete(retryAt, p.Name)
				continue
			}
			if failed[p.Name] {
				d := backoffs[p.Name].next()
				retryAt[p.Name] = w.o.clock.Now().Add(d)
				w.g.log.Info(fmt.Sprintf("watch: pair %q: next try in %s", p.Name, d.Round(time.Millisecond)), fieldPair, p.Name)
				w.note(triggerRetry, p.Name)
			} else {
				backoffs[p.Name].reset()
				delete(retryAt, p.Name)
			}
		}
	}
	nextInterval := w.o.clock.Now().Add(w.g.interval)
	for !stopped(w.stop) {
		now := w.o.clock.Now()
		if !now.Before(nextInterval) {
			nextInterval = now.Add(w.g.interval)
			w.mu.Lock()
			clear(w.pending)
			w.mu.Unlock()
			after(w.runPairs(ctx, pairs, triggerInterval), pairs)
			continue
		}
		// The pairs due now, and when the next one is.
		wakeAt := nextInterval
		var due []*hclconfig.Pair
		var triggers []string
		w.mu.Lock()
		for _, p := range pairs {
			pr := w.pending[p.Name]
			if pr == nil {
				continue
			}
			at := pr.last.Add(w.o.quiet)
			if c := pr.first.Add(w.o.maxDelay); c.Before(at) {
				at = c
			}
			if r := retryAt[p.Name]; r.After(at) {
				at = r
			}
			if !now.Before(at) {
				due = append(due, p)
				triggers = append(triggers, pr.trigger)
				delete(w.pending, p.Name)
			} else if at.Before(wakeAt) {
				wakeAt = at
			}
		}
		w.mu.Unlock()
		for i, p := range due {
			if stopped(w.stop) {
				return
			}
			after(w.runPairs(ctx, []*hclconfig.Pair{p}, triggers[i]), due[i:i+1])
		}
		if len(due) > 0 {
			continue
		}
		select {
		case <-w.stop:
			return
		case <-w.wake:
		case <-w.o.clock.After(wakeAt.Sub(now)):
		}
	}
}

// runPairs applies pairs once, as apply does, prints a line per pair
// and returns the pairs that failed.
func (w *watcher) runPairs(ctx context.Context, pairs []*hclconfig.Pair, trigger string) map[string]bool {
	rg := *w.g
	var out bytes.Buffer
	rg.stdout = &out
	rg.stop = w.stop
	reports, err := syncRun(ctx, &rg, w.cfg, pairs, false)
	if w.g.verbose > 0 {
		w.g.stdout.Write(out.Bytes())
	}
	stoppedRun := errors.Is(err, reconcile.ErrStopped)
	failed := map[string]bool{}
	var stillGuarded, newlyGuarded []string
	byName := map[string]*pairReport{}
	for i := range reports {
		byName[reports[i].Pair] = &reports[i]
	}
	for _, p := range pairs {
		rep := byName[p.Name]
		if rep == nil {
			// The run failed before this pair (the lock, a pull).
			failed[p.Name] = true
			continue
		}
		notRun := 0
		for _, o := range rep.Outcomes {
			if o.Error == reconcile.ErrNotRun.Error() {
				notRun++
			}
		}
		if rep.Error != "" && !(stoppedRun && notRun > 0 && rep.Failed == 0) && !(stoppedRun && !rep.Applied) {
			failed[p.Name] = true
		}
		if rep.Guard {
			stillGuarded = append(stillGuarded, p.Name)
			if w.guarded[p.Name] {
				// Reported when it first tripped.
				w.g.log.Info(fmt.Sprintf("watch: pair %q (%s): still stopped by the safety guard, nothing changed", p.Name, trigger), fieldPair, p.Name)
			} else {
				newlyGuarded = append(newlyGuarded, p.Name)
			}
		}
		if failed[p.Name] && !rep.Applied {
			continue
		}
		if trigger == triggerIdle && len(rep.Actions) == 0 && w.g.verbose == 0 {
			// Mostly the echo of watch's own last run on the other side.
			continue
		}
		line := fmt.Sprintf("pair %s (%s): %s", p.Name, trigger, rep.Summary)
		switch {
		case stoppedRun && !rep.Applied && len(rep.Actions) > 0:
			line += "; stopped before any action"
		case notRun > 0:
			line += fmt.Sprintf("; stopped after %d of %d actions", len(rep.Actions)-notRun, len(rep.Actions))
		}
		if rep.Failed > 0 {
			line += fmt.Sprintf("; %d failed", rep.Failed)
		}
		if rep.Commit != "" {
			line += "; state committed " + rep.Commit
		}
		fmt.Fprintln(w.g.stdout, line)
	}
	// A pair whose run was not stopped by a guard is no longer guarded.
	for _, p := range pairs {
		if !slices.Contains(stillGuarded, p.Name) {
			delete(w.guarded, p.Name)
		}
	}
	for _, name := range stillGuarded {
		w.guarded[name] = true
	}
	if err != nil && len(newlyGuarded) == 0 && len(stillGuarded) > 0 && onlyGuards(failed, stillGuarded) {
		// Every failure is a guard reported before.
		return failed
	}
	if err != nil && !(stoppedRun && len(failed) == 0) {
		if len(failed) == 0 {
			// The run's own step failed after the pairs (commit, push):
			// all of them are tried again.
			for _, p := range pairs {
				failed[p.Name] = true
			}
		}
		var names []string
		for _, p := range pairs {
			if failed[p.Name] {
				names = append(names, p.Name)
			}
		}
		w.g.log.Error(fmt.Sprintf("watch: %s run of %s failed: %v", trigger, strings.Join(names, ", "), err), fieldError, err.Error())
		if len(newlyGuarded) > 0 {
			w.g.log.Warn(fmt.Sprintf("watch: a safety guard stopped %s and nothing was changed; it trips again until a human decides (mailtwin plan, then mailtwin apply --force), so watch runs it again only when something changes", strings.Join(newlyGuarded, ", ")))
		}
	}
	return failed
}

// onlyGuards reports that every pair in failed is among guarded.
func onlyGuards(failed map[string]bool, guarded []string) bool {
	for name, f := range failed {
		if f && !slices.Contains(guarded, name) {
			return false
		}
	}
	return true
}

// watchAccount holds an IDLE connection to acc's mailbox and notes a run
// of pairs for each change it reports, until ctx is done. A lost
// connection is dialled again after a backoff; one that had lasted
// o.steady starts the backoff afresh, so a server that accepts and
// drops connections at once is dialled ever more rarely, never in a
// tight loop. It reports each failure once, with the wait that follows.
func (w *watcher) watchAccount(ctx context.Context, acc *hclconfig.Account, pairs []string) {
	onChange := func() { w.note(triggerIdle, pairs...) }
	bo := w.o.newBackoff()
	first := true
	for {
		start := w.o.clock.Now()
		up := false
		st, err := dialAccount(ctx, acc, true, nil, func(o *imapstore.Options) { o.OnChange = onChange })
		if err == nil {
			err = st.Idle(ctx, w.o.mailbox, imapstore.IdleOptions{Refresh: w.o.idleRefresh, Ready: func() {
				if up {
					return
				}
				up = true
				if first {
					w.note(triggerStart, pairs...)
				} else {
					// What changed while the connection was down was
					// not reported: look.
					w.note(triggerReconnect, pairs...)
				}
			}})
			st.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if first && !up {
			// The first run need not wait for IDLE.
			w.note(triggerStart, pairs...)
		}
		first = false
		if errors.Is(err, imapstore.ErrNoIdle) {
			w.g.log.Warn(fmt.Sprintf("watch: account %q offers no IDLE: its pairs run every --interval (%s) only", acc.Name, w.g.interval), fieldAccount, acc.Name)
			return
		}
		if up && w.o.clock.Now().Sub(start) >= w.o.steady {
			bo.reset()
		}
		d := bo.next()
		// err names the account.
		w.g.log.Warn(fmt.Sprintf("watch: %v; reconnecting in %s", err, d.Round(time.Millisecond)), fieldAccount, acc.Name, fieldError, err.Error())
		select {
		case <-ctx.Done():
			return
		case <-w.o.clock.After(d):
		}
	}
}

// stopped reports whether stop is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
