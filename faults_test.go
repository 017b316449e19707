package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	faultCmds   = flag.Int("faults.cmds", 3, "commands per server and scenario phase that TestFaultCutSweep cuts, stalls or answers with BYE")
	faultAll    = flag.Bool("faults.all", false, "TestFaultCutSweep also cuts at every command of each phase, before the server has it and after it answered")
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
	// rules are extra lines of the pair block (folder rules).
	rules string
	// connections, if not 0, is the accounts' connections attribute.
	connections int
	// direction, if not empty, is the pair's default direction in place
	// of "both".
	direction string
	// swapped makes account b the pair's side a and account a its side
	// b: with direction "b-to-a", account a's mail flows to b as with
	// "a-to-b" unswapped, and the run plans and acts with its sides
	// the other way round.
	swapped bool

	// last holds, per account and connection, the last command the
	// connection received, sel the mailbox it last selected, and
	// answered the Seq of the last command whose completion the server
	// sent.
	mu       sync.Mutex
	last     [2]map[int]imaptest.Event
	sel      [2]map[int]string
	answered [2]map[int]int
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
		r.last[s], r.sel[s], r.answered[s] = map[int]imaptest.Event{}, map[int]string{}, map[int]int{}
		r.watch(s, nil)
	}
	r.setTimeout(timeout)
	return r
}

// setTimeout (re)writes the config with the accounts' timeout.
func (r *faultRig) setTimeout(timeout string) { r.setTimeouts([2]string{timeout, timeout}) }

// setTimeouts (re)writes the config with each account's timeout, a's
// then b's.
func (r *faultRig) setTimeouts(timeouts [2]string) {
	r.t.Helper()
	var accounts strings.Builder
	conns := ""
	if r.connections > 0 {
		conns = fmt.Sprintf("\n  connections = %d", r.connections)
	}
	direction := "both"
	if r.direction != "" {
		direction = r.direction
	}
	for s, name := range []string{"a", "b"} {
		_, port, _ := strings.Cut(r.rec[s].Addr, ":")
		fmt.Fprintf(&accounts, `account %q {
  host     = "127.0.0.1"
  port     = %s
  tls      = "none"
  username = %q
  password = %q
  timeout  = %q%s
}
`, name, port, r.users[s], imaptest.Password, timeouts[s], conns)
	}
	cfg := fmt.Sprintf(`state { path = %q }
%s
pair "p" {
  %s
  defaults {
    direction = %q
    deletion  = "propagate"
  }
%s}
`, r.state, accounts.String(), pairSides(r.swapped), direction, r.rules)
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// watch intercepts side s's commands: it notes each one (see last and
// sel) and answers with fn, if not nil.
func (r *faultRig) watch(s int, fn func(imaptest.Event) imaptest.Action) {
	r.rec[s].Intercept(func(e imaptest.Event) imaptest.Action {
		r.mu.Lock()
		switch e.Stage {
		case imaptest.Received:
			r.last[s][e.Conn] = e
			if e.Verb == "SELECT" || e.Verb == "EXAMINE" {
				r.sel[s][e.Conn] = mailboxArg(e.Line)
			}
		case imaptest.Answered:
			r.answered[s][e.Conn] = e.Seq
		}
		r.mu.Unlock()
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
// deletions on both sides and a move, then one after both users renamed
// a folder (faultSeedRenames); and apart from those, a later sync of a
// pair that syncs one way (faultSeedOneWay), and one of a pair whose
// deletions go to the trash in one folder and are kept in another
// (faultSeedPolicies). Each phase's want is what an uninterrupted run
// gives. Three messages are bigger than 4096 bytes, so
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

// faultSeedRenames has both users reorganise their folders after the
// later sync: a's user renames Work with a RENAME (its UIDVALIDITY
// kept), makes a folder under it and files a message there; b's user
// renames Archive by copy (a new UIDVALIDITY: the run finds the rename
// by its messages) and files new mail and a message of INBOX into it.
// The run renames each folder on the other side, makes the new one and
// copies and moves into the renamed folders.
func faultSeedRenames(r *faultRig) {
	const a, b = 0, 1
	srv := r.f.srv
	srv.Rename(r.t, r.users[a], "Work", "Projects")
	done := faultDone(srv.Delim)
	srv.Create(r.t, r.users[a], done)
	r.f.userMove(r.users[a], "INBOX", "a2", done)
	srv.RenameByCopy(r.t, r.users[b], "Archive", "Old")
	r.put(b, "Old", "ar4", imap.FlagFlagged)
	r.f.userMove(r.users[b], "INBOX", "b1", "Old")
}

var faultGoneRenames = []string{"Work", "Archive"}

// faultDone is the folder a's user makes under the renamed Work.
func faultDone(delim rune) string { return "Projects" + string(delim) + "Done" }

// faultWantRenames is what an uninterrupted run gives after
// faultSeedRenames; faultGoneRenames are the folders neither account
// lists then.
func faultWantRenames(delim rune) map[string][]string {
	return map[string][]string{
		"INBOX":          {`a1 \Flagged,\Seen`, "a3 -", `b2 \Seen`, `both1 \Flagged`},
		"Projects":       {"bw1 $work", `w1 \Seen`},
		faultDone(delim): {"a2 -"},
		"Lists":          {"l2 -", "l3 -", `l4 \Flagged`},
		"Old":            {`ar2 \Seen`, "ar3 -", `ar4 \Flagged`, "b1 -", `w2 \Answered`},
	}
}

// faultOneWay is the direction of the sweep's one-way pair, from its
// first sync on.
const faultOneWay = "a-to-b"

// faultSeedOneWay has both users of a pair that syncs a to b change
// their mail after its first sync: a's user's new mail (one message
// big), flag change, expunge and move must reach b; b's user's new mail,
// flag change on a copy of a's message, and expunges, of its own mail
// and of a copy, stay on b: the copy is not copied again.
func faultSeedOneWay(r *faultRig) {
	const a, b = 0, 1
	r.put(a, "INBOX", "a3")
	r.putBig(a, "Lists", "l4", imap.FlagFlagged)
	r.f.srv.AddFlags(r.t, r.users[a], "Work", r.f.uidOf(r.users[a], "Work", "w1"), imap.FlagSeen)
	r.f.expunge(r.users[a], "Lists", "l1")
	r.f.userMove(r.users[a], "INBOX", "a2", "Work")
	r.put(b, "INBOX", "b2", imap.FlagSeen)
	r.f.srv.AddFlags(r.t, r.users[b], "INBOX", r.f.uidOf(r.users[b], "INBOX", "a1"), imap.FlagFlagged)
	r.f.expunge(r.users[b], "Archive", "ar1")
	r.f.expunge(r.users[b], "Lists", "l2")
}

// faultWantOneWay is what each account holds after an uninterrupted
// run of faultSeedOneWay's changes: a its own mail only, b a's and its
// own.
var faultWantOneWay = [2]map[string][]string{{
	"INBOX": {`a1 \Seen`, "a3 -", `both1 \Flagged`},
	"Work":  {"a2 -", `w1 \Seen`, `w2 \Answered`},
	"Lists": {"l2 -", `l3 \Seen`, `l4 \Flagged`},
}, {
	"INBOX":   {`a1 \Flagged,\Seen`, "a3 -", "b1 -", `b2 \Seen`, `both1 \Flagged`},
	"Work":    {"a2 -", "bw1 $work", `w1 \Seen`, `w2 \Answered`},
	"Lists":   {`l3 \Seen`, `l4 \Flagged`},
	"Archive": {`ar2 \Seen`},
}}

// faultPolicies are the folder rules of the sweep's policies phase,
// from its pair's first sync on.
const faultPolicies = `  folder "Lists" { deletion = "trash" }
  folder "Work" { deletion = "keep" }
`

// faultSeedPolicies has both users change their mail after the first
// sync of a pair with faultPolicies: each expunges a message of Lists,
// whose counterpart the run moves into the other side's trash, and one
// of Work, whose counterpart stays, its record one-sided; new mail, a
// flag change and a move flow both ways.
func faultSeedPolicies(r *faultRig) {
	const a, b = 0, 1
	r.f.expunge(r.users[a], "Lists", "l1")
	r.f.expunge(r.users[b], "Lists", "l2")
	r.f.expunge(r.users[a], "Work", "w1")
	r.f.expunge(r.users[b], "Work", "bw1")
	r.put(a, "INBOX", "a3")
	r.putBig(b, "Lists", "l4", imap.FlagSeen)
	r.f.srv.AddFlags(r.t, r.users[b], "INBOX", r.f.uidOf(r.users[b], "INBOX", "a1"), imap.FlagFlagged)
	r.f.userMove(r.users[a], "INBOX", "a2", "Work")
}

// faultWantPolicies is what each account holds after an uninterrupted
// run of faultSeedPolicies's changes.
var faultWantPolicies = [2]map[string][]string{{
	"INBOX":   {`a1 \Flagged,\Seen`, "a3 -", "b1 -", `both1 \Flagged`},
	"Work":    {"a2 -", "bw1 $work", `w2 \Answered`},
	"Lists":   {`l3 \Seen`, `l4 \Seen`},
	"Archive": {"ar1 -", `ar2 \Seen`},
	"Trash":   {"l2 -"},
}, {
	"INBOX":   {`a1 \Flagged,\Seen`, "a3 -", "b1 -", `both1 \Flagged`},
	"Work":    {"a2 -", "w1 -", `w2 \Answered`},
	"Lists":   {`l3 \Seen`, `l4 \Seen`},
	"Archive": {"ar1 -", `ar2 \Seen`},
	"Trash":   {"l1 -"},
}}

// faultSidedPhase is a phase of the sweep whose pair's accounts differ
// after a sync (the pair syncs one way, or keeps or trashes deletions):
// its own pair, not the one the first, later and renames phases share.
type faultSidedPhase struct {
	direction string // the pair's default direction, if not "both"
	swapped   bool   // the pair's sides are accounts b and a (faultRig.swapped)
	rules     string // the pair's folder rules
	seed      func(*faultRig)
	// want is what each account, a then b, holds after an uninterrupted
	// run of seed's changes.
	want [2]map[string][]string
}

var faultSidedPhases = map[string]faultSidedPhase{
	"one-way": {direction: faultOneWay, seed: faultSeedOneWay, want: faultWantOneWay},
	// The one-way phase with the pair's sides swapped: the same mail
	// flows the same way, planned and carried out as b-to-a.
	"b-to-a":   {direction: "b-to-a", swapped: true, seed: faultSeedOneWay, want: faultWantOneWay},
	"policies": {rules: faultPolicies, seed: faultSeedPolicies, want: faultWantPolicies},
}

// setUp gives r the phase's pair, with timeout, syncs its first seed
// and makes the phase's changes: r's next apply is the phase's.
func (p faultSidedPhase) setUp(r *faultRig, timeout string) {
	r.direction, r.rules, r.swapped = p.direction, p.rules, p.swapped
	r.setTimeout(timeout)
	faultSeedFirst(r)
	r.apply()
	p.seed(r)
}

// checkSides fails the test unless each account holds exactly its want
// (a's, then b's) in those folders and nothing in any other, and plan
// has nothing to do: the check of a faultSidedPhase.
func (r *faultRig) checkSides(want [2]map[string][]string) {
	r.t.Helper()
	snap := r.snapshot()
	for k, got := range snap {
		side, mb, _ := strings.Cut(k, " ")
		if _, ok := want[strings.Index("ab", side)][mb]; !ok && len(got) > 0 {
			r.t.Errorf("%s %q holds %q, want no mail there", side, mb, got)
		}
	}
	for s, side := range []string{"a", "b"} {
		for mb, lines := range want[s] {
			if got := snap[side+" "+mb]; !slices.Equal(got, lines) {
				r.t.Errorf("%s %q holds %q, want %q", side, mb, got, lines)
			}
		}
	}
	r.settled()
}

// checkConverged fails the test unless both accounts hold exactly want
// in the scenario's folders, list none of gone, have the same
// mailboxes, and plan has nothing to do.
func (r *faultRig) checkConverged(want map[string][]string, gone ...string) {
	r.t.Helper()
	snap := r.snapshot()
	for _, side := range []string{"a", "b"} {
		for mb, lines := range want {
			if got := snap[side+" "+mb]; !slices.Equal(got, lines) {
				r.t.Errorf("%s %q holds %q, want %q", side, mb, got, lines)
			}
		}
		for _, mb := range gone {
			if _, ok := snap[side+" "+mb]; ok {
				r.t.Errorf("%s still lists %q, want it renamed", side, mb)
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
// whose connection breaks, and where and how: at byte at of its part of
// the run (cut or stalled), or, with cmd > 0, at its cmd-th command at
// stage (cut, stalled or answered with BYE).
type faultTrial struct {
	phase string // "first", "later", "renames", "one-way", "b-to-a" or "policies"
	side  int
	kind  imaptest.Kind
	at    int64
	cmd   int
	stage imaptest.Stage
}

func (tr faultTrial) String() string {
	where := fmt.Sprintf("at-byte-%d", tr.at)
	if tr.cmd > 0 {
		where = fmt.Sprintf("at-command-%d-%v", tr.cmd, tr.stage)
	}
	return fmt.Sprintf("%s/%v-%s-%s", tr.phase, tr.kind, []string{"a", "b"}[tr.side], where)
}

// TestFaultCutSweep cuts or stalls one account's connection under
// `mailtwin apply` at random byte counts, in a first sync, in a later
// one, in one after both users renamed a folder, in a later sync of a
// pair that syncs one way (a-to-b, and the same pair with its sides
// swapped, b-to-a), and in one of a pair that trashes and keeps
// deletions, against both servers. The run must end within a bounded time,
// with exit 1 and a message naming the account, the operation and the
// folder when the broken command was in one; the next run must converge
// to what an uninterrupted run gives: nothing lost, nothing twice, flags
// right. A fault that hits nothing that matters (the LOGOUT) may let the
// run succeed: then it must have converged already.
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

		// The uninterrupted run: its size in bytes and commands, per
		// account and phase, is the range of fault points.
		size := map[string][2]int64{}
		cmds := map[string][2]int{}
		refUsers := []string{"ref-a", "ref-b"}
		for name := range faultSidedPhases {
			refUsers = append(refUsers, "ref-"+name+"-a", "ref-"+name+"-b")
		}
		refSrv := start(t, refUsers...)
		ref := newFaultRig(t, refSrv, "ref-a", "ref-b", "5s")
		measure := func(ref *faultRig, phase string) {
			before := [2]int64{ref.rec[0].Bytes(), ref.rec[1].Bytes()}
			ref.rec[0].Reset()
			ref.rec[1].Reset()
			ref.apply()
			size[phase] = [2]int64{ref.rec[0].Bytes() - before[0], ref.rec[1].Bytes() - before[1]}
			cmds[phase] = [2]int{len(ref.rec[0].Commands()), len(ref.rec[1].Commands())}
		}
		faultSeedFirst(ref)
		measure(ref, "first")
		ref.checkConverged(faultWantFirst)
		faultSeedLater(ref)
		measure(ref, "later")
		ref.checkConverged(faultWantLater)
		faultSeedRenames(ref)
		measure(ref, "renames")
		ref.checkConverged(faultWantRenames(ref.f.srv.Delim), faultGoneRenames...)
		phases := []string{"first", "later", "renames"}
		for _, name := range slices.Sorted(maps.Keys(faultSidedPhases)) {
			p := faultSidedPhases[name]
			r := newFaultRig(t, refSrv, "ref-"+name+"-a", "ref-"+name+"-b", "5s")
			p.setUp(r, "5s")
			measure(r, name)
			r.checkSides(p.want)
			phases = append(phases, name)
		}
		for _, ph := range phases {
			t.Logf("an uninterrupted run, %s: %d+%d bytes, %d+%d commands", ph, size[ph][0], size[ph][1], cmds[ph][0], cmds[ph][1])
		}

		rng := rand.New(rand.NewPCG(seed, uint64(len(ref.f.srv.Kind))))
		var trials []faultTrial
		for i := range len(phases) * n {
			tr := faultTrial{phase: phases[i%len(phases)], side: rng.IntN(2), kind: imaptest.Cut}
			if i%4 >= 2 {
				tr.kind = imaptest.Stall
			}
			tr.at = rng.Int64N(size[tr.phase][tr.side])
			trials = append(trials, tr)
		}
		for i := range len(phases) * *faultCmds {
			tr := faultTrial{phase: phases[i%len(phases)], side: rng.IntN(2), stage: imaptest.Stage(rng.IntN(2))}
			tr.cmd = 1 + rng.IntN(cmds[tr.phase][tr.side])
			tr.kind = []imaptest.Kind{imaptest.Cut, imaptest.Bye, imaptest.Stall}[rng.IntN(3)]
			trials = append(trials, tr)
		}
		if *faultAll {
			for _, phase := range phases {
				for side := range 2 {
					for k := 1; k <= cmds[phase][side]; k++ {
						for _, stage := range []imaptest.Stage{imaptest.Received, imaptest.Answered} {
							trials = append(trials, faultTrial{phase: phase, side: side, kind: imaptest.Cut, cmd: k, stage: stage})
						}
					}
				}
			}
		}
		var users []string
		for i := range trials {
			users = append(users, fmt.Sprintf("t%03d-a", i), fmt.Sprintf("t%03d-b", i))
		}
		srv := start(t, users...)
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
		t.Logf("%d trials in %v: %d broke the run (exit 1), the others hit nothing that mattered (exit 0, converged); the slowest run took %v",
			len(trials), time.Since(began).Round(time.Millisecond), broke, slowest.Round(time.Millisecond))
	})
}

// faultOps are the operations an account's error names, after
// `account "a": `.
var faultOps = regexp.MustCompile(`(login as|connect to|greeting from|list folders|scan "|fetch from "|append to "|store flags in "|expunge from "|move from "|create folder "|delete folder "|rename folder ")`)

// faultTrialRun runs one trial of the sweep on its own pair of users
// and reports whether the fault hit and broke the run.
func faultTrialRun(t *testing.T, srv *imaptest.Server, userA, userB string, tr faultTrial) (broke bool, took time.Duration) {
	t.Helper()
	// A cut is noticed at once; a stall only when the timeout passes.
	// bound is how long the broken run may take: no step may wait for
	// longer than the timeout, and a cut must not wait for it at all.
	timeout, bound := 15*time.Second, 15*time.Second
	if tr.kind == imaptest.Stall {
		timeout = time.Second
	}
	// The runs that bring the accounts to the phase are not under test:
	// a stall trial's second-long timeout is for the faulted run alone,
	// and its faulted account's (a login or SELECT under -race on a busy
	// machine can take longer).
	const setUpTimeout = "30s"
	r := newFaultRig(t, srv, userA, userB, setUpTimeout)
	want, gone := faultWantFirst, []string(nil)
	sided, isSided := faultSidedPhases[tr.phase]
	if isSided {
		sided.setUp(r, setUpTimeout)
		want = sided.want[1] // the folders an error may name: b's are a's and more
	} else {
		faultSeedFirst(r)
	}
	if tr.phase == "later" || tr.phase == "renames" {
		r.apply()
		faultSeedLater(r)
		want = faultWantLater
	}
	if tr.phase == "renames" {
		r.apply()
		faultSeedRenames(r)
		want, gone = faultWantRenames(srv.Delim), faultGoneRenames
	}
	converged := func() {
		if isSided {
			r.checkSides(sided.want)
		} else {
			r.checkConverged(want, gone...)
		}
	}
	// Only the faulted account's connections stall: the other's keep
	// the longer timeout, which a loaded machine (-race) needs.
	timeouts := [2]string{setUpTimeout, setUpTimeout}
	timeouts[tr.side] = timeout.String()
	r.setTimeouts(timeouts)
	rec := r.rec[tr.side]
	var hit atomic.Int64 // the connection the command fault hit
	switch {
	case tr.cmd > 0:
		var (
			mu     sync.Mutex
			n, seq int
		)
		r.watch(tr.side, func(e imaptest.Event) imaptest.Action {
			mu.Lock()
			defer mu.Unlock()
			if e.Stage == imaptest.Received {
				if n++; n == tr.cmd {
					seq = e.Seq
				}
			}
			if e.Seq == seq && e.Stage == tr.stage {
				hit.Store(int64(e.Conn))
				return imaptest.Action{Do: tr.kind, Text: "imaptest: fault"}
			}
			return imaptest.Action{}
		})
	case tr.kind == imaptest.Stall:
		rec.StallAfter(rec.Bytes() + tr.at)
	default:
		rec.CutAfter(rec.Bytes() + tr.at)
	}
	code, stdout, stderr, took := r.mailtwin(time.Minute, "apply")
	rec.CutAfter(-1)
	r.watch(tr.side, nil)
	conn := rec.Faulted()
	if tr.cmd > 0 {
		conn = int(hit.Load())
	}
	r.mu.Lock()
	last, sel := r.last[tr.side][conn], r.sel[tr.side][conn]
	// A cut after so many bytes came after the server completed the
	// last command it received: the client may have read that
	// completion and gone on
	// to its next command, which broke on the cut connection without
	// the server ever seeing it (a scan that had read one folder whole,
	// failing to SELECT the next). The folder the run names is then that
	// next command's, which the proxy cannot know: it must be one of
	// the account's. (A fault at a command is at that command.)
	between := tr.cmd == 0 && r.answered[tr.side][conn] == last.Seq
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
	case code == 0:
		// The fault hit nothing that mattered (the run's LOGOUT, the
		// CRLF after a last completion, or it came after the run's
		// last byte): the run says it is done, so it must be.
		r.setTimeout("30s")
		converged()
		return false, took
	case code != 1:
		t.Errorf("%s\nwant exit 1", what)
	default:
		broke = true
		line, op := "", ""
		for _, l := range strings.Split(stderr, "\n") {
			if _, after, ok := strings.Cut(l, account); ok && faultOps.MatchString(after) {
				line, op = l, faultOps.FindString(after)
				break
			}
		}
		// Where the run broke in a command the server never saw (see
		// between), the folder is that command's, or the one before's
		// if the completion was cut: one of the account's (the
		// scenario's, one renamed, or a special-use one), named
		// wherever the operation takes one.
		namesAFolder := !strings.HasSuffix(op, `"`) || strings.Contains(line, strconv.Quote(folder))
		for _, f := range slices.Concat(slices.Collect(maps.Keys(want)), gone, []string{"Drafts", "Sent", "Trash", "Junk"}) {
			namesAFolder = namesAFolder || strings.Contains(line, strconv.Quote(f))
		}
		switch {
		case line == "":
			t.Errorf("%s\nwant a line naming the account (%s) and the operation", what, account)
		case folderVerbs[last.Verb] && !between && !strings.Contains(stderr, strconv.Quote(folder)):
			t.Errorf("%s\nwant the message to name the folder %q", what, folder)
		case folderVerbs[last.Verb] && between && !namesAFolder:
			t.Errorf("%s\nwant the message to name the folder its operation (%s) was in, one of the account's", what, op)
		case tr.kind == imaptest.Stall && !strings.Contains(stderr, "timeout"):
			t.Errorf("%s\nwant the message to say it timed out", what)
		}
	}
	if t.Failed() {
		return broke, took
	}
	t.Logf("exit %d after %v, broken in %s", code, took.Round(time.Millisecond), last.Line)
	r.setTimeout("30s") // the next run is not under test for its speed
	r.apply()
	converged()
	return broke, took
}

// planLine returns the line of apply's plan output that holds each of
// parts, trimmed; the test fails if there is not exactly one.
func planLine(t *testing.T, stdout string, parts ...string) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(stdout, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			found = append(found, strings.TrimSpace(l))
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one line of the plan with %q, got %q in\n%s", parts, found, stdout)
	}
	return found[0]
}

// faultLeak matches what the scenario's messages hold: subjects
// ("about a1"), addresses, bodies ("body of a1", the long ones' lines).
var faultLeak = regexp.MustCompile(`(about|body of) [a-z]+[0-9]|@example\.org|a line of a long message`)

// wantReported fails the test unless stderr reports the plan's action
// (its line, with the folder and the message's identity) with the
// account's error after it, and shows nothing of the messages' content:
// no subject, address or body.
func wantReported(t *testing.T, stderr, action, accountErr string) {
	t.Helper()
	if want := action + ": " + accountErr; !strings.Contains(stderr, want) {
		t.Errorf("stderr does not report the failed action as %q:\n%s", want, stderr)
	}
	if !strings.Contains(action, " m:") {
		t.Errorf("the action %q names no message identity", action)
	}
	if leak := faultLeak.FindString(stderr); leak != "" {
		t.Errorf("stderr shows message content (%q):\n%s", leak, stderr)
	}
}

// counts returns how many commands of each verb the accounts' recorders
// saw since their last Reset: "a APPEND" -> 2.
func (r *faultRig) counts(verbs ...string) map[string]int {
	out := map[string]int{}
	for s, side := range []string{"a", "b"} {
		for _, v := range verbs {
			if n := r.rec[s].Count(v); n > 0 {
				out[side+" "+v] = n
			}
		}
	}
	return out
}

// appendLiteralRE matches the literal markers of a recorded command.
var appendLiteralRE = regexp.MustCompile(`\{[0-9]+\+?\}`)

// appended counts the messages sent in APPEND commands on each side,
// by side name: one literal each, whether a command carries one
// message or, as a MULTIAPPEND does, several.
func (r *faultRig) appended() map[string]int {
	out := map[string]int{}
	for s, side := range []string{"a", "b"} {
		for _, c := range r.rec[s].Commands() {
			if strings.HasPrefix(strings.ToUpper(c), "APPEND ") {
				out[side] += len(appendLiteralRE.FindAllString(c, -1))
			}
		}
	}
	return out
}

// retry runs apply without faults and checks that it sent exactly the
// commands in want (of the verbs named there and in others), exited 0
// and converged to the phase's result.
func (r *faultRig) retry(want map[string]int, result map[string][]string, others ...string) {
	r.t.Helper()
	r.watch(0, nil)
	r.watch(1, nil)
	r.rec[0].Reset()
	r.rec[1].Reset()
	r.apply()
	verbs := others
	for k := range want {
		_, v, _ := strings.Cut(k, " ")
		verbs = append(verbs, v)
	}
	if got := r.counts(verbs...); !maps.Equal(got, want) {
		r.t.Errorf("the next run sent %v, want %v (only what failed); commands:\na: %q\nb: %q", got, want, r.rec[0].Commands(), r.rec[1].Commands())
	}
	r.checkConverged(result)
}

// refuse answers NO with text to the first command of verb on side s
// whose line holds substr, at Received: the server never sees it.
func (r *faultRig) refuse(s int, verb, substr, text string) {
	var once sync.Once
	r.watch(s, func(e imaptest.Event) imaptest.Action {
		act := imaptest.Action{}
		if e.Stage == imaptest.Received && e.Verb == verb && strings.Contains(e.Line, substr) {
			once.Do(func() { act = imaptest.Action{Do: imaptest.Refuse, Text: text} })
		}
		return act
	})
}

// TestFaultAppendRefused: the server refuses two APPEND commands, one
// into Lists and one into Work. On the memory server (no MULTIAPPEND)
// each APPEND carries one message: Lists' first (a non-synchronizing
// literal) and Work's w2 (the 5 kB message, a synchronizing literal:
// go-imap then closes its connection, and the store reconnects). On
// Dovecot the copies go as MULTIAPPENDs, and a copy's window may have
// grown on an earlier folder's copy over the same connection (see
// reconcile's inFlightLimit), so a refused command can carry more than
// one message of its folder: the first command into each folder is
// refused, and where it carried several, each is sent again alone
// (reconcile.BatchRefusedError), which the proxy lets through. So a
// folder's refused copies are one at most, and the refused command
// fails no copy sent beside it. The run reports each failed copy by
// folder and identity, copies everything else, and exits 1 where one
// failed; the next run appends exactly the failed messages.
func TestFaultAppendRefused(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice", "bob")
		r := newFaultRig(t, srv, "alice", "bob", "20s")
		faultSeedFirst(r)
		refused := map[string]string{`"Lists"`: "[OVERQUOTA] Quota exceeded", `"Work"`: "[LIMIT] message too large"}
		var seen sync.Map
		r.watch(1, func(e imaptest.Event) imaptest.Action {
			if e.Stage != imaptest.Received || e.Verb != "APPEND" {
				return imaptest.Action{}
			}
			for mailbox, text := range refused {
				target := "APPEND " + mailbox
				if srv.Kind == "mem" && mailbox == `"Work"` {
					target = `APPEND "Work" (\Answered)`
				}
				if strings.HasPrefix(e.Line, target) {
					if _, dup := seen.LoadOrStore(mailbox, true); !dup {
						return imaptest.Action{Do: imaptest.Refuse, Text: text}
					}
				}
			}
			return imaptest.Action{}
		})
		code, stdout, stderr, _ := r.mailtwin(time.Minute, "apply")
		for mailbox := range refused {
			if _, ok := seen.Load(mailbox); !ok {
				t.Fatalf("the proxy refused no APPEND into %s", mailbox)
			}
		}
		failed := 0
		for _, c := range []struct {
			mailbox string
			kept    []string // on b before the run
		}{{"Lists", nil}, {"Work", []string{"bw1 $work"}}} {
			stored := c.kept
			for i, line := range faultWantFirst[c.mailbox][len(c.kept):] {
				action := planLine(t, stdout, fmt.Sprintf(`b:%q <- a:%q uid %d `, c.mailbox, c.mailbox, i+1))
				if strings.Contains(stderr, action+": ") {
					wantReported(t, stderr, action, fmt.Sprintf("account \"b\": append to %q: imap: NO %s", c.mailbox, refused[strconv.Quote(c.mailbox)]))
					failed++
				} else {
					stored = append(stored, line)
				}
			}
			if n := len(faultWantFirst[c.mailbox]) - len(stored); n > 1 || n == 0 && srv.Kind == "mem" {
				t.Errorf("%d copies into %s failed, want 1 (one message per APPEND) or, on Dovecot, 0 (a MULTIAPPEND refused, its messages sent again alone):\n%s", n, c.mailbox, stderr)
			}
			r.f.want("bob", c.mailbox, stored...)
		}
		switch {
		case failed == 0 && code != 0:
			t.Fatalf("apply with no copy failed: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		case failed > 0 && code != 1:
			t.Fatalf("apply with %d copies failed: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", failed, code, stdout, stderr)
		case failed > 0 && !strings.Contains(stderr, fmt.Sprintf("%d of 13", failed)):
			t.Errorf("stderr does not say %d of 13 actions failed:\n%s", failed, stderr)
		}
		// The rest went through.
		r.f.want("alice", "Archive", faultWantFirst["Archive"]...)
		r.f.want("bob", "INBOX", faultWantFirst["INBOX"]...)
		r.watch(1, nil)
		r.rec[0].Reset()
		r.rec[1].Reset()
		r.apply()
		want := map[string]int{"b": failed}
		if failed == 0 {
			want = map[string]int{}
		}
		if got := r.appended(); !maps.Equal(got, want) {
			t.Errorf("the next run appended %v messages, want the %d that failed, to b", got, failed)
		}
		if got := r.counts("UID STORE", "UID MOVE"); len(got) != 0 {
			t.Errorf("the next run sent %v, want no flag change or move (only the failed copies)", got)
		}
		r.checkConverged(faultWantFirst)
	})
}

// laterRig is a rig after the scenario's first sync, with the later
// phase's changes made and the recorders reset.
func laterRig(t *testing.T, start imaptest.StartFunc) *faultRig {
	t.Helper()
	srv := start(t, "alice", "bob")
	r := newFaultRig(t, srv, "alice", "bob", "20s")
	faultSeedFirst(r)
	r.apply()
	faultSeedLater(r)
	r.rec[0].Reset()
	r.rec[1].Reset()
	return r
}

// TestFaultStoreRefused: the server refuses the UID STORE that carries
// a flag change (not the one that marks a deletion). The run reports it
// by folder and identity, does the rest, exits 1; the next run stores
// that flag and nothing else.
func TestFaultStoreRefused(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		r := laterRig(t, start)
		r.refuse(1, "UID STORE", `+FLAGS.SILENT (\Seen)`, "[CANNOT] flags are read-only here")
		code, stdout, stderr, _ := r.mailtwin(time.Minute, "apply")
		if code != 1 {
			t.Fatalf("apply with a UID STORE refused: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		wantReported(t, stderr, planLine(t, stdout, `~ b:"Work" uid `, `+\Seen`),
			`account "b": store flags in "Work": imap: NO [CANNOT] flags are read-only here`)
		if !strings.Contains(stderr, "1 of 10") {
			t.Errorf("stderr does not say 1 of 10 actions failed:\n%s", stderr)
		}
		// The rest went through: copies, the other flag changes, the
		// deletions and the move.
		r.f.want("bob", "Work", "bw1 $work", "w1 -")
		r.f.want("alice", "Work", "bw1 $work", `w1 \Seen`)
		for _, mb := range []string{"INBOX", "Lists", "Archive"} {
			r.f.want("alice", mb, faultWantLater[mb]...)
			r.f.want("bob", mb, faultWantLater[mb]...)
		}
		r.retry(map[string]int{"b UID STORE": 1}, faultWantLater, "APPEND", "UID MOVE", "UID EXPUNGE", "EXPUNGE")
	})
}

// TestFaultMoveRefused: the server refuses the UID MOVE that carries out
// the user's move on the other side. The message stays where it was, the
// rest is done, the run exits 1; the next run moves it (no re-upload)
// and does nothing else.
func TestFaultMoveRefused(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		r := laterRig(t, start)
		r.refuse(1, "UID MOVE", `"Archive"`, "[SERVERBUG] move failed, try again")
		code, stdout, stderr, _ := r.mailtwin(time.Minute, "apply")
		if code != 1 {
			t.Fatalf("apply with a UID MOVE refused: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		wantReported(t, stderr, planLine(t, stdout, `> b:"Work" uid `, `-> "Archive"`),
			`account "b": move from "Work" to "Archive": imap: NO [SERVERBUG] move failed, try again`)
		r.f.want("bob", "Work", "bw1 $work", `w1 \Seen`, `w2 \Answered`)
		r.f.want("bob", "Archive", `ar2 \Seen`, "ar3 -")
		for _, mb := range []string{"INBOX", "Lists", "Archive", "Work"} {
			r.f.want("alice", mb, faultWantLater[mb]...)
		}
		r.retry(map[string]int{"b UID MOVE": 1}, faultWantLater, "APPEND", "UID STORE", "UID COPY", "UID EXPUNGE", "EXPUNGE")
	})
}

// TestFaultMoveLeavesSource: b's server answers UID MOVE with OK but
// leaves the message in the source too (done here as a UID COPY; Dovecot
// with Maildir was seen to do it under concurrent moves). The run still
// converges and exits 0: the leftover is expunged at once, so no later
// run takes it for a copy made on b and copies it to a.
func TestFaultMoveLeavesSource(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		r := laterRig(t, start)
		r.watch(1, func(e imaptest.Event) imaptest.Action {
			if e.Stage == imaptest.Received && e.Verb == "UID MOVE" {
				return imaptest.Action{Do: imaptest.Rewrite, Text: "UID COPY" + strings.TrimPrefix(e.Line, "UID MOVE")}
			}
			return imaptest.Action{}
		})
		if code, stdout, stderr, _ := r.mailtwin(time.Minute, "apply"); code != 0 {
			t.Fatalf("apply with a MOVE that leaves its source: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		r.watch(1, nil)
		r.checkConverged(faultWantLater)
		r.settled()
	})
}

// TestFaultByeMidCommand: the server does the command and then says BYE
// instead of completing it, so mailtwin does not know it was done: an
// APPEND (whose new UID it never learns) and a UID MOVE. The run exits
// 1 naming both; the next run finds both done, by identity, and sends
// no APPEND or MOVE at all: nothing twice, nothing lost.
func TestFaultByeMidCommand(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		r := laterRig(t, start)
		var once sync.Once
		r.watch(0, func(e imaptest.Event) imaptest.Action {
			act := imaptest.Action{}
			if e.Stage == imaptest.Answered && e.Verb == "APPEND" && strings.HasPrefix(e.Line, `APPEND INBOX (\Seen)`) {
				once.Do(func() { act = imaptest.Action{Do: imaptest.Bye, Text: "server shutting down"} })
			}
			return act
		})
		var onceB sync.Once
		r.watch(1, func(e imaptest.Event) imaptest.Action {
			act := imaptest.Action{}
			if e.Stage == imaptest.Answered && e.Verb == "UID MOVE" {
				onceB.Do(func() { act = imaptest.Action{Do: imaptest.Bye, Text: "server shutting down"} })
			}
			return act
		})
		code, stdout, stderr, _ := r.mailtwin(time.Minute, "apply")
		if code != 1 {
			t.Fatalf("apply with BYE after an APPEND and a UID MOVE: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		for _, a := range []struct{ action, err string }{
			{planLine(t, stdout, `+ a:"INBOX" <- b:"INBOX" uid `), `account "a": append to "INBOX": `},
			{planLine(t, stdout, `> b:"Work" uid `), `account "b": move from "Work" to "Archive": `},
		} {
			wantReported(t, stderr, a.action, a.err)
		}
		r.retry(map[string]int{}, faultWantLater, "APPEND", "UID MOVE", "UID COPY")
	})
}

// TestFaultSourceBreaksOffMidBody: the source's connection is cut in the
// middle of the body of a message being copied. The half-sent APPEND on
// the target is abandoned (nothing half-stored); the failure is
// reported as the source's fetch, naming the source account, not as the
// target's append. The copy into Work comes after INBOX's on the same
// target connection, whose window has grown (see inFlightLimit), so on
// Dovecot w1 and w2 may travel in one MULTIAPPEND, which the server
// stores whole or not at all: then w1 fails with w2, and says it was
// the source's fault. The next run copies what failed, and only that.
func TestFaultSourceBreaksOffMidBody(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice", "bob")
		r := newFaultRig(t, srv, "alice", "bob", "20s")
		// One connection per account: the cut counts the bytes of all
		// of a's connections, and must land in w2's body, not in what
		// another connection carries meanwhile.
		r.connections = 1
		r.setTimeout("20s")
		faultSeedFirst(r)
		var once sync.Once
		r.watch(0, func(e imaptest.Event) imaptest.Action {
			r.mu.Lock()
			sel := r.sel[0][e.Conn]
			r.mu.Unlock()
			if e.Stage == imaptest.Received && e.Verb == "UID FETCH" && strings.Contains(e.Line, "BODY.PEEK[]") && sel == "Work" {
				// w1 takes some 350 bytes of the answer; 2000 bytes in is
				// inside w2's 5871-byte body.
				once.Do(func() { r.rec[0].CutAfter(r.rec[0].Bytes() + int64(len(e.Line)) + 2000) })
			}
			return imaptest.Action{}
		})
		code, stdout, stderr, _ := r.mailtwin(time.Minute, "apply")
		if code != 1 {
			t.Fatalf("apply with the source cut in mid-body: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		wantReported(t, stderr, planLine(t, stdout, `b:"Work" <- a:"Work" uid 2 `),
			`fetch from "Work" on a: account "a": fetch from "Work": `)
		w1 := planLine(t, stdout, `b:"Work" <- a:"Work" uid 1 `)
		if !strings.Contains(stderr, w1) {
			// w1 went in an APPEND of its own and is stored; only w2
			// is copied again.
			if strings.Contains(stderr, `account "b"`) {
				t.Errorf("stderr blames account b, whose connection was fine:\n%s", stderr)
			}
			r.f.want("bob", "Work", "bw1 $work", "w1 -")
			r.retry(map[string]int{"b APPEND": 1}, faultWantFirst, "APPEND", "UID STORE")
			return
		}
		// w1 and w2 went in one MULTIAPPEND, which the server drops
		// whole: w1 fails too, for the source's fault, and both are
		// copied again.
		wantReported(t, stderr, w1, `account "b": append to "Work": not stored: the connection was dropped because the source of message 2 of the same MULTIAPPEND failed`)
		r.f.want("bob", "Work", "bw1 $work")
		r.watch(0, nil)
		r.rec[0].Reset()
		r.rec[1].Reset()
		r.apply()
		if got := r.appended(); !maps.Equal(got, map[string]int{"b": 2}) {
			t.Errorf("the next run appended %v messages, want w1 and w2 to b", got)
		}
		r.checkConverged(faultWantFirst)
	})
}

// TestFaultRealQuota: Dovecot's quota plugin refuses an APPEND past the
// quota with NO [OVERQUOTA], for real. b may hold 5 messages and keeps 3
// in a folder the pair ignores, so of the 4 messages a has for it only
// 2 fit. b's MULTIAPPEND connection is open before the copy starts (a's
// INBOX grew by four), and the copy's window grows 1, 2, 4 on it: q1
// goes alone and is stored, q2 and q3 go as one MULTIAPPEND, which the
// server stores whole or not at all and refuses, then q4 alone, stored;
// then q2 and q3 again, each alone (either may have been the cause),
// both refused. The run says which failed and exits 1; with room for one more, the
// next run tries q2 and q3 again, each alone, and stores one; a run
// while b is still full fails the last one alone again; once b has
// room, the next run appends it and converges.
func TestFaultRealQuota(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Quota: "*:messages=5"}, "alice", "bob")
	r := newFaultRig(t, srv, "alice", "bob", "20s")
	r.rules = "  folder \"Private\" { direction = \"none\" }\n"
	r.setTimeout("20s")
	for _, id := range []string{"q1", "q2", "q3", "q4"} {
		r.put(0, "INBOX", id)
	}
	for _, id := range []string{"p1", "p2", "p3"} {
		r.put(1, "Private", id)
	}
	want := []string{"q1 -", "q2 -", "q3 -", "q4 -"}
	apply := func(wantCode, wantAppends int) (stdout, stderr string) {
		t.Helper()
		r.rec[0].Reset()
		r.rec[1].Reset()
		code, stdout, stderr, _ := r.mailtwin(time.Minute, "apply")
		if code != wantCode {
			t.Fatalf("apply: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, stdout, stderr)
		}
		if got := r.appended(); !maps.Equal(got, map[string]int{"b": wantAppends}) {
			t.Errorf("apply appended %v messages, want %d to b", got, wantAppends)
		}
		return stdout, stderr
	}
	stdout, stderr := apply(1, 6)
	refusedActions := []string{
		planLine(t, stdout, `b:"INBOX" <- a:"INBOX" uid 2 `),
		planLine(t, stdout, `b:"INBOX" <- a:"INBOX" uid 3 `),
	}
	const refused = `account "b": append to "INBOX": imap: NO [OVERQUOTA] `
	for _, action := range refusedActions {
		wantReported(t, stderr, action, refused)
	}
	r.f.want("bob", "INBOX", want[0], want[3])
	// Room for one: the two that failed are tried again, each alone (a
	// copy starts with one message in flight, and the second is sent
	// once the first was answered): q2 is stored, q3 refused alone.
	r.f.expunge("bob", "Private", "p1")
	_, stderr = apply(1, 2)
	wantReported(t, stderr, refusedActions[1], refused)
	r.f.want("bob", "INBOX", want[0], want[1], want[3])
	// Still full: the one that failed is tried again, alone.
	_, stderr = apply(1, 1)
	wantReported(t, stderr, refusedActions[1], refused)
	// Room for one: it goes through.
	r.f.expunge("bob", "Private", "p2")
	apply(0, 1)
	r.f.want("alice", "INBOX", want...)
	r.f.want("bob", "INBOX", want...)
	r.f.want("bob", "Private", "p3 -")
	r.settled()
}

// TestFaultStalledServer: the server does an APPEND and then goes
// silent on that connection, neither answering nor closing it. With
// timeout = "1s" the run gives up on that step after a second, goes on
// with the rest on a new connection, and exits 1 naming the account,
// the folder and the timeout. The copy into Lists may have had more
// than its first message in flight on that connection (the window
// grows on earlier folders' copies over the same connection, see
// reconcile's inFlightLimit): those fail with it, and nothing else does.
// The next run finds by identity what the server stored regardless and
// appends only what it did not.
func TestFaultStalledServer(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice", "bob")
		r := newFaultRig(t, srv, "alice", "bob", "1s")
		faultSeedFirst(r)
		var once sync.Once
		r.watch(1, func(e imaptest.Event) imaptest.Action {
			act := imaptest.Action{}
			if e.Stage == imaptest.Answered && e.Verb == "APPEND" && strings.HasPrefix(e.Line, `APPEND "Lists"`) {
				once.Do(func() { act.Do = imaptest.Stall })
			}
			return act
		})
		code, stdout, stderr, took := r.mailtwin(time.Minute, "apply")
		if code != 1 || took < time.Second || took > 10*time.Second {
			t.Fatalf("apply with a stalled APPEND: exit %d after %v, want exit 1 after the 1s timeout, well within 10s\nstdout:\n%s\nstderr:\n%s", code, took, stdout, stderr)
		}
		const stalled = `account "b": append to "Lists": no answer from the server for 1s (timeout)`
		wantReported(t, stderr, planLine(t, stdout, `b:"Lists" <- a:"Lists" uid 1 `), stalled)
		failed := 0
		for uid := 1; uid <= 3; uid++ {
			if action := planLine(t, stdout, fmt.Sprintf(`b:"Lists" <- a:"Lists" uid %d `, uid)); strings.Contains(stderr, action+": ") {
				wantReported(t, stderr, action, stalled)
				failed++
			}
		}
		if !strings.Contains(stderr, fmt.Sprintf("%d of 13", failed)) {
			t.Errorf("stderr does not say %d of 13 actions failed (the Lists copies in flight; the rest went on):\n%s", failed, stderr)
		}
		r.f.want("bob", "INBOX", faultWantFirst["INBOX"]...)
		r.f.want("bob", "Work", faultWantFirst["Work"]...)
		stored := len(r.f.contents("bob", "Lists"))
		r.setTimeout("20s")
		r.watch(1, nil)
		r.rec[0].Reset()
		r.rec[1].Reset()
		r.apply()
		if got := r.appended(); got["b"] != 3-stored || got["a"] != 0 {
			t.Errorf("the next run appended %v messages, want the %d of Lists the server had not stored, to b", got, 3-stored)
		}
		if got := r.counts("UID STORE"); len(got) != 0 {
			t.Errorf("the next run sent %v, want no flag change", got)
		}
		r.checkConverged(faultWantFirst)
	})
}
