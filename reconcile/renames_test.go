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
