package imapstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestIdleReportsChangesAndConnectionLoss: Idle calls Ready once IDLE
// runs, OnChange for a message another client delivers, returns nil
// when its context ends, and returns an error naming the lost
// connection when the connection is cut under it (go-imap beta.8's
// IdleCommand.Wait reports it; the error is the DONE that could not be
// written, not the reader's EOF).
func TestIdleReportsChangesAndConnectionLoss(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		rec := imaptest.Record(t, srv)
		changes := make(chan struct{}, 16)
		st, err := imapstore.Dial(context.Background(), imapstore.Options{
			Name: "a", Addr: rec.Addr, TLS: imapstore.None, Username: "alice", Password: imaptest.Password, ReadOnly: true,
			OnChange: func() {
				select {
				case changes <- struct{}{}:
				default:
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()

		// 1: a delivery is reported; the context ends Idle with nil.
		ready := make(chan struct{}, 4)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- st.Idle(ctx, "INBOX", imapstore.IdleOptions{Ready: func() { ready <- struct{}{} }})
		}()
		waitIdle(t, ready, "IDLE acknowledged")
		// imapmemserver answers "+ idling" before it listens for
		// updates (LIBNOTES, memserver bug 4): a delivery right after
		// may go unreported there, so deliver until one is reported.
		// Dovecot reports a delivery as it happens (inotify); its poll,
		// mailbox_idle_check_interval, is 30 s. 5 s tells the two apart
		// on a busy machine. imapmemserver gets a second per try.
		wait := time.Second
		if srv.Kind == "dovecot" {
			wait = 5 * time.Second
		}
		reported := false
		for i := 0; i < 10 && !reported; i++ {
			srv.Append(t, "alice", "INBOX", imaptest.NewMessage("s@example.org", "alice@example.org", "hi", fmt.Sprintf("m%d@example.org", i), "hi\r\n"))
			select {
			case <-changes:
				reported = true
			case <-time.After(wait):
				if srv.Kind == "dovecot" {
					t.Fatalf("Dovecot's delivery not reported within %v", wait)
				}
			}
		}
		if !reported {
			t.Fatalf("none of 10 deliveries reported")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Idle after its context ended = %v, want nil", err)
		}

		// 2: the connection is cut while idle: Idle returns an error,
		// and the next Idle connects again.
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		go func() { done <- st.Idle(ctx2, "INBOX", imapstore.IdleOptions{Ready: func() { ready <- struct{}{} }}) }()
		waitIdle(t, ready, "IDLE acknowledged again")
		// The next byte relayed on the idle connection, the delivery's
		// EXISTS, cuts it. That connection is the newest: the first
		// Idle's ended with its context, and its last bytes may still
		// be on their way through the recorder on a busy machine (a
		// cut of the next byte on any connection hit that one there,
		// and Idle was never cut).
		rec.CutNextOn(rec.Conns())
		var idleErr error
		returned := false
		for i := 0; i < 10 && !returned; i++ {
			srv.Append(t, "alice", "INBOX", imaptest.NewMessage("s@example.org", "alice@example.org", "hi", fmt.Sprintf("c%d@example.org", i), "hi\r\n"))
			select {
			case idleErr = <-done:
				returned = true
			case <-time.After(wait):
				if srv.Kind == "dovecot" {
					t.Fatalf("Idle did not return within %v of its connection being cut", wait)
				}
			}
		}
		if !returned {
			t.Fatalf("Idle did not return after 10 deliveries meant to cut its connection (cut hit connection %d of %d)", rec.Faulted(), rec.Conns())
		}
		if idleErr == nil || !strings.Contains(idleErr.Error(), "connection lost") {
			t.Errorf("Idle on a cut connection = %v, want a lost connection", idleErr)
		}
		t.Logf("Idle on a cut connection: %v (io.ErrUnexpectedEOF: %v)", idleErr, errors.Is(idleErr, io.ErrUnexpectedEOF))
		go func() { done <- st.Idle(ctx2, "INBOX", imapstore.IdleOptions{Ready: func() { ready <- struct{}{} }}) }()
		waitIdle(t, ready, "IDLE on a new connection")
		cancel2()
		if err := <-done; err != nil {
			t.Errorf("Idle on the new connection = %v, want nil", err)
		}
	})
}

func waitIdle(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30 s", what)
	}
}
