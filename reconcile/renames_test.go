package reconcile_test

import (
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// TestRenameFailureIsRetried: when the RENAME on the other side fails,
// the state keeps the folder under its old name there, so the next run
// finds the same rename and repeats it; nothing is copied meanwhile.
func TestRenameFailureIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failOp reconcile.Op
		b      string
	}{
		// b still has Projects: the RENAME fails.
		{"rename fails", reconcile.RenameFolder, "folder INBOX\nfolder Projects uv=8\n1 - x:1\n2 - x:2"},
		// b deleted Projects: making it again under the new name fails.
		{"recreate fails", reconcile.CreateFolder, "folder INBOX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := parseState(t, "folder INBOX\nfolder Projects uv=7/8\n1 1 - x:1\n2 2 - x:2")
			la := parseListing(t, "folder INBOX\nfolder Projects-2025 uv=7\n1 - x:1\n2 - x:2\n3 - x:3")
			lb := parseListing(t, tc.b)
			pol := parsePolicy(t, "direction both\ndeletion propagate")
			accA, accB := accountFromListing(la), accountFromListing(lb)

			plan, err := reconcile.Build("p", base, la, lb, pol)
			if err != nil {
				t.Fatal(err)
			}
			accB.failOn = func(a *reconcile.Action) bool { return a.Op == tc.failOp }
			next := reconcile.Next(plan, execute(plan, accA, accB))
			if f := next.Folder("Projects"); f == nil || f.B.Mailbox != "Projects" && tc.failOp == reconcile.RenameFolder {
				t.Fatalf("after the failed run the state is\n%s\nwant Projects kept under its old name on b", formatState(next))
			}
			if next.Folder("Projects-2025") != nil {
				t.Errorf("after the failed run the state has Projects-2025:\n%s", formatState(next))
			}

			accB.failOn = nil
			again, err := reconcile.Build("p", next, accA.listing(), accB.listing(), pol)
			if err != nil {
				t.Fatal(err)
			}
			if tc.failOp == reconcile.RenameFolder && !strings.Contains(again.String(), `> b:"Projects" rename folder -> "Projects-2025"`) {
				t.Errorf("the next run does not rename again:\n%s", again)
			}
			if c := again.Counts[reconcile.A]; c.Copies+c.Deletions() != 0 {
				t.Errorf("the next run changes a:\n%s", again)
			}
			final := reconcile.Next(again, execute(again, accA, accB))
			settled, err := reconcile.Build("p", final, accA.listing(), accB.listing(), pol)
			if err != nil || !settled.Empty() {
				t.Errorf("after the retry, Build = %v, %v; want an empty plan", settled, err)
			}
			if got := formatState(final); !strings.Contains(got, "folder Projects-2025\n1 1 - x:1\n2 2 - x:2\n3 3 - x:3\n") {
				t.Errorf("final state:\n%s", got)
			}
		})
	}
}

// TestFailedConflictMoveIsRetried: a message moved to different folders
// on both sides, and the loser's move fails: the state keeps the record
// in the old folder, so the next run settles the conflict again instead
// of copying each side's message to the other (a duplicate per side).
func TestFailedConflictMoveIsRetried(t *testing.T) {
	st := parseState(t, "folder INBOX\nfolder P\n1 1 - x:1\nfolder Q\nfolder R")
	accA := accountFromListing(parseListing(t, "folder INBOX\nfolder P\nfolder Q\n1 - x:1\nfolder R"))
	accB := accountFromListing(parseListing(t, "folder INBOX\nfolder P\nfolder Q\nfolder R\n1 - x:1"))
	pol := parsePolicy(t, "direction both\ndeletion propagate")
	plan, err := reconcile.Build("p", st, accA.listing(), accB.listing(), pol)
	if err != nil {
		t.Fatal(err)
	}
	accB.failOn = func(a *reconcile.Action) bool { return a.Op == reconcile.Move }
	next := reconcile.Next(plan, execute(plan, accA, accB))
	accB.failOn = nil
	if f := next.Folder("P"); f == nil || len(f.Records) != 1 {
		t.Fatalf("after the failed move the state is\n%s\nwant P's record kept", formatState(next))
	}
	again, err := reconcile.Build("p", next, accA.listing(), accB.listing(), pol)
	if err != nil {
		t.Fatal(err)
	}
	if c := again.Counts[reconcile.B]; c != (reconcile.Counts{Moves: 1}) || again.Counts[reconcile.A] != (reconcile.Counts{}) {
		t.Fatalf("the next run does not just move b's copy again:\n%s", again)
	}
	final := reconcile.Next(again, execute(again, accA, accB))
	if got := formatState(final); !strings.Contains(got, "folder Q\n1 1 - x:1\nfolder R\n") {
		t.Errorf("final state:\n%s", got)
	}
}
