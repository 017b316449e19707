package imaptest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Recorder is a TCP proxy in front of a Server that records the IMAP
// commands clients send through it, so a test can check what the code
// under test did on the wire: that it moved with UID MOVE, appended
// nothing, fetched no body.
//
// It follows IMAP's framing: literals ({n}, {n+} and ~{n}) are passed
// through unread, so a message body inside APPEND (or a FETCH response)
// is never taken for a command; AUTHENTICATE responses and IDLE's DONE
// are not commands either. It keeps no literal content, and the
// arguments of LOGIN and AUTHENTICATE are redacted, so neither bodies
// nor passwords are ever recorded.
//
// It can also break things (fault.go): refuse a command, say BYE, cut
// or stall a connection at a chosen command (Intercept), or after a
// number of bytes (CutAfter, StallAfter), so a test can see how the
// code under test copes with a server that fails.
//
// The proxy listens on 127.0.0.1 and stops, closing every connection
// through it, when the test ends. It reads plain IMAP only: a client
// that sends STARTTLS through it is not supported.
type Recorder struct {
	// Addr is the proxy's host:port: give it to the code under test in
	// place of the server's.
	Addr string

	srv  *Server
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	cmds []recorded
	open map[*proxied]struct{}

	// The fault injection of fault.go, guarded by mu: conns and seq
	// number connections and commands, bytes counts the bytes relayed,
	// and at a byte count of faultAt (when >= 0) the connection carrying
	// the next byte gets fault (only connection faultConn, when not 0);
	// faulted is that connection's number.
	intercept func(Event) Action
	conns     int
	seq       int
	bytes     int64
	faultAt   int64
	faultConn int
	fault     Kind
	faulted   int
}

type recorded struct {
	conn       int // the connection's number, from 1
	verb, line string
}

// Record starts a Recorder in front of srv. The server must be plain
// (TLSNone).
func Record(t testing.TB, srv *Server) *Recorder {
	t.Helper()
	if srv.TLS != TLSNone {
		t.Fatalf("imaptest: Record reads plain IMAP; the %s server uses TLS", srv.Kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("imaptest: listen: %v", err)
	}
	r := &Recorder{Addr: ln.Addr().String(), srv: srv, ln: ln, open: map[*proxied]struct{}{}, faultAt: -1}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

// Server returns a copy of the recorded server whose Addr is the
// proxy's, so the Server helpers can go through the recorder too.
func (r *Recorder) Server() *Server {
	s := *r.srv
	s.Addr = r.Addr
	s.idle = nil // each helper's commands recorded whole, LOGIN to LOGOUT
	return &s
}

// Commands returns the commands received so far, in order, each without
// its tag: `UID MOVE 2 "Archive"`, `APPEND "INBOX" (\Seen) {512+}`. A
// literal shows as its {n} marker only. LOGIN reads `LOGIN [redacted]`,
// AUTHENTICATE shows its mechanism only.
func (r *Recorder) Commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.cmds))
	for i, c := range r.cmds {
		out[i] = c.line
	}
	return out
}

// Count returns how many commands with verb were received. A verb is the
// command name, or "UID" and the name after it: Count("FETCH") does not
// count UID FETCH. Case does not matter.
func (r *Recorder) Count(verb string) int {
	verb = strings.Join(strings.Fields(strings.ToUpper(verb)), " ")
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.cmds {
		if c.verb == verb {
			n++
		}
	}
	return n
}

// BodyFetches returns the FETCH and UID FETCH commands that asked for
// message content: BODY[...] or BODY.PEEK[...] of anything but a header
// (HEADER, HEADER.FIELDS, MIME), BINARY[...], RFC822 or RFC822.TEXT.
// Fetching flags, sizes, envelopes or headers is not fetching a body.
func (r *Recorder) BodyFetches() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.cmds {
		if (c.verb == "FETCH" || c.verb == "UID FETCH") && FetchesBody(c.line) {
			out = append(out, c.line)
		}
	}
	return out
}

// Reset forgets the commands recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = nil
}

var (
	sectionRE = regexp.MustCompile(`(?i)(?:^|[\s(])(?:BODY|BINARY)(?:\.PEEK)?\[([^\]]*)\]`)
	rfc822RE  = regexp.MustCompile(`(?i)(?:^|[\s(])RFC822(?:\.TEXT)?(?:[\s)]|$)`)
	partRE    = regexp.MustCompile(`^[0-9.]*`)
)

// FetchesBody reports whether a FETCH command line asks for message
// content (see Recorder.BodyFetches).
func FetchesBody(line string) bool {
	if rfc822RE.MatchString(line) {
		return true
	}
	for _, m := range sectionRE.FindAllStringSubmatch(line, -1) {
		switch rest := strings.ToUpper(partRE.ReplaceAllString(m[1], "")); {
		case rest == "", rest == "TEXT":
			return true
		}
	}
	return false
}

func (r *Recorder) accept() {
	defer r.wg.Done()
	for {
		client, err := r.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", r.srv.Addr)
		if err != nil {
			client.Close()
			continue
		}
		p := &proxied{rec: r, client: client, server: server, done: make(chan struct{}), litGo: make(chan bool, 1), pending: map[string]*command{}}
		r.mu.Lock()
		if r.open == nil { // closed meanwhile
			r.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		r.conns++
		p.id = r.conns
		r.open[p] = struct{}{}
		r.wg.Add(2)
		r.mu.Unlock()
		go p.fromClient()
		go p.fromServer()
	}
}

func (r *Recorder) close() {
	r.ln.Close()
	r.mu.Lock()
	open := r.open
	r.open = nil
	r.mu.Unlock()
	for p := range open {
		p.stop()
	}
	r.wg.Wait()
}

func (r *Recorder) add(conn int, verb, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, recorded{conn: conn, verb: verb, line: line})
}

// Sessions returns the verbs of the commands received so far, one list
// per connection that sent any, in the order the connections were
// opened: [LOGIN NOOP LIST LOGOUT]. A test can tell from them what a
// connection was for.
func (r *Recorder) Sessions() [][]string {
	return r.perConn(func(c recorded) string { return c.verb })
}

// SessionCommands is Sessions with whole command lines, as Commands
// gives them: what each connection was asked, in order.
func (r *Recorder) SessionCommands() [][]string {
	return r.perConn(func(c recorded) string { return c.line })
}

// Idling returns the numbers of the open connections that are idling:
// the server's "+" to their IDLE went to the client, and no DONE or
// completion followed. So a test can wait until the code under test is
// idle, and cut that connection (CutNextOn) at its next byte.
func (r *Recorder) Idling() []int {
	r.mu.Lock()
	ps := make([]*proxied, 0, len(r.open))
	for p := range r.open {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	var ids []int
	for _, p := range ps {
		select {
		case <-p.done:
			continue
		default:
		}
		p.mu.Lock()
		if p.idleUp {
			ids = append(ids, p.id)
		}
		p.mu.Unlock()
	}
	slices.Sort(ids)
	return ids
}

// perConn groups what of each recorded command f picks by connection,
// in the order the connections were opened.
func (r *Recorder) perConn(f func(recorded) string) [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	byConn := map[int][]string{}
	var order []int
	for _, c := range r.cmds {
		if _, ok := byConn[c.conn]; !ok {
			order = append(order, c.conn)
		}
		byConn[c.conn] = append(byConn[c.conn], f(c))
	}
	slices.Sort(order)
	out := make([][]string, len(order))
	for i, c := range order {
		out[i] = byConn[c]
	}
	return out
}

// proxied is one client connection and its server connection.
type proxied struct {
	rec            *Recorder
	id             int // Event.Conn
	client, server net.Conn
	once           sync.Once
	done           chan struct{}
	// stalled says the connection relays nothing more (Stall).
	stalled atomic.Bool
	// inLiteral says a literal of the client's is announced to the
	// server and not wholly forwarded yet.
	inLiteral atomic.Bool
	// toClient is held while one response, or a line the proxy makes
	// up, is written to the client, so the two never interleave.
	toClient sync.Mutex

	mu sync.Mutex
	// contTag is the tag of a command whose continuation lines from the
	// client are data, not commands (AUTHENTICATE, IDLE), until the
	// server completes it; idle says it is IDLE (ended by DONE).
	contTag string
	idle    bool
	// idleUp says the server's "+" to that IDLE went to the client:
	// the client is idling (Idling).
	idleUp bool
	// litTag is the tag of a command waiting for the server's go-ahead
	// before a synchronizing literal; litGo receives true for "+" and
	// false when the server completes the command instead.
	litTag string
	litGo  chan bool
	// pending holds the commands forwarded to the server and not yet
	// completed, by tag.
	pending map[string]*command
}

// command is a command on its way through the proxy.
type command struct {
	seq        int
	verb, line string
}

// errStopped ends a relay goroutine whose connection was cut, stalled
// or closed by the proxy.
var errStopped = errors.New("imaptest: connection stopped by the proxy")

// stop closes both connections. When it cuts a client's literal short
// (or before it began, the server waiting for it), it resets the
// server's connection instead of closing it cleanly: go-imap's memory
// server takes a clean EOF inside APPEND's literal for the end of the
// message and stores what it got, even nothing (Dovecot does not), and
// a test of a cut would then find a truncated message that no client
// could have made.
func (p *proxied) stop() {
	p.once.Do(func() {
		if tcp, ok := p.server.(*net.TCPConn); ok && p.inLiteral.Load() {
			tcp.SetLinger(0)
		}
		close(p.done)
		p.client.Close()
		p.server.Close()
	})
}

// stall stops relaying on the connection and returns when the
// connection is closed, at the latest when the test ends.
func (p *proxied) stall() error {
	p.stalled.Store(true)
	<-p.done
	return errStopped
}

// relay writes b to dst (p.client or p.server), counting its bytes and
// applying a byte fault (CutAfter, StallAfter) when b reaches it.
func (p *proxied) relay(dst net.Conn, b []byte) error {
	if p.stalled.Load() {
		return p.stall()
	}
	n, fault := p.rec.reserve(p.id, len(b))
	if n > 0 {
		if _, err := dst.Write(b[:n]); err != nil {
			return err
		}
	}
	switch fault {
	case Cut:
		p.stop()
		return errStopped
	case Stall:
		return p.stall()
	}
	return nil
}

// relayWriter is p.relay as an io.Writer, for literals.
type relayWriter struct {
	p   *proxied
	dst net.Conn
}

func (w relayWriter) Write(b []byte) (int, error) {
	if err := w.p.relay(w.dst, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// say writes a line the proxy makes up to the client, between two
// responses of the server. It is not counted in Bytes.
func (p *proxied) say(line string) error {
	if p.stalled.Load() {
		return p.stall()
	}
	p.toClient.Lock()
	defer p.toClient.Unlock()
	_, err := io.WriteString(p.client, line+"\r\n")
	return err
}

// literalAt returns the size of the literal announced at the end of
// line ({n}, {n+} or ~{n} before CRLF) and whether it is synchronizing.
func literalAt(line []byte) (n int64, sync, ok bool) {
	l := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if !bytes.HasSuffix(l, []byte("}")) {
		return 0, false, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false, false
	}
	num := l[i+1 : len(l)-1]
	sync = true
	if bytes.HasSuffix(num, []byte("+")) {
		num, sync = num[:len(num)-1], false
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || n < 0 || len(num) == 0 || num[0] == '+' {
		return 0, false, false
	}
	return n, sync, true
}

func trimCRLF(b []byte) string {
	return strings.TrimRight(string(b), "\r\n")
}

// parse returns the verb of a command line (with its tag) and the line
// as recorded: without its tag, LOGIN and AUTHENTICATE redacted. The
// verb is "" for a line with no command in it.
func parse(line string) (verb, rest string) {
	_, rest, _ = strings.Cut(line, " ")
	words := strings.Fields(rest)
	if len(words) == 0 {
		return "", rest
	}
	verb = strings.ToUpper(words[0])
	if verb == "UID" && len(words) > 1 {
		verb += " " + strings.ToUpper(words[1])
	}
	switch verb {
	case "LOGIN":
		rest = words[0] + " [redacted]"
	case "AUTHENTICATE":
		rest = strings.Join(words[:min(2, len(words))], " ")
		if len(words) > 2 {
			rest += " [redacted]"
		}
	}
	return verb, rest
}

// fromClient relays the client's bytes to the server, recording each
// complete command.
func (p *proxied) fromClient() {
	defer p.rec.wg.Done()
	defer p.stop()
	p.clientLoop()
}

// clientLoop is fromClient's loop; it returns why it stopped.
func (p *proxied) clientLoop() error {
	r := bufio.NewReader(p.client)
	var text strings.Builder // the command so far, literals as markers
	var cmd *command         // the command being read, nil for a line with none
	tag := ""
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			p.relay(p.server, line)
			return err
		}
		if text.Len() == 0 {
			tag, _, _ = strings.Cut(trimCRLF(line), " ")
			p.mu.Lock()
			data := p.contTag != ""
			if data && p.idle && strings.EqualFold(trimCRLF(line), "DONE") {
				p.contTag, p.idle, p.idleUp = "", false, false
			}
			p.mu.Unlock()
			if data {
				// A SASL response or DONE: data, not a command.
				if err := p.relay(p.server, line); err != nil {
					return err
				}
				continue
			}
			cmd = nil
			if verb, rest := parse(trimCRLF(line)); verb != "" {
				cmd = &command{seq: p.rec.nextSeq(), verb: verb, line: rest}
				act := p.rec.event(Event{Stage: Received, Conn: p.id, Seq: cmd.seq, Verb: verb, Line: rest})
				switch act.Do {
				case Refuse:
					if err := p.refuse(r, tag, line, &text, act.Text); err != nil {
						return err
					}
					continue
				case Bye:
					p.say("* BYE " + orDefault(act.Text, "imaptest: bye"))
					p.stop()
					return errStopped
				case Cut:
					p.stop()
					return errStopped
				case Stall:
					return p.stall()
				case Rewrite:
					p.finish(tag, cmd, trimCRLF(line))
					p.mu.Lock()
					p.pending[tag] = cmd
					p.mu.Unlock()
					if err := p.relay(p.server, []byte(tag+" "+act.Text+"\r\n")); err != nil {
						return err
					}
					continue
				}
				p.mu.Lock()
				p.pending[tag] = cmd
				p.mu.Unlock()
			}
		}
		text.WriteString(trimCRLF(line))
		n, sync, lit := literalAt(line)
		if !lit {
			p.finish(tag, cmd, text.String())
			text.Reset()
		} else if sync {
			p.mu.Lock()
			p.litTag = tag
			p.mu.Unlock()
		}
		// From its announcement on, the server may be waiting for the
		// literal (after its "+" for a synchronizing one).
		p.inLiteral.Store(lit)
		if err := p.relay(p.server, line); err != nil {
			return err
		}
		if !lit {
			continue
		}
		if sync {
			select {
			case ok := <-p.litGo:
				if !ok { // refused: the command ended without its literal
					p.inLiteral.Store(false)
					p.finish(tag, cmd, text.String())
					text.Reset()
					continue
				}
			case <-p.done:
				return errStopped
			}
		}
		if _, err := io.CopyN(relayWriter{p, p.server}, r, n); err != nil {
			return err
		}
		p.inLiteral.Store(false)
	}
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// refuse answers the command that line starts with NO, forwarding none
// of it. A synchronizing literal is refused before its data is sent,
// as a server does; the data of non-synchronizing literals, and the
// rest of the command after them, are read and dropped.
func (p *proxied) refuse(r *bufio.Reader, tag string, line []byte, buf *strings.Builder, msg string) error {
	defer buf.Reset()
	for {
		buf.WriteString(trimCRLF(line))
		n, sync, lit := literalAt(line)
		if lit && !sync {
			if _, err := io.CopyN(io.Discard, r, n); err != nil {
				return err
			}
			var err error
			if line, err = r.ReadBytes('\n'); err != nil {
				return err
			}
			continue
		}
		p.record(buf.String())
		return p.say(tag + " NO " + orDefault(msg, "imaptest: refused"))
	}
}

// record records a complete command line (with its tag).
func (p *proxied) record(line string) (verb string) {
	verb, rest := parse(line)
	if verb != "" {
		p.rec.add(p.id, verb, rest)
	}
	return verb
}

// finish records the complete command line (with its tag), notes
// commands whose continuations are data, and gives the pending command
// its whole line for Answered.
func (p *proxied) finish(tag string, cmd *command, line string) {
	verb := p.record(line)
	_, rest := parse(line)
	p.mu.Lock()
	defer p.mu.Unlock()
	if cmd != nil {
		cmd.line = rest
	}
	if verb == "AUTHENTICATE" || verb == "IDLE" {
		p.contTag, p.idle, p.idleUp = tag, verb == "IDLE", false
	}
}

// fromServer relays the server's bytes to the client, watching for the
// continuation requests and completions the client side waits on.
func (p *proxied) fromServer() {
	defer p.rec.wg.Done()
	defer p.stop()
	p.serverLoop()
}

// serverLoop is fromServer's loop; it returns why it stopped.
func (p *proxied) serverLoop() error {
	r := bufio.NewReader(p.server)
	inside := false // the line continues a response after a literal
	locked := false // p.toClient is held: a response is under way
	defer func() {
		if locked {
			p.toClient.Unlock()
		}
	}()
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			p.relay(p.client, line)
			return err
		}
		if !inside {
			var done *command
			tag, status, _ := strings.Cut(trimCRLF(line), " ")
			p.mu.Lock()
			if p.litTag != "" {
				if bytes.HasPrefix(line, []byte("+")) {
					p.litTag = ""
					p.litGo <- true
				} else if tag == p.litTag {
					p.litTag = ""
					p.litGo <- false
				}
			}
			if p.contTag != "" && tag == p.contTag {
				p.contTag, p.idle, p.idleUp = "", false, false
			}
			if c, ok := p.pending[tag]; ok {
				cp := *c // finish may still write c.line (a refused literal)
				done = &cp
				delete(p.pending, tag)
			}
			p.mu.Unlock()
			if done != nil {
				act := p.rec.event(Event{Stage: Answered, Conn: p.id, Seq: done.seq, Verb: done.verb, Line: done.line, Status: status})
				switch act.Do {
				case Refuse:
					line = []byte(tag + " NO " + orDefault(act.Text, "imaptest: refused") + "\r\n")
				case Rewrite:
					line = []byte(tag + " " + act.Text + "\r\n")
				case Bye:
					p.say("* BYE " + orDefault(act.Text, "imaptest: bye"))
					p.stop()
					return errStopped
				case Cut:
					p.stop()
					return errStopped
				case Stall:
					return p.stall()
				}
			}
			p.toClient.Lock()
			locked = true
		}
		// A continuation request is relayed with mu held, and idleUp
		// set before mu is let go: a client that has the "+" of its
		// IDLE finds itself Idling, however the goroutines run.
		plus := !inside && len(line) > 0 && line[0] == '+'
		if plus {
			p.mu.Lock()
		}
		err = p.relay(p.client, line)
		if plus {
			p.idleUp = err == nil && p.idle
			p.mu.Unlock()
		}
		if err != nil {
			return err
		}
		n, _, lit := literalAt(line)
		inside = lit
		if lit {
			if _, err := io.CopyN(relayWriter{p, p.client}, r, n); err != nil {
				return err
			}
		} else {
			p.toClient.Unlock()
			locked = false
		}
	}
}
