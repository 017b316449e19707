package imaptest_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// trap is a message body made of lines that look like IMAP commands, one
// of them announcing a literal: a recorder that parsed APPEND's literal
// would record them, or lose its footing.
func trap(size int) []byte {
	body := "T9 LOGIN alice " + imaptest.Password + "\nT10 UID MOVE 1 Archive\nT11 APPEND INBOX {5}\nDONE\n+ go ahead\n"
	for len(body) < size {
		body += strings.Repeat("x", 70) + "\n"
	}
	return imaptest.NewMessage("a@example.org", "b@example.org", "trap", fmt.Sprintf("trap-%d@example.org", size), body)
}

func TestRecord(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		rec := imaptest.Record(t, srv)
		if !strings.HasPrefix(rec.Addr, "127.0.0.1:") || rec.Addr == srv.Addr {
			t.Fatalf("Record().Addr = %q, want a loopback address of its own", rec.Addr)
		}
		via := rec.Server()
		// One message small enough for a non-synchronizing literal, one
		// past 4096 bytes, which go-imap sends as a synchronizing one.
		small, big := trap(0), trap(10_000)
		date := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		u1 := via.AppendAt(t, "alice", "INBOX", small, date, imap.FlagSeen)
		u2 := via.Append(t, "alice", "INBOX", big)
		if n := len(via.Messages(t, "alice", "INBOX")); n != 2 {
			t.Fatalf("Messages through the recorder = %d, want 2", n)
		}
		body, _ := via.Body(t, "alice", "INBOX", u2)

		if !bytes.Equal(body, big) {
			t.Errorf("Body through the recorder differs from what was appended (%d bytes, want %d)", len(body), len(big))
		}
		if got, _ := srv.Body(t, "alice", "INBOX", u1); !bytes.Equal(got, small) {
			t.Errorf("the server holds %q, want %q", got, small)
		}
		cmds := rec.Commands()
		if rec.Count("APPEND") != 2 {
			t.Errorf(`Count("APPEND") = %d, want 2; commands:%s`, rec.Count("APPEND"), lines(cmds))
		}
		for verb, want := range map[string]int{"uid move": 0, "UID FETCH": 1, "FETCH": 1, "LOGIN": 4, "LOGOUT": 4, "DELETE": 0} {
			if got := rec.Count(verb); got != want {
				t.Errorf("Count(%q) = %d, want %d; commands:%s", verb, got, want, lines(cmds))
			}
		}
		if got := rec.BodyFetches(); len(got) != 1 || !strings.Contains(got[0], "BODY.PEEK[]") {
			t.Errorf("BodyFetches() = %q, want the one UID FETCH of BODY.PEEK[]", got)
		}
		for _, c := range cmds {
			if strings.Contains(c, imaptest.Password) || strings.Contains(c, "T1") || strings.Contains(c, "trap") {
				t.Errorf("command %q shows a password, a tag or message content", c)
			}
			if strings.HasPrefix(c, "LOGIN") && c != "LOGIN [redacted]" {
				t.Errorf("command %q, want LOGIN [redacted]", c)
			}
		}
		rec.Reset()
		if got := rec.Commands(); len(got) != 0 {
			t.Errorf("Commands() after Reset = %q", got)
		}
	})
}

// TestRecordFraming talks raw IMAP through the recorder: AUTHENTICATE
// with its SASL response, a synchronizing literal the server refuses (so
// the bytes after it are the next command, not literal data; only
// Dovecot refuses one, memserver takes any), IDLE and DONE, and an APPEND
// whose synchronizing literal holds command-like lines.
func TestRecordFraming(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		rec := imaptest.Record(t, srv)
		c, err := net.Dial("tcp", rec.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		read := func(prefix string) string {
			t.Helper()
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("waiting for %q: %v", prefix, err)
				}
				if strings.HasPrefix(line, prefix) {
					return line
				}
			}
		}
		send := func(s string) {
			t.Helper()
			if _, err := c.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		read("* OK")

		send("a1 AUTHENTICATE PLAIN\r\n")
		read("+")
		send(base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+imaptest.Password)) + "\r\n")
		if line := read("a1 "); !strings.HasPrefix(line, "a1 OK") {
			t.Fatalf("AUTHENTICATE: %q", line)
		}
		want := []string{"AUTHENTICATE PLAIN"}
		if srv.Kind == "dovecot" {
			// Refused before the literal: no literal follows, and the
			// next line is a command.
			send("a2 APPEND Nope {10}\r\n")
			if line := read("a2 "); !strings.HasPrefix(line, "a2 NO") {
				t.Fatalf("APPEND to a missing mailbox: %q, want NO before the literal", line)
			}
			want = append(want, "APPEND Nope {10}")
		}
		send("a3 SELECT INBOX\r\n")
		read("a3 OK")
		send("a4 IDLE\r\n")
		read("+")
		send("DONE\r\n")
		read("a4 OK")
		msg := trap(6000)
		send(fmt.Sprintf("a5 APPEND INBOX (\\Flagged) {%d}\r\n", len(msg)))
		read("+")
		send(string(msg) + "\r\n")
		if line := read("a5 "); !strings.HasPrefix(line, "a5 OK") {
			t.Fatalf("APPEND: %q", line)
		}
		send("a6 LOGOUT\r\n")
		read("a6 OK")

		want = append(want, "SELECT INBOX", "IDLE", fmt.Sprintf(`APPEND INBOX (\Flagged) {%d}`, len(msg)), "LOGOUT")
		if got := rec.Commands(); !slices.Equal(got, want) {
			t.Errorf("Commands() = %s\nwant %s", lines(got), lines(want))
		}
		if got := srv.Messages(t, "alice", "INBOX"); len(got) != 1 || got[0].Size != int64(len(msg)) {
			t.Errorf("INBOX = %+v, want the one %d-byte message", got, len(msg))
		}
	})
}

func TestFetchesBody(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]bool{
		`1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`: false,
		`1:* (UID BODY.PEEK[HEADER])`:                                       false,
		`1 (BODY[1.MIME] BODY[2.HEADER])`:                                   false,
		`1 (BINARY.SIZE[1] BODYSTRUCTURE BODY ENVELOPE)`:                    false,
		`1 (RFC822.SIZE RFC822.HEADER)`:                                     false,
		`1:* FULL`:                                                          false,
		`1 (UID BODY.PEEK[])`:                                               true,
		`1 BODY[]`:                                                          true,
		`1 (body.peek[]<0.1024>)`:                                           true,
		`1 (BODY[TEXT])`:                                                    true,
		`1 (BODY.PEEK[1.2])`:                                                true,
		`1 (BINARY.PEEK[1])`:                                                true,
		`1 RFC822`:                                                          true,
		`1 (FLAGS RFC822.TEXT)`:                                             true,
	} {
		if got := imaptest.FetchesBody("UID FETCH " + line); got != want {
			t.Errorf("FetchesBody(%q) = %v, want %v", line, got, want)
		}
	}
}

func lines(l []string) string {
	return "\n\t" + strings.Join(l, "\n\t")
}

// TestGate: Wait returns at once on an open gate, gives up on a closed
// one after its time and says so, and Held remembers that it did.
func TestGate(t *testing.T) {
	g := imaptest.NewGate()
	if g.Wait(time.Millisecond) || !g.Held() {
		t.Errorf("Wait on a closed gate = true, or Held = false")
	}
	g = imaptest.NewGate()
	g.Open()
	g.Open()
	if !g.Wait(time.Hour) || g.Held() {
		t.Errorf("Wait on an open gate = false, or Held = true")
	}
}
