package imaptest

import (
	"crypto/tls"
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
	return StartMemWith(t, MemOptions{}, users...)
}

// MemOptions tunes StartMemWith.
type MemOptions struct {
	// Caps replaces the advertised capabilities; it must hold IMAP4rev1
	// or IMAP4rev2. With IMAP4rev1 alone the server offers no MOVE,
	// UIDPLUS, LIST-EXTENDED or LIST-STATUS: the old-server fallbacks of
	// a client can be tested with it. (go-imap's server adds UNSELECT,
	// IDLE, ENABLE, SASL-IR, LITERAL- and UTF8=ACCEPT to IMAP4rev1
	// whatever Caps says; DovecotOptions.Capability makes a server
	// without UNSELECT.)
	Caps imap.CapSet
	// TLS secures the listener: TLSNone (the default), TLSImplicit (TLS
	// from the first byte) or TLSStartTLS. The certificate is
	// self-signed for 127.0.0.1; Server.TLSConfig trusts it.
	TLS TLSMode
}

// TLSMode is how a test server secures connections.
type TLSMode int

const (
	// TLSNone is plain IMAP.
	TLSNone TLSMode = iota
	// TLSImplicit is TLS from the first byte, as on port 993.
	TLSImplicit
	// TLSStartTLS is plain IMAP with STARTTLS offered.
	TLSStartTLS
)

// Rev1Only is a MemOptions.Caps of a bare IMAP4rev1 server.
var Rev1Only = imap.CapSet{imap.CapIMAP4rev1: {}}

// StartMemWith is StartMem with options.
func StartMemWith(t testing.TB, opts MemOptions, users ...string) *Server {
	t.Helper()
	caps := opts.Caps
	if caps == nil {
		// nil would mean IMAP4rev1 alone, without MOVE and UIDPLUS.
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
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
	sopts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       logger,
	}
	var serverTLS, clientTLS *tls.Config
	if opts.TLS != TLSNone {
		serverTLS, clientTLS = selfSigned(t)
	}
	if opts.TLS == TLSStartTLS {
		sopts.TLSConfig = serverTLS
	}
	srv := imapserver.New(sopts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("imaptest: listen: %v", err)
	}
	addr := ln.Addr().String()
	if opts.TLS == TLSImplicit {
		ln = tls.NewListener(ln, serverTLS)
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
	return serve(t, &Server{Addr: addr, Kind: "mem", Delim: '/', Users: users, TLS: opts.TLS, TLSConfig: clientTLS})
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
