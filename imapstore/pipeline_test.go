package imapstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// The tests of this file are about the pipeline of single APPENDs on
// the Store's connection (imapstore.SingleAppendPipeline), which
// AppendPipeline uses where MULTIAPPEND cannot be (multiappend_test.go
// tests that one); they run it on both servers.

// holdAnswers makes rec keep the server's answers to APPENDs from the
// client until n APPENDs were received, so that n are in flight at
// once, and records the APPENDs' events in order ("received 1",
// "answered 1": the flag $Mn of the message sent with flag(n)). An
// answer it held for 10 s (half the store's timeout), because the
// client waited for it before sending more, is noted in a failure;
// then the answers go on.
type holdAnswers struct {
	mu       sync.Mutex
	n, seen  int
	full     chan struct{}
	events   []string
	timedOut bool
	// fault, if set, is asked what to do with each event.
	fault func(e imaptest.Event) imaptest.Action
}

func hold(rec *imaptest.Recorder, n int) *holdAnswers {
	h := &holdAnswers{n: n, full: make(chan struct{})}
	rec.Intercept(h.event)
	return h
}

// flag is the flag that marks the n-th message of a test, so that an
// interceptor can tell the APPENDs apart.
func flag(n int) reconcile.Flags { return reconcile.NewFlags(fmt.Sprintf("$M%d", n)) }

func which(line string) string {
	_, after, ok := strings.Cut(strings.ToLower(line), "$m")
	if !ok {
		return "?"
	}
	num, _, _ := strings.Cut(after, ")")
	return num
}

func (h *holdAnswers) event(e imaptest.Event) imaptest.Action {
	if e.Verb != "APPEND" {
		return imaptest.Action{}
	}
	h.mu.Lock()
	if e.Stage == imaptest.Received {
		h.events = append(h.events, "received "+which(e.Line))
		if h.seen++; h.seen == h.n {
			close(h.full)
		}
	}
	h.mu.Unlock()
	if e.Stage == imaptest.Answered {
		select {
		case <-h.full:
		case <-time.After(10 * time.Second):
			h.mu.Lock()
			h.timedOut = true
			h.mu.Unlock()
		}
		h.mu.Lock()
		h.events = append(h.events, "answered "+which(e.Line))
		h.mu.Unlock()
	}
	if h.fault != nil {
		return h.fault(e)
	}
	return imaptest.Action{}
}

func (h *holdAnswers) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timedOut {
		t.Errorf("the server's answer to an APPEND was held for 10 s and fewer than %d APPENDs came meanwhile: the client waits for each answer (events: %q)", h.n, h.events)
	}
}

// sent is one message sent through a pipeline.
type sent struct {
	n    int
	body []byte
	wait func() (reconcile.Appended, error)
}

// send sends body b as message n (with flag(n)) into INBOX.
func send(p reconcile.AppendPipeline, n int, b []byte) sent {
	wait := p.Send(context.Background(), "INBOX", flag(n), time.Time{}, int64(len(b)), bytes.NewReader(b))
	return sent{n: n, body: b, wait: wait}
}

// TestAppendPipeline: the APPENDs of a pipeline go out before the first
// answer comes back, and each gets its own UID.
func TestAppendPipeline(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		rec := imaptest.Record(t, srv)
		st := open(t, rec.Server(), "alice")
		h := hold(rec, 3)
		p := imapstore.SingleAppendPipeline(st)
		var msgs []sent
		for n := 1; n <= 3; n++ {
			msgs = append(msgs, send(p, n, msg(n)))
		}
		uids := map[reconcile.UID]bool{}
		for _, m := range msgs {
			ap, err := m.wait()
			if err != nil || ap.UID == 0 || uids[ap.UID] {
				t.Fatalf("wait for message %d = %+v, %v; want a UID of its own", m.n, ap, err)
			}
			uids[ap.UID] = true
			if b, _ := srv.Body(t, "alice", "INBOX", uint32(ap.UID)); !bytes.Equal(b, m.body) {
				t.Errorf("UID %d of message %d holds %q, want %q", ap.UID, m.n, b, m.body)
			}
		}
		h.check(t)
		if n := rec.Count("APPEND"); n != 3 {
			t.Errorf("%d APPENDs, want 3", n)
		}
	})
}

// TestAppendPipelineRefused: the server refuses the middle one of three
// APPENDs in flight, before it stores it or after. That message fails
// with the server's word; the others are stored, and the store goes on.
func TestAppendPipelineRefused(t *testing.T) {
	t.Parallel()
	for _, stage := range []imaptest.Stage{imaptest.Received, imaptest.Answered} {
		t.Run(stage.String(), func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				srv := start(t, "alice")
				rec := imaptest.Record(t, srv)
				st := open(t, rec.Server(), "alice")
				h := hold(rec, 3)
				h.fault = func(e imaptest.Event) imaptest.Action {
					if e.Stage == stage && which(e.Line) == "2" {
						return imaptest.Action{Do: imaptest.Refuse, Text: "[OVERQUOTA] Quota exceeded"}
					}
					return imaptest.Action{}
				}
				p := imapstore.SingleAppendPipeline(st)
				var msgs []sent
				for n := 1; n <= 3; n++ {
					msgs = append(msgs, send(p, n, msg(n)))
				}
				for _, m := range msgs {
					ap, err := m.wait()
					if m.n == 2 {
						if want := `account "acct": append to "INBOX": imap: NO [OVERQUOTA] Quota exceeded`; err == nil || err.Error() != want {
							t.Errorf("wait for message 2 = %+v, %v; want %s", ap, err, want)
						}
						continue
					}
					if err != nil || ap.UID == 0 {
						t.Errorf("wait for message %d = %+v, %v; want a UID", m.n, ap, err)
					}
				}
				h.check(t)
				b := msg(4)
				if _, err := st.Append(context.Background(), "INBOX", nil, time.Time{}, int64(len(b)), bytes.NewReader(b)); err != nil {
					t.Errorf("Append() after the pipeline = %v", err)
				}
			})
		})
	}
}

// bigMsg is a message over 4096 bytes: go-imap sends it as a
// synchronizing literal, waiting for the server's "+".
func bigMsg(n int) []byte {
	return imaptest.NewMessage("alice@example.org", "bob@example.org", fmt.Sprintf("message %d", n),
		fmt.Sprintf("m%d@example.org", n), strings.Repeat(fmt.Sprintf("a long line of message %d\r\n", n), 300))
}

// TestAppendPipelineSyncLiteral: before a synchronizing literal the
// pipeline waits for the answers in flight, so that a server that
// refuses the literal (go-imap then drops the connection, and with it
// whatever is in flight) costs that message alone, however early its
// NO comes.
func TestAppendPipelineSyncLiteral(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		rec := imaptest.Record(t, srv)
		st := open(t, rec.Server(), "alice")
		h := hold(rec, 2)
		h.fault = func(e imaptest.Event) imaptest.Action {
			if e.Stage == imaptest.Received && which(e.Line) == "3" {
				return imaptest.Action{Do: imaptest.Refuse, Text: "[LIMIT] message too large"}
			}
			return imaptest.Action{}
		}
		p := imapstore.SingleAppendPipeline(st)
		var msgs []sent
		for n, b := range [][]byte{msg(1), msg(2), bigMsg(3), msg(4)} {
			msgs = append(msgs, send(p, n+1, b))
		}
		for _, m := range msgs {
			ap, err := m.wait()
			if m.n == 3 {
				if err == nil || !strings.Contains(err.Error(), `account "acct": append to "INBOX": imap: NO [LIMIT] message too large`) {
					t.Errorf("wait for message 3 = %+v, %v; want the server's NO", ap, err)
				}
				continue
			}
			if err != nil || ap.UID == 0 {
				t.Errorf("wait for message %d = %+v, %v; want a UID", m.n, ap, err)
			}
		}
		h.check(t)
		h.mu.Lock()
		events := strings.Join(h.events, ", ")
		h.mu.Unlock()
		if want := "received 1, received 2, answered 1, answered 2, received 3, received 4, answered 4"; events != want {
			t.Errorf("APPENDs on the wire: %s; want %s", events, want)
		}
	})
}

// failAfter yields n bytes of r, then fails.
type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("source went away")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// TestAppendPipelineBodyFails: the body of a message breaks off while
// two APPENDs are in flight. The half-sent message costs the connection,
// but the answers to the two before it are read first: they are stored
// and say so. The store goes on with a new connection.
func TestAppendPipelineBodyFails(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		rec := imaptest.Record(t, srv)
		st := open(t, rec.Server(), "alice")
		h := hold(rec, 2) // the third goes no further than go-imap's buffer
		p := imapstore.SingleAppendPipeline(st)
		m1, m2 := send(p, 1, msg(1)), send(p, 2, msg(2))
		b3 := msg(3)
		wait3 := p.Send(context.Background(), "INBOX", flag(3), time.Time{}, int64(len(b3)), &failAfter{r: bytes.NewReader(b3), n: 40})
		for _, m := range []sent{m1, m2} {
			if ap, err := m.wait(); err != nil || ap.UID == 0 {
				t.Errorf("wait for message %d = %+v, %v; want a UID", m.n, ap, err)
			}
		}
		if _, err := wait3(); err == nil || !strings.Contains(err.Error(), "source went away") {
			t.Errorf("wait for the message whose body failed = %v, want the body's error", err)
		}
		h.check(t)
		if ap, err := send(p, 4, msg(4)).wait(); err != nil || ap.UID == 0 {
			t.Errorf("wait for a message after the failed one = %+v, %v; want a UID", ap, err)
		}
		if n := len(srv.Messages(t, "alice", "INBOX")); n != 3 {
			t.Errorf("INBOX holds %d messages, want 3", n)
		}
		if n := rec.Conns(); n != 2 {
			t.Errorf("%d connections, want 2 (the failed body costs one)", n)
		}
	})
}

// TestAppendPipelineCut: the connection is cut when the server answers
// the second of three APPENDs in flight. The first is stored and says
// so; the second and third fail as the connection's loss (the second
// was stored, but no answer said so; the next run finds it by
// identity).
func TestAppendPipelineCut(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		rec := imaptest.Record(t, srv)
		st := open(t, rec.Server(), "alice")
		h := hold(rec, 3)
		h.fault = func(e imaptest.Event) imaptest.Action {
			if e.Stage == imaptest.Answered && which(e.Line) == "2" {
				return imaptest.Action{Do: imaptest.Cut}
			}
			return imaptest.Action{}
		}
		p := imapstore.SingleAppendPipeline(st)
		var msgs []sent
		for n := 1; n <= 3; n++ {
			msgs = append(msgs, send(p, n, msg(n)))
		}
		for _, m := range msgs {
			ap, err := m.wait()
			if m.n == 1 {
				if err != nil || ap.UID == 0 {
					t.Errorf("wait for message 1 = %+v, %v; want a UID", ap, err)
				}
				continue
			}
			if err == nil || !strings.Contains(err.Error(), `account "acct": append to "INBOX": connection lost`) {
				t.Errorf("wait for message %d = %+v, %v; want the connection's loss", m.n, ap, err)
			}
		}
		h.check(t)
		if ap, err := send(p, 4, msg(4)).wait(); err != nil || ap.UID == 0 {
			t.Errorf("wait for a message after the cut = %+v, %v; want a UID (a new connection)", ap, err)
		}
	})
}

var _ reconcile.PipelinedAppender = (*imapstore.Store)(nil)
