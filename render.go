package main

// Plan and apply output for people (stdout). The rules:
//
//   - A pair's block starts with its summary line, `pair "p": ...`, then
//     one group per folder (logical name, sorted), `  folder "INBOX"`,
//     then the conflicts, then the closing line with the counts:
//     `Plan: 12 to copy, 3 to delete, 5 flag changes, 1 move, 0 conflicts.`
//   - One symbol per kind of action: `+` copy, `-` delete (expunge, or
//     move to trash), `~` flags, `>` move. Folder actions are spelled
//     out: `+ create folder "X" on b`, `> rename folder "X" -> "Y" on a`,
//     `- delete folder "X" on b`. Conflicts start with `!`.
//   - A message line is the action's own text (reconcile.Action.String,
//     the one error messages and `show` use, so a failed action on stderr
//     can be found in the plan): side, mailbox, UID, flags, the identity's
//     prefix and the reason. Actions carry no subject, sender or date (the
//     planner never reads them), so neither does the output.
//   - More than Threshold actions of one kind on one side of one folder
//     are summarised in one line (`+ 1,204 messages to copy a -> b`);
//     Verbose lists every one.
//   - Colour (when Color is set) is on the symbol only, so the text stays
//     the same for grep: green +, red -, yellow ~, cyan >, magenta !.
//   - The renderer is a pure function of the plan and the options: no
//     environment, no terminal, no clock. useColor makes the colour
//     decision, from the environment and whether stdout is a terminal.

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/mailtwin/mailtwin/reconcile"
)

// renderOptions says how renderPlan draws a plan.
type renderOptions struct {
	// Color puts ANSI colours on the symbols (see useColor).
	Color bool
	// Verbose lists every message, however many.
	Verbose bool
	// Threshold is how many actions of one kind, on one side of one
	// folder, are listed one by one; more are summarised in one line.
	// Zero means defaultThreshold.
	Threshold int
}

// defaultThreshold is renderOptions.Threshold's default.
const defaultThreshold = 20

// ANSI colours of the symbols.
const (
	ansiReset   = "\x1b[0m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
)

// useColor reports whether output to a terminal (isTerminal) may be
// coloured, given the environment (lookupEnv): not when NO_COLOR is set
// to anything but the empty string (no-color.org), not when TERM is
// "dumb", never when the output is not a terminal.
func useColor(lookupEnv func(string) (string, bool), isTerminal bool) bool {
	if !isTerminal {
		return false
	}
	if v, ok := lookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	if v, _ := lookupEnv("TERM"); v == "dumb" {
		return false
	}
	return true
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// kind is what the output groups and counts actions by.
type kind int

const (
	kindCopy kind = iota
	kindDelete
	kindFlags
	kindMove
	kindFolder
)

func kindOf(a *reconcile.Action) kind {
	switch a.Op {
	case reconcile.Copy:
		return kindCopy
	case reconcile.Expunge:
		return kindDelete
	case reconcile.Move:
		if a.Reason == reconcile.ReasonTrash {
			return kindDelete
		}
		return kindMove
	case reconcile.Store:
		return kindFlags
	}
	return kindFolder
}

// symbol returns the symbol an action's line starts with.
func symbol(a *reconcile.Action) string {
	switch a.Op {
	case reconcile.CreateFolder, reconcile.Copy:
		return "+"
	case reconcile.Store:
		return "~"
	case reconcile.Expunge, reconcile.DeleteFolder:
		return "-"
	case reconcile.Move:
		if a.Reason == reconcile.ReasonTrash {
			return "-"
		}
	}
	return ">"
}

// paint colours a symbol when o.Color is set.
func (o renderOptions) paint(sym string) string {
	if !o.Color {
		return sym
	}
	c := ansiCyan
	switch sym {
	case "+":
		c = ansiGreen
	case "-":
		c = ansiRed
	case "~":
		c = ansiYellow
	case "!":
		c = ansiMagenta
	}
	return c + sym + ansiReset
}

// actionText is an action's line without its symbol.
func actionText(a *reconcile.Action) string {
	var s string
	switch a.Op {
	case reconcile.CreateFolder:
		s = fmt.Sprintf("create folder %q on %s", a.Mailbox, a.Side)
	case reconcile.RenameFolder:
		s = fmt.Sprintf("rename folder %q -> %q on %s", a.Mailbox, a.Dest, a.Side)
	case reconcile.DeleteFolder:
		s = fmt.Sprintf("delete folder %q on %s", a.Mailbox, a.Side)
	default:
		_, text, _ := strings.Cut(a.String(), " ")
		return text
	}
	if a.Reason != "" {
		s += " (" + a.Reason + ")"
	}
	return s
}

// groupOf is the folder an action is listed under: its logical folder,
// or its mailbox when it has none.
func groupOf(a *reconcile.Action) string {
	if a.Folder != "" {
		return a.Folder
	}
	return a.Mailbox
}

// renderPlan renders one pair's plan as text: the summary line, the
// actions by folder, the conflicts and the closing "Plan: ..." line.
// Same plan and options, same bytes.
func renderPlan(p *reconcile.Plan, o renderOptions) string {
	threshold := o.Threshold
	if threshold <= 0 {
		threshold = defaultThreshold
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pair %q: %s\n", p.Pair, summary(p))
	byFolder := map[string][]int{}
	var folders []string
	for i := range p.Actions {
		g := groupOf(&p.Actions[i])
		if _, ok := byFolder[g]; !ok {
			folders = append(folders, g)
		}
		byFolder[g] = append(byFolder[g], i)
	}
	slices.Sort(folders)
	summarised := false
	for _, f := range folders {
		fmt.Fprintf(&b, "  folder %q\n", f)
		idx := byFolder[f]
		type key struct {
			k    kind
			side reconcile.Side
		}
		n := map[key]int{}
		var bytes = map[key]int64{}
		var trash = map[key]int{}
		for _, i := range idx {
			a := &p.Actions[i]
			k := key{kindOf(a), a.Side}
			n[k]++
			bytes[k] += a.Size
			if a.Op == reconcile.Move {
				trash[k]++
			}
		}
		done := map[key]bool{}
		for j := 0; j < len(idx); j++ {
			a := &p.Actions[idx[j]]
			k := key{kindOf(a), a.Side}
			if k.k != kindFolder && n[k] > threshold && !o.Verbose {
				if !done[k] {
					done[k] = true
					summarised = true
					fmt.Fprintf(&b, "    %s %s\n", o.paint(symbol(a)), summaryText(k.k, k.side, n[k], bytes[k], trash[k]))
				}
				continue
			}
			// A run of moves of one batch reads as one line, as in
			// Plan.String, unless every message is wanted.
			if k.k == kindMove && !o.Verbose {
				m := 1
				for j+m < len(idx) && sameMoveBatch(a, &p.Actions[idx[j+m]]) {
					m++
				}
				if m > 1 {
					uids := make([]reconcile.UID, m)
					for x := range m {
						uids[x] = p.Actions[idx[j+x]].UID
					}
					slices.Sort(uids)
					fmt.Fprintf(&b, "    %s %s:%q -> %q (%d messages: uid %s; %s)\n", o.paint(">"), a.Side, a.Mailbox, a.Dest, m, reconcile.UIDRanges(uids, 8), a.Reason)
					j += m - 1
					continue
				}
			}
			fmt.Fprintf(&b, "    %s %s\n", o.paint(symbol(a)), actionText(a))
		}
	}
	for _, c := range p.Conflicts {
		fmt.Fprintf(&b, "  %s %s\n", o.paint("!"), c)
	}
	if summarised {
		b.WriteString("  (-v lists every message)\n")
	}
	b.WriteString(closingLine(p))
	return b.String()
}

// summary is p.Summary() with the counts taken from the actions, so a
// plan that did not come from the planner (a saved plan read back, whose
// Counts are not stored) reads the same.
func summary(p *reconcile.Plan) string {
	q := *p
	q.Counts = [2]reconcile.Counts{}
	for i := range p.Actions {
		a := &p.Actions[i]
		c := &q.Counts[a.Side]
		switch a.Op {
		case reconcile.CreateFolder:
			c.FoldersCreated++
		case reconcile.RenameFolder:
			c.FoldersRenamed++
		case reconcile.DeleteFolder:
			c.FoldersDeleted++
		case reconcile.Copy:
			c.Copies++
		case reconcile.Move:
			if a.Reason == reconcile.ReasonTrash {
				c.Trashed++
			} else {
				c.Moves++
			}
		case reconcile.Store:
			c.Stores++
		case reconcile.Expunge:
			c.Expunges++
		}
	}
	return q.Summary()
}

// sameMoveBatch reports whether y moves messages with x: same side,
// mailbox, destination and reason.
func sameMoveBatch(x, y *reconcile.Action) bool {
	return y.Op == reconcile.Move && kindOf(y) == kindMove && y.Side == x.Side && y.Mailbox == x.Mailbox && y.Dest == x.Dest && y.Reason == x.Reason
}

// summaryText is the line that stands for n actions of kind k on side.
func summaryText(k kind, side reconcile.Side, n int, size int64, trash int) string {
	switch k {
	case kindCopy:
		s := fmt.Sprintf("%s messages to copy %s -> %s", thousands(n), side.Other(), side)
		if size > 0 {
			s += " (" + humanBytes(size) + ")"
		}
		return s
	case kindDelete:
		s := fmt.Sprintf("%s messages to delete on %s", thousands(n), side)
		if trash > 0 {
			s += fmt.Sprintf(" (%s to trash)", thousands(trash))
		}
		return s
	case kindFlags:
		return fmt.Sprintf("%s flag changes on %s", thousands(n), side)
	}
	return fmt.Sprintf("%s messages to move on %s", thousands(n), side)
}

// counts is how many actions of each kind a plan has, or a run did.
type counts struct {
	copies, deletes, flags, moves               int
	foldersCreated, foldersRenamed, foldersGone int
}

func (c *counts) add(a *reconcile.Action) {
	switch a.Op {
	case reconcile.CreateFolder:
		c.foldersCreated++
	case reconcile.RenameFolder:
		c.foldersRenamed++
	case reconcile.DeleteFolder:
		c.foldersGone++
	}
	switch kindOf(a) {
	case kindCopy:
		c.copies++
	case kindDelete:
		c.deletes++
	case kindFlags:
		c.flags++
	case kindMove:
		c.moves++
	}
}

// folderParts are the folder counts that are not zero, as phrases.
func (c counts) folderParts(verb func(what string) string) []string {
	var parts []string
	for _, f := range []struct {
		n    int
		what string
	}{{c.foldersCreated, "create"}, {c.foldersRenamed, "rename"}, {c.foldersGone, "delete"}} {
		if f.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s %s", thousands(f.n), plural(f.n, "folder", "folders"), verb(f.what)))
		}
	}
	return parts
}

// closingLine is a plan's closing line:
// "Plan: 12 to copy, 3 to delete, 5 flag changes, 1 move, 0 conflicts."
// with the folder actions, where there are any, before the conflicts.
func closingLine(p *reconcile.Plan) string {
	var c counts
	for i := range p.Actions {
		c.add(&p.Actions[i])
	}
	return "Plan: " + plannedText(c, len(p.Conflicts)) + ".\n"
}

func plannedText(c counts, conflicts int) string {
	parts := []string{
		thousands(c.copies) + " to copy",
		thousands(c.deletes) + " to delete",
		thousands(c.flags) + " " + plural(c.flags, "flag change", "flag changes"),
		thousands(c.moves) + " " + plural(c.moves, "move", "moves"),
	}
	parts = append(parts, c.folderParts(func(v string) string { return "to " + v })...)
	parts = append(parts, thousands(conflicts)+" "+plural(conflicts, "conflict", "conflicts"))
	return strings.Join(parts, ", ")
}

// renderApplied is apply's closing line for a plan carried out with
// outcomes (one per action; a missing one counts as failed):
// "Applied: 12 copied, 3 deleted, 5 flag changes, 1 moved, 0 failed."
// A run stopped by SIGINT or SIGTERM ends it with ", 4 not run".
func renderApplied(p *reconcile.Plan, outcomes []reconcile.Outcome) string {
	var c counts
	failed, notRun := c.addDone(p, outcomes)
	return "Applied: " + appliedText(c, failed, notRun) + ".\n"
}

// addDone counts the actions of p that outcomes say were done, and
// returns how many failed and how many a stopped run did not start
// (reconcile.ErrNotRun).
func (c *counts) addDone(p *reconcile.Plan, outcomes []reconcile.Outcome) (failed, notRun int) {
	for i := range p.Actions {
		switch {
		case i < len(outcomes) && outcomes[i].Err == reconcile.ErrNotRun:
			notRun++
		case i >= len(outcomes) || outcomes[i].Err != nil:
			failed++
		default:
			c.add(&p.Actions[i])
		}
	}
	return failed, notRun
}

func appliedText(c counts, failed, notRun int) string {
	parts := []string{
		thousands(c.copies) + " copied",
		thousands(c.deletes) + " deleted",
		thousands(c.flags) + " " + plural(c.flags, "flag change", "flag changes"),
		thousands(c.moves) + " moved",
	}
	past := map[string]string{"create": "created", "rename": "renamed", "delete": "deleted"}
	parts = append(parts, c.folderParts(func(v string) string { return past[v] })...)
	parts = append(parts, thousands(failed)+" failed")
	if notRun > 0 {
		parts = append(parts, thousands(notRun)+" not run")
	}
	return strings.Join(parts, ", ")
}

// renderTotal closes the output of a run of several pairs with their
// counts summed: "All 3 pairs: 12 to copy, ..., 0 conflicts." and, for
// the pairs applied (outcomes[i] not nil), "All 3 pairs applied: 12
// copied, ..., 0 failed.". It is "" for fewer than two pairs; a nil plan
// (a pair that failed before planning) counts for nothing.
func renderTotal(plans []*reconcile.Plan, outcomes [][]reconcile.Outcome) string {
	if len(plans) < 2 {
		return ""
	}
	var planned, done counts
	conflicts, failed, notRun, applied := 0, 0, 0, false
	for i, p := range plans {
		if p == nil {
			continue
		}
		for j := range p.Actions {
			planned.add(&p.Actions[j])
		}
		conflicts += len(p.Conflicts)
		if i < len(outcomes) && outcomes[i] != nil {
			applied = true
			f, n := done.addDone(p, outcomes[i])
			failed, notRun = failed+f, notRun+n
		}
	}
	s := fmt.Sprintf("All %d pairs: %s.\n", len(plans), plannedText(planned, conflicts))
	if applied {
		s += fmt.Sprintf("All %d pairs applied: %s.\n", len(plans), appliedText(done, failed, notRun))
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// thousands writes n with a comma every three digits: 1,204.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
