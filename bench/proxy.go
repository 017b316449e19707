package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// counts is what one server saw of a tool through a proxy.
type counts struct {
	Conns int
	// Sent and Recv are the bytes the tool sent to the server and
	// received from it.
	Sent, Recv int64
	// Cmds is every command the server received; AfterLogin those after
	// the LOGIN or AUTHENTICATE of their connection.
	Cmds, AfterLogin int
	// Appends and AppendBytes are the APPEND commands and the bytes of
	// their literals (message bodies uploaded); FetchLiteral is the bytes
	// of the literals in the server's responses (bodies and headers
	// downloaded).
	Appends      int
	AppendBytes  int64
	FetchLiteral int64
	// Verbs counts the commands by verb ("UID FETCH").
	Verbs map[string]int
}

func (c *counts) add(o counts) {
	c.Conns += o.Conns
	c.Sent += o.Sent
	c.Recv += o.Recv
	c.Cmds += o.Cmds
	c.AfterLogin += o.AfterLogin
	c.Appends += o.Appends
	c.AppendBytes += o.AppendBytes
	c.FetchLiteral += o.FetchLiteral
	if c.Verbs == nil {
		c.Verbs = map[string]int{}
	}
	for v, n := range o.Verbs {
		c.Verbs[v] += n
	}
}

// proxy is a counting TCP proxy in front of one IMAP server. It follows
// IMAP's framing in both directions: a literal ({n}, {n+}, ~{n}) is
// passed through unread, so a message body is never taken for a
// command; a client line is a command when it starts with a tag and an
// alphabetic verb, so SASL responses (base64, no space) and IDLE's DONE
// are not counted. (Its simplification, from internal/imaptest's
// Recorder: a synchronising literal the server refuses with a tagged NO
// instead of "+" would desynchronise the parse; none of the tools
// meets one here.)
type proxy struct {
	addr   string // where tools connect
	target string // the server
	ln     net.Listener
	wg     sync.WaitGroup

	mu     sync.Mutex
	c      counts
	active int // connections not yet counted in c
}

func newProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{addr: ln.Addr().String(), target: target, ln: ln}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// take returns the counts so far and starts again from zero. It waits
// (up to 10 s) for the connections still open to close and be counted:
// a tool's connections end when it exits.
func (p *proxy) take() counts {
	deadline := time.Now().Add(10 * time.Second)
	p.mu.Lock()
	for p.active > 0 && time.Now().Before(deadline) {
		p.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	c := p.c
	p.c = counts{}
	if c.Verbs == nil {
		c.Verbs = map[string]int{}
	}
	return c
}

func (p *proxy) close() {
	p.ln.Close()
	p.wg.Wait()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.c.Conns++
		p.active += 2 // one per direction
		p.mu.Unlock()
		var once sync.Once
		stop := func() { once.Do(func() { client.Close(); server.Close() }) }
		p.wg.Add(2)
		go func() { defer p.wg.Done(); defer stop(); p.fromClient(client, server) }()
		go func() { defer p.wg.Done(); defer stop(); p.fromServer(server, client) }()
	}
}

// literalAt returns the size of the literal announced at the end of
// line ({n}, {n+} or ~{n} before CRLF).
func literalAt(line []byte) (int64, bool) {
	l := bytes.TrimRight(line, "\r\n")
	if !bytes.HasSuffix(l, []byte("}")) {
		return 0, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	num := bytes.TrimSuffix(l[i+1:len(l)-1], []byte("+"))
	if len(num) == 0 || num[0] == '+' || num[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// verbOf returns the verb of a line that starts a command, or "".
func verbOf(line []byte) string {
	words := strings.Fields(string(bytes.TrimRight(line, "\r\n")))
	if len(words) < 2 {
		return ""
	}
	v := strings.ToUpper(words[1])
	for _, r := range v {
		if r < 'A' || r > 'Z' {
			return ""
		}
	}
	if v == "UID" && len(words) > 2 {
		v += " " + strings.ToUpper(words[2])
	}
	return v
}

type countWriter struct {
	w io.Writer
	n *int64
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	*c.n += int64(n)
	return n, err
}

func (p *proxy) fromClient(client, server net.Conn) {
	r := bufio.NewReaderSize(client, 64<<10)
	var sent, appendBytes int64
	w := countWriter{server, &sent}
	local := counts{Verbs: map[string]int{}}
	defer func() {
		p.mu.Lock()
		local.Sent = sent
		local.AppendBytes = appendBytes
		p.c.add(local)
		p.active--
		p.mu.Unlock()
	}()
	inCommand := false // the line continues a command after a literal
	loggedIn := false
	verb := ""
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
		if !inCommand {
			verb = verbOf(line)
			if verb != "" {
				local.Cmds++
				local.Verbs[verb]++
				if loggedIn {
					local.AfterLogin++
				}
				switch verb {
				case "LOGIN", "AUTHENTICATE":
					loggedIn = true
				case "APPEND":
					local.Appends++
				}
			}
		}
		n, lit := literalAt(line)
		inCommand = lit
		if !lit {
			continue
		}
		if verb == "APPEND" {
			appendBytes += n
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			return
		}
	}
}

func (p *proxy) fromServer(server, client net.Conn) {
	r := bufio.NewReaderSize(server, 64<<10)
	var recv, lits int64
	w := countWriter{client, &recv}
	defer func() {
		p.mu.Lock()
		p.c.Recv += recv
		p.c.FetchLiteral += lits
		p.active--
		p.mu.Unlock()
	}()
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
		n, lit := literalAt(line)
		if !lit {
			continue
		}
		lits += n
		if _, err := io.CopyN(w, r, n); err != nil {
			return
		}
	}
}
