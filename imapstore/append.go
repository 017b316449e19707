package imapstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// Append stores size bytes of body in mailbox with flags and internal
// date (the zero time lets the server choose) and reports the new UID:
// from APPENDUID where the server has UIDPLUS; else UIDNEXT before the
// APPEND and a UID SEARCH after it, and UID 0 when that is ambiguous
// (someone else appended at the same time).
//
// If body fails or ends early, the half-sent message cannot be taken
// back: the connection is closed (the server discards the APPEND) and
// the next call reconnects.
func (s *Store) Append(ctx context.Context, mailbox string, flags reconcile.Flags, date time.Time, size int64, body io.Reader) (reconcile.Appended, error) {
	var out reconcile.Appended
	err := s.mutate(ctx, fmt.Sprintf("append to %q", mailbox), func() error {
		var err error
		out, err = s.appendOne(mailbox, flags, date, size, body)
		return err
	})
	return out, err
}

// appendOne is Append's operation, run by s.run.
func (s *Store) appendOne(mailbox string, flags reconcile.Flags, date time.Time, size int64, body io.Reader) (reconcile.Appended, error) {
	var before *imap.StatusData
	if !s.caps.Has(imap.CapUIDPlus) {
		var err error
		before, err = s.c.Status(mailbox, &imap.StatusOptions{UIDNext: true, UIDValidity: true}).Wait()
		if err != nil {
			return reconcile.Appended{}, fmt.Errorf("status: %w", err)
		}
	}

	cmd := s.c.Append(mailbox, size, &imap.AppendOptions{Flags: imapFlags(flags), Time: date})
	src := &readErr{r: body}
	n, werr := copyBody(cmd, src, size)
	if src.err != nil || errors.Is(werr, io.EOF) {
		return reconcile.Appended{}, s.abandonAppend(cmd, src, n, size)
	}
	cerr := cmd.Close()
	data, err := cmd.Wait()
	if err != nil {
		return reconcile.Appended{}, lasting(err) // the server's NO beats a write error it caused
	}
	if werr != nil {
		return reconcile.Appended{}, werr
	}
	if cerr != nil {
		return reconcile.Appended{}, cerr
	}
	if data.UID != 0 {
		return reconcile.Appended{UIDValidity: data.UIDValidity, UID: reconcile.UID(data.UID)}, nil
	}
	if before == nil {
		return reconcile.Appended{}, nil // UIDPLUS announced but no APPENDUID: UID unknown
	}
	uid, validity, err := s.findAppended(mailbox, before)
	if err != nil {
		return reconcile.Appended{}, err
	}
	return reconcile.Appended{UIDValidity: validity, UID: uid}, nil
}

// abandonAppend gives up an APPEND whose body failed after n of size
// bytes. The literal is cut short; the only way out is to drop the
// connection.
func (s *Store) abandonAppend(cmd *imapclient.AppendCommand, src *readErr, n, size int64) error {
	s.conn.abort()
	cmd.Close()
	cmd.Wait()
	rerr := src.err
	if rerr == nil {
		rerr = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read the message after %d of %d bytes: %w", n, size, rerr)
}

// copyBuffers holds the buffers that message bodies are copied through,
// so that a copy of many messages does not allocate one per message.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// copyBody copies size bytes from src to dst as io.CopyN does (io.EOF
// if src ends early), through a pooled buffer.
func copyBody(dst io.Writer, src io.Reader, size int64) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	n, err := io.CopyBuffer(dst, io.LimitReader(src, size), *buf)
	if n < size && err == nil {
		err = io.EOF
	}
	return n, err
}

// syncLiteralMax is the largest literal go-imap beta.8 sends without
// waiting for the server's "+" (LITERAL+ or LITERAL-); a larger one, or
// any one without those capabilities, is synchronizing.
const syncLiteralMax = 4096

// AppendPipeline returns a pipeline of APPENDs (see
// reconcile.AppendPipeline): each Send writes its message and returns,
// and the answers are read as they come.
//
// Where the server has MULTIAPPEND, LITERAL+ and UIDPLUS (Dovecot), the
// messages go, as few APPEND commands of up to 64 messages or 16 MiB
// each, over a connection of the pipeline's own, opened once two
// messages are in flight and closed once every wait was called (see
// multiPipeline; a lone message goes as below). One
// command is one transaction for the server: all of its messages are
// stored, or none. So the server's NO fails every message of the
// command (as a *reconcile.BatchRefusedError where it carried several:
// the copy sends each again alone), and a body that fails half-way (the
// connection must go) fails the others of its command with it.
//
// Otherwise (another server, a mailbox name that is not plain ASCII, a
// flag that is not an atom, or that connection cannot be opened), a
// message goes as a single APPEND on the Store's connection, and until
// every wait of the pipeline has been called, the Store must be used
// for nothing else: answers are still due on its connection. This
// pipeline waits for the answers to what it sent before three kinds
// of APPEND: one whose literal is synchronizing (over 4096 bytes, or a
// server without LITERAL+ and LITERAL-), since go-imap drops the
// connection, and so every APPEND in flight, when the server refuses
// such a literal; one without UIDPLUS, whose UID is found by comparing
// UIDNEXT before and after; and one whose body fails half-way, which
// costs the connection. So a failure costs no message but its own,
// unless the connection breaks: then the messages sent since the last
// answer fail with it.
//
// Deadlines: while a Send writes, and while a wait waits, the
// connection's timeout is armed as in any operation; every answer read
// pushes it forward, so a server that is busy with a window of
// messages is not taken for a silent one.
func (s *Store) AppendPipeline() reconcile.AppendPipeline {
	return &multiPipeline{s: s, old: &pipeline{s: s}}
}

var _ reconcile.PipelinedAppender = (*Store)(nil)

// pipeline is an AppendPipeline; pending holds the APPENDs sent and not
// yet collected, oldest first.
type pipeline struct {
	s       *Store
	pending []*sentAppend
}

// sentAppend is one APPEND of a pipeline. Once done, out and err are
// its result.
type sentAppend struct {
	ctx     context.Context
	mailbox string
	// c, conn and cmd are where it went, nil if it failed before.
	c    *imapclient.Client
	conn *timeoutConn
	cmd  *imapclient.AppendCommand

	done bool
	out  reconcile.Appended
	err  error
}

func (p *pipeline) Send(ctx context.Context, mailbox string, flags reconcile.Flags, date time.Time, size int64, body io.Reader) func() (reconcile.Appended, error) {
	s := p.s
	a := &sentAppend{ctx: ctx, mailbox: mailbox}
	wait := func() (reconcile.Appended, error) {
		p.collect(a)
		return a.out, a.err
	}
	// Caps is nil while not connected: then nothing in flight is on a
	// live connection, and waiting for it costs nothing.
	caps := s.Caps()
	if caps == nil || !caps.Has(imap.CapUIDPlus) || size > syncLiteralMax || !caps.Has(imap.CapLiteralMinus) {
		p.drain()
	}
	err := s.mutate(ctx, fmt.Sprintf("append to %q", mailbox), func() error {
		if !s.caps.Has(imap.CapUIDPlus) {
			// Nothing of this pipeline is in flight on this connection
			// (drained above, or sent on a connection since lost).
			var err error
			a.out, err = s.appendOne(mailbox, flags, date, size, body)
			a.done = true
			return err
		}
		cmd := s.c.Append(mailbox, size, &imap.AppendOptions{Flags: imapFlags(flags), Time: date})
		src := &readErr{r: body}
		n, werr := copyBody(cmd, src, size)
		if src.err != nil || errors.Is(werr, io.EOF) {
			// The connection goes with this message; the answers to the
			// messages before it are on their way: read them first.
			for _, b := range slices.Clone(p.pending) {
				if b.c == s.c {
					p.collectLocked(b, false)
				}
			}
			return s.abandonAppend(cmd, src, n, size)
		}
		if cerr := cmd.Close(); werr != nil || cerr != nil {
			// The connection failed under the literal, or the server
			// refused it (NO instead of "+"; go-imap then closes the
			// connection): its answer, if any, beats the write error.
			if _, err := cmd.Wait(); err != nil {
				return err
			}
			return cmp.Or(werr, cerr)
		}
		a.c, a.conn, a.cmd = s.c, s.conn, cmd
		p.pending = append(p.pending, a)
		return nil
	})
	if err != nil {
		a.done, a.err = true, err
	}
	return wait
}

// drain collects every APPEND in flight.
func (p *pipeline) drain() {
	for len(p.pending) > 0 {
		p.collect(p.pending[0])
	}
}

// collect waits for a's answer, with the connection's deadline armed
// and a's context able to cancel the wait, as an operation of the
// Store.
func (p *pipeline) collect(a *sentAppend) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.collectLocked(a, true)
}

// collectLocked is collect with s.mu held. Unless arm is set, the
// caller is an operation of s.run, which arms the deadline and deals
// with a connection that broke.
func (p *pipeline) collectLocked(a *sentAppend, arm bool) {
	if a.done {
		return
	}
	p.pending = slices.DeleteFunc(p.pending, func(b *sentAppend) bool { return b == a })
	a.done = true
	s := p.s
	// Only the connection it went out on can answer; if that was lost
	// since, go-imap has failed the command (or answered it before).
	live := s.c != nil && s.c == a.c
	var stop func() bool
	if live && arm {
		a.conn.begin()
		stop = context.AfterFunc(a.ctx, a.conn.abort)
	}
	data, err := a.cmd.Wait()
	aborted := false
	if stop != nil {
		aborted = !stop()
		a.conn.end()
	}
	timedOut := a.conn.hasTimedOut()
	if live && arm && (aborted || s.dead() || timedOut) {
		s.drop()
	}
	var refused *imap.Error
	switch {
	case err == nil:
		if data.UID != 0 {
			a.out = reconcile.Appended{UIDValidity: data.UIDValidity, UID: reconcile.UID(data.UID)}
		}
		return // with UID 0 if UIDPLUS was announced but no APPENDUID came
	case errors.As(err, &refused):
		// The server's NO or BAD, for this message alone.
		err = lasting(err)
	case aborted || a.ctx.Err() != nil:
		err = a.ctx.Err()
	case timedOut:
		err = &timeoutError{d: s.opts.Timeout, err: err}
	default:
		err = fmt.Errorf("connection lost before the server answered: %w", err)
	}
	a.err = fmt.Errorf("account %q: append to %q: %w", s.opts.Name, a.mailbox, err)
}

// lasting returns err as a *reconcile.RefusedError where it is the
// server's NO to a command that will never succeed as it is: with no
// response code, or with CANNOT or LIMIT (RFC 5530). Dovecot answers a
// keyword longer than it takes with NO [CANNOT]. Any other error, a NO
// that says to try again later ([OVERQUOTA], [INUSE], [UNAVAILABLE],
// [SERVERBUG]) among them, is returned as it is.
func lasting(err error) error {
	var ierr *imap.Error
	if !errors.As(err, &ierr) || ierr.Type != imap.StatusResponseTypeNo {
		return err
	}
	switch ierr.Code {
	case "", imap.ResponseCodeCannot, imap.ResponseCodeLimit:
		return &reconcile.RefusedError{Err: err}
	}
	return err
}

// findAppended finds the UID of a message just appended without UIDPLUS:
// the only message at or above the UIDNEXT from before the APPEND.
func (s *Store) findAppended(mailbox string, before *imap.StatusData) (reconcile.UID, uint32, error) {
	data, err := s.selectMailbox(mailbox, false, true)
	if err != nil {
		return 0, 0, err
	}
	if before.UIDValidity != 0 && data.UIDValidity != before.UIDValidity {
		return 0, data.UIDValidity, nil
	}
	next := before.UIDNext
	if next == 0 {
		next = 1
	}
	res, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{{Start: next, Stop: 0}}}}, nil).Wait()
	if err != nil {
		return 0, 0, fmt.Errorf("search the appended message: %w", err)
	}
	// "n:*" always matches the highest UID, even one below n.
	var found []imap.UID
	for _, u := range res.AllUIDs() {
		if u >= next {
			found = append(found, u)
		}
	}
	if len(found) != 1 {
		return 0, data.UIDValidity, nil
	}
	return reconcile.UID(found[0]), data.UIDValidity, nil
}

// readErr remembers the error of the reader it wraps, to tell a failing
// message source from a failing connection.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
