package imapstore_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// changedBox makes Box on a Dovecot with four messages, reached through
// a recorder, and scans it through st. It returns the check's request
// of Box from that scan's point, and the UIDs of Box's messages.
func changedBox(t *testing.T) (*imaptest.Server, *imaptest.Recorder, *imapstore.Store, reconcile.ScanPointRequest, []reconcile.UID) {
	t.Helper()
	return changedBoxOn(t, imaptest.StartDovecot(t, "alice"))
}

// changedBoxOn is changedBox on srv.
func changedBoxOn(t *testing.T, srv *imaptest.Server) (*imaptest.Server, *imaptest.Recorder, *imapstore.Store, reconcile.ScanPointRequest, []reconcile.UID) {
	t.Helper()
	srv.Create(t, "alice", "Box")
	for i := range 4 {
		srv.Append(t, "alice", "Box", msg(i))
	}
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	f := scan(t, st, "Box")
	var uids []reconcile.UID
	for _, m := range f.Messages {
		uids = append(uids, m.UID)
	}
	k := known(f)
	return srv, rec, st, reconcile.ScanPointRequest{Mailbox: "Box", Since: reconcile.Known{UIDValidity: k.UIDValidity, UIDNext: k.UIDNext, HighestModSeq: k.HighestModSeq}}, uids
}

// observe is ObserveScanPoints of r alone.
func observe(t *testing.T, st *imapstore.Store, r reconcile.ScanPointRequest) reconcile.ScanPointObservation {
	t.Helper()
	obs, err := st.ObserveScanPoints(context.Background(), []reconcile.ScanPointRequest{r})
	if err != nil || len(obs) != 1 {
		t.Fatalf("ObserveScanPoints(%q) = %v, %v", r.Mailbox, obs, err)
	}
	return obs[0]
}

// sameObservation reports how got differs from want, "" where it does
// not: the point, the count and the changed messages with their flags.
func sameObservation(got, want reconcile.ScanPointObservation) string {
	var diffs []string
	if got.Usable != want.Usable || got.Since.HighestModSeq != want.Since.HighestModSeq {
		diffs = append(diffs, "usable or since")
	}
	if got.UIDValidity != want.UIDValidity || got.UIDNext != want.UIDNext || got.HighestModSeq != want.HighestModSeq || got.NumMessages != want.NumMessages {
		diffs = append(diffs, "point or count")
	}
	if !slices.EqualFunc(got.Changed, want.Changed, func(a, b reconcile.Message) bool { return a.UID == b.UID && a.Flags.Equal(b.Flags) }) {
		diffs = append(diffs, "changed messages")
	}
	return strings.Join(diffs, ", ")
}

// TestCheckAheadOfChanges: where the run announced the check of a
// folder (ExpectCheck), the ChangeMessages that follows sends the
// check's STATUS and UID FETCH with the UID SEARCH behind its STOREs,
// before that SEARCH is answered (the recorder holds the SEARCH's
// answer until the FETCH has come: a Store that sent the check after
// would never send it, and the test fails at its deadline), and the
// check then sends nothing: it finds what a check on a connection of
// its own finds, the changes' expunge and flags and a message another
// connection appended before them (as the run's copies are) included.
func TestCheckAheadOfChanges(t *testing.T) {
	t.Parallel()
	srv, rec, st, r, uids := changedBox(t)
	ctx := context.Background()
	srv.Append(t, "alice", "Box", msg(9)) // a copy of the run's, on its own connection

	fetched := make(chan struct{})
	var once sync.Once
	var early atomic.Bool // the FETCH came before the SEARCH was answered
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == "UID FETCH" {
			once.Do(func() { close(fetched) })
		}
		if e.Stage == imaptest.Answered && e.Verb == "UID SEARCH" {
			select {
			case <-fetched:
				early.Store(true)
			case <-time.After(5 * time.Second):
			}
		}
		return imaptest.Action{}
	})
	st.ExpectCheck(r)
	changes := []reconcile.FlagChange{{UIDs: uids[:2], Add: reconcile.NewFlags(`\Flagged`)}}
	if fe, ee := st.ChangeMessages(ctx, "Box", changes, uids[3:], r.Since.HighestModSeq); fe != nil || ee != nil {
		t.Fatalf("ChangeMessages = %v, %v", fe, ee)
	}
	rec.Intercept(nil)
	if !early.Load() {
		t.Errorf("the check's FETCH was sent after the SEARCH's answer, want with it:\n%s", strings.Join(rec.Commands(), "\n"))
	}
	rec.Reset()
	got := observe(t, st, r)
	if sent := rec.Commands(); len(sent) != 0 {
		t.Errorf("the check sent %q, want nothing: it was read with the changes", sent)
	}
	want := observe(t, open(t, srv, "alice"), r)
	if !want.Usable || want.NumMessages != 4 || len(want.Changed) != 3 {
		t.Fatalf("a check of its own = %+v, want usable, 4 messages, 3 changed (2 flagged, 1 appended)", want)
	}
	if d := sameObservation(got, want); d != "" {
		t.Errorf("the check read ahead differs from one of its own in %s:\n got %+v\nwant %+v", d, got, want)
	}
}

// TestCheckAheadOnlyAsAnnounced: the check is read with the changes,
// and answered from what was read, only as announced. Where another
// operation of the Store comes between ExpectCheck and the changes,
// or the announcement names another mailbox, the changes send no
// check; where another operation comes between the changes and the
// check, or the check asks from another point, the check reads the
// folder as it is then: here with a message another session appended
// after the changes.
func TestCheckAheadOnlyAsAnnounced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	flag := func(uids []reconcile.UID) []reconcile.FlagChange {
		return []reconcile.FlagChange{{UIDs: uids[:1], Add: reconcile.NewFlags(`\Seen`)}}
	}
	t.Run("an operation before the changes", func(t *testing.T) {
		t.Parallel()
		_, rec, st, r, uids := changedBox(t)
		st.ExpectCheck(r)
		if _, err := st.List(ctx); err != nil {
			t.Fatal(err)
		}
		rec.Reset()
		if fe, ee := st.ChangeMessages(ctx, "Box", flag(uids), nil, 0); fe != nil || ee != nil {
			t.Fatalf("ChangeMessages = %v, %v", fe, ee)
		}
		if rec.Count("STATUS") != 0 {
			t.Errorf("the changes sent a check, want none:\n%s", strings.Join(rec.Commands(), "\n"))
		}
	})
	t.Run("another mailbox announced", func(t *testing.T) {
		t.Parallel()
		_, rec, st, r, uids := changedBox(t)
		other := r
		other.Mailbox = "INBOX"
		st.ExpectCheck(other)
		rec.Reset()
		if fe, ee := st.ChangeMessages(ctx, "Box", flag(uids), nil, 0); fe != nil || ee != nil {
			t.Fatalf("ChangeMessages = %v, %v", fe, ee)
		}
		if rec.Count("STATUS") != 0 {
			t.Errorf("the changes sent a check, want none:\n%s", strings.Join(rec.Commands(), "\n"))
		}
	})
	for _, between := range []string{"an operation", "another point"} {
		t.Run(between+" before the check", func(t *testing.T) {
			t.Parallel()
			srv, rec, st, r, uids := changedBox(t)
			st.ExpectCheck(r)
			if fe, ee := st.ChangeMessages(ctx, "Box", flag(uids), nil, 0); fe != nil || ee != nil {
				t.Fatalf("ChangeMessages = %v, %v", fe, ee)
			}
			if rec.Count("STATUS") != 1 {
				t.Fatalf("the changes sent no check:\n%s", strings.Join(rec.Commands(), "\n"))
			}
			srv.Append(t, "alice", "Box", msg(9))
			req := r
			switch between {
			case "an operation":
				// One that keeps Box selected.
				if err := st.StoreFlags(ctx, "Box", uids[1:2], reconcile.NewFlags(`\Answered`), nil); err != nil {
					t.Fatal(err)
				}
			case "another point":
				req.Since.HighestModSeq--
			}
			got := observe(t, st, req)
			if !got.Usable || got.NumMessages != 5 {
				t.Errorf("the check = %+v, want usable, with the 5 messages Box holds now", got)
			}
			want := observe(t, open(t, srv, "alice"), req)
			if d := sameObservation(got, want); d != "" {
				t.Errorf("the check differs from one of its own in %s:\n got %+v\nwant %+v", d, got, want)
			}
		})
	}
}

// TestCheckAheadLostIsNotTheChanges: where the connection is lost under
// the check read with the changes, after the SEARCH that ends them was
// answered, the changes still succeed, and the check then reads the
// folder again, on a new connection, as the changes left it. (Dovecot
// runs the SEARCH beside the check's STATUS and FETCH, and answers them
// in any order: the connection is cut at the FETCH's answer where the
// SEARCH's has gone before it, and the case is made again where it has
// not.)
func TestCheckAheadLostIsNotTheChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for attempt := 1; ; attempt++ {
		srv, rec, st, r, uids := changedBox(t)
		var mu sync.Mutex
		searched, cut := false, false
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case e.Stage == imaptest.Answered && e.Verb == "UID SEARCH":
				searched = true
			case e.Stage == imaptest.Answered && e.Verb == "UID FETCH" && strings.Contains(e.Line, "CHANGEDSINCE") && searched:
				cut = true
				return imaptest.Action{Do: imaptest.Cut}
			}
			return imaptest.Action{}
		})
		st.ExpectCheck(r)
		changes := []reconcile.FlagChange{{UIDs: uids[:2], Add: reconcile.NewFlags(`\Flagged`)}}
		fe, ee := st.ChangeMessages(ctx, "Box", changes, uids[3:], r.Since.HighestModSeq)
		rec.Intercept(nil)
		mu.Lock()
		exercised := cut
		mu.Unlock()
		if !exercised {
			if attempt == 20 {
				t.Fatalf("in 20 attempts Dovecot never answered the SEARCH before the check's FETCH")
			}
			continue
		}
		if fe != nil || ee != nil {
			t.Fatalf("ChangeMessages with its check lost = %v, %v; want both done\n%s", fe, ee, strings.Join(rec.Commands(), "\n"))
		}
		got := observe(t, st, r)
		want := observe(t, open(t, srv, "alice"), r)
		if !want.Usable || want.NumMessages != 3 || len(want.Changed) != 2 {
			t.Fatalf("a check of its own = %+v, want usable, 3 messages, 2 changed", want)
		}
		if d := sameObservation(got, want); d != "" {
			t.Errorf("the check after the lost one differs from one of its own in %s:\n got %+v\nwant %+v", d, got, want)
		}
		t.Logf("exercised at attempt %d", attempt)
		return
	}
}

// TestCheckAheadNotBeforeALaterExpunge: without UIDPLUS the expunge of
// ChangeMessages goes after its flag stores and their SEARCH, so after
// the check read with them: that check is stale, and the check after
// the run reads the folder again, finding the expunge.
func TestCheckAheadNotBeforeALaterExpunge(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Capability: "IMAP4rev1 LITERAL+ MOVE CONDSTORE UNSELECT"}, "alice")
	_, rec, st, r, uids := changedBoxOn(t, srv)
	ctx := context.Background()
	rec.Reset()
	st.ExpectCheck(r)
	changes := []reconcile.FlagChange{{UIDs: uids[:2], Add: reconcile.NewFlags(`\Flagged`)}}
	if fe, ee := st.ChangeMessages(ctx, "Box", changes, uids[3:], r.Since.HighestModSeq); fe != nil || ee != nil {
		t.Fatalf("ChangeMessages = %v, %v", fe, ee)
	}
	if rec.Count("UID EXPUNGE") != 0 || rec.Count("STATUS") != 1 {
		t.Fatalf("want the check read with the changes, and no UID EXPUNGE (no UIDPLUS):\n%s", strings.Join(rec.Commands(), "\n"))
	}
	got := observe(t, st, r)
	want := observe(t, open(t, srv, "alice"), r)
	if !want.Usable || want.NumMessages != 3 {
		t.Fatalf("a check of its own = %+v, want usable, 3 messages", want)
	}
	if d := sameObservation(got, want); d != "" {
		t.Errorf("the check after the expunge differs from one of its own in %s:\n got %+v\nwant %+v", d, got, want)
	}
}
