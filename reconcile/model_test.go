package reconcile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// formatModelAccount renders an account in parseListing's syntax.
func formatModelAccount(acc *account) string {
	var b strings.Builder
	for _, f := range acc.listing().Folders {
		fmt.Fprintf(&b, "folder %s uv=%d\n", f.Mailbox, f.UIDValidity)
		for _, msg := range f.Messages {
			fmt.Fprintf(&b, "%d %s %s\n", msg.UID, msg.Flags, msg.ID)
		}
	}
	return b.String()
}

// The tests below are failures of TestModel, reduced to what matters.
// They concern Next after actions that failed, or after a run cut short,
// which the txtar table (where every action succeeds) cannot show.

// runPlan builds a plan for the two accounts, carries out its actions
// (fail says which fail; nil: none) and returns the plan and the next
// state.
func runPlan(t *testing.T, base reconcile.State, accA, accB *account, pol reconcile.Policy, fail func(*reconcile.Action) bool) (*reconcile.Plan, reconcile.State) {
	t.Helper()
	plan, err := reconcile.Build("p", base, accA.listing(), accB.listing(), pol)
	if err != nil {
		t.Fatal(err)
	}
	accA.failOn, accB.failOn = fail, fail
	next := reconcile.Next(plan, execute(plan, accA, accB))
	accA.failOn, accB.failOn = nil, nil
	if _, err := reconcile.DecodeState("p", reconcile.EncodeState(next)); err != nil {
		t.Fatalf("plan:\n%s\nthe next state does not load: %v\n%s", plan, err, formatState(next))
	}
	return plan, next
}

// TestNextFailureAfterUIDValidityChange is the model test's seed 107,
// reduced: after a UIDVALIDITY change on B, x:1 is at B's uid 2 and x:2
// is lost there. Restoring x:2 to B fails, so Next falls back to x:2's
// base record, whose B uid 2 is from the old mailbox: it must not end up
// in the state beside x:1's new uid 2 (the state file would not load),
// and the next run must still restore x:2 once, and pair x:1.
func TestNextFailureAfterUIDValidityChange(t *testing.T) {
	base := parseState(t, "folder INBOX\n1 1 - x:1\n2 2 \\Seen x:2")
	accA := accountFromListing(parseListing(t, "folder INBOX\n1 - x:1\n2 \\Seen x:2"))
	accB := accountFromListing(parseListing(t, "folder INBOX uv=7\n2 - x:1"))
	pol := parsePolicy(t, "direction both\ndeletion propagate")
	_, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool { return a.Op == reconcile.Copy })
	_, next = runPlan(t, next, accA, accB, pol, nil)
	if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
		t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
	}
	if got, want := formatModelAccount(accB), "folder INBOX uv=7\n2 - x:1\n3 \\Seen x:2\n"; got != want {
		t.Errorf("B after the retry:\n%swant:\n%s", got, want)
	}
	if got, want := formatState(next), "folder INBOX\n1 2 - x:1\n2 3 \\Seen x:2\n"; got != want {
		t.Errorf("state after the retry:\n%swant:\n%s", got, want)
	}
}

// TestNextCutShortAfterFolderDeleted is the model test's seed 23938,
// reduced: B deleted Work, and the run that was to expunge A's copy of
// x:3 is cut short, twice; in between, B creates Work again and x:12
// arrives there at uid 1, the UID x:3 had in the deleted mailbox. That
// old UID must not stay in x:3's record beside the new folder, where the
// next run would pair x:3 with x:12.
func TestNextCutShortAfterFolderDeleted(t *testing.T) {
	base := parseState(t, "folder INBOX\nfolder Work\n1 1 - x:3")
	accA := accountFromListing(parseListing(t, "folder INBOX\nfolder Work\n1 - x:3"))
	accB := accountFromListing(parseListing(t, "folder INBOX"))
	pol := parsePolicy(t, "direction both\ndeletion propagate")
	cut := func(*reconcile.Action) bool { return true }
	_, next := runPlan(t, base, accA, accB, pol, cut)
	accB.create("Work")
	accB.deliver("Work", "x:12", nil)
	_, next = runPlan(t, next, accA, accB, pol, cut)
	for _, r := range next.Folder("Work").Records {
		if r.ID == "x:3" && r.UIDB != 0 {
			t.Fatalf("x:3 keeps B's uid %d from the deleted mailbox:\n%s", r.UIDB, formatState(next))
		}
	}
	_, next = runPlan(t, next, accA, accB, pol, nil)
	if got, want := formatModelAccount(accA), "folder INBOX uv=1\nfolder Work uv=1\n1 - x:3\n2 - x:12\n"; got != want {
		t.Errorf("A after a clean run:\n%swant:\n%s", got, want)
	}
	if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
		t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
	}
}

// TestNextTrashCreatedKnowsUIDValidity is the model test's seed 14389,
// reduced: the plan creates B's trash and moves x:1 there. Before the
// next run, B's trash gets a new UIDVALIDITY and x:5 takes uid 1. The
// state must have recorded the trash's UIDVALIDITY from the move, so
// that the next run notices the change and does not take x:5 for x:1.
func TestNextTrashCreatedKnowsUIDValidity(t *testing.T) {
	base := parseState(t, "folder INBOX\n1 1 - x:1")
	accA := accountFromListing(parseListing(t, "folder INBOX"))
	accB := accountFromListing(parseListing(t, "folder INBOX\n1 - x:1"))
	pol := parsePolicy(t, "direction both\ndeletion trash")
	_, next := runPlan(t, base, accA, accB, pol, nil)
	tr := accB.folders["Trash"]
	tr.msgs, tr.uidNext = nil, 1
	tr.uv++
	accB.deliver("Trash", "x:5", nil)
	_, next = runPlan(t, next, accA, accB, pol, nil)
	if got, want := formatState(next), "folder INBOX\nfolder Trash a=-\n- 1 - x:5\n"; got != want {
		t.Errorf("state:\n%swant:\n%s", got, want)
	}
}
