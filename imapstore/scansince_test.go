package imapstore_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// known turns a scanned folder into the scan point a state would record.
func known(f reconcile.Folder) reconcile.Known {
	k := reconcile.Known{UIDValidity: f.UIDValidity, UIDNext: f.UIDNext, HighestModSeq: f.HighestModSeq}
	for _, m := range f.Messages {
		m.Size = 0
		k.Messages = append(k.Messages, m)
	}
	return k
}

// sameScan reports how got (ScanSince) differs from want (Scan), or "".
func sameScan(got, want reconcile.Folder) string {
	var d []string
	if got.UIDValidity != want.UIDValidity || got.UIDNext != want.UIDNext || got.HighestModSeq != want.HighestModSeq {
		d = append(d, fmt.Sprintf("uidvalidity/uidnext/modseq %d/%d/%d, want %d/%d/%d", got.UIDValidity, got.UIDNext, got.HighestModSeq, want.UIDValidity, want.UIDNext, want.HighestModSeq))
	}
	line := func(m reconcile.Message) string { return fmt.Sprintf("%d %s %s", m.UID, m.Flags, m.ID) }
	var g, w []string
	for _, m := range got.Messages {
		g = append(g, line(m))
	}
	for _, m := range want.Messages {
		w = append(w, line(m))
	}
	if !slices.Equal(g, w) {
		d = append(d, fmt.Sprintf("messages\n  %s\nwant\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  ")))
	}
	return strings.Join(d, "; ")
}

// TestScanSinceEqualsScan: after random changes by another client (flags
// added and removed, messages expunged, new ones with and without a
// Message-ID, or nothing at all), ScanSince from the previous scan point
// gives exactly what a full Scan gives: UIDs, flags, identities, and
// UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ. Dovecot (CONDSTORE); 40 rounds.
func TestScanSinceEqualsScan(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	st := open(t, srv, "alice")
	other := srv.Dial(t, "alice")
	rng := rand.New(rand.NewPCG(7, 7))
	n := 0
	put := func(withID bool) {
		n++
		b := msg(n)
		if !withID {
			b = imaptest.NewMessage("alice@example.org", "bob@example.org", fmt.Sprintf("no id %d", n), "", fmt.Sprintf("body %d\n", n))
		}
		srv.Append(t, "alice", "Box", b)
	}
	srv.Create(t, "alice", "Box")
	for range 12 {
		put(true)
	}
	put(false)
	ctx := context.Background()
	k := known(scan(t, st, "Box"))
	flags := []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, "$Label1"}
	for round := range 40 {
		if _, err := other.Select("Box", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs := srv.Messages(t, "alice", "Box")
		what := rng.IntN(5)
		switch {
		case what == 0: // nothing
		case what == 1 && len(msgs) > 0: // flags
			for range 1 + rng.IntN(3) {
				m := msgs[rng.IntN(len(msgs))]
				f := flags[rng.IntN(len(flags))]
				if rng.IntN(2) == 0 {
					srv.AddFlags(t, "alice", "Box", m.UID, f)
				} else {
					srv.RemoveFlags(t, "alice", "Box", m.UID, f)
				}
			}
		case what == 2 && len(msgs) > 1: // expunge
			srv.Expunge(t, "alice", "Box", msgs[rng.IntN(len(msgs))].UID)
		case what == 3: // new
			put(rng.IntN(4) != 0)
		default: // all at once
			put(true)
			if len(msgs) > 2 {
				srv.AddFlags(t, "alice", "Box", msgs[0].UID, imap.FlagDeleted)
				srv.Expunge(t, "alice", "Box", msgs[len(msgs)-1].UID)
			}
		}
		f := folder(t, st, "Box")
		if err := st.ScanSince(ctx, &f, k); err != nil {
			t.Fatalf("round %d: ScanSince = %v", round, err)
		}
		want := scan(t, st, "Box")
		if d := sameScan(f, want); d != "" {
			t.Fatalf("round %d (change %d): ScanSince differs from Scan: %s", round, what, d)
		}
		k = known(f)
	}
}

// TestScanSinceUnchangedReadsNothing: a folder whose listing says it is
// as the scan point left it is not even examined; one with a changed flag
// is examined and only the changed message's flags are fetched (no
// header, no full listing).
func TestScanSinceUnchangedReadsNothing(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	srv.Create(t, "alice", "Box")
	for i := range 5 {
		srv.Append(t, "alice", "Box", msg(i))
	}
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	ctx := context.Background()
	k := known(scan(t, st, "Box"))

	rec.Reset()
	f := folder(t, st, "Box")
	if err := st.ScanSince(ctx, &f, k); err != nil {
		t.Fatal(err)
	}
	if d := sameScan(f, reconcile.Folder{UIDValidity: k.UIDValidity, UIDNext: k.UIDNext, HighestModSeq: k.HighestModSeq, Messages: k.Messages}); d != "" {
		t.Errorf("unchanged folder: %s", d)
	}
	for _, c := range rec.Commands() {
		if !strings.HasPrefix(c, "LIST") && c != "UNSELECT" {
			t.Errorf("unchanged folder: sent %q; want only the LIST (and the UNSELECT of the earlier scan)", c)
		}
	}

	srv.AddFlags(t, "alice", "Box", k.Messages[2].UID, imap.FlagFlagged)
	rec.Reset()
	f = folder(t, st, "Box")
	if err := st.ScanSince(ctx, &f, k); err != nil {
		t.Fatal(err)
	}
	if d := sameScan(f, scan(t, st, "Box")); d != "" {
		t.Errorf("after a flag change: %s", d)
	}
	var fetches []string
	for _, c := range rec.Commands() {
		if strings.HasPrefix(c, "UID FETCH") {
			fetches = append(fetches, c)
		}
	}
	if len(fetches) < 1 || !strings.Contains(fetches[0], "CHANGEDSINCE") || strings.Contains(fetches[0], "BODY") {
		t.Errorf("after a flag change, fetches %q; want one FETCH of FLAGS CHANGEDSINCE, no header", fetches)
	}

	// A scan point that lacks a message the server has below its UIDNEXT
	// (a state that was wrong) is not trusted: the folder is read whole.
	k = known(f)
	k.Messages = slices.Delete(k.Messages, 1, 2)
	f = folder(t, st, "Box")
	if err := st.ScanSince(ctx, &f, k); err != nil {
		t.Fatal(err)
	}
	if d := sameScan(f, scan(t, st, "Box")); d != "" {
		t.Errorf("with a message missing from the scan point: %s", d)
	}
}

// TestScanSinceModSeqBackwards: a server whose HIGHESTMODSEQ is below the
// scan point's (an index rebuilt, breaking RFC 7162) cannot say what
// changed since: ScanSince reads the folder whole, and sees the flag
// changed meanwhile.
func TestScanSinceModSeqBackwards(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	srv.Create(t, "alice", "Box")
	for i := range 3 {
		srv.Append(t, "alice", "Box", msg(i))
	}
	st := open(t, srv, "alice")
	k := known(scan(t, st, "Box"))
	srv.AddFlags(t, "alice", "Box", uint32(k.Messages[1].UID), imap.FlagFlagged)
	k.HighestModSeq += 1000 // the point is ahead of the server
	f := folder(t, st, "Box")
	if err := st.ScanSince(context.Background(), &f, k); err != nil {
		t.Fatal(err)
	}
	if d := sameScan(f, scan(t, st, "Box")); d != "" {
		t.Errorf("HIGHESTMODSEQ below the point: %s", d)
	}
}

// TestScanSincePipelines: a folder with a changed flag, an expunged
// message and a new one is scanned in one round trip: FETCH
// CHANGEDSINCE, the FETCH of the new message and the UID SEARCH go out
// with the SELECT. The recorder holds the SELECT's answer until the
// UID SEARCH has come: a scan that waited for the SELECT first would
// never send it, and the test fails at its deadline.
func TestScanSincePipelines(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	srv.Create(t, "alice", "Box")
	for i := range 5 {
		srv.Append(t, "alice", "Box", msg(i))
	}
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	ctx := context.Background()
	k := known(scan(t, st, "Box"))
	msgs := srv.Messages(t, "alice", "Box")
	srv.AddFlags(t, "alice", "Box", msgs[0].UID, imap.FlagFlagged)
	srv.Expunge(t, "alice", "Box", msgs[1].UID)
	srv.Append(t, "alice", "Box", msg(9))

	searched := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var before []string // commands received before the SELECT's answer went out
	answered := false
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		mu.Lock()
		if e.Stage == imaptest.Received && !answered {
			before = append(before, e.Verb)
		}
		mu.Unlock()
		if e.Stage == imaptest.Received && e.Verb == "UID SEARCH" {
			once.Do(func() { close(searched) })
		}
		if e.Stage == imaptest.Answered && e.Verb == "SELECT" {
			select {
			case <-searched:
			case <-time.After(5 * time.Second):
			}
			mu.Lock()
			answered = true
			mu.Unlock()
		}
		return imaptest.Action{}
	})
	f := folder(t, st, "Box")
	if err := st.ScanSince(ctx, &f, k); err != nil {
		t.Fatal(err)
	}
	rec.Intercept(nil)
	mu.Lock()
	got := slices.Clone(before)
	mu.Unlock()
	if n := slices.Index(got, "SELECT"); n < 0 || !slices.Equal(got[n:], []string{"SELECT", "UID FETCH", "UID FETCH", "UID SEARCH"}) {
		t.Errorf("commands received before the SELECT was answered: %v, want SELECT, two UID FETCHes and UID SEARCH", got)
	}
	if d := sameScan(f, scan(t, st, "Box")); d != "" {
		t.Errorf("pipelined scan differs from Scan: %s", d)
	}
}

// TestReadThenScanSinceOneRoundTrip: the bodies of the folder scanned
// last are read in the round trip of the next folder's scan: the UID
// FETCH goes out, and the next folder's SELECT right behind it. The
// recorder holds the FETCH's answer until that SELECT has come: a read
// that waited for its answer before the scan would never send it, and
// the gate gives up. Every body arrives whole, and the scan equals
// Scan. On Dovecot (CONDSTORE).
func TestReadThenScanSinceOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	for _, mb := range []string{"One", "Two"} {
		srv.Create(t, "alice", mb)
		srv.Append(t, "alice", mb, msg(1))
	}
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	ctx := context.Background()
	kOne, kTwo := known(scan(t, st, "One")), known(scan(t, st, "Two"))
	srv.Append(t, "alice", "One", msg(2))
	srv.Append(t, "alice", "One", msg(3))
	srv.Append(t, "alice", "Two", msg(4))

	// Both are listed first, as in a run (a LIST leaves no mailbox
	// selected); One is scanned and stays selected.
	one, two := folder(t, st, "One"), folder(t, st, "Two")
	if err := st.ScanSince(ctx, &one, kOne); err != nil {
		t.Fatal(err)
	}
	var fresh []reconcile.UID
	for _, m := range one.Messages {
		if m.UID >= kOne.UIDNext {
			fresh = append(fresh, m.UID)
		}
	}
	examined := imaptest.NewGate()
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		switch {
		case e.Stage == imaptest.Received && e.Verb == "SELECT" && strings.Contains(e.Line, `"Two"`):
			examined.Open()
		case e.Stage == imaptest.Answered && e.Verb == "UID FETCH" && strings.Contains(e.Line, "BODY.PEEK[]"):
			examined.Wait(10 * time.Second)
		}
		return imaptest.Action{}
	})
	bodies := map[reconcile.UID]string{}
	read := reconcile.BodyRead{Mailbox: "One", UIDs: fresh, Fn: func(m reconcile.FetchedMessage) error {
		b, err := io.ReadAll(m.Body)
		bodies[m.UID] = string(b)
		return err
	}}
	readErr, scanErr := st.ReadThenScanSince(ctx, read, &two, kTwo)
	rec.Intercept(nil)
	if readErr != nil || scanErr != nil {
		t.Fatalf("ReadThenScanSince = %v, %v", readErr, scanErr)
	}
	if examined.Held() {
		t.Errorf("the SELECT of Two did not go out before the read's answer\n%v", rec.SessionCommands())
	}
	if len(bodies) != 2 {
		t.Errorf("read %d bodies, want 2 (uids %v)", len(bodies), fresh)
	}
	for i, u := range fresh {
		if want := string(msg(i + 2)); !strings.Contains(strings.ReplaceAll(bodies[u], "\r\n", "\n"), strings.TrimSpace(strings.ReplaceAll(want, "\r\n", "\n"))) {
			t.Errorf("body of uid %d = %q, want %q", u, bodies[u], want)
		}
	}
	if d := sameScan(two, scan(t, st, "Two")); d != "" {
		t.Errorf("scan of Two differs from Scan: %s", d)
	}
}

// TestReadThenScanSinceElsewhere: where the read's mailbox is not the
// one selected, or the next folder is unchanged, or the server has no
// CONDSTORE (imapmemserver), the read goes on its own, and both the
// bodies and the scan are as Fetch and Scan give them.
func TestReadThenScanSinceElsewhere(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		for _, mb := range []string{"One", "Two", "Other"} {
			srv.Create(t, "alice", mb)
			srv.Append(t, "alice", mb, msg(1))
		}
		st := open(t, srv, "alice")
		ctx := context.Background()
		kTwo := known(scan(t, st, "Two"))
		srv.Append(t, "alice", "One", msg(2))
		uid := srv.Messages(t, "alice", "One")[1].UID
		for _, changeTwo := range []bool{false, true} {
			if changeTwo {
				srv.Append(t, "alice", "Two", msg(3))
			}
			scan(t, st, "Other") // Other is selected, not One
			var got []string
			read := reconcile.BodyRead{Mailbox: "One", UIDs: []reconcile.UID{reconcile.UID(uid)}, Fn: func(m reconcile.FetchedMessage) error {
				b, err := io.ReadAll(m.Body)
				got = append(got, string(b))
				return err
			}}
			two := folder(t, st, "Two")
			readErr, scanErr := st.ReadThenScanSince(ctx, read, &two, kTwo)
			if readErr != nil || scanErr != nil {
				t.Fatalf("Two changed %v: ReadThenScanSince = %v, %v", changeTwo, readErr, scanErr)
			}
			if len(got) != 1 || !strings.Contains(got[0], "body 2") {
				t.Errorf("Two changed %v: read %q, want message 2", changeTwo, got)
			}
			if d := sameScan(two, scan(t, st, "Two")); d != "" {
				t.Errorf("Two changed %v: scan differs from Scan: %s", changeTwo, d)
			}
		}
	})
}
