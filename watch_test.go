package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// watchRun is mailtwin watch running in-process.
type watchRun struct {
	out    *syncBuffer
	cancel context.CancelFunc
	code   chan int
}

// startWatch runs "mailtwin -c config watch args..." in-process, and
// stops it (as SIGTERM would: ctx) when the test ends.
func startWatch(t *testing.T, config string, args ...string) *watchRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wr := &watchRun{out: &syncBuffer{}, cancel: cancel, code: make(chan int, 1)}
	go func() {
		wr.code <- run(ctx, append([]string{"-c", config, "watch"}, args...), strings.NewReader(""), wr.out, wr.out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-wr.code:
		case <-time.After(time.Minute):
			t.Errorf("watch did not stop within a minute of its context:\n%s", wr.out)
		}
	})
	return wr
}

// stop ends watch as SIGTERM does and returns its exit code.
func (wr *watchRun) stop(t *testing.T) int {
	t.Helper()
	wr.cancel()
	select {
	case c := <-wr.code:
		wr.code <- c // for the cleanup
		return c
	case <-time.After(time.Minute):
		t.Fatalf("watch did not stop within a minute:\n%s", wr.out)
		return -1
	}
}

// waitFor polls until cond holds, failing the test after the deadline.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, output func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s; output:\n%s", what, d, output())
		}
		time.Sleep(20 * time.Millisecond) // a poll, not a wait for an event's timing
	}
}

// waitLine waits for a line of watch's output containing s.
func (wr *watchRun) waitLine(t *testing.T, s string) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("line %q", s), func() bool { return strings.Contains(wr.out.String(), s) }, wr.out.String)
}

// has reports whether mailbox of user holds the message with Message-ID
// id.
func has(t *testing.T, srv *imaptest.Server, user, mailbox, id string) bool {
	if !slices.Contains(srv.Mailboxes(t, user), mailbox) {
		return false
	}
	for _, m := range srv.Messages(t, user, mailbox) {
		if m.MessageID == id+"@example.org" {
			return true
		}
	}
	return false
}

// watchTrial is a config of pair "p" (a = alice, b = bob) on srv,
// through addr.
func watchTrial(t *testing.T, srv *imaptest.Server, addr string) *sweepTrial {
	tr := newSweepTrial(t, srv, userA, userB, addr)
	tr.pairExtra = ""
	tr.writeConfig(t, addr)
	return tr
}

// TestWatchAppendReachesB: a message delivered to a's INBOX after watch
// started is on b within seconds, by IDLE, not by the interval (an
// hour); the watch's run line names the trigger; SIGTERM (here its
// context) ends watch with exit 0, and a following apply has nothing
// to do.
func TestWatchAppendReachesB(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		tr := watchTrial(t, srv, srv.Addr)
		f := tr.fixture(t)
		wr := startWatch(t, tr.config, "--interval", "1h")
		wr.waitLine(t, "pair p (start)")
		f.put(userA, "INBOX", "new1")
		waitFor(t, 30*time.Second, "new1 on b", func() bool { return has(t, srv, userB, "INBOX", "new1") }, wr.out.String)
		wr.waitLine(t, "pair p (idle): b: 1 copied; state committed")
		if code := wr.stop(t); code != 0 {
			t.Fatalf("watch stopped with exit %d, want 0:\n%s", code, wr.out)
		}
		if code, out := tr.mailtwin("plan"); code != 0 || !strings.Contains(out, "no changes") {
			t.Errorf("plan after watch (exit %d) is not empty:\n%s", code, out)
		}
		f.want(userB, "INBOX", "new1 -")
	})
}

// TestWatchManualApplyBetweenRuns: watch holds the state lock for a run
// only, so a manual apply succeeds while watch is up (it copies a
// message of a folder watch does not IDLE on), and watch's next run
// after it still works and commits on top of it.
func TestWatchManualApplyBetweenRuns(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		tr := watchTrial(t, srv, srv.Addr)
		f := tr.fixture(t)
		wr := startWatch(t, tr.config, "--interval", "1h")
		wr.waitLine(t, "pair p (start)")
		f.put(userA, "Archive", "arch1")
		// A run of watch may hold the lock at this moment (the second
		// account's start, say): then apply says so and is tried again.
		// Were the lock held for watch's life, it would never pass.
		var out string
		waitFor(t, 30*time.Second, "manual apply that passes", func() bool {
			var code int
			code, out = tr.mailtwin("apply")
			if code != 0 && !strings.Contains(out, "locked") {
				t.Fatalf("manual apply exited %d:\n%s", code, out)
			}
			return code == 0
		}, func() string { return out + "\nwatch:\n" + wr.out.String() })
		if !strings.Contains(out, "1 copied") {
			t.Errorf("manual apply did not copy arch1:\n%s", out)
		}
		f.want(userB, "Archive", "arch1 -")
		f.put(userA, "INBOX", "after")
		waitFor(t, 30*time.Second, "watch's run after the manual apply", func() bool { return has(t, srv, userB, "INBOX", "after") }, wr.out.String)
		wr.waitLine(t, "pair p (idle): b: 1 copied; state committed")
		if code := wr.stop(t); code != 0 {
			t.Fatalf("watch stopped with exit %d:\n%s", code, wr.out)
		}
		// Newest first: watch's run, then the manual apply's.
		_, log := tr.mailtwin("log")
		if i, j := strings.Index(log, "sync: p: b: 1 copied"), strings.Index(log, "sync: p: b: 1 folders created, 1 copied"); i < 0 || j < i {
			t.Errorf("log does not show the manual apply, then watch's run:\n%s", log)
		}
	})
}

// TestWatchIntervalRun: a change IDLE does not see (a folder other than
// INBOX) is applied by the interval run.
func TestWatchIntervalRun(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		tr := watchTrial(t, srv, srv.Addr)
		f := tr.fixture(t)
		wr := startWatch(t, tr.config, "--interval", "1s")
		// The first interval may come before the accounts' IDLE is up:
		// then it is the first run.
		wr.waitLine(t, "pair p (")
		f.put(userA, "Archive", "arch1")
		waitFor(t, 30*time.Second, "arch1 on b", func() bool { return has(t, srv, userB, "Archive", "arch1") }, wr.out.String)
		wr.waitLine(t, "pair p (interval): b: 1 folders created, 1 copied")
	})
}

// TestWatchSurvivesKilledIdle: the IDLE connection is cut (through the
// fault proxy) by the very notification of a new message, so watch
// never hears of it; watch reconnects after its backoff, runs the pair
// because changes may have been missed, and the message reaches b. A
// later message reaches b through the new IDLE connection.
func TestWatchSurvivesKilledIdle(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		// Only a goes through the proxy, so that no byte of b's can take
		// the cut meant for a's IDLE connection (b's IDLE may still be
		// on its way up when the first run is done).
		rec := imaptest.Record(t, srv)
		tr := watchTrial(t, srv, rec.Addr)
		tr.bAddr = srv.Addr
		tr.writeConfig(t, rec.Addr)
		f := tr.fixture(t)
		wr := startWatch(t, tr.config, "--interval", "1h")
		wr.waitLine(t, "pair p (start)")
		// Once a's IDLE is up (the first run may come before, on b's),
		// the next byte on its connection is the new message's EXISTS,
		// and cuts it.
		var idle []int
		waitFor(t, 30*time.Second, "a's IDLE up", func() bool { idle = rec.Idling(); return len(idle) == 1 }, wr.out.String)
		rec.CutNextOn(idle[0])
		f.put(userA, "INBOX", "lost")
		waitFor(t, 30*time.Second, "lost on b", func() bool { return has(t, srv, userB, "INBOX", "lost") }, wr.out.String)
		wr.waitLine(t, "reconnecting in")
		wr.waitLine(t, "pair p (reconnect): b: 1 copied")
		if rec.Faulted() == 0 {
			t.Errorf("the proxy cut no connection:\n%s", wr.out)
		}
		f.put(userA, "INBOX", "later")
		waitFor(t, 30*time.Second, "later on b", func() bool { return has(t, srv, userB, "INBOX", "later") }, wr.out.String)
		wr.waitLine(t, "pair p (idle): b: 1 copied")
	})
}

// watchProcess is mailtwin watch run as the built binary, so that a test
// can send it signals. stopping is closed once watch says it is
// stopping; errOut collects its stderr.
type watchProcess struct {
	cmd        *exec.Cmd
	stdout     bytes.Buffer
	errOut     syncBuffer
	stopping   chan struct{}
	stderrDone chan struct{}
}

// startWatchBinary starts mailtwin -c config watch --interval 1h, and
// sends its process to proc (for an interceptor that signals it).
func startWatchBinary(t *testing.T, config string, proc chan<- *os.Process) *watchProcess {
	t.Helper()
	bin, err := exec.LookPath("mailtwin")
	if err != nil {
		t.Fatalf("the mailtwin command testscript installs is not on PATH: %v", err)
	}
	w := &watchProcess{cmd: exec.Command(bin, "-c", config, "watch", "--interval", "1h"), stopping: make(chan struct{}), stderrDone: make(chan struct{})}
	w.cmd.Stdout = &w.stdout
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proc <- w.cmd.Process
	go func() {
		defer close(w.stderrDone)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(&w.errOut, sc.Text())
			if strings.Contains(sc.Text(), "watch: stopping") {
				once.Do(func() { close(w.stopping) })
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	return w
}

// forwardStopping closes to once watch says it is stopping, for an
// interceptor set up before the process started; it returns when stderr
// ends either way.
func (w *watchProcess) forwardStopping(to chan struct{}) {
	select {
	case <-w.stopping:
	case <-w.stderrDone:
		select {
		case <-w.stopping: // said, then ended: both were ready
		default:
			return
		}
	}
	close(to)
}

// wait reads stderr to its end and waits for the process to exit.
func (w *watchProcess) wait() error {
	<-w.stderrDone
	return w.cmd.Wait()
}

// TestWatchSIGTERMMidRun: SIGTERM while watch's first run copies 60
// messages finishes the APPEND under way, commits, and exits 0; the
// state is consistent: the next apply copies exactly the rest, with no
// duplicate and nothing lost. The signal is sent when the first APPEND
// reaches the server, and its answer is held until watch says it is
// stopping, so the run stops after that message whatever the timing.
func TestWatchSIGTERMMidRun(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		rec := imaptest.Record(t, srv)
		tr := watchTrial(t, srv, rec.Addr)
		f := tr.fixture(t)
		const n = 60
		var want []string
		for i := range n {
			id := fmt.Sprintf("m%02d", i)
			f.put(userA, "INBOX", id)
			want = append(want, id+" -")
		}
		var signalled atomic.Bool
		proc := make(chan *os.Process, 1)
		stopping := make(chan struct{})
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			if e.Stage != imaptest.Answered || e.Verb != "APPEND" || !signalled.CompareAndSwap(false, true) {
				return imaptest.Action{}
			}
			p := <-proc
			p.Signal(syscall.SIGTERM)
			select {
			case <-stopping:
			case <-time.After(30 * time.Second):
				t.Errorf("watch said nothing of stopping within 30 s of SIGTERM")
			}
			return imaptest.Action{}
		})
		wp := startWatchBinary(t, tr.config, proc)
		go wp.forwardStopping(stopping)
		err := wp.wait()
		rec.Intercept(nil)
		stdout := &wp.stdout
		output := stdout.String() + wp.errOut.String()
		if err != nil || !signalled.Load() {
			t.Fatalf("watch under SIGTERM: %v (signalled %v), want exit 0:\n%s", err, signalled.Load(), output)
		}
		got := f.contents(userB, "INBOX")
		t.Logf("watch under SIGTERM:\n%s", output)
		if len(got) == 0 || len(got) >= n {
			t.Fatalf("b holds %d messages after the stop, want some and not all %d:\n%s", len(got), n, output)
		}
		if !strings.Contains(stdout.String(), fmt.Sprintf("pair p (start): b: %d copied; stopped after %d of %d actions; state committed", n, len(got), n)) {
			t.Errorf("watch's line does not report the stop after %d copies:\n%s", len(got), output)
		}
		// The state committed knows the copies: the next apply copies
		// exactly the rest.
		rec.Reset()
		code, out := tr.mailtwin("apply")
		if code != 0 || !strings.Contains(out, fmt.Sprintf("b: %d copied", n-len(got))) {
			t.Errorf("apply after the stop (exit %d) did not copy the %d others:\n%s", code, n-len(got), out)
		}
		f.want(userB, "INBOX", want...)
		f.want(userA, "INBOX", want...)
		if code, out := tr.mailtwin("plan"); code != 0 || !strings.Contains(out, "no changes") {
			t.Errorf("plan after the apply (exit %d) is not empty:\n%s", code, out)
		}
	})
}

// fakeClock is a clock whose waits the test ends: After hands each wait
// to the test on waits.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan fakeWait
}

type fakeWait struct {
	d    time.Duration
	fire chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- fakeWait{d, ch}
	return ch
}

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// TestWatchBackoffNeverSpins: an account whose server accepts each
// connection and closes it at once is dialled once per backoff step,
// the steps doubling from 1 s to 5 min: over 30 minutes of (fake) time
// that is 14 waits, each reported once on stderr, not a tight loop.
func TestWatchBackoffNeverSpins(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepts atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close()
		}
	}()
	srv := &imaptest.Server{Addr: ln.Addr().String()}
	tr := watchTrial(t, srv, srv.Addr)
	clk := &fakeClock{now: time.Unix(0, 0), waits: make(chan fakeWait)}
	var out syncBuffer
	g := &globalOptions{config: tr.config, stdout: &out, stderr: &out, log: textLog(&out), interval: time.Hour}
	cfg, err := loadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	o := watchOptions{clock: clk, jitter: func() float64 { return 0 }}
	o.defaults()
	w := &watcher{g: g, cfg: cfg, o: o, pending: map[string]*pendingRun{}, wake: make(chan struct{}, 1), guarded: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.watchAccount(ctx, cfg.Account("a"), []string{"p"})
	}()
	var steps []time.Duration
	var elapsed time.Duration
	for elapsed < 30*time.Minute {
		var wt fakeWait
		select {
		case wt = <-clk.waits:
		case <-time.After(30 * time.Second):
			t.Fatalf("no backoff wait after %d steps; output:\n%s", len(steps), out.String())
		}
		if got := accepts.Load(); got != int64(len(steps)+1) {
			t.Fatalf("after %d waits the server saw %d connections, want %d", len(steps), got, len(steps)+1)
		}
		steps = append(steps, wt.d)
		elapsed += wt.d
		wt.fire <- clk.advance(wt.d)
	}
	cancel()
	// The loop may be dialling or waiting again: let it end.
	go func() {
		for wt := range clk.waits {
			wt.fire <- clk.Now()
		}
	}()
	<-done
	s := time.Second
	want := []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 300 * s, 300 * s, 300 * s, 300 * s, 300 * s}
	if !slices.Equal(steps, want) {
		t.Errorf("backoff steps = %v, want %v", steps, want)
	}
	if n := strings.Count(out.String(), "reconnecting in"); n < len(want) || n > len(want)+1 {
		t.Errorf("stderr reports %d failures, want one per attempt (%d):\n%s", n, len(want), out.String())
	}
	if got := accepts.Load(); got > int64(len(want)+1) {
		t.Errorf("the server saw %d connections in 30 minutes, want at most %d", got, len(want)+1)
	}
}

// TestBackoffJitter: jitter adds at most a quarter of a step and the
// steps stay within max plus its jitter.
func TestBackoffJitter(t *testing.T) {
	b := &backoff{min: time.Second, max: 5 * time.Minute, jitter: func() float64 { return 0.999 }}
	prev := time.Duration(0)
	for i := range 20 {
		d := b.next()
		base := b.step
		if d < base || d > base+base/4 {
			t.Fatalf("step %d = %s, want within [%s, %s]", i, d, base, base+base/4)
		}
		if base < prev {
			t.Fatalf("step %d shrank: %s after %s", i, base, prev)
		}
		prev = base
	}
	b.reset()
	if d := b.next(); d > time.Second+time.Second/4 {
		t.Errorf("after reset, next = %s, want about 1 s", d)
	}
}

// TestWatchUsageErrors: a bad config or a bad --interval exits 4
// before anything is dialled.
func TestWatchUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte("pair \"p\" {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-c", bad, "watch"}, strings.NewReader(""), &out, &out); code != exitUsage {
		t.Errorf("watch with a broken config exited %d, want 4:\n%s", code, out.String())
	}
	srv := &imaptest.Server{Addr: "127.0.0.1:1"}
	tr := watchTrial(t, srv, srv.Addr)
	out.Reset()
	if code := run(context.Background(), []string{"-c", tr.config, "watch", "--interval", "0s"}, strings.NewReader(""), &out, &out); code != exitUsage || !strings.Contains(out.String(), "--interval") {
		t.Errorf("watch --interval 0s exited %d, want 4:\n%s", code, out.String())
	}
}

// TestWatchNoticesStalledIdle: a connection that goes silent without
// closing (the fault proxy stops relaying it; TCP keepalive cannot tell
// that from an idle server) is noticed at IDLE's next renewal, which
// must be answered within the account's timeout: watch reconnects, and
// a message delivered meanwhile reaches b.
func TestWatchNoticesStalledIdle(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		rec := imaptest.Record(t, srv)
		tr := watchTrial(t, srv, rec.Addr)
		cfg, err := os.ReadFile(tr.config)
		if err != nil {
			t.Fatal(err)
		}
		cfg = bytes.ReplaceAll(cfg, []byte(`tls = "none"`), []byte("tls = \"none\"\n  timeout = \"2s\""))
		if err := os.WriteFile(tr.config, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		f := tr.fixture(t)
		out := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			g := &globalOptions{config: tr.config, stdout: out, stderr: out, log: textLog(out), interval: time.Hour, parallel: 1, lookupEnv: os.LookupEnv}
			done <- cmdWatch(ctx, g, watchOptions{idleRefresh: 300 * time.Millisecond})
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("watch = %v", err)
			}
		}()
		wr := &watchRun{out: out}
		wr.waitLine(t, "pair p (start)")
		rec.StallAfter(rec.Bytes())
		f.put(userA, "INBOX", "stalled")
		wr.waitLine(t, "reconnecting in")
		if !strings.Contains(out.String(), "timeout") && !strings.Contains(out.String(), "timed out") {
			t.Errorf("the reconnect is not for a timeout:\n%s", out)
		}
		waitFor(t, 30*time.Second, "stalled on b", func() bool { return has(t, srv, userB, "INBOX", "stalled") }, out.String)
		t.Logf("watch's output:\n%s", out)
	})
}

// TestWatchFailedRunRetried: a run that fails (the state lock is held
// by another run, here the test) does not end watch: it says so on
// stderr, backs off, and the retry after the lock is released applies
// the change.
func TestWatchFailedRunRetried(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		tr := watchTrial(t, srv, srv.Addr)
		f := tr.fixture(t)
		wr := startWatch(t, tr.config, "--interval", "1h")
		wr.waitLine(t, "pair p (start)")
		repo, err := gitstate.Open(context.Background(), tr.state)
		if err != nil {
			t.Fatal(err)
		}
		unlock, err := repo.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f.put(userA, "INBOX", "m1")
		wr.waitLine(t, "is locked by pid")
		wr.waitLine(t, `pair "p": next try in`)
		if has(t, srv, userB, "INBOX", "m1") {
			t.Fatalf("m1 reached b while the state was locked:\n%s", wr.out)
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "m1 on b after the lock was released", func() bool { return has(t, srv, userB, "INBOX", "m1") }, wr.out.String)
		wr.waitLine(t, "pair p (retry): b: 1 copied; state committed")
	})
}

// TestWatchGuardReportedOnceNotRetried: a run a safety guard stops
// (three deletions against max_deletes = 1) is reported once, with
// what to do, and is not retried on the backoff: it would trip again
// every time until a human decides. The next change runs the pair
// again, and its second trip is one quiet line. After apply --force,
// the pair runs normally again.
func TestWatchGuardReportedOnceNotRetried(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		tr := watchTrial(t, srv, srv.Addr)
		tr.pairExtra = "  defaults {\n    max_deletes = 1\n  }\n"
		tr.writeConfig(t, srv.Addr)
		f := tr.fixture(t)
		for _, id := range []string{"m1", "m2", "m3"} {
			f.put(userA, "INBOX", id)
		}
		wr := startWatch(t, tr.config, "--interval", "1h")
		wr.waitLine(t, "pair p (start): b: 3 copied; state committed")
		for _, id := range []string{"m1", "m2", "m3"} {
			f.expunge(userA, "INBOX", id)
		}
		wr.waitLine(t, "a safety guard stopped p and nothing was changed")
		f.put(userA, "INBOX", "m4")
		wr.waitLine(t, `watch: pair "p" (idle): still stopped by the safety guard, nothing changed`)
		out := wr.out.String()
		if strings.Contains(out, "next try in") {
			t.Errorf("the guarded pair was scheduled for a retry:\n%s", out)
		}
		if n := strings.Count(out, "a safety guard stopped"); n != 1 {
			t.Errorf("the guard is reported %d times, want once:\n%s", n, out)
		}
		if n := strings.Count(out, "run of p failed"); n != 1 {
			t.Errorf("%d error lines for the guarded runs, want 1 (the first):\n%s", n, out)
		}
		if has(t, srv, userB, "INBOX", "m4") || !has(t, srv, userB, "INBOX", "m1") {
			t.Fatalf("a run the guard stopped changed b:\n%s", out)
		}
		if code, aout := tr.mailtwin("apply", "--force"); code != 0 {
			t.Fatalf("apply --force: exit %d\n%s", code, aout)
		}
		f.put(userA, "INBOX", "m5")
		wr.waitLine(t, "pair p (idle): b: 1 copied; state committed")
		if code := wr.stop(t); code != 0 {
			t.Fatalf("watch stopped with exit %d, want 0:\n%s", code, wr.out)
		}
		f.want(userB, "INBOX", "m4 -", "m5 -")
	})
}

// TestWatchSecondSignalEndsAtOnce: a second SIGTERM, while the first
// one's graceful stop waits on a server that does not answer, ends the
// process at once, killed by the signal, as without mailtwin's handler.
func TestWatchSecondSignalEndsAtOnce(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartMem(t, userA, userB)
	rec := imaptest.Record(t, srv)
	tr := watchTrial(t, srv, rec.Addr)
	f := tr.fixture(t)
	for i := range 5 {
		f.put(userA, "INBOX", fmt.Sprintf("m%d", i))
	}
	stopping := make(chan struct{})
	exited := make(chan struct{})
	proc := make(chan *os.Process, 1)
	var held atomic.Bool
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage != imaptest.Answered || e.Verb != "APPEND" || !held.CompareAndSwap(false, true) {
			return imaptest.Action{}
		}
		// The first APPEND's answer is held until the process is gone:
		// the graceful stop cannot finish.
		p := <-proc
		p.Signal(syscall.SIGTERM)
		select {
		case <-stopping:
			p.Signal(syscall.SIGTERM)
		case <-time.After(30 * time.Second):
			t.Errorf("watch said nothing of stopping within 30 s of SIGTERM")
			p.Kill()
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Errorf("watch still running 30 s after the second SIGTERM")
			p.Kill()
		}
		return imaptest.Action{}
	})
	wp := startWatchBinary(t, tr.config, proc)
	go wp.forwardStopping(stopping)
	err := wp.wait()
	close(exited)
	errOut := &wp.errOut
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !held.Load() {
		t.Fatalf("watch after two SIGTERMs: %v (APPEND held: %v); want it killed by the second\n%s", err, held.Load(), errOut.String())
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("watch ended with %v, want killed by SIGTERM\n%s", err, errOut.String())
	}
}
