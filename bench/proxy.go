package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
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
	// Events is the proxy's timeline (take's, not summed by add).
	Events []event
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
	nconn  int
	// keepTimeline makes the proxy record an event per command and per
	// tagged response (-timeline).
	keepTimeline bool
	events       []event
	// delay holds back everything the proxy relays, in each direction,
	// by this much (-rtt, halved): a server across a network.
	delay time.Duration
}

// delayedWriter passes each write on to w after delay, in order, without
// holding up the writer: one direction of a link with latency but no
// bandwidth limit.
type delayedWriter struct {
	delay time.Duration
	ch    chan delayedChunk
	done  chan struct{}
}

type delayedChunk struct {
	due time.Time
	b   []byte
}

func newDelayedWriter(w io.Writer, delay time.Duration) *delayedWriter {
	d := &delayedWriter{delay: delay, ch: make(chan delayedChunk, 1<<16), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		broken := false
		for c := range d.ch {
			if broken {
				continue
			}
			time.Sleep(time.Until(c.due))
			if _, err := w.Write(c.b); err != nil {
				broken = true
			}
		}
	}()
	return d
}

func (d *delayedWriter) Write(b []byte) (int, error) {
	d.ch <- delayedChunk{due: time.Now().Add(d.delay), b: append([]byte(nil), b...)}
	return len(b), nil
}

// link returns what one direction of the proxy writes to on its way to
// w: w itself, or, with a delay, a delayedWriter, which flush empties
// (call it before w is closed).
func (p *proxy) link(w io.Writer) (to io.Writer, flush func()) {
	if p.delay == 0 {
		return w, func() {}
	}
	d := newDelayedWriter(w, p.delay)
	return d, d.close
}

// close passes on what is held back, then returns.
func (d *delayedWriter) close() {
	close(d.ch)
	<-d.done
}

// event is one command sent, or one tagged response received, on a
// proxied connection: the timeline the bench writes with -timeline.
type event struct {
	at   time.Time
	conn int
	line string // the command's tag and verb, or the tagged response
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
	c.Events, p.events = p.events, nil
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
		p.nconn++
		id := p.nconn
		p.mu.Unlock()
		var once sync.Once
		stop := func() { once.Do(func() { client.Close(); server.Close() }) }
		p.wg.Add(2)
		go func() { defer p.wg.Done(); defer stop(); p.fromClient(client, server, id) }()
		go func() { defer p.wg.Done(); defer stop(); p.fromServer(server, client, id) }()
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

func (p *proxy) fromClient(client, server net.Conn, id int) {
	r := bufio.NewReaderSize(client, 64<<10)
	var sent, appendBytes int64
	to, flush := p.link(server)
	defer flush()
	w := countWriter{to, &sent}
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
				p.record(id, timelineCommand(line, verb))
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

func (p *proxy) fromServer(server, client net.Conn, id int) {
	r := bufio.NewReaderSize(server, 64<<10)
	var recv, lits int64
	to, flush := p.link(client)
	defer flush()
	w := countWriter{to, &recv}
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
		if len(line) > 0 && line[0] != '*' && line[0] != '+' {
			p.record(id, "  "+strings.TrimRight(string(line[:min(len(line), 60)]), "\r\n"))
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

func (p *proxy) record(conn int, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.keepTimeline {
		return
	}
	p.events = append(p.events, event{at: time.Now(), conn: conn, line: line})
}

// timelineCommand is a command as the timeline shows it: its tag and
// verb, and for the verbs that name mailboxes and UIDs (not LOGIN or
// AUTHENTICATE, whose arguments are credentials) the arguments too, up
// to a literal's marker and at most 120 bytes: which connection changed
// which mailbox is what a failed check needs read off.
func timelineCommand(line []byte, verb string) string {
	out := tagOf(line) + " " + verb
	switch verb {
	case "SELECT", "EXAMINE", "STATUS", "CREATE", "DELETE", "RENAME", "APPEND",
		"UID MOVE", "UID COPY", "UID STORE", "UID EXPUNGE", "UID SEARCH", "UID FETCH":
	default:
		return out
	}
	rest := strings.TrimRight(string(line), "\r\n")
	rest = strings.TrimSpace(rest[min(len(rest), len(tagOf(line))+1+len(verb)):])
	if len(rest) > 120 {
		rest = rest[:120] + "..."
	}
	if rest == "" {
		return out
	}
	return out + " " + rest
}

func tagOf(line []byte) string {
	if i := bytes.IndexByte(line, ' '); i > 0 {
		return string(line[:i])
	}
	return ""
}

// writeTimeline writes the events of one run, A's and B's merged in
// time order, as "ms side#conn line", ms counted from the tool's start,
// so that the critical path of a run can be read off: which commands
// waited for which.
func writeTimeline(path string, run execResult, a, b []event) error {
	type row struct {
		at   time.Time
		text string
	}
	var rows []row
	for _, s := range []struct {
		name string
		evs  []event
	}{{"A", a}, {"B", b}} {
		for _, e := range s.evs {
			rows = append(rows, row{e.at, fmt.Sprintf("%s#%d %s", s.name, e.conn, e.line)})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].at.Before(rows[j].at) })
	var buf bytes.Buffer
	for _, r := range rows {
		fmt.Fprintf(&buf, "%8.1f %s\n", float64(r.at.Sub(run.start).Microseconds())/1000, r.text)
	}
	fmt.Fprintf(&buf, "%8.1f exit\n", float64(run.wall.Microseconds())/1000)
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
