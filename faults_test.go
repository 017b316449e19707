package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// These tests break the connection under `mailtwin apply`, or have the
// server refuse a command, through an imaptest.Recorder in front of each
// account, and check that the run fails cleanly (exit 1, a message that
// says where) and that the next run without faults converges.

var (
	faultTrials = flag.Int("faults.trials", 10, "cut points per server and scenario phase in TestFaultCutSweep (half of them stalls)")
	faultSeed   = flag.Uint64("faults.seed", 0, "seed of TestFaultCutSweep's cut points (0: a new one, printed)")
)

// faultRig is one pair of accounts, a and b, each reached through a
// Recorder of its own, and a config and state repository for them.
type faultRig struct {
	t      *testing.T
	f      *syncFixture // seeds and reads the server directly, not through rec
	users  [2]string
	rec    [2]*imaptest.Recorder
	config string
	state  string

	// last holds, per account and connection, the last command the
	// connection received, and sel the mailbox it last selected.
	mu   sync.Mutex
	last [2]map[int]imaptest.Event
	sel  [2]map[int]string
}

// newFaultRig sets up users a and b of srv. timeout is the accounts'
// timeout attribute.
func newFaultRig(t *testing.T, srv *imaptest.Server, a, b, timeout string) *faultRig {
	t.Helper()
	r := &faultRig{t: t, f: &syncFixture{t: t, srv: srv}, users: [2]string{a, b}}
	dir := t.TempDir()
	r.state, r.config = filepath.Join(dir, "state"), filepath.Join(dir, "mailtwin.hcl")
	for s := range 2 {
		r.rec[s] = imaptest.Record(t, srv)
		r.last[s], r.sel[s] = map[int]imaptest.Event{}, map[int]string{}
		r.watch(s, nil)
	}
	r.setTimeout(timeout)
	return r
}

// setTimeout (re)writes the config with the accounts' timeout.
func (r *faultRig) setTimeout(timeout string) {
	r.t.Helper()
	var accounts strings.Builder
	for s, name := range []string{"a", "b"} {
		_, port, _ := strings.Cut(r.rec[s].Addr, ":")
		fmt.Fprintf(&accounts, `account %q {
  host     = "127.0.0.1"
  port     = %s
  tls      = "none"
  username = %q
  password = %q
  timeout  = %q
}
`, name, port, r.users[s], imaptest.Password, timeout)
	}
	cfg := fmt.Sprintf(`state { path = %q }
%s
pair "p" {
  a = "a"
  b = "b"
  defaults {
    direction = "both"
    deletion  = "propagate"
  }
}
`, r.state, accounts.String())
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// watch intercepts side s's commands: it notes each one (see last and
// sel) and answers with fn, if not nil.
func (r *faultRig) watch(s int, fn func(imaptest.Event) imaptest.Action) {
	r.rec[s].Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received {
			r.mu.Lock()
			r.last[s][e.Conn] = e
			if e.Verb == "SELECT" || e.Verb == "EXAMINE" {
				r.sel[s][e.Conn] = mailboxArg(e.Line)
			}
			r.mu.Unlock()
		}
		if fn == nil {
			return imaptest.Action{}
		}
		return fn(e)
	})
}

// mailboxArg returns the first argument of a command line, unquoted:
// the mailbox of SELECT, APPEND, STATUS.
func mailboxArg(line string) string {
	_, rest, _ := strings.Cut(line, " ")
	if strings.HasPrefix(rest, `"`) {
		end := strings.Index(rest[1:], `"`)
		return rest[1 : end+1]
	}
	arg, _, _ := strings.Cut(rest, " ")
	return arg
}

// mailtwin runs the CLI in-process with the rig's config; it fails the
// test if the run takes longer than limit.
func (r *faultRig) mailtwin(limit time.Duration, args ...string) (code int, stdout, stderr string, took time.Duration) {
	r.t.Helper()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- run(context.Background(), append(args, "--config", r.config), strings.NewReader(""), &out, &errb)
	}()
	select {
	case code = <-done:
	case <-time.After(limit):
		r.t.Fatalf("mailtwin %s did not exit within %v", strings.Join(args, " "), limit)
	}
	return code, out.String(), errb.String(), time.Since(start)
}

// apply runs apply and fails the test unless it exits 0.
func (r *faultRig) apply() {
	r.t.Helper()
	if code, out, errs, _ := r.mailtwin(time.Minute, "apply"); code != 0 {
		r.t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// settled fails the test unless plan finds nothing to do.
func (r *faultRig) settled() {
	r.t.Helper()
	if code, out, errs, _ := r.mailtwin(time.Minute, "plan", "--detailed-exitcode"); code != 0 {
		r.t.Errorf("plan after the sync: exit %d, want 0 (nothing to do)\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// snapshot returns both accounts' mailboxes as "a INBOX" -> "id flags"
// lines.
func (r *faultRig) snapshot() map[string][]string {
	r.t.Helper()
	out := map[string][]string{}
	for s, user := range r.users {
		for _, mb := range r.f.srv.Mailboxes(r.t, user) {
			out[[]string{"a", "b"}[s]+" "+mb] = r.f.contents(user, mb)
		}
	}
	return out
}

// The sweep's scenario: a first sync of two filled accounts, then a
// later one with new mail on both sides, flag changes both ways,
// deletions on both sides and a move. Each phase's want is what an
// uninterrupted run gives. Two messages are bigger than 4096 bytes, so
// their APPENDs use synchronizing literals.

func (r *faultRig) put(s int, mailbox, id string, flags ...imap.Flag) {
	r.t.Helper()
	r.f.put(r.users[s], mailbox, id, flags...)
}

func (r *faultRig) putBig(s int, mailbox, id string, flags ...imap.Flag) {
	r.t.Helper()
	body := strings.Repeat("a line of a long message, to be cut somewhere\r\n", 120)
	r.f.srv.Append(r.t, r.users[s], mailbox, imaptest.NewMessage("sender@example.org", "team@example.org", "about "+id, id+"@example.org", body), flags...)
}

func faultSeedFirst(r *faultRig) {
	const a, b = 0, 1
	r.put(a, "INBOX", "a1", imap.FlagSeen)
	r.put(a, "INBOX", "a2")
	r.put(a, "INBOX", "both1", imap.FlagFlagged)
	r.put(a, "Work", "w1")
	r.putBig(a, "Work", "w2", imap.FlagAnswered)
	r.put(a, "Lists", "l1")
	r.put(a, "Lists", "l2")
	r.put(a, "Lists", "l3", imap.FlagSeen)
	r.put(b, "INBOX", "b1")
	r.put(b, "INBOX", "both1", imap.FlagFlagged)
	r.put(b, "Work", "bw1", "$Work")
	r.put(b, "Archive", "ar1")
	r.putBig(b, "Archive", "ar2", imap.FlagSeen)
}

var faultWantFirst = map[string][]string{
	"INBOX":   {`a1 \Seen`, "a2 -", "b1 -", `both1 \Flagged`},
	"Work":    {"bw1 $work", "w1 -", `w2 \Answered`},
	"Lists":   {"l1 -", "l2 -", `l3 \Seen`},
	"Archive": {"ar1 -", `ar2 \Seen`},
}

func faultSeedLater(r *faultRig) {
	const a, b = 0, 1
	r.put(a, "INBOX", "a3")
	r.putBig(a, "Lists", "l4", imap.FlagFlagged)
	r.put(b, "Archive", "ar3")
	r.put(b, "INBOX", "b2", imap.FlagSeen)
	r.f.srv.AddFlags(r.t, r.users[a], "Work", r.f.uidOf(r.users[a], "Work", "w1"), imap.FlagSeen)
	r.f.srv.AddFlags(r.t, r.users[b], "INBOX", r.f.uidOf(r.users[b], "INBOX", "a1"), imap.FlagFlagged)
	r.f.srv.RemoveFlags(r.t, r.users[b], "Lists", r.f.uidOf(r.users[b], "Lists", "l3"), imap.FlagSeen)
	r.f.expunge(r.users[a], "Lists", "l1")
	r.f.expunge(r.users[b], "Archive", "ar1")
	r.f.userMove(r.users[a], "Work", "w2", "Archive")
}

var faultWantLater = map[string][]string{
	"INBOX":   {`a1 \Flagged,\Seen`, "a2 -", "a3 -", "b1 -", `b2 \Seen`, `both1 \Flagged`},
	"Work":    {"bw1 $work", `w1 \Seen`},
	"Lists":   {"l2 -", "l3 -", `l4 \Flagged`},
	"Archive": {`ar2 \Seen`, "ar3 -", `w2 \Answered`},
}

// checkConverged fails the test unless both accounts hold exactly want
// in the scenario's folders, the same mailboxes, and plan has nothing
// to do.
func (r *faultRig) checkConverged(want map[string][]string) {
	r.t.Helper()
	snap := r.snapshot()
	for _, side := range []string{"a", "b"} {
		for mb, lines := range want {
			if got := snap[side+" "+mb]; !slices.Equal(got, lines) {
				r.t.Errorf("%s %q holds %q, want %q", side, mb, got, lines)
			}
		}
	}
	var boxes [2][]string
	for k := range snap {
		side, mb, _ := strings.Cut(k, " ")
		i := 0
		if side == "b" {
			i = 1
		}
		boxes[i] = append(boxes[i], mb)
	}
	slices.Sort(boxes[0])
	slices.Sort(boxes[1])
	if !slices.Equal(boxes[0], boxes[1]) {
		r.t.Errorf("the accounts have different mailboxes: a %q, b %q", boxes[0], boxes[1])
	}
	r.settled()
}

// folderVerbs are the commands that act in or on one mailbox: an error
// in one of them must name it.
var folderVerbs = map[string]bool{
	"SELECT": true, "EXAMINE": true, "STATUS": true, "APPEND": true, "CREATE": true, "DELETE": true, "RENAME": true,
	"FETCH": true, "UID FETCH": true, "UID STORE": true, "UID MOVE": true, "UID COPY": true, "UID EXPUNGE": true,
	"UID SEARCH": true, "SEARCH": true, "EXPUNGE": true, "CLOSE": true, "UNSELECT": true,
}

// faultTrial is one run of the sweep: the scenario phase, the account
// whose connection breaks, the byte of its part of the run at which it
// breaks, and whether it is cut or stalls.
type faultTrial struct {
	phase string // "first" or "later"
	side  int
	at    int64
	stall bool
}

func (tr faultTrial) String() string {
	how := "cut"
	if tr.stall {
		how = "stall"
	}
	return fmt.Sprintf("%s/%s-%s-at-%d", tr.phase, how, []string{"a", "b"}[tr.side], tr.at)
}

// TestFaultCutSweep cuts or stalls one account's connection under
// `mailtwin apply` at random byte counts, in a first sync and in a later
// one, against both servers. The run must exit 1 within a bounded time
// with a message naming the account, and the folder when the broken
// command was in one; the next run must converge to what an
// uninterrupted run gives: nothing lost, nothing twice, flags right.
func TestFaultCutSweep(t *testing.T) {
	t.Parallel()
	seed := *faultSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -faults.seed=%d)", seed, seed)
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		t.Parallel()
		n := *faultTrials
		users := []string{"ref-a", "ref-b"}
		for i := range 2 * n {
			users = append(users, fmt.Sprintf("t%03d-a", i), fmt.Sprintf("t%03d-b", i))
		}
		srv := start(t, users...)

		// The uninterrupted run: its size, per account and phase, is the
		// range of cut points.
		size := map[string][2]int64{}
		ref := newFaultRig(t, srv, "ref-a", "ref-b", "5s")
		measure := func(phase string) {
			before := [2]int64{ref.rec[0].Bytes(), ref.rec[1].Bytes()}
			ref.apply()
			size[phase] = [2]int64{ref.rec[0].Bytes() - before[0], ref.rec[1].Bytes() - before[1]}
		}
		faultSeedFirst(ref)
		measure("first")
		ref.checkConverged(faultWantFirst)
		faultSeedLater(ref)
		measure("later")
		ref.checkConverged(faultWantLater)

		rng := rand.New(rand.NewPCG(seed, uint64(len(srv.Kind))))
		var trials []faultTrial
		for i := range 2 * n {
			tr := faultTrial{phase: []string{"first", "later"}[i%2], side: rng.IntN(2), stall: i%4 >= 2}
			tr.at = rng.Int64N(size[tr.phase][tr.side])
			trials = append(trials, tr)
		}
		began := time.Now()
		var (
			mu      sync.Mutex
			broke   int
			slowest time.Duration
		)
		t.Run("trials", func(t *testing.T) {
			for i, tr := range trials {
				t.Run(tr.String(), func(t *testing.T) {
					t.Parallel()
					b, took := faultTrialRun(t, srv, fmt.Sprintf("t%03d-a", i), fmt.Sprintf("t%03d-b", i), tr)
					mu.Lock()
					defer mu.Unlock()
					if b {
						broke++
					}
					slowest = max(slowest, took)
				})
			}
		})
		t.Logf("%d trials in %v: %d broke the run, the others hit LOGOUT or came after it; the slowest broken run took %v",
			len(trials), time.Since(began).Round(time.Millisecond), broke, slowest.Round(time.Millisecond))
	})
}

// faultOps are the operations an account's error names, after
// `account "a": `.
var faultOps = regexp.MustCompile(`(login as|connect to|list folders|scan "|fetch from "|append to "|store flags in "|expunge from "|move from "|create folder "|delete folder "|rename folder ")`)

// faultTrialRun runs one trial of the sweep on its own pair of users
// and reports whether the fault hit and broke the run.
func faultTrialRun(t *testing.T, srv *imaptest.Server, userA, userB string, tr faultTrial) (broke bool, took time.Duration) {
	t.Helper()
	// A cut is noticed at once; a stall only when the timeout passes.
	// bound is how long the broken run may take: no step may wait for
	// longer than the timeout, and a cut must not wait for it at all.
	timeout, bound := 15*time.Second, 15*time.Second
	if tr.stall {
		timeout = time.Second
	}
	r := newFaultRig(t, srv, userA, userB, timeout.String())
	faultSeedFirst(r)
	want := faultWantFirst
	if tr.phase == "later" {
		r.apply()
		faultSeedLater(r)
		want = faultWantLater
	}
	rec := r.rec[tr.side]
	if tr.stall {
		rec.StallAfter(rec.Bytes() + tr.at)
	} else {
		rec.CutAfter(rec.Bytes() + tr.at)
	}
	code, stdout, stderr, took := r.mailtwin(time.Minute, "apply")
	rec.CutAfter(-1)
	conn := rec.Faulted()
	r.mu.Lock()
	last, sel := r.last[tr.side][conn], r.sel[tr.side][conn]
	r.mu.Unlock()
	account := fmt.Sprintf("account %q: ", []string{"a", "b"}[tr.side])
	folder := sel
	if !slices.Contains([]string{"FETCH", "UID FETCH", "UID STORE", "UID MOVE", "UID COPY", "UID EXPUNGE", "EXPUNGE", "SEARCH", "UID SEARCH", "CLOSE", "UNSELECT"}, last.Verb) {
		folder = mailboxArg(last.Line)
	}
	what := fmt.Sprintf("apply broken in %q (selected %q): exit %d after %v\nstdout:\n%s\nstderr:\n%s", last.Line, sel, code, took.Round(time.Millisecond), stdout, stderr)
	switch {
	case took > bound:
		t.Errorf("%s\nwant the run to end within %v", what, bound)
	case conn == 0 || last.Verb == "LOGOUT":
		// The fault came after the run's last command, or hit its
		// LOGOUT: nothing was lost, and the run may well succeed.
		if code != 0 && code != 1 {
			t.Errorf("%s\nwant exit 0 or 1", what)
		}
	case code != 1:
		t.Errorf("%s\nwant exit 1", what)
	default:
		broke = true
		line := ""
		for _, l := range strings.Split(stderr, "\n") {
			if _, after, ok := strings.Cut(l, account); ok && faultOps.MatchString(after) {
				line = l
				break
			}
		}
		switch {
		case line == "":
			t.Errorf("%s\nwant a line naming the account (%s) and the operation", what, account)
		case folderVerbs[last.Verb] && !strings.Contains(stderr, strconv.Quote(folder)):
			t.Errorf("%s\nwant the message to name the folder %q", what, folder)
		case tr.stall && !strings.Contains(stderr, "timeout"):
			t.Errorf("%s\nwant the message to say it timed out", what)
		}
	}
	if t.Failed() {
		return broke, took
	}
	t.Logf("exit %d after %v, broken in %s", code, took.Round(time.Millisecond), last.Line)
	r.setTimeout("30s") // the next run is not under test for its speed
	r.apply()
	r.checkConverged(want)
	return broke, took
}
