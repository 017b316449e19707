package imaptest

import "fmt"

// Stage says when an interceptor sees a command.
type Stage int

const (
	// Received: the command's first line reached the proxy; nothing of
	// it was forwarded yet.
	Received Stage = iota
	// Answered: the server's tagged completion reached the proxy; the
	// client has not seen it yet.
	Answered
)

func (s Stage) String() string {
	switch s {
	case Received:
		return "Received"
	case Answered:
		return "Answered"
	}
	return fmt.Sprintf("Stage(%d)", int(s))
}

// Event is a command seen by an interceptor (Recorder.Intercept).
type Event struct {
	Stage Stage
	// Conn is the 1-based number of the client connection, in accept
	// order.
	Conn int
	// Seq is the 1-based number of the command across the whole
	// Recorder; it is the same at both stages of one command.
	Seq int
	// Verb is the command name as Count takes it: "APPEND", "UID MOVE",
	// "LOGIN", "SELECT".
	Verb string
	// Line is the command without its tag, redacted as in Commands().
	// At Received it ends at the first literal (its {n} marker
	// included); at Answered it is the whole command.
	Line string
	// Status is, at Answered only, the tagged completion without its
	// tag: "OK [APPENDUID 1 5] Append completed".
	Status string
}

// Kind is what the proxy does with a command, or a connection.
type Kind int

const (
	// Pass relays as usual.
	Pass Kind = iota
	// Refuse answers "TAG NO <Text>" to the client. At Received nothing
	// of the command is forwarded: a synchronizing literal is refused
	// before the client sends it, the data of a non-synchronizing one
	// is read and dropped. At Answered the server's completion is
	// replaced: the server did the command, the client hears NO.
	Refuse
	// Bye answers "* BYE <Text>" and closes both sides. At Answered the
	// server did the command and the client gets BYE instead of the
	// completion.
	Bye
	// Cut closes both connections without a word.
	Cut
	// Stall stops relaying in both directions on the connection and
	// holds it open until the client gives up or the test ends.
	Stall
	// Rewrite, at Received, sends the server Text in place of the
	// command (its tag kept): a server that answers a different command
	// than the one asked, such as a UID MOVE done as a UID COPY. The
	// command must have no literal. Commands() records what the client
	// sent. At Answered it gives the client Text as the tagged
	// completion, its tag kept: a server that did the command and said
	// less, such as an APPEND answered without its APPENDUID.
	Rewrite
)

func (k Kind) String() string {
	switch k {
	case Pass:
		return "Pass"
	case Refuse:
		return "Refuse"
	case Bye:
		return "Bye"
	case Cut:
		return "Cut"
	case Stall:
		return "Stall"
	case Rewrite:
		return "Rewrite"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Action is an interceptor's answer. Text is the text after NO or BYE;
// a default is used when it is empty.
type Action struct {
	Do   Kind
	Text string
}

// Intercept calls fn synchronously on the relay goroutine at each Stage
// of each command; nil removes it. Commands that are data
// (AUTHENTICATE continuations, IDLE's DONE) are not events. fn may be
// called from several connections at once. A refused command is still
// recorded (Commands, Count): the client sent it.
func (r *Recorder) Intercept(fn func(Event) Action) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.intercept = fn
}

// CutAfter arms a one-shot byte fault: once the Recorder has relayed n
// bytes in all (Bytes() == n, counting both directions of every
// connection), the connection that carries the next byte is closed on
// both sides; the bytes before it are relayed, a chunk is split if
// need be. A negative n disarms it. CutAfter(Bytes()) cuts at the next
// byte; with n at or past the bytes of a whole run, nothing happens.
func (r *Recorder) CutAfter(n int64) { r.armBytes(n, Cut) }

// StallAfter is CutAfter, but the connection stalls (see Stall).
func (r *Recorder) StallAfter(n int64) { r.armBytes(n, Stall) }

func (r *Recorder) armBytes(n int64, k Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faultAt, r.fault, r.faultConn = n, k, 0
	if n < 0 {
		r.faultAt = -1
	}
}

// CutNextOn arms a one-shot fault on client connection conn (numbered
// from 1 in accept order, as Event.Conn and Conns count): the next byte
// relayed on it, either way, closes it on both sides. Bytes on other
// connections pass: a connection closed just before, whose last bytes
// the relay is still passing on, does not take the cut meant for the
// one that replaced it.
func (r *Recorder) CutNextOn(conn int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faultAt, r.fault, r.faultConn = r.bytes, Cut, conn
}

// Bytes returns how many bytes the Recorder relayed so far, in both
// directions over all its connections. Lines the proxy makes up (NO,
// BYE) and literal data it drops are not counted. So a test can run a
// scenario once to learn its size, then cut a second run at a point
// drawn from [0, Bytes()).
func (r *Recorder) Bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}

// Conns returns how many client connections the Recorder accepted.
func (r *Recorder) Conns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

func (r *Recorder) nextSeq() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	return r.seq
}

// event asks the interceptor, if any, what to do.
func (r *Recorder) event(e Event) Action {
	r.mu.Lock()
	fn := r.intercept
	r.mu.Unlock()
	if fn == nil {
		return Action{}
	}
	return fn(e)
}

// Faulted returns the number (as Event.Conn) of the connection the
// last byte fault (CutAfter, StallAfter) hit, or 0 if none did yet.
func (r *Recorder) Faulted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.faulted
}

// reserve counts size bytes about to be relayed on connection conn. It
// returns how many of them to relay and, when a byte fault is reached,
// the fault (once).
func (r *Recorder) reserve(conn, size int) (int, Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := int64(size)
	if r.faultAt >= 0 && (r.faultConn == 0 || r.faultConn == conn) && r.bytes+n > r.faultAt {
		n = max(r.faultAt-r.bytes, 0)
		r.bytes += n
		r.faultAt = -1
		r.faulted = conn
		return int(n), r.fault
	}
	r.bytes += n
	return size, Pass
}
