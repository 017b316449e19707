package imapstore

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/reconcile"
)

// MULTIAPPEND (RFC 3502) on a connection of our own.
//
// Dovecot's cost is its save transaction, one per APPEND command:
// about 1.8-2 ms per 8 KB message on one connection, whether the
// literal is synchronizing or not. One APPEND command carrying many
// messages pays it once. go-imap v2 beta.8 cannot send one (and sends
// literals over 4096 bytes as synchronizing), so the pipeline below
// speaks the few lines of IMAP it needs (LOGIN, APPEND, LOGOUT) on a
// connection of its own; everything else stays with go-imap.

const (
	// multiMaxMessages and multiMaxBytes end a MULTIAPPEND command, so
	// that the server commits progressively and a refused or lost
	// command costs a bounded number of messages.
	multiMaxMessages = 64
	multiMaxBytes    = 16 << 20

	// maxResponseLine bounds what is kept of one response line; the
	// rest of a longer one is read and dropped.
	maxResponseLine = 64 << 10
)

// multiPipeline is the AppendPipeline of AppendPipeline. A message goes
// into a MULTIAPPEND command on the pipeline's own connection (mc) when
// the server has MULTIAPPEND, LITERAL+ and UIDPLUS, the message needs
// nothing this code does not speak (a mailbox name that is not plain
// ASCII, a flag that is not an atom) and is not empty, and the caller
// pipelines: mc is open already, or an earlier message's wait has not
// been called. Otherwise, or when mc cannot be opened, it goes through
// old, go-imap's pipeline on the Store's connection.
//
// So a copy of one message, or one that waits for each answer before
// it sends the next (reconcile's copy does so for its first message),
// costs no second login; a copy of many opens mc once it has two
// messages in flight. When every wait was called, mc is parked in the
// Store, for its next pipeline to take up (see closeIfIdle); Store.Close
// logs out of it.
type multiPipeline struct {
	s   *Store
	old *pipeline

	mu sync.Mutex
	mc *multiConn // nil: none open
	// open is the command being written, the last of mc.sent, nil when
	// none is.
	open *multiCmd
	// outstanding counts the waits returned by Send and not yet called.
	outstanding int
	// eager opens mc for the first message already (tests).
	eager bool
	// refused is why mc could not be opened: from then on every message
	// goes through old.
	refused error
}

// multiConn is the pipeline's connection, logged in.
type multiConn struct {
	s    *Store
	conn *timeoutConn
	r    *bufio.Reader
	w    *bufio.Writer
	tags int
	// sent holds the commands written (the last one maybe still open)
	// and not yet answered, oldest first.
	sent []*multiCmd
}

// multiCmd is one APPEND command of a pipeline: the messages in it, in
// order, and their bytes.
type multiCmd struct {
	tag     string
	mailbox string
	msgs    []*multiMsg
	size    int64
}

// multiMsg is one message sent in a multiCmd. Once done, out and err
// are its result.
type multiMsg struct {
	ctx  context.Context
	cmd  *multiCmd
	done bool
	out  reconcile.Appended
	err  error
}

// Send implements reconcile.AppendPipeline.
func (p *multiPipeline) Send(ctx context.Context, mailbox string, flags reconcile.Flags, date time.Time, size int64, body io.Reader) func() (reconcile.Appended, error) {
	p.mu.Lock()
	p.outstanding++
	if p.mc == nil && p.usable(mailbox, flags) {
		p.mc = p.s.unpark()
	}
	pipelining := p.mc != nil || p.eager || p.outstanding > 1
	// Dovecot refuses an empty message, which would fail the messages
	// of its MULTIAPPEND with it: it goes alone.
	if !pipelining || size <= 0 || !p.usable(mailbox, flags) {
		p.mu.Unlock()
		return p.sendOld(ctx, mailbox, flags, date, size, body)
	}
	if p.mc == nil {
		mc, err := p.s.dialMulti(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.refused = err
			}
			p.mu.Unlock()
			return p.sendOld(ctx, mailbox, flags, date, size, body)
		}
		p.mc = mc
	}
	defer p.mu.Unlock()
	m := &multiMsg{ctx: ctx}
	p.send(m, mailbox, flags, date, size, body)
	return func() (reconcile.Appended, error) {
		p.wait(m)
		return m.out, m.err
	}
}

// sendOld sends a message through go-imap's pipeline; its wait counts
// as the others do.
func (p *multiPipeline) sendOld(ctx context.Context, mailbox string, flags reconcile.Flags, date time.Time, size int64, body io.Reader) func() (reconcile.Appended, error) {
	wait := p.old.Send(ctx, mailbox, flags, date, size, body)
	return func() (reconcile.Appended, error) {
		out, err := wait()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.outstanding--
		p.closeIfIdle()
		return out, err
	}
}

// usable reports whether a message for mailbox with flags can go on the
// pipeline's own connection.
func (p *multiPipeline) usable(mailbox string, flags reconcile.Flags) bool {
	s := p.s
	if s.opts.ReadOnly || p.refused != nil || !plainMailbox(mailbox) {
		return false
	}
	for _, f := range flags {
		if !isFlagAtom(f) {
			return false
		}
	}
	if p.mc != nil {
		return true
	}
	// Caps is nil while the Store is not connected (or closed): go-imap's
	// pipeline reconnects, or says why not.
	caps := s.Caps()
	return caps != nil && caps.Has(imap.CapMultiAppend) && caps.Has(imap.CapLiteralPlus) && caps.Has(imap.CapUIDPlus)
}

// send writes m into the open command for mailbox, opening one if need
// be, with the connection's deadline armed and ctx able to abort it.
func (p *multiPipeline) send(m *multiMsg, mailbox string, flags reconcile.Flags, date time.Time, size int64, body io.Reader) {
	mc := p.mc
	conn := mc.conn
	conn.begin()
	stop := context.AfterFunc(m.ctx, conn.abort)
	failed, err := p.write(m, mailbox, flags, date, size, body)
	if err == nil && failed == nil {
		aborted := !stop()
		conn.end()
		if aborted {
			p.lose(m.ctx, nil, true)
		}
		return
	}
	if failed != nil && m.ctx.Err() == nil && !conn.hasTimedOut() {
		// The source failed half-way through a literal, which cannot be
		// taken back: the commands before this one are whole and their
		// answers are on their way; then the connection goes, and the
		// server discards this command, every message of it.
		c := m.cmd
		for len(mc.sent) > 1 && mc.sent[0] != c {
			if err := mc.readUntil(mc.sent[0]); err != nil {
				break
			}
		}
		stop()
		conn.end()
		p.dropSource(c, m, failed)
		return
	}
	aborted := !stop()
	conn.end()
	p.lose(m.ctx, err, aborted)
}

// write writes m into the open command (see send). It returns the
// error of the message's source when that failed or ended short, or
// the connection's error.
func (p *multiPipeline) write(m *multiMsg, mailbox string, flags reconcile.Flags, date time.Time, size int64, body io.Reader) (srcErr, err error) {
	mc := p.mc
	if c := p.open; c != nil && c.mailbox != mailbox {
		if err := p.end(); err != nil {
			p.add(m, mailbox, size) // fails with the others
			return nil, err
		}
	}
	var line strings.Builder
	if p.open == nil {
		mc.tags++
		p.open = &multiCmd{tag: "M" + strconv.Itoa(mc.tags), mailbox: mailbox}
		mc.sent = append(mc.sent, p.open)
		line.WriteString(p.open.tag + " APPEND " + mailboxArg(mailbox))
	}
	p.add(m, mailbox, size)
	if len(flags) > 0 {
		line.WriteString(" (" + strings.Join(flags, " ") + ")")
	}
	if !date.IsZero() {
		line.WriteString(date.Format(` "02-Jan-2006 15:04:05 -0700"`))
	}
	fmt.Fprintf(&line, " {%d+}\r\n", size)
	if err := mc.writeLine(line.String()); err != nil {
		return nil, err
	}
	src := &readErr{r: body}
	n, werr := copyBody(mc.w, src, size)
	if src.err != nil || errors.Is(werr, io.EOF) {
		rerr := src.err
		if rerr == nil {
			rerr = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read the message after %d of %d bytes: %w", n, size, rerr), nil
	}
	if werr != nil {
		return nil, werr
	}
	if c := p.open; len(c.msgs) >= multiMaxMessages || c.size >= multiMaxBytes {
		return nil, p.end()
	}
	return nil, mc.w.Flush()
}

// add puts m into the open command.
func (p *multiPipeline) add(m *multiMsg, mailbox string, size int64) {
	c := p.open
	if c == nil {
		// The connection failed before a command was open for m: it
		// fails on its own, with the connection's error.
		c = &multiCmd{mailbox: mailbox}
		p.mc.sent = append(p.mc.sent, c)
	}
	m.cmd = c
	c.msgs = append(c.msgs, m)
	c.size += size
}

// end ends the open command: from now on the server can answer it.
func (p *multiPipeline) end() error {
	p.open = nil
	p.mc.trace("\r\n")
	if _, err := p.mc.w.WriteString("\r\n"); err != nil {
		return err
	}
	return p.mc.w.Flush()
}

// wait waits for m's answer: it ends m's command if it is still open,
// then reads the answers up to that command's.
func (p *multiPipeline) wait(m *multiMsg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outstanding--
	defer p.closeIfIdle()
	if m.done {
		return
	}
	mc := p.mc
	if mc == nil { // cannot be: losing a connection settles its messages
		m.settle(p.s, m.cmd.mailbox, reconcile.Appended{}, errors.New("connection lost before the server answered"))
		return
	}
	conn := mc.conn
	conn.begin()
	stop := context.AfterFunc(m.ctx, conn.abort)
	var err error
	if p.open == m.cmd {
		err = p.end()
	}
	if err == nil {
		err = mc.readUntil(m.cmd)
	}
	aborted := !stop()
	conn.end()
	if err != nil {
		p.lose(m.ctx, err, aborted)
	}
}

// closeIfIdle parks the connection in the Store once every wait was
// called: the next pipeline of the Store (the copy into the next
// folder) takes it up without a new login, and Store.Close logs out of
// it.
func (p *multiPipeline) closeIfIdle() {
	if p.outstanding > 0 || p.mc == nil {
		return
	}
	mc := p.mc
	p.mc, p.open = nil, nil
	p.s.park(mc)
}

// maxParked is how long a parked MULTIAPPEND connection is taken up
// again: within a run the next copy comes at once, and a connection
// left longer may have been closed by the server meanwhile, which
// would fail the messages sent on it.
const maxParked = 10 * time.Second

// park keeps mc for the Store's next pipeline, logging out of one
// parked before, or of mc when the Store is closed.
func (s *Store) park(mc *multiConn) {
	s.parkMu.Lock()
	old := s.parked
	if s.parkClosed {
		old = mc
	} else {
		s.parked, s.parkedAt = mc, time.Now()
	}
	s.parkMu.Unlock()
	if old != nil {
		old.logout()
	}
}

// WarmAppends implements reconcile.AppendWarmer: where the server takes
// MULTIAPPEND and no connection for it is parked or on its way, it opens
// one in the background and parks it, so that the next copy into the
// account does not wait for a login. A connection that cannot be opened
// is not an error here: the copy then tries again, and says why.
func (s *Store) WarmAppends(ctx context.Context) {
	caps := s.Caps()
	if s.opts.ReadOnly || caps == nil ||
		!caps.Has(imap.CapMultiAppend) || !caps.Has(imap.CapLiteralPlus) || !caps.Has(imap.CapUIDPlus) {
		return
	}
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if s.parkClosed || s.parked != nil || s.warming != nil {
		return
	}
	done := make(chan struct{})
	s.warming = done
	go func() {
		defer close(done)
		mc, err := s.dialMulti(ctx)
		if err == nil {
			s.park(mc)
		}
		s.parkMu.Lock()
		s.warming = nil
		s.parkMu.Unlock()
	}()
}

var _ reconcile.AppendWarmer = (*Store)(nil)

// unpark returns the parked MULTIAPPEND connection, nil if there is
// none or it was parked too long (then it is logged out of). A
// connection WarmAppends is opening is waited for.
func (s *Store) unpark() *multiConn {
	s.parkMu.Lock()
	for s.parked == nil && s.warming != nil {
		w := s.warming
		s.parkMu.Unlock()
		<-w
		s.parkMu.Lock()
	}
	mc, at := s.parked, s.parkedAt
	s.parked = nil
	s.parkMu.Unlock()
	if mc != nil && time.Since(at) > maxParked {
		mc.logout()
		return nil
	}
	return mc
}

// dropSource drops the connection because message m of c failed with
// err in the middle of its literal: every message of c fails, and the
// server, which discards the command when the connection goes, has
// stored none.
func (p *multiPipeline) dropSource(c *multiCmd, m *multiMsg, err error) {
	mc := p.mc
	mc.conn.abort()
	p.mc, p.open = nil, nil
	n := 0
	for i, x := range c.msgs {
		if x == m {
			n = i + 1
		}
	}
	for _, x := range c.msgs {
		if x == m {
			x.settle(p.s, c.mailbox, reconcile.Appended{}, err)
			continue
		}
		x.settle(p.s, c.mailbox, reconcile.Appended{}, fmt.Errorf("not stored: the connection was dropped because the source of message %d of the same MULTIAPPEND failed (%v)", n, err))
	}
	// Nothing else is in flight: send answered what came before c.
	p.failAll(mc, errors.New("connection lost before the server answered"))
}

// lose fails every message in flight on the connection, which broke
// (err), timed out, or was aborted by ctx, and drops it. Each command
// is atomic: all of its messages were stored, or none.
func (p *multiPipeline) lose(ctx context.Context, err error, aborted bool) {
	mc := p.mc
	switch {
	case aborted || ctx.Err() != nil:
		err = ctx.Err()
	case mc.conn.hasTimedOut():
		err = &timeoutError{d: p.s.opts.Timeout, err: err}
	default:
		err = fmt.Errorf("connection lost before the server answered: %w", err)
	}
	mc.conn.abort()
	p.mc, p.open = nil, nil
	p.failAll(mc, err)
}

// failAll fails every message of mc not answered yet with err.
func (p *multiPipeline) failAll(mc *multiConn, err error) {
	for _, c := range mc.sent {
		for _, m := range c.msgs {
			m.settle(p.s, c.mailbox, reconcile.Appended{}, err)
		}
	}
	mc.sent = nil
}

// settle gives m its result, unless it has one.
func (m *multiMsg) settle(s *Store, mailbox string, out reconcile.Appended, err error) {
	if m.done {
		return
	}
	m.done = true
	m.out = out
	if err != nil {
		m.err = fmt.Errorf("account %q: append to %q: %w", s.opts.Name, mailbox, err)
	}
}

// readUntil reads responses until c's tagged answer, settling the
// commands answered on the way.
func (mc *multiConn) readUntil(c *multiCmd) error {
	for {
		if !mc.pending(c) {
			return nil
		}
		resp, err := mc.readResponse()
		if err != nil {
			return err
		}
		tag, rest, _ := strings.Cut(resp, " ")
		switch tag {
		case "*":
			if word, text, _ := strings.Cut(rest, " "); strings.EqualFold(word, "BYE") {
				return fmt.Errorf("the server closed the connection: %s", text)
			}
			continue
		case "+":
			continue // not asked for: every literal is LITERAL+
		}
		for i, x := range mc.sent {
			if x.tag == tag {
				mc.sent = append(mc.sent[:i:i], mc.sent[i+1:]...)
				mc.answer(x, rest)
				break
			}
		}
	}
}

// pending reports whether c is still waiting for its answer.
func (mc *multiConn) pending(c *multiCmd) bool {
	for _, x := range mc.sent {
		if x == c {
			return true
		}
	}
	return false
}

// answer settles the messages of c from its tagged answer (without the
// tag): with APPENDUID's UIDs by position on OK, all failed on NO or
// BAD (a MULTIAPPEND is atomic). Where the command carried several
// messages, their error is a *reconcile.BatchRefusedError: any one of
// them may be the cause, and the copy sends each again alone.
func (mc *multiConn) answer(c *multiCmd, resp string) {
	status, code, text := parseStatus(resp)
	if status != imap.StatusResponseTypeOK {
		var err error = &imap.Error{Type: status, Code: imap.ResponseCode(codeName(code)), Text: text}
		if len(c.msgs) > 1 {
			err = &reconcile.BatchRefusedError{Messages: len(c.msgs), Err: err}
		} else {
			err = lasting(err)
		}
		for _, m := range c.msgs {
			m.settle(mc.s, c.mailbox, reconcile.Appended{}, err)
		}
		return
	}
	validity, uids := appendUID(code, len(c.msgs))
	for i, m := range c.msgs {
		var out reconcile.Appended
		if uids != nil {
			out = reconcile.Appended{UIDValidity: validity, UID: reconcile.UID(uids[i])}
		}
		m.settle(mc.s, c.mailbox, out, nil)
	}
}

// parseStatus splits a tagged answer (after the tag) into its status,
// its response code (without brackets, "" if none) and its text. A
// status other than OK and NO reads as BAD.
func parseStatus(resp string) (status imap.StatusResponseType, code, text string) {
	word, text, _ := strings.Cut(resp, " ")
	switch strings.ToUpper(word) {
	case "OK":
		status = imap.StatusResponseTypeOK
	case "NO":
		status = imap.StatusResponseTypeNo
	default:
		status = imap.StatusResponseTypeBad
	}
	if strings.HasPrefix(text, "[") {
		if i := strings.IndexByte(text, ']'); i > 0 {
			code, text = text[1:i], strings.TrimPrefix(text[i+1:], " ")
		}
	}
	return status, code, text
}

// codeName is the name of a response code: its first word, upper case.
func codeName(code string) string {
	name, _, _ := strings.Cut(code, " ")
	return strings.ToUpper(name)
}

// appendUID reads the UIDs of n messages from an APPENDUID response
// code ("APPENDUID uidvalidity uid-set"), in the order of the
// messages; nil when there is none or it does not count n.
func appendUID(code string, n int) (uint32, []uint32) {
	f := strings.Fields(code)
	if len(f) != 3 || !strings.EqualFold(f[0], "APPENDUID") {
		return 0, nil
	}
	validity, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return 0, nil
	}
	var uids []uint32
	for _, r := range strings.Split(f[2], ",") {
		lo, hi, isRange := strings.Cut(r, ":")
		a, err1 := strconv.ParseUint(lo, 10, 32)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 32)
		}
		if err1 != nil || err2 != nil || a == 0 || b == 0 {
			return 0, nil
		}
		step := uint64(1)
		if b < a {
			step = ^uint64(0) // -1: a range may be written high to low
		}
		for u := a; ; u += step {
			if len(uids) == n {
				return 0, nil // more UIDs than messages
			}
			uids = append(uids, uint32(u))
			if u == b {
				break
			}
		}
	}
	if len(uids) != n {
		return 0, nil
	}
	return uint32(validity), uids
}

// readResponse reads one response: its first line without CRLF (at
// most maxResponseLine bytes of it). The literals in it are read and
// dropped, and so is the rest of the response after them.
func (mc *multiConn) readResponse() (string, error) {
	first, err := mc.readLine()
	if err != nil {
		return "", err
	}
	mc.trace(first + "\r\n")
	line := first
	for {
		n, ok := literalSize(line)
		if !ok {
			return first, nil
		}
		if _, err := io.CopyN(io.Discard, mc.r, n); err != nil {
			return "", err
		}
		if line, err = mc.readLine(); err != nil {
			return "", err
		}
	}
}

// readLine reads a line and returns it without CRLF, cut at
// maxResponseLine bytes (the rest is read and dropped).
func (mc *multiConn) readLine() (string, error) {
	var b []byte
	for {
		chunk, err := mc.r.ReadSlice('\n')
		if len(b) < maxResponseLine {
			b = append(b, chunk[:min(len(chunk), maxResponseLine-len(b))]...)
		}
		switch {
		case err == nil:
			return strings.TrimRight(string(b), "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// literalSize returns n for a line that ends with a literal's {n} (or
// {n+}).
func literalSize(line string) (int64, bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	num := strings.TrimSuffix(line[i+1:len(line)-1], "+")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || num == "" || num[0] == '+' || num[0] == '-' {
		return 0, false
	}
	return n, true
}

// writeLine writes a command line (or the part of one up to a
// literal), traced.
func (mc *multiConn) writeLine(line string) error {
	mc.trace(line)
	_, err := mc.w.WriteString(line)
	return err
}

// trace writes s to the Store's debug trace, if any. Message contents
// never come here, nor does LOGIN's line.
func (mc *multiConn) trace(s string) {
	if d := mc.s.debug; d != nil {
		d.Write([]byte(s))
	}
}

// logout ends the session politely and closes the connection, waiting
// at most the timeout for the server's answer.
func (mc *multiConn) logout() {
	conn := mc.conn
	defer conn.abort()
	conn.begin()
	defer conn.end()
	mc.tags++
	tag := "M" + strconv.Itoa(mc.tags)
	if mc.writeLine(tag+" LOGOUT\r\n") != nil || mc.w.Flush() != nil {
		return
	}
	for {
		resp, err := mc.readResponse()
		if err != nil || strings.HasPrefix(resp, tag+" ") {
			return
		}
	}
}

// dialMulti opens the connection of a MULTIAPPEND pipeline: same
// address, TLS, timeout and credentials as the Store's. Its errors name
// the address but not the account.
func (s *Store) dialMulti(ctx context.Context) (mc *multiConn, err error) {
	err = s.withFreshToken(ctx, func(token string) error {
		mc, err = s.dialMultiWith(ctx, token)
		return err
	})
	return mc, err
}

// dialMultiWith is dialMulti with token, the access token of a token
// mechanism ("" for the others).
func (s *Store) dialMultiWith(ctx context.Context, token string) (*multiConn, error) {
	d := net.Dialer{Timeout: s.opts.Timeout}
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("connect to %s: %w", s.addr, err)
	}
	conn := newTimeoutConn(raw, s.opts.Timeout)
	conn.begin()
	stop := context.AfterFunc(ctx, conn.abort)
	mc, err := s.openMulti(conn, token)
	aborted := !stop()
	conn.end()
	switch {
	case aborted:
		conn.abort()
		return nil, fmt.Errorf("connect to %s: %w", s.addr, ctx.Err())
	case err != nil:
		conn.abort()
		if conn.hasTimedOut() {
			err = &timeoutError{d: s.opts.Timeout, err: err}
		}
		return nil, err
	}
	return mc, nil
}

// openMulti secures conn as the Store's connection is, reads the
// greeting and logs in with the mechanism the Store's first connection
// used; token is the access token of a token mechanism.
func (s *Store) openMulti(conn *timeoutConn, token string) (*multiConn, error) {
	cfg := &tls.Config{}
	if s.opts.TLSConfig != nil {
		cfg = s.opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	mc := &multiConn{s: s, conn: conn}
	var nc net.Conn = conn
	handshake := func() error {
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			if ce := certificateError(err, cfg.ServerName); ce != nil {
				return fmt.Errorf("tls handshake with %s: %w", s.addr, ce)
			}
			return fmt.Errorf("tls handshake with %s: %w", s.addr, err)
		}
		nc = tc
		return nil
	}
	switch s.opts.TLS {
	case Implicit:
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		if err := handshake(); err != nil {
			return nil, err
		}
	case StartTLS, None:
	default:
		return nil, fmt.Errorf("unknown TLS mode %v", s.opts.TLS)
	}
	mc.r, mc.w = bufio.NewReader(nc), bufio.NewWriterSize(nc, 32<<10)
	greeting, err := mc.readResponse()
	if err != nil {
		return nil, fmt.Errorf("greeting from %s: %w", s.addr, err)
	}
	kind, _, _ := strings.Cut(strings.TrimPrefix(greeting, "* "), " ")
	switch strings.ToUpper(kind) {
	case "OK", "PREAUTH":
	default:
		return nil, fmt.Errorf("greeting from %s: %q", s.addr, greeting)
	}
	if s.opts.TLS == StartTLS {
		if strings.EqualFold(kind, "PREAUTH") {
			// RFC 3501 6.2.1: no STARTTLS once authenticated.
			return nil, fmt.Errorf("starttls with %s: the server sent PREAUTH on the unencrypted connection", s.addr)
		}
		if _, err := mc.command("STARTTLS", "STARTTLS"); err != nil {
			return nil, fmt.Errorf("starttls with %s: %w", s.addr, err)
		}
		if err := handshake(); err != nil {
			return nil, fmt.Errorf("starttls with %s: %w", s.addr, err)
		}
		mc.r, mc.w = bufio.NewReader(nc), bufio.NewWriterSize(nc, 32<<10)
	}
	if strings.EqualFold(kind, "PREAUTH") {
		return mc, nil
	}
	switch m := s.multiMech(); m {
	case AuthLogin:
		login := "LOGIN " + astring(s.opts.Username) + " " + astring(s.opts.Password)
		if _, err := mc.command(login, "LOGIN [credentials not shown]"); err != nil {
			return nil, fmt.Errorf("login as %s at %s: %w", s.opts.Username, s.addr, err)
		}
	default:
		cl := s.saslClient(m, token)
		if err := mc.authenticate(cl); err != nil {
			return nil, s.saslError(m, err, saslFailure(cl))
		}
	}
	return mc, nil
}

// command runs a command (its line without tag and CRLF) and waits for
// its answer: the response code of OK, an *imap.Error for NO or BAD.
// The trace shows the line as shown (LOGIN without its arguments).
func (mc *multiConn) command(line, shown string) (string, error) {
	mc.tags++
	tag := "M" + strconv.Itoa(mc.tags)
	mc.trace(tag + " " + shown + "\r\n")
	if _, err := mc.w.WriteString(tag + " " + line + "\r\n"); err != nil {
		return "", err
	}
	if err := mc.w.Flush(); err != nil {
		return "", err
	}
	for {
		resp, err := mc.readResponse()
		if err != nil {
			return "", err
		}
		t, rest, _ := strings.Cut(resp, " ")
		if t == "*" {
			if word, text, _ := strings.Cut(rest, " "); strings.EqualFold(word, "BYE") {
				return "", fmt.Errorf("the server closed the connection: %s", text)
			}
		}
		if t != tag {
			continue
		}
		status, code, text := parseStatus(rest)
		if status != imap.StatusResponseTypeOK {
			return "", &imap.Error{Type: status, Code: imap.ResponseCode(codeName(code)), Text: text}
		}
		return code, nil
	}
}

// plainMailbox reports a mailbox name that needs no modified UTF-7:
// printable ASCII without '&' (and short enough for a quoted string).
func plainMailbox(name string) bool {
	if name == "" || len(name) > 1024 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e || c == '&' {
			return false
		}
	}
	return true
}

// isFlagAtom reports a flag that can be written as it is in a flag
// list: an atom, or '\' and an atom.
func isFlagAtom(f string) bool {
	f = strings.TrimPrefix(f, `\`)
	if f == "" {
		return false
	}
	for i := 0; i < len(f); i++ {
		switch c := f[i]; {
		case c <= 0x20 || c >= 0x7f:
			return false
		case strings.IndexByte(`(){%*"\]`, c) >= 0:
			return false
		}
	}
	return true
}

// mailboxArg writes a plain mailbox name as go-imap does: INBOX (in
// any case) as the atom INBOX, any other as a quoted string.
func mailboxArg(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return quote(name)
}

// quote writes s (printable ASCII) as a quoted string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// astring writes s as a quoted string, or as a LITERAL+ literal when it
// holds what a quoted string cannot (CR, LF, NUL, 8-bit).
func astring(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return fmt.Sprintf("{%d+}\r\n%s", len(s), s)
		}
	}
	return quote(s)
}
