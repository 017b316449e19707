package imapstore_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// slowRelay relays connections to target, holding back everything the
// server sends by delay: a server slow to greet. It returns the address
// to dial.
func slowRelay(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	return relay(t, target, func(client, server net.Conn) {
		time.Sleep(delay) // the greeting, and whatever follows, comes delay late
		io.Copy(client, server)
	})
}

// TestLatency: a Store reports how far its server is on the network,
// which the run uses to tell a near server from a far one
// (reconcile.LatencyReporter): a round trip of the network (the
// kernel's, or the TCP connect's), not the wait for the greeting, which
// a server may spend on work of its own (Dovecot starts a process per
// connection first).
func TestLatency(t *testing.T) {
	srv := imaptest.StartMem(t, "alice")
	const delay = 300 * time.Millisecond
	slow := open(t, srv, "alice", func(o *imapstore.Options) { o.Addr = slowRelay(t, srv.Addr, delay) })
	if got := slow.Latency(); got <= 0 || got >= delay {
		t.Errorf("Latency() of a server on this machine %v late to greet = %v, want more than 0 and less than %v", delay, got, delay)
	}
}
