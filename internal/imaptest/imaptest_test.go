package imaptest_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

func TestServers(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice", "bob")
		msg := imaptest.NewMessage("a@example.org", "b@example.org", "Grüße", "m1@example.org", "hello\nworld\n")
		date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 2*3600))
		uid := srv.AppendAt(t, "alice", "Work"+string(srv.Delim)+"Sub", msg, date, imap.FlagSeen, "$Label1")
		if uid == 0 {
			t.Fatal("Append returned UID 0")
		}
		if got := srv.Mailboxes(t, "alice"); !slices.Contains(got, "INBOX") || !slices.Contains(got, "Work"+string(srv.Delim)+"Sub") {
			t.Errorf("Mailboxes(alice) = %q, want INBOX and Work/Sub", got)
		}
		msgs := srv.Messages(t, "alice", "Work"+string(srv.Delim)+"Sub")
		want := imaptest.Msg{UID: uid, Flags: []string{"$label1", `\Seen`}, MessageID: "m1@example.org", Size: int64(len(msg))}
		if len(msgs) != 1 || msgs[0].UID != want.UID || !slices.Equal(msgs[0].Flags, want.Flags) ||
			msgs[0].MessageID != want.MessageID || msgs[0].Size != want.Size || !msgs[0].InternalDate.Equal(date) {
			t.Errorf("Messages = %+v, want [%+v] dated %v", msgs, want, date)
		}
		srv.AddFlags(t, "alice", "Work"+string(srv.Delim)+"Sub", uid, imap.FlagDeleted)
		srv.RemoveFlags(t, "alice", "Work"+string(srv.Delim)+"Sub", uid, imap.FlagSeen)
		if got := srv.Messages(t, "alice", "Work"+string(srv.Delim)+"Sub")[0].Flags; !slices.Equal(got, []string{"$label1", `\Deleted`}) {
			t.Errorf("flags after store = %q, want [$label1 \\Deleted] (and the message not expunged)", got)
		}
		body, _ := srv.Body(t, "alice", "Work"+string(srv.Delim)+"Sub", uid)
		if !bytes.Equal(body, msg) {
			t.Errorf("Body = %q, want %q", body, msg)
		}
		if got := srv.Messages(t, "bob", "INBOX"); len(got) != 0 {
			t.Errorf("bob's INBOX = %+v, want empty", got)
		}
	})
}

func TestDovecotDotSeparator(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Separator: "."})
	if srv.Delim != '.' {
		t.Fatalf("Delim = %q", srv.Delim)
	}
	srv.Create(t, "alice", "A.B")
	if got := srv.Mailboxes(t, "alice"); !slices.Contains(got, "A.B") {
		t.Errorf("Mailboxes = %q, want A.B among them", got)
	}
}

func TestNewMessage(t *testing.T) {
	t.Parallel()
	m := string(imaptest.NewMessage("a@x", "b@x", "hi", "", "x\ny"))
	if strings.Contains(m, "Message-ID") {
		t.Errorf("NewMessage with no id has a Message-ID:\n%s", m)
	}
	if strings.Count(m, "\n") != strings.Count(m, "\r\n") {
		t.Errorf("NewMessage has bare LF:\n%q", m)
	}
	if !strings.HasSuffix(m, "\r\n\r\nx\r\ny\r\n") {
		t.Errorf("NewMessage body = %q", m)
	}
}

// TestMoveAndExpunge: Move takes exactly the one message to the other
// folder, and Expunge removes exactly the one message.
func TestMoveAndExpunge(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		u1 := srv.Append(t, "alice", "INBOX", imaptest.NewMessage("a@example.org", "b@example.org", "one", "m1@example.org", "1\r\n"))
		u2 := srv.Append(t, "alice", "INBOX", imaptest.NewMessage("a@example.org", "b@example.org", "two", "m2@example.org", "2\r\n"))
		srv.Append(t, "alice", "INBOX", imaptest.NewMessage("a@example.org", "b@example.org", "three", "m3@example.org", "3\r\n"))
		srv.Create(t, "alice", "Archive")
		srv.Move(t, "alice", "INBOX", u1, "Archive")
		srv.Expunge(t, "alice", "INBOX", u2)
		ids := func(mailbox string) []string {
			var out []string
			for _, m := range srv.Messages(t, "alice", mailbox) {
				out = append(out, m.MessageID)
			}
			return out
		}
		if got := ids("INBOX"); !slices.Equal(got, []string{"m3@example.org"}) {
			t.Errorf("INBOX = %q, want only m3", got)
		}
		if got := ids("Archive"); !slices.Equal(got, []string{"m1@example.org"}) {
			t.Errorf("Archive = %q, want only m1", got)
		}
	})
}
