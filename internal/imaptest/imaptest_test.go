package imaptest_test

import (
	"bytes"
	"fmt"
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

// TestHelpersKeepTheirConnections: the helpers log in once per user and
// server address and use that connection again, giving it back with no
// mailbox selected (UNSELECT, never CLOSE, which would expunge); one
// that no longer answers is replaced; on a server without UNSELECT a
// helper that selected a mailbox logs out.
func TestHelpersKeepTheirConnections(t *testing.T) {
	t.Parallel()
	msg := imaptest.NewMessage("a@example.org", "b@example.org", "kept", "k1@example.org", "hello\n")
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *imaptest.Server
		// conns is how many connections the four helper calls below
		// open: one per user, or, without UNSELECT, one more for
		// alice's Messages, as her AddFlags selected INBOX and logged
		// out.
		conns    int
		unselect bool
	}{
		{"mem", func(t *testing.T) *imaptest.Server { return imaptest.StartMem(t, "alice", "bob") }, 2, true},
		{"dovecot", func(t *testing.T) *imaptest.Server { return imaptest.StartDovecot(t, "alice", "bob") }, 2, true},
		{"dovecot without UNSELECT", func(t *testing.T) *imaptest.Server {
			return imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Capability: "IMAP4rev1 LITERAL+ UIDPLUS MOVE CONDSTORE"}, "alice", "bob")
		}, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := tc.start(t)
			rec := imaptest.Record(t, srv)
			via := *srv // shares srv's idle connections, kept apart by address
			via.Addr = rec.Addr
			uid := via.Append(t, "alice", "INBOX", msg)
			via.AddFlags(t, "alice", "INBOX", uid, imap.FlagDeleted)
			via.Create(t, "bob", "Work")
			if got := via.Messages(t, "alice", "INBOX"); len(got) != 1 {
				t.Fatalf("alice's INBOX holds %d messages, want 1 (flagged \\Deleted, not expunged)", len(got))
			}
			if got := rec.Conns(); got != tc.conns {
				t.Errorf("the helpers opened %d connections, want %d; commands:\n%s", got, tc.conns, strings.Join(rec.Commands(), "\n"))
			}
			if n := rec.Count("CLOSE") + rec.Count("EXPUNGE"); n != 0 {
				t.Errorf("the helpers sent CLOSE or EXPUNGE %d times, want none", n)
			}
			sel, unsel := rec.Count("SELECT")+rec.Count("EXAMINE"), rec.Count("UNSELECT")
			if want := map[bool]int{true: sel, false: 0}[tc.unselect]; sel == 0 || unsel != want {
				t.Errorf("%d selections and %d UNSELECTs, want %d", sel, unsel, want)
			}
			if !tc.unselect {
				return
			}
			// The next byte relayed is the NOOP that checks alice's idle
			// connection: cut there, the helper must dial anew.
			rec.CutAfter(rec.Bytes())
			if got := via.Messages(t, "alice", "INBOX"); len(got) != 1 {
				t.Fatalf("after the cut alice's INBOX holds %d messages, want 1", len(got))
			}
			if got := rec.Conns(); got != tc.conns+1 {
				t.Errorf("after the cut the helpers opened %d connections, want %d", got, tc.conns+1)
			}
			before := len(rec.Commands())
			srv.Messages(t, "alice", "INBOX")
			if got := len(rec.Commands()); got != before {
				t.Errorf("a helper of the server itself went through the proxy's connection: %d commands more", got-before)
			}
		})
	}
}

// TestHelpersKeepFewConnections: only the idle connections used last
// are kept, so a test with many users does not hold a server process
// for each.
func TestHelpersKeepFewConnections(t *testing.T) {
	t.Parallel()
	var users []string
	for i := range 20 {
		users = append(users, fmt.Sprintf("u%02d", i))
	}
	srv := imaptest.StartMem(t, users...)
	rec := imaptest.Record(t, srv)
	via := *srv
	via.Addr = rec.Addr
	for _, u := range users {
		via.Create(t, u, "Work")
	}
	via.Create(t, users[len(users)-1], "Work") // used last: kept
	if got := rec.Conns(); got != len(users) {
		t.Fatalf("%d connections for %d users, want one each", got, len(users))
	}
	via.Create(t, users[0], "Work") // used first: logged out since
	if got, want := rec.Conns(), len(users)+1; got != want {
		t.Errorf("%d connections after the first user's helper ran again, want %d: its idle one should have been logged out", got, want)
	}
	// 20 users given back and one more dialled, 16 kept: 5 logged out.
	if got, want := rec.Count("LOGOUT"), len(users)+1-16; got != want {
		t.Errorf("%d LOGOUTs, want %d: the idle connections kept are not the 16 used last", got, want)
	}
}
