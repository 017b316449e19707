package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/reconcile"
)

// progressPlan is a plan of 30 copies of 1,000 bytes to INBOX, 20 flag
// changes in Work and 10 expunges in Old, in an order that interleaves
// INBOX and Work, as a run's lanes do.
func progressPlan() *reconcile.Plan {
	p := &reconcile.Plan{Pair: "p"}
	for i := 1; i <= 30; i++ {
		p.Actions = append(p.Actions, reconcile.Action{Op: reconcile.Copy, Side: reconcile.B, Folder: "INBOX", Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: reconcile.UID(i), Size: 1000, Reason: reconcile.ReasonNew})
		if i <= 20 {
			p.Actions = append(p.Actions, reconcile.Action{Op: reconcile.Store, Side: reconcile.A, Folder: "Work", Mailbox: "Work", UID: reconcile.UID(i), Flags: reconcile.Flags{`\Seen`}, Reason: reconcile.ReasonFlags})
		}
	}
	for i := 1; i <= 10; i++ {
		p.Actions = append(p.Actions, reconcile.Action{Op: reconcile.Expunge, Side: reconcile.B, Folder: "Old", Mailbox: "Old", UID: reconcile.UID(i), Reason: reconcile.ReasonDeleted})
	}
	return p
}

// runProgress feeds plan's actions, in order, to a progress.
func runProgress(t *testing.T, plan *reconcile.Plan, format string, o progressOptions) string {
	t.Helper()
	var b bytes.Buffer
	log, err := newLogger(&b, format)
	if err != nil {
		t.Fatal(err)
	}
	p := newProgress(log, plan.Pair, o)
	p.planned(plan)
	for i := range plan.Actions {
		p.step(i+1, len(plan.Actions), &plan.Actions[i])
	}
	p.finish()
	return b.String()
}

// TestProgress: not on a terminal, a long apply says one line per folder,
// when the folder's last action is done, with its bytes; a short one
// says nothing; -v says a line per action.
func TestProgress(t *testing.T) {
	got := runProgress(t, progressPlan(), logText, progressOptions{})
	want := `mailtwin: p: folder "Work" done: 20 action(s), 0 B copied (40/60 actions)
mailtwin: p: folder "INBOX" done: 30 action(s), 30.0 KB copied (50/60 actions)
mailtwin: p: folder "Old" done: 10 action(s), 0 B copied (60/60 actions)
`
	if got != want {
		t.Errorf("progress of 60 actions in 3 folders:\n%s\nwant one line per folder finished:\n%s", got, want)
	}

	short := progressPlan()
	short.Actions = short.Actions[:20]
	if got := runProgress(t, short, logText, progressOptions{}); got != "" {
		t.Errorf("progress of 20 actions: %q, want nothing for a short run", got)
	}

	short.Actions = short.Actions[:3]
	lines := strings.Split(strings.TrimSpace(runProgress(t, short, logText, progressOptions{Verbose: true})), "\n")
	if len(lines) != 3 || lines[2] != `mailtwin: [p 3/3] + b:"INBOX" <- a:"INBOX" uid 2 flags - (new)` {
		t.Errorf("-v: %q, want a line per action", lines)
	}
}

// TestProgressJSON: with --log-format json, the folder lines are JSON
// objects with the pair, folder, done, total and bytes fields.
func TestProgressJSON(t *testing.T) {
	out := runProgress(t, progressPlan(), logJSON, progressOptions{})
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			Level, Msg, Pair, Folder string
			Done, Total              int
			Bytes                    int64
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("progress line %q is not JSON: %v", l, err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %d/%d %d", rec.Level, rec.Pair, rec.Folder, rec.Done, rec.Total, rec.Bytes))
	}
	want := []string{"INFO p Work 40/60 20000", "INFO p INBOX 50/60 30000", "INFO p Old 60/60 30000"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("JSON progress = %q, want %q", got, want)
	}
}

// testConsole is a terminal for mpb that hands each frame it draws to
// frames.
type testConsole struct {
	bytes.Buffer
	frames chan string
}

func (c *testConsole) IsTerminal() bool                            { return true }
func (c *testConsole) GetTermSize() (width, height int, err error) { return 120, 40, nil }
func (c *testConsole) Flush(int) error {
	select {
	case c.frames <- c.String():
	default:
	}
	c.Reset()
	return nil
}

// TestProgressBars: on a terminal, a long apply draws a bar for the run
// (actions, rate, ETA) and one for each folder at work (messages and
// bytes), the folders done taken down; it logs no lines; and finish
// returns even when the run stopped half way, with bars still open.
func TestProgressBars(t *testing.T) {
	plan := progressPlan()
	var logged bytes.Buffer
	log, _ := newLogger(&logged, logText)
	console := &testConsole{frames: make(chan string, 1)}
	refresh := make(chan any)
	p := newProgress(log, plan.Pair, progressOptions{Bars: true, console: console, refresh: refresh})
	p.planned(plan)
	// 45 of 60: Work's 20 flag changes done, 25 of INBOX's 30 copies.
	for i := range plan.Actions[:45] {
		p.step(i+1, len(plan.Actions), &plan.Actions[i])
	}
	draw := func() string {
		refresh <- time.Now()
		select {
		case frame := <-console.frames:
			return frame
		case <-time.After(10 * time.Second):
			t.Fatal("no frame drawn 10 s after a refresh")
		}
		return ""
	}
	// A line logged meanwhile is printed above the bars, not across them.
	lines := &stderrLines{w: &logged}
	lines.route(p.lines())
	other, _ := newLogger(lines, logText)
	other.Warn("p: checkpoint after 40 of 60 actions not committed: disk full")
	frame := draw()
	for _, want := range []string{"mailtwin: p: checkpoint after 40 of 60", "p ", "45/60 actions", "/s", "ETA", "INBOX", "25/30 messages", "25.0 KB of 30.0 KB", "Work", "20/20 messages"} {
		if !strings.Contains(frame, want) {
			t.Errorf("bars lack %q:\n%s", want, frame)
		}
	}
	// A folder's bar shows it full once, then goes.
	if frame := draw(); strings.Contains(frame, "Work") || !strings.Contains(frame, "INBOX") {
		t.Errorf("next frame shows Work, whose actions are done, or not INBOX:\n%s", frame)
	}
	p.finish() // stopped half way: must not wait for the bars to fill
	if logged.Len() > 0 {
		t.Errorf("with bars, lines went to stderr directly:\n%s", logged.String())
	}
	lines.route(nil)
	other.Warn("after")
	if logged.String() != "mailtwin: after\n" {
		t.Errorf("after the bars, stderr got %q, want the line", logged.String())
	}
}
