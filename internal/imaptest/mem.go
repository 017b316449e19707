package imaptest

import (
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// StartMem starts go-imap's in-memory server on 127.0.0.1 with the given
// users (default "alice"), each with password Password and an INBOX. It
// advertises IMAP4rev1 and IMAP4rev2, so MOVE, UIDPLUS, LIST-STATUS and
// friends are on; it has no CONDSTORE and no SPECIAL-USE, and its
// hierarchy delimiter is "/". The server stops when the test ends.
func StartMem(t testing.TB, users ...string) *Server {
	t.Helper()
	if len(users) == 0 {
		users = []string{"alice"}
	}
	mem := imapmemserver.New()
	for _, name := range users {
		u := imapmemserver.NewUser(name, Password)
		if err := u.Create("INBOX", nil); err != nil { // not created for us
			t.Fatalf("imaptest: create INBOX of %s: %v", name, err)
		}
		mem.AddUser(u)
	}
	logger := &testLogger{t: t}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		// nil Caps would mean IMAP4rev1 alone, without MOVE and UIDPLUS.
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       logger,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("imaptest: listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		logger.stop()
		srv.Close()
		<-done
	})
	return &Server{Addr: ln.Addr().String(), Kind: "mem", Delim: '/', Users: users}
}

// testLogger forwards server log lines to the test log until the test
// ends; server goroutines may still log after that, when t.Logf would
// panic.
type testLogger struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (l *testLogger) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Logf("imapmemserver: "+format, args...)
	}
}

func (l *testLogger) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}
