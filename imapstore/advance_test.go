package imapstore_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestAdvanceScanPoint: after "our" changes to a folder (appends and a
// flag store through the Store), the check (ObserveScanPoints, then
// Advance) with the messages we expect moves the point to the folder's
// UIDNEXT and HIGHESTMODSEQ now.
// Any change by someone else since the point (a flag, a new message, an
// expunge), or a wrong expectation, refuses: the old point stays. With
// no point it checks every message's flags. Dovecot (CONDSTORE). Each
// case runs twice: with the folder still selected when it is checked
// (as the folder a run has just changed is), where the check asks its
// STATUS on the selection, and with another folder selected, where it
// EXAMINEs the folder.
func TestAdvanceScanPoint(t *testing.T) {
	t.Parallel()
	for _, onSelection := range []bool{true, false} {
		t.Run(map[bool]string{true: "on the selection", false: "examined"}[onSelection], func(t *testing.T) {
			t.Parallel()
			testAdvanceScanPoint(t, onSelection)
		})
	}
}

func testAdvanceScanPoint(t *testing.T, onSelection bool) {
	for _, tc := range []struct {
		name    string
		noPoint bool
		foreign func(srv *imaptest.Server, f reconcile.Folder)
		wrong   bool // expect other flags on a message changed since the point
		wantOK  bool
	}{
		{name: "only our changes", wantOK: true},
		{name: "no point, exact", noPoint: true, wantOK: true},
		{name: "no point, a flag differs", noPoint: true, wrong: true},
		{name: "a flag differs", wrong: true},
		{name: "foreign flag", foreign: func(srv *imaptest.Server, f reconcile.Folder) {
			srv.AddFlags(t, "alice", "Box", uint32(f.Messages[0].UID), imap.FlagFlagged)
		}},
		{name: "foreign append", foreign: func(srv *imaptest.Server, f reconcile.Folder) {
			srv.Append(t, "alice", "Box", msg(99))
		}},
		{name: "foreign expunge", foreign: func(srv *imaptest.Server, f reconcile.Folder) {
			srv.Expunge(t, "alice", "Box", uint32(f.Messages[1].UID))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := imaptest.StartDovecot(t, "alice")
			srv.Create(t, "alice", "Box")
			srv.Create(t, "alice", "Other")
			for i := range 3 {
				srv.Append(t, "alice", "Box", msg(i))
			}
			rec := imaptest.Record(t, srv)
			st := open(t, rec.Server(), "alice")
			ctx := context.Background()
			before := scan(t, st, "Box")
			k := known(before)
			// Our run: two appends and a flag store.
			for i := 3; i < 5; i++ {
				b := msg(i)
				if _, err := st.Append(ctx, "Box", reconcile.NewFlags(`\Seen`), time.Time{}, int64(len(b)), bytes.NewReader(b)); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.StoreFlags(ctx, "Box", []reconcile.UID{before.Messages[2].UID}, reconcile.NewFlags(`\Answered`), nil); err != nil {
				t.Fatal(err)
			}
			after := scan(t, st, "Box")
			if tc.foreign != nil {
				tc.foreign(srv, before)
			}
			expect := known(after)
			expect.UIDValidity, expect.UIDNext, expect.HighestModSeq = k.UIDValidity, k.UIDNext, k.HighestModSeq
			if tc.noPoint {
				expect.HighestModSeq = 0
			}
			if tc.wrong {
				expect.Messages[2].Flags = reconcile.NewFlags("$Other") // the message our STORE changed
			}
			if !onSelection {
				scan(t, st, "Other")
			}
			rec.Reset()
			pt, ok, err := advanceScanPoint(ctx, st, "Box", expect)
			next, modseq := pt.UIDNext, pt.HighestModSeq
			if err != nil {
				t.Fatal(err)
			}
			if opened := rec.Count("EXAMINE") + rec.Count("SELECT"); opened != map[bool]int{true: 0, false: 1}[onSelection] || onSelection != (rec.Count("STATUS") == 1) {
				t.Errorf("the check sent:\n%s", strings.Join(rec.Commands(), "\n"))
			}
			if ok != tc.wantOK {
				t.Fatalf("the check ok = %v, want %v", ok, tc.wantOK)
			}
			if ok {
				now := folder(t, st, "Box")
				if next != now.UIDNext || modseq != now.HighestModSeq {
					t.Errorf("new point %d/%d, want the folder's UIDNEXT/HIGHESTMODSEQ %d/%d", next, modseq, now.UIDNext, now.HighestModSeq)
				}
			}
		})
	}
}

// TestAdvanceScanPointOneRoundTrip: the check sends its FETCH
// CHANGEDSINCE with the EXAMINE. The recorder holds the EXAMINE's answer
// until the FETCH has come: a check that waited for the EXAMINE first
// would never send it, and the test fails at its deadline.
func TestAdvanceScanPointOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv, rec, st, expect := answeredInBox(t)
	ctx := context.Background()
	// With Box still selected the check would ask its STATUS there,
	// which needs no EXAMINE.
	srv.Create(t, "alice", "Other")
	scan(t, st, "Other")

	fetched := make(chan struct{})
	var once sync.Once
	var early atomic.Bool // the FETCH came before the EXAMINE was answered
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == "UID FETCH" {
			once.Do(func() { close(fetched) })
		}
		if e.Stage == imaptest.Answered && e.Verb == "EXAMINE" {
			select {
			case <-fetched:
				early.Store(true)
			case <-time.After(5 * time.Second):
			}
		}
		return imaptest.Action{}
	})
	_, ok, err := advanceScanPoint(ctx, st, "Box", expect)
	rec.Intercept(nil)
	if err != nil || !ok {
		t.Fatalf("the check = %v, %v; want ok", ok, err)
	}
	if !early.Load() {
		t.Errorf("the FETCH CHANGEDSINCE was sent after the EXAMINE's answer: two round trips, want one")
	}
}

// advanceScanPoint reads mailbox for the check of k's scan point and
// decides it, as a run does at its end.
func advanceScanPoint(ctx context.Context, st *imapstore.Store, mailbox string, k reconcile.Known) (reconcile.Known, bool, error) {
	obs, err := st.ObserveScanPoints(ctx, []reconcile.ScanPointRequest{{Mailbox: mailbox, Since: k}})
	if err != nil {
		return reconcile.Known{}, false, err
	}
	pt, ok := obs[0].Advance(k)
	return pt, ok, nil
}

// TestObserveScanPointsOneRoundTrip: the checks of several folders go
// out together: the recorder holds the first EXAMINE's answer until the
// last folder's FETCH has come, which a Store that waited for each
// answer would never send. A folder the server refuses to open comes
// back not usable, the others as they are. (Dovecot only: imapmemserver
// has no CONDSTORE, and nothing is sent without it.)
func TestObserveScanPointsOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	boxes := []string{"One", "Two", "Three"}
	for _, mb := range boxes {
		srv.Create(t, "alice", mb)
	}
	srv.Append(t, "alice", "One", msg(1))
	srv.Append(t, "alice", "Three", msg(3), imap.FlagSeen)
	srv.Append(t, "alice", "Three", msg(4))
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	ctx := context.Background()
	var fetches atomic.Int32
	all := imaptest.NewGate() // every FETCH has come
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		switch {
		case e.Stage == imaptest.Received && e.Verb == "UID FETCH":
			if fetches.Add(1) == int32(len(boxes)) {
				all.Open()
			}
		case e.Stage == imaptest.Received && e.Verb == "EXAMINE" && strings.Contains(e.Line, `"Two"`):
			return imaptest.Action{Do: imaptest.Refuse, Text: "not now"}
		case e.Stage == imaptest.Answered && e.Verb == "EXAMINE" && strings.Contains(e.Line, `"One"`):
			all.Wait(10 * time.Second)
		}
		return imaptest.Action{}
	})
	reqs := make([]reconcile.ScanPointRequest, len(boxes))
	for i, mb := range boxes {
		reqs[i] = reconcile.ScanPointRequest{Mailbox: mb}
	}
	obs, err := st.ObserveScanPoints(ctx, reqs)
	rec.Intercept(nil)
	if err != nil {
		t.Fatalf("ObserveScanPoints = %v", err)
	}
	if all.Held() {
		t.Errorf("the FETCHes were not all sent before the first answer:\n%s", strings.Join(rec.Commands(), "\n"))
	}
	if !obs[0].Usable || obs[0].NumMessages != 1 || len(obs[0].Changed) != 1 {
		t.Errorf("One: %+v, want usable, 1 message read", obs[0])
	}
	if obs[1].Usable {
		t.Errorf("Two, refused: %+v, want not usable", obs[1])
	}
	if !obs[2].Usable || obs[2].NumMessages != 2 || len(obs[2].Changed) != 2 || !obs[2].Changed[0].Flags.Equal(reconcile.NewFlags(`\Seen`)) {
		t.Errorf("Three: %+v, want usable, 2 messages read, the first \\Seen", obs[2])
	}
}

// TestObserveScanPointOnSelectionRefused: where the server refuses the
// STATUS of the selected mailbox, the check EXAMINEs it after all and
// decides as it would have: a flag store of ours moves the point.
func TestObserveScanPointOnSelectionRefused(t *testing.T) {
	t.Parallel()
	_, rec, st, expect := answeredInBox(t)
	ctx := context.Background()
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == "STATUS" {
			return imaptest.Action{Do: imaptest.Refuse, Text: "not on the selected mailbox"}
		}
		return imaptest.Action{}
	})
	rec.Reset()
	pt, ok, err := advanceScanPoint(ctx, st, "Box", expect)
	rec.Intercept(nil)
	if err != nil || !ok {
		t.Fatalf("the check = %v, %v; want ok\n%s", ok, err, strings.Join(rec.Commands(), "\n"))
	}
	if rec.Count("STATUS") != 1 || rec.Count("EXAMINE") != 1 {
		t.Errorf("the check sent, want a STATUS, then an EXAMINE:\n%s", strings.Join(rec.Commands(), "\n"))
	}
	if now := folder(t, st, "Box"); pt.UIDNext != now.UIDNext || pt.HighestModSeq != now.HighestModSeq {
		t.Errorf("new point %d/%d, want the folder's UIDNEXT/HIGHESTMODSEQ %d/%d", pt.UIDNext, pt.HighestModSeq, now.UIDNext, now.HighestModSeq)
	}
}

// answeredInBox makes Box on a Dovecot, with three messages, reached
// through a recorder; reads it through st, stores \Answered on its first
// message through st, and returns what the check of that store expects:
// the messages as they are now, under the point from before the store.
// Box is left selected.
func answeredInBox(t *testing.T) (*imaptest.Server, *imaptest.Recorder, *imapstore.Store, reconcile.Known) {
	t.Helper()
	srv := imaptest.StartDovecot(t, "alice")
	srv.Create(t, "alice", "Box")
	for i := range 3 {
		srv.Append(t, "alice", "Box", msg(i))
	}
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	before := scan(t, st, "Box")
	k := known(before)
	if err := st.StoreFlags(context.Background(), "Box", []reconcile.UID{before.Messages[0].UID}, reconcile.NewFlags(`\Answered`), nil); err != nil {
		t.Fatal(err)
	}
	expect := known(scan(t, st, "Box"))
	expect.UIDValidity, expect.UIDNext, expect.HighestModSeq = k.UIDValidity, k.UIDNext, k.HighestModSeq
	return srv, rec, st, expect
}
