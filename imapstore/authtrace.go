package imapstore

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
)

// maxAuthLine bounds the partial line authFilter keeps while waiting for
// its end; nothing before authentication is nearly this long.
const maxAuthLine = 64 << 10

// authFilter sits under the redactor, between go-imap's protocol trace
// (both directions, in whatever pieces go-imap reads and writes) and
// Options.DebugWriter. The redactor hides LOGIN because open tells it
// when LOGIN is sent; authFilter hides credentials by recognising them,
// whatever sends them: until the connection is authenticated, a line
// that is a LOGIN or AUTHENTICATE command is replaced by its tag, its
// command name (and SASL mechanism) and a placeholder, and every line
// after it up to the server's tagged answer (literals, the server's
// continuation requests, the client's base64 SASL responses) is dropped.
// The tagged answer is shown. The command line itself carries the SASL-IR
// initial response, which for XOAUTH2 and OAUTHBEARER holds the access
// token, so nothing of it after the mechanism is shown.
//
// It looks only at the connection's first phase (from reset to
// authenticated): after it, message contents pass through the trace and
// a line of a message must not be taken for a command.
type authFilter struct {
	w io.Writer

	mu     sync.Mutex
	active bool   // not yet authenticated: look at every line
	line   []byte // the start of a line whose end has not come
	rest   int    // restNone, or what to do with the rest of an overlong line
	hide   string // the tag of the command being hidden; "" for none
}

const (
	restNone = iota
	restPass
	restDrop
)

func newAuthFilter(w io.Writer) *authFilter { return &authFilter{w: w, active: true} }

// reset starts a new connection: its first phase is looked at.
func (f *authFilter) reset() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active, f.line, f.rest, f.hide = true, nil, restNone, ""
}

// authenticated ends the first phase: from now on everything passes. A
// partial line held back is written, unless it is hidden.
func (f *authFilter) authenticated() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.line) > 0 && f.hide == "" && f.rest != restDrop {
		if out, _ := f.decide(f.line); out != nil {
			f.w.Write(out)
		}
	}
	f.active, f.line, f.rest, f.hide = false, nil, restNone, ""
}

func (f *authFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(p)
	if !f.active {
		f.w.Write(p) // a broken debug log must not break the connection
		return n, nil
	}
	for len(p) > 0 {
		chunk := p
		i := bytes.IndexByte(p, '\n')
		eol := i >= 0
		if eol {
			chunk, p = p[:i+1], p[i+1:]
		} else {
			p = nil
		}
		switch f.rest {
		case restPass:
			f.w.Write(chunk)
		case restDrop:
		default:
			f.line = append(f.line, chunk...)
			if !eol && len(f.line) < maxAuthLine {
				continue
			}
			out, pass := f.decide(f.line)
			if out != nil {
				f.w.Write(out)
			}
			f.line = f.line[:0]
			if !eol {
				// The line goes on: its start decided for all of it.
				f.rest = restDrop
				if pass {
					f.rest = restPass
				}
			}
			continue
		}
		if eol {
			f.rest = restNone
		}
	}
	return n, nil
}

// decide returns what to write for line (nil: nothing) and whether it
// was shown as it is.
func (f *authFilter) decide(line []byte) ([]byte, bool) {
	tag, rest := traceWord(line)
	if f.hide != "" {
		status, _ := traceWord(rest)
		if tag == f.hide && isStatus(status) {
			f.hide = ""
			return line, true
		}
		return nil, false
	}
	if tag == "" || tag == "*" || tag == "+" {
		return line, true
	}
	cmd, args := traceWord(rest)
	switch strings.ToUpper(cmd) {
	case "LOGIN":
		f.hide = tag
		return fmt.Appendf(nil, "%s %s [credentials not shown]\r\n", tag, cmd), false
	case "AUTHENTICATE":
		f.hide = tag
		mech, _ := traceWord(args)
		if !isAtom(mech) {
			mech = "?"
		}
		return fmt.Appendf(nil, "%s %s %s [credentials and SASL exchange not shown]\r\n", tag, cmd, mech), false
	}
	return line, true
}

// traceWord splits b at its first space: the word before it (without a
// line ending) and what follows.
func traceWord(b []byte) (string, []byte) {
	end := bytes.IndexAny(b, " \r\n")
	if end < 0 {
		return string(b), nil
	}
	if b[end] != ' ' {
		return string(b[:end]), nil
	}
	return string(b[:end]), b[end+1:]
}

func isStatus(s string) bool {
	switch strings.ToUpper(s) {
	case "OK", "NO", "BAD":
		return true
	}
	return false
}

// isAtom reports a SASL mechanism name: letters, digits, '-' and '_'.
func isAtom(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
