package imapstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestMoveMessagesOneRoundTrip: the moves of one mailbox to several
// others go out before the first is answered, each message lands where
// its set said, and each set gets the new UIDs of its own messages.
func TestMoveMessagesOneRoundTrip(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		u1 := srv.Append(t, "alice", "INBOX", msg(1))
		u2 := srv.Append(t, "alice", "INBOX", msg(2))
		u3 := srv.Append(t, "alice", "INBOX", msg(3))
		u4 := srv.Append(t, "alice", "INBOX", msg(4))
		u5 := srv.Append(t, "alice", "INBOX", msg(5))
		for _, f := range []string{"X", "Y", "Z"} {
			srv.Create(t, "alice", f)
		}
		// Y holds a message already, so its new UIDs differ from X's.
		srv.Append(t, "alice", "Y", msg(9))
		rec := imaptest.Record(t, srv)
		last := imaptest.NewGate()
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			switch {
			case e.Stage == imaptest.Received && e.Verb == "UID COPY" && strings.HasSuffix(e.Line, ` "Z"`):
				last.Open()
			case e.Stage == imaptest.Answered && e.Verb == "UID COPY":
				last.Wait(10 * time.Second)
			}
			return imaptest.Action{}
		})
		st := open(t, rec.Server(), "alice")
		res := st.MoveMessages(context.Background(), "INBOX", []reconcile.MoveSet{
			{UIDs: []reconcile.UID{u1}, Dest: "X"},
			{UIDs: []reconcile.UID{u2, u3}, Dest: "Y"},
			{UIDs: []reconcile.UID{u4}, Dest: "Z"},
		})
		if len(res) != 3 {
			t.Fatalf("MoveMessages() gave %d results, want 3", len(res))
		}
		for i, r := range res {
			if r.Err != nil {
				t.Errorf("set %d: %v", i, r.Err)
			}
		}
		if last.Held() {
			t.Errorf("the last UID COPY was sent only after an earlier one's answer:\n%s", strings.Join(rec.Commands(), "\n"))
		}
		if got := uidsOf(srv.Messages(t, "alice", "INBOX")); !slices.Equal(got, []uint32{u5}) {
			t.Errorf("INBOX after the moves: uids %v, want [%d]", got, u5)
		}
		for i, want := range []struct {
			dest string
			src  []reconcile.UID
			ids  []string
		}{
			{"X", []reconcile.UID{u1}, []string{"m1@example.org"}},
			{"Y", []reconcile.UID{u2, u3}, []string{"m9@example.org", "m2@example.org", "m3@example.org"}},
			{"Z", []reconcile.UID{u4}, []string{"m4@example.org"}},
		} {
			ms := srv.Messages(t, "alice", want.dest)
			var ids []string
			byID := map[string]uint32{}
			for _, m := range ms {
				ids = append(ids, m.MessageID)
				byID[m.MessageID] = m.UID
			}
			if !slices.Equal(ids, want.ids) {
				t.Errorf("%s holds %q, want %q", want.dest, ids, want.ids)
				continue
			}
			if len(res[i].Moved) != len(want.src) {
				t.Errorf("set %d (to %s): moved %v, want %d UIDs paired", i, want.dest, res[i].Moved, len(want.src))
			}
			for k, u := range want.src {
				if got, w := res[i].Moved[u], byID[want.ids[len(want.ids)-len(want.src)+k]]; got != w {
					t.Errorf("set %d: uid %d moved to %s as %d, the server has it at %d", i, u, want.dest, got, w)
				}
			}
		}
		if n := rec.Count("SELECT"); n != 1 {
			t.Errorf("%d SELECTs, want 1", n)
		}
		if n, m := rec.Count("UID COPY"), rec.Count("UID EXPUNGE"); n != 3 || m != 1 {
			t.Errorf("%d UID COPYs and %d UID EXPUNGEs, want 3 and 1 for all sets", n, m)
		}
	})
}

// TestMoveMessagesOutcomes: a MOVE the server refuses fails its own set
// alone, naming the account and both folders; the others are moved. A
// source that cannot be selected fails every set.
func TestMoveMessagesOutcomes(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		u1 := srv.Append(t, "alice", "INBOX", msg(1))
		u2 := srv.Append(t, "alice", "INBOX", msg(2))
		u3 := srv.Append(t, "alice", "INBOX", msg(3))
		srv.Create(t, "alice", "X")
		srv.Create(t, "alice", "Z")
		st := open(t, srv, "alice")
		res := st.MoveMessages(context.Background(), "INBOX", []reconcile.MoveSet{
			{UIDs: []reconcile.UID{u1}, Dest: "X"},
			{UIDs: []reconcile.UID{u2}, Dest: "Missing"},
			{UIDs: []reconcile.UID{u3}, Dest: "Z"},
		})
		if res[0].Err != nil || res[2].Err != nil {
			t.Errorf("sets to X and Z: %v, %v; want both moved", res[0].Err, res[2].Err)
		}
		if err := res[1].Err; err == nil || !strings.Contains(err.Error(), `account "acct": move from "INBOX" to "Missing"`) {
			t.Errorf("set to a folder that does not exist: %v, want the refusal, naming the account and folders", err)
		}
		if len(res[1].Moved) != 0 {
			t.Errorf("the refused set reports moves: %v", res[1].Moved)
		}
		if got := uidsOf(srv.Messages(t, "alice", "INBOX")); !slices.Equal(got, []uint32{u2}) {
			t.Errorf("INBOX after the moves: uids %v, want only the refused [%d]", got, u2)
		}
		if len(srv.Messages(t, "alice", "X")) != 1 || len(srv.Messages(t, "alice", "Z")) != 1 {
			t.Error("X and Z do not hold one message each")
		}

		res = st.MoveMessages(context.Background(), "Gone", []reconcile.MoveSet{
			{UIDs: []reconcile.UID{1}, Dest: "X"},
			{UIDs: []reconcile.UID{2}, Dest: "Z"},
		})
		for i, r := range res {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "select") {
				t.Errorf("set %d from a folder that does not exist: %v, want the SELECT's refusal", i, r.Err)
			}
		}
		if len(srv.Messages(t, "alice", "X")) != 1 || len(srv.Messages(t, "alice", "Z")) != 1 {
			t.Error("moves from a folder that does not exist changed X or Z")
		}
	})
}

// TestMoveMessagesExpungeRefused: when the originals cannot be
// removed after their copies were made, every set copied fails (as
// Move's does), saying so; nothing is lost, and the messages are in
// both folders for the next run to settle.
func TestMoveMessagesExpungeRefused(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		u1 := srv.Append(t, "alice", "INBOX", msg(1))
		u2 := srv.Append(t, "alice", "INBOX", msg(2))
		srv.Create(t, "alice", "X")
		srv.Create(t, "alice", "Y")
		rec := imaptest.Record(t, srv)
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			if e.Stage == imaptest.Received && e.Verb == "UID EXPUNGE" {
				return imaptest.Action{Do: imaptest.Refuse, Text: "not today"}
			}
			return imaptest.Action{}
		})
		st := open(t, rec.Server(), "alice")
		res := st.MoveMessages(context.Background(), "INBOX", []reconcile.MoveSet{
			{UIDs: []reconcile.UID{u1}, Dest: "X"},
			{UIDs: []reconcile.UID{u2}, Dest: "Y"},
		})
		for i, r := range res {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "could not remove the originals") || !strings.Contains(r.Err.Error(), "not today") {
				t.Errorf("set %d: %v, want the refused expunge", i, r.Err)
			}
		}
		if n := len(srv.Messages(t, "alice", "INBOX")); n != 2 {
			t.Errorf("INBOX holds %d messages, want both originals", n)
		}
		if len(srv.Messages(t, "alice", "X")) != 1 || len(srv.Messages(t, "alice", "Y")) != 1 {
			t.Error("X and Y do not hold their copies")
		}
	})
}

// TestMoveMessagesExpungeKeptByServer: the originals of moves done as
// UID COPYs are removed by a UID EXPUNGE checked as every one is: where
// the server answers it OK and keeps them (the recorder sends it a NOOP
// in its place), they are expunged once more; where it keeps them even
// then, every set copied fails, naming the UIDs kept, and the next run
// settles the messages left in both folders.
func TestMoveMessagesExpungeKeptByServer(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		u1 := srv.Append(t, "alice", "INBOX", msg(1))
		u2 := srv.Append(t, "alice", "INBOX", msg(2))
		u3 := srv.Append(t, "alice", "INBOX", msg(3))
		u4 := srv.Append(t, "alice", "INBOX", msg(4))
		srv.Create(t, "alice", "X")
		srv.Create(t, "alice", "Y")
		rec := imaptest.Record(t, srv)
		kept := keepExpunges(rec)
		st := open(t, rec.Server(), "alice")
		ctx := context.Background()

		kept.Store(1)
		res := st.MoveMessages(ctx, "INBOX", []reconcile.MoveSet{{UIDs: []reconcile.UID{u1}, Dest: "X"}, {UIDs: []reconcile.UID{u2}, Dest: "Y"}})
		for i, r := range res {
			if r.Err != nil {
				t.Errorf("set %d: %v", i, r.Err)
			}
		}
		if got := uidsOf(srv.Messages(t, "alice", "INBOX")); !slices.Equal(got, []uint32{u3, u4}) {
			t.Errorf("INBOX after moves whose expunge the server skipped once: uids %v, want [%d %d]", got, u3, u4)
		}

		kept.Store(2)
		res = st.MoveMessages(ctx, "INBOX", []reconcile.MoveSet{{UIDs: []reconcile.UID{u3}, Dest: "X"}, {UIDs: []reconcile.UID{u4}, Dest: "Y"}})
		for i, r := range res {
			if err := r.Err; err == nil || !strings.Contains(err.Error(), "could not remove the originals") || !strings.Contains(err.Error(), fmt.Sprintf("UID %d:%d", u3, u4)) {
				t.Errorf("set %d, whose original the server keeps: %v, want a failure naming UIDs %d:%d", i, err, u3, u4)
			}
		}
		if len(srv.Messages(t, "alice", "INBOX")) != 2 || len(srv.Messages(t, "alice", "X")) != 2 || len(srv.Messages(t, "alice", "Y")) != 2 {
			t.Errorf("the kept originals and their copies are not all there: INBOX %+v, X %+v", srv.Messages(t, "alice", "INBOX"), srv.Messages(t, "alice", "X"))
		}
	})
}

// TestMoveGoneMessages: a move of messages some of which another
// session expunged since they were listed moves the others,
// with their new UIDs, and says which were gone (reconcile.GoneError),
// through Move and through MoveMessages alike: the server's COPYUID
// names only what it moved.
//
// Also on a Dovecot that announces no MOVE, where Move is a UID COPY,
// STORE \Deleted and UID EXPUNGE, and COPY's COPYUID tells the same.
func TestMoveGoneMessages(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		testMoveGoneMessages(t, start(t))
	})
	t.Run("dovecot without MOVE", func(t *testing.T) {
		t.Parallel()
		testMoveGoneMessages(t, imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Capability: "IMAP4rev1 LITERAL+ UIDPLUS CONDSTORE"}))
	})
}

func testMoveGoneMessages(t *testing.T, srv *imaptest.Server) {
	var u [5]uint32
	for i := range u {
		u[i] = srv.Append(t, "alice", "INBOX", msg(i+1))
	}
	for _, f := range []string{"X", "Y"} {
		srv.Create(t, "alice", f)
	}
	// Expunged before the store selects INBOX: Dovecot answers a
	// MOVE or COPY of a message another session expunged while it
	// was selected with NO [EXPUNGEISSUED], and moves nothing,
	// which fails the whole set; a selection made after the
	// expunge gets OK, and a COPYUID without the message.
	srv.Expunge(t, "alice", "INBOX", u[1])
	srv.Expunge(t, "alice", "INBOX", u[3])
	st := open(t, srv, "alice")
	ctx := context.Background()
	wantGone := func(what string, err error, uid uint32) {
		t.Helper()
		var gone *reconcile.GoneError
		if !errors.As(err, &gone) || !slices.Equal(gone.UIDs, []reconcile.UID{uid}) || gone.Mailbox != "INBOX" {
			t.Errorf("%s: error %v, want a GoneError for uid %d of INBOX", what, err, uid)
		}
	}
	moved, err := st.Move(ctx, "INBOX", []reconcile.UID{u[0], u[1]}, "X")
	wantGone("Move", err, u[1])
	if _, ok := moved[u[0]]; !ok || len(moved) != 1 {
		t.Errorf("Move: new UIDs %v, want uid %d's alone", moved, u[0])
	}
	res := st.MoveMessages(ctx, "INBOX", []reconcile.MoveSet{
		{UIDs: []reconcile.UID{u[2]}, Dest: "X"},
		{UIDs: []reconcile.UID{u[3], u[4]}, Dest: "Y"},
	})
	if res[0].Err != nil || len(res[0].Moved) != 1 {
		t.Errorf("MoveMessages, set 0: %v, new UIDs %v; want uid %d moved", res[0].Err, res[0].Moved, u[2])
	}
	wantGone("MoveMessages, set 1", res[1].Err, u[3])
	if _, ok := res[1].Moved[u[4]]; !ok || len(res[1].Moved) != 1 {
		t.Errorf("MoveMessages, set 1: new UIDs %v, want uid %d's alone", res[1].Moved, u[4])
	}
	if got := srv.Messages(t, "alice", "INBOX"); len(got) != 0 {
		t.Errorf("INBOX holds %d messages after the moves, want none", len(got))
	}
	if x, y := len(srv.Messages(t, "alice", "X")), len(srv.Messages(t, "alice", "Y")); x != 2 || y != 1 {
		t.Errorf("X holds %d messages and Y %d, want 2 and 1", x, y)
	}
}
