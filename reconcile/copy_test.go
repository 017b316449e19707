package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/reconcile"
)

// copySource is a source account for copies: Fetch streams the body
// "body of <uid>" of each UID asked for. The body of breakAt breaks off
// half-way, and Fetch then fails, as a cut connection does.
type copySource struct {
	reconcile.Mailstore // only Fetch is used
	breakAt             reconcile.UID
}

var errCut = errors.New("connection cut")

func bodyOf(uid reconcile.UID) string { return fmt.Sprintf("body of %d", uid) }

func (s *copySource) Fetch(_ context.Context, _ string, uids []reconcile.UID, fn func(reconcile.FetchedMessage) error) error {
	for _, u := range uids {
		body := io.Reader(strings.NewReader(bodyOf(u)))
		if u == s.breakAt {
			body = io.MultiReader(strings.NewReader(bodyOf(u)[:4]), errReader{errCut})
		}
		if err := fn(reconcile.FetchedMessage{UID: u, Size: int64(len(bodyOf(u))), Body: body}); err != nil {
			return err
		}
		if u == s.breakAt {
			return errCut
		}
	}
	return nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// copyTarget is a target account that stores what it is sent, giving
// UIDs from 100 on in the order the messages arrive, and refuses the
// bodies in refuse. As a pipelinedTarget, it answers each message only
// when its wait is called, and records how many messages were in flight
// at each send.
type copyTarget struct {
	reconcile.Mailstore // only Append is used
	t                   *testing.T
	refuse              map[string]bool

	// breakOn is a body whose answer never comes: the connection
	// breaks instead, and every message sent on it and not yet
	// answered fails with it; lost lists those.
	breakOn string
	conn    *fakeConn
	lost    []string

	stored   map[reconcile.UID]string
	appends  int   // calls of Append
	inFlight int   // sent and not waited for
	atSend   []int // inFlight at each Send
}

// fakeConn is a copyTarget's connection; dead once it broke.
type fakeConn struct{ dead bool }

func newCopyTarget(t *testing.T, refuse ...string) *copyTarget {
	c := &copyTarget{t: t, refuse: map[string]bool{}, stored: map[reconcile.UID]string{}, conn: &fakeConn{}}
	for _, r := range refuse {
		c.refuse[r] = true
	}
	return c
}

// store takes one message as a server would.
func (c *copyTarget) store(body io.Reader) (reconcile.Appended, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return reconcile.Appended{}, fmt.Errorf("read the message: %w", err)
	}
	if c.refuse[string(b)] {
		return reconcile.Appended{}, errors.New("NO [OVERQUOTA] quota exceeded")
	}
	uid := reconcile.UID(100 + len(c.stored))
	c.stored[uid] = string(b)
	return reconcile.Appended{UIDValidity: 7, UID: uid}, nil
}

func (c *copyTarget) Append(_ context.Context, _ string, _ reconcile.Flags, _ time.Time, _ int64, body io.Reader) (reconcile.Appended, error) {
	c.appends++
	return c.store(body)
}

// pipelinedTarget is a copyTarget that is a PipelinedAppender.
type pipelinedTarget struct{ *copyTarget }

func (p pipelinedTarget) AppendPipeline() reconcile.AppendPipeline { return p }

func (p pipelinedTarget) Send(_ context.Context, _ string, _ reconcile.Flags, _ time.Time, _ int64, body io.Reader) func() (reconcile.Appended, error) {
	c := p.copyTarget
	c.atSend = append(c.atSend, c.inFlight)
	c.inFlight++
	// The body is consumed now, as Fetch's callback must; the answer
	// comes at the wait.
	ap, err := c.store(body)
	conn := c.conn
	waited := false
	return func() (reconcile.Appended, error) {
		if waited {
			c.t.Errorf("a wait was called twice")
		}
		waited = true
		c.inFlight--
		if err == nil && (conn.dead || c.breakOn != "" && c.stored[ap.UID] == c.breakOn) {
			c.lost = append(c.lost, c.stored[ap.UID])
			conn.dead = true
			c.conn = &fakeConn{}
			return reconcile.Appended{}, errors.New("connection lost before the server answered")
		}
		return ap, err
	}
}

// copyPlan copies uids 1..n of a:"INBOX" to b:"INBOX".
func copyPlan(n int) *reconcile.Plan {
	p := &reconcile.Plan{}
	for u := 1; u <= n; u++ {
		p.Actions = append(p.Actions, reconcile.Action{Op: reconcile.Copy, Side: reconcile.B, Folder: "INBOX", Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: reconcile.UID(u)})
	}
	return p
}

// checkCopies checks that every action's outcome is exact: failed with
// errSub for the uids in failed, else the UID under which the target
// holds that message's body.
func checkCopies(t *testing.T, p *reconcile.Plan, out []reconcile.Outcome, c *copyTarget, failed map[reconcile.UID]string) {
	t.Helper()
	for i, a := range p.Actions {
		o := out[i]
		if sub, ok := failed[a.SrcUID]; ok {
			if o.Err == nil || !strings.Contains(o.Err.Error(), sub) {
				t.Errorf("copy of uid %d: outcome %+v, want an error with %q", a.SrcUID, o, sub)
			}
			continue
		}
		if o.Err != nil || o.UIDValidity != 7 || c.stored[o.UID] != bodyOf(a.SrcUID) {
			t.Errorf("copy of uid %d: outcome %+v; the target holds %q under that UID, want %q", a.SrcUID, o, c.stored[o.UID], bodyOf(a.SrcUID))
		}
	}
}

// TestCopyPipelined: a batch of copies into a PipelinedAppender keeps
// several APPENDs in flight: one while the target is untried, then more
// as answers come, never more than 32. Every message gets its own
// outcome: the refused one fails alone.
func TestCopyPipelined(t *testing.T) {
	c := newCopyTarget(t, bodyOf(50))
	p := copyPlan(120)
	out := reconcile.Execute(context.Background(), p, [2]reconcile.Mailstore{&copySource{}, pipelinedTarget{c}}, nil)
	checkCopies(t, p, out, c, map[reconcile.UID]string{50: "OVERQUOTA"})
	if c.appends != 0 {
		t.Errorf("Append was called %d times, want none (the target pipelines)", c.appends)
	}
	if len(c.atSend) != 120 || c.inFlight != 0 {
		t.Fatalf("%d sends, %d never waited for; want 120 sends, all waited for", len(c.atSend), c.inFlight)
	}
	if most := slices.Max(c.atSend); c.atSend[0] != 0 || most != 63 {
		t.Errorf("in flight at each send: %v; want 0 at first, at most 63 before a send (64 in flight)", c.atSend)
	}
}

// TestCopyPipelinedConnectionLost: the target's connection breaks while
// a window of APPENDs is in flight. Those fail, and only those; the
// copy goes on, with one message in flight until answers come again.
func TestCopyPipelinedConnectionLost(t *testing.T) {
	c := newCopyTarget(t)
	c.breakOn = bodyOf(60)
	p := copyPlan(200)
	out := reconcile.Execute(context.Background(), p, [2]reconcile.Mailstore{&copySource{}, pipelinedTarget{c}}, nil)
	failed := map[reconcile.UID]string{}
	for _, b := range c.lost {
		var u reconcile.UID
		fmt.Sscanf(b, "body of %d", &u)
		failed[u] = "connection lost"
	}
	checkCopies(t, p, out, c, failed)
	if len(c.lost) < 2 || len(c.lost) > 64 || c.lost[0] != bodyOf(60) {
		t.Errorf("lost with the connection: %q; want the message it broke on, then the rest of its window", c.lost)
	}
	if after := c.atSend[60+len(c.lost)-1]; after != 0 {
		t.Errorf("in flight at each send: %v; want none in flight at the first send after the break, got %d", c.atSend, after)
	}
	if c.inFlight != 0 {
		t.Errorf("%d sends never waited for", c.inFlight)
	}
}

// TestCopyPlainAppend: a target that is no PipelinedAppender gets one
// Append per message, as before.
func TestCopyPlainAppend(t *testing.T) {
	c := newCopyTarget(t, bodyOf(3))
	p := copyPlan(5)
	out := reconcile.Execute(context.Background(), p, [2]reconcile.Mailstore{&copySource{}, c}, nil)
	checkCopies(t, p, out, c, map[reconcile.UID]string{3: "OVERQUOTA"})
	if c.appends != 5 {
		t.Errorf("Append was called %d times, want 5", c.appends)
	}
}

// TestCopyPipelinedSourceBreaks: the source breaks off in the middle of
// a body. The messages before it keep their outcomes, whether or not
// their answers had come; that message and the rest fail as the
// source's fetch, naming the source side.
func TestCopyPipelinedSourceBreaks(t *testing.T) {
	for _, pipelined := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelined=%v", pipelined), func(t *testing.T) {
			c := newCopyTarget(t)
			var dst reconcile.Mailstore = c
			if pipelined {
				dst = pipelinedTarget{c}
			}
			p := copyPlan(10)
			out := reconcile.Execute(context.Background(), p, [2]reconcile.Mailstore{&copySource{breakAt: 7}, dst}, nil)
			failed := map[reconcile.UID]string{}
			for u := reconcile.UID(7); u <= 10; u++ {
				failed[u] = `fetch from "INBOX" on a: connection cut`
			}
			checkCopies(t, p, out, c, failed)
			if c.inFlight != 0 {
				t.Errorf("%d sends never waited for", c.inFlight)
			}
		})
	}
}
