package imaptest

import (
	"sync"
	"time"
)

// Gate lets an interceptor (Recorder.Intercept) hold a command, or its
// answer, until something else has arrived: the test that a client
// sends commands together, before it has an answer. Open it (once or
// more) from the interceptor that sees what is waited for; Wait holds
// the one that must wait, at most d, and reports whether the gate was
// opened in time. Held reports whether some Wait gave up, for the test
// to fail on after the run.
type Gate struct {
	once sync.Once
	ch   chan struct{}
	mu   sync.Mutex
	late bool
}

// NewGate returns a closed gate.
func NewGate() *Gate { return &Gate{ch: make(chan struct{})} }

// Open opens the gate; later calls do nothing.
func (g *Gate) Open() { g.once.Do(func() { close(g.ch) }) }

// Wait waits for the gate to open, at most d, and reports whether it
// did.
func (g *Gate) Wait(d time.Duration) bool {
	select {
	case <-g.ch:
		return true
	case <-time.After(d):
		g.mu.Lock()
		g.late = true
		g.mu.Unlock()
		return false
	}
}

// Held reports whether a Wait gave up before the gate opened.
func (g *Gate) Held() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.late
}
