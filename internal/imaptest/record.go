package imaptest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
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
	n    int
}

type recorded struct {
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
	r := &Recorder{Addr: ln.Addr().String(), srv: srv, ln: ln, open: map[*proxied]struct{}{}}
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
		p := &proxied{rec: r, client: client, server: server, done: make(chan struct{}), litGo: make(chan bool, 1)}
		r.mu.Lock()
		if r.open == nil { // closed meanwhile
			r.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
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

func (r *Recorder) add(verb, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, recorded{verb: verb, line: line})
}

// proxied is one client connection and its server connection.
type proxied struct {
	rec            *Recorder
	client, server net.Conn
	once           sync.Once
	done           chan struct{}

	mu sync.Mutex
	// contTag is the tag of a command whose continuation lines from the
	// client are data, not commands (AUTHENTICATE, IDLE), until the
	// server completes it; idle says it is IDLE (ended by DONE).
	contTag string
	idle    bool
	// litTag is the tag of a command waiting for the server's go-ahead
	// before a synchronizing literal; litGo receives true for "+" and
	// false when the server completes the command instead.
	litTag string
	litGo  chan bool
}

func (p *proxied) stop() {
	p.once.Do(func() {
		close(p.done)
		p.client.Close()
		p.server.Close()
	})
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

// fromClient relays the client's bytes to the server, recording each
// complete command.
func (p *proxied) fromClient() {
	defer p.rec.wg.Done()
	defer p.stop()
	r := bufio.NewReader(p.client)
	var text strings.Builder // the command so far, literals as markers
	tag := ""
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			p.server.Write(line)
			return
		}
		if text.Len() == 0 {
			tag, _, _ = strings.Cut(trimCRLF(line), " ")
			p.mu.Lock()
			data := p.contTag != ""
			if data && p.idle && strings.EqualFold(trimCRLF(line), "DONE") {
				p.contTag, p.idle = "", false
			}
			p.mu.Unlock()
			if data {
				// A SASL response or DONE: data, not a command.
				if _, err := p.server.Write(line); err != nil {
					return
				}
				continue
			}
		}
		text.WriteString(trimCRLF(line))
		n, sync, lit := literalAt(line)
		if !lit {
			p.finish(tag, text.String())
			text.Reset()
		} else if sync {
			p.mu.Lock()
			p.litTag = tag
			p.mu.Unlock()
		}
		if _, err := p.server.Write(line); err != nil {
			return
		}
		if !lit {
			continue
		}
		if sync {
			select {
			case ok := <-p.litGo:
				if !ok { // refused: the command ended without its literal
					p.finish(tag, text.String())
					text.Reset()
					continue
				}
			case <-p.done:
				return
			}
		}
		if _, err := io.CopyN(p.server, r, n); err != nil {
			return
		}
	}
}

// finish records the complete command line (with its tag) and notes
// commands whose continuations are data.
func (p *proxied) finish(tag, line string) {
	_, rest, _ := strings.Cut(line, " ")
	words := strings.Fields(rest)
	if len(words) == 0 {
		return
	}
	verb := strings.ToUpper(words[0])
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
	if verb == "AUTHENTICATE" || verb == "IDLE" {
		p.mu.Lock()
		p.contTag, p.idle = tag, verb == "IDLE"
		p.mu.Unlock()
	}
	p.rec.add(verb, rest)
}

// fromServer relays the server's bytes to the client, watching for the
// continuation requests and completions the client side waits on.
func (p *proxied) fromServer() {
	defer p.rec.wg.Done()
	defer p.stop()
	r := bufio.NewReader(p.server)
	inside := false // the line continues a response after a literal
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			p.client.Write(line)
			return
		}
		if !inside {
			p.mu.Lock()
			if p.litTag != "" {
				if bytes.HasPrefix(line, []byte("+")) {
					p.litTag = ""
					p.litGo <- true
				} else if bytes.HasPrefix(line, []byte(p.litTag+" ")) {
					p.litTag = ""
					p.litGo <- false
				}
			}
			if p.contTag != "" && bytes.HasPrefix(line, []byte(p.contTag+" ")) {
				p.contTag, p.idle = "", false
			}
			p.mu.Unlock()
		}
		if _, err := p.client.Write(line); err != nil {
			return
		}
		n, _, lit := literalAt(line)
		inside = lit
		if lit {
			if _, err := io.CopyN(p.client, r, n); err != nil {
				return
			}
		}
	}
}
