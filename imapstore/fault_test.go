package imapstore_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// faultProxy sits between the client and a real server (imapmemserver)
// and injects one fault after a successful LOGIN: it holds the next
// command and never forwards it (a stalled server), or it answers the
// LOGIN with OK followed by BYE and hangs up, as Dovecot does when the
// user's storage fails. Everything else is the real server talking.
type faultProxy struct {
	addr    string
	stalled chan string // receives the command line that was held
}

func startFaultProxy(t *testing.T, byeAfterLogin bool) *faultProxy {
	t.Helper()
	srv := imaptest.StartMem(t, "alice")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &faultProxy{addr: ln.Addr().String(), stalled: make(chan string, 8)}
	done := make(chan struct{})
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		close(done)
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			go f.relay(client, server, byeAfterLogin, done)
		}
	}()
	return f
}

// isSessionCheck reports the commands the Store sends around LOGIN to
// check the session (CAPABILITY, NOOP) or end it (LOGOUT); the fault
// hits the first real command after them.
func isSessionCheck(rest string) bool {
	cmd, _, _ := strings.Cut(strings.TrimRight(rest, "\r\n"), " ")
	switch strings.ToUpper(cmd) {
	case "CAPABILITY", "NOOP", "LOGOUT":
		return true
	}
	return false
}

func (f *faultProxy) relay(client, server net.Conn, byeAfterLogin bool, done chan struct{}) {
	var loginTag atomic.Value
	loginTag.Store("")
	var loggedIn atomic.Bool
	go func() { // client -> server
		r := bufio.NewReader(client)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				server.Close()
				return
			}
			tag, rest, _ := strings.Cut(line, " ")
			if cmd, _, _ := strings.Cut(rest, " "); strings.EqualFold(cmd, "LOGIN") {
				loginTag.Store(tag)
			} else if loggedIn.Load() && !isSessionCheck(rest) {
				f.stalled <- line
				<-done // never forwarded, never answered
				return
			}
			if _, err := io.WriteString(server, line); err != nil {
				return
			}
		}
	}()
	defer client.Close()
	r := bufio.NewReader(server)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if tag := loginTag.Load().(string); tag != "" && strings.HasPrefix(line, tag+" OK") {
			if byeAfterLogin {
				io.WriteString(client, tag+" OK Logged in, but initialization failed.\r\n* BYE Internal error occurred. Refer to server log for more information.\r\n")
				return
			}
			loggedIn.Store(true)
		}
		if _, err := io.WriteString(client, line); err != nil {
			return
		}
	}
}

func TestCancelStalledServer(t *testing.T) {
	t.Parallel()
	fake := startFaultProxy(t, false)
	st, err := imapstore.Dial(context.Background(), imapstore.Options{
		Name: "slow", Addr: fake.addr, TLS: imapstore.None, Username: "alice", Password: imaptest.Password,
	})
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	defer st.Close()

	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := st.List(ctx)
		res <- err
	}()
	line := <-fake.stalled // the server has the command and sits on it
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), `account "slow": list folders: `) {
			t.Errorf("List() cancelled while the server stalls on %q = %v, want a context.Canceled naming the account", line, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("List() still blocked 10s after its context was cancelled")
	}
}

func TestTimeoutStalledServer(t *testing.T) {
	t.Parallel()
	fake := startFaultProxy(t, false)
	st, err := imapstore.Dial(context.Background(), imapstore.Options{
		Name: "slow", Addr: fake.addr, TLS: imapstore.None, Username: "alice", Password: imaptest.Password,
		Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	defer st.Close()
	res := make(chan error, 1)
	go func() {
		_, err := st.List(context.Background())
		res <- err
	}()
	select {
	case err := <-res:
		if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "timeout") {
			t.Errorf("List() against a silent server = %v, want a timeout (os.ErrDeadlineExceeded)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("List() against a silent server still blocked after 10s with a 300ms timeout")
	}
}

func TestLoginThenBye(t *testing.T) {
	t.Parallel()
	fake := startFaultProxy(t, true)
	_, err := imapstore.Dial(context.Background(), imapstore.Options{
		Name: "dc", Addr: fake.addr, TLS: imapstore.None, Username: "alice", Password: imaptest.Password,
		Timeout: 5 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), `account "dc": login as alice at`) || !strings.Contains(err.Error(), "closed the connection") {
		t.Errorf("Dial() where the server says OK then BYE = %v, want an error saying the server closed the connection after login", err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		srv  imaptest.TLSMode
		mode imapstore.Mode
	}{
		{imaptest.TLSImplicit, imapstore.Implicit},
		{imaptest.TLSStartTLS, imapstore.StartTLS},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			srv := imaptest.StartMemWith(t, imaptest.MemOptions{TLS: tc.srv})
			srv.Append(t, "alice", "INBOX", msg(1))
			st := open(t, srv, "alice", func(o *imapstore.Options) {
				o.TLS = tc.mode
				o.TLSConfig = srv.TLSConfig
			})
			if f := scan(t, st, "INBOX"); len(f.Messages) != 1 {
				t.Errorf("Scan(INBOX) over %v = %+v, want 1 message", tc.mode, f.Messages)
			}

			// The system roots do not know the test certificate.
			_, err := imapstore.Dial(context.Background(), imapstore.Options{
				Name: "tls", Addr: srv.Addr, TLS: tc.mode, Username: "alice", Password: imaptest.Password,
			})
			if err == nil || !strings.Contains(err.Error(), "certificate") || !strings.HasPrefix(err.Error(), `account "tls": `) {
				t.Errorf("Dial(%v) with an untrusted certificate = %v, want a certificate error naming the account", tc.mode, err)
			}
		})
	}
}

// TestStartTLSNotOfferedIsRefused: with tls = starttls, a server that
// does not offer STARTTLS is refused, and the password never crosses the
// wire in plaintext: no LOGIN is sent at all.
func TestStartTLSNotOfferedIsRefused(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartMem(t, "alice") // plain IMAP, no STARTTLS
	rec := imaptest.Record(t, srv)
	_, err := imapstore.Dial(context.Background(), imapstore.Options{
		Name: "plain", Addr: rec.Addr, TLS: imapstore.StartTLS, Username: "alice", Password: imaptest.Password,
		Timeout: 5 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !strings.HasPrefix(err.Error(), `account "plain": `) {
		t.Errorf("Dial(starttls) to a server without STARTTLS = %v, want an error naming the account and STARTTLS", err)
	}
	if n := rec.Count("LOGIN"); n != 0 {
		t.Errorf("the client sent %d LOGIN in plaintext; commands: %q", n, rec.Commands())
	}
}
