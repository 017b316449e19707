package imaptest_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// small fits a non-synchronizing literal (go-imap sends up to 4096 bytes
// so to a server with LITERAL- or LITERAL+); big needs a synchronizing
// one.
var (
	small = imaptest.NewMessage("a@example.org", "b@example.org", "small", "small@example.org", "hi\n")
	big   = trap(10_000)
)

// appendVia appends msg to INBOX through c and returns the command's
// error.
func appendVia(c *imapclient.Client, msg []byte) error {
	w := c.Append("INBOX", int64(len(msg)), nil)
	if _, err := w.Write(msg); err != nil {
		w.Close()
		_, werr := w.Wait()
		return errors.Join(err, werr)
	}
	if err := w.Close(); err != nil {
		_, werr := w.Wait()
		return errors.Join(err, werr)
	}
	_, err := w.Wait()
	return err
}

// only intercepts the commands of verb at stage with act; the rest
// pass.
func only(stage imaptest.Stage, verb string, act imaptest.Action) func(imaptest.Event) imaptest.Action {
	return func(e imaptest.Event) imaptest.Action {
		if e.Stage == stage && e.Verb == verb {
			return act
		}
		return imaptest.Action{}
	}
}

func TestInterceptRefuseAppend(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		rec := imaptest.Record(t, srv)
		rec.Intercept(only(imaptest.Received, "APPEND", imaptest.Action{Do: imaptest.Refuse, Text: "[OVERQUOTA] Quota exceeded"}))
		// go-imap closes its connection after a synchronizing literal
		// is refused (its encoder keeps the error), so each APPEND gets
		// a connection of its own.
		for name, msg := range map[string][]byte{"non-synchronizing": small, "synchronizing": big} {
			c := rec.Server().Dial(t, "alice")
			err := appendVia(c, msg)
			var ierr *imap.Error
			if !errors.As(err, &ierr) || ierr.Type != imap.StatusResponseTypeNo || ierr.Code != imap.ResponseCodeOverQuota || ierr.Text != "Quota exceeded" {
				t.Errorf("APPEND with a %s literal = %v, want NO [OVERQUOTA] Quota exceeded", name, err)
			}
			if name == "non-synchronizing" {
				// The literal was not taken for commands: the next
				// command works.
				if err := c.Noop().Wait(); err != nil {
					t.Errorf("NOOP after the refusal: %v", err)
				}
			}
		}
		if got := srv.Messages(t, "alice", "INBOX"); len(got) != 0 {
			t.Errorf("the server holds %d messages, want none", len(got))
		}
		rec.Intercept(nil)
		if err := appendVia(rec.Server().Dial(t, "alice"), big); err != nil {
			t.Fatalf("APPEND with no interceptor: %v", err)
		}
		if got := srv.Messages(t, "alice", "INBOX"); len(got) != 1 {
			t.Errorf("the server holds %d messages, want 1", len(got))
		}
		if n := rec.Count("APPEND"); n != 3 {
			t.Errorf(`Count("APPEND") = %d, want 3 (refused commands are recorded too)`, n)
		}
	})
}

// raw is a plain connection to the proxy, for the framing tests.
type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &raw{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *raw) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// read returns the next line that starts with prefix, skipping others.
func (c *raw) read(prefix string) string {
	c.t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(line, prefix) {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (c *raw) login() {
	c.t.Helper()
	c.read("* OK")
	c.send("L1 LOGIN alice " + imaptest.Password + "\r\n")
	if line := c.read("L1 "); !strings.HasPrefix(line, "L1 OK") {
		c.t.Fatalf("LOGIN: %q", line)
	}
}

// TestInterceptRefuseLiterals refuses APPENDs written by hand: a
// synchronizing literal is refused at once (the client never gets "+"),
// the data of a non-synchronizing one is swallowed with the rest of the
// command, even when it holds lines that look like commands.
func TestInterceptRefuseLiterals(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		rec := imaptest.Record(t, srv)
		rec.Intercept(only(imaptest.Received, "APPEND", imaptest.Action{Do: imaptest.Refuse, Text: "[LIMIT] message too large"}))
		c := dialRaw(t, rec.Addr)
		c.login()

		c.send("a1 APPEND INBOX {10}\r\n")
		if line := c.read(""); line != "a1 NO [LIMIT] message too large" {
			t.Fatalf("APPEND with a synchronizing literal: %q, want a1 NO before the literal", line)
		}
		// Two non-synchronizing literals in one command (MULTIAPPEND's
		// shape), the first of them holding a command of its own.
		lit := "a9 DELETE INBOX\r\n"
		c.send(fmt.Sprintf("a2 APPEND INBOX {%d+}\r\n%s (\\Seen) {5+}\r\nhello\r\n", len(lit), lit))
		if line := c.read(""); line != "a2 NO [LIMIT] message too large" {
			t.Fatalf("APPEND with non-synchronizing literals: %q, want a2 NO", line)
		}
		c.send("a3 NOOP\r\n")
		if line := c.read("a"); !strings.HasPrefix(line, "a3 OK") {
			t.Fatalf("the line after the refused APPEND: %q, want a3 OK", line)
		}
		want := []string{"LOGIN [redacted]", "APPEND INBOX {10}", fmt.Sprintf(`APPEND INBOX {%d+} (\Seen) {5+}`, len(lit)), "NOOP"}
		if got := rec.Commands(); !slices.Equal(got, want) {
			t.Errorf("Commands() = %s\nwant %s", lines(got), lines(want))
		}
		if got := srv.Messages(t, "alice", "INBOX"); len(got) != 0 {
			t.Errorf("the server holds %d messages, want none", len(got))
		}
	})
}

// TestInterceptEvents checks what an interceptor is told: both stages of
// each command with one Seq, connections numbered, the line cut at the
// first literal at Received, the completion at Answered.
func TestInterceptEvents(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		rec := imaptest.Record(t, srv)
		var (
			mu     sync.Mutex
			events []imaptest.Event
		)
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
			return imaptest.Action{}
		})
		c := dialRaw(t, rec.Addr)
		c.login()
		c.send("a1 IDLE\r\n")
		c.read("+")
		c.send("DONE\r\n")
		c.read("a1 OK")
		c.send("a2 APPEND INBOX (\\Seen) {5+}\r\nhello\r\n")
		c.read("a2 OK")
		c2 := dialRaw(t, rec.Addr)
		c2.login()

		mu.Lock()
		defer mu.Unlock()
		type key struct {
			stage     imaptest.Stage
			conn, seq int
			verb      string
			line      string
		}
		var got []key
		for _, e := range events {
			got = append(got, key{e.Stage, e.Conn, e.Seq, e.Verb, e.Line})
			switch {
			case e.Stage == imaptest.Received && e.Status != "":
				t.Errorf("event %+v: Status at Received", e)
			case e.Stage == imaptest.Answered && !strings.HasPrefix(e.Status, "OK"):
				t.Errorf("event %+v: Status %q, want the OK completion", e, e.Status)
			case e.Stage == imaptest.Answered && e.Verb == "APPEND" && !strings.Contains(e.Status, "[APPENDUID "):
				t.Errorf("event %+v: Status %q, want APPENDUID", e, e.Status)
			}
		}
		want := []key{
			{imaptest.Received, 1, 1, "LOGIN", "LOGIN [redacted]"},
			{imaptest.Answered, 1, 1, "LOGIN", "LOGIN [redacted]"},
			{imaptest.Received, 1, 2, "IDLE", "IDLE"},
			{imaptest.Answered, 1, 2, "IDLE", "IDLE"},
			{imaptest.Received, 1, 3, "APPEND", `APPEND INBOX (\Seen) {5+}`},
			{imaptest.Answered, 1, 3, "APPEND", `APPEND INBOX (\Seen) {5+}`},
			{imaptest.Received, 2, 4, "LOGIN", "LOGIN [redacted]"},
			{imaptest.Answered, 2, 4, "LOGIN", "LOGIN [redacted]"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("events:\n%v\nwant\n%v", got, want)
		}
	})
}

// TestInterceptFaults puts each fault on an APPEND at each stage and
// checks what the client sees and whether the server did the command.
func TestInterceptFaults(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		for _, tc := range []struct {
			stage imaptest.Stage
			do    imaptest.Kind
			// see is the client's next line ("" for none), eof says
			// the connection is closed after it, stored says the server
			// has the message.
			see    string
			eof    bool
			stored bool
		}{
			{imaptest.Received, imaptest.Refuse, "a2 NO no way", false, false},
			{imaptest.Received, imaptest.Bye, "* BYE no way", true, false},
			{imaptest.Received, imaptest.Cut, "", true, false},
			{imaptest.Received, imaptest.Stall, "", false, false},
			{imaptest.Answered, imaptest.Refuse, "a2 NO no way", false, true},
			{imaptest.Answered, imaptest.Bye, "* BYE no way", true, true},
			{imaptest.Answered, imaptest.Cut, "", true, true},
			{imaptest.Answered, imaptest.Stall, "", false, true},
			{imaptest.Answered, imaptest.Rewrite, "a2 no way", false, true},
		} {
			t.Run(fmt.Sprintf("%v/%v", tc.stage, tc.do), func(t *testing.T) {
				t.Parallel()
				srv := start(t)
				rec := imaptest.Record(t, srv)
				fired := make(chan struct{})
				var once sync.Once
				rec.Intercept(func(e imaptest.Event) imaptest.Action {
					if e.Stage != tc.stage || e.Verb != "APPEND" {
						return imaptest.Action{}
					}
					once.Do(func() { close(fired) })
					return imaptest.Action{Do: tc.do, Text: "no way"}
				})
				c := dialRaw(t, rec.Addr)
				c.login()
				c.send("a2 APPEND INBOX {5+}\r\nhello\r\n")
				<-fired
				if tc.see != "" {
					if line := c.read(""); line != tc.see {
						t.Errorf("client reads %q, want %q", line, tc.see)
					}
				}
				switch {
				case tc.eof:
					if b, err := io.ReadAll(c.r); err != nil || len(b) != 0 {
						t.Errorf("after the fault the client reads %q, %v; want the connection closed", b, err)
					}
				case tc.do == imaptest.Stall:
					// Nothing comes, and the connection stays open: a
					// short deadline ends the wait, not EOF.
					c.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
					b, err := c.r.ReadByte()
					var nerr net.Error
					if !errors.As(err, &nerr) || !nerr.Timeout() {
						t.Errorf("a stalled connection gives %q, %v; want a read timeout", b, err)
					}
				default:
					c.send("a3 NOOP\r\n")
					if line := c.read("a3 "); !strings.HasPrefix(line, "a3 OK") {
						t.Errorf("NOOP after the fault: %q", line)
					}
				}
				want := 0
				if tc.stored {
					want = 1
				}
				if got := srv.Messages(t, "alice", "INBOX"); len(got) != want {
					t.Errorf("the server holds %d messages, want %d", len(got), want)
				}
			})
		}
	})
}

// TestByteFaults cuts and stalls connections at byte counts, and checks
// Bytes counts what was relayed, both ways.
func TestByteFaults(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		rec := imaptest.Record(t, srv)

		c := dialRaw(t, rec.Addr)
		greeting := c.read("* OK")
		cmd := "a1 LOGOUT\r\n"
		c.send(cmd)
		rest, err := io.ReadAll(c.r)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rec.Bytes(), int64(len(greeting)+2+len(cmd)+len(rest)); got != want {
			t.Errorf("Bytes() after a LOGOUT session = %d, want %d", got, want)
		}

		// Cut in the server's greeting.
		at := rec.Bytes()
		rec.CutAfter(at + 7)
		c = dialRaw(t, rec.Addr)
		if b, err := io.ReadAll(c.r); err != nil || string(b) != greeting[:7] {
			t.Errorf("cut 7 bytes in: the client reads %q, %v; want %q then EOF", b, err, greeting[:7])
		}
		if got := rec.Bytes(); got != at+7 {
			t.Errorf("Bytes() = %d, want %d", got, at+7)
		}
		if n := rec.Faulted(); n != 2 {
			t.Errorf("Faulted() = %d, want 2 (the cut connection)", n)
		}

		// Cut in the client's command: the server gets "a1 NO" of
		// "a1 NOOP" and never answers; the client sees EOF.
		at = rec.Bytes()
		rec.CutAfter(at + int64(len(greeting)+2+5))
		c = dialRaw(t, rec.Addr)
		c.read("* OK")
		c.send("a1 NOOP\r\n")
		if b, err := io.ReadAll(c.r); err != nil || len(b) != 0 {
			t.Errorf("cut in the command: the client reads %q, %v; want EOF", b, err)
		}
		if got, want := rec.Bytes(), at+int64(len(greeting)+2+5); got != want {
			t.Errorf("Bytes() = %d, want %d", got, want)
		}

		// The fault fires once: the next connection works.
		c = dialRaw(t, rec.Addr)
		c.login()

		// Stall in the greeting: 7 bytes, then nothing, connection
		// open.
		rec.StallAfter(rec.Bytes() + 7)
		c = dialRaw(t, rec.Addr)
		b := make([]byte, 7)
		if _, err := io.ReadFull(c.r, b); err != nil || string(b) != greeting[:7] {
			t.Errorf("stall 7 bytes in: the client reads %q, %v; want %q", b, err, greeting[:7])
		}
		c.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		var nerr net.Error
		if b, err := c.r.ReadByte(); !errors.As(err, &nerr) || !nerr.Timeout() {
			t.Errorf("a stalled connection gives %q, %v; want a read timeout", b, err)
		}
		if n := rec.Faulted(); n != 5 {
			t.Errorf("Faulted() = %d, want 5 (the stalled connection)", n)
		}
		if n := rec.Conns(); n != 5 {
			t.Errorf("Conns() = %d, want 5", n)
		}
	})
}

// TestCutNextOn: a cut armed for one connection lets the bytes of
// another pass (here a NOOP and its answer, which CutAfter(Bytes())
// would have cut), and closes its own connection at its next byte.
func TestCutNextOn(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		rec := imaptest.Record(t, srv)
		first := dialRaw(t, rec.Addr)
		first.login()
		second := dialRaw(t, rec.Addr)
		second.login()

		rec.CutNextOn(2)
		first.send("n1 NOOP\r\n")
		if line := first.read("n1 "); !strings.HasPrefix(line, "n1 OK") {
			t.Errorf("NOOP on the other connection = %q, want OK", line)
		}
		if n := rec.Faulted(); n != 0 {
			t.Errorf("Faulted() = %d after the other connection's NOOP, want 0", n)
		}
		second.send("n2 NOOP\r\n")
		if b, err := io.ReadAll(second.r); err != nil || len(b) != 0 {
			t.Errorf("the armed connection reads %q, %v; want EOF", b, err)
		}
		if n := rec.Faulted(); n != 2 {
			t.Errorf("Faulted() = %d, want 2", n)
		}
		// The fault fires once: the first connection goes on.
		first.send("n3 NOOP\r\n")
		if line := first.read("n3 "); !strings.HasPrefix(line, "n3 OK") {
			t.Errorf("NOOP after the cut = %q, want OK", line)
		}
	})
}

// TestClientGoneInLiteral: a client that goes away in the middle of an
// APPEND's literal, or after the server's go-ahead for it and before
// it, leaves no message behind, on either server. (The proxy resets the
// server's connection then: go-imap's memory server would store the
// part it got, or an empty message, on a clean EOF.)
func TestClientGoneInLiteral(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		for name, send := range map[string]func(c *raw){
			"in the literal": func(c *raw) {
				c.send("a1 APPEND INBOX {100+}\r\nMessage-ID: <half@example.org>\r\n\r\nhalf a")
			},
			"before the literal": func(c *raw) {
				c.send("a1 APPEND INBOX {100}\r\n")
				c.read("+")
			},
		} {
			t.Run(name, func(t *testing.T) {
				srv := start(t)
				rec := imaptest.Record(t, srv)
				c := dialRaw(t, rec.Addr)
				c.login()
				send(c)
				c.c.Close()
				// A new login through the proxy takes a few round trips:
				// by then a server that stores what it got has done so
				// (memserver does, without the reset, every time).
				c2 := dialRaw(t, rec.Addr)
				c2.login()
				if got := srv.Messages(t, "alice", "INBOX"); len(got) != 0 {
					t.Errorf("the server holds %+v, want nothing", got)
				}
			})
		}
	})
}

// TestIdling: a connection counts as idling from the server's "+" to its
// IDLE, once the client has it, until DONE; a connection that is not
// in IDLE, or closed, does not.
func TestIdling(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		rec := imaptest.Record(t, srv)
		busy := dialRaw(t, rec.Addr)
		busy.login()
		idler := dialRaw(t, rec.Addr)
		idler.login()
		idler.send("s1 SELECT INBOX\r\n")
		idler.read("s1 OK")
		if got := rec.Idling(); len(got) != 0 {
			t.Errorf("Idling() = %v before any IDLE, want none", got)
		}
		idler.send("i1 IDLE\r\n")
		idler.read("+")
		if got := rec.Idling(); !slices.Equal(got, []int{2}) {
			t.Errorf("Idling() = %v once connection 2 has the server's +, want [2]", got)
		}
		busy.send("n1 NOOP\r\n")
		busy.read("n1 OK")
		idler.send("DONE\r\n")
		idler.read("i1 OK")
		if got := rec.Idling(); len(got) != 0 {
			t.Errorf("Idling() = %v after DONE, want none", got)
		}
		idler.send("i2 IDLE\r\n")
		idler.read("+")
		if got := rec.Idling(); !slices.Equal(got, []int{2}) {
			t.Errorf("Idling() = %v in the second IDLE, want [2]", got)
		}
		// Its next byte, the client's DONE, cuts it. (Not a delivery:
		// go-imap's memory server may not report one to an IDLE.)
		rec.CutNextOn(2)
		idler.send("DONE\r\n")
		if b, err := io.ReadAll(idler.r); err != nil || len(b) != 0 {
			t.Errorf("the idle connection reads %q, %v after its DONE; want EOF (cut)", b, err)
		}
		if got := rec.Idling(); len(got) != 0 {
			t.Errorf("Idling() = %v after the idle connection was cut, want none", got)
		}
	})
}
