package imaptest_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// seedTree makes Work (two messages, flags and dates set), Work/Sub
// (one) and Workshop (one, a sibling that only shares the prefix) for
// alice.
func seedTree(t *testing.T, srv *imaptest.Server) {
	t.Helper()
	d := string(srv.Delim)
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	srv.AppendAt(t, "alice", "Work", imaptest.NewMessage("a@x", "b@x", "one", "w1@x", "1\n"), at, imap.FlagSeen, "$Label1")
	srv.AppendAt(t, "alice", "Work", imaptest.NewMessage("a@x", "b@x", "two", "w2@x", "2\n"), at.Add(time.Hour), imap.FlagFlagged)
	srv.AppendAt(t, "alice", "Work"+d+"Sub", imaptest.NewMessage("a@x", "b@x", "sub", "s1@x", "3\n"), at, imap.FlagAnswered)
	srv.Append(t, "alice", "Workshop", imaptest.NewMessage("a@x", "b@x", "shop", "ws@x", "4\n"))
}

// sameMessages compares two listings by everything but the UID.
func sameMessages(a, b []imaptest.Msg) bool {
	return slices.EqualFunc(a, b, func(x, y imaptest.Msg) bool {
		return x.MessageID == y.MessageID && slices.Equal(x.Flags, y.Flags) && x.Size == y.Size && x.InternalDate.Equal(y.InternalDate)
	})
}

func uids(ms []imaptest.Msg) []uint32 {
	var out []uint32
	for _, m := range ms {
		out = append(out, m.UID)
	}
	return out
}

func TestRenameByCopy(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		d := string(srv.Delim)
		seedTree(t, srv)
		work, sub := srv.Messages(t, "alice", "Work"), srv.Messages(t, "alice", "Work"+d+"Sub")
		uv, uvSub := srv.UIDValidity(t, "alice", "Work"), srv.UIDValidity(t, "alice", "Work"+d+"Sub")

		srv.RenameByCopy(t, "alice", "Work", "Projects")

		got := srv.Mailboxes(t, "alice")
		for _, name := range []string{"Projects", "Projects" + d + "Sub", "Workshop"} {
			if !slices.Contains(got, name) {
				t.Errorf("mailboxes after RenameByCopy = %q, want %q among them", got, name)
			}
		}
		for _, name := range got {
			if name == "Work" || strings.HasPrefix(name, "Work"+d) {
				t.Errorf("mailboxes after RenameByCopy = %q, still with %q", got, name)
			}
		}
		if p := srv.Messages(t, "alice", "Projects"); !sameMessages(p, work) {
			t.Errorf("Projects = %+v, want Work's messages %+v", p, work)
		}
		if p := srv.Messages(t, "alice", "Projects"+d+"Sub"); !sameMessages(p, sub) {
			t.Errorf("Projects/Sub = %+v, want Work/Sub's messages %+v", p, sub)
		}
		if srv.UIDValidity(t, "alice", "Projects") == uv || srv.UIDValidity(t, "alice", "Projects"+d+"Sub") == uvSub {
			t.Errorf("RenameByCopy kept a UIDVALIDITY")
		}
	})
}

// TestMakeAnew: the mailbox stays under its name, with the same
// messages, flags and dates, a new UIDVALIDITY, and its child likewise;
// no other mailbox is left behind.
func TestMakeAnew(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		d := string(srv.Delim)
		seedTree(t, srv)
		before := srv.Mailboxes(t, "alice")
		work, sub := srv.Messages(t, "alice", "Work"), srv.Messages(t, "alice", "Work"+d+"Sub")
		uv, uvSub := srv.UIDValidity(t, "alice", "Work"), srv.UIDValidity(t, "alice", "Work"+d+"Sub")

		srv.MakeAnew(t, "alice", "Work")

		if got := srv.Mailboxes(t, "alice"); !slices.Equal(got, before) {
			t.Errorf("mailboxes after MakeAnew = %q, want %q", got, before)
		}
		if w := srv.Messages(t, "alice", "Work"); !sameMessages(w, work) {
			t.Errorf("Work = %+v, want its messages %+v", w, work)
		}
		if s := srv.Messages(t, "alice", "Work"+d+"Sub"); !sameMessages(s, sub) {
			t.Errorf("Work/Sub = %+v, want its messages %+v", s, sub)
		}
		if srv.UIDValidity(t, "alice", "Work") == uv || srv.UIDValidity(t, "alice", "Work"+d+"Sub") == uvSub {
			t.Errorf("MakeAnew kept a UIDVALIDITY")
		}
	})
}

// TestRename pins down what the servers do with a plain RENAME: both keep
// the mailbox's UIDVALIDITY and UIDs; Dovecot renames the children with
// it, imapmemserver leaves them under the old name (LIBNOTES.md).
func TestRename(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		d := string(srv.Delim)
		seedTree(t, srv)
		work := srv.Messages(t, "alice", "Work")
		uv := srv.UIDValidity(t, "alice", "Work")

		srv.Rename(t, "alice", "Work", "Projects")

		if p := srv.Messages(t, "alice", "Projects"); !sameMessages(p, work) || !slices.Equal(uids(p), uids(work)) {
			t.Errorf("Projects = %+v, want Work's messages with their UIDs %+v", p, work)
		}
		if got := srv.UIDValidity(t, "alice", "Projects"); got != uv {
			t.Errorf("UIDVALIDITY after RENAME = %d, was %d", got, uv)
		}
		got := srv.Mailboxes(t, "alice")
		moved := slices.Contains(got, "Projects"+d+"Sub") && !slices.Contains(got, "Work"+d+"Sub")
		left := !slices.Contains(got, "Projects"+d+"Sub") && slices.Contains(got, "Work"+d+"Sub")
		if srv.Kind == "dovecot" && !moved || srv.Kind == "mem" && !left {
			t.Errorf("%s server: mailboxes after RENAME Work Projects = %q", srv.Kind, got)
		}
		if slices.Contains(got, "Work") || !slices.Contains(got, "Workshop") {
			t.Errorf("mailboxes after RENAME Work Projects = %q, want no Work and Workshop untouched", got)
		}
	})
}
