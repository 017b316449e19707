package imapstore

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// timeoutConn is the network connection under the IMAP client (under TLS
// too). While a Store operation runs (begin to end), every Read and
// Write must make progress within timeout: each one pushes the deadline
// of both directions forward, so a long upload keeps the read side alive
// and a stalled server fails the operation. Between operations there is
// no deadline, so an idle connection lives as long as the server lets
// it.
//
// go-imap beta.8 sets deadlines of its own (30 s per response, once the
// response has begun, and none at all while it waits for one, so a
// server that never answers hangs it forever); the Set*Deadline methods
// therefore ignore go-imap and only this type's own calls count.
type timeoutConn struct {
	net.Conn
	timeout time.Duration

	mu       sync.Mutex
	active   bool
	timedOut bool
}

func newTimeoutConn(c net.Conn, timeout time.Duration) *timeoutConn {
	return &timeoutConn{Conn: c, timeout: timeout}
}

func (c *timeoutConn) Read(p []byte) (int, error) {
	if err := c.extend(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.noteErr(err)
	return n, err
}

func (c *timeoutConn) Write(p []byte) (int, error) {
	if err := c.extend(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	c.noteErr(err)
	return n, err
}

// extend pushes the deadline forward, or fails once a deadline has
// passed: the connection is then broken for good (go-imap's decoder
// would otherwise read again, with a fresh deadline, after a timeout).
func (c *timeoutConn) extend() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timedOut {
		return os.ErrDeadlineExceeded
	}
	if c.active {
		c.Conn.SetDeadline(time.Now().Add(c.timeout))
	}
	return nil
}

func (c *timeoutConn) noteErr(err error) {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.mu.Lock()
		c.timedOut = true
		c.mu.Unlock()
	}
}

// SetDeadline ignores go-imap's deadlines; see the type's doc.
func (c *timeoutConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline ignores go-imap's deadlines; see the type's doc.
func (c *timeoutConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline ignores go-imap's deadlines; see the type's doc.
func (c *timeoutConn) SetWriteDeadline(time.Time) error { return nil }

// begin starts an operation: from now on the server must keep up.
func (c *timeoutConn) begin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = true
	c.Conn.SetDeadline(time.Now().Add(c.timeout))
}

// end ends an operation: the connection may idle.
func (c *timeoutConn) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = false
	c.Conn.SetDeadline(time.Time{})
}

// abort closes the connection under everything, so every blocked read
// and write fails at once (context cancellation).
func (c *timeoutConn) abort() { c.Conn.Close() }

// hasTimedOut reports whether a read or write hit the deadline.
func (c *timeoutConn) hasTimedOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timedOut
}

// timeoutError reports a server that went silent for longer than the
// timeout. It matches os.ErrDeadlineExceeded with errors.Is.
type timeoutError struct {
	d   time.Duration
	err error // what go-imap reported
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no answer from the server for %v (timeout): %v", e.d, e.err)
}

func (e *timeoutError) Unwrap() error { return os.ErrDeadlineExceeded }
func (e *timeoutError) Timeout() bool { return true }

// redactor is the DebugWriter handed to go-imap. go-imap writes the raw
// protocol to it, LOGIN and its password included; while redacting is
// on (around LOGIN), it writes a placeholder instead.
type redactor struct {
	w io.Writer

	mu        sync.Mutex
	redacting bool
	noted     bool
}

func (r *redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.redacting {
		if !r.noted {
			r.noted = true
			io.WriteString(r.w, "[LOGIN command and reply not shown]\r\n")
		}
		return len(p), nil
	}
	r.w.Write(p) // a broken debug log must not break the connection
	return len(p), nil
}

func (r *redactor) redact(on bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.redacting, r.noted = on, false
	r.mu.Unlock()
}
