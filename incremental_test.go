package main

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// settledSweepPair is the kill sweep's first scenario on Dovecot, plus
// empty folders, after its first sync, which copied into folders and
// created others; the returned recorder sees the next run.
func settledSweepPair(t *testing.T) (*sweepTrial, *imaptest.Recorder) {
	srv := imaptest.StartDovecot(t, userA, userB)
	tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
	sweepFirst(t, tr)
	srv.Create(t, userA, "Projects/Empty") // made on b, with nothing copied into it
	tr.apply(t)
	rec := imaptest.Record(t, srv)
	tr.writeConfig(t, rec.Addr)
	return tr, rec
}

// TestNoopResyncSelectsNothing: with nothing changed since the last run,
// a run sends each account LOGIN, then at most three commands (the
// session check, one LIST with STATUS for every folder, LOGOUT), and
// opens no folder (issue #5's b2). That holds right after a first sync
// that copied into folders and created empty ones: the run moved each
// folder's scan point past its own changes, and gave the folders it
// created one.
func TestNoopResyncSelectsNothing(t *testing.T) {
	t.Parallel()
	tr, rec := settledSweepPair(t)
	tr.apply(t)
	cmds := rec.Commands()
	logins := 0
	for _, c := range cmds {
		if strings.HasPrefix(c, "LOGIN") {
			logins++
		}
	}
	if logins != 2 || len(cmds)-logins > 2*3 {
		t.Errorf("no-op run sent %d commands after %d LOGINs, want at most 3 per account:\n%s", len(cmds)-logins, logins, strings.Join(cmds, "\n"))
	}
	for _, verb := range []string{"SELECT", "EXAMINE", "UID FETCH", "FETCH", "UID SEARCH"} {
		if n := rec.Count(verb); n != 0 {
			t.Errorf("no-op run sent %d %s:\n%s", n, verb, strings.Join(cmds, "\n"))
		}
	}
}

// TestIncrementalResyncReadsOnlyChanges: after one flag change on a and
// one new message on b, a run opens only the folders that changed, reads
// the changed flag with FETCH CHANGEDSINCE and the new message's header
// from its UID on: no folder's headers are read from 1:*. The result is
// the same as ever: the flag and the message on both sides.
func TestIncrementalResyncReadsOnlyChanges(t *testing.T) {
	t.Parallel()
	tr, rec := settledSweepPair(t)
	f := tr.fixture(t)
	f.srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", "i2"), imap.FlagAnswered)
	f.put(userB, "Lists", "l9")
	tr.apply(t)
	cmds := rec.Commands()
	for _, c := range cmds {
		if strings.HasPrefix(c, "UID FETCH 1:* ") && strings.Contains(c, "BODY") {
			t.Errorf("incremental run listed a folder whole: %q\n%s", c, strings.Join(cmds, "\n"))
		}
		if (strings.HasPrefix(c, "EXAMINE") || strings.HasPrefix(c, "SELECT")) && strings.Contains(c, "Work") {
			t.Errorf("incremental run opened the unchanged Work: %q", c)
		}
	}
	changed := 0
	for _, c := range cmds {
		if strings.Contains(c, "CHANGEDSINCE") {
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("no FETCH CHANGEDSINCE for the flag change:\n%s", strings.Join(cmds, "\n"))
	}
	f.want(userB, "INBOX", "i1 \\Seen", "i2 \\Answered", "i3 \\Flagged,\\Seen", "i4 \\Seen", "j1 -", "j2 \\Seen")
	f.want(userA, "Lists", "l1 -", "l2 -", "l3 \\Seen", "l9 -")
}

// countingStates counts the Saves a run makes.
type countingStates struct {
	reconcile.StateRepo
	saved []reconcile.State
}

func (c *countingStates) Save(ctx context.Context, pair string, st reconcile.State) error {
	c.saved = append(c.saved, st)
	return c.StateRepo.Save(ctx, pair, st)
}

// plainStore hides every interface of a Mailstore beyond
// reconcile.Mailstore, such as IncrementalScanner: a run scans it whole.
type plainStore struct{ reconcile.Mailstore }

// TestNoopRunSavesNothing: a run that finds every folder as its scan
// point left it, on both sides, and nothing to do, stages nothing (at
// 100,000 messages encoding the state again was a third of a no-op
// run), nor copies the state's messages into the listings to plan.
// Skipping Next there is sound only if Next would have given the base
// back: a run that scans everything whole, and so takes the full
// path, saves exactly the base. A run after a change still saves.
func TestNoopRunSavesNothing(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	ctx := context.Background()
	f.put(userA, "INBOX", "i1", imap.FlagSeen)
	f.put(userA, "INBOX", "i2")
	f.srv.Create(t, userA, "Work")
	f.put(userA, "Work", "w1", imap.FlagFlagged)
	f.put(userB, "INBOX", "j1")
	f.sync()
	f.srv.AddFlags(t, userB, "INBOX", f.uidOf(userB, "INBOX", "i2"), imap.FlagAnswered)
	f.sync()
	base, err := stateRepo{f.repo}.Load(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	run := func(a, b reconcile.Mailstore) (*reconcile.Result, *countingStates) {
		t.Helper()
		cs := &countingStates{StateRepo: stateRepo{f.repo}}
		res, err := reconcile.Run(ctx, reconcile.RunOptions{Pair: "p", Policy: f.policy}, a, b, cs)
		if err != nil {
			t.Fatalf("Run: %v\nplan:\n%v", err, res.Plan)
		}
		return res, cs
	}
	res, cs := run(f.dial(userA, false), f.dial(userB, false))
	if len(res.Plan.Actions) != 0 || len(cs.saved) != 0 {
		t.Fatalf("no-op run: %d actions, %d saves; want none", len(res.Plan.Actions), len(cs.saved))
	}
	if !reflect.DeepEqual(res.State, base) {
		t.Errorf("no-op run's state is not the base")
	}
	// Nor did it copy the state's messages into the listings to plan
	// (buildSettled): at 100,000 messages, a fifth of such a run.
	for s := range 2 {
		for _, lf := range res.Plan.Listed(reconcile.Side(s)).Folders {
			if lf.Messages != nil {
				t.Errorf("no-op run: %q on %s listed with %d messages copied from the state; want none copied", lf.Mailbox, reconcile.Side(s), len(lf.Messages))
			}
		}
	}
	_, cs = run(plainStore{f.dial(userA, false)}, plainStore{f.dial(userB, false)})
	if len(cs.saved) != 1 {
		t.Fatalf("full-scan run saved %d times, want 1", len(cs.saved))
	}
	want, got := reconcile.EncodeState(base), reconcile.EncodeState(cs.saved[0])
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the full path's next state differs from the base the no-op run kept:\n got %q\nwant %q", got, want)
	}
	f.srv.AddFlags(t, userA, "Work", f.uidOf(userA, "Work", "w1"), imap.FlagSeen)
	if _, cs = run(f.dial(userA, false), f.dial(userB, false)); len(cs.saved) != 1 {
		t.Errorf("run after a flag change saved %d times, want 1", len(cs.saved))
	}
}

// TestMovesOpenNoCopyConnection: a run whose only news is messages moved
// between folders on a opens no connection for copies on b (that would
// be a MULTIAPPEND connection that only logs in, and out), though a's
// Work grew as if mail had come: the moved messages' identities are in
// the state. New mail still goes through one.
func TestMovesOpenNoCopyConnection(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{4, 4}
	f.far = [2]bool{true, true}
	f.srv.Create(t, userA, "Work")
	for _, id := range []string{"m1", "m2", "m3", "m4"} {
		f.put(userA, "INBOX", id)
	}
	f.put(userA, "Work", "w1")
	f.sync()
	for _, id := range []string{"m1", "m2", "m3"} {
		f.srv.Move(t, userA, "INBOX", f.uidOf(userA, "INBOX", id), "Work")
	}
	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	res := f.sync()
	moves := 0
	for _, a := range res.Plan.Actions {
		if a.Op == reconcile.Move {
			moves++
		}
	}
	idle := func() int {
		n := 0
		for _, s := range rec.Sessions() {
			if !slices.ContainsFunc(s, func(v string) bool { return v != "LOGIN" && v != "LOGOUT" }) {
				n++
			}
		}
		return n
	}
	if moves != 3 || rec.Count("APPEND") != 0 || idle() != 0 {
		t.Errorf("moves run: %d moves, %d APPENDs, %d connections that only logged in and out; want 3, 0, 0\n%v\n%s",
			moves, rec.Count("APPEND"), idle(), rec.Sessions(), res.Plan)
	}
	f.want(userB, "Work", "m1 -", "m2 -", "m3 -", "w1 -")

	rec.Reset()
	for _, id := range []string{"n1", "n2", "n3"} {
		f.put(userA, "Work", id)
	}
	f.sync()
	multi := 0
	for _, s := range rec.Sessions() {
		if len(s) >= 2 && s[0] == "LOGIN" && s[1] == "APPEND" {
			multi++
		}
	}
	if multi != 1 || idle() != 0 {
		t.Errorf("new mail: %d MULTIAPPEND connections, %d idle ones; want 1 and 0\n%v", multi, idle(), rec.Sessions())
	}
	f.want(userB, "Work", "m1 -", "m2 -", "m3 -", "n1 -", "n2 -", "n3 -", "w1 -")
}

// sixFoldersOnA returns a fixture on Dovecot with connections, whose a
// has folders F1 to F6 with one message each (F1-old, ...), not synced
// yet, and the folders' names.
func sixFoldersOnA(t *testing.T, connections [2]int) (*syncFixture, []string) {
	t.Helper()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = connections
	folders := []string{"F1", "F2", "F3", "F4", "F5", "F6"}
	for _, mb := range folders {
		f.srv.Create(t, userA, mb)
		f.put(userA, mb, mb+"-old")
	}
	return f, folders
}

// TestSmallNewMailTravelsWithTheScan: the few small new messages an
// incremental run finds are read on the connection that scanned their
// folder, right after the scan; their copies need no connection to a of
// their own. With six folders of new mail and two connections a side,
// without it at least four folders would be examined on a a second
// time, for their copies' FETCH.
func TestSmallNewMailTravelsWithTheScan(t *testing.T) {
	t.Parallel()
	f, folders := sixFoldersOnA(t, [2]int{2, 2})
	f.far = [2]bool{true, true}
	f.sync()
	for _, mb := range folders {
		for _, n := range []string{"n1", "n2", "n3"} {
			f.put(userA, mb, mb+"-"+n)
		}
	}
	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	f.sync()
	examined := examinedCounts(rec)
	for _, mb := range folders {
		// Once on a for its scan, once on b for the scan point's check.
		if examined[mb] != 2 {
			t.Errorf("%s opened %d times, want 2 (a's scan, b's check)\n%v", mb, examined[mb], rec.SessionCommands())
		}
	}
	if got := len(rec.BodyFetches()); got != len(folders) {
		t.Errorf("%d body FETCHes, want %d (one per folder, with its scan)\n%v", got, len(folders), rec.BodyFetches())
	}
	// The bodies held go in one MULTIAPPEND per folder, even on a
	// connection that has stored nothing yet (no 1, then 2).
	if got := rec.Count("APPEND"); got != len(folders) {
		t.Errorf("%d APPENDs, want %d (one per folder)\n%v", got, len(folders), rec.SessionCommands())
	}
	for _, mb := range folders {
		f.want(userB, mb, mb+"-n1 -", mb+"-n2 -", mb+"-n3 -", mb+"-old -")
	}
	f.settled()
}

// TestNewMailReadWithTheNextScan: on a connection that scans folder
// after folder, the new mail a scan found is read in the round trip of
// the next folder's scan: its body FETCH goes out with the next
// EXAMINE. The recorder holds the answer to the first body FETCH until
// another EXAMINE comes on that connection; a read that waited for its
// answer before the next scan would never let it come, and the gate
// gives up. The bodies still go in one FETCH and one APPEND per folder.
func TestNewMailReadWithTheNextScan(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{1, 1}
	folders := []string{"F1", "F2", "F3"}
	for _, mb := range folders {
		f.srv.Create(t, userA, mb)
		f.put(userA, mb, mb+"-old")
	}
	f.sync()
	for _, mb := range folders {
		f.put(userA, mb, mb+"-n1")
		f.put(userA, mb, mb+"-n2")
	}
	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	var mu sync.Mutex
	fetchConn, fetchSeq := -1, 0
	next := imaptest.NewGate() // a scan's SELECT came behind the first body FETCH
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		mu.Lock()
		switch {
		case e.Stage == imaptest.Received && e.Verb == "UID FETCH" && imaptest.FetchesBody(e.Line) && fetchConn < 0:
			fetchConn, fetchSeq = e.Conn, e.Seq
		case e.Stage == imaptest.Received && e.Verb == "SELECT" && e.Conn == fetchConn:
			next.Open()
		}
		first := e.Stage == imaptest.Answered && e.Conn == fetchConn && e.Seq == fetchSeq
		mu.Unlock()
		if first {
			next.Wait(10 * time.Second)
		}
		return imaptest.Action{}
	})
	f.sync()
	rec.Intercept(nil)
	if next.Held() {
		t.Errorf("no scan went out behind the first read of new mail\n%v", rec.SessionCommands())
	}
	if got := len(rec.BodyFetches()); got != len(folders) {
		t.Errorf("%d body FETCHes, want %d (one per folder)\n%v", got, len(folders), rec.BodyFetches())
	}
	if got := rec.Count("APPEND"); got != len(folders) {
		t.Errorf("%d APPENDs, want %d (one per folder)\n%v", got, len(folders), rec.SessionCommands())
	}
	// No copy examines a folder of a again for its bodies. (That the
	// last folder's read, with no scan left to go with, still goes on
	// the scan's connection is TestSmallNewMailTravelsWithTheScan's:
	// on one connection here, a copy would find its folder selected.)
	examined := examinedCounts(rec)
	for _, mb := range folders {
		if examined[mb] != 2 {
			t.Errorf("%s opened %d times, want 2 (a's scan, b's check)\n%v", mb, examined[mb], rec.SessionCommands())
		}
	}
	for _, mb := range folders {
		f.want(userB, mb, mb+"-n1 -", mb+"-n2 -", mb+"-old -")
	}
	f.settled()
}

// TestChangesOnBRunWithCopiesIntoB: copies from a into b do not hold up
// b's flag changes and expunges: no copy reads from b, so they run at
// the same time, each folder on its own connection. The recorder holds
// the APPEND into b's "New" until b's UID EXPUNGE in "Old" arrives; were
// the expunge to wait for every copy, it never would, and the test fails
// when the APPEND is let go after 30 seconds.
func TestChangesOnBRunWithCopiesIntoB(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{2, 2}
	f.far = [2]bool{true, true}
	f.srv.Create(t, userA, "New")
	f.srv.Create(t, userA, "Old")
	f.put(userA, "New", "n0")
	f.put(userA, "Old", "o1")
	f.put(userA, "Old", "o2")
	f.sync()
	f.put(userA, "New", "n1")
	f.srv.Expunge(t, userA, "Old", f.uidOf(userA, "Old", "o1"))

	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	expunged := make(chan struct{})
	var once sync.Once
	heldAppend := false
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage != imaptest.Received {
			return imaptest.Action{}
		}
		switch {
		case e.Verb == "UID EXPUNGE":
			once.Do(func() { close(expunged) })
		case e.Verb == "APPEND" && strings.HasPrefix(e.Line, `APPEND "New" `):
			select {
			case <-expunged:
			case <-time.After(30 * time.Second):
				heldAppend = true
			}
		}
		return imaptest.Action{}
	})
	f.sync()
	if heldAppend {
		t.Errorf("b's UID EXPUNGE waited for the APPEND of a copy into b\n%v", rec.SessionCommands())
	}
	f.want(userB, "New", "n0 -", "n1 -")
	f.want(userB, "Old", "o2 -")
	f.settled()
}

// TestCopiesRunWithTheNextFolderChanges: with two connections to b, a
// folder's copies into b run while the next folder's flag changes and
// expunges on b do, each on its own connection and mailbox: the first
// APPEND is held until b's second UID EXPUNGE arrives, which it does
// only if the copies do not hold up the next folder (nor the changes
// of their own folder: those go first). b is taken for far away: to a
// near server an incremental run keeps one connection, and on one
// connection the lanes take turns in no set order (CI saw the copy
// into One go first once, and wait 30 s for Two's EXPUNGE).
func TestCopiesRunWithTheNextFolderChanges(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{1, 2}
	f.far = [2]bool{false, true}
	for _, mb := range []string{"One", "Two"} {
		f.srv.Create(t, userA, mb)
		f.put(userA, mb, mb+"-1")
		f.put(userA, mb, mb+"-2")
	}
	f.sync()
	for _, mb := range []string{"One", "Two"} {
		f.put(userA, mb, mb+"-new")
		f.srv.Expunge(t, userA, mb, f.uidOf(userA, mb, mb+"-1"))
	}

	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	var expunges atomic.Int32
	both := imaptest.NewGate() // b's two UID EXPUNGEs have come
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage != imaptest.Received {
			return imaptest.Action{}
		}
		switch e.Verb {
		case "UID EXPUNGE":
			if expunges.Add(1) == 2 {
				both.Open()
			}
		case "APPEND":
			both.Wait(30 * time.Second)
		}
		return imaptest.Action{}
	})
	f.sync()
	if both.Held() {
		t.Errorf("b's second folder waited for the copies into the first\n%v", rec.SessionCommands())
	}
	for _, mb := range []string{"One", "Two"} {
		f.want(userB, mb, mb+"-2 -", mb+"-new -")
	}
	f.settled()
}

// syncedThenChanged makes boxes on a, each with messages <box>-1 and
// <box>-2, syncs, then changes them on a as b3 does: <box>-1 expunged
// and, for each of fresh, a new message <box><fresh>.
func (f *syncFixture) syncedThenChanged(boxes []string, fresh ...string) {
	f.t.Helper()
	for _, mb := range boxes {
		f.srv.Create(f.t, userA, mb)
		f.put(userA, mb, mb+"-1")
		f.put(userA, mb, mb+"-2")
	}
	f.sync()
	for _, mb := range boxes {
		for _, id := range fresh {
			f.put(userA, mb, mb+id)
		}
		f.srv.Expunge(f.t, userA, mb, f.uidOf(userA, mb, mb+"-1"))
	}
}

// nextRunSelectsNothing syncs again through rec and asserts that the run
// opened no folder: every scan point moved past the last run's changes.
func (f *syncFixture) nextRunSelectsNothing(rec *imaptest.Recorder) {
	f.t.Helper()
	rec.Reset()
	f.sync()
	if n := rec.Count("EXAMINE") + rec.Count("SELECT"); n != 0 {
		f.t.Errorf("the run after: %d folders selected, want none (every scan point moved past the run's changes)\n%v", n, rec.SessionCommands())
	}
}

// TestScanPointChecksInOneRoundTrip: on a far server the checks of the
// scan points of the folders a run changed on b go out together after
// the run's changes, on one connection here: the first check's EXAMINE
// is answered only once the last folder's FETCH has arrived, which it
// never would if each check waited for the one before. The next run
// then finds every folder as the run left it and selects none.
func TestScanPointChecksInOneRoundTrip(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{1, 1}
	f.far = [2]bool{false, true}
	boxes := []string{"One", "Three", "Two"}
	f.syncedThenChanged(boxes, "-new")

	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	var mu sync.Mutex
	// changed holds the connections that selected a folder read-write:
	// b's. Their EXAMINEs are the checks (a's are its scans).
	changed := map[int]bool{}
	fetches := 0
	all := imaptest.NewGate() // every check's FETCH has come
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		mu.Lock()
		ours := changed[e.Conn]
		switch {
		case e.Stage == imaptest.Received && e.Verb == "SELECT":
			changed[e.Conn] = true
		case e.Stage == imaptest.Received && e.Verb == "UID FETCH" && ours:
			if fetches++; fetches == len(boxes) {
				all.Open()
			}
		}
		mu.Unlock()
		if e.Stage == imaptest.Answered && e.Verb == "EXAMINE" && ours && strings.Contains(e.Line, `"One"`) {
			all.Wait(10 * time.Second)
		}
		return imaptest.Action{}
	})
	f.sync()
	rec.Intercept(nil)
	if all.Held() {
		t.Errorf("b's checks were not sent together\n%v", rec.SessionCommands())
	}
	for _, mb := range boxes {
		f.want(userB, mb, mb+"-2 -", mb+"-new -")
	}
	f.nextRunSelectsNothing(rec)
}

// TestScanPointCheckedWhenItsFolderIsDone: on a near server a folder's
// scan point is checked as soon as the run is done with the folder,
// while the copies into the next folder are still on their way: the
// answer to the APPEND into Two (the last folder, its copies on b's
// MULTIAPPEND connection) is held until the check of One has come, which
// it never would if the checks waited for the end of the run. The
// check finds the folder still selected, as the run's changes left it,
// and asks its STATUS there: b's connection that changes the folders
// opens each once, by its SELECT, and EXAMINEs none. Each folder's
// copies are in before its SELECT comes, so that no mailbox is changed
// on two connections at once. The next run then finds every folder as
// the run left it and selects none.
func TestScanPointCheckedWhenItsFolderIsDone(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{1, 1}
	boxes := []string{"One", "Two"}
	// Two new messages in each: b's copies go on its MULTIAPPEND
	// connection, opened while a is scanned.
	f.syncedThenChanged(boxes, "-new1", "-new2")

	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	var mu sync.Mutex
	// changed holds the connections that selected a folder read-write:
	// b's, and a's, whose scans SELECT too (for PERMANENTFLAGS). b's
	// are those that also store flags. Their STATUS commands are the
	// checks.
	changed := map[int]bool{}
	stores := map[int]bool{}      // the connections that sent a UID STORE: b's
	checked := imaptest.NewGate() // One's check has come
	examined := map[int]int{}     // EXAMINEs by connection
	appended := map[string]bool{} // the folders whose APPEND b answered
	early := map[int][]string{}   // SELECTs of a folder whose copies were not in
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		mu.Lock()
		switch {
		case e.Stage == imaptest.Answered && e.Verb == "APPEND":
			for _, mb := range boxes {
				if strings.Contains(e.Line, `"`+mb+`"`) {
					appended[mb] = true
				}
			}
		case e.Stage == imaptest.Received && e.Verb == "UID STORE":
			stores[e.Conn] = true
		case e.Stage == imaptest.Received && e.Verb == "SELECT":
			changed[e.Conn] = true
			for _, mb := range boxes {
				if strings.Contains(e.Line, `"`+mb+`"`) && !appended[mb] {
					early[e.Conn] = append(early[e.Conn], e.Line)
				}
			}
		case e.Stage == imaptest.Received && e.Verb == "EXAMINE":
			examined[e.Conn]++
		case e.Stage == imaptest.Received && e.Verb == "STATUS" && changed[e.Conn] && strings.Contains(e.Line, `"One"`):
			checked.Open()
		}
		mu.Unlock()
		if e.Stage == imaptest.Answered && e.Verb == "APPEND" && strings.Contains(e.Line, `"Two"`) {
			checked.Wait(10 * time.Second)
		}
		return imaptest.Action{}
	})
	f.sync()
	rec.Intercept(nil)
	if checked.Held() {
		t.Errorf("One's check waited for the copies into Two\n%v", rec.SessionCommands())
	}
	if len(stores) != 1 {
		t.Fatalf("%d connections stored flags, want one (b's)\n%v", len(stores), rec.SessionCommands())
	}
	for conn := range stores {
		if examined[conn] != 0 {
			t.Errorf("b's connection EXAMINEd %d folders it had changed, want none (each check on the folder's selection)\n%v", examined[conn], rec.SessionCommands())
		}
		if len(early[conn]) > 0 {
			t.Errorf("b's folders selected for their changes before their copies were in: %q\n%v", early[conn], rec.SessionCommands())
		}
	}
	for _, mb := range boxes {
		f.want(userB, mb, mb+"-2 -", mb+"-new1 -", mb+"-new2 -")
	}
	f.nextRunSelectsNothing(rec)
}

// TestFolderCheckGoesWithItsFlagChanges: on a near server, where the
// run changes flags in a folder (and expunges there, and copies into
// it), the check of the folder's scan point goes with the UID SEARCH
// that ends the changes, not in round trips of its own after them: the
// answer to each SEARCH of b's is held until that folder's STATUS has
// come, which it never would if the check waited for the SEARCH. The
// next run then finds every folder as the run left it (the check read
// the copies, the expunge and the flags) and selects none.
func TestFolderCheckGoesWithItsFlagChanges(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{1, 1}
	boxes := []string{"One", "Two"}
	f.syncedThenChanged(boxes, "-new1", "-new2")
	for _, mb := range boxes {
		f.srv.AddFlags(t, userA, mb, f.uidOf(userA, mb, mb+"-2"), imap.FlagFlagged)
	}

	rec := f.record()
	var mu sync.Mutex
	stores := map[int]bool{}             // the connections that sent a UID STORE: b's
	searched := map[int]*imaptest.Gate{} // per connection, the gate of its last SEARCH
	gates := map[int]*imaptest.Gate{}    // per SEARCH (Seq): opened by a STATUS behind it
	var late []string                    // SEARCHes answered with no STATUS behind them
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		mu.Lock()
		switch {
		case e.Stage == imaptest.Received && e.Verb == "UID STORE":
			stores[e.Conn] = true
		case e.Stage == imaptest.Received && e.Verb == "UID SEARCH" && stores[e.Conn]:
			g := imaptest.NewGate()
			searched[e.Conn], gates[e.Seq] = g, g
		case e.Stage == imaptest.Received && e.Verb == "STATUS" && searched[e.Conn] != nil:
			searched[e.Conn].Open()
			searched[e.Conn] = nil
		}
		g := gates[e.Seq]
		mu.Unlock()
		if e.Stage == imaptest.Answered && g != nil {
			if !g.Wait(5 * time.Second) {
				mu.Lock()
				late = append(late, e.Line)
				mu.Unlock()
			}
		}
		return imaptest.Action{}
	})
	f.sync()
	rec.Intercept(nil)
	if len(stores) != 1 {
		t.Fatalf("%d connections stored flags, want one (b's)\n%v", len(stores), rec.SessionCommands())
	}
	if len(late) > 0 {
		t.Errorf("b's SEARCHes %q were answered before the folder's check came: the check waited for them\n%v", late, rec.SessionCommands())
	}
	for _, mb := range boxes {
		f.want(userB, mb, mb+`-2 \Flagged`, mb+"-new1 -", mb+"-new2 -")
	}
	f.nextRunSelectsNothing(rec)
}

// TestChangeRightAfterAFolderCheckIsNotLost: b's user flags a message
// in One just after the run checked One, while the run goes on with
// Two. The scan point the run records for One is the one its check
// read, before that change, so the next run finds the flag and takes
// it to a.
func TestChangeRightAfterAFolderCheckIsNotLost(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{1, 1}
	boxes := []string{"One", "Two"}
	f.syncedThenChanged(boxes, "-new1", "-new2")
	uid := f.uidOf(userB, "One", "One-2")
	user := f.srv.Dial(t, userB) // b's user, on a connection of its own
	if _, err := user.Select("One", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	rec := f.record()
	var mu sync.Mutex
	changed := map[int]bool{}    // the connections that SELECT: b's, and a's scan, which sends no EXAMINE or STATUS
	checking := map[int]string{} // each connection's last EXAMINE or STATUS: the check's
	var flagged sync.Once
	var storeErr error
	done := false
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case e.Stage == imaptest.Received && e.Verb == "SELECT":
			changed[e.Conn] = true
		case e.Stage == imaptest.Received && (e.Verb == "EXAMINE" || e.Verb == "STATUS"):
			checking[e.Conn] = e.Line
		case e.Stage == imaptest.Answered && e.Verb == "UID FETCH" && changed[e.Conn] &&
			strings.Contains(checking[e.Conn], `"One"`) && strings.Contains(e.Line, "CHANGEDSINCE"):
			// One's check is answered (mailtwin has not read it yet).
			flagged.Do(func() {
				storeErr = user.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
				done = true
			})
		}
		return imaptest.Action{}
	})
	f.sync()
	rec.Intercept(nil)
	if !done || storeErr != nil {
		t.Fatalf("b's user did not flag One-2 after One's check (done %v, error %v)\n%v", done, storeErr, rec.SessionCommands())
	}
	f.sync()
	f.wantBoth("One", `One-2 \Flagged`, "One-new1 -", "One-new2 -")
	f.wantBoth("Two", "Two-2 -", "Two-new1 -", "Two-new2 -")
	f.settled()
}

// TestSmallRunOpensFewConnections: a run with a little new mail in a few
// folders logs in twice per account at most on far servers, though four
// connections are allowed, and once per account on near ones, plus b's
// connection for the copies: more would cost the servers a login each
// and gain nothing (on a near server there is no round trip to save).
// The first sync, which reads every folder whole, uses them all, near
// or far.
func TestSmallRunOpensFewConnections(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		far  bool
		max  int // connections in the small run, both accounts
	}{
		{"near", false, 3},
		{"far", true, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, folders := sixFoldersOnA(t, [2]int{4, 4})
			f.far = [2]bool{tt.far, tt.far}
			rec := imaptest.Record(t, f.srv)
			f.addr = rec.Addr
			f.sync()
			if n := len(rec.Sessions()); n < 6 {
				t.Errorf("first sync: %d connections, want 6 or more (4 on a)\n%v", n, rec.Sessions())
			}
			for _, mb := range folders {
				f.put(userA, mb, mb+"-new")
			}
			rec.Reset()
			f.sync()
			if n := len(rec.Sessions()); n > tt.max {
				t.Errorf("a small run: %d connections, want at most %d\n%v", n, tt.max, rec.SessionCommands())
			}
			for _, mb := range folders {
				f.want(userB, mb, mb+"-new -", mb+"-old -")
			}
		})
	}
}

// TestFarSideKeepsItsWorkersBesideANearOne: where a is near (one
// connection) and b far (two), flag changes made on a are stored on b
// by two connections at once: lanes that work on b only are not held to
// a's one worker. The recorder holds the first UID STORE until one
// arrives on another connection; on one worker it never would, and the
// test fails at the deadline.
func TestFarSideKeepsItsWorkersBesideANearOne(t *testing.T) {
	t.Parallel()
	f, folders := sixFoldersOnA(t, [2]int{4, 4})
	f.far = [2]bool{false, true}
	f.sync()
	for _, mb := range folders {
		f.srv.AddFlags(t, userA, mb, f.uidOf(userA, mb, mb+"-old"), imap.FlagFlagged)
	}
	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	gate := imaptest.NewGate()
	var mu sync.Mutex
	first := 0
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage != imaptest.Received || e.Verb != "UID STORE" {
			return imaptest.Action{}
		}
		mu.Lock()
		if first == 0 {
			first = e.Conn
		}
		held := first == e.Conn
		mu.Unlock()
		if held {
			gate.Wait(30 * time.Second)
		} else {
			gate.Open()
		}
		return imaptest.Action{}
	})
	f.sync()
	if gate.Held() {
		t.Errorf("b's flag changes were stored on one connection, want two at once\n%v", rec.SessionCommands())
	}
	for _, mb := range folders {
		f.want(userB, mb, mb+`-old \Flagged`)
	}
	f.settled()
}

// examinedCounts returns how many times each mailbox was opened to be
// read, on either server, by the commands rec saw: a scan's SELECT (a
// scan selects where it may change the account, for PERMANENTFLAGS) or
// a check's EXAMINE. The tests that use it change nothing by SELECT.
func examinedCounts(rec *imaptest.Recorder) map[string]int {
	examined := map[string]int{}
	for _, line := range rec.Commands() {
		if verb, rest, _ := strings.Cut(line, " "); verb == "EXAMINE" || verb == "SELECT" {
			mb, _, _ := strings.Cut(rest, " ")
			examined[strings.Trim(mb, `"`)]++
		}
	}
	return examined
}

// TestOneWayTargetFlagsKeepScanPoint: in an a-to-b pair, flags b's user
// changed stay b's own, and the folder keeps its scan point on b: the
// runs after select nothing (b2's promise holds for a mirror whose user
// reads mail there). a's later changes still reach b's copy, over b's
// own. When the pair turns both ways, b's own flags are b's changes,
// and go to a.
func TestOneWayTargetFlagsKeepScanPoint(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Default.Direction = reconcile.AToB
	f.put(userA, "INBOX", "m1")
	f.put(userA, "INBOX", "m2")
	f.sync()
	f.srv.AddFlags(t, userB, "INBOX", f.uidOf(userB, "INBOX", "m1"), imap.FlagSeen)
	if p := f.sync().Plan; !p.Empty() {
		t.Errorf("a-to-b, b's user read m1: plan\n%s\nwant none", p)
	}
	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	f.nextRunSelectsNothing(rec)

	f.srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m1"), imap.FlagFlagged)
	f.sync()
	f.want(userA, "INBOX", `m1 \Flagged`, "m2 -")
	f.want(userB, "INBOX", `m1 \Flagged,\Seen`, "m2 -")
	f.nextRunSelectsNothing(rec)

	f.policy.Default.Direction = reconcile.Both
	f.sync()
	f.wantBoth("INBOX", `m1 \Flagged,\Seen`, "m2 -")
	f.nextRunSelectsNothing(rec)
}
