package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/render/*.golden with what the renderer gives")

// golden compares got with testdata/render/NAME.golden (or rewrites it
// with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "render", name+".golden")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("renderPlan = \n%s\nwant (%s):\n%s", got, path, want)
	}
}

// everyKindPlan is a plan with every kind of action: folder rename,
// creation and deletion, copies both ways, a flag change, moves (a run of
// two and a single one), a move to trash, an expunge, and a conflict.
func everyKindPlan() *reconcile.Plan {
	A, B := reconcile.A, reconcile.B
	p := &reconcile.Plan{Pair: "work-backup", Actions: []reconcile.Action{
		{Op: reconcile.RenameFolder, Side: A, Folder: "Invoices", Mailbox: "Receipts", Dest: "Invoices", Reason: reconcile.ReasonRenamed},
		{Op: reconcile.CreateFolder, Side: B, Folder: "Projects", Mailbox: "Projects", Reason: reconcile.ReasonFolderNew},
		{Op: reconcile.Copy, Side: A, Folder: "INBOX", Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: 12, ID: "m:5a0593290011aabb", Size: 5120, Reason: reconcile.ReasonNew},
		{Op: reconcile.Copy, Side: B, Folder: "INBOX", Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: 7, Flags: reconcile.Flags{`\Seen`}, ID: "m:e5065784ccddeeff", Size: 2048, Reason: reconcile.ReasonNew},
		{Op: reconcile.Copy, Side: B, Folder: "Projects", Mailbox: "Projects", SrcMailbox: "Projects", SrcUID: 1, ID: "h:0e37527e00112233", Size: 900, Reason: reconcile.ReasonNew},
		{Op: reconcile.Store, Side: A, Folder: "INBOX", Mailbox: "INBOX", UID: 3, Flags: reconcile.Flags{`\Flagged`}, Remove: reconcile.Flags{`\Seen`}, ID: "m:47ea96d600000000", Reason: reconcile.ReasonFlags},
		{Op: reconcile.Move, Side: B, Folder: "INBOX", Mailbox: "INBOX", UID: 6, Dest: "Work", ID: "m:6666666600000000", Reason: reconcile.ReasonMoved},
		{Op: reconcile.Move, Side: B, Folder: "INBOX", Mailbox: "INBOX", UID: 7, Dest: "Work", ID: "m:7777777700000000", Reason: reconcile.ReasonMoved},
		{Op: reconcile.Move, Side: A, Folder: "Work", Mailbox: "Work", UID: 4, Dest: "Archive", ID: "m:4444444400000000", Reason: reconcile.ReasonMoveConflict},
		{Op: reconcile.Move, Side: A, Folder: "Invoices", Mailbox: "Invoices", UID: 1, Dest: "Trash", ID: "m:a605f6af00000000", Reason: reconcile.ReasonTrash},
		{Op: reconcile.Expunge, Side: B, Folder: "INBOX", Mailbox: "INBOX", UID: 9, ID: "m:9999999900000000", Reason: reconcile.ReasonDeleted},
		{Op: reconcile.DeleteFolder, Side: B, Folder: "Old", Mailbox: "Old", Reason: reconcile.ReasonFolderDeleted},
	}, Conflicts: []string{`"Work": m:4444444400 moved to "Archive" on a and to "Later" on b: a wins`}}
	p.Counts[A] = reconcile.Counts{Copies: 1, Stores: 1, Moves: 1, Trashed: 1, FoldersRenamed: 1}
	p.Counts[B] = reconcile.Counts{Copies: 2, Moves: 2, Expunges: 1, FoldersCreated: 1, FoldersDeleted: 1}
	return p
}

// TestRenderPlanEveryKind: a plan with every kind of action, without
// colour, reads as the golden file says: grouped by folder, one symbol
// per kind, folder actions spelled out, the conflict marked, and the
// closing count line.
func TestRenderPlanEveryKind(t *testing.T) {
	got := renderPlan(everyKindPlan(), renderOptions{})
	if strings.Contains(got, "\x1b[") {
		t.Errorf("renderPlan without Color wrote escape codes:\n%q", got)
	}
	golden(t, "every-kind", got)

	// A plan read back from a file has no Counts: the same output.
	p := everyKindPlan()
	p.Counts = [2]reconcile.Counts{}
	if again := renderPlan(p, renderOptions{}); again != got {
		t.Errorf("renderPlan without Counts = \n%s\nwant the same as with them", again)
	}
}

// TestRenderPlanColor: with Color, each symbol is in its colour (+ green,
// - red, ~ yellow, > cyan, ! magenta) and the text is unchanged.
func TestRenderPlanColor(t *testing.T) {
	got := renderPlan(everyKindPlan(), renderOptions{Color: true})
	for _, want := range []string{
		ansiGreen + "+" + ansiReset + ` b:"INBOX" <- a:"INBOX" uid 7`,
		ansiRed + "-" + ansiReset + ` b:"INBOX" uid 9 expunge`,
		ansiRed + "-" + ansiReset + ` delete folder "Old" on b`,
		ansiYellow + "~" + ansiReset + ` a:"INBOX" uid 3 +\Flagged -\Seen`,
		ansiCyan + ">" + ansiReset + ` a:"Work" uid 4 -> "Archive"`,
		ansiMagenta + "!" + ansiReset + ` "Work": m:4444444400 moved`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("renderPlan with Color lacks %q:\n%q", want, got)
		}
	}
	if strip := ansiStrip(got); strip != renderPlan(everyKindPlan(), renderOptions{}) {
		t.Errorf("renderPlan with Color, escape codes removed, differs from without:\n%s", strip)
	}
	golden(t, "every-kind-color", got)
}

func ansiStrip(s string) string {
	for _, c := range []string{ansiReset, ansiRed, ansiGreen, ansiYellow, ansiMagenta, ansiCyan} {
		s = strings.ReplaceAll(s, c, "")
	}
	return s
}

// bigPlan copies 1,204 messages from a to b in INBOX, and changes flags
// on 21 and deletes 3 in Work: above the threshold of 20 per folder and
// kind, except the deletions.
func bigPlan() *reconcile.Plan {
	p := &reconcile.Plan{Pair: "big"}
	for i := 1; i <= 1204; i++ {
		p.Actions = append(p.Actions, reconcile.Action{Op: reconcile.Copy, Side: reconcile.B, Folder: "INBOX", Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: reconcile.UID(i), Size: 10000, Reason: reconcile.ReasonNew})
	}
	for i := 1; i <= 21; i++ {
		p.Actions = append(p.Actions, reconcile.Action{Op: reconcile.Store, Side: reconcile.A, Folder: "Work", Mailbox: "Work", UID: reconcile.UID(i), Flags: reconcile.Flags{`\Seen`}, Reason: reconcile.ReasonFlags})
	}
	for i := 1; i <= 3; i++ {
		p.Actions = append(p.Actions, reconcile.Action{Op: reconcile.Expunge, Side: reconcile.A, Folder: "Work", Mailbox: "Work", UID: reconcile.UID(100 + i), Reason: reconcile.ReasonDeleted})
	}
	p.Counts[reconcile.A] = reconcile.Counts{Stores: 21, Expunges: 3}
	p.Counts[reconcile.B] = reconcile.Counts{Copies: 1204}
	return p
}

// TestRenderPlanThreshold: above the threshold, a folder's actions of
// one kind are one line with their count (and bytes); below it they are
// listed; -v lists them all.
func TestRenderPlanThreshold(t *testing.T) {
	got := renderPlan(bigPlan(), renderOptions{})
	golden(t, "threshold", got)
	if n := strings.Count(got, "\n"); n > 12 {
		t.Errorf("summarised plan has %d lines, want a handful", n)
	}

	verbose := renderPlan(bigPlan(), renderOptions{Verbose: true})
	for _, want := range []string{
		`    + b:"INBOX" <- a:"INBOX" uid 1 flags - (new)` + "\n",
		`    + b:"INBOX" <- a:"INBOX" uid 1204 flags - (new)` + "\n",
		`    ~ a:"Work" uid 21 +\Seen (flags changed)` + "\n",
		"Plan: 1,204 to copy, 3 to delete, 21 flag changes, 0 moves, 0 conflicts.\n",
	} {
		if !strings.Contains(verbose, want) {
			t.Errorf("renderPlan -v lacks %q", want)
		}
	}
	if n := strings.Count(verbose, "\n"); n != 1+2+1204+21+3+1 {
		t.Errorf("renderPlan -v has %d lines, want one per action besides the header, folders and closing line", n)
	}
	if strings.Contains(verbose, "messages to copy") || strings.Contains(verbose, "-v lists") {
		t.Errorf("renderPlan -v summarised:\n%s", verbose[:400])
	}

	// The threshold is an option: at 2000 nothing is summarised.
	if got := renderPlan(bigPlan(), renderOptions{Threshold: 2000}); got != verbose {
		t.Errorf("renderPlan with Threshold 2000 differs from -v")
	}
}

// TestRenderEmptyPlan: a plan with nothing to do says so, and counts
// zero.
func TestRenderEmptyPlan(t *testing.T) {
	got := renderPlan(&reconcile.Plan{Pair: "p"}, renderOptions{Color: true})
	want := "pair \"p\": no changes\nPlan: 0 to copy, 0 to delete, 0 flag changes, 0 moves, 0 conflicts.\n"
	if got != want {
		t.Errorf("renderPlan(empty) = %q, want %q", got, want)
	}
}

// TestRenderApplied: apply's closing line counts what was done by kind,
// the failures (a missing outcome counts as failed), and the actions a
// stopped run did not start (reconcile.ErrNotRun), which did not fail.
func TestRenderApplied(t *testing.T) {
	p := everyKindPlan()
	outs := make([]reconcile.Outcome, len(p.Actions))
	outs[3].Err = os.ErrDeadlineExceeded // a copy to b
	outs[10].Err = reconcile.ErrNotRun   // the expunge
	got := renderApplied(p, outs)
	want := "Applied: 2 copied, 1 deleted, 1 flag change, 3 moved, 1 folder created, 1 folder renamed, 1 folder deleted, 1 failed, 1 not run.\n"
	if got != want {
		t.Errorf("renderApplied = %q, want %q", got, want)
	}
	if got, want := renderApplied(p, outs[:len(outs)-1]), "Applied: 2 copied, 1 deleted, 1 flag change, 3 moved, 1 folder created, 1 folder renamed, 2 failed, 1 not run.\n"; got != want {
		t.Errorf("renderApplied with the last outcome missing = %q, want %q", got, want)
	}
}

// TestUseColor: colour only on a terminal, and not with NO_COLOR set to
// anything (no-color.org: an empty NO_COLOR does not count) or TERM=dumb.
func TestUseColor(t *testing.T) {
	for _, c := range []struct {
		env      map[string]string
		terminal bool
		want     bool
	}{
		{nil, true, true},
		{map[string]string{"TERM": "xterm-256color"}, true, true},
		{nil, false, false},
		{map[string]string{"TERM": "xterm-256color"}, false, false},
		{map[string]string{"NO_COLOR": "1"}, true, false},
		{map[string]string{"NO_COLOR": "0"}, true, false},
		{map[string]string{"NO_COLOR": "false"}, true, false},
		{map[string]string{"NO_COLOR": ""}, true, true},
		{map[string]string{"TERM": "dumb"}, true, false},
		{map[string]string{"TERM": "dumb", "NO_COLOR": "1"}, false, false},
	} {
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		if got := useColor(lookup, c.terminal); got != c.want {
			t.Errorf("useColor(env %v, terminal %v) = %v, want %v", c.env, c.terminal, got, c.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1204: "1,204", 1234567: "1,234,567", -1204: "-1,204"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestRenderTotal: several pairs close with their counts summed, and,
// where applied, what was done; one pair has no total line.
func TestRenderTotal(t *testing.T) {
	every, big := everyKindPlan(), bigPlan()
	outs := make([]reconcile.Outcome, len(every.Actions))
	outs[0].Err = reconcile.ErrNotRun    // the rename
	outs[3].Err = os.ErrDeadlineExceeded // a copy to b
	got := renderTotal([]*reconcile.Plan{every, big, nil}, [][]reconcile.Outcome{outs, nil, nil})
	want := "All 3 pairs: 1,207 to copy, 5 to delete, 22 flag changes, 3 moves, 1 folder to create, 1 folder to rename, 1 folder to delete, 1 conflict.\n" +
		"All 3 pairs applied: 2 copied, 2 deleted, 1 flag change, 3 moved, 1 folder created, 1 folder deleted, 1 failed, 1 not run.\n"
	if got != want {
		t.Errorf("renderTotal = %q, want %q", got, want)
	}
	if got := renderTotal([]*reconcile.Plan{every}, nil); got != "" {
		t.Errorf("renderTotal of one pair = %q, want nothing", got)
	}
}
