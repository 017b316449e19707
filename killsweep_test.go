package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
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

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

var (
	sweepAll  = flag.Bool("killsweep.all", false, "kill `mailtwin apply` at every command of each sweep phase, before and after the server answers, instead of a sample of 12 per phase (about half an hour on Dovecot: give go test -timeout 60m)")
	sweepSeed = flag.Uint64("killsweep.seed", 0, "seed of the sweep's random kill points (0: a new one, printed)")
)

// A sweep phase is one `mailtwin apply` that the sweep interrupts: the
// first sync of two filled accounts; a later one with new mail, flag
// changes, deletions (one of them to the trash) and moves on both sides;
// one after both users renamed folders; a later one of a pair that syncs
// one way; or a later one of a pair that keeps what the other side
// deleted.
type sweepPhase struct {
	name string
	// policy, if not empty, is the pair block's rules in place of
	// sweepPolicy.
	policy string
	// prepare brings the accounts of a trial to where the interrupted
	// apply starts, running uninterrupted applies itself as needed.
	prepare func(t *testing.T, tr *sweepTrial)
	// check, if not nil, fails the test unless the accounts after the
	// uninterrupted apply (a snapshot) show what the phase is about, so
	// that the phase sweeps what it says it does.
	check func(t *testing.T, snap map[string][]string)
	// swapped makes the pair's side a account b and its side b account
	// a (sweepTrial.swapped).
	swapped bool
	// command, if not nil, is the command the trials kill, in place of
	// apply (its arguments after -c FILE); the uninterrupted run is that
	// command, then an apply, as the trials' reruns are.
	command []string
	// fewerInTrash lets a trial end with a subset of the uninterrupted
	// run's messages in the trash: a revert moves a copy it removes to
	// the trash under deletion = "trash", and one killed before it got
	// there leaves the copy paired instead.
	fewerInTrash bool
	// deletedMarks lets a trial end with a copy marked \Deleted that the
	// uninterrupted run does not mark: a revert killed between the UID
	// STORE and the UID EXPUNGE of a copy it removes leaves it so, and
	// the next apply pairs it, as it cannot tell that mark from its
	// user's (RELIABILITY.md, "A revert killed after it undid
	// something", Limit).
	deletedMarks bool
}

// args are the arguments of the command the phase's trials kill, for
// trial tr.
func (ph sweepPhase) args(tr *sweepTrial) []string {
	if ph.command == nil {
		return []string{"-c", tr.config, "apply"}
	}
	return append([]string{"-c", tr.config}, ph.command...)
}

// trial is a sweepTrial of the phase: its accounts a and b on srv,
// reached at addr.
func (ph sweepPhase) trial(t *testing.T, srv *imaptest.Server, a, b, addr string) *sweepTrial {
	tr := newSweepTrial(t, srv, a, b, addr)
	if ph.policy != "" || ph.swapped {
		if ph.policy != "" {
			tr.pairExtra = ph.policy
		}
		tr.swapped = ph.swapped
		tr.writeConfig(t, addr)
	}
	return tr
}

// sweepPolicy is the pair's folder rules in the sweep: Lists deletes to
// the trash, so the sweep kills trash moves too.
const sweepPolicy = "  folder \"Lists\" { deletion = \"trash\" }\n"

func sweepFirst(t *testing.T, tr *sweepTrial) {
	f := tr.fixture(t)
	f.put(tr.a, "INBOX", "i1", imap.FlagSeen)
	f.put(tr.a, "INBOX", "i2")
	f.put(tr.a, "INBOX", "i3", imap.FlagFlagged)
	f.put(tr.a, "INBOX", "i4", imap.FlagSeen)
	f.put(tr.a, "Work", "w1")
	f.put(tr.a, "Work", "w2", imap.FlagAnswered)
	f.put(tr.b, "INBOX", "i3", imap.FlagSeen) // the same message, other flags
	f.put(tr.b, "INBOX", "j1")
	f.put(tr.b, "INBOX", "j2", imap.FlagSeen)
	f.put(tr.b, "Lists", "l1")
	f.put(tr.b, "Lists", "l2")
	f.put(tr.b, "Lists", "l3", imap.FlagSeen)
}

func sweepLater(t *testing.T, tr *sweepTrial) {
	sweepFirst(t, tr)
	tr.apply(t)
	f := tr.fixture(t)
	f.put(tr.a, "INBOX", "i5")
	f.srv.AddFlags(t, tr.a, "INBOX", f.uidOf(tr.a, "INBOX", "i1"), imap.FlagFlagged)
	f.expunge(tr.a, "INBOX", "i2")
	f.srv.Move(t, tr.a, "INBOX", f.uidOf(tr.a, "INBOX", "i4"), "Work")
	// Two destinations from one folder: b's moves go as UID COPYs and
	// one UID EXPUNGE (imapstore's MoveMessages), swept too.
	f.srv.Move(t, tr.a, "INBOX", f.uidOf(tr.a, "INBOX", "i3"), "Lists")
	f.expunge(tr.b, "Work", "w1")
	f.put(tr.b, "Lists", "l4")
	f.srv.RemoveFlags(t, tr.b, "INBOX", f.uidOf(tr.b, "INBOX", "j2"), imap.FlagSeen)
	f.srv.Move(t, tr.b, "Lists", f.uidOf(tr.b, "Lists", "l1"), "INBOX")
	f.put(tr.b, "New", "n1", imap.FlagFlagged)
	f.expunge(tr.a, "Lists", "l2") // to b's trash
}

// sweepRenames is a later sync after both users reorganised their
// folders: a's user renamed Work with a RENAME (its UIDVALIDITY kept),
// made a folder under it and filed mail there, and b's user renamed
// Lists the way a server that gives a renamed folder a new UIDVALIDITY
// does (found by its messages) and filed new mail into it. The run
// renames both folders on the other side, makes the new one, and
// copies and moves into the renamed folders: a kill between a RENAME
// and the state commit must leave a rename the next run recognises as
// done on both sides, not a folder deleted or made twice.
func sweepRenames(t *testing.T, tr *sweepTrial) {
	sweepFirst(t, tr)
	tr.apply(t)
	f := tr.fixture(t)
	f.srv.Rename(t, tr.a, "Work", "Projects")
	done := "Projects" + string(f.srv.Delim) + "Done"
	f.srv.Create(t, tr.a, done)
	f.srv.Move(t, tr.a, "INBOX", f.uidOf(tr.a, "INBOX", "i1"), done)
	f.put(tr.a, "Projects", "p1")
	f.srv.RenameByCopy(t, tr.b, "Lists", "Mailing")
	f.put(tr.b, "Mailing", "l4", imap.FlagSeen)
	f.srv.Move(t, tr.b, "INBOX", f.uidOf(tr.b, "INBOX", "j1"), "Mailing")
}

// checkNoneTwice fails the test if a folder of snap holds a message
// twice: the trials are held to the uninterrupted run's accounts, so
// those must be right themselves.
func checkNoneTwice(t *testing.T, phase string, snap map[string][]string) {
	t.Helper()
	for key, lines := range snap {
		if strings.HasSuffix(key, " folders") {
			continue
		}
		seen := map[string]bool{}
		for _, l := range lines {
			id, _, _ := strings.Cut(l, " ")
			if seen[id] {
				t.Fatalf("%s: after the uninterrupted apply %s holds %s twice: %q", phase, key, id, lines)
			}
			seen[id] = true
		}
	}
}

// checkRenamed fails the test unless both accounts list Work and Lists
// under the names sweepRenames's users gave them, and not under the old.
func checkRenamed(t *testing.T, snap map[string][]string) {
	t.Helper()
	for old, renamed := range map[string]string{"Work": "Projects", "Lists": "Mailing"} {
		for _, side := range []string{"a", "b"} {
			if got := snap[side+" folders"]; slices.Contains(got, old) || !slices.Contains(got, renamed) {
				t.Fatalf("renames: after the uninterrupted apply %s lists %q, want %q renamed to %q", side, got, old, renamed)
			}
		}
	}
}

// sweepOneWayPolicy syncs a to b only, deletions propagated.
const sweepOneWayPolicy = "  defaults { direction = \"a-to-b\" }\n"

// sweepOneWay is a later sync of a pair that syncs a to b only: a's
// user's new mail, flag change, expunge and move reach b; b's user's own
// new mail, flag change and move stay on b. A kill after b's copy of a
// message is made and before the state records it must not leave b
// with two.
func sweepOneWay(t *testing.T, tr *sweepTrial) {
	sweepFirst(t, tr)
	tr.apply(t)
	f := tr.fixture(t)
	f.put(tr.a, "INBOX", "i5")
	f.put(tr.a, "Work", "w3", imap.FlagSeen)
	f.srv.AddFlags(t, tr.a, "INBOX", f.uidOf(tr.a, "INBOX", "i1"), imap.FlagFlagged)
	f.expunge(tr.a, "INBOX", "i2")
	f.srv.Move(t, tr.a, "INBOX", f.uidOf(tr.a, "INBOX", "i4"), "Work")
	f.put(tr.b, "INBOX", "j3")
	f.srv.RemoveFlags(t, tr.b, "INBOX", f.uidOf(tr.b, "INBOX", "j2"), imap.FlagSeen)
	f.srv.Move(t, tr.b, "Lists", f.uidOf(tr.b, "Lists", "l1"), "INBOX")
}

// checkOneWay fails the test unless a's user's changes reached b and
// b's user's did not reach a.
func checkOneWay(t *testing.T, snap map[string][]string) {
	t.Helper()
	has := func(key, line string) bool { return slices.Contains(snap[key], line) }
	switch {
	case !has("b INBOX", "i5 -") || !has("b Work", `w3 \Seen`) || !has("b Work", `i4 \Seen`) || !has("b INBOX", `i1 \Flagged,\Seen`):
		t.Fatalf("one-way: after the uninterrupted apply b does not show a's user's changes: INBOX %q, Work %q", snap["b INBOX"], snap["b Work"])
	case has("b INBOX", "i2 -"):
		t.Fatalf("one-way: after the uninterrupted apply b still holds i2, which a's user expunged: %q", snap["b INBOX"])
	case has("a INBOX", "j3 -") || has("a INBOX", "l1 -") || slices.Contains(snap["a folders"], "Lists"):
		t.Fatalf("one-way: after the uninterrupted apply a holds b's user's mail: %q, folders %q", snap["a INBOX"], snap["a folders"])
	}
}

// pairSides is the pair block's lines that name its accounts: a and b,
// or, swapped, b as the pair's side a and a as its side b.
func pairSides(swapped bool) string {
	if swapped {
		return "a = \"b\"\n  b = \"a\""
	}
	return "a = \"a\"\n  b = \"b\""
}

// sweepKeepPolicy keeps the counterpart of a message deleted on one
// side.
const sweepKeepPolicy = "  defaults { deletion = \"keep\" }\n"

// sweepKeep is a later sync of a pair whose deletions are kept: each
// user's expunges leave the other side's copy, whose record becomes
// one-sided, while new mail, a flag change and a move still flow both
// ways, and a message one user expunged and the other flagged comes
// back (a change beats a delete). A kill after some of that is done and
// before the state records it must not leave a rerun copying a kept
// message back to the side that deleted it.
func sweepKeep(t *testing.T, tr *sweepTrial) {
	sweepFirst(t, tr)
	tr.apply(t)
	f := tr.fixture(t)
	f.put(tr.a, "INBOX", "i5")
	f.put(tr.b, "Lists", "l4", imap.FlagSeen)
	f.expunge(tr.a, "INBOX", "i2")
	f.expunge(tr.a, "Work", "w1")
	f.expunge(tr.b, "Lists", "l3")
	f.expunge(tr.a, "INBOX", "j1")
	f.srv.AddFlags(t, tr.b, "INBOX", f.uidOf(tr.b, "INBOX", "j1"), imap.FlagFlagged)
	f.srv.AddFlags(t, tr.b, "INBOX", f.uidOf(tr.b, "INBOX", "i1"), imap.FlagFlagged)
	f.srv.Move(t, tr.a, "INBOX", f.uidOf(tr.a, "INBOX", "i4"), "Work")
}

// checkKept fails the test unless each side kept its copies of what the
// other side's user expunged, the flagged message came back, and the
// rest flowed both ways.
func checkKept(t *testing.T, snap map[string][]string) {
	t.Helper()
	has := func(key, line string) bool { return slices.Contains(snap[key], line) }
	switch {
	case !has("b INBOX", "i2 -") || !has("b Work", "w1 -") || has("a INBOX", "i2 -") || has("a Work", "w1 -"):
		t.Fatalf("keep: after the uninterrupted apply b does not keep i2 and w1, or a has them back: a INBOX %q, Work %q; b INBOX %q, Work %q", snap["a INBOX"], snap["a Work"], snap["b INBOX"], snap["b Work"])
	case !has("a Lists", `l3 \Seen`) || has("b Lists", `l3 \Seen`):
		t.Fatalf("keep: after the uninterrupted apply a does not keep l3, or b has it back: a %q, b %q", snap["a Lists"], snap["b Lists"])
	case !has("a INBOX", `j1 \Flagged`) || !has("b INBOX", `j1 \Flagged`):
		t.Fatalf("keep: after the uninterrupted apply j1, expunged on a and flagged on b, is not back on a: a %q, b %q", snap["a INBOX"], snap["b INBOX"])
	case !has("b INBOX", "i5 -") || !has("a Lists", `l4 \Seen`) || !has("a INBOX", `i1 \Flagged,\Seen`) || !has("b Work", `i4 \Seen`) || has("b INBOX", `i4 \Seen`):
		t.Fatalf("keep: after the uninterrupted apply new mail, a flag change or a move did not flow: a INBOX %q, Lists %q; b INBOX %q, Work %q", snap["a INBOX"], snap["a Lists"], snap["b INBOX"], snap["b Work"])
	}
}

var sweepPhases = []sweepPhase{
	{name: "first", prepare: sweepFirst},
	{name: "later", prepare: sweepLater},
	{name: "renames", prepare: sweepRenames, check: checkRenamed},
	{name: "one-way", policy: sweepOneWayPolicy, prepare: sweepOneWay, check: checkOneWay},
	// The one-way phase with the pair's sides swapped: the same mail
	// flows the same way, planned and carried out as b-to-a.
	{name: "b-to-a", policy: "  defaults { direction = \"b-to-a\" }\n", swapped: true, prepare: sweepOneWay, check: checkOneWay},
	{name: "keep", policy: sweepKeepPolicy, prepare: sweepKeep, check: checkKept},
	// The revert of the later phase's sync, killed: it undoes copies,
	// flag changes and moves on both sides, a trash move, a folder the
	// run made; and of the renames phase's: RENAMEs back. It commits the
	// state before that sync first (reconcile.RevertCheckpoint), so the
	// apply after it does what that sync did once more, as after a
	// revert that finished.
	{name: "revert", prepare: sweepReverted(sweepLater), command: []string{"revert", "--force", "HEAD"}, fewerInTrash: true, deletedMarks: true},
	{name: "revert-renames", prepare: sweepReverted(sweepRenames), command: []string{"revert", "--force", "HEAD"}, fewerInTrash: true, deletedMarks: true},
}

// sweepReverted is prepare, then the sync whose revert the phase kills.
func sweepReverted(prepare func(t *testing.T, tr *sweepTrial)) func(t *testing.T, tr *sweepTrial) {
	return func(t *testing.T, tr *sweepTrial) {
		prepare(t, tr)
		tr.apply(t)
	}
}

// sweepTrial is one pair of accounts on the backend's server, with its
// config and state repository.
type sweepTrial struct {
	srv    *imaptest.Server
	a, b   string
	dir    string
	config string
	state  string
	// pairExtra is added to the pair block of the config.
	pairExtra string
	// bAddr, if set, is where writeConfig points account b (the server,
	// say, where a goes through a proxy).
	bAddr string
	// swapped makes account b the pair's side a and account a its side
	// b: with direction "b-to-a", account a's mail flows to b as with
	// "a-to-b" unswapped, and the run plans and acts with its sides the
	// other way round.
	swapped bool
}

func newSweepTrial(t *testing.T, srv *imaptest.Server, a, b, addr string) *sweepTrial {
	dir := t.TempDir()
	tr := &sweepTrial{srv: srv, a: a, b: b, dir: dir, config: filepath.Join(dir, "mailtwin.hcl"), state: filepath.Join(dir, "state"), pairExtra: sweepPolicy}
	tr.writeConfig(t, addr)
	return tr
}

// writeConfig points both accounts at addr (the server or a proxy),
// or b at bAddr where that is set.
func (tr *sweepTrial) writeConfig(t *testing.T, addr string) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	bHost, bPort := host, port
	if tr.bAddr != "" {
		bHost, bPort, _ = strings.Cut(tr.bAddr, ":")
	}
	cfg := fmt.Sprintf(`state { path = %q }
account "a" {
  host = %[2]q
  port = %[3]s
  tls = "none"
  username = %[4]q
  password = %[6]q
}
account "b" {
  host = %[8]q
  port = %[9]s
  tls = "none"
  username = %[5]q
  password = %[6]q
}
pair "p" {
  %[10]s
%[7]s}
`, tr.state, host, port, tr.a, tr.b, imaptest.Password, tr.pairExtra, bHost, bPort, pairSides(tr.swapped))
	if err := os.WriteFile(tr.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (tr *sweepTrial) fixture(t *testing.T) *syncFixture { return &syncFixture{t: t, srv: tr.srv} }

// mailtwin runs the CLI in-process and returns its exit code and output.
func (tr *sweepTrial) mailtwin(args ...string) (int, string) {
	var out bytes.Buffer
	code := run(context.Background(), append([]string{"-c", tr.config}, args...), strings.NewReader(""), &out, &out)
	return code, out.String()
}

func (tr *sweepTrial) apply(t *testing.T) {
	t.Helper()
	if code, out := tr.mailtwin("apply"); code != 0 {
		t.Fatalf("uninterrupted apply exited %d:\n%s", code, out)
	}
}

// snapshot is both accounts' folders, and each folder's messages as
// sorted "id flags" lines.
func (tr *sweepTrial) snapshot(t *testing.T) map[string][]string {
	f := tr.fixture(t)
	out := map[string][]string{}
	for side, user := range map[string]string{"a": tr.a, "b": tr.b} {
		boxes := tr.srv.Mailboxes(t, user)
		out[side+" folders"] = boxes
		for _, mb := range boxes {
			out[side+" "+mb] = f.contents(user, mb)
		}
	}
	return out
}

// killPoint is where a trial kills the apply: at command seq of the
// phase's apply, before it is forwarded (Received) or after the server
// answered it and before mailtwin sees the answer (Answered); or, when
// seq is 0, after the delay.
type killPoint struct {
	seq   int
	stage imaptest.Stage
	delay time.Duration
}

func (k killPoint) String() string {
	if k.seq == 0 {
		return fmt.Sprintf("after %v", k.delay.Round(time.Millisecond))
	}
	if k.stage == imaptest.Received {
		return fmt.Sprintf("command %d sent", k.seq)
	}
	return fmt.Sprintf("command %d answered", k.seq)
}

// sweepPoints chooses the kill points of a phase whose uninterrupted
// apply sends n commands and takes d: with all, every command at both
// stages; otherwise one random command in each twelfth of the run (so
// the sample spreads over connecting, listing, copying, moving, flag
// stores and deletions). Both add three kills at random moments.
func sweepPoints(rng *rand.Rand, n int, d time.Duration, all bool) []killPoint {
	var pts []killPoint
	if all {
		for seq := 1; seq <= n; seq++ {
			pts = append(pts, killPoint{seq: seq, stage: imaptest.Received}, killPoint{seq: seq, stage: imaptest.Answered})
		}
	} else {
		const strata = 12
		for i := range strata {
			lo, hi := 1+i*n/strata, (i+1)*n/strata
			if hi < lo {
				continue
			}
			stage := imaptest.Received
			if rng.IntN(2) == 1 {
				stage = imaptest.Answered
			}
			pts = append(pts, killPoint{seq: lo + rng.IntN(hi-lo+1), stage: stage})
		}
	}
	for range 3 {
		pts = append(pts, killPoint{delay: time.Duration(rng.Int64N(int64(d) + 1))})
	}
	return pts
}

// TestKillSweep kills `mailtwin apply`, a subprocess, with SIGKILL at
// chosen points of its IMAP conversation and at random moments, for a
// first sync, for a later sync with new mail, flag changes, deletions
// and moves on both sides, for one after both users renamed folders,
// for a later sync of a pair that syncs one way (a-to-b, and the same
// pair with its sides swapped, b-to-a), for one of a pair whose
// deletions are kept, and, killing `mailtwin revert` instead, for the
// revert of the later sync and of the renames one (sweepPhases),
// against imapmemserver and Dovecot. After each kill it runs apply again until it succeeds, and
// checks that
//
//   - no rerun needs a human: each exits 0 or 1, never a guard or a lock
//     error, and the second one at the latest succeeds;
//   - the accounts then equal those of an uninterrupted run: the same
//     folders, messages and flags, no duplicates, nothing lost;
//   - a further plan has nothing to do, the run lock is gone, and the
//     state history reads back.
//
// The commits of the state repository are swept separately and more
// finely, at each of their file writes (gitstate's
// TestCrashAtEveryWrite). -killsweep.all kills at every command, both
// stages; -killsweep.seed replays a sample.
func TestKillSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("the kill sweep is not short")
	}
	seed := *sweepSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("kill sweep seed %d (replay with -killsweep.seed=%d)", seed, seed)
	mailtwinBin, err := exec.LookPath("mailtwin")
	if err != nil {
		t.Fatalf("the mailtwin command testscript installs is not on PATH: %v", err)
	}
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		rng := rand.New(rand.NewPCG(seed, 0))
		// Reference runs, uninterrupted, through a recorder: what the
		// accounts must end up as, and how many commands each phase's
		// apply sends.
		var refUsers []string
		for _, ph := range sweepPhases {
			refUsers = append(refUsers, "ref-"+ph.name+"-a", "ref-"+ph.name+"-b")
		}
		refSrv := start(t, refUsers...)
		type reference struct {
			want     map[string][]string
			commands int
			took     time.Duration
		}
		refs := map[string]reference{}
		for _, ph := range sweepPhases {
			tr := ph.trial(t, refSrv, "ref-"+ph.name+"-a", "ref-"+ph.name+"-b", refSrv.Addr)
			ph.prepare(t, tr)
			rec := imaptest.Record(t, refSrv)
			tr.writeConfig(t, rec.Addr)
			began := time.Now()
			if code, out := runMailtwinArgs(t, mailtwinBin, nil, ph.args(tr)...); code != 0 {
				t.Fatalf("%s: uninterrupted %s exited %d:\n%s", ph.name, ph.args(tr)[2], code, out)
			}
			commands, took := len(rec.Commands()), time.Since(began)
			if ph.command != nil {
				tr.apply(t)
			}
			refs[ph.name] = reference{want: tr.snapshot(t), commands: commands, took: took}
			checkNoneTwice(t, ph.name, refs[ph.name].want)
			if ph.check != nil {
				ph.check(t, refs[ph.name].want)
			}
		}

		type trialSpec struct {
			phase sweepPhase
			point killPoint
		}
		var specs []trialSpec
		for _, ph := range sweepPhases {
			for _, p := range sweepPoints(rng, refs[ph.name].commands, refs[ph.name].took, *sweepAll) {
				specs = append(specs, trialSpec{ph, p})
			}
		}
		var users []string
		for i := range specs {
			users = append(users, fmt.Sprintf("t%03da", i), fmt.Sprintf("t%03db", i))
		}
		srv := start(t, users...)

		var mu sync.Mutex
		hits := map[string]int{} // what the kills hit: a command verb and stage, or "timed"
		killed, finished := 0, 0
		t.Cleanup(func() {
			var keys []string
			for k, n := range hits {
				keys = append(keys, fmt.Sprintf("%s %d", k, n))
			}
			slices.Sort(keys)
			t.Logf("%d trials: %d killed (%s), %d finished before their kill", len(specs), killed, strings.Join(keys, ", "), finished)
		})
		t.Run("trials", func(t *testing.T) {
			for i, sp := range specs {
				t.Run(fmt.Sprintf("%s/%03d %s", sp.phase.name, i, sp.point), func(t *testing.T) {
					t.Parallel()
					tr := sp.phase.trial(t, srv, users[2*i], users[2*i+1], srv.Addr)
					sp.phase.prepare(t, tr)
					rec := imaptest.Record(t, srv)
					tr.writeConfig(t, rec.Addr)
					hit, wasKilled := killApply(t, mailtwinBin, tr, rec, sp.point, sp.phase.args(tr)...)
					mu.Lock()
					if wasKilled {
						killed++
						hits[hit]++
					} else {
						finished++
					}
					mu.Unlock()
					tr.writeConfig(t, srv.Addr)
					checkAfterKill(t, tr, refs[sp.phase.name].want, sp.phase)
				})
			}
		})
	})
}

// runMailtwinArgs runs mailtwin with args as a subprocess; started, if
// not nil, receives the process once it runs.
func runMailtwinArgs(t *testing.T, bin string, started chan<- *os.Process, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if started != nil {
		started <- cmd.Process
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// killApply runs the trial's apply through rec and kills it at p. It
// reports what the kill hit and whether the process died of it (a
// timed kill may come after the run finished, and a run may end before
// the command of its kill point: see below).
func killApply(t *testing.T, bin string, tr *sweepTrial, rec *imaptest.Recorder, p killPoint, args ...string) (hit string, killed bool) {
	t.Helper()
	started := make(chan *os.Process, 1)
	proc := make(chan *os.Process, 1)
	var fired atomic.Bool
	var what atomic.Value
	what.Store("timed")
	kill := func() {
		pr := <-proc
		proc <- pr
		pr.Signal(syscall.SIGKILL)
	}
	if p.seq > 0 {
		rec.Intercept(func(ev imaptest.Event) imaptest.Action {
			if ev.Seq != p.seq || ev.Stage != p.stage || !fired.CompareAndSwap(false, true) {
				return imaptest.Action{}
			}
			what.Store(fmt.Sprintf("%s %s", ev.Verb, map[imaptest.Stage]string{imaptest.Received: "sent", imaptest.Answered: "answered"}[ev.Stage]))
			kill()
			// The socket of a killed process is closed by the kernel:
			// the server sees the connection end, and nothing more.
			return imaptest.Action{Do: imaptest.Cut}
		})
	}
	done := make(chan struct{})
	go func() {
		pr := <-started
		proc <- pr
		if p.seq == 0 {
			timer := time.AfterFunc(p.delay, func() { fired.Store(true); kill() })
			<-done
			timer.Stop()
		}
	}()
	code, out := runMailtwinArgs(t, bin, started, args...)
	close(done)
	rec.Intercept(nil)
	if code == -1 { // died of a signal
		return what.Load().(string), true
	}
	// A run works on several folders at once, over as many connections
	// as it found work for in time: how many commands it sends varies
	// a little from run to run. One that ended before the command of
	// its kill point finished before its kill.
	if sent := len(rec.Commands()); p.seq > 0 && (sent >= p.seq || code != 0) {
		t.Fatalf("the apply was to be killed at %s but exited %d (it sent %d commands):\n%s", p, code, sent, out)
	}
	if code != 0 {
		t.Fatalf("apply exited %d before its timed kill:\n%s", code, out)
	}
	return "", false
}

// withoutDeleted is a snapshot line ("id flags") without \Deleted.
func withoutDeleted(line string) string {
	id, flags, ok := strings.Cut(line, " ")
	if !ok || !strings.Contains(flags, `\Deleted`) {
		return line
	}
	var kept []string
	for _, f := range strings.Split(flags, ",") {
		if f != `\Deleted` {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 {
		return id + " -"
	}
	return id + " " + strings.Join(kept, ",")
}

// checkAfterKill reruns apply until it succeeds and checks the outcome
// against want, the accounts after an uninterrupted run.
func checkAfterKill(t *testing.T, tr *sweepTrial, want map[string][]string, ph sweepPhase) {
	t.Helper()
	var log []string
	ok := false
	for attempt := 1; attempt <= 2 && !ok; attempt++ {
		code, out := tr.mailtwin("apply")
		log = append(log, fmt.Sprintf("rerun %d exited %d:\n%s", attempt, code, out))
		switch code {
		case 0:
			ok = true
		case 1:
		default:
			t.Fatalf("a rerun after the kill needs a human (exit %d):\n%s", code, strings.Join(log, "\n"))
		}
	}
	if !ok {
		t.Fatalf("two reruns after the kill did not finish:\n%s", strings.Join(log, "\n"))
	}
	got := tr.snapshot(t)
	if ph.deletedMarks {
		for k, lines := range got {
			stripped := make([]string, len(lines))
			for i, l := range lines {
				stripped[i] = withoutDeleted(l)
			}
			slices.Sort(stripped)
			got[k] = stripped
		}
	}
	for _, k := range slices.Sorted(mapKeys(want, got)) {
		if ph.fewerInTrash && strings.HasSuffix(k, " Trash") {
			for _, l := range got[k] {
				if !slices.Contains(want[k], l) {
					t.Errorf("%s: %q, want a subset of %q (as after an uninterrupted run)", k, got[k], want[k])
					break
				}
			}
			continue
		}
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("%s: %q, want %q (as after an uninterrupted run)", k, got[k], want[k])
		}
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-c", tr.config, "plan", "--json"}, strings.NewReader(""), &stdout, &stderr)
	out := stdout.String() + stderr.String()
	var rep struct {
		Pairs []struct {
			Actions []json.RawMessage `json:"actions"`
		} `json:"pairs"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); code != 0 || err != nil || len(rep.Pairs) != 1 || len(rep.Pairs[0].Actions) != 0 {
		t.Errorf("plan after the reruns: exit %d, %v, want nothing to do:\n%s", code, err, out)
	}
	repo, err := gitstate.Open(context.Background(), tr.state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(repo.LockPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the run lock is still there after the reruns: %v", err)
	}
	if code, out := tr.mailtwin("log"); code != 0 {
		t.Errorf("log after the reruns exited %d:\n%s", code, out)
	}
	if t.Failed() {
		t.Logf("%s", strings.Join(log, "\n"))
	}
}

func mapKeys(ms ...map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range ms {
			for k := range m {
				if !seen[k] {
					seen[k] = true
					if !yield(k) {
						return
					}
				}
			}
		}
	}
}
