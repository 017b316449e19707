package reconcile

import (
	"slices"
	"testing"
)

// TestLanesKeepAMailboxOnOneLane: the batches of a phase that change one
// mailbox on one side go to one lane, in plan order, so that no two
// connections change a mailbox at once; other mailboxes, and the same
// name on the other side, get lanes of their own.
func TestLanesKeepAMailboxOnOneLane(t *testing.T) {
	acts := []Action{
		{Op: Expunge, Side: B, Mailbox: "INBOX", UID: 1},
		{Op: Move, Side: B, Mailbox: "Work", UID: 2, Dest: "INBOX"},
		{Op: Move, Side: B, Mailbox: "INBOX", UID: 3, Dest: "Work"},
		{Op: Expunge, Side: A, Mailbox: "INBOX", UID: 4},
		{Op: Expunge, Side: B, Mailbox: "Work", UID: 5},
	}
	groups := batches(acts)
	lanes := lanesOf(acts, groups)
	var got [][]int
	for _, l := range lanes {
		var idx []int
		for _, g := range l {
			idx = append(idx, g...)
		}
		got = append(got, idx)
	}
	want := [][]int{{0, 2}, {1, 4}, {3}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("lanes = %v, want %v", got, want)
	}
}
