package imapstore_test

import (
	"context"
	"errors"
	"fmt"
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

// TestChangeMessagesOneRoundTrip: a mailbox's flag changes and its
// expunge go out together, after the SELECT's answer and before any
// other answer: the recorder holds the first STORE's answer until the
// UID EXPUNGE has arrived, which it would never do if the STOREs were
// awaited first. What they change is exactly what was asked.
func TestChangeMessagesOneRoundTrip(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		u1 := srv.Append(t, "alice", "INBOX", msg(1))
		u2 := srv.Append(t, "alice", "INBOX", msg(2), imap.FlagSeen)
		u3 := srv.Append(t, "alice", "INBOX", msg(3))
		u4 := srv.Append(t, "alice", "INBOX", msg(4))
		rec := imaptest.Record(t, srv)
		expunge := imaptest.NewGate()
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			switch {
			case e.Stage == imaptest.Received && e.Verb == "UID EXPUNGE":
				expunge.Open()
			case e.Stage == imaptest.Answered && e.Verb == "UID STORE":
				expunge.Wait(10 * time.Second)
			}
			return imaptest.Action{}
		})
		st := open(t, rec.Server(), "alice")
		flagsErr, expungeErr := st.ChangeMessages(context.Background(), "INBOX", []reconcile.FlagChange{
			{UIDs: []reconcile.UID{reconcile.UID(u1)}, Add: reconcile.NewFlags(`\Flagged`, `\Seen`)},
			{UIDs: []reconcile.UID{reconcile.UID(u2)}, Remove: reconcile.NewFlags(`\Seen`)},
		}, []reconcile.UID{reconcile.UID(u3)}, 0)
		if flagsErr != nil || expungeErr != nil {
			t.Fatalf("ChangeMessages() = %v, %v", flagsErr, expungeErr)
		}
		if expunge.Held() {
			t.Errorf("the UID EXPUNGE was sent only after a STORE's answer:\n%s", strings.Join(rec.Commands(), "\n"))
		}
		ms := srv.Messages(t, "alice", "INBOX")
		if got := uidsOf(ms); !slices.Equal(got, []uint32{u1, u2, u4}) {
			t.Fatalf("after ChangeMessages: uids %v, want [%d %d %d]", got, u1, u2, u4)
		}
		if got := ms[0].Flags; !slices.Equal(got, []string{`\Flagged`, `\Seen`}) {
			t.Errorf("uid %d flags %q, want \\Flagged \\Seen", u1, got)
		}
		if len(ms[1].Flags) != 0 || len(ms[2].Flags) != 0 {
			t.Errorf("flags of uid %d: %q, of uid %d: %q; want none", u2, ms[1].Flags, u4, ms[2].Flags)
		}
		if n := rec.Count("SELECT"); n != 1 {
			t.Errorf("%d SELECTs, want 1", n)
		}
	})
}

// TestChangeMessagesOutcomes: the flag changes and the expunge each
// have their own outcome. A refused UID EXPUNGE fails the expunge
// alone, naming the account and mailbox; a refused SELECT fails both.
func TestChangeMessagesOutcomes(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		u1 := srv.Append(t, "alice", "INBOX", msg(1))
		u2 := srv.Append(t, "alice", "INBOX", msg(2))
		rec := imaptest.Record(t, srv)
		var refuse sync.Map
		refuse.Store("UID EXPUNGE", true)
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			if _, ok := refuse.Load(e.Verb); ok && e.Stage == imaptest.Received {
				return imaptest.Action{Do: imaptest.Refuse, Text: "not today"}
			}
			return imaptest.Action{}
		})
		st := open(t, rec.Server(), "alice")
		change := []reconcile.FlagChange{{UIDs: []reconcile.UID{reconcile.UID(u1)}, Add: reconcile.NewFlags(`\Flagged`)}}
		flagsErr, expungeErr := st.ChangeMessages(context.Background(), "INBOX", change, []reconcile.UID{reconcile.UID(u2)}, 0)
		if flagsErr != nil {
			t.Errorf("flags' outcome = %v, want none: their STORE went through", flagsErr)
		}
		if expungeErr == nil || !strings.Contains(expungeErr.Error(), `account "acct": expunge from "INBOX"`) || !strings.Contains(expungeErr.Error(), "not today") {
			t.Errorf("expunge's outcome = %v, want the refusal, naming the account and mailbox", expungeErr)
		}
		ms := srv.Messages(t, "alice", "INBOX")
		if got := uidsOf(ms); !slices.Equal(got, []uint32{u1, u2}) || !slices.Contains(ms[0].Flags, `\Flagged`) {
			t.Errorf("after a refused expunge: %+v, want both, uid %d \\Flagged", ms, u1)
		}

		refuse.Delete("UID EXPUNGE")
		refuse.Store("SELECT", true)
		st2 := open(t, rec.Server(), "alice")
		flagsErr, expungeErr = st2.ChangeMessages(context.Background(), "INBOX", change, []reconcile.UID{reconcile.UID(u2)}, 0)
		if flagsErr == nil || expungeErr == nil || !strings.Contains(flagsErr.Error(), "not today") {
			t.Errorf("ChangeMessages() with its SELECT refused = %v, %v; want both to fail with the refusal", flagsErr, expungeErr)
		}
		if got := uidsOf(srv.Messages(t, "alice", "INBOX")); !slices.Equal(got, []uint32{u1, u2}) {
			t.Errorf("after a refused SELECT: uids %v, want both", got)
		}
	})
}

// TestChangeMessagesSelectAhead: where another mailbox is selected, the
// changes go out with an UNSELECT and the SELECT, before the SELECT's
// answer (held here until the UID EXPUNGE arrives). And where that
// SELECT fails, nothing reaches the mailbox selected before: the
// recorder refuses the SELECT without the server seeing it, so the
// server would still have Other selected but for the UNSELECT, and the
// STOREs and the UID EXPUNGE would change Other's messages.
func TestChangeMessagesSelectAhead(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		srv.Create(t, "alice", "Other")
		o1 := srv.Append(t, "alice", "Other", msg(1))
		o2 := srv.Append(t, "alice", "Other", msg(2))
		u1 := srv.Append(t, "alice", "INBOX", msg(3))
		u2 := srv.Append(t, "alice", "INBOX", msg(4))
		if o1 != u1 || o2 != u2 {
			t.Fatalf("Other's UIDs %d, %d and INBOX's %d, %d differ: the test needs them the same", o1, o2, u1, u2)
		}
		rec := imaptest.Record(t, srv)
		var refuse atomic.Bool
		expunge := imaptest.NewGate()
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			switch {
			case e.Stage == imaptest.Received && e.Verb == "SELECT" && strings.Contains(e.Line, "INBOX") && refuse.Load():
				return imaptest.Action{Do: imaptest.Refuse, Text: "not today"}
			case e.Stage == imaptest.Received && e.Verb == "UID EXPUNGE":
				expunge.Open()
			case e.Stage == imaptest.Answered && e.Verb == "SELECT" && strings.Contains(e.Line, "INBOX"):
				expunge.Wait(10 * time.Second)
			}
			return imaptest.Action{}
		})
		st := open(t, rec.Server(), "alice")
		ctx := context.Background()
		change := []reconcile.FlagChange{{UIDs: []reconcile.UID{reconcile.UID(u1)}, Add: reconcile.NewFlags(`\Flagged`)}}

		// Other selected, then INBOX changed: the SELECT's answer is
		// not waited for.
		if err := st.StoreFlags(ctx, "Other", []reconcile.UID{reconcile.UID(o1)}, reconcile.NewFlags(`\Seen`), nil); err != nil {
			t.Fatal(err)
		}
		if fe, ee := st.ChangeMessages(ctx, "INBOX", change, []reconcile.UID{reconcile.UID(u2)}, 0); fe != nil || ee != nil {
			t.Fatalf("ChangeMessages() = %v, %v", fe, ee)
		}
		if expunge.Held() {
			t.Errorf("the changes waited for the SELECT's answer:\n%s", strings.Join(rec.Commands(), "\n"))
		}
		refuse.Store(true)
		if ms := srv.Messages(t, "alice", "INBOX"); len(ms) != 1 || !slices.Contains(ms[0].Flags, `\Flagged`) {
			t.Fatalf("INBOX after ChangeMessages: %+v, want uid %d alone, \\Flagged", ms, u1)
		}

		// Other selected again, and INBOX's SELECT refused: Other keeps
		// its messages and flags.
		if err := st.StoreFlags(ctx, "Other", []reconcile.UID{reconcile.UID(o1)}, reconcile.NewFlags(`\Answered`), nil); err != nil {
			t.Fatal(err)
		}
		fe, ee := st.ChangeMessages(ctx, "INBOX", []reconcile.FlagChange{{UIDs: []reconcile.UID{reconcile.UID(o1)}, Add: reconcile.NewFlags(`\Draft`)}}, []reconcile.UID{reconcile.UID(o2)}, 0)
		if fe == nil || ee == nil || !strings.Contains(fe.Error(), "not today") {
			t.Errorf("ChangeMessages() with its SELECT refused = %v, %v; want both to fail with the refusal", fe, ee)
		}
		ms := srv.Messages(t, "alice", "Other")
		if got := uidsOf(ms); !slices.Equal(got, []uint32{o1, o2}) || slices.Contains(ms[0].Flags, `\Draft`) {
			t.Errorf("Other after a refused SELECT of INBOX: %+v; want both messages, no \\Draft", ms)
		}
	})
}

// TestChangeMessagesWithoutUIDPLUS: on a server without UIDPLUS the
// expunge is the plain EXPUNGE after the flags: refused while another
// message carries \Deleted (which it would remove too), the flags
// applied all the same; done once that message is cleared.
func TestChangeMessagesWithoutUIDPLUS(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartMemWith(t, imaptest.MemOptions{Caps: imaptest.Rev1Only})
	u1 := srv.Append(t, "alice", "INBOX", msg(1))
	u2 := srv.Append(t, "alice", "INBOX", msg(2))
	u3 := srv.Append(t, "alice", "INBOX", msg(3))
	srv.AddFlags(t, "alice", "INBOX", u3, imap.FlagDeleted)
	st := open(t, srv, "alice")
	ctx := context.Background()
	change := []reconcile.FlagChange{{UIDs: []reconcile.UID{reconcile.UID(u1)}, Add: reconcile.NewFlags(`\Flagged`)}}

	fe, ee := st.ChangeMessages(ctx, "INBOX", change, []reconcile.UID{reconcile.UID(u2)}, 0)
	if fe != nil {
		t.Errorf("flags' outcome = %v, want none", fe)
	}
	if ee == nil || !strings.Contains(ee.Error(), "UIDPLUS") || !strings.Contains(ee.Error(), `account "acct": expunge from "INBOX"`) {
		t.Errorf("expunge's outcome with another \\Deleted message and no UIDPLUS = %v, want a refusal naming UIDPLUS", ee)
	}
	ms := srv.Messages(t, "alice", "INBOX")
	if got := uidsOf(ms); !slices.Equal(got, []uint32{u1, u2, u3}) || !slices.Contains(ms[0].Flags, `\Flagged`) {
		t.Fatalf("after a refused expunge: %+v, want all three, uid %d \\Flagged", ms, u1)
	}

	srv.RemoveFlags(t, "alice", "INBOX", u3, imap.FlagDeleted)
	if fe, ee := st.ChangeMessages(ctx, "INBOX", nil, []reconcile.UID{reconcile.UID(u2)}, 0); fe != nil || ee != nil {
		t.Fatalf("ChangeMessages() = %v, %v", fe, ee)
	}
	if got := uidsOf(srv.Messages(t, "alice", "INBOX")); !slices.Equal(got, []uint32{u1, u3}) {
		t.Errorf("after the expunge: uids %v, want [%d %d]", got, u1, u3)
	}
}

// TestChangeMessagesWithoutUNSELECT: on a Dovecot that does not announce
// UNSELECT, nothing can deselect the mailbox selected before, so the
// SELECT is answered before any change is sent: when the recorder
// refuses it without the server seeing it (the server keeps Other
// selected), the change does not reach Other's message, which has
// INBOX's UID. Sent ahead, it would.
func TestChangeMessagesWithoutUNSELECT(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Capability: "IMAP4rev1 LITERAL+ UIDPLUS MOVE CONDSTORE"})
	srv.Create(t, "alice", "Other")
	o1 := srv.Append(t, "alice", "Other", msg(9))
	u1 := srv.Append(t, "alice", "INBOX", msg(1))
	if o1 != u1 {
		t.Fatalf("Other's UID %d and INBOX's %d differ: the test needs them the same", o1, u1)
	}
	rec := imaptest.Record(t, srv)
	var refuse atomic.Bool
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == "SELECT" && strings.Contains(e.Line, "INBOX") && refuse.Load() {
			return imaptest.Action{Do: imaptest.Refuse, Text: "not today"}
		}
		return imaptest.Action{}
	})
	st := open(t, rec.Server(), "alice")
	if st.Caps().Has(imap.CapUnselect) {
		t.Fatalf("the server announces UNSELECT: %v", st.Caps())
	}
	ctx := context.Background()
	if err := st.StoreFlags(ctx, "Other", []reconcile.UID{reconcile.UID(o1)}, reconcile.NewFlags(`\Seen`), nil); err != nil {
		t.Fatal(err) // Other selected read-write
	}
	refuse.Store(true)
	fe, ee := st.ChangeMessages(ctx, "INBOX", []reconcile.FlagChange{{UIDs: []reconcile.UID{reconcile.UID(u1)}, Add: reconcile.NewFlags(`\Draft`)}}, []reconcile.UID{reconcile.UID(u1)}, 0)
	if fe == nil || ee == nil || !strings.Contains(fe.Error(), "not today") {
		t.Errorf("ChangeMessages() with its SELECT refused = %v, %v; want both to fail with the refusal", fe, ee)
	}
	if ms := srv.Messages(t, "alice", "Other"); len(ms) != 1 || slices.Contains(ms[0].Flags, `\Draft`) {
		t.Errorf("Other after a refused SELECT of INBOX: %+v, want its message, without \\Draft", ms)
	}
	refuse.Store(false)
	if fe, ee := st.ChangeMessages(ctx, "INBOX", []reconcile.FlagChange{{UIDs: []reconcile.UID{reconcile.UID(u1)}, Add: reconcile.NewFlags(`\Draft`)}}, nil, 0); fe != nil || ee != nil {
		t.Fatalf("ChangeMessages() = %v, %v", fe, ee)
	}
	if ms := srv.Messages(t, "alice", "INBOX"); len(ms) != 1 || !slices.Contains(ms[0].Flags, `\Draft`) {
		t.Errorf("INBOX after the change: %+v, want its message \\Draft", ms)
	}
}

// TestChangeMessagesExpungeBesideNewKeyword: a batch that adds a keyword
// the mailbox has not had to one message and expunges another removes
// the second. Dovecot 2.3 answers a UID EXPUNGE sent right behind such
// a STORE with OK and removes nothing: the message stayed, \Deleted,
// while the run recorded it gone, and the next run copied it back to
// the side whose user had deleted it (found by TestRandomEndToEnd).
func TestChangeMessagesExpungeBesideNewKeyword(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		srv.Create(t, "alice", "Box")
		u1 := srv.Append(t, "alice", "Box", msg(1), imap.FlagAnswered)
		u2 := srv.Append(t, "alice", "Box", msg(2), imap.FlagAnswered)
		st := open(t, srv, "alice")
		scan(t, st, "INBOX") // another mailbox selected, as in a run
		flagsErr, expungeErr := st.ChangeMessages(context.Background(), "Box",
			[]reconcile.FlagChange{{UIDs: []reconcile.UID{reconcile.UID(u1)}, Add: reconcile.NewFlags("$todo")}},
			[]reconcile.UID{reconcile.UID(u2)}, 0)
		if flagsErr != nil || expungeErr != nil {
			t.Fatalf("ChangeMessages() = %v, %v", flagsErr, expungeErr)
		}
		ms := srv.Messages(t, "alice", "Box")
		if got := uidsOf(ms); !slices.Equal(got, []uint32{u1}) {
			t.Fatalf("after ChangeMessages: uids %v (flags %+v), want [%d]: uid %d was to be expunged", got, ms, u1, u2)
		}
		if !slices.Contains(ms[0].Flags, "$todo") {
			t.Errorf("uid %d flags %q, want $todo among them", u1, ms[0].Flags)
		}
	})
}

// TestExpungeKeptByServer: a server that answers UID EXPUNGE with OK and
// keeps the message (the recorder sends it a NOOP in its place) does not
// get it recorded as gone. The search behind the UID EXPUNGE finds it;
// it is expunged once more; and where the server keeps it even then,
// the expunge fails, naming the UID, so the next run tries again.
func TestExpungeKeptByServer(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		u1 := srv.Append(t, "alice", "INBOX", msg(1))
		u2 := srv.Append(t, "alice", "INBOX", msg(2))
		u3 := srv.Append(t, "alice", "INBOX", msg(3))
		rec := imaptest.Record(t, srv)
		kept := keepExpunges(rec)
		st := open(t, rec.Server(), "alice")
		ctx := context.Background()
		change := []reconcile.FlagChange{{UIDs: []reconcile.UID{reconcile.UID(u1)}, Add: reconcile.NewFlags(`\Flagged`)}}

		// Kept once: the second try removes it.
		kept.Store(1)
		if flagsErr, expungeErr := st.ChangeMessages(ctx, "INBOX", change, []reconcile.UID{reconcile.UID(u2)}, 0); flagsErr != nil || expungeErr != nil {
			t.Fatalf("ChangeMessages() = %v, %v", flagsErr, expungeErr)
		}
		if got := uidsOf(srv.Messages(t, "alice", "INBOX")); !slices.Equal(got, []uint32{u1, u3}) {
			t.Fatalf("after an expunge the server skipped once: uids %v, want [%d %d]", got, u1, u3)
		}
		if n := rec.Count("UID EXPUNGE"); n != 2 {
			t.Errorf("%d UID EXPUNGEs, want 2 (the one the server skipped, and the second try):\n%s", n, strings.Join(rec.Commands(), "\n"))
		}

		// Kept every time: the expunge fails, the flags do not.
		kept.Store(2)
		flagsErr, expungeErr := st.ChangeMessages(ctx, "INBOX", change, []reconcile.UID{reconcile.UID(u3)}, 0)
		if flagsErr != nil {
			t.Errorf("flags' outcome = %v, want none", flagsErr)
		}
		if expungeErr == nil || !strings.Contains(expungeErr.Error(), `account "acct": expunge from "INBOX"`) || !strings.Contains(expungeErr.Error(), fmt.Sprintf("kept 1 message(s), UID %d", u3)) {
			t.Errorf("expunge's outcome = %v, want a failure naming the account, the mailbox and UID %d", expungeErr, u3)
		}

		// Expunge (one message, not in a batch) checks the same way.
		kept.Store(2)
		if err := st.Expunge(ctx, "INBOX", []reconcile.UID{reconcile.UID(u3)}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("UID %d", u3)) {
			t.Errorf("Expunge() of a message the server keeps = %v, want a failure naming UID %d", err, u3)
		}
		kept.Store(0)
		if err := st.Expunge(ctx, "INBOX", []reconcile.UID{reconcile.UID(u3)}); err != nil {
			t.Fatalf("Expunge() = %v", err)
		}
		if got := uidsOf(srv.Messages(t, "alice", "INBOX")); !slices.Equal(got, []uint32{u1}) {
			t.Errorf("after the last Expunge: uids %v, want [%d]", got, u1)
		}
	})
}

// keepExpunges has rec play a server that answers UID EXPUNGE with OK
// and removes nothing: it sends the server a NOOP in place of each of
// the next n UID EXPUNGEs, n being what the returned counter is set to
// (0 at first).
func keepExpunges(rec *imaptest.Recorder) *atomic.Int32 {
	var kept atomic.Int32
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == "UID EXPUNGE" && kept.Add(-1) >= 0 {
			return imaptest.Action{Do: imaptest.Rewrite, Text: "NOOP"}
		}
		return imaptest.Action{}
	})
	return &kept
}

// TestStoreOnGoneMessages: a flag change on messages some of which
// were expunged by another session changes the others, and says which
// were gone (reconcile.GoneError), through StoreFlags and through
// ChangeMessages alike. The messages are expunged by another session
// while the mailbox is selected, which Dovecot's session does not see
// until it syncs its view.
func TestStoreOnGoneMessages(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		var u [5]uint32
		for i := range u {
			u[i] = srv.Append(t, "alice", "INBOX", msg(i+1))
		}
		st := open(t, srv, "alice")
		ctx := context.Background()
		// Selected before the expunges, as in a run that listed first.
		if err := st.StoreFlags(ctx, "INBOX", []reconcile.UID{reconcile.UID(u[0])}, reconcile.NewFlags(`\Seen`), nil); err != nil {
			t.Fatal(err)
		}
		srv.Expunge(t, "alice", "INBOX", u[1])
		srv.Expunge(t, "alice", "INBOX", u[3])
		wantGone := func(what string, err error, uids ...uint32) {
			t.Helper()
			var gone *reconcile.GoneError
			if !errors.As(err, &gone) {
				t.Fatalf("%s = %v, want a GoneError", what, err)
			}
			var want []reconcile.UID
			for _, x := range uids {
				want = append(want, reconcile.UID(x))
			}
			if gone.Mailbox != "INBOX" || gone.Account != "acct" || !slices.Equal(gone.UIDs, want) {
				t.Errorf("%s: gone %+v, want uids %v of INBOX on acct", what, *gone, want)
			}
		}
		err := st.StoreFlags(ctx, "INBOX", []reconcile.UID{reconcile.UID(u[0]), reconcile.UID(u[1]), reconcile.UID(u[2])}, reconcile.NewFlags(`\Flagged`), nil)
		wantGone("StoreFlags", err, u[1])
		flagsErr, expungeErr := st.ChangeMessages(ctx, "INBOX", []reconcile.FlagChange{
			{UIDs: []reconcile.UID{reconcile.UID(u[3]), reconcile.UID(u[4])}, Add: reconcile.NewFlags(`\Answered`)},
			{UIDs: []reconcile.UID{reconcile.UID(u[1])}, Remove: reconcile.NewFlags(`\Seen`)},
		}, []reconcile.UID{reconcile.UID(u[2])}, 0)
		if expungeErr != nil {
			t.Fatalf("ChangeMessages: expunge error %v", expungeErr)
		}
		wantGone("ChangeMessages", flagsErr, u[1], u[3])
		ms := srv.Messages(t, "alice", "INBOX")
		if got := uidsOf(ms); !slices.Equal(got, []uint32{u[0], u[4]}) {
			t.Fatalf("after the changes: uids %v, want [%d %d]", got, u[0], u[4])
		}
		if got := ms[0].Flags; !slices.Equal(got, []string{`\Flagged`, `\Seen`}) {
			t.Errorf("uid %d flags %q, want \\Flagged \\Seen", u[0], got)
		}
		if got := ms[1].Flags; !slices.Equal(got, []string{`\Answered`}) {
			t.Errorf("uid %d flags %q, want \\Answered", u[4], got)
		}
		// Nothing gone: no error.
		if err := st.StoreFlags(ctx, "INBOX", []reconcile.UID{reconcile.UID(u[4])}, nil, reconcile.NewFlags(`\Answered`)); err != nil {
			t.Errorf("StoreFlags on a message there = %v", err)
		}
	})
}

// TestExpungeUnchangedSince: an expunge guarded by the HIGHESTMODSEQ the
// mailbox had when it was listed leaves a message whose flags another
// session changed since, and says so (reconcile.ChangedError), through
// ExpungeUnchangedSince and through ChangeMessages alike; the others
// are expunged, and a flag change beside the expunge is made. Dovecot
// alone: go-imap's memory server has no CONDSTORE.
//
// Also on a Dovecot that announces no UIDPLUS, where the expunge is a
// plain EXPUNGE after the conditional STORE \Deleted.
func TestExpungeUnchangedSince(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, caps string }{
		{"dovecot", ""},
		{"dovecot without UIDPLUS", "IMAP4rev1 LITERAL+ CONDSTORE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testExpungeUnchangedSince(t, imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Capability: tc.caps}))
		})
	}
}

func testExpungeUnchangedSince(t *testing.T, srv *imaptest.Server) {
	var u [6]uint32
	for i := range u {
		u[i] = srv.Append(t, "alice", "INBOX", msg(i+1))
	}
	st := open(t, srv, "alice")
	ctx := context.Background()
	l, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var modseq uint64
	for _, f := range l.Folders {
		if f.Mailbox == "INBOX" {
			modseq = f.HighestModSeq
		}
	}
	if modseq == 0 {
		t.Fatalf("no HIGHESTMODSEQ for INBOX in the listing: %+v", l.Folders)
	}
	srv.AddFlags(t, "alice", "INBOX", u[1], imap.FlagFlagged)
	srv.AddFlags(t, "alice", "INBOX", u[3], imap.FlagSeen)
	wantChanged := func(what string, err error, uid uint32) {
		t.Helper()
		var changed *reconcile.ChangedError
		if !errors.As(err, &changed) || !slices.Equal(changed.UIDs, []reconcile.UID{reconcile.UID(uid)}) || changed.Mailbox != "INBOX" {
			t.Errorf("%s: error %v, want a ChangedError for uid %d of INBOX", what, err, uid)
		}
	}
	err = st.ExpungeUnchangedSince(ctx, "INBOX", []reconcile.UID{reconcile.UID(u[0]), reconcile.UID(u[1])}, modseq)
	wantChanged("ExpungeUnchangedSince", err, u[1])
	flagsErr, expungeErr := st.ChangeMessages(ctx, "INBOX",
		[]reconcile.FlagChange{{UIDs: []reconcile.UID{reconcile.UID(u[4])}, Add: reconcile.NewFlags(`\Answered`)}},
		[]reconcile.UID{reconcile.UID(u[2]), reconcile.UID(u[3])}, modseq)
	if flagsErr != nil {
		t.Errorf("ChangeMessages: flags' error %v", flagsErr)
	}
	wantChanged("ChangeMessages", expungeErr, u[3])
	ms := srv.Messages(t, "alice", "INBOX")
	if got := uidsOf(ms); !slices.Equal(got, []uint32{u[1], u[3], u[4], u[5]}) {
		t.Fatalf("after the expunges: uids %v, want [%d %d %d %d]", got, u[1], u[3], u[4], u[5])
	}
	for _, m := range ms {
		if slices.Contains(m.Flags, `\Deleted`) {
			t.Errorf("uid %d is left marked \\Deleted: %q", m.UID, m.Flags)
		}
	}
	if got := ms[2].Flags; !slices.Equal(got, []string{`\Answered`}) {
		t.Errorf("uid %d flags %q, want \\Answered", u[4], got)
	}
	// Unguarded (0), the changed message goes.
	if err := st.ExpungeUnchangedSince(ctx, "INBOX", []reconcile.UID{reconcile.UID(u[1])}, 0); err != nil {
		t.Errorf("ExpungeUnchangedSince(0) = %v", err)
	}
	if got := uidsOf(srv.Messages(t, "alice", "INBOX")); slices.Contains(got, u[1]) {
		t.Errorf("uid %d still there after an unguarded expunge: %v", u[1], got)
	}
}
