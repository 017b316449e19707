package imapstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// snapshot is what a folder holds: UIDVALIDITY and "uid message-id
// flags" lines.
type snapshot struct {
	uidValidity uint32
	msgs        []string
}

// uidOf returns the UID of the first message of s.
func uidOf(s snapshot) uint32 {
	var uid uint32
	fmt.Sscan(s.msgs[0], &uid)
	return uid
}

func snap(t *testing.T, srv *imaptest.Server, mailbox string) snapshot {
	t.Helper()
	s := snapshot{uidValidity: srv.UIDValidity(t, "alice", mailbox)}
	for _, m := range srv.Messages(t, "alice", mailbox) {
		s.msgs = append(s.msgs, fmt.Sprintf("%d %s %s", m.UID, m.MessageID, strings.Join(m.Flags, ",")))
	}
	return s
}

// seedWork makes Work (two messages), Work/Sub, Work/Sub/Deep and
// Work/Other (one each) for alice, and Workshop, a folder that only
// shares the prefix and must never move along. It returns the names
// under Work ("" for Work itself), parents first.
func seedWork(t *testing.T, srv *imaptest.Server) []string {
	t.Helper()
	d := string(srv.Delim)
	srv.Append(t, "alice", "Work", msg(1), imap.FlagSeen)
	srv.Append(t, "alice", "Work", msg(2), imap.FlagFlagged, "$Label1")
	srv.Append(t, "alice", "Work"+d+"Sub", msg(3), imap.FlagAnswered)
	srv.Append(t, "alice", "Work"+d+"Sub"+d+"Deep", msg(4))
	srv.Append(t, "alice", "Work"+d+"Other", msg(5))
	srv.Append(t, "alice", "Workshop", msg(6))
	return []string{"", d + "Sub", d + "Sub" + d + "Deep", d + "Other"}
}

// wantRenamed asserts every folder under from (suffixes) is now under to
// with the same messages, UIDs, flags and UIDVALIDITY, that nothing is
// left under from, and that Workshop is untouched.
func wantRenamed(t *testing.T, srv *imaptest.Server, from, to string, suffixes []string, before map[string]snapshot) {
	t.Helper()
	boxes := srv.Mailboxes(t, "alice")
	for _, name := range boxes {
		if name == from || strings.HasPrefix(name, from+string(srv.Delim)) {
			t.Errorf("after renaming %q to %q the account still has %q: %q", from, to, name, boxes)
		}
	}
	if !slices.Contains(boxes, "Workshop") {
		t.Errorf("after renaming %q to %q: Workshop is gone: %q", from, to, boxes)
	}
	for _, suf := range suffixes {
		if !slices.Contains(boxes, to+suf) {
			t.Errorf("after renaming %q to %q: no %q in %q", from, to, to+suf, boxes)
			continue
		}
		// Both servers keep the mailbox, UIDVALIDITY and UIDs through
		// RENAME (LIBNOTES.md): no message may have been copied.
		if got, want := snap(t, srv, to+suf), before[from+suf]; got.uidValidity != want.uidValidity || !slices.Equal(got.msgs, want.msgs) {
			t.Errorf("%s server: %q = %+v, want %q's UIDVALIDITY and messages %+v", srv.Kind, to+suf, got, from+suf, want)
		}
	}
}

func TestRenameFolder(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		suffixes := seedWork(t, srv)
		before := map[string]snapshot{}
		for _, suf := range suffixes {
			before["Work"+suf] = snap(t, srv, "Work"+suf)
		}
		st := open(t, srv, "alice")
		ctx := context.Background()
		// Work is the selected mailbox when it is renamed.
		if f := scan(t, st, "Work"); len(f.Messages) != 2 {
			t.Fatalf("Scan(Work) = %+v", f.Messages)
		}
		if err := st.RenameFolder(ctx, "Work", "Projects"); err != nil {
			t.Fatalf("RenameFolder(Work, Projects) = %v", err)
		}
		wantRenamed(t, srv, "Work", "Projects", suffixes, before)

		// The Store does not believe Work is still selected: a Fetch
		// (which reuses a selection) must not read Projects as Work.
		err := st.Fetch(ctx, "Work", []reconcile.UID{reconcile.UID(uidOf(before["Work"]))}, func(m reconcile.FetchedMessage) error {
			_, err := io.Copy(io.Discard, m.Body)
			return err
		})
		if err == nil {
			t.Errorf("Fetch(Work) after renaming it = nil, want an error")
		}
		if err := st.Scan(ctx, &reconcile.Folder{Mailbox: "Work"}); err == nil {
			t.Errorf("Scan(Work) after renaming it = nil, want an error")
		}
		if f := scan(t, st, "Projects"); len(f.Messages) != 2 {
			t.Errorf("Scan(Projects) = %+v, want Work's two messages", f.Messages)
		}
		// A rename into a new hierarchy, while a child of the folder is
		// selected.
		d := string(srv.Delim)
		deep := "Projects" + d + "Sub" + d + "Deep"
		if f := scan(t, st, deep); len(f.Messages) != 1 {
			t.Fatalf("Scan(%q) = %+v", deep, f.Messages)
		}
		if err := st.RenameFolder(ctx, "Projects"+d+"Sub", "Archive"+d+"2025"); err != nil {
			t.Fatalf("RenameFolder(Projects/Sub, Archive/2025) = %v", err)
		}
		boxes := srv.Mailboxes(t, "alice")
		for _, want := range []string{"Archive" + d + "2025", "Archive" + d + "2025" + d + "Deep", "Projects", "Projects" + d + "Other"} {
			if !slices.Contains(boxes, want) {
				t.Errorf("after RenameFolder(Projects/Sub, Archive/2025): mailboxes %q, want %q", boxes, want)
			}
		}
		if got, want := snap(t, srv, "Archive"+d+"2025"+d+"Deep"), before["Work"+d+"Sub"+d+"Deep"]; !slices.Equal(got.msgs, want.msgs) {
			t.Errorf("Archive/2025/Deep = %+v, want %+v", got, want)
		}
		err = st.Fetch(ctx, deep, []reconcile.UID{reconcile.UID(uidOf(before["Work"+d+"Sub"+d+"Deep"]))}, func(m reconcile.FetchedMessage) error {
			_, err := io.Copy(io.Discard, m.Body)
			return err
		})
		if err == nil {
			t.Errorf("Fetch(%q) after renaming its parent = nil, want an error", deep)
		}

		// Names outside ASCII travel in modified UTF-7, LIST patterns too.
		if err := st.RenameFolder(ctx, "Projects", "Projekte-ä"); err != nil {
			t.Fatalf("RenameFolder(Projects, Projekte-ä) = %v", err)
		}
		if got := srv.Mailboxes(t, "alice"); !slices.Contains(got, "Projekte-ä"+d+"Other") || slices.Contains(got, "Projects"+d+"Other") {
			t.Errorf("after RenameFolder(Projects, Projekte-ä): mailboxes %q, want Projekte-ä/Other and no Projects/Other", got)
		}
		if err := st.RenameFolder(ctx, "Projekte-ä", "Ωμέγα"); err != nil {
			t.Fatalf("RenameFolder(Projekte-ä, Ωμέγα) = %v", err)
		}
		if got := srv.Mailboxes(t, "alice"); !slices.Contains(got, "Ωμέγα"+d+"Other") || slices.Contains(got, "Projekte-ä"+d+"Other") {
			t.Errorf("after RenameFolder(Projekte-ä, Ωμέγα): mailboxes %q, want Ωμέγα/Other and nothing under Projekte-ä", got)
		}
	})
}

// TestRenameFolderRetry: the rename happened already (a crash before the
// state was saved), in full on Dovecot, without the children on
// imapmemserver, whose RENAME leaves them behind. RenameFolder then
// succeeds and finishes the job; and again, as a no-op.
func TestRenameFolderRetry(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		suffixes := seedWork(t, srv)
		before := map[string]snapshot{}
		for _, suf := range suffixes {
			before["Work"+suf] = snap(t, srv, "Work"+suf)
		}
		srv.Rename(t, "alice", "Work", "Projects")
		st := open(t, srv, "alice")
		for i := range 2 {
			if err := st.RenameFolder(context.Background(), "Work", "Projects"); err != nil {
				t.Fatalf("RenameFolder(Work, Projects) #%d after the RENAME = %v", i+1, err)
			}
			wantRenamed(t, srv, "Work", "Projects", suffixes, before)
		}
		// Neither name exists: the server's error, with context.
		err := st.RenameFolder(context.Background(), "Nope", "Nope2")
		if err == nil || !strings.HasPrefix(err.Error(), `account "acct": rename folder "Nope" to "Nope2": `) {
			t.Errorf("RenameFolder(Nope, Nope2) = %v, want an error naming account, operation and folders", err)
		}
	})
}

// TestRenameFolderAnswerLost: the connection is cut as the server
// answers the RENAME (it renamed) or as it receives it (it did not).
// RenameFolder looks on a new connection and tells which: done, it
// returns nil, with the children moved along on both servers; not
// done, the error, and nothing moved. Reported failed, a RENAME the
// server did was read by the next run as the user's own rename, and
// decided otherwise than the run that made it (TestRandomEndToEnd
// -e2e.cuts 0.5, Dovecot seed 120).
func TestRenameFolderAnswerLost(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		for _, stage := range []imaptest.Stage{imaptest.Answered, imaptest.Received} {
			t.Run(stage.String(), func(t *testing.T) {
				srv := start(t)
				suffixes := seedWork(t, srv)
				before := map[string]snapshot{}
				for _, suf := range suffixes {
					before["Work"+suf] = snap(t, srv, "Work"+suf)
				}
				rec := imaptest.Record(t, srv)
				st := open(t, rec.Server(), "alice")
				var cut atomic.Bool
				rec.Intercept(func(e imaptest.Event) imaptest.Action {
					if e.Verb == "RENAME" && e.Stage == stage && cut.CompareAndSwap(false, true) {
						return imaptest.Action{Do: imaptest.Cut}
					}
					return imaptest.Action{}
				})
				err := st.RenameFolder(context.Background(), "Work", "Projects")
				if !cut.Load() {
					t.Fatal("no RENAME was cut")
				}
				if stage == imaptest.Answered {
					if err != nil {
						t.Fatalf("RenameFolder(Work, Projects) with the answer lost = %v, want nil: the server renamed", err)
					}
					wantRenamed(t, srv, "Work", "Projects", suffixes, before)
					return
				}
				if err == nil {
					t.Fatalf("RenameFolder(Work, Projects) cut before the server had it = nil, want an error")
				}
				if boxes := srv.Mailboxes(t, "alice"); !slices.Contains(boxes, "Work") || slices.Contains(boxes, "Projects") {
					t.Errorf("after a RENAME the server never had: mailboxes %q, want Work and no Projects", boxes)
				}
			})
		}
	})
}

// TestRenameFolderRefusesMerge: RenameFolder never merges two folders,
// at the top or for a child, and refuses before changing anything.
func TestRenameFolderRefusesMerge(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		d := string(srv.Delim)
		seedWork(t, srv)
		srv.Append(t, "alice", "Projects", msg(7))
		srv.Append(t, "alice", "Zone"+d+"Other", msg(8)) // Zone itself is no folder
		names := func() []string { return srv.Mailboxes(t, "alice") }
		all := names()
		counts := map[string]int{}
		for _, n := range all {
			counts[n] = len(srv.Messages(t, "alice", n))
		}
		st := open(t, srv, "alice")
		ctx := context.Background()

		for _, tc := range []struct {
			to, clash string
		}{
			{"Projects", "Projects"},       // to is a folder
			{"Zone", "Zone" + d + "Other"}, // Work/Other would land on Zone/Other
		} {
			err := st.RenameFolder(ctx, "Work", tc.to)
			if !errors.Is(err, imapstore.ErrFolderExists) || !strings.HasPrefix(err.Error(), fmt.Sprintf(`account "acct": rename folder "Work" to %q: `, tc.to)) ||
				!strings.Contains(err.Error(), fmt.Sprintf("%q is a folder of its own", tc.clash)) {
				t.Errorf("RenameFolder(Work, %s) = %v, want ErrFolderExists naming %q", tc.to, err, tc.clash)
			}
		}
		for _, tc := range []struct{ from, to, why string }{
			{"Work", "Work" + d + "Inner", "moved under itself"},
			{"INBOX", "Old", "INBOX cannot be renamed"},
			{"Work", "Work", "the same name"},
		} {
			if err := st.RenameFolder(ctx, tc.from, tc.to); err == nil || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("RenameFolder(%s, %s) = %v, want a refusal saying %q", tc.from, tc.to, err, tc.why)
			}
		}
		if got := names(); !slices.Equal(got, all) {
			t.Fatalf("refused renames changed the folders: %q, was %q", got, all)
		}
		for n, c := range counts {
			if got := len(srv.Messages(t, "alice", n)); got != c {
				t.Errorf("%q holds %d messages after refused renames, was %d", n, got, c)
			}
		}
	})
}

// TestLeaveMailbox: a connection that has a folder selected leaves it
// (LeaveMailbox of the folder or of a folder above it), so that another
// connection of the run renames it, and it goes on working, logged in
// once. Dovecot ends a session whose selected mailbox another session
// renames ("IMAP session state is inconsistent, please relogin") at
// its next command that keeps the selection: in a run, a copy on
// another worker's connection failed (found by TestRandomEndToEnd, seed
// 10). Leaving a folder not selected sends nothing.
func TestLeaveMailbox(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		srv.Create(t, "alice", "Box")
		srv.Create(t, "alice", "Box/Sub")
		srv.Append(t, "alice", "Box/Sub", msg(1))
		srv.Append(t, "alice", "INBOX", msg(2))
		ctx := context.Background()
		rec := imaptest.Record(t, srv)
		worker := open(t, rec.Server(), "alice")
		first := open(t, srv, "alice")

		scan(t, worker, "INBOX")
		rec.Reset()
		if err := worker.LeaveMailbox(ctx, "Box"); err != nil {
			t.Fatalf("LeaveMailbox(Box) with INBOX selected = %v", err)
		}
		if cmds := rec.Commands(); slices.Contains(cmds, "UNSELECT") || slices.Contains(cmds, "CLOSE") {
			t.Errorf("leaving a folder not selected sent:\n%s", strings.Join(cmds, "\n"))
		}

		scan(t, worker, "Box/Sub")
		if err := worker.LeaveMailbox(ctx, "Box"); err != nil {
			t.Fatalf("LeaveMailbox(Box) with Box/Sub selected = %v", err)
		}
		if err := first.RenameFolder(ctx, "Box", "Moved"); err != nil {
			t.Fatalf("RenameFolder() = %v", err)
		}
		rec.Reset()
		// An APPEND keeps the selection, which the server brings up to
		// date after it.
		b := msg(3)
		if _, err := worker.Append(ctx, "INBOX", nil, time.Time{}, int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatalf("Append() on the worker after the rename = %v", err)
		}
		if got := scan(t, worker, "INBOX"); len(got.Messages) != 2 {
			t.Errorf("INBOX after the rename and an append: %d messages, want 2", len(got.Messages))
		}
		if got := scan(t, worker, "Moved/Sub"); len(got.Messages) != 1 {
			t.Errorf("Moved/Sub: %d messages, want 1", len(got.Messages))
		}
		if n := rec.Count("LOGIN"); n != 0 {
			t.Errorf("the worker logged in again (%d) after the rename: its session had ended", n)
		}
	})
}
