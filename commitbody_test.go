package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// TestCommitBodyFromJournalHeads: a run's commit message, made from the
// first lines of each pair's journal (commitJournal), is the one made
// from the whole journals, for pairs of every size around the cut: no
// cut at all, a cut of one line (which shortBody does not make), and
// journals far longer than the message, first, last or alone.
func TestCommitBodyFromJournalHeads(t *testing.T) {
	plan := func(n, conflicts int) (*reconcile.Plan, []reconcile.Outcome) {
		p := &reconcile.Plan{Pair: "p"}
		var outs []reconcile.Outcome
		for i := range n {
			p.Actions = append(p.Actions, reconcile.Action{Op: reconcile.Copy, Side: reconcile.B, Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: reconcile.UID(i + 1), ID: "m:01", Reason: reconcile.ReasonNew})
			o := reconcile.Outcome{UID: reconcile.UID(100 + i)}
			if i%7 == 3 {
				o = reconcile.Outcome{Err: errors.New("refused")}
			}
			outs = append(outs, o)
		}
		for i := range conflicts {
			p.Conflicts = append(p.Conflicts, fmt.Sprintf("conflict number %d", i))
		}
		return p, outs
	}
	type pair struct{ actions, conflicts, impossible int }
	for _, pairs := range [][]pair{
		{{3, 0, 0}},
		{{maxBodyLines - 1, 0, 0}},
		{{maxBodyLines, 0, 0}},
		{{maxBodyLines, 1, 0}},
		{{maxBodyLines + 1, 0, 0}},
		{{maxBodyLines + 5, 2, 3}},
		{{500, 0, 0}},
		{{2, 1, 0}, {500, 3, 2}},
		{{500, 0, 0}, {4, 0, 0}},
		{{10, 0, 0}, {10, 0, 0}},
		{{9, 0, 0}, {10, 0, 0}},
		{{0, 0, 30}},
	} {
		var whole, heads strings.Builder
		omitted := 0
		for i, pr := range pairs {
			p, outs := plan(pr.actions, pr.conflicts)
			full := reconcile.Journal(p, outs)
			j := newCommitJournal(p, outs)
			for k := range pr.impossible {
				l := fmt.Sprintf("conflict impossible %d\n", k)
				full += l
				j.add(l)
			}
			fmt.Fprintf(&whole, "pair %q: summary\n%s\n", fmt.Sprint("p", i), full)
			fmt.Fprintf(&heads, "pair %q: summary\n%s\n", fmt.Sprint("p", i), j.head)
			omitted += j.omitted()
		}
		want := shortBody(whole.String(), maxBodyLines, 0)
		if got := shortBody(heads.String(), maxBodyLines, omitted); got != want {
			t.Errorf("pairs %v: from the heads\n%s\nwant, from the whole journals,\n%s", pairs, got, want)
		}
	}
}
