package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// refusingB starts a Dovecot where bob's "Shared" lacks the ACL right w:
// it keeps \Seen and \Deleted and nothing else (its SELECT says
// PERMANENTFLAGS (\Deleted \Seen)), and drops any other flag an APPEND or
// a STORE sets, without an error, as RFC 3501 lets a server do with
// flags it cannot keep.
func refusingB(t testing.TB, users ...string) *imaptest.Server {
	return imaptest.StartDovecotWith(t, imaptest.DovecotOptions{ACL: "Shared user=bob lrsteikx"}, users...)
}

// TestSyncFlagsAFolderRefuses: b's Shared keeps only \Seen. The first
// run copies a's flagged message there, and the server drops \Flagged
// and $label1. When b's user then marks it read, the next run must take
// \Seen to a and nothing else: b lacks the other two because it cannot
// hold them, not because its user removed them. Before mailtwin read
// PERMANENTFLAGS, a's copy lost both. From then on the state remembers
// what the folder keeps: a flag a's user sets that b refuses is not
// sent to b, not on this run nor on any later one; the folder's scan
// point holds past the run's own copies though they lack flags their
// records have, so the next run opens no folder; and b's user's changes
// of what b keeps still reach a.
func TestSyncFlagsAFolderRefuses(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, refusingB)
	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	f.srv.Create(t, userA, "Shared")
	f.put(userA, "Shared", "s1", imap.FlagFlagged, "$label1")
	f.put(userA, "Shared", "s2")
	f.sync()
	f.want(userA, "Shared", `s1 $label1,\Flagged`, "s2 -")
	f.want(userB, "Shared", "s1 -", "s2 -")

	f.srv.AddFlags(t, userB, "Shared", f.uidOf(userB, "Shared", "s1"), imap.FlagSeen)
	f.sync()
	f.want(userA, "Shared", `s1 $label1,\Flagged,\Seen`, "s2 -")
	f.want(userB, "Shared", `s1 \Seen`, "s2 -")
	st, err := stateRepo{f.repo}.Load(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Folder("Shared").B.Permanent, reconcile.NewPermanent(`\Seen`, `\Deleted`); !got.Equal(want) {
		t.Errorf("the state has b's Shared keep %v, want %v", got, want)
	}
	f.settled()

	// a's user answers s2 and flags s3, new: neither flag goes to b.
	f.srv.AddFlags(t, userA, "Shared", f.uidOf(userA, "Shared", "s2"), imap.FlagAnswered)
	f.put(userA, "Shared", "s3", imap.FlagFlagged)
	res := f.sync()
	if n := res.Plan.Counts[reconcile.B].Stores; n != 0 {
		t.Errorf("the run stored flags on b %d times, want none (b refuses \\Answered):\n%s", n, res.Plan)
	}
	f.want(userB, "Shared", `s1 \Seen`, "s2 -", "s3 -")
	f.nextRunSelectsNothing(rec)
	f.settled()

	// b's user reads s2 and s3: a gets \Seen, and keeps its own flags.
	f.srv.AddFlags(t, userB, "Shared", f.uidOf(userB, "Shared", "s2"), imap.FlagSeen)
	f.srv.AddFlags(t, userB, "Shared", f.uidOf(userB, "Shared", "s3"), imap.FlagSeen)
	f.sync()
	f.want(userA, "Shared", `s1 $label1,\Flagged,\Seen`, `s2 \Answered,\Seen`, `s3 \Flagged,\Seen`)
	f.want(userB, "Shared", `s1 \Seen`, `s2 \Seen`, `s3 \Seen`)
	// Marked unread on b: removed on a too, the rest kept.
	f.srv.RemoveFlags(t, userB, "Shared", f.uidOf(userB, "Shared", "s1"), imap.FlagSeen)
	f.sync()
	f.want(userA, "Shared", `s1 $label1,\Flagged`, `s2 \Answered,\Seen`, `s3 \Flagged,\Seen`)
	f.settled()
	if strings.Contains(f.srv.Log(), "Error") {
		t.Errorf("dovecot logged an error:\n%s", f.srv.Log())
	}
}

// TestSyncMovesAcrossAFolderThatRefusesFlags: moves into and out of b's
// Shared, which keeps \Seen alone. Dovecot drops the other flags of a
// message moved into it, and a message moved out of it has lost them
// there. Neither loss may reach a: b's user moves m1 (flagged) into
// Shared and s1 out of it into INBOX, and a follows both moves with
// the flags whole, and s1 gets its \Flagged back on b, where INBOX
// keeps it. Then a's user moves s2 out of Shared: the run's MOVE on b
// carries s2 without \Flagged, and the run stores it there once the
// copy is in INBOX (one STORE on b, at its new UID); before, that took
// the run after. The state does not know Shared refuses flags when the
// first moves are made: the scans tell.
func TestSyncMovesAcrossAFolderThatRefusesFlags(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, refusingB)
	f.srv.Create(t, userA, "Shared")
	f.put(userA, "INBOX", "m1", imap.FlagFlagged, "$label1")
	f.put(userA, "Shared", "s1", imap.FlagFlagged)
	f.put(userA, "Shared", "s2", imap.FlagFlagged)
	f.sync()
	f.want(userB, "INBOX", `m1 $label1,\Flagged`)
	f.want(userB, "Shared", "s1 -", "s2 -")

	f.userMove(userB, "INBOX", "m1", "Shared")
	f.userMove(userB, "Shared", "s1", "INBOX")
	f.want(userB, "Shared", "m1 -", "s2 -")
	f.sync()
	f.want(userA, "INBOX", `s1 \Flagged`)
	f.want(userA, "Shared", `m1 $label1,\Flagged`, `s2 \Flagged`)
	f.want(userB, "INBOX", `s1 \Flagged`)
	f.want(userB, "Shared", "m1 -", "s2 -")
	f.settled()

	f.userMove(userA, "Shared", "s2", "INBOX")
	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	res := f.sync()
	if n := res.Plan.Counts[reconcile.B].Stores; n != 0 {
		t.Errorf("the plan stores flags on b %d times, want none: the MOVE restores \\Flagged\n%s", n, res.Plan)
	}
	var stores []string
	for _, c := range rec.Commands() {
		if strings.HasPrefix(strings.ToUpper(c), "UID STORE") {
			stores = append(stores, c)
		}
	}
	if len(stores) != 1 || !strings.Contains(stores[0], `+FLAGS.SILENT (\Flagged)`) {
		t.Errorf("the run sent the UID STOREs %q, want one of s2's \\Flagged, at its new UID in INBOX", stores)
	}
	f.want(userA, "INBOX", `s1 \Flagged`, `s2 \Flagged`)
	f.want(userB, "INBOX", `s1 \Flagged`, `s2 \Flagged`)
	f.want(userA, "Shared", `m1 $label1,\Flagged`)
	f.want(userB, "Shared", "m1 -")
	f.settled()

	// The STORE after the MOVE fails (for now): the MOVE stands, the
	// record takes the flags out (Outcome.Unrestored), so b's copy
	// without them is not read as b's user removing them, and a's
	// flags reach b on the run after, as a's changes.
	f.userMove(userA, "Shared", "m1", "INBOX")
	var refused atomic.Bool
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == "UID STORE" && refused.CompareAndSwap(false, true) {
			return imaptest.Action{Do: imaptest.Refuse, Text: "[UNAVAILABLE] try again later"}
		}
		return imaptest.Action{}
	})
	f.sync()
	if !refused.Load() {
		t.Fatal("no UID STORE was refused")
	}
	rec.Intercept(nil)
	f.want(userA, "INBOX", `m1 $label1,\Flagged`, `s1 \Flagged`, `s2 \Flagged`)
	f.want(userB, "INBOX", "m1 -", `s1 \Flagged`, `s2 \Flagged`)
	f.sync()
	f.want(userA, "INBOX", `m1 $label1,\Flagged`, `s1 \Flagged`, `s2 \Flagged`)
	f.want(userB, "INBOX", `m1 $label1,\Flagged`, `s1 \Flagged`, `s2 \Flagged`)
	f.settled()
}
