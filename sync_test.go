package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// These end-to-end tests sync two accounts through the real imapstore,
// reconcile.Run and a gitstate repository, against go-imap's in-memory
// server and against Dovecot (imaptest.Both). Account a is user "alice",
// account b is user "bob", on one server.

const userA, userB = "alice", "bob"

type syncFixture struct {
	t      *testing.T
	srv    *imaptest.Server
	repo   *gitstate.Repo
	policy reconcile.Policy
	// addr, if set, is dialled instead of srv.Addr (an imaptest.Recorder's).
	addr string
	// srvB, if set, is account b's server, and addrB is dialled instead
	// of its Addr when set: for b on a server of its own (another
	// hierarchy delimiter). The helpers that take a user still go to srv.
	srvB  *imaptest.Server
	addrB string
	// connections is RunOptions.Connections: one per side unless set.
	connections [2]int
	// far makes the run take a's server (far[0]) or b's (far[1]) for
	// far away (farStore): the tests of what several connections do in
	// an incremental run, which a near server does not get.
	far [2]bool
	// approve, if set, is the run's RunOptions.Approve: called between
	// the plan and its execution, where a test can act as a user does
	// while a run is under way.
	approve func(*reconcile.Plan) ([]string, error)
}

// farStore is a Store whose server the run takes for far away: its
// Latency is that of the Internet, not of 127.0.0.1 (see
// reconcile.LatencyReporter). Everything else is the Store's.
type farStore struct{ *imapstore.Store }

func (farStore) Latency() time.Duration { return 30 * time.Millisecond }

func newSyncFixture(t *testing.T, start imaptest.StartFunc) *syncFixture {
	t.Helper()
	srv := start(t, userA, userB)
	repo, err := gitstate.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &syncFixture{t: t, srv: srv, repo: repo, policy: reconcile.Policy{
		Default:    reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate},
		MaxDeletes: reconcile.DefaultMaxDeletes,
	}}
}

func (f *syncFixture) dial(user string, readOnly bool) *imapstore.Store {
	f.t.Helper()
	st, err := f.tryDial(context.Background(), user, readOnly)
	if err != nil {
		f.t.Fatalf("dial %s: %v", user, err)
	}
	f.t.Cleanup(func() { st.Close() })
	return st
}

// tryDial dials user's account as dial does (through the proxy set in
// addr or addrB, if any), returning the error instead of failing the
// test, and leaving the closing to the caller.
func (f *syncFixture) tryDial(ctx context.Context, user string, readOnly bool) (*imapstore.Store, error) {
	addr := f.srv.Addr
	if f.addr != "" {
		addr = f.addr
	}
	if user == userB && f.srvB != nil {
		addr = f.srvB.Addr
		if f.addrB != "" {
			addr = f.addrB
		}
	}
	return imapstore.Dial(ctx, imapstore.Options{
		Name: user, Addr: addr, TLS: imapstore.None,
		Username: user, Password: imaptest.Password, ReadOnly: readOnly,
	})
}

// asRun returns st as a run sees side i's account: a farStore where far
// says so.
func (f *syncFixture) asRun(i int, st *imapstore.Store) reconcile.Mailstore {
	if f.far[i] {
		return farStore{st}
	}
	return st
}

// run plans (planOnly) or syncs once and commits, failing the test on any
// error.
func (f *syncFixture) run(planOnly bool) *reconcile.Result {
	f.t.Helper()
	res, err := f.attempt(planOnly)
	if err != nil {
		f.t.Fatalf("Run(planOnly=%v) = %v\nplan:\n%v", planOnly, err, res.Plan)
	}
	return res
}

// attempt is run, but a run whose actions failed returns its error
// (ErrActionsFailed) after its commit; any other error fails the test.
func (f *syncFixture) attempt(planOnly bool) (*reconcile.Result, error) {
	f.t.Helper()
	ctx := context.Background()
	a, b := f.stores(planOnly)
	res, err := reconcile.Run(ctx, reconcile.RunOptions{Pair: "p", Policy: f.policy, PlanOnly: planOnly, Connections: f.connections, Approve: f.approve},
		a, b, stateRepo{f.repo})
	if err != nil && (res == nil || res.Outcomes == nil || !errors.Is(err, reconcile.ErrActionsFailed)) {
		f.t.Fatalf("Run(planOnly=%v) = %v", planOnly, err)
	}
	if !planOnly {
		if _, cerr := commitRun(ctx, f.repo, []string{res.Plan.Summary()}, reconcile.Journal(res.Plan, res.Outcomes), 0); cerr != nil {
			f.t.Fatal(cerr)
		}
	}
	return res, err
}

// stores dials both accounts as a run does, each a farStore where far
// says so.
func (f *syncFixture) stores(readOnly bool) (a, b reconcile.Mailstore) {
	f.t.Helper()
	return f.asRun(0, f.dial(userA, readOnly)), f.asRun(1, f.dial(userB, readOnly))
}

func (f *syncFixture) sync() *reconcile.Result { f.t.Helper(); return f.run(false) }

// syncLosingState syncs once as a run killed before it saved its state
// leaves things: every action done, the state as it was.
func (f *syncFixture) syncLosingState() *reconcile.Result {
	f.t.Helper()
	res, err := reconcile.Run(context.Background(), reconcile.RunOptions{Pair: "p", Policy: f.policy}, f.dial(userA, false), f.dial(userB, false), discardState{stateRepo{f.repo}})
	if err != nil {
		f.t.Fatalf("the run whose state is lost: %v", err)
	}
	return res
}

// settled asserts that planning again now finds nothing to do.
func (f *syncFixture) settled() {
	f.t.Helper()
	if p := f.run(true).Plan; !p.Empty() {
		f.t.Errorf("plan after sync is not empty:\n%s", p)
	}
}

func (f *syncFixture) put(user, mailbox, id string, flags ...imap.Flag) uint32 {
	// The same id gives the same bytes on either account: one message.
	f.t.Helper()
	return f.srv.Append(f.t, user, mailbox, imaptest.NewMessage("sender@example.org", "team@example.org", "about "+id, id+"@example.org", "body of "+id+"\r\n"), flags...)
}

// uidOf returns the UID of the message with Message-ID id in mailbox.
func (f *syncFixture) uidOf(user, mailbox, id string) uint32 {
	f.t.Helper()
	for _, m := range f.srv.Messages(f.t, user, mailbox) {
		if m.MessageID == id+"@example.org" {
			return m.UID
		}
	}
	f.t.Fatalf("%s has no message %s in %q", user, id, mailbox)
	return 0
}

func (f *syncFixture) expunge(user, mailbox, id string) {
	f.t.Helper()
	f.srv.Expunge(f.t, user, mailbox, f.uidOf(user, mailbox, id))
}

// contents lists mailbox of user as sorted "id flags" lines.
func (f *syncFixture) contents(user, mailbox string) []string {
	f.t.Helper()
	var out []string
	for _, m := range f.srv.Messages(f.t, user, mailbox) {
		fl := "-"
		if len(m.Flags) > 0 {
			fl = strings.Join(m.Flags, ",")
		}
		out = append(out, strings.TrimSuffix(m.MessageID, "@example.org")+" "+fl)
	}
	slices.Sort(out)
	return out
}

// want asserts mailbox of user holds exactly these "id flags" lines.
func (f *syncFixture) want(user, mailbox string, lines ...string) {
	f.t.Helper()
	slices.Sort(lines)
	if got := f.contents(user, mailbox); !slices.Equal(got, lines) {
		f.t.Errorf("%s %q holds %q, want %q", user, mailbox, got, lines)
	}
}

func (f *syncFixture) wantBoth(mailbox string, lines ...string) {
	f.t.Helper()
	f.want(userA, mailbox, lines...)
	f.want(userB, mailbox, lines...)
}

func TestSyncFirstSyncOfFilledAccounts(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.put(userA, "INBOX", "m3", imap.FlagFlagged)
		f.put(userB, "INBOX", "m2", imap.FlagSeen)
		f.put(userB, "INBOX", "m3")
		f.put(userB, "INBOX", "m4")
		res := f.sync()
		if c := res.Plan.Counts; c[reconcile.A].Copies != 1 || c[reconcile.B].Copies != 1 {
			t.Errorf("first sync copied a:%d b:%d, want 1 each (m4 to a, m1 to b):\n%s", c[reconcile.A].Copies, c[reconcile.B].Copies, res.Plan)
		}
		f.wantBoth("INBOX", "m1 -", `m2 \Seen`, `m3 \Flagged`, "m4 -")
		f.settled()
	})
}

// TestSyncFirstSyncPairsMbsyncsCopies: accounts that mbsync kept in step
// hold the same mail, but each message mbsync copied carries its X-TUID
// field, 22 bytes more. A first sync pairs them all and copies nothing;
// then a message moved on one side is moved on the other.
func TestSyncFirstSyncPairsMbsyncsCopies(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		msg := func(id string) []byte {
			return imaptest.NewMessage("sender@example.org", "team@example.org", "about "+id, id+"@example.org", "body of "+id+"\r\n")
		}
		// As isync 1.4 appends a message: X-TUID last in the header.
		tuid := func(m []byte) []byte {
			head, body, _ := bytes.Cut(m, []byte("\r\n\r\n"))
			return slices.Concat(head, []byte("\r\nX-TUID: ppAEME12NFZL\r\n\r\n"), body)
		}
		noID := imaptest.NewMessage("sender@example.org", "team@example.org", "no id", "", "body\r\n")
		for _, id := range []string{"m1", "m2", "m3"} {
			f.srv.Append(t, userA, "INBOX", msg(id), imap.FlagSeen)
			f.srv.Append(t, userB, "INBOX", tuid(msg(id)), imap.FlagSeen)
		}
		f.srv.Append(t, userA, "INBOX", noID)
		f.srv.Append(t, userB, "INBOX", tuid(noID))
		f.srv.Append(t, userB, "INBOX", tuid(msg("m4"))) // only on b
		f.srv.Create(t, userB, "Archive")

		res := f.sync()
		if c := res.Plan.Counts; c[reconcile.A].Copies != 1 || c[reconcile.B].Copies != 0 {
			t.Fatalf("first sync copies a:%d b:%d, want 1 to a (m4) and none to b: mbsync's copies are the same messages:\n%s", c[reconcile.A].Copies, c[reconcile.B].Copies, res.Plan)
		}
		f.wantBoth("INBOX", `m1 \Seen`, `m2 \Seen`, `m3 \Seen`, "m4 -", " -")
		f.settled()

		f.userMove(userB, "INBOX", "m2", "Archive")
		res = f.sync()
		if c := res.Plan.Counts; c[reconcile.A].Moves != 1 || c[reconcile.A].Copies != 0 || c[reconcile.A].Deletions() != 0 {
			t.Errorf("after m2 moved on b, the plan for a is %+v, want one move:\n%s", c[reconcile.A], res.Plan)
		}
		f.wantBoth("Archive", `m2 \Seen`)
		f.settled()
	})
}

func TestSyncNewMailBothWaysAndFlagMerge(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2", imap.FlagSeen)
		f.sync()
		f.wantBoth("INBOX", "m1 -", `m2 \Seen`)

		f.put(userA, "INBOX", "new-a", imap.FlagSeen)
		f.put(userB, "INBOX", "new-b", imap.FlagAnswered)
		f.srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m1"), imap.FlagSeen)
		f.srv.AddFlags(t, userB, "INBOX", f.uidOf(userB, "INBOX", "m1"), imap.FlagFlagged, "$Work")
		f.srv.RemoveFlags(t, userB, "INBOX", f.uidOf(userB, "INBOX", "m2"), imap.FlagSeen)
		f.sync()
		f.wantBoth("INBOX", `m1 $work,\Flagged,\Seen`, "m2 -", `new-a \Seen`, `new-b \Answered`)
		f.settled()
	})
}

func TestSyncDeletionPropagatesAndDoesNotComeBack(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		for _, id := range []string{"m1", "m2", "m3", "m4"} {
			f.put(userA, "INBOX", id)
		}
		f.sync()
		f.expunge(userA, "INBOX", "m2")
		// Deleted on both sides at once: forgotten, no error.
		f.expunge(userA, "INBOX", "m3")
		f.expunge(userB, "INBOX", "m3")
		f.sync()
		f.wantBoth("INBOX", "m1 -", "m4 -")
		f.sync() // a stateless copier would copy m2 back here
		f.wantBoth("INBOX", "m1 -", "m4 -")
		f.settled()
	})
}

func TestSyncChangeBeatsDelete(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.sync()
		f.expunge(userA, "INBOX", "m2")
		f.srv.AddFlags(t, userB, "INBOX", f.uidOf(userB, "INBOX", "m2"), imap.FlagFlagged)
		f.sync()
		f.wantBoth("INBOX", "m1 -", `m2 \Flagged`)
		f.settled()
	})
}

func TestSyncTrashPolicy(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Trash
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2", imap.FlagSeen)
		f.sync()
		f.expunge(userA, "INBOX", "m2")
		f.sync()
		f.wantBoth("INBOX", "m1 -")
		f.want(userB, "Trash", `m2 \Seen`)
		f.settled()
	})
}

// TestSyncChangeBeatsADeletionIntoTheOwnTrash: b's trash is b's own,
// one a has no folder of its name for (on imapmemserver a has no trash;
// on Dovecot b is on a server of its own whose trash is "Deleted", and
// the pair does not match folders by role). b's user deletes m1 into it
// while a's user flags m1 and marks it unread. The change beats the
// delete, and m1 comes back to b's INBOX: b's copy is moved back out of
// b's trash, with a's changes, not a's copy uploaded beside it. Before,
// b held m1 twice, in INBOX and in its trash (reconcile case 179,
// TestRandomEndToEnd seed 291).
func TestSyncChangeBeatsADeletionIntoTheOwnTrash(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Trash
		// fb is f with b's server: its helpers go there.
		fb, trash := f, "Trash"
		if f.srv.Kind == "dovecot" {
			f.srvB = imaptest.StartDovecotWith(t, imaptest.DovecotOptions{SpecialUse: map[string]string{`\Trash`: "Deleted"}}, userB)
			f.policy.Naming.IgnoreRoles = true
			fb, trash = &syncFixture{t: t, srv: f.srvB}, "Deleted"
		} else {
			f.srv.Create(t, userB, trash)
		}
		f.put(userA, "INBOX", "m1", imap.FlagSeen)
		f.put(userA, "INBOX", "m2")
		f.sync()
		if have := fb.srv.Mailboxes(t, userB); slices.Contains(have, "Trash") && trash != "Trash" {
			t.Fatalf("b got a's trash: %q", have)
		}
		if have := f.srv.Mailboxes(t, userA); slices.Contains(have, trash) && trash != "Trash" || f.srv.Kind != "dovecot" && slices.Contains(have, "Trash") {
			t.Fatalf("a got b's trash: %q", have)
		}

		fb.userMove(userB, "INBOX", "m1", trash)
		uid := f.uidOf(userA, "INBOX", "m1")
		f.srv.AddFlags(t, userA, "INBOX", uid, imap.FlagFlagged)
		f.srv.RemoveFlags(t, userA, "INBOX", uid, imap.FlagSeen)
		var rec *imaptest.Recorder
		if f.srvB != nil {
			rec = imaptest.Record(t, f.srvB)
			f.addrB = rec.Addr
		} else {
			rec = f.record()
		}
		f.sync()
		f.wantMovedNotCopied(rec, 1)
		f.want(userA, "INBOX", `m1 \Flagged`, "m2 -")
		fb.want(userB, "INBOX", `m1 \Flagged`, "m2 -")
		fb.want(userB, trash)
		f.settled()
	})
}

func TestSyncKeepPolicy(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.sync()
		f.expunge(userA, "INBOX", "m2")
		f.sync()
		f.want(userA, "INBOX", "m1 -")
		f.want(userB, "INBOX", "m1 -", "m2 -")
		f.sync() // kept on b, and not copied back to a
		f.want(userA, "INBOX", "m1 -")
		f.settled()
	})
}

func TestSyncAToBIgnoresBsChanges(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Direction = reconcile.AToB
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.sync()
		f.wantBoth("INBOX", "m1 -", "m2 -")
		f.put(userB, "INBOX", "b-own")
		f.srv.AddFlags(t, userB, "INBOX", f.uidOf(userB, "INBOX", "m1"), imap.FlagSeen)
		f.expunge(userB, "INBOX", "m2")
		f.put(userA, "INBOX", "m3")
		f.sync()
		f.want(userA, "INBOX", "m1 -", "m2 -", "m3 -")
		f.want(userB, "INBOX", `m1 \Seen`, "b-own -", "m3 -")
		f.settled()
	})
}

func TestSyncFolderCreatedOnBAppearsOnA(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m1")
		f.sync()
		f.put(userB, "Projects/2026", "p1", imap.FlagSeen)
		f.srv.Create(t, userB, "Empty")
		f.sync()
		f.wantBoth("Projects/2026", `p1 \Seen`)
		if !slices.Contains(f.srv.Mailboxes(t, userA), "Empty") {
			t.Errorf("a's mailboxes %q lack the empty folder created on b", f.srv.Mailboxes(t, userA))
		}
		f.settled()
	})
}

func TestSyncModifiedUTF7FolderName(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "Entwürfe", "d1", imap.FlagDraft)
		f.sync()
		f.wantBoth("Entwürfe", `d1 \Draft`)
		f.settled()
	})
}

func TestSyncMaxDeletesStopsBeforeAnyChange(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.MaxDeletes = reconcile.Limit{Count: 1}
		for i := range 4 {
			f.put(userA, "INBOX", fmt.Sprintf("m%d", i))
		}
		f.sync()
		f.expunge(userA, "INBOX", "m1")
		f.expunge(userA, "INBOX", "m2")
		f.put(userA, "INBOX", "late")
		_, err := reconcile.Run(context.Background(), reconcile.RunOptions{Pair: "p", Policy: f.policy},
			f.dial(userA, false), f.dial(userB, false), stateRepo{f.repo})
		if err == nil || !strings.Contains(err.Error(), "too many deletions") {
			t.Fatalf("Run = %v, want a too-many-deletions guard error", err)
		}
		// Nothing changed: not even the new message was copied.
		f.want(userB, "INBOX", "m0 -", "m1 -", "m2 -", "m3 -")
	})
}

// TestCorruptStateIsAnErrorNotAnEmptyState: a state file damaged by hand
// stops the run with the file, the line and the remedy; it is never read
// as "no state", which would re-pair or delete everything.
func TestCorruptStateIsAnErrorNotAnEmptyState(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartMem)
	f.put(userA, "INBOX", "m1")
	f.sync()
	ctx := context.Background()
	files, err := f.repo.Files(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	files["INBOX.state"] = []byte(strings.Replace(string(files["INBOX.state"]), "uidvalidity a ", "uidvalidity a x", 1))
	if err := f.repo.Stage(ctx, "p", files); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.Commit(ctx, "hand edit"); err != nil {
		t.Fatal(err)
	}
	_, err = reconcile.Run(ctx, reconcile.RunOptions{Pair: "p", Policy: f.policy},
		f.dial(userA, false), f.dial(userB, false), stateRepo{f.repo})
	if err == nil {
		t.Fatal("Run with a corrupt state file succeeded")
	}
	for _, want := range []string{"p/INBOX.state:5:", "bad uidvalidity", "mailtwin rollback"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run error %q lacks %q", err, want)
		}
	}
	f.want(userB, "INBOX", "m1 -") // untouched
}

// TestSyncAcrossDelimiters syncs a Dovecot account whose hierarchy
// delimiter is "." with a memserver account whose delimiter is "/": a
// nested folder keeps its place in the hierarchy on both sides.
func TestSyncAcrossDelimiters(t *testing.T) {
	t.Parallel()
	dot := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Separator: "."}, userA)
	mem := imaptest.StartMem(t, userB)
	x := newCrossFixture(t, dot, mem)
	dot.Append(t, userA, "Projects.2026", x.msg("p1"))
	mem.Append(t, userB, "Clients/Acme", x.msg("c1"))
	x.sync()
	if got := x.ids(mem, userB, "Projects/2026"); !slices.Equal(got, []string{"p1@example.org"}) {
		t.Errorf("memserver Projects/2026 = %q, want p1", got)
	}
	if got := x.ids(dot, userA, "Clients.Acme"); !slices.Equal(got, []string{"c1@example.org"}) {
		t.Errorf("dovecot Clients.Acme = %q, want c1", got)
	}
	x.settled()
}

// record sends mailtwin's sessions from now on through an
// imaptest.Recorder.
func (f *syncFixture) record() *imaptest.Recorder {
	rec := imaptest.Record(f.t, f.srv)
	f.addr = rec.Addr
	return rec
}

// syncCounting syncs once through a Recorder and fails the test unless
// the servers received each command verb of want (as imaptest.Event has
// it) exactly as many times as want says, all told.
func (f *syncFixture) syncCounting(want map[string]int) *reconcile.Result {
	f.t.Helper()
	rec := f.record()
	res := f.sync()
	for _, verb := range slices.Sorted(maps.Keys(want)) {
		if got := rec.Count(verb); got != want[verb] {
			f.t.Errorf("mailtwin sent %d %s, want %d; commands:\n\t%s", got, verb, want[verb], strings.Join(rec.Commands(), "\n\t"))
		}
	}
	return res
}

// syncWithoutAppendUID syncs once through a proxy that takes the
// APPENDUID out of every APPEND's answer, as a server does that does not
// report a copy's new UID, and asserts that the run's APPENDs numbered
// want. Later runs go through the proxy with the answers as they are.
func (f *syncFixture) syncWithoutAppendUID(want int32) *reconcile.Result {
	f.t.Helper()
	rec := f.record()
	var stripped atomic.Int32
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Answered && e.Verb == "APPEND" && strings.HasPrefix(e.Status, "OK [APPENDUID ") {
			stripped.Add(1)
			return imaptest.Action{Do: imaptest.Rewrite, Text: "OK appended"}
		}
		return imaptest.Action{}
	})
	res := f.sync()
	rec.Intercept(nil)
	if n := stripped.Load(); n != want {
		f.t.Fatalf("the run's APPENDs answered with APPENDUID: %d, want %d:\n%s", n, want, res.Plan)
	}
	return res
}

// wantMovedNotCopied asserts that the sessions rec saw moved with moves
// UID MOVEs and copied nothing: no APPEND, no UID COPY, no body fetched.
func (f *syncFixture) wantMovedNotCopied(rec *imaptest.Recorder, moves int) {
	f.t.Helper()
	if got := rec.Count("UID MOVE"); got != moves {
		f.t.Errorf("mailtwin sent %d UID MOVE, want %d; commands:\n\t%s", got, moves, strings.Join(rec.Commands(), "\n\t"))
	}
	for _, verb := range []string{"APPEND", "UID COPY", "COPY"} {
		if got := rec.Count(verb); got != 0 {
			f.t.Errorf("mailtwin sent %d %s, want none; commands:\n\t%s", got, verb, strings.Join(rec.Commands(), "\n\t"))
		}
	}
	if got := rec.BodyFetches(); len(got) != 0 {
		f.t.Errorf("mailtwin fetched message bodies: %q", got)
	}
}

// syncJoiningOnce runs one sync that must settle one conflict, reported,
// with one UID MOVE and no message body crossing the wire
// (wantMovedNotCopied), as where both users moved a message to different
// folders. It returns the run's result.
func (f *syncFixture) syncJoiningOnce() *reconcile.Result {
	f.t.Helper()
	rec := f.record()
	res := f.sync()
	if len(res.Plan.Conflicts) != 1 {
		f.t.Errorf("plan conflicts = %q, want one", res.Plan.Conflicts)
	}
	f.wantMovedNotCopied(rec, 1)
	return res
}

// syncRefusingFirstMove runs one sync whose first UID MOVE the server
// refuses: see syncRefusingFirst.
func (f *syncFixture) syncRefusingFirstMove(what string) *reconcile.Result {
	f.t.Helper()
	return f.syncRefusingFirst("UID MOVE", what)
}

// syncRefusingFirst runs one sync whose first command verb (as
// imaptest.Event has it) the server refuses: see syncRefusing.
func (f *syncFixture) syncRefusingFirst(verb, what string) *reconcile.Result {
	f.t.Helper()
	return f.syncRefusing(verb, 1, what)
}

// syncRefusing runs one sync whose first n commands verb the server
// refuses (through a Recorder, which later syncs keep going through), and
// fails the test unless the run failed and n were refused; what names the
// run in that failure. It returns the run's result.
func (f *syncFixture) syncRefusing(verb string, n int32, what string) *reconcile.Result {
	f.t.Helper()
	rec := f.record()
	var refused atomic.Int32
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == verb && refused.Load() < n && refused.Add(1) <= n {
			return imaptest.Action{Do: imaptest.Refuse, Text: "[CANNOT] not now"}
		}
		return imaptest.Action{}
	})
	res, err := f.attempt(false)
	if !errors.Is(err, reconcile.ErrActionsFailed) || refused.Load() != n {
		f.t.Fatalf("%s: err %v, %d %s refused; want %d refused", what, err, refused.Load(), verb, n)
	}
	return res
}

// syncRefusingFirstOfEach runs one sync whose first command of each of
// verbs the server refuses, as syncRefusing does for one verb.
func (f *syncFixture) syncRefusingFirstOfEach(what string, verbs ...string) *reconcile.Result {
	f.t.Helper()
	rec := f.record()
	refused := make([]atomic.Bool, len(verbs))
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if i := slices.Index(verbs, e.Verb); e.Stage == imaptest.Received && i >= 0 && refused[i].CompareAndSwap(false, true) {
			return imaptest.Action{Do: imaptest.Refuse, Text: "[CANNOT] not now"}
		}
		return imaptest.Action{}
	})
	res, err := f.attempt(false)
	for i := range verbs {
		if !refused[i].Load() {
			f.t.Fatalf("%s: no %s refused (err %v)", what, verbs[i], err)
		}
	}
	if !errors.Is(err, reconcile.ErrActionsFailed) {
		f.t.Fatalf("%s: err %v, want actions failed", what, err)
	}
	return res
}

// trashOnBoth gives both accounts a folder named Trash, the pair's trash:
// Dovecot makes it itself (auto = create), the memory server does not.
func (f *syncFixture) trashOnBoth() {
	f.t.Helper()
	for _, u := range []string{userA, userB} {
		if !slices.Contains(f.srv.Mailboxes(f.t, u), "Trash") {
			f.srv.Create(f.t, u, "Trash")
		}
	}
}

// startFiledAway starts the story the filed-away tests share, under
// deletion: a's P holds m1, Old holds m2, and Work is empty, all synced;
// then b's user files m1 from P into Old, and a's user deletes Old.
func (f *syncFixture) startFiledAway(deletion reconcile.Deletion) {
	f.t.Helper()
	f.policy.Default.Deletion = deletion
	f.put(userA, "P", "m1")
	f.put(userA, "Old", "m2")
	f.srv.Create(f.t, userA, "Work")
	f.sync()
	f.userMove(userB, "P", "m1", "Old")
	f.srv.Delete(f.t, userA, "Old")
}

// startFiledAwayMadeAgain goes on with startFiledAway's story under keep:
// b's user flags m2 in Old, and the sync makes Old again on a, with m2
// (the change beats the deletion). m1 stays b's only there, away from a,
// and a's copy stays in P, a's only.
func (f *syncFixture) startFiledAwayMadeAgain() {
	f.t.Helper()
	f.startFiledAway(reconcile.Keep)
	f.srv.AddFlags(f.t, userB, "Old", f.uidOf(userB, "Old", "m2"), imap.FlagFlagged)
	f.sync()
	f.want(userA, "Old", `m2 \Flagged`)
	f.want(userA, "P", "m1 -")
	f.want(userB, "Old", "m1 -", `m2 \Flagged`)
}

// TestSyncFailedFlagMergeKeepsThePairing: m1 arrives on both sides with
// other flags, so the first run pairs the two copies and stores the
// merge on each; b's server refuses b's UID STORE. The state must keep
// the pairing: when a's user then files m1 into Archive, the next run
// moves b's copy there too (and stores the merge again), where a lost
// pairing copied m1 both ways, leaving it twice on each side.
func TestSyncFailedFlagMergeKeepsThePairing(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.srv.Create(t, userA, "Archive")
		f.srv.Create(t, userB, "Archive")
		f.put(userA, "INBOX", "m1", imap.FlagSeen)
		f.put(userB, "INBOX", "m1", imap.FlagFlagged)
		rec := f.record()
		var once sync.Once
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			act := imaptest.Action{}
			if e.Stage == imaptest.Received && e.Verb == "UID STORE" && strings.Contains(e.Line, `+FLAGS.SILENT (\Seen)`) {
				once.Do(func() { act = imaptest.Action{Do: imaptest.Refuse, Text: "[CANNOT] not now"} })
			}
			return act
		})
		ctx := context.Background()
		res, err := reconcile.Run(ctx, reconcile.RunOptions{Pair: "p", Policy: f.policy},
			f.dial(userA, false), f.dial(userB, false), stateRepo{f.repo})
		if !errors.Is(err, reconcile.ErrActionsFailed) || res.Failed != 1 {
			t.Fatalf("first run: err %v, want one action failed (b's Store)", err)
		}
		if _, err := commitRun(ctx, f.repo, []string{res.Plan.Summary()}, reconcile.Journal(res.Plan, res.Outcomes), 0); err != nil {
			t.Fatal(err)
		}
		f.userMove(userA, "INBOX", "m1", "Archive")
		res = f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Moves != 1 || c.Copies != 0 || res.Plan.Counts[reconcile.A].Copies != 0 {
			t.Errorf("after the failed Store and a's move, the plan is not one move on b:\n%s", res.Plan)
		}
		f.wantBoth("INBOX")
		f.wantBoth("Archive", `m1 \Flagged,\Seen`)
		f.settled()
	})
}

// TestSyncMoveIsAMoveNotAReupload: a message moved between folders on a
// is moved on b with UID MOVE; no body crosses the wire (no APPEND, no
// body fetched, as the recorder in front of the server shows), and it
// ends up in one folder on each side.
func TestSyncMoveIsAMoveNotAReupload(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2", imap.FlagSeen)
		f.srv.Create(t, userA, "Archive")
		f.sync()
		f.userMove(userA, "INBOX", "m2", "Archive")
		f.srv.AddFlags(t, userB, "INBOX", f.uidOf(userB, "INBOX", "m2"), imap.FlagFlagged)
		rec := f.record()
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Moves != 1 || c.Copies != 0 || c.Expunges != 0 {
			t.Errorf("plan on b = %+v, want exactly one move:\n%s", c, res.Plan)
		}
		f.wantMovedNotCopied(rec, 1)
		f.wantBoth("INBOX", "m1 -")
		f.wantBoth("Archive", `m2 \Flagged,\Seen`)
		f.settled()
	})
}

// TestSyncMovesToManyFoldersInOneGo: messages a user filed from one
// folder into several are moved on the other side with one UID COPY per
// destination, sent together, and one expunge of the originals: no body
// crosses the wire, each lands where it was filed, and the state knows
// each one's new UID (the next run has nothing to do).
func TestSyncMovesToManyFoldersInOneGo(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		for _, id := range []string{"m1", "m2", "m3", "m4", "m5"} {
			f.put(userA, "INBOX", id)
		}
		for _, dir := range []string{"X", "Y", "Z"} {
			f.srv.Create(t, userA, dir)
		}
		// Y holds a message on both sides already, so that UIDs differ
		// between the destinations.
		f.put(userA, "Y", "y0")
		f.sync()
		f.userMove(userA, "INBOX", "m1", "X")
		f.userMove(userA, "INBOX", "m2", "Y")
		f.userMove(userA, "INBOX", "m3", "Y")
		f.userMove(userA, "INBOX", "m4", "Z")
		rec := f.record()
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Moves != 4 || c.Copies != 0 || c.Expunges != 0 {
			t.Errorf("plan on b = %+v, want exactly four moves:\n%s", c, res.Plan)
		}
		for verb, want := range map[string]int{"APPEND": 0, "UID COPY": 3, "UID EXPUNGE": 1, "UID MOVE": 0} {
			if got := rec.Count(verb); got != want {
				t.Errorf("mailtwin sent %d %s, want %d; commands:\n\t%s", got, verb, want, strings.Join(rec.Commands(), "\n\t"))
			}
		}
		if got := rec.BodyFetches(); len(got) != 0 {
			t.Errorf("mailtwin fetched message bodies: %q", got)
		}
		f.wantBoth("INBOX", "m5 -")
		f.wantBoth("X", "m1 -")
		f.wantBoth("Y", "m2 -", "m3 -", "y0 -")
		f.wantBoth("Z", "m4 -")
		f.settled()
	})
}

// syncKilledAtExpunge runs once as a run killed at its first UID
// EXPUNGE leaves things: the server answers it with BYE (the command not
// run), and the state is not saved. It fails the test unless the run
// failed after sending copies UID COPYs (moves that go as copies, then
// one expunge). Later runs talk to the server directly again.
func (f *syncFixture) syncKilledAtExpunge(copies int) {
	f.t.Helper()
	rec := f.record()
	defer func() { f.addr = "" }()
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == "UID EXPUNGE" {
			return imaptest.Action{Do: imaptest.Bye, Text: "server shutting down"}
		}
		return imaptest.Action{}
	})
	res, err := reconcile.Run(context.Background(), reconcile.RunOptions{Pair: "p", Policy: f.policy}, f.dial(userA, false), f.dial(userB, false), discardState{stateRepo{f.repo}})
	if err == nil {
		f.t.Fatalf("the run whose UID EXPUNGE got BYE succeeded:\n%s", res.Plan)
	}
	if n := rec.Count("UID COPY"); n != copies {
		f.t.Fatalf("the run sent %d UID COPY, want %d (the test is about moves that go as copies); commands:\n\t%s", n, copies, strings.Join(rec.Commands(), "\n\t"))
	}
}

// TestSyncMovesFinishedAfterAKilledRun: a run that moved messages on b
// as UID COPYs (several destinations from one folder) died before its
// UID EXPUNGE, leaving each message in both folders on b, marked
// \Deleted in the first, and no state committed. The next run, under
// deletion keep, removes the originals and pairs the copies: each
// message once on each side, where the user filed it. So too where b's
// user had flagged one before that run, which copied the flag along
// (testdata case 234): before, b's original read as a change against
// a's deletion, and came back to a's INBOX, the message twice on each
// side (TestRandomEndToEnd -e2e.cuts, imapmemserver seed 272).
func TestSyncMovesFinishedAfterAKilledRun(t *testing.T) {
	t.Parallel()
	for _, flagged := range []bool{false, true} {
		t.Run(map[bool]string{false: "unchanged", true: "flagged on b first"}[flagged], func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Default.Deletion = reconcile.Keep
				for _, id := range []string{"m1", "m2", "m3"} {
					f.put(userA, "INBOX", id)
				}
				f.srv.Create(t, userA, "X")
				f.srv.Create(t, userA, "Y")
				f.sync()
				f.userMove(userA, "INBOX", "m1", "X")
				f.userMove(userA, "INBOX", "m2", "Y")
				wantM1 := "m1 -"
				if flagged {
					f.srv.AddFlags(t, userB, "INBOX", f.uidOf(userB, "INBOX", "m1"), imap.FlagSeen)
					wantM1 = `m1 \Seen`
				}
				f.syncKilledAtExpunge(2)
				res := f.sync()
				if c := res.Plan.Counts[reconcile.B]; c.Copies != 0 || c.Moves != 0 {
					t.Errorf("the next run's plan on b = %+v, want only the originals removed:\n%s", c, res.Plan)
				}
				f.wantBoth("INBOX", "m3 -")
				f.wantBoth("X", wantM1)
				f.wantBoth("Y", "m2 -")
				f.settled()
			})
		})
	}
}

// TestSyncMoveConflictFinishedAfterAKilledRun: both users moved m1 and
// m2 out of INBOX, a's user both into W, b's user m1 into X and m2 into
// Y; b's folders win (prefer b, or b the source of a b-to-a pair), so a
// run moves a's copies out of W, as UID COPYs (two destinations from one
// folder), and dies before its UID EXPUNGE, its state not saved. a then
// holds each message twice, in W and where b's user put it. The next
// run removes a's originals in W and pairs the copies: each message once
// on each side, where b's user filed it. Before, the copies in X and Y
// paired and a's in W stayed, taken for a's own (testdata case 236;
// TestRandomEndToEnd -e2e.cuts 0.5, Dovecot seed 209).
func TestSyncMoveConflictFinishedAfterAKilledRun(t *testing.T) {
	t.Parallel()
	for _, dir := range []reconcile.Direction{reconcile.Both, reconcile.BToA} {
		t.Run(dir.String(), func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Default.Direction = dir
				f.policy.Prefer = reconcile.B
				source := userA
				if dir == reconcile.BToA {
					source = userB
				}
				for _, id := range []string{"m1", "m2", "m3"} {
					f.put(source, "INBOX", id)
				}
				for _, box := range []string{"W", "X", "Y"} {
					f.srv.Create(t, userA, box)
					f.srv.Create(t, userB, box)
				}
				f.sync()
				f.userMove(userA, "INBOX", "m1", "W")
				f.userMove(userA, "INBOX", "m2", "W")
				f.userMove(userB, "INBOX", "m1", "X")
				f.userMove(userB, "INBOX", "m2", "Y")
				f.syncKilledAtExpunge(2)
				f.want(userA, "X", "m1 -")
				res := f.sync()
				if c := res.Plan.Counts[reconcile.A]; c.Copies != 0 || c.Moves != 0 || c.Expunges != 2 {
					t.Errorf("the next run's plan on a = %+v, want only the two originals removed:\n%s", c, res.Plan)
				}
				f.wantBoth("INBOX", "m3 -")
				f.wantBoth("W")
				f.wantBoth("X", "m1 -")
				f.wantBoth("Y", "m2 -")
				f.settled()
			})
		})
	}
}

// TestSyncChangeBeatsADeleteBesideAnOwnCopyElsewhere: under keep, a holds
// m1 in INBOX and in W, both synced to b; a's user deletes W, which b
// keeps, with its m1, b's only from then on. b's user then expunges m1
// from INBOX, and a's user flags it there: the change beats the delete,
// and m1 goes back to b's INBOX. Before, b's copy in W, recorded there
// since before, was taken for the INBOX copy filed away into W by b's
// user, and m1 stayed in a's INBOX only (testdata case 197).
func TestSyncChangeBeatsADeleteBesideAnOwnCopyElsewhere(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.put(userA, "W", "m1")
		f.sync()
		f.wantBoth("W", "m1 -")
		f.srv.Delete(t, userA, "W")
		f.sync()
		f.want(userB, "W", "m1 -")

		f.expunge(userB, "INBOX", "m1")
		f.srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m1"), imap.FlagFlagged)
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Copies != 1 {
			t.Errorf("plan on b = %+v, want m1 copied back:\n%s", c, res.Plan)
		}
		f.wantBoth("INBOX", `m1 \Flagged`, "m2 -")
		f.want(userB, "W", "m1 -")
		if have := f.srv.Mailboxes(t, userA); slices.Contains(have, "W") {
			t.Errorf("a has W again: %q", have)
		}
		f.settled()
	})
}

// TestSyncDeletionUndoneAfterAnUnsavedRun: a's user deletes m1, and a
// run follows on b but does not save its state (killed before it
// committed); a's user then undoes the deletion (m1 is back in INBOX
// under a new UID). The next run copies m1 back to b.
//   - Both ways, deletions propagated: the run expunged b's copy. Before,
//     the next run took b's missing copy for a deletion by b's user and
//     expunged a's restored one: the undo was undone, and m1 was gone
//     from both sides (testdata case 153).
//   - a-to-b, deletions to the trash: the run moved b's copy to b's
//     trash. Before, the next run took that for a move by b's user,
//     which a one-way pair does not follow, and m1 stayed off b's INBOX
//     (case 161; TestModel seed 734674). b's copy is moved back out of
//     the trash; before, a's was copied beside it, and b held m1 in its
//     INBOX and in its trash (case 204).
//   - The same, with b holding its own m1 in Lists, a folder a lacks,
//     since before the first run. Before, that copy was taken for b's
//     INBOX copy filed away there by b's user, and m1 stayed off b's
//     INBOX (case 196; TestModel seed 5204719).
func TestSyncDeletionUndoneAfterAnUnsavedRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		policy     reconcile.FolderPolicy
		wantTrash  []string // b's trash after the runs
		outOfTrash bool     // the undo takes b's copy out of b's trash: one UID MOVE, no APPEND
		ownCopy    bool     // b holds m1 in Lists, which a lacks, from the start
	}{
		{"both, propagate", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}, nil, false, false},
		{"a-to-b, trash", reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Trash}, []string{}, true, false},
		{"a-to-b, trash, b's own copy elsewhere", reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Trash}, []string{}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Default = tc.policy
				for _, id := range []string{"m1", "m2", "m3"} {
					f.put(userA, "INBOX", id)
				}
				if tc.ownCopy {
					f.put(userB, "Lists", "m1")
				}
				f.sync()
				if tc.ownCopy {
					if have := f.srv.Mailboxes(t, userA); slices.Contains(have, "Lists") {
						t.Fatalf("a has b's Lists in an a-to-b pair: %q", have)
					}
				}
				f.expunge(userA, "INBOX", "m1")
				f.syncLosingState()
				f.want(userB, "INBOX", "m2 -", "m3 -")
				f.put(userA, "INBOX", "m1") // the undo: the same message, a new UID
				rec := f.record()
				f.sync()
				if tc.outOfTrash {
					f.wantMovedNotCopied(rec, 1)
				}
				f.wantBoth("INBOX", "m1 -", "m2 -", "m3 -")
				if tc.wantTrash != nil {
					f.want(userB, "Trash", tc.wantTrash...)
				}
				if tc.ownCopy {
					f.want(userB, "Lists", "m1 -")
				}
				f.settled()
			})
		})
	}
}

// TestSyncDeletionUndoneAfterAnUnsavedMove: an a-to-b pair whose Archive
// goes both ways. a's user files a copy of m1 into Archive and expunges
// INBOX's; a run whose state is lost takes that for a move and moves b's
// copy into Archive; a's user then puts m1 back in INBOX. b's copy in
// Archive pairs there with a's, so it is not one b's user moved out of
// INBOX: m1 is copied to b's INBOX, and both accounts hold it in both
// folders. Before, b's copy in Archive counted as moved there by b's
// user, which a one-way pair does not follow, and b's INBOX lacked m1
// (testdata case 232; TestModel seed 6313198).
func TestSyncDeletionUndoneAfterAnUnsavedMove(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Keep}
		f.policy.Rules = []reconcile.Rule{{Pattern: "Archive", FolderPolicy: reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}}}
		f.srv.Create(t, userA, "Archive")
		for _, id := range []string{"m1", "m2", "m3"} {
			f.put(userA, "INBOX", id)
		}
		f.sync()
		f.put(userA, "Archive", "m1")
		f.expunge(userA, "INBOX", "m1")
		res := f.syncLosingState()
		if !strings.Contains(res.Plan.String(), `-> "Archive"`) {
			t.Fatalf("the run whose state is lost moves nothing into Archive:\n%s", res.Plan)
		}
		f.want(userB, "INBOX", "m2 -", "m3 -")
		f.want(userB, "Archive", "m1 -")
		f.put(userA, "INBOX", "m1") // the undo: the same message, a new UID
		f.sync()
		f.wantBoth("INBOX", "m1 -", "m2 -", "m3 -")
		f.wantBoth("Archive", "m1 -")
		f.settled()
	})
}

// TestSyncMoveOutOfTheTrashRefusedOnce: TestSyncDeletionUndoneAfterAnUnsavedRun's
// row "a-to-b, trash", with b's server refusing the UID MOVE that takes
// b's copy of m1 back out of its trash. The run after it moves it again.
// Before, the state recorded a's copy at its new UID, so the next run read
// b's copy as deleted by b's user, which a one-way pair does not revert,
// and m1 stayed in b's trash for good (TestModel seed 1380703, b-to-a).
func TestSyncMoveOutOfTheTrashRefusedOnce(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Trash}
		for _, id := range []string{"m1", "m2", "m3"} {
			f.put(userA, "INBOX", id)
		}
		f.sync()
		f.expunge(userA, "INBOX", "m1")
		f.syncLosingState()
		f.want(userB, "Trash", "m1 -")
		f.put(userA, "INBOX", "m1") // the undo: the same message, a new UID
		rec := f.record()
		var refused atomic.Int32
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			if e.Stage == imaptest.Received && e.Verb == "UID MOVE" && refused.Add(1) == 1 {
				return imaptest.Action{Do: imaptest.Refuse, Text: "not now"}
			}
			return imaptest.Action{}
		})
		if _, err := f.attempt(false); !errors.Is(err, reconcile.ErrActionsFailed) {
			t.Fatalf("the run whose UID MOVE is refused: err %v, want actions failed", err)
		}
		rec.Intercept(nil)
		if refused.Load() != 1 {
			t.Fatalf("%d UID MOVEs sent, want the one refused", refused.Load())
		}
		f.want(userB, "Trash", "m1 -")
		f.sync()
		f.wantBoth("INBOX", "m1 -", "m2 -", "m3 -")
		f.want(userB, "Trash")
		f.settled()
	})
}

// TestSyncTrashCopyOfAnUnfinishedMove: a's user deletes m1 (deletions
// to the trash), and a run moving b's copy into b's trash copied it
// there and was killed before it expunged the original (a move into
// several folders goes as UID COPYs, then one UID EXPUNGE), its state
// lost: here b's copy is copied into b's trash as that run left it. The
// next run expunges b's original, and the copy stays in b's trash only.
// Before, it was taken for new mail in b's trash and copied into a's,
// bringing back to a what a's user deleted (testdata case 233;
// TestRandomEndToEnd -e2e.cuts, imapmemserver seed 117).
func TestSyncTrashCopyOfAnUnfinishedMove(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Trash}
		f.trashOnBoth()
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.sync()
		f.expunge(userA, "INBOX", "m1")
		uid := f.uidOf(userB, "INBOX", "m1")
		f.clientDo(userB, func(c *imapclient.Client) error {
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				return err
			}
			_, err := c.Copy(imap.UIDSetNum(imap.UID(uid)), "Trash").Wait()
			return err
		})
		f.sync()
		f.wantBoth("INBOX", "m2 -")
		f.want(userB, "Trash", "m1 -")
		f.want(userA, "Trash")
		f.settled()
	})
}

// TestSyncFolderDeletionRefusedOnce: a's user deletes Work; the run
// expunges b's copy there, and b's server refuses the DELETE of Work
// once. The next run deletes it. Before, the state recorded Work on b
// only, b's own by agreement, and b kept it, empty, for good (found by
// TestRandomEndToEnd with -e2e.cuts, Dovecot seed 52, a-to-b: the
// connection cut at the DELETE).
func TestSyncFolderDeletionRefusedOnce(t *testing.T) {
	t.Parallel()
	for _, dir := range []reconcile.Direction{reconcile.Both, reconcile.AToB} {
		t.Run(dir.String(), func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Default = reconcile.FolderPolicy{Direction: dir, Deletion: reconcile.Propagate}
				f.put(userA, "INBOX", "m1")
				f.put(userA, "Work", "w1")
				f.sync()
				f.wantBoth("Work", "w1 -")
				f.srv.Delete(t, userA, "Work")
				f.syncRefusingFirst("DELETE", "the run whose DELETE is refused")
				f.want(userB, "Work")
				f.sync()
				f.wantNoMailbox("Work")
				f.wantBoth("INBOX", "m1 -")
				f.settled()
			})
		})
	}
}

// TestSyncDuplicatesInAResetFolder: a folder holds two copies of m1, one
// flagged, and gets a new UIDVALIDITY on one side, so its messages are
// re-paired with the state's records by identity.
//   - b's folder reset, b's user expunges the flagged copy, a's user
//     deletes the folder: b's other copy is unchanged and follows a's
//     deletion. Before, it was paired with the flagged record, read as
//     changed, and a change beating a delete made Archive again on a
//     (testdata case 157).
//   - a's Work reset, b's user moves the unflagged copy to Archive: a's
//     unflagged copy follows it, and the flagged one stays with its
//     record. Before, a's first copy was moved, and the next run found
//     work left (cases 158 and 159).
//   - a-to-b with trash, b's Work reset: a's user expunges the flagged
//     copy and flags the other, and a run whose state is lost follows
//     on b (flags b's unflagged copy, moves the flagged one to b's
//     trash). b's remaining copy is paired with a's, whose flags it has
//     now. Before, it went to the record of the copy a's user expunged,
//     whose flags it had too, and was expunged as already in the trash;
//     a's copy then read as deleted on b, which a one-way pair does not
//     undo, and b's Work lost m1 (cases 230 and 231; TestModel seed
//     1126560).
func TestSyncDuplicatesInAResetFolder(t *testing.T) {
	t.Parallel()
	uidOfCopy := func(f *syncFixture, user, mailbox, id string, flagged bool) uint32 {
		t.Helper()
		for _, m := range f.srv.Messages(t, user, mailbox) {
			if m.MessageID == id+"@example.org" && slices.Contains(m.Flags, `\Flagged`) == flagged {
				return m.UID
			}
		}
		t.Fatalf("%s has no copy of %s in %q flagged %v", user, id, mailbox, flagged)
		return 0
	}
	// startOneWayDuplicates starts the one-way rows: a-to-b with
	// trash, a's Work holding m1 twice, one copy flagged, synced.
	startOneWayDuplicates := func(t *testing.T, start imaptest.StartFunc) *syncFixture {
		t.Helper()
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Trash}
		f.trashOnBoth()
		f.put(userA, "Work", "m1", imap.FlagFlagged)
		f.put(userA, "Work", "m1")
		for _, id := range []string{"m3", "m4", "m5", "m6"} {
			f.put(userA, "INBOX", id) // under max_deletes
		}
		f.sync()
		f.want(userB, "Work", `m1 \Flagged`, "m1 -")
		return f
	}
	t.Run("deleted on the other side", func(t *testing.T) {
		t.Parallel()
		imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
			f := newSyncFixture(t, start)
			f.put(userA, "Archive", "m1", imap.FlagFlagged)
			f.put(userA, "Archive", "m1")
			f.put(userA, "Archive", "m2")
			for _, id := range []string{"m3", "m4", "m5", "m6"} {
				f.put(userA, "INBOX", id) // under max_deletes
			}
			f.sync()
			f.want(userB, "Archive", `m1 \Flagged`, "m1 -", "m2 -")
			f.recreate(userB, "Archive")
			f.srv.Expunge(t, userB, "Archive", uidOfCopy(f, userB, "Archive", "m1", true))
			f.srv.Delete(t, userA, "Archive")
			f.sync()
			f.wantNoMailbox("Archive")
			f.settled()
		})
	})
	t.Run("moved on the other side", func(t *testing.T) {
		t.Parallel()
		imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
			f := newSyncFixture(t, start)
			f.put(userA, "Work", "m1", imap.FlagFlagged)
			f.put(userA, "Work", "m1")
			f.srv.Create(t, userA, "Archive")
			f.sync()
			f.recreate(userA, "Work")
			f.srv.Move(t, userB, "Work", uidOfCopy(f, userB, "Work", "m1", false), "Archive")
			f.sync()
			f.wantBoth("Work", `m1 \Flagged`)
			f.wantBoth("Archive", "m1 -")
			f.settled()
		})
	})
	t.Run("one-way, after a run whose state was lost", func(t *testing.T) {
		t.Parallel()
		imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
			f := startOneWayDuplicates(t, start)
			f.recreate(userB, "Work")
			f.srv.Expunge(t, userA, "Work", uidOfCopy(f, userA, "Work", "m1", true))
			f.srv.AddFlags(t, userA, "Work", uidOfCopy(f, userA, "Work", "m1", false), imap.FlagFlagged)
			f.syncLosingState()
			f.want(userB, "Work", `m1 \Flagged`)
			f.want(userB, "Trash", `m1 \Flagged`)
			f.sync()
			f.wantBoth("Work", `m1 \Flagged`)
			f.want(userB, "Trash", `m1 \Flagged`)
			f.settled()
		})
	})
	t.Run("one-way, reset after a run whose state was lost", func(t *testing.T) {
		t.Parallel()
		imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
			f := startOneWayDuplicates(t, start)
			f.srv.Expunge(t, userA, "Work", uidOfCopy(f, userA, "Work", "m1", true))
			f.syncLosingState()
			f.want(userB, "Work", "m1 -")
			f.want(userB, "Trash", `m1 \Flagged`)
			f.srv.AddFlags(t, userB, "Work", uidOfCopy(f, userB, "Work", "m1", false), imap.FlagFlagged)
			f.recreate(userB, "Work")
			f.sync()
			f.want(userA, "Work", "m1 -")
			f.want(userB, "Work", `m1 \Flagged`)
			f.want(userB, "Trash", `m1 \Flagged`)
			f.settled()
		})
	})
}

// TestSyncOneWayFolderDeletedOnTargetRenamedOnSource: in an a-to-b pair,
// b's user deletes Work, and a's user renames it to Projects. With one
// RENAME (the same mailbox, its UIDVALIDITY kept) b's deletion stays: b
// gets no Projects and none of its mail (testdata case 154). Renamed by
// copy (a new mailbox holding Work's messages, as after a deletion on a
// that a run cut short may have followed on b), Projects is made on b
// with them, as in a two-way pair (case 155).
func TestSyncOneWayFolderDeletedOnTargetRenamedOnSource(t *testing.T) {
	t.Parallel()
	for _, byCopy := range []bool{false, true} {
		name := "rename"
		if byCopy {
			name = "by copy"
		}
		t.Run(name, func(t *testing.T) {
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Default.Direction = reconcile.AToB
				f.srv.Create(t, userA, "Work")
				f.put(userA, "Work", "m1")
				f.put(userA, "Work", "m2")
				f.sync()
				f.want(userB, "Work", "m1 -", "m2 -")
				f.srv.Delete(t, userB, "Work")
				if byCopy {
					f.srv.RenameByCopy(t, userA, "Work", "Projects")
				} else {
					f.srv.Rename(t, userA, "Work", "Projects")
				}
				f.sync()
				f.want(userA, "Projects", "m1 -", "m2 -")
				if byCopy {
					f.want(userB, "Projects", "m1 -", "m2 -")
				} else if mbs := f.srv.Mailboxes(t, userB); slices.Contains(mbs, "Projects") || slices.Contains(mbs, "Work") {
					t.Errorf("b's user deleted Work, and a's rename brought it back: b has %q", mbs)
				}
				f.settled()
			})
		})
	}
}

// discardState is a StateRepo that does not save: the state of a run
// killed before it committed.
type discardState struct{ reconcile.StateRepo }

func (discardState) Save(context.Context, string, reconcile.State) error { return nil }

// TestSyncMovedIntoAFolderTheOtherSideDeleted: b's user files m1 from P
// into Old, which a's user deletes meanwhile. Old stays on b only, with
// m1 (a folder deleted on one side that got mail on the other), and m1
// cannot follow on a. b holds it still, so nothing may copy it back to b:
//   - a flagged m1 meanwhile (propagate): a change beats a delete keeps
//     a's copy, one-sided; before, it was copied back to b's P, and b
//     held m1 twice (testdata case 108);
//   - b's P got a new UIDVALIDITY first (keep): m1 is not in it under any
//     UID, but it is not lost either; before, it was restored to b's P,
//     twice on b again (case 110).
func TestSyncMovedIntoAFolderTheOtherSideDeleted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		deletion reconcile.Deletion
		flagA    bool
		resetB   bool
		wantA    string
	}{
		{name: "flagged on a", deletion: reconcile.Propagate, flagA: true, wantA: `m1 \Flagged`},
		{name: "source reset on b", deletion: reconcile.Keep, resetB: true, wantA: "m1 -"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Default.Deletion = tc.deletion
				f.put(userA, "P", "m1")
				f.put(userA, "Old", "m2")
				f.sync()
				if tc.resetB {
					f.recreate(userB, "P")
				}
				f.userMove(userB, "P", "m1", "Old")
				f.srv.Delete(t, userA, "Old")
				if tc.flagA {
					f.srv.AddFlags(t, userA, "P", f.uidOf(userA, "P", "m1"), imap.FlagFlagged)
				}
				res := f.sync()
				if ca, cb := res.Plan.Counts[reconcile.A], res.Plan.Counts[reconcile.B]; ca.Copies+cb.Copies != 0 {
					t.Errorf("plan copies: a %+v, b %+v; want no copy\n%s", ca, cb, res.Plan)
				}
				f.want(userA, "P", tc.wantA)
				f.want(userB, "P")
				if tc.deletion == reconcile.Keep {
					f.want(userB, "Old", "m1 -", "m2 -")
				} else {
					f.want(userB, "Old", "m1 -")
				}
				if slices.Contains(f.srv.Mailboxes(t, userA), "Old") {
					t.Errorf("alice has Old again")
				}
				f.settled()
			})
		})
	}
}

// TestSyncFiledAwayMessageMovedBackJoinsItsCopy: b's user files m1 from
// P into Old, which a's user deletes meanwhile; Old stays b's only, and
// a's copy gets the deletion policy: kept in P (keep) or put into a's
// trash (trash). b's user then moves m1 back into Work, a folder of the
// pair: a's copy is moved there to join it, with UID MOVE. Before, m1
// was copied to a's Work, and a held it twice (testdata cases 121 and
// 122).
func TestSyncFiledAwayMessageMovedBackJoinsItsCopy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		deletion reconcile.Deletion
		// held is where a's copy is once m1 is filed away.
		held string
	}{
		{reconcile.Keep, "P"},
		{reconcile.Trash, "Trash"},
	} {
		t.Run(tc.held, func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				// Under max_deletes' 50%: a's copy of m1 is deleted
				// from the pair when b files it away.
				f.put(userA, "INBOX", "m3")
				f.put(userA, "INBOX", "m4")
				f.startFiledAway(tc.deletion)
				f.sync()
				f.want(userA, tc.held, "m1 -")
				f.want(userB, "P")

				f.userMove(userB, "Old", "m1", "Work")
				rec := f.record()
				res := f.sync()
				if c := res.Plan.Counts[reconcile.A]; c.Copies != 0 || c.Moves != 1 {
					t.Errorf("plan on a = %+v, want one move and no copy:\n%s", c, res.Plan)
				}
				f.wantMovedNotCopied(rec, 1)
				f.wantBoth("Work", "m1 -")
				f.want(userA, tc.held)
				f.settled()
			})
		})
	}
}

// TestSyncFiledAwayMessageMovedIntoTheTrashJoinsItsCopy: as in
// TestSyncFiledAwayMessageMovedBackJoinsItsCopy under keep, but b's user
// moves m1 from Old into the trash, a folder of the pair too. a's copy,
// kept in P, joins it in a's trash (moved, not copied), as a user's move
// into the trash is followed for any message the pair holds on both
// sides. Before, m1 was copied into a's trash, and a held it twice
// (TestRandomEndToEnd Dovecot seed 908; testdata case 200).
func TestSyncFiledAwayMessageMovedIntoTheTrashJoinsItsCopy(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.trashOnBoth()
		f.startFiledAway(reconcile.Keep)
		f.sync()
		f.want(userA, "P", "m1 -")
		f.want(userB, "P")

		f.userMove(userB, "Old", "m1", "Trash")
		rec := f.record()
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Copies != 0 || c.Moves != 1 {
			t.Errorf("plan on a = %+v, want one move and no copy:\n%s", c, res.Plan)
		}
		f.wantMovedNotCopied(rec, 1)
		f.wantBoth("Trash", "m1 -")
		f.want(userA, "P")
		f.settled()
	})
}

// TestSyncFailedJoinRetriedAfterTheMessageArrivedAgain: as in
// TestSyncFiledAwayMessageMovedBackJoinsItsCopy under keep, but a's
// server refuses the UID MOVE that is to join a's copy in P to b's in
// Work. The state keeps a's copy on a only, for the next run to join
// again; before it runs, m1 is delivered into b's Work once more. One of
// b's copies joins a's (moved, not copied), the other is new mail. Before
// 940e363 the join waited for b to hold one copy: both were copied to
// a, and a's copy stayed in P for good (testdata case 156).
func TestSyncFailedJoinRetriedAfterTheMessageArrivedAgain(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.startFiledAway(reconcile.Keep)
		f.sync()
		f.want(userA, "P", "m1 -")

		f.userMove(userB, "Old", "m1", "Work")
		f.syncRefusingFirstMove("the join's run")
		f.want(userA, "P", "m1 -")
		f.put(userB, "Work", "m1") // the same message, delivered again

		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Moves != 1 || c.Copies != 1 {
			t.Errorf("plan on a = %+v, want one move (the join) and one copy:\n%s", c, res.Plan)
		}
		f.want(userA, "P")
		f.wantBoth("Work", "m1 -", "m1 -")
		f.settled()
	})
}

// TestSyncFailedCrossedJoinInAOneWayPair: in a pair that flows from b to
// a, under keep, a's user moves m1, a's own mail (on a only), from INBOX
// into A2024, and b gets m1 in A2025. b's folder wins (A2024 takes
// nothing from a): the run is to move a's copy into A2025, and b's server
// refuses the UID MOVE. The state must keep a's record of m1 in INBOX as
// it was, so that the next run joins the two again. Before, it kept b's
// copy recorded on b only, which the next run read as deleted by a's
// user (kept, never copied back), and a's copy stayed in A2024 for good
// (reconcile.TestNextFailedCrossedJoinOneWay; TestModel seed 5479752).
func TestSyncFailedCrossedJoinInAOneWayPair(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.BToA, Deletion: reconcile.Keep}
		f.srv.Create(t, userB, "A2024")
		f.srv.Create(t, userB, "A2025")
		f.put(userA, "INBOX", "m1")
		f.sync()
		f.want(userA, "A2025")
		f.want(userB, "INBOX")

		f.userMove(userA, "INBOX", "m1", "A2024")
		f.put(userB, "A2025", "m1")
		f.syncRefusingFirstMove("the join's run")
		f.want(userA, "A2024", "m1 -")

		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Moves != 1 || c.Copies != 0 || len(res.Plan.Conflicts) != 1 {
			t.Errorf("plan on a = %+v, conflicts %q; want the join again, one move:\n%s", c, res.Plan.Conflicts, res.Plan)
		}
		f.want(userA, "A2024")
		f.wantBoth("A2025", "m1 -")
		f.want(userA, "INBOX")
		f.settled()
	})
}

// TestSyncFailedMoveConflictOutOfAResetFolderOneWay: in an a-to-b pair
// under keep, X gets a new UIDVALIDITY on a, and both users move m1 out
// of it, a's into Y and b's into Z. a wins (prefer, and the source):
// the run is to move b's copy into Y, and b's server refuses the UID
// MOVE. The next run must move it again. Before, the state kept a's
// copy in Y recorded on a only, which in an a-to-b folder reads as
// deleted by b's user: the next run planned nothing, and m1 stayed in
// b's Z (reconcile.TestNextFailedMoveConflictOutOfResetFolderOneWay).
func TestSyncFailedMoveConflictOutOfAResetFolderOneWay(t *testing.T) {
	t.Parallel()
	for _, resetB := range []bool{false, true} {
		name := "reset on a"
		if resetB {
			// No side's UID still names m1's place in X: the two copies
			// stay where their users put them, and neither is copied
			// (reconcile.TestNextFailedMoveConflictOutOfFolderResetOnBothSidesOneWay).
			name = "reset on both sides"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Keep}
				f.put(userA, "X", "m1")
				f.put(userA, "X", "m2")
				f.srv.Create(t, userA, "Y")
				f.srv.Create(t, userA, "Z")
				f.sync()
				f.wantBoth("X", "m1 -", "m2 -")

				f.recreate(userA, "X")
				if resetB {
					f.recreate(userB, "X")
				}
				f.userMove(userA, "X", "m1", "Y")
				f.userMove(userB, "X", "m1", "Z")
				f.syncRefusingFirstMove("the conflict's run")
				f.want(userB, "Z", "m1 -")

				res := f.sync()
				c := res.Plan.Counts[reconcile.B]
				switch {
				case resetB && (c.Moves != 0 || c.Copies != 0):
					t.Errorf("plan on b = %+v, want nothing moved or copied:\n%s", c, res.Plan)
				case !resetB && (c.Moves != 1 || c.Copies != 0):
					t.Errorf("plan on b = %+v, want b's m1 moved into Y:\n%s", c, res.Plan)
				}
				f.want(userA, "Y", "m1 -")
				if resetB {
					f.want(userB, "Y")
					f.want(userB, "Z", "m1 -")
				} else {
					f.want(userB, "Y", "m1 -")
					f.want(userB, "Z")
				}
				f.wantBoth("X", "m2 -")
				f.settled()
			})
		})
	}
}

// TestSyncFailedMoveConflictOutOfAFolderTheTargetRenamed: in an a-to-b
// pair a's user moves m1 out of Work into Y and renames Work to
// Projects; b's user renames Work to Mine, which the pair does not
// follow (Projects is made on b, empty: reconcile's testdata case 147).
// To the run m1 moved on both sides, a's to Y and b's, with its folder,
// to Mine: a conflict a wins, and the UID MOVE of b's copy into Y is
// refused. Work's record of m1 stays as the base had it, and the next
// run settles the same conflict: b's copy is moved into Y, not copied.
// The guard of the change that keeps the winner's copy recorded alone
// where that record cannot stay (reconcile's moveConflicts, the one-way
// split): applied here too, it would leave m1 in b's Mine for good.
func TestSyncFailedMoveConflictOutOfAFolderTheTargetRenamed(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Propagate}
		f.put(userA, "Work", "m1")
		f.put(userA, "Work", "m2")
		f.srv.Create(t, userA, "Y")
		f.sync()
		f.wantBoth("Work", "m1 -", "m2 -")

		f.userMove(userA, "Work", "m1", "Y")
		f.srv.Rename(t, userA, "Work", "Projects")
		f.srv.Rename(t, userB, "Work", "Mine")
		res := f.syncRefusingFirstMove("the conflict's run")
		if len(res.Plan.Conflicts) != 1 {
			t.Fatalf("the run does not settle m1's move conflict:\n%s", res.Plan)
		}

		res = f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Moves != 1 || c.Copies != 0 {
			t.Errorf("plan on b = %+v, want b's m1 moved into Y again, nothing copied:\n%s", c, res.Plan)
		}
		f.wantBoth("Y", "m1 -")
		f.want(userB, "Mine", "m2 -")
		f.settled()
	})
}

// TestSyncOneWaySourceTrashesWhatTheTargetMoved: in an a-to-b pair, b's
// user renames Work to Mine, which the pair does not follow (Mine is
// b's own, Work a's), then moves m1 from Mine into Drafts; a's user
// moves m1 from Work into the trash and deletes Work. Both users moved
// the message back into the pair: the source wins, and b's copy follows
// a's into the trash (moved, not copied). Before, the trash never won a
// crossed join, a's copy was copied into b's trash, and b held m1 twice
// (TestRandomEndToEnd Dovecot seed 1007; testdata case 202).
func TestSyncOneWaySourceTrashesWhatTheTargetMoved(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Propagate}
		f.trashOnBoth()
		f.put(userA, "Work", "m1")
		f.put(userA, "Work", "m2")
		f.srv.Create(t, userA, "Drafts")
		f.sync()
		f.wantBoth("Work", "m1 -", "m2 -")

		f.srv.Rename(t, userB, "Work", "Mine")
		f.sync()
		f.want(userB, "Mine", "m1 -", "m2 -")

		f.userMove(userB, "Mine", "m1", "Drafts")
		f.userMove(userA, "Work", "m1", "Trash")
		f.srv.Delete(t, userA, "Work")
		rec := f.record()
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Copies != 0 || c.Moves != 1 {
			t.Errorf("plan on b = %+v, want b's m1 moved into the trash, nothing copied:\n%s", c, res.Plan)
		}
		// a is prefer too, but in a one-way pair the source wins
		// whatever prefer says: the report gives that reason.
		if !slices.ContainsFunc(res.Plan.Conflicts, func(c string) bool { return strings.Contains(c, "a wins (the source: a-to-b)") }) {
			t.Errorf("conflicts %q, want a's win reported as the source's", res.Plan.Conflicts)
		}
		f.wantMovedNotCopied(rec, 1)
		f.wantBoth("Trash", "m1 -")
		f.want(userB, "Drafts")
		f.want(userB, "Mine", "m2 -")
		f.settled()
	})
}

// TestSyncRenameByCopyBesideAStaleFolder: both users move m6 out of F1,
// a's into R7 and b's into INBOX, and b's user deletes F1. The run
// deletes a's F1, and b's server refuses the UID MOVE that settles the
// conflict, so the state keeps F1's record of m6. Then a's server
// renames R7 by copy to R11, and b's user moves m6 and m8 into R7. Both
// F1 and R7 have their one message in R11: as good evidence as each
// other. R7, which b lists still, is the folder renamed. Before, F1
// took R11 by name order: R7 read as deleted on a, and m6 and m8, moved
// into it on b, as filed away there, so a's copies were expunged
// (testdata case 205; TestModelMovesIntoTheTrash seed 26041, before
// its one-way cases).
func TestSyncRenameByCopyBesideAStaleFolder(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Propagate
		f.put(userA, "F1", "m6")
		f.put(userA, "R7", "m7")
		f.put(userA, "INBOX", "m8")
		// Under max_deletes' 50%.
		for _, id := range []string{"m1", "m2", "m3"} {
			f.put(userA, "INBOX", id)
		}
		f.sync()

		f.userMove(userA, "F1", "m6", "R7")
		f.userMove(userB, "F1", "m6", "INBOX")
		f.srv.Delete(t, userB, "F1")
		res := f.syncRefusingFirstMove("the conflict's run")
		if len(res.Plan.Conflicts) != 1 {
			t.Fatalf("the run does not settle m6's move conflict:\n%s", res.Plan)
		}
		if have := f.srv.Mailboxes(t, userA); slices.Contains(have, "F1") {
			t.Fatalf("the run did not delete a's F1: %q", have)
		}

		f.srv.RenameByCopy(t, userA, "R7", "R11")
		f.userMove(userB, "INBOX", "m6", "R7")
		f.userMove(userB, "INBOX", "m8", "R7")
		res = f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Expunges != 0 || c.Moves != 1 {
			t.Errorf("plan on a = %+v, want m8 moved into R11, nothing expunged:\n%s", c, res.Plan)
		}
		f.wantBoth("R11", "m6 -", "m7 -", "m8 -")
		f.settled()
	})
}

// TestSyncFailedMoveConflictLeavesALoadableState: in an a-to-b pair, a's
// server gives Work/Sub a new UIDVALIDITY and a's user moves m5 from it
// into Work; the Move that follows on b fails, and the state keeps m5's
// record at a UID not known on a. Then both users rename Work, a's to R
// and b's to Mine, which the pair does not follow (R and R/Sub are made
// on b); m5 is in R on a and in Mine/Sub on b, moved on both sides, and
// the Move of b's copy into R, which settles the conflict, fails too.
// Before, the state written then held a record at a UID not known on a
// and no UID on b, which the state codec refuses: every later run
// stopped on it (reconcile.TestNextFailedMoveConflictLeavesALoadableState;
// TestModelMovesAndRenamesOneWay seed 869). And the next run must not
// copy a's m5 to b, which holds its own. Dovecot only: imapmemserver's
// RENAME leaves a folder's children behind.
func TestSyncFailedMoveConflictLeavesALoadableState(t *testing.T) {
	t.Parallel()
	// With createFails, b's CREATE of R, where m5 was to go, is refused
	// too: the state keeps Work as the base had it, with a's m5 in it
	// recorded on a only (reconcile's keptOrig).
	for _, createFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("create fails %v", createFails), func(t *testing.T) {
			t.Parallel()
			f := newSyncFixture(t, imaptest.StartDovecot)
			f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Propagate}
			f.policy.Prefer = reconcile.A
			f.put(userA, "Work", "m2")
			f.put(userA, "Work/Sub", "m1")
			f.put(userA, "Work/Sub", "m5")
			f.sync()
			f.wantBoth("Work/Sub", "m1 -", "m5 -")

			f.recreate(userA, "Work/Sub")
			f.userMove(userA, "Work/Sub", "m5", "Work")
			f.syncRefusingFirstMove("the follow-Move's run")
			f.want(userB, "Work/Sub", "m1 -", "m5 -")

			f.srv.Rename(t, userA, "Work", "R")
			f.srv.Rename(t, userB, "Work", "Mine")
			var res *reconcile.Result
			if createFails {
				res = f.syncRefusingFirstOfEach("the conflict's run", "UID MOVE", "CREATE")
			} else {
				res = f.syncRefusingFirstMove("the conflict's run")
			}
			if len(res.Plan.Conflicts) != 1 {
				t.Fatalf("the run does not settle m5's move conflict:\n%s", res.Plan)
			}
			if _, err := f.attempt(false); err != nil {
				t.Fatalf("the run after the failed Move: %v", err)
			}
			f.want(userA, "R", "m2 -", "m5 -")
			var m5 []string
			for _, mb := range []string{"INBOX", "R", "R/Sub", "Mine", "Mine/Sub"} {
				if slices.Contains(f.contents(userB, mb), "m5 -") {
					m5 = append(m5, mb)
				}
			}
			if len(m5) != 1 {
				t.Errorf("b holds m5 in %q, want one folder", m5)
			}
			f.settled()
		})
	}
}

// TestSyncFailedRevivalAfterATargetMoveOut: in an a-to-b pair b's user
// moves m2 out of Work into INBOX and deletes Work, and a's server makes
// Work anew as Projects (a rename by copy). Work is made again on b as
// Projects, with m1; m2 stays where b's user put it. b's server refuses
// the CREATE. The next run must do the same: make Projects with m1, and
// leave m2 in b's INBOX. Before, the failed run recorded b's m2 twice
// (in the base's Work, kept, and in INBOX), and the next run copied m2
// into Projects: b held it twice
// (reconcile.TestNextFailedRevivalAfterATargetMoveOut;
// TestModelMovesAndRenamesOneWay seed 12893).
func TestSyncFailedRevivalAfterATargetMoveOut(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Propagate}
		f.put(userA, "Work", "m1")
		f.put(userA, "Work", "m2")
		f.sync()
		f.wantBoth("Work", "m1 -", "m2 -")

		f.userMove(userB, "Work", "m2", "INBOX")
		f.srv.Delete(t, userB, "Work")
		f.srv.RenameByCopy(t, userA, "Work", "Projects")
		f.syncRefusingFirst("CREATE", "the revival's run")

		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Copies != 1 || c.Moves != 0 || c.FoldersCreated != 1 {
			t.Errorf("plan on b = %+v, want Projects made with m1 alone:\n%s", c, res.Plan)
		}
		f.want(userA, "Projects", "m1 -", "m2 -")
		f.want(userB, "Projects", "m1 -")
		f.want(userB, "INBOX", "m2 -")
		f.settled()
	})
}

// TestSyncFailedRevivalOfAFolderTheTargetRenamed: in an a-to-b pair both
// users rename Work, a's to Projects and b's to Mine. The pair does not
// follow b's rename: Mine stays b's, with b's copies, and the run makes
// Projects on b, empty, for a's mail to come (reconcile's testdata case
// 147). b's server refuses the CREATE. The next run must make Projects
// again, and copy nothing: b holds m1 and m2 in Mine. Before, the failed
// run recorded b's copies twice (in the base's Work, kept, and in Mine),
// and the next run copied both into Projects
// (reconcile.TestNextFailedRevivalOfAFolderTheTargetRenamed;
// TestModelMovesAndRenamesOneWay seed 40).
func TestSyncFailedRevivalOfAFolderTheTargetRenamed(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Propagate}
		f.put(userA, "Work", "m1")
		f.put(userA, "Work", "m2")
		f.sync()
		f.wantBoth("Work", "m1 -", "m2 -")

		f.srv.Rename(t, userA, "Work", "Projects")
		f.srv.Rename(t, userB, "Work", "Mine")
		f.syncRefusingFirst("CREATE", "the revival's run")

		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Copies != 0 || c.Moves != 0 || c.FoldersCreated != 1 {
			t.Errorf("plan on b = %+v, want Projects made and nothing copied or moved:\n%s", c, res.Plan)
		}
		f.want(userA, "Projects", "m1 -", "m2 -")
		f.want(userB, "Projects")
		f.want(userB, "Mine", "m1 -", "m2 -")
		f.settled()
	})
}

// TestSyncFailedRevivalThenTheMovedOutMessageMovedBack: a's user renames
// R5 to R9 and moves m1 out of it into INBOX, and b's user deletes R5.
// The run is to make R9 again on b with m2, and to copy m1 to b's INBOX;
// b's server refuses the CREATE, and the state keeps R5 for the next run
// to find the same rename again, but without m1's record there, which
// is INBOX's now. a's user then moves m1 into R9: the next run must move
// b's copy there with one UID MOVE. Before, R5's stale record claimed
// m1 in R9: m1 was copied to b's R9 and b's INBOX copy put into b's
// trash, a second copy on b (reconcile.TestNextFailedRevivalLeavesMovedOutRecords;
// TestModelMovesAndRenames seed 205661).
func TestSyncFailedRevivalThenTheMovedOutMessageMovedBack(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Trash
		f.put(userA, "R5", "m1")
		f.put(userA, "R5", "m2")
		// Under max_deletes' 50%: the trashing of b's m1 that the
		// stale record caused is then carried out, not refused.
		f.put(userA, "INBOX", "m3")
		f.put(userA, "INBOX", "m4")
		f.sync()
		f.wantBoth("R5", "m1 -", "m2 -")

		f.srv.Rename(t, userA, "R5", "R9")
		f.userMove(userA, "R9", "m1", "INBOX")
		f.srv.Delete(t, userB, "R5")
		f.syncRefusingFirst("CREATE", "the run whose CREATE of R9 fails")
		f.want(userB, "INBOX", "m1 -", "m3 -", "m4 -")

		f.userMove(userA, "INBOX", "m1", "R9")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Moves != 1 || c.Copies != 1 || c.Trashed != 0 {
			t.Errorf("plan on b = %+v, want m1 moved and m2 copied, nothing trashed:\n%s", c, res.Plan)
		}
		f.wantBoth("R9", "m1 -", "m2 -")
		f.wantBoth("INBOX", "m3 -", "m4 -")
		f.settled()
	})
}

// TestSyncFailedFollowThenTheMessageExpunged: under keep, b's user moves
// m2 out of Archive into INBOX, flags it, and deletes Archive. The run
// stores the flag on a's copy and is to move it to INBOX; a's server
// refuses the UID MOVE. b's user then expunges m2. a's copy stays in
// Archive, on a only (keep), and Archive is not made again on b: the
// state keeps m2's record with the flags the run stored, so the next run
// does not take them for a change by a's user, which would beat b's
// deletion of Archive (reconcile.TestNextFailedFollowKeepsStoredFlags;
// TestModel seed 1607162).
func TestSyncFailedFollowThenTheMessageExpunged(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "Archive", "m2", imap.FlagSeen)
		f.sync()
		f.wantBoth("Archive", `m2 \Seen`)

		f.userMove(userB, "Archive", "m2", "INBOX")
		f.srv.AddFlags(t, userB, "INBOX", f.uidOf(userB, "INBOX", "m2"), imap.FlagFlagged)
		f.srv.Delete(t, userB, "Archive")
		f.syncRefusingFirstMove("the run whose move of a's m2 fails")
		f.want(userA, "Archive", `m2 \Flagged,\Seen`)

		f.expunge(userB, "INBOX", "m2")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.FoldersCreated != 0 || c.Copies != 0 {
			t.Errorf("plan on b = %+v, want Archive not made again:\n%s", c, res.Plan)
		}
		if slices.Contains(f.srv.Mailboxes(t, userB), "Archive") {
			t.Errorf("b's Archive, which b's user deleted, is there again")
		}
		f.want(userA, "Archive", `m2 \Flagged,\Seen`)
		f.settled()
	})
}

// TestSyncFailedConflictOutOfAFolderDeletedOnBothSides: a's user moves m1
// out of X into INBOX and deletes X, b's user moves b's copy to Y. b
// (prefer) wins the move conflict: the run moves a's copy to Y and
// deletes b's X, now empty; a's server refuses the UID MOVE. Then a's
// user moves m1 again, into New. The next run must still see a move
// conflict and move a's copy to Y, uploading nothing. Before, the state
// kept m1's record in X with b's UID but X gone from b, and the next run
// read X as renamed to New on a and b's copy as deleted there: m1 was
// uploaded to a's Y and expunged from a's New (TestModelMovesAndRenames
// seed 40530 of -movemodel.bugs 7,10, where later failures left it twice
// on each side; TestNextFailedConflictOutOfFolderDeletedHere).
func TestSyncFailedConflictOutOfAFolderDeletedOnBothSides(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Prefer = reconcile.B
		f.put(userA, "X", "m1")
		f.srv.Create(t, userA, "Y")
		f.sync()
		f.wantBoth("X", "m1 -")

		f.userMove(userA, "X", "m1", "INBOX")
		f.srv.Delete(t, userA, "X")
		f.userMove(userB, "X", "m1", "Y")
		res := f.syncRefusingFirstMove("the conflict's run")
		if len(res.Plan.Conflicts) != 1 {
			t.Fatalf("plan conflicts = %q, want one", res.Plan.Conflicts)
		}
		f.wantNoMailbox("X")
		f.want(userA, "INBOX", "m1 -")

		f.srv.Create(t, userA, "New")
		f.userMove(userA, "INBOX", "m1", "New")
		rec := f.record()
		res = f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Moves != 1 || c.Copies != 0 || c.Expunges != 0 {
			t.Errorf("plan on a = %+v, want one move only:\n%s", c, res.Plan)
		}
		f.wantMovedNotCopied(rec, 1)
		f.want(userA, "New")
		f.wantBoth("Y", "m1 -")
		f.settled()
	})
}

// TestSyncMovedOnBDeletedOnAWithAKeptCopyElsewhere: m1 is in INBOX on
// both sides, and a's Lists holds another copy of it, on a only since
// b's user deleted Lists (kept there: Lists is under keep). Then a's user
// deletes m1 from INBOX and b's user moves b's copy to Archive: a move on
// b and a deletion on a, so b's copy goes to a's Archive (change beats
// delete). Before, a's copy in Lists was taken for the message a's user
// had filed away while b's user moved it, and m1 stayed in b's Archive
// only (testdata case 160; TestModel seed 688800).
func TestSyncMovedOnBDeletedOnAWithAKeptCopyElsewhere(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Rules = []reconcile.Rule{{Pattern: "Lists", FolderPolicy: reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Keep}}}
		f.put(userA, "INBOX", "m1")
		f.put(userA, "Lists", "m1")
		f.srv.Create(t, userA, "Archive")
		f.sync()
		f.wantBoth("Lists", "m1 -")

		f.srv.Delete(t, userB, "Lists")
		f.sync()
		f.want(userA, "Lists", "m1 -")

		f.expunge(userA, "INBOX", "m1")
		f.userMove(userB, "INBOX", "m1", "Archive")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Copies != 1 {
			t.Errorf("plan on a = %+v, want one copy:\n%s", c, res.Plan)
		}
		f.wantBoth("Archive", "m1 -")
		f.want(userA, "Lists", "m1 -")
		f.settled()
	})
}

// TestSyncFiledAwayIntoAFolderMadeAgainThenMovedOut: b's user files m1
// from P into Old, which a's user deletes meanwhile, and flags m2 there:
// the change beats the deletion, and Old is made again on a with m2, not
// with m1 (a holds its own copy still, kept in P). The state has m1 in
// Old on b only, away from a: a's user never deleted it there. b's user
// then moves m1 into Work, a folder of the pair: a's copy joins it, with
// UID MOVE. Before, the record read as a kept copy's, and m1 stayed b's
// only in Work, and a's in P (testdata case 131; TestModelMovesAndRenames
// seeds 1760 and 2306 of -movemodel.bugs 6). The away mark goes through
// the state repository between the two runs.
func TestSyncFiledAwayIntoAFolderMadeAgainThenMovedOut(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.startFiledAwayMadeAgain()

		f.userMove(userB, "Old", "m1", "Work")
		rec := f.record()
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Copies != 0 || c.Moves != 1 {
			t.Errorf("plan on a = %+v, want one move and no copy:\n%s", c, res.Plan)
		}
		f.wantMovedNotCopied(rec, 1)
		f.wantBoth("Work", "m1 -")
		f.want(userA, "P")
		f.settled()
	})
}

// TestSyncFiledAwayFolderMadeAgainWhileTheKeptCopyMoved: under keep, b's
// user files m1 from P into Old, which a's user deletes meanwhile, and
// flags m2 there: Old is made again on a with m2, m1 stays b's only
// there, away from a, and a's copy stays in P, a's only. Then a's user
// moves that copy to Work, b's user renames Old to New, and a's user
// deletes Old again: New is made again on a with b's messages. Both users
// moved m1, to different folders of the pair: a move conflict, and the
// prefer side's folder wins (b's New): a's copy joins it, moved, not
// copied. Before, b's m1 was copied to a with New, and a held it twice,
// in New and in Work (testdata cases 163 and 164;
// TestModelMovesAndRenames seed 139772).
func TestSyncFiledAwayFolderMadeAgainWhileTheKeptCopyMoved(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Prefer = reconcile.B
		f.startFiledAwayMadeAgain()

		f.userMove(userA, "P", "m1", "Work")
		f.srv.Rename(t, userB, "Old", "New")
		f.srv.Delete(t, userA, "Old")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Copies != 1 || c.Moves != 1 {
			t.Errorf("plan on a = %+v, want one copy (m2, with New) and one move (m1's join):\n%s", c, res.Plan)
		}
		if len(res.Plan.Conflicts) != 1 {
			t.Errorf("conflicts %q, want one: m1 moved on both sides", res.Plan.Conflicts)
		}
		f.wantBoth("New", "m1 -", `m2 \Flagged`)
		f.wantBoth("Work")
		f.settled()
	})
}

// TestSyncFiledAwayMessageMovedBackOnBothSides: as
// TestSyncFiledAwayMessageMovedBackJoinsItsCopy under keep, but a's user
// moves a's kept copy of m1 to Lists while b's user moves the filed-away
// one back to Work: the two join in the prefer side's folder (a's,
// Lists), with one UID MOVE on b, reported as a conflict. Before, each
// was copied to the other side, and each side held m1 twice (testdata
// case 128).
func TestSyncFiledAwayMessageMovedBackOnBothSides(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Prefer = reconcile.A
		f.srv.Create(t, userA, "Lists")
		f.startFiledAway(reconcile.Keep)
		f.sync()
		f.want(userA, "P", "m1 -")

		f.userMove(userA, "P", "m1", "Lists")
		f.userMove(userB, "Old", "m1", "Work")
		f.syncJoiningOnce()
		f.wantBoth("Lists", "m1 -")
		f.wantBoth("Work")
		f.settled()
	})
}

// TestSyncSwappedOneSidedCopiesJoin: after startFiledAwayMadeAgain, m1
// is a's only in P and b's only in Old. Then each user moves its copy
// into the folder the other's copy left: a's into Old, b's into P. Both
// users moved the message, to different folders: the prefer side's
// folder wins, and the other side's copy joins it there with one UID
// MOVE, reported as a conflict. Before, each one-sided record took the
// other side's new copy by identity, as a change that beats a deletion,
// and each side held m1 twice (testdata cases 169 and 170).
func TestSyncSwappedOneSidedCopiesJoin(t *testing.T) {
	t.Parallel()
	for _, prefer := range []reconcile.Side{reconcile.A, reconcile.B} {
		t.Run("prefer "+prefer.String(), func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Prefer = prefer
				f.startFiledAwayMadeAgain()

				f.userMove(userA, "P", "m1", "Old")
				f.userMove(userB, "Old", "m1", "P")
				f.syncJoiningOnce()
				if prefer == reconcile.A { // a's folder wins: Old
					f.wantBoth("Old", "m1 -", `m2 \Flagged`)
					f.wantBoth("P")
				} else {
					f.wantBoth("Old", `m2 \Flagged`)
					f.wantBoth("P", "m1 -")
				}
				f.settled()
			})
		})
	}
}

// TestSyncFiledAwayOnBothSidesInTurn: under deletion = keep, b's user
// files m1 into Old, which a's user deletes, and a's user flags m1: a's
// copy stays, a's only, in P. Then b's user moves b's copy back to P,
// while a's user files a's into Gone, a folder b deleted (kept on a).
// Neither is a deletion: each side holds m1 once, where its user put
// it, and nothing is copied.
// Before, the run found b's copy back in P where the state had a's, took
// it for a's deleted copy changed on b, and copied it to a's P: a held
// m1 twice (testdata case 138).
func TestSyncFiledAwayOnBothSidesInTurn(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "P", "m1")
		f.put(userA, "Old", "m2")
		f.put(userA, "Gone", "m3")
		f.sync()
		f.userMove(userB, "P", "m1", "Old")
		f.srv.AddFlags(t, userA, "P", f.uidOf(userA, "P", "m1"), imap.FlagFlagged)
		f.srv.Delete(t, userA, "Old")
		f.srv.Delete(t, userB, "Gone")
		f.sync()
		f.want(userA, "P", `m1 \Flagged`)
		f.want(userA, "Gone", "m3 -")
		f.want(userB, "Old", "m1 -", "m2 -")

		f.userMove(userB, "Old", "m1", "P")
		f.userMove(userA, "P", "m1", "Gone")
		rec := f.record()
		res := f.sync()
		if c := res.Plan.Counts; c[reconcile.A].Copies != 0 || c[reconcile.B].Copies != 0 {
			t.Errorf("plan copies: %+v, want none:\n%s", c, res.Plan)
		}
		f.wantMovedNotCopied(rec, 0)
		f.want(userA, "P")
		f.want(userA, "Gone", `m1 \Flagged`, "m3 -")
		f.want(userB, "P", "m1 -")
		f.settled()
	})
}

// TestSyncKeptMessageMovedStaysOnItsSide: under deletion = keep, b's
// user deletes m1 and the run leaves a's copy, one-sided. a's user then
// files it into Archive: it stays a's only. Before, it was new in
// Archive to the planner and copied to b, whose user had deleted it
// (testdata case 116).
func TestSyncKeptMessageMovedStaysOnItsSide(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.srv.Create(t, userA, "Archive")
		f.sync()
		f.expunge(userB, "INBOX", "m1")
		f.sync()
		f.want(userA, "INBOX", "m1 -", "m2 -")
		f.want(userB, "INBOX", "m2 -")

		f.userMove(userA, "INBOX", "m1", "Archive")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Copies != 0 {
			t.Errorf("plan on b = %+v, want no copy:\n%s", c, res.Plan)
		}
		f.want(userA, "Archive", "m1 -")
		f.want(userB, "Archive")
		f.wantBoth("INBOX", "m2 -")
		f.settled()
	})
}

// TestSyncFailedMoveOutOfAResetFolderThenDeleted: Projects gets a new
// UIDVALIDITY on a, a's user moves m1 from there to Work, and b's server
// refuses the UID MOVE that was to follow; then a's user deletes m1 from
// Work. The next run must expunge b's copy too (deletions propagate).
// Before, the state kept b's copy in Projects on b only, no longer linked
// to the copy a's user had moved, and b kept m1 for good
// (reconcile.TestNextFailedMoveOutOfResetFolderThenDeleted; TestModel
// seeds 1927891, 2484218 and 3503452).
func TestSyncFailedMoveOutOfAResetFolderThenDeleted(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "Projects", "m1")
		f.put(userA, "Projects", "m2", imap.FlagSeen)
		f.srv.Create(t, userA, "Work")
		f.sync()

		f.recreate(userA, "Projects")
		f.userMove(userA, "Projects", "m1", "Work")
		f.syncRefusingFirstMove("the run whose UID MOVE of m1 on b fails")
		f.want(userB, "Projects", "m1 -", `m2 \Seen`)

		f.expunge(userA, "Work", "m1")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Copies != 0 {
			t.Errorf("plan copies %d to a, want none:\n%s", c.Copies, res.Plan)
		}
		f.wantBoth("Projects", `m2 \Seen`)
		f.wantBoth("Work")
		f.settled()
	})
}

// TestSyncUnreportedUIDThenDeleted: a run copies m2 to b, and b's
// server answers the APPEND without its APPENDUID (UIDPLUS announced),
// so the copy's new UID is not known. Then a's user deletes m2. The next
// run must expunge b's copy (deletions propagate) and copy nothing to a.
// Before, the state dropped m2's record for the next run to pair the two
// copies afresh: b's copy was new to it, and came back to a
// (reconcile.TestNextUnreportedUIDThenDeleted; TestModel seed 2235184).
func TestSyncUnreportedUIDThenDeleted(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "Archive", "m1")
		f.sync()

		f.put(userA, "Archive", "m2", imap.FlagSeen)
		f.syncWithoutAppendUID(1)
		f.want(userB, "Archive", "m1 -", `m2 \Seen`)

		f.expunge(userA, "Archive", "m2")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Copies != 0 {
			t.Errorf("plan copies %d to a, want none:\n%s", c.Copies, res.Plan)
		}
		f.wantBoth("Archive", "m1 -")
		f.settled()
	})
}

// TestSyncUnreportedUIDThenTrashedAndDeliveredAgain: the run that copies
// m2 to b's Archive gets no APPENDUID back, so the state has b's copy at
// no known UID. Then a's user deletes m2 into a's trash, and m2 arrives
// in a's Archive again. b's copy is still in b's Archive, and pairs with
// a's new one there; a's trash copy is new mail in the trash, and goes
// to b's trash. Before, b's copy, gone from its unknown UID, read as
// moved out of Archive on b too: to the planner both users had deleted
// m2 into their trash, and a's trash copy stayed on a only (table case
// 207; TestModel seed 5187105).
func TestSyncUnreportedUIDThenTrashedAndDeliveredAgain(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Trash
		f.trashOnBoth()
		f.put(userA, "Archive", "m1")
		f.sync()

		f.put(userA, "Archive", "m2", imap.FlagSeen)
		f.syncWithoutAppendUID(1)
		f.want(userB, "Archive", "m1 -", `m2 \Seen`)

		f.userMove(userA, "Archive", "m2", "Trash")
		f.put(userA, "Archive", "m2", imap.FlagSeen)
		f.sync()
		f.wantBoth("Archive", "m1 -", `m2 \Seen`)
		f.wantBoth("Trash", `m2 \Seen`)
		f.settled()
	})
}

// TestSyncOneWayFailedJoinThenFolderRenamedAndDeleted is known bug 16's
// TestModelMovesAndRenamesOneWay seed 8911, against a real server. In an
// a-to-b pair a's user renames F1 to R4 by copy (new UIDVALIDITYs, F1/F2
// going along to R4/F2) and moves m6 from R4/F2 to INBOX, while b's user
// moves b's m6 from F1/F2 to F1. The run's RENAME of b's F1 is refused,
// and with it the join of b's m6 into INBOX; the next run's RENAME goes,
// but the join is refused again. The state keeps b's record of m6 in
// R4/F2, on b only, to link the two copies. Then b's user deletes R4/F2
// and a's user renames R4 to R5. Renamed on a and deleted on b, R5/F2's
// base is a's records only, and b's link record is the original's: the
// join finds it there, and b's m6 joins a's in INBOX with one UID MOVE.
// Before, the run found no record of b's m6, copied a's to b as new
// mail, and b held it twice (testdata case 208). On Dovecot only:
// imapmemserver's RENAME leaves the names under the old one where they
// are (LIBNOTES.md).
func TestSyncOneWayFailedJoinThenFolderRenamedAndDeleted(t *testing.T) {
	t.Parallel()
	// "join fails again": the run's join is refused a third time. Its
	// link record is not in R5/F2's base, so the state cannot keep it
	// as the base had it; it keeps a's m6 recorded on a only, and the
	// run after copies nothing: each copy stays where its user put it
	// (reconcile.TestNextFailedJoinOfARecordInAFolderRenamedAndDeleted).
	for _, joinFails := range []bool{false, true} {
		t.Run(map[bool]string{false: "joined", true: "join fails again"}[joinFails], func(t *testing.T) {
			t.Parallel()
			f := newSyncFixture(t, imaptest.StartDovecot)
			f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Keep}
			f.put(userA, "INBOX", "m5")
			for _, id := range []string{"m1", "m2", "m3"} {
				f.put(userA, "F1", id)
			}
			f.put(userA, "F1/F2", "m4")
			f.put(userA, "F1/F2", "m6")
			f.sync()
			f.wantBoth("F1/F2", "m4 -", "m6 -")

			f.srv.RenameByCopy(t, userA, "F1", "R4")
			f.userMove(userA, "R4/F2", "m6", "INBOX")
			f.userMove(userB, "F1/F2", "m6", "F1")
			f.syncRefusingFirst("RENAME", "the run whose RENAME of b's F1 fails")
			f.syncRefusingFirstMove("the run whose join of b's m6 fails")
			f.want(userB, "R4", "m1 -", "m2 -", "m3 -", "m6 -")

			f.srv.Delete(t, userB, "R4/F2")
			f.srv.Rename(t, userA, "R4", "R5")
			if joinFails {
				f.syncRefusingFirstMove("the run whose join of b's m6 fails again")
			}
			f.syncCounting(map[string]int{"APPEND": 0})
			if joinFails {
				f.want(userB, "INBOX", "m5 -")
				f.want(userB, "R5", "m1 -", "m2 -", "m3 -", "m6 -")
			} else {
				f.want(userB, "INBOX", "m5 -", "m6 -")
				f.want(userB, "R5", "m1 -", "m2 -", "m3 -")
			}
			f.want(userA, "INBOX", "m5 -", "m6 -")
			f.settled()
		})
	}
}

// TestSyncOneWayMoveConflictOutOfAFolderRenamedByCopyOnBothSides is
// known bug 16's TestModelMovesAndRenamesOneWay seed 34216: in an a-to-b
// pair a's user moves m2 out of F to INBOX and renames F to R7, and b's
// user renames F to R6, each by copy (a new UIDVALIDITY). R6 is b's own
// (a one-way pair does not follow the target's rename), R7 is made on b,
// and b's m2, in R6, is to follow a's to INBOX, the source winning the
// move conflict; that UID MOVE is refused. F's record of m2 cannot be
// kept on b (F reads as deleted there), so the state keeps a's m2 in
// INBOX recorded on a only, and the run after sends no APPEND: each
// copy stays where its user put it. Before, no record of m2 was kept,
// the run after copied a's m2 to b's INBOX, and b held it twice
// (reconcile.TestNextFailedMoveConflictOutOfAFolderRenamedByCopyOnBothSides).
func TestSyncOneWayMoveConflictOutOfAFolderRenamedByCopyOnBothSides(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Keep}
		for _, id := range []string{"m1", "m2", "m3"} {
			f.put(userA, "F", id)
		}
		f.sync()
		f.wantBoth("F", "m1 -", "m2 -", "m3 -")

		f.userMove(userA, "F", "m2", "INBOX")
		f.srv.RenameByCopy(t, userA, "F", "R7")
		f.srv.RenameByCopy(t, userB, "F", "R6")
		res := f.syncRefusingFirstMove("the run whose move of b's m2 fails")
		if len(res.Plan.Conflicts) != 1 {
			t.Fatalf("plan = %s; want one move conflict", res.Plan)
		}
		f.syncCounting(map[string]int{"APPEND": 0})
		f.want(userA, "INBOX", "m2 -")
		f.want(userA, "R7", "m1 -", "m3 -")
		f.want(userB, "INBOX")
		f.want(userB, "R6", "m1 -", "m2 -", "m3 -")
		f.want(userB, "R7")
		f.settled()
	})
}

// TestSyncOneWayFailedJoinOfARecordInAFolderRenamedByCopy is known bug
// 16's TestModelMovesAndRenamesOneWay seeds 44994 and 59337, with the
// sides swapped: in an a-to-b pair b's user moves m1 out of P/F into G,
// b's own folder, so the state links the two copies by a's record in
// P/F, on a only. Then a's user moves m1 to INBOX and renames P (P/F
// along) to Q by copy (a new UIDVALIDITY), and b's user renames G to H
// by copy: b's m1 is to join a's in INBOX, and that UID MOVE is refused.
// a's link record names a UID of a mailbox that is gone, so the state
// cannot keep it as the base had it: it keeps a's m1 in INBOX recorded
// on a only, and the run after sends no APPEND and leaves each copy
// where its user put it. Before, no record of m1 was kept, the run after
// copied a's m1 to b's INBOX, and b held it twice
// (reconcile.TestNextFailedJoinOfARecordInAFolderRenamedByCopy).
func TestSyncOneWayFailedJoinOfARecordInAFolderRenamedByCopy(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Keep}
		f.put(userA, "P", "m2")
		f.put(userA, "P/F", "m1")
		f.sync()
		f.wantBoth("P/F", "m1 -")

		f.srv.Create(t, userB, "G")
		f.userMove(userB, "P/F", "m1", "G")
		f.sync()
		f.want(userA, "P/F", "m1 -")
		f.want(userB, "G", "m1 -")

		f.userMove(userA, "P/F", "m1", "INBOX")
		f.srv.RenameByCopy(t, userA, "P", "Q")
		f.srv.RenameByCopy(t, userB, "G", "H")
		res := f.syncRefusingFirstMove("the run whose join of b's m1 fails")
		if len(res.Plan.Conflicts) != 1 {
			t.Fatalf("plan = %s; want one join", res.Plan)
		}
		f.syncCounting(map[string]int{"APPEND": 0})
		f.want(userA, "INBOX", "m1 -")
		f.want(userB, "INBOX")
		f.want(userB, "H", "m1 -")
		f.wantBoth("Q", "m2 -")
		f.settled()
	})
}

// TestSyncOneWayFolderRenamedAlikeOnBothSides: in an a-to-b pair b's
// user expunges m3, which stays on a, and then both users rename R5 to
// R6, b's by RENAME or by copy. The source's rename is there on b
// already: R6 is R5 renamed on both sides, its records carry over, and
// the run sends no APPEND. Before, a one-way target's renames were not
// looked for, R6 read as a folder new on both sides, and m3 went to b
// again against its user's expunge (testdata cases 209 and 210).
func TestSyncOneWayFolderRenamedAlikeOnBothSides(t *testing.T) {
	t.Parallel()
	for _, byCopy := range []bool{false, true} {
		t.Run(map[bool]string{false: "RENAME", true: "by copy on b"}[byCopy], func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Keep}
				for _, id := range []string{"m1", "m2", "m3"} {
					f.put(userA, "R5", id)
				}
				f.sync()
				f.expunge(userB, "R5", "m3")
				f.sync()
				f.want(userA, "R5", "m1 -", "m2 -", "m3 -")
				f.want(userB, "R5", "m1 -", "m2 -")

				f.srv.Rename(t, userA, "R5", "R6")
				if byCopy {
					f.srv.RenameByCopy(t, userB, "R5", "R6")
				} else {
					f.srv.Rename(t, userB, "R5", "R6")
				}
				f.syncCounting(map[string]int{"APPEND": 0})
				f.want(userA, "R6", "m1 -", "m2 -", "m3 -")
				f.want(userB, "R6", "m1 -", "m2 -")
				f.wantNoMailbox("R5")
				f.settled()
			})
		})
	}
}

// TestSyncOneWayTargetMovedOutOfAFolderMadeAnew: in an a-to-b pair b's
// user moves m2 out of R5, into INBOX or into the trash, which a one-way
// pair does not follow, and then R5 gets a new UIDVALIDITY on b: b's
// user renames it by copy as a's user renames it, or b's server makes it
// anew under its name (imaptest's MakeAnew). m2 is
// missing from b's folder, which after a new UIDVALIDITY does not tell a
// deletion from a message the server lost; but b holds m2 where its user
// put it. The run copies nothing: before, it restored m2 into b's
// folder, and b held it twice (reconcile cases 211 to 213;
// TestModelMovesAndRenamesOneWay -movemodel.alike seed 155,
// TestModelMovesIntoTheTrash -movemodel.resets seeds 187 and 1029).
func TestSyncOneWayTargetMovedOutOfAFolderMadeAnew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		renamed bool   // renamed alike, by copy on b; or made anew
		to      string // where b's user moves m2
	}{
		{"renamed by copy", true, "INBOX"},
		{"made anew", false, "INBOX"},
		{"trashed, made anew", false, "Trash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Propagate}
				if tc.to == "Trash" {
					f.policy.Default.Deletion = reconcile.Trash
					f.trashOnBoth()
				}
				for _, id := range []string{"m1", "m2", "m3", "m4"} {
					f.put(userA, "R5", id)
				}
				f.sync()
				f.userMove(userB, "R5", "m2", tc.to)
				folder := "R5"
				if tc.renamed {
					folder = "R6"
					f.srv.Rename(t, userA, "R5", "R6")
					f.srv.RenameByCopy(t, userB, "R5", "R6")
				} else {
					f.srv.MakeAnew(t, userB, "R5")
				}
				f.syncCounting(map[string]int{"APPEND": 0})
				f.want(userA, folder, "m1 -", "m2 -", "m3 -", "m4 -")
				f.want(userB, folder, "m1 -", "m3 -", "m4 -")
				f.want(userB, tc.to, "m2 -")
				f.settled()
			})
		})
	}
}

// TestSyncOneWayBackUnderANewUIDAfterTheTargetTrashedAndMadeAnew: in an
// a-to-b pair under trash, b's user moves m2 into the trash and b's
// server makes R5 anew, as in the "trashed, made anew" case above; and
// a's user expunges m2 and puts it back (a new UID). The copy back
// under a new UID beats the deletion, as where b's folder kept its
// UIDVALIDITY (reconcile case 204): b's copy is moved out of the trash
// into R5, not a second one copied. Before, b's copy in its trash read
// as its user's deletion before the new UIDVALIDITY, which a one-way
// pair does not follow: R5 held m2 on a and not on b, run after run
// (reconcile case 221; TestModel seed 191883).
func TestSyncOneWayBackUnderANewUIDAfterTheTargetTrashedAndMadeAnew(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Trash}
		f.trashOnBoth()
		for _, id := range []string{"m1", "m2", "m3"} {
			f.put(userA, "R5", id)
		}
		f.sync()
		f.userMove(userB, "R5", "m2", "Trash")
		f.srv.MakeAnew(t, userB, "R5")
		f.srv.Expunge(t, userA, "R5", f.uidOf(userA, "R5", "m2"))
		f.put(userA, "R5", "m2")
		f.syncCounting(map[string]int{"APPEND": 0})
		f.wantBoth("R5", "m1 -", "m2 -", "m3 -")
		f.want(userB, "Trash")
		f.settled()
	})
}

// TestSyncFolderMadeAnewWithTwoCopiesOfOneMessage: F holds two copies
// of m1, one flagged. a's user expunges the other, which under keep
// stays on b: the state holds it on b only. a's user then marks a's copy
// seen, and a's server makes F anew (new UIDVALIDITY, new UIDs). a's one
// copy re-pairs by identity with the record that held it on a, not with
// the one a never had again: b's flagged copy is marked seen, and a
// holds one copy. Before, records re-paired in the state's order, by
// their UID on a, so the record on b only (0 on a) took a's copy, the
// flagged record's copy was restored to a, and a held the copy its user
// had expunged again (reconcile case 218; TestModel -model.mirror seed
// 910).
func TestSyncFolderMadeAnewWithTwoCopiesOfOneMessage(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "F", "m1", imap.FlagFlagged)
		plain := f.put(userA, "F", "m1")
		f.sync()
		f.wantBoth("F", "m1 \\Flagged", "m1 -")

		f.srv.Expunge(t, userA, "F", plain)
		f.sync()
		f.want(userA, "F", "m1 \\Flagged")
		f.want(userB, "F", "m1 \\Flagged", "m1 -")

		f.srv.AddFlags(t, userA, "F", f.uidOf(userA, "F", "m1"), imap.FlagSeen)
		f.srv.MakeAnew(t, userA, "F")
		f.syncCounting(map[string]int{"APPEND": 0})
		f.want(userA, "F", "m1 \\Flagged,\\Seen")
		f.want(userB, "F", "m1 \\Flagged,\\Seen", "m1 -")
		f.settled()
	})
}

// TestSyncOneWayChildRenamedAlikeByCopy: in a b-to-a pair a's user moves
// m6 out of R4/F2/F3 into R5, a's own folder, which the pair does not
// follow: the state keeps b's copy there on b only. Then both users
// rename R4 to R6, b's by RENAME (which takes R4/F2 and R4/F2/F3 along),
// a's by copy (new UIDVALIDITIES). R4/F2, empty, has nothing to be told
// by on a, but went along with its parent there as on b. Before, a's
// R6/F2 read as another folder of a's, so R4/F2 was renamed on neither
// side, nor, its parent dropped, R4/F2/F3 on b; R4/F2/F3 read as renamed
// on a alone, its record of b's one-sided copy was lost, and m6 was
// copied to a's R6/F2/F3 as new: a held it twice (testdata case 215;
// TestModelMovesAndRenamesOneWay -movemodel.resets -movemodel.alike seed
// 119190). In an a-to-b pair the same case did not go wrong: which side
// the source is decided the order in which the planner dropped the two
// sides' renames of R4/F2/F3. On Dovecot only: imapmemserver's RENAME
// leaves the names under the old one where they are (LIBNOTES.md).
func TestSyncOneWayChildRenamedAlikeByCopy(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.BToA, Deletion: reconcile.Keep}
	f.put(userB, "R4", "m5")
	f.srv.Create(t, userB, "R4/F2")
	f.put(userB, "R4/F2/F3", "m6")
	f.put(userB, "R4/F2/F3", "m9")
	f.sync()
	f.wantBoth("R4/F2/F3", "m6 -", "m9 -")
	f.srv.Create(t, userA, "R5")
	f.userMove(userA, "R4/F2/F3", "m6", "R5")
	f.sync()

	f.srv.Rename(t, userB, "R4", "R6")
	f.srv.RenameByCopy(t, userA, "R4", "R6")
	f.syncCounting(map[string]int{"APPEND": 0})
	f.want(userB, "R6/F2/F3", "m6 -", "m9 -")
	f.want(userA, "R6/F2/F3", "m9 -")
	f.want(userA, "R5", "m6 -")
	f.wantBoth("R6", "m5 -")
	f.settled()
}

// TestSyncOneWayRenameDroppedOnBothSides: in a b-to-a pair a's user moves
// m6 out of R4/F2/F3 into R5, a's own folder, so the state keeps b's copy
// there on b only. Then b's user renames R4 to R6 (the RENAME takes R4/F2
// and R4/F2/F3 along), and a's user renames R4/F2 to R6/F2 by copy,
// keeping R4. R4/F2's rename on b is dropped (a lists R6/F2, empty, as a
// folder of its own), and R4/F2/F3's with it; a's R6/F2/F3 holds m9, but
// b lists R6/F2/F3 too, no longer as R4/F2/F3 renamed: no rename on a
// either, and R4/F2/F3 goes along with R4, its record of b's copy kept.
// Before, the renames were dropped in one pass, a's first: a's stood,
// R4/F2/F3 read as renamed on a alone, and m6 was copied to a, which held
// it twice; with the sides swapped nothing was copied (testdata case 217).
// On Dovecot only: imapmemserver's RENAME leaves the names under the old
// one where they are (LIBNOTES.md).
func TestSyncOneWayRenameDroppedOnBothSides(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.BToA, Deletion: reconcile.Keep}
	f.put(userB, "R4", "m5")
	f.srv.Create(t, userB, "R4/F2")
	f.put(userB, "R4/F2/F3", "m6")
	f.put(userB, "R4/F2/F3", "m9")
	f.sync()
	f.srv.Create(t, userA, "R5")
	f.userMove(userA, "R4/F2/F3", "m6", "R5")
	f.sync()

	f.srv.Rename(t, userB, "R4", "R6")
	f.srv.RenameByCopy(t, userA, "R4/F2", "R6/F2")
	f.syncCounting(map[string]int{"APPEND": 0})
	f.want(userA, "R6/F2/F3", "m9 -")
	f.want(userA, "R5", "m6 -")
	f.want(userB, "R6/F2/F3", "m6 -", "m9 -")
	f.wantBoth("R6", "m5 -")
	f.settled()
}

// TestSyncOneWayFailedJoinOfARecordInAFolderMadeAgainInVain: in a b-to-a
// pair a's user moves m1 out of R10 into G, a's own folder, so the state
// links the two copies by b's record in R10, on b only. Then b's user
// moves m1 to INBOX and renames R10 to R14; a's user renames R10 to R12,
// which the pair does not follow (R14 is made again on a), and moves a's
// m1 on, from G to H. a's m1 is to join b's in INBOX; the CREATE of R14
// and that UID MOVE are both refused. The state keeps R10 as the base
// had it, and b's link record in it: the run after makes R14 and joins
// a's m1 into INBOX with one UID MOVE. Before, the link record was left
// out of R10 (its message had left the folder on b), the run after
// copied b's m1 to a's INBOX, and a held it twice
// (reconcile.TestNextFailedJoinOfARecordInAFolderMadeAgainInVain).
func TestSyncOneWayFailedJoinOfARecordInAFolderMadeAgainInVain(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default = reconcile.FolderPolicy{Direction: reconcile.BToA, Deletion: reconcile.Propagate}
		f.put(userB, "R10", "m1")
		f.put(userB, "R10", "m2")
		f.sync()
		f.srv.Create(t, userA, "G")
		f.srv.Create(t, userA, "H")
		f.userMove(userA, "R10", "m1", "G")
		f.sync()
		f.want(userB, "R10", "m1 -", "m2 -")
		f.want(userA, "G", "m1 -")

		f.userMove(userB, "R10", "m1", "INBOX")
		f.srv.Rename(t, userB, "R10", "R14")
		f.srv.Rename(t, userA, "R10", "R12")
		f.userMove(userA, "G", "m1", "H")
		res := f.syncRefusingFirstOfEach("the run whose CREATE of R14 and join of a's m1 fail", "CREATE", "UID MOVE")
		if len(res.Plan.Conflicts) != 1 {
			t.Fatalf("plan = %s; want one join", res.Plan)
		}
		f.syncCounting(map[string]int{"APPEND": 0, "UID MOVE": 1})
		f.want(userB, "INBOX", "m1 -")
		f.want(userA, "INBOX", "m1 -")
		f.want(userA, "H")
		f.want(userA, "R12", "m2 -")
		f.settled()
	})
}

// TestSyncMovedToDifferentFoldersOnBothSides: the prefer side (a) wins a
// move-versus-move conflict; b's copy follows it with UID MOVE, with no
// copy made and no body fetched. Also where the folder both moved m1 out
// of has a new UIDVALIDITY on a (its messages under new UIDs): the
// conflict is then found by identity (before b604252, m1 was copied both
// ways); and where b's user deleted that folder after moving m1 out (m2,
// deleted with it, goes on a too; before, m1 was copied both ways).
func TestSyncMovedToDifferentFoldersOnBothSides(t *testing.T) {
	t.Parallel()
	for _, variant := range []string{"same UIDVALIDITY", "source reset on a", "source deleted on b"} {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.put(userA, "Projects", "m1")
				f.put(userA, "Projects", "m2", imap.FlagSeen)
				f.srv.Create(t, userA, "Archive")
				f.srv.Create(t, userA, "Work")
				f.sync()
				if variant == "source reset on a" {
					f.recreate(userA, "Projects")
				}
				for user, dest := range map[string]string{userA: "Archive", userB: "Work"} {
					f.userMove(user, "Projects", "m1", dest)
				}
				if variant == "source deleted on b" {
					f.srv.Delete(t, userB, "Projects")
				}
				res := f.syncJoiningOnce()
				if res.Plan.Counts[reconcile.B].Moves != 1 || res.Plan.Counts[reconcile.A].Copies+res.Plan.Counts[reconcile.B].Copies != 0 {
					t.Errorf("plan = %s; want one move on b, no copy", res.Plan)
				}
				f.wantBoth("Archive", "m1 -")
				f.wantBoth("Work")
				if variant == "source deleted on b" {
					f.wantNoMailbox("Projects")
				} else {
					f.wantBoth("Projects", `m2 \Seen`)
				}
				f.settled()
			})
		})
	}
}

// TestSyncSourceMessageGoneBeforeItsCopy: a's user expunges one new
// message and files another away into Archive after the run listed a
// but before it copies them to b. Both are too big to be read with the
// scan, so the copies fetch them from a's INBOX, where they are gone.
// Each copy fails, saying so, and nothing is recorded for it; b holds
// neither. The next run copies the one filed away into b's Archive and
// does nothing about the one expunged: nothing lost, nothing twice.
func TestSyncSourceMessageGoneBeforeItsCopy(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m0")
		f.srv.Create(t, userA, "Archive")
		f.sync()
		big := func(id string) []byte {
			body := strings.Repeat("a line of a message too big to be read with the scan\r\n", 1500)
			return imaptest.NewMessage("sender@example.org", "team@example.org", "about "+id, id+"@example.org", body)
		}
		f.srv.Append(t, userA, "INBOX", big("gone"))
		f.srv.Append(t, userA, "INBOX", big("filed"))
		approved := 0
		f.approve = func(p *reconcile.Plan) ([]string, error) {
			approved++
			if n := p.Counts[reconcile.B].Copies; n != 2 {
				t.Errorf("plan has %d copies, want 2:\n%s", n, p)
			}
			f.expunge(userA, "INBOX", "gone")
			f.userMove(userA, "INBOX", "filed", "Archive")
			return nil, nil
		}
		res, err := f.attempt(false)
		f.approve = nil
		if approved != 1 || !errors.Is(err, reconcile.ErrActionsFailed) {
			t.Fatalf("run with the sources gone: approved %d times, err %v; want once and ErrActionsFailed", approved, err)
		}
		var failed []string
		for i, o := range res.Outcomes {
			if o.Err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", res.Plan.Actions[i].String(), o.Err))
			}
		}
		if len(failed) != 2 {
			t.Fatalf("%d actions failed, want the 2 copies:\n%s", len(failed), strings.Join(failed, "\n"))
		}
		for _, e := range failed {
			if !strings.Contains(e, `vanished from "INBOX" on a before it could be copied (expunged or moved meanwhile; the next run finds it where it went)`) {
				t.Errorf("failure does not say the source is gone: %s", e)
			}
		}
		f.want(userB, "INBOX", "m0 -")
		f.want(userB, "Archive")
		f.sync()
		f.want(userA, "INBOX", "m0 -")
		f.wantBoth("Archive", "filed -")
		f.want(userB, "INBOX", "m0 -")
		f.settled()
	})
}

// syncWhileAUserActs runs one sync during which act, called between the
// run's plan and its execution (RunOptions.Approve), does what a user
// does meanwhile. It fails the test unless the run failed
// (ErrActionsFailed) with the actions on uid failing, each with the
// error want, and every other action done.
func (f *syncFixture) syncWhileAUserActs(act func(*reconcile.Plan), uid uint32, want string) {
	f.t.Helper()
	f.approve = func(p *reconcile.Plan) ([]string, error) {
		act(p)
		return nil, nil
	}
	res, err := f.attempt(false)
	f.approve = nil
	if !errors.Is(err, reconcile.ErrActionsFailed) {
		f.t.Fatalf("run with a user acting meanwhile: err %v, want ErrActionsFailed", err)
	}
	failed := 0
	for i, o := range res.Outcomes {
		a := res.Plan.Actions[i]
		switch {
		case a.UID == reconcile.UID(uid) && (o.Err == nil || o.Err.Error() != want):
			f.t.Errorf("%s: outcome %v, want %s", a.String(), o.Err, want)
		case a.UID == reconcile.UID(uid):
			failed++
		case o.Err != nil:
			f.t.Errorf("%s: failed: %v", a.String(), o.Err)
		}
	}
	if failed == 0 {
		f.t.Errorf("no action on uid %d failed; plan:\n%s", uid, res.Plan)
	}
}

// TestSyncFlagChangeOnAMessageGoneMeanwhile: a's user flags m1 and m2;
// after the run listed b, b's user deletes m1 there. The run's UID
// STORE on b takes m1's UID without a word, as IMAP servers do for a
// UID that is gone. The run must see it (the store looks behind its
// STOREs), fail m1's change and record it as not made: otherwise the
// state holds m1 flagged on both sides, and the next run reads b's
// deletion as made after the change was agreed and expunges a's
// flagged copy, where the semantics table has a change beat a
// deletion. m2's change is made and agreed. The next run copies m1 back
// to b, flagged.
func TestSyncFlagChangeOnAMessageGoneMeanwhile(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m0")
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.sync()
		for _, id := range []string{"m1", "m2"} {
			f.srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", id), imap.FlagFlagged)
		}
		gone := f.uidOf(userB, "INBOX", "m1")
		f.syncWhileAUserActs(func(p *reconcile.Plan) {
			if n := p.Counts[reconcile.B].Stores; n != 2 {
				t.Errorf("plan has %d flag changes on b, want 2:\n%s", n, p)
			}
			f.expunge(userB, "INBOX", "m1")
		}, gone, fmt.Sprintf(`account "bob": 1 message no longer in "INBOX" (uid %d): expunged or moved meanwhile; the next run finds where they went`, gone))
		f.want(userB, "INBOX", "m0 -", `m2 \Flagged`)
		f.sync()
		f.wantBoth("INBOX", "m0 -", `m1 \Flagged`, `m2 \Flagged`)
		f.settled()
	})
}

// TestSyncMoveOfAMessageGoneMeanwhile: a's user files m1 and m2 into
// Archive; after the run listed b, b's user deletes m1 there. The run's
// UID MOVE on b is answered OK with a COPYUID that names m2 alone. The
// run must see it, fail m1's move and keep its record where it was:
// recorded as moved (with its new UID unknown), m1 would read as
// deleted on b by the next run, which would expunge a's filed copy,
// where the semantics table keeps a message moved on one side and
// deleted on the other. m2's move is made and agreed. The next run
// copies m1 into b's Archive.
func TestSyncMoveOfAMessageGoneMeanwhile(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		for _, id := range []string{"m0", "m1", "m2"} {
			f.put(userA, "INBOX", id)
		}
		f.srv.Create(t, userA, "Archive")
		f.sync()
		f.userMove(userA, "INBOX", "m1", "Archive")
		f.userMove(userA, "INBOX", "m2", "Archive")
		gone := f.uidOf(userB, "INBOX", "m1")
		f.syncWhileAUserActs(func(p *reconcile.Plan) {
			if n := p.Counts[reconcile.B].Moves; n != 2 {
				t.Errorf("plan has %d moves on b, want 2:\n%s", n, p)
			}
			f.expunge(userB, "INBOX", "m1")
		}, gone, fmt.Sprintf(`account "bob": 1 message no longer in "INBOX" (uid %d): expunged or moved meanwhile; the next run finds where they went`, gone))
		f.want(userB, "Archive", "m2 -")
		f.sync()
		f.wantBoth("INBOX", "m0 -")
		f.wantBoth("Archive", "m1 -", "m2 -")
		f.settled()
	})
}

// TestSyncExpungeOfAMessageChangedMeanwhile: a's user deletes m1 and m2;
// after the run listed b, b's user flags m1 there. The run's expunge on
// b must leave m1: removed, b's user's change would be lost with the
// message, where the semantics table has a change beat a deletion. The
// STORE \Deleted goes with UNCHANGEDSINCE the HIGHESTMODSEQ b's INBOX
// had when the run listed it (RFC 7162), so the server leaves m1
// unmarked; m2 is expunged. m1's expunge fails, saying so, and the next
// run copies m1 back to a, flagged. Dovecot alone: go-imap's memory
// server has no CONDSTORE, and there the expunge is unguarded.
func TestSyncExpungeOfAMessageChangedMeanwhile(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	for _, id := range []string{"m0", "m1", "m2", "m3", "m4"} {
		f.put(userA, "INBOX", id)
	}
	f.sync()
	f.expunge(userA, "INBOX", "m1")
	f.expunge(userA, "INBOX", "m2")
	changed := f.uidOf(userB, "INBOX", "m1")
	f.syncWhileAUserActs(func(p *reconcile.Plan) {
		if n := p.Counts[reconcile.B].Expunges; n != 2 {
			t.Errorf("plan has %d expunges on b, want 2:\n%s", n, p)
		}
		f.srv.AddFlags(t, userB, "INBOX", changed, imap.FlagFlagged)
	}, changed, fmt.Sprintf(`account "bob": 1 message in "INBOX" (uid %d) changed since the run listed them: not expunged; the next run sees the change`, changed))
	f.want(userB, "INBOX", "m0 -", `m1 \Flagged`, "m3 -", "m4 -")
	f.sync()
	f.wantBoth("INBOX", "m0 -", `m1 \Flagged`, "m3 -", "m4 -")
	f.settled()
}

// TestSyncJoinFinishedAfterAKilledRun: under a-to-b, b's user moved m1
// out of A1 into INBOX, b's own from then on; a's user then moved m1
// from A1 to Sent while b's user deleted A1, so b's copy joins a's in
// Sent, and a's user moved m3 from INBOX to Drafts, which b follows. Both leave b's INBOX in one command: UID
// COPYs, then one UID EXPUNGE, and the run dies before the expunge. The
// next run finds the join done but for b's original, and removes it
// (testdata case 238): m1 once on b, in Sent. Before, the copies in
// Sent paired and INBOX's stayed b's own: m1 twice on b
// (TestRandomEndToEnd -e2e.cuts 0.5, Dovecot seed 514).
func TestSyncJoinFinishedAfterAKilledRun(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		t.Parallel()
		f := newSyncFixture(t, start)
		f.policy.Default.Direction = reconcile.AToB
		f.put(userA, "A1", "m1")
		f.put(userA, "INBOX", "m2")
		f.put(userA, "INBOX", "m3")
		for _, box := range []string{"Sent", "Drafts"} {
			f.srv.Create(t, userA, box)
		}
		f.sync()
		f.userMove(userB, "A1", "m1", "INBOX")
		f.sync()
		f.userMove(userA, "A1", "m1", "Sent")
		f.userMove(userA, "INBOX", "m3", "Drafts")
		f.srv.Delete(t, userB, "A1")
		f.syncKilledAtExpunge(2)
		f.want(userB, "Sent", "m1 -")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Copies != 0 || c.Moves != 0 || c.Expunges != 2 {
			t.Errorf("the next run's plan on b = %+v, want only the two originals removed:\n%s", c, res.Plan)
		}
		f.want(userB, "INBOX", "m2 -")
		f.want(userB, "Sent", "m1 -")
		f.want(userB, "Drafts", "m3 -")
		f.want(userA, "Sent", "m1 -")
		f.settled()
	})
}
