package imapstore_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestAdvanceScanPoint: after "our" changes to a folder (appends and a
// flag store through the Store), AdvanceScanPoint with the messages we
// expect moves the point to the folder's UIDNEXT and HIGHESTMODSEQ now.
// Any change by someone else since the point (a flag, a new message, an
// expunge), or a wrong expectation, refuses: the old point stays. With
// no point it checks every message's flags. Dovecot (CONDSTORE).
func TestAdvanceScanPoint(t *testing.T) {
	t.Parallel()
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
			for i := range 3 {
				srv.Append(t, "alice", "Box", msg(i))
			}
			st := open(t, srv, "alice")
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
			pt, ok, err := st.AdvanceScanPoint(ctx, "Box", expect)
			next, modseq := pt.UIDNext, pt.HighestModSeq
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK {
				t.Fatalf("AdvanceScanPoint ok = %v, want %v", ok, tc.wantOK)
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
	srv := imaptest.StartDovecot(t, "alice")
	srv.Create(t, "alice", "Box")
	for i := range 3 {
		srv.Append(t, "alice", "Box", msg(i))
	}
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	ctx := context.Background()
	before := scan(t, st, "Box")
	k := known(before)
	if err := st.StoreFlags(ctx, "Box", []reconcile.UID{before.Messages[0].UID}, reconcile.NewFlags(`\Answered`), nil); err != nil {
		t.Fatal(err)
	}
	expect := known(scan(t, st, "Box"))
	expect.UIDValidity, expect.UIDNext, expect.HighestModSeq = k.UIDValidity, k.UIDNext, k.HighestModSeq

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
	_, ok, err := st.AdvanceScanPoint(ctx, "Box", expect)
	rec.Intercept(nil)
	if err != nil || !ok {
		t.Fatalf("AdvanceScanPoint = %v, %v; want ok", ok, err)
	}
	if !early.Load() {
		t.Errorf("the FETCH CHANGEDSINCE was sent after the EXAMINE's answer: two round trips, want one")
	}
}
