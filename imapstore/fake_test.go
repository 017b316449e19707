package imapstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// fakeServer speaks just enough IMAP to log in; what it does with the
// first command after that is up to the test: stall (read, never
// answer) or drop the connection right after LOGIN as Dovecot does when
// the user's storage fails.
type fakeServer struct {
	addr    string
	stalled chan string // receives the command line that was left unanswered
}

func startFake(t *testing.T, byeAfterLogin bool) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{addr: ln.Addr().String(), stalled: make(chan string, 8)}
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
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go f.serve(c, byeAfterLogin, done)
		}
	}()
	return f
}

func (f *fakeServer) serve(c net.Conn, byeAfterLogin bool, done chan struct{}) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "* OK [CAPABILITY IMAP4rev1] fake ready\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		cmd, _, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(cmd) {
		case "CAPABILITY":
			fmt.Fprintf(c, "* CAPABILITY IMAP4rev1\r\n%s OK done\r\n", tag)
		case "LOGIN":
			if byeAfterLogin {
				fmt.Fprintf(c, "%s OK Logged in, but initialization failed.\r\n* BYE Internal error occurred. Refer to server log for more information.\r\n", tag)
				return
			}
			fmt.Fprintf(c, "%s OK Logged in\r\n", tag)
		case "NOOP", "LOGOUT":
			fmt.Fprintf(c, "%s OK done\r\n", tag)
		default:
			f.stalled <- line
			<-done // never answer
			return
		}
	}
}

func TestCancelStalledServer(t *testing.T) {
	t.Parallel()
	fake := startFake(t, false)
	st, err := imapstore.Dial(context.Background(), imapstore.Options{
		Name: "slow", Addr: fake.addr, TLS: imapstore.None, Username: "alice", Password: "pw",
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
	fake := startFake(t, false)
	st, err := imapstore.Dial(context.Background(), imapstore.Options{
		Name: "slow", Addr: fake.addr, TLS: imapstore.None, Username: "alice", Password: "pw",
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
	fake := startFake(t, true)
	_, err := imapstore.Dial(context.Background(), imapstore.Options{
		Name: "dc", Addr: fake.addr, TLS: imapstore.None, Username: "alice", Password: "pw",
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
