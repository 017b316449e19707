package reconcile_test

import (
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// TestBuildLargeFolders plans, at sizes where the planner looks
// identities up in indexes and sets rather than scanning (re-pairing
// after a UIDVALIDITY change; move detection asking whether a folder
// holds or knows a message), exactly what the small cases plan: after a
// reset, only the flag changes, and for a bulk move, only the moves. The
// plan of each carried out, a second Build plans nothing. The
// benchmarks time the same cases at 10,000 messages.
func TestBuildLargeFolders(t *testing.T) {
	pol := benchPolicy()
	for _, tc := range []struct {
		name string
		mk   func() (reconcile.State, reconcile.Listing, reconcile.Listing)
		want [2]reconcile.Counts
	}{
		{"reset", func() (reconcile.State, reconcile.Listing, reconcile.Listing) { return resetCase(400) },
			[2]reconcile.Counts{{}, {Stores: 40}}},
		{"bulk move", func() (reconcile.State, reconcile.Listing, reconcile.Listing) { return bulkMoveCase(300, 500, 200) },
			[2]reconcile.Counts{{}, {Moves: 200}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, la, lb := tc.mk()
			plan, err := reconcile.Build("p", base, la, lb, pol)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Counts != tc.want {
				t.Fatalf("counts = %+v, want %+v:\n%s", plan.Counts, tc.want, plan)
			}
			accA, accB := accountFromListing(la), accountFromListing(lb)
			next := reconcile.Next(plan, execute(plan, accA, accB))
			again, err := reconcile.Build("p", next, accA.listing(), accB.listing(), pol)
			if err != nil || !again.Empty() {
				t.Errorf("second Build = %v, %v; want an empty plan", again, err)
			}
		})
	}
}
