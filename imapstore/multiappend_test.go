package imapstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
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

// multiMsg is a message of a MULTIAPPEND test: where it goes, with what,
// and the wait for its answer.
type multiMsg struct {
	n       int
	mailbox string
	flags   reconcile.Flags
	date    time.Time
	body    []byte
	wait    func() (reconcile.Appended, error)
	ap      reconcile.Appended
	err     error
}

// sendAll sends msgs through p as copyBatch does: when 32 are in
// flight, it collects the oldest first.
func sendAll(ctx context.Context, p reconcile.AppendPipeline, msgs []*multiMsg) {
	var inFlight []*multiMsg
	collect := func() {
		m := inFlight[0]
		inFlight = inFlight[1:]
		m.ap, m.err = m.wait()
	}
	for _, m := range msgs {
		if len(inFlight) == 32 {
			collect()
		}
		m.wait = p.Send(ctx, m.mailbox, m.flags, m.date, int64(len(m.body)), bytes.NewReader(m.body))
		inFlight = append(inFlight, m)
	}
	for len(inFlight) > 0 {
		collect()
	}
}

// literalRE matches the literal markers of a recorded command.
var literalRE = regexp.MustCompile(`\{[0-9]+\+?\}`)

// appendLiterals returns, for each APPEND rec recorded, how many
// literals it carried, and the literals that were synchronizing.
func appendLiterals(rec *imaptest.Recorder) (perCommand []int, sync []string) {
	for _, c := range rec.Commands() {
		if !strings.HasPrefix(c, "APPEND ") {
			continue
		}
		lits := literalRE.FindAllString(c, -1)
		perCommand = append(perCommand, len(lits))
		for _, l := range lits {
			if !strings.HasSuffix(l, "+}") {
				sync = append(sync, l)
			}
		}
	}
	return perCommand, sync
}

// TestMultiAppend: messages of mixed sizes (some over 4 KB, which
// go-imap would send as synchronizing literals), with flags and dates,
// for three mailboxes in turn, land as sent; the UIDs the waits return
// are those a Scan finds with those flags; and on the wire they went as
// a few MULTIAPPEND commands of non-synchronizing literals.
func TestMultiAppend(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	srv.Create(t, "alice", "Work")
	srv.Create(t, "alice", "Archive/2024")
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")

	boxes := []string{"INBOX", "Work", "Archive/2024"}
	date := time.Date(2024, 3, 9, 8, 7, 6, 0, time.FixedZone("", -(5*3600+30*60)))
	var msgs []*multiMsg
	for n := 1; n <= 150; n++ {
		m := &multiMsg{n: n, mailbox: boxes[(n-1)/20%3], flags: flag(n), body: msg(n)}
		switch {
		case n%5 == 0:
			m.body = bigMsg(n)
		case n%7 == 0:
			m.body = imaptest.NewMessage("a@example.org", "b@example.org", "big", fmt.Sprintf("m%d@example.org", n), strings.Repeat("x", 300<<10))
		}
		if n%3 == 0 {
			m.flags = append(m.flags, `\Seen`, `\Flagged`)
		}
		if n%2 == 0 {
			m.date = date.Add(time.Duration(n) * time.Minute)
		}
		msgs = append(msgs, m)
	}
	sendAll(context.Background(), st.AppendPipeline(), msgs)

	for _, box := range boxes {
		f := scan(t, st, box)
		got := map[reconcile.UID]reconcile.Flags{}
		for _, m := range f.Messages {
			got[m.UID] = m.Flags
		}
		want := map[reconcile.UID]reconcile.Flags{}
		for _, m := range msgs {
			if m.mailbox != box {
				continue
			}
			if m.err != nil || m.ap.UID == 0 || m.ap.UIDValidity != f.UIDValidity {
				t.Fatalf("wait for message %d = %+v, %v; want a UID in %q (UIDVALIDITY %d)", m.n, m.ap, m.err, box, f.UIDValidity)
			}
			want[m.ap.UID] = reconcile.NewFlags(m.flags...)
		}
		if len(got) != len(want) {
			t.Errorf("Scan(%q) = %d messages, the waits say %d", box, len(got), len(want))
		}
		for uid, flags := range want {
			if g, ok := got[uid]; !ok || !slices.Equal(reconcile.NewFlags(lower(g)...), reconcile.NewFlags(lower(flags)...)) {
				t.Errorf("Scan(%q): UID %d has flags %q (present %v), want %q", box, uid, g, ok, flags)
			}
		}
	}
	for _, m := range msgs {
		if m.n%10 != 0 && m.n%7 != 0 && m.n%4 != 0 {
			continue // a sample: fetching each body takes a connection
		}
		body, d := srv.Body(t, "alice", m.mailbox, uint32(m.ap.UID))
		if !bytes.Equal(body, m.body) {
			t.Errorf("message %d (UID %d in %q): body of %d bytes differs from the %d sent", m.n, m.ap.UID, m.mailbox, len(body), len(m.body))
		}
		if !m.date.IsZero() && !d.Equal(m.date) {
			t.Errorf("message %d: internal date %v, want %v", m.n, d, m.date)
		}
	}

	perCommand, sync := appendLiterals(rec)
	total := 0
	for _, n := range perCommand {
		total += n
	}
	if total != len(msgs) || len(sync) > 0 {
		t.Errorf("the APPENDs carried %d literals (%d synchronizing: %q); want %d, none synchronizing", total, len(sync), sync, len(msgs))
	}
	// 150 messages in runs of 20 per mailbox, collected 32 at a time:
	// each run is cut at most twice.
	if len(perCommand) > 3*150/20 {
		t.Errorf("%d APPEND commands (messages in each: %v); want a few MULTIAPPENDs", len(perCommand), perCommand)
	}
}

func lower(f reconcile.Flags) []string {
	out := make([]string, len(f))
	for i, x := range f {
		out[i] = strings.ToLower(x)
	}
	return out
}

// TestMultiAppendCommandSize: a command ends after 64 messages, so the
// server commits as the messages come, even while the caller keeps more
// than that in flight. (The first message goes alone on the Store's
// connection: nothing was in flight yet.)
func TestMultiAppendCommandSize(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	p := st.AppendPipeline()
	var waits []func() (reconcile.Appended, error)
	for n := 1; n <= 150; n++ {
		b := msg(n)
		waits = append(waits, p.Send(context.Background(), "INBOX", nil, time.Time{}, int64(len(b)), bytes.NewReader(b)))
	}
	var uids []reconcile.UID
	for i, w := range waits {
		ap, err := w()
		if err != nil || ap.UID == 0 {
			t.Fatalf("wait for message %d = %+v, %v", i+1, ap, err)
		}
		uids = append(uids, ap.UID)
	}
	if !slices.IsSorted(uids) || len(slices.Compact(slices.Clone(uids))) != len(uids) {
		t.Errorf("UIDs %v are not distinct and in send order", uids)
	}
	// The lone first message is on another connection than the
	// MULTIAPPENDs: the proxy may see it before or after them.
	perCommand, _ := appendLiterals(rec)
	multi := slices.Clone(perCommand)
	if i := slices.Index(multi, 1); i >= 0 {
		multi = slices.Delete(multi, i, i+1)
	}
	if len(perCommand) != 4 || !slices.Equal(multi, []int{64, 64, 21}) {
		t.Errorf("messages per APPEND command: %v, want 1 alone and [64 64 21] in that order", perCommand)
	}
}

// TestMultiAppendQuota: the server refuses a MULTIAPPEND that would go
// over quota. Every message of it fails with the server's word, none of
// it is stored (a command is one transaction), and the next command
// still works.
func TestMultiAppendQuota(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Quota: "*:messages=12"}, "alice")
	st := open(t, srv, "alice")
	p := imapstore.MultiAppendPipeline(st)
	batch := func(first, n int) []*multiMsg {
		var msgs []*multiMsg
		for i := first; i < first+n; i++ {
			msgs = append(msgs, &multiMsg{n: i, mailbox: "INBOX", flags: flag(i), body: msg(i)})
		}
		sendAll(context.Background(), p, msgs)
		return msgs
	}
	for _, m := range batch(1, 10) {
		if m.err != nil {
			t.Fatalf("wait for message %d = %v; want it stored (10 of 12 allowed)", m.n, m.err)
		}
	}
	for _, m := range batch(11, 5) {
		if m.err == nil || !strings.Contains(m.err.Error(), `account "acct": append to "INBOX": refused with the 5 messages of its MULTIAPPEND: imap: NO [OVERQUOTA]`) {
			t.Errorf("wait for message %d = %+v, %v; want the server's NO [OVERQUOTA]", m.n, m.ap, m.err)
		}
	}
	if got := len(srv.Messages(t, "alice", "INBOX")); got != 10 {
		t.Errorf("INBOX holds %d messages after the refused MULTIAPPEND, want 10 (none of it)", got)
	}
	for _, m := range batch(16, 2) {
		if m.err != nil || m.ap.UID == 0 {
			t.Errorf("wait for message %d after the refusal = %+v, %v; want a UID", m.n, m.ap, m.err)
		}
	}
	if got := len(srv.Messages(t, "alice", "INBOX")); got != 12 {
		t.Errorf("INBOX holds %d messages, want 12", got)
	}
}

// TestMultiAppendBodyFails: the body of a message breaks off half-way.
// The command before it (another mailbox) is answered and stored; the
// connection is then dropped, so the server discards the failing
// message's command whole: the message fails with its source's error,
// the one before it in the command with a word of why it was not
// stored. A later Send works, on a new connection.
func TestMultiAppendBodyFails(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	srv.Create(t, "alice", "Work")
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	p := imapstore.MultiAppendPipeline(st)
	m1 := p.Send(context.Background(), "INBOX", flag(1), time.Time{}, int64(len(msg(1))), bytes.NewReader(msg(1)))
	m2 := p.Send(context.Background(), "Work", flag(2), time.Time{}, int64(len(msg(2))), bytes.NewReader(msg(2)))
	b3 := bigMsg(3)
	m3 := p.Send(context.Background(), "Work", flag(3), time.Time{}, int64(len(b3)), &failAfter{r: bytes.NewReader(b3), n: 3000})
	if ap, err := m1(); err != nil || ap.UID == 0 {
		t.Errorf("wait for message 1 = %+v, %v; want a UID", ap, err)
	}
	if _, err := m2(); err == nil || !strings.Contains(err.Error(), `account "acct": append to "Work": not stored: the connection was dropped because the source of message 2 of the same MULTIAPPEND failed`) {
		t.Errorf("wait for message 2 = %v; want it not stored because of message 3", err)
	}
	if _, err := m3(); err == nil || !strings.Contains(err.Error(), `account "acct": append to "Work": read the message after 3000 of`) || !strings.Contains(err.Error(), "source went away") {
		t.Errorf("wait for message 3 = %v; want the source's error", err)
	}
	if got := len(srv.Messages(t, "alice", "Work")); got != 0 {
		t.Errorf("Work holds %d messages, want none (the command was discarded)", got)
	}
	conns := rec.Conns()
	if ap, err := send(p, 4, msg(4)).wait(); err != nil || ap.UID == 0 {
		t.Errorf("wait for a message after the failed one = %+v, %v; want a UID", ap, err)
	}
	if rec.Conns() != conns+1 {
		t.Errorf("%d connections after the failure, want a new one (%d)", rec.Conns(), conns+1)
	}
	if got := len(srv.Messages(t, "alice", "INBOX")); got != 2 {
		t.Errorf("INBOX holds %d messages, want 2", got)
	}
}

// faultTest runs a pipeline of big messages into Work whose connection
// fails (fault, armed once the pipeline's connection is logged in and
// its first command is under way), and checks that the messages in
// flight fail with an error naming the account and the folder and
// matching want, that nothing is half-stored, and that a later Send
// works.
func faultTest(t *testing.T, timeout time.Duration, fault func(rec *imaptest.Recorder, cancel context.CancelFunc), want func(error) bool) {
	t.Helper()
	srv := imaptest.StartDovecot(t, "alice")
	srv.Create(t, "alice", "Work")
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice", func(o *imapstore.Options) { o.Timeout = timeout })
	p := imapstore.MultiAppendPipeline(st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []func() (reconcile.Appended, error)
	for n := 1; n <= 6; n++ {
		b := bigMsg(n)
		waits = append(waits, p.Send(ctx, "Work", flag(n), time.Time{}, int64(len(b)), bytes.NewReader(b)))
		if n == 1 {
			fault(rec, cancel)
		}
	}
	// The messages sent before the fault was noticed fail with it (the
	// first one at least: the fault comes while it is on its way). A
	// Send that came after the pipeline noticed the loss went on a new
	// connection and may be stored; so what is in Work is exactly what
	// was reported stored.
	stored := 0
	for i, w := range waits {
		ap, err := w()
		if err == nil && i > 0 && ap.UID != 0 {
			stored++
			continue
		}
		if err == nil || !strings.Contains(err.Error(), `account "acct": append to "Work": `) || !want(err) {
			t.Errorf("wait for message %d = %+v, %v", i+1, ap, err)
		}
	}
	if got := len(srv.Messages(t, "alice", "Work")); got != stored {
		t.Errorf("Work holds %d messages, want the %d reported stored: a failed command was stored", got, stored)
	}
	b := msg(7)
	if ap, err := p.Send(context.Background(), "Work", nil, time.Time{}, int64(len(b)), bytes.NewReader(b))(); err != nil || ap.UID == 0 {
		t.Errorf("wait for a message after the fault = %+v, %v; want a UID (a new connection)", ap, err)
	}
}

// TestMultiAppendCut: the connection is cut in the middle of a
// MULTIAPPEND: every message of it fails as the connection's loss.
func TestMultiAppendCut(t *testing.T) {
	t.Parallel()
	faultTest(t, 20*time.Second, func(rec *imaptest.Recorder, _ context.CancelFunc) {
		rec.CutAfter(rec.Bytes() + 10000)
	}, func(err error) bool {
		return strings.Contains(err.Error(), "connection lost before the server answered")
	})
}

// TestMultiAppendStall: the server goes silent in the middle of a
// MULTIAPPEND: the waits fail after the timeout, and say so.
func TestMultiAppendStall(t *testing.T) {
	t.Parallel()
	faultTest(t, time.Second, func(rec *imaptest.Recorder, _ context.CancelFunc) {
		rec.StallAfter(rec.Bytes() + 10000)
	}, func(err error) bool {
		return errors.Is(err, os.ErrDeadlineExceeded) && strings.Contains(err.Error(), "(timeout)")
	})
}

// TestMultiAppendCancel: the context of the messages is cancelled while
// the server is silent (a stall, with a timeout far longer than the
// test): the waits return at once with the context's error.
func TestMultiAppendCancel(t *testing.T) {
	t.Parallel()
	faultTest(t, time.Hour, func(rec *imaptest.Recorder, cancel context.CancelFunc) {
		rec.StallAfter(rec.Bytes() + 10000)
		cancel()
	}, func(err error) bool {
		return errors.Is(err, context.Canceled)
	})
}

// TestMultiAppendFallback: without MULTIAPPEND (the memory server), or
// for a mailbox whose name needs modified UTF-7, or a flag that is no
// atom, messages go as single APPENDs on the Store's connection.
func TestMultiAppendFallback(t *testing.T) {
	t.Parallel()
	t.Run("mem", func(t *testing.T) {
		t.Parallel()
		srv := imaptest.StartMem(t, "alice")
		rec := imaptest.Record(t, srv)
		st := open(t, rec.Server(), "alice")
		var msgs []*multiMsg
		for n := 1; n <= 5; n++ {
			msgs = append(msgs, &multiMsg{n: n, mailbox: "INBOX", flags: flag(n), body: msg(n)})
		}
		sendAll(context.Background(), st.AppendPipeline(), msgs)
		for _, m := range msgs {
			if m.err != nil || m.ap.UID == 0 {
				t.Errorf("wait for message %d = %+v, %v; want a UID", m.n, m.ap, m.err)
			}
		}
		if perCommand, _ := appendLiterals(rec); !slices.Equal(perCommand, []int{1, 1, 1, 1, 1}) {
			t.Errorf("messages per APPEND command: %v, want five single APPENDs", perCommand)
		}
		if rec.Conns() != 1 {
			t.Errorf("%d connections, want the Store's only", rec.Conns())
		}
	})
	t.Run("dovecot", func(t *testing.T) {
		t.Parallel()
		srv := imaptest.StartDovecot(t, "alice")
		srv.Create(t, "alice", "Café")
		rec := imaptest.Record(t, srv)
		st := open(t, rec.Server(), "alice")
		msgs := []*multiMsg{
			{n: 1, mailbox: "Café", flags: flag(1), body: msg(1)},
			{n: 2, mailbox: "INBOX", flags: flag(2), body: msg(2)},
			{n: 3, mailbox: "Café", flags: flag(3), body: bigMsg(3)},
			{n: 4, mailbox: "INBOX", flags: flag(4), body: msg(4)},
		}
		sendAll(context.Background(), st.AppendPipeline(), msgs)
		for _, m := range msgs {
			if m.err != nil || m.ap.UID == 0 {
				t.Fatalf("wait for message %d = %+v, %v; want a UID", m.n, m.ap, m.err)
			}
			if body, _ := srv.Body(t, "alice", m.mailbox, uint32(m.ap.UID)); !bytes.Equal(body, m.body) {
				t.Errorf("message %d in %q: wrong body", m.n, m.mailbox)
			}
		}
		var single, multi int
		for _, c := range rec.Commands() {
			switch {
			case strings.HasPrefix(c, `APPEND "&AEM-af&AOk-"`), strings.HasPrefix(c, `APPEND "Caf&AOk-"`):
				single++
			case strings.HasPrefix(c, `APPEND INBOX`):
				multi++
			}
		}
		if single != 2 || multi == 0 {
			t.Errorf("commands %q: want two APPENDs to Café by go-imap, and INBOX's by MULTIAPPEND", rec.Commands())
		}
	})
}

// TestMultiAppendTrace: the debug trace shows the MULTIAPPEND
// connection's commands, but not its LOGIN's arguments nor the messages.
func TestMultiAppendTrace(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	var mu sync.Mutex
	var trace bytes.Buffer
	st := open(t, srv, "alice", func(o *imapstore.Options) {
		o.DebugWriter = writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return trace.Write(p)
		})
	})
	body := imaptest.NewMessage("a@example.org", "b@example.org", "secret body", "trace@example.org", "SECRET-CONTENT\n")
	if ap, err := imapstore.MultiAppendPipeline(st).Send(context.Background(), "INBOX", flag(1), time.Time{}, int64(len(body)), bytes.NewReader(body))(); err != nil || ap.UID == 0 {
		t.Fatalf("wait = %+v, %v", ap, err)
	}
	if err := st.Close(); err != nil { // logs out of the MULTIAPPEND connection too
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	got := trace.String()
	for _, want := range []string{"M1 LOGIN [credentials not shown]", fmt.Sprintf(`M2 APPEND INBOX ($m1) {%d+}`, len(body)), "M2 OK [APPENDUID", "M3 LOGOUT"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{imaptest.Password, "SECRET-CONTENT", "secret body"} {
		if strings.Contains(got, bad) {
			t.Errorf("trace shows %q:\n%s", bad, got)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestMultiAppendCancelWait: the context is cancelled while a wait
// waits for a server that went silent after storing the messages (so
// they fail as the context's, though stored): the wait returns at once
// with the context's error, and a later Send works.
func TestMultiAppendCancelWait(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice", func(o *imapstore.Options) { o.Timeout = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Answered && e.Verb == "APPEND" {
			cancel()
			return imaptest.Action{Do: imaptest.Stall}
		}
		return imaptest.Action{}
	})
	p := imapstore.MultiAppendPipeline(st)
	var waits []func() (reconcile.Appended, error)
	for n := 1; n <= 3; n++ {
		waits = append(waits, p.Send(ctx, "INBOX", flag(n), time.Time{}, int64(len(msg(n))), bytes.NewReader(msg(n))))
	}
	for i, w := range waits {
		if ap, err := w(); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `account "acct": append to "INBOX": `) {
			t.Errorf("wait for message %d = %+v, %v; want the context's error", i+1, ap, err)
		}
	}
	rec.Intercept(nil)
	if ap, err := send(p, 4, msg(4)).wait(); err != nil || ap.UID == 0 {
		t.Errorf("wait for a message after the cancellation = %+v, %v; want a UID", ap, err)
	}
}

// tlsFront serves TLS in front of srv's plain IMAP: from the first byte,
// or after answering the client's STARTTLS itself. Its certificate is
// for imap.test, issued by a CA that the returned client configuration
// trusts (with ServerName imap.test). conns counts the connections.
func tlsFront(t *testing.T, srv *imaptest.Server, startTLS bool) (addr string, client *tls.Config, conns *atomic.Int32) {
	t.Helper()
	ca := imaptest.NewCA(t)
	serverTLS := ca.ServerTLS(t, "imap.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	serve := func(c net.Conn) {
		defer c.Close()
		s, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			return
		}
		defer s.Close()
		sr := bufio.NewReader(s)
		if startTLS {
			greeting, err := sr.ReadString('\n')
			if err != nil {
				return
			}
			io.WriteString(c, greeting)
			// The client waits for the answer before its handshake, so
			// this reader takes nothing of it.
			line, err := bufio.NewReader(c).ReadString('\n')
			tag, cmd, _ := strings.Cut(strings.TrimSpace(line), " ")
			if err != nil || !strings.EqualFold(cmd, "STARTTLS") {
				return
			}
			io.WriteString(c, tag+" OK Begin TLS negotiation now\r\n")
		}
		tc := tls.Server(c, serverTLS)
		go func() {
			io.Copy(s, tc)
			s.Close()
		}()
		io.Copy(tc, sr)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go serve(c)
		}
	}()
	return ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "imap.test"}, conns
}

// TestMultiAppendTLS: the MULTIAPPEND connection is secured as the
// Store's is, with implicit TLS or STARTTLS, its certificate checked
// against the configured CA and server name.
func TestMultiAppendTLS(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	for _, mode := range []imapstore.Mode{imapstore.Implicit, imapstore.StartTLS} {
		t.Run(mode.String(), func(t *testing.T) {
			addr, cfg, conns := tlsFront(t, srv, mode == imapstore.StartTLS)
			var mu sync.Mutex
			var trace bytes.Buffer
			st := open(t, srv, "alice", func(o *imapstore.Options) {
				o.Addr, o.TLS, o.TLSConfig, o.Timeout = addr, mode, cfg, 5*time.Second
				o.DebugWriter = writerFunc(func(p []byte) (int, error) {
					mu.Lock()
					defer mu.Unlock()
					return trace.Write(p)
				})
			})
			box := "TLS-" + mode.String()
			if _, err := st.CreateFolder(context.Background(), box); err != nil {
				t.Fatal(err)
			}
			var msgs []*multiMsg
			for n := 1; n <= 5; n++ {
				msgs = append(msgs, &multiMsg{n: n, mailbox: box, flags: flag(n), body: bigMsg(n)})
			}
			sendAll(context.Background(), st.AppendPipeline(), msgs)
			for _, m := range msgs {
				if m.err != nil || m.ap.UID == 0 {
					t.Errorf("wait for message %d = %+v, %v; want a UID", m.n, m.ap, m.err)
				}
			}
			if got := len(srv.Messages(t, "alice", box)); got != 5 {
				t.Errorf("%s holds %d messages, want 5", box, got)
			}
			// The Store's connection, and one (slow start: message 1
			// alone, then the rest) or two of the pipeline's.
			if n := conns.Load(); n < 2 {
				t.Errorf("%d connections through TLS: the pipeline did not open its own", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := regexp.MustCompile(`M[0-9]+ APPEND "` + box + `" \(\$m[0-9]\) \{[0-9]+\+\}`); !want.MatchString(trace.String()) {
				t.Errorf("no MULTIAPPEND in the trace:\n%s", trace.String())
			}
		})
	}
}

// TestMultiAppendOnlyWhenPipelining: AppendPipeline opens its own
// connection only once two messages are in flight; a caller that waits
// for each answer before the next Send (a copy of one message, or the
// first of any copy) costs no second login.
func TestMultiAppendOnlyWhenPipelining(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	p := st.AppendPipeline()
	for n := 1; n <= 3; n++ {
		if ap, err := send(p, n, msg(n)).wait(); err != nil || ap.UID == 0 {
			t.Fatalf("wait for message %d = %+v, %v", n, ap, err)
		}
	}
	if perCommand, _ := appendLiterals(rec); rec.Conns() != 1 || !slices.Equal(perCommand, []int{1, 1, 1}) {
		t.Errorf("one at a time: %d connections, messages per APPEND %v; want the Store's connection only, single APPENDs", rec.Conns(), perCommand)
	}
	rec.Reset()
	var msgs []sent
	for n := 4; n <= 7; n++ {
		msgs = append(msgs, send(p, n, msg(n)))
	}
	for _, m := range msgs {
		if ap, err := m.wait(); err != nil || ap.UID == 0 {
			t.Fatalf("wait for message %d = %+v, %v", m.n, ap, err)
		}
	}
	if perCommand, _ := appendLiterals(rec); rec.Conns() != 2 || !slices.Equal(perCommand, []int{1, 3}) {
		t.Errorf("four in flight: %d connections, messages per APPEND %v; want one more connection, and the first message alone then a MULTIAPPEND of 3", rec.Conns(), perCommand)
	}
	if n := rec.Count("LOGOUT"); n != 0 {
		t.Errorf("%d LOGOUTs, want none: the pipeline's connection is kept for the Store's next pipeline", n)
	}

	// The next pipeline (the copy into the next folder) takes the
	// connection up, for its first message already: no new login.
	rec.Reset()
	p = st.AppendPipeline()
	msgs = msgs[:0]
	for n := 8; n <= 9; n++ {
		msgs = append(msgs, send(p, n, msg(n)))
	}
	for _, m := range msgs {
		if ap, err := m.wait(); err != nil || ap.UID == 0 {
			t.Fatalf("wait for message %d = %+v, %v", m.n, ap, err)
		}
	}
	if perCommand, _ := appendLiterals(rec); rec.Conns() != 2 || rec.Count("LOGIN") != 0 || !slices.Equal(perCommand, []int{2}) {
		t.Errorf("next pipeline: %d connections, %d LOGINs, messages per APPEND %v; want no new connection and one MULTIAPPEND of 2", rec.Conns(), rec.Count("LOGIN"), perCommand)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rec.Count("LOGOUT"); n != 2 {
		t.Errorf("Close sent %d LOGOUTs, want 2: the Store's connection and the MULTIAPPEND one", n)
	}
}

// TestMultiAppendNoMailbox: a MULTIAPPEND to a mailbox that does not
// exist is refused whole with the server's word, as a
// reconcile.BatchRefusedError (the copy then sends each message again
// alone), and the connection goes on: the messages after it, in the
// same pipeline, are stored.
func TestMultiAppendNoMailbox(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	p := imapstore.MultiAppendPipeline(st)
	var msgs []*multiMsg
	for n := 1; n <= 6; n++ {
		box := "Nowhere"
		if n > 3 {
			box = "INBOX"
		}
		msgs = append(msgs, &multiMsg{n: n, mailbox: box, flags: flag(n), body: bigMsg(n)})
	}
	sendAll(context.Background(), p, msgs)
	for _, m := range msgs {
		if m.n <= 3 {
			var br *reconcile.BatchRefusedError
			if !errors.As(m.err, &br) || br.Messages != 3 || !strings.Contains(m.err.Error(), `account "acct": append to "Nowhere": refused with the 3 messages of its MULTIAPPEND: imap: NO [TRYCREATE]`) {
				t.Errorf("wait for message %d = %+v, %v; want the server's NO [TRYCREATE], refused with the 3 messages of its MULTIAPPEND", m.n, m.ap, m.err)
			}
			continue
		}
		if m.err != nil || m.ap.UID == 0 {
			t.Errorf("wait for message %d = %+v, %v; want a UID", m.n, m.ap, m.err)
		}
	}
	if rec.Conns() != 2 {
		t.Errorf("%d connections, want 2: the refusal costs no connection", rec.Conns())
	}
}

// TestWarmAppends: WarmAppends opens the MULTIAPPEND connection ahead
// of the copy, so that a pipeline sent right after it puts its first
// message into a MULTIAPPEND already, on that connection, and opens no
// other; a Store closed while a warm-up is on its way logs out of it.
func TestWarmAppends(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	rec := imaptest.Record(t, srv)
	st := open(t, rec.Server(), "alice")
	st.WarmAppends(context.Background())
	st.WarmAppends(context.Background()) // a second call while one is on its way adds nothing
	p := st.AppendPipeline()
	msgs := []sent{send(p, 1, msg(1)), send(p, 2, msg(2))}
	for _, m := range msgs {
		if ap, err := m.wait(); err != nil || ap.UID == 0 {
			t.Fatalf("wait for message %d = %+v, %v", m.n, ap, err)
		}
	}
	if perCommand, _ := appendLiterals(rec); rec.Conns() != 2 || rec.Count("LOGIN") != 2 || !slices.Equal(perCommand, []int{2}) {
		t.Errorf("after WarmAppends: %d connections, %d LOGINs, messages per APPEND %v; want the warmed connection only, one MULTIAPPEND of 2\n%s",
			rec.Conns(), rec.Count("LOGIN"), perCommand, strings.Join(rec.Commands(), "\n"))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	rec.Reset()
	st = open(t, rec.Server(), "alice")
	st.WarmAppends(context.Background())
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if rec.Count("LOGIN") != 2 || rec.Count("LOGOUT") != 2 {
		t.Errorf("closed while warming: %d LOGINs, %d LOGOUTs; want 2 of each (the warmed connection logged out of, not left open)", rec.Count("LOGIN"), rec.Count("LOGOUT"))
	}
}
