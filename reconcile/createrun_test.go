package reconcile_test

import (
	"slices"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// TestCreateRun: the creations that go to the server in one exchange
// are the ones in a row, on one side, none under a RENAME that failed; a
// RenameFolder or a creation on the other side ends the run.
func TestCreateRun(t *testing.T) {
	create := func(s reconcile.Side, mb string) reconcile.Action {
		return reconcile.Action{Op: reconcile.CreateFolder, Side: s, Mailbox: mb, Folder: mb}
	}
	rename := reconcile.Action{Op: reconcile.RenameFolder, Side: reconcile.B, Mailbox: "Old", Dest: "New", Folder: "New"}
	acts := []reconcile.Action{
		create(reconcile.B, "Archive"),      // 0
		create(reconcile.B, "Archive/2024"), // 1
		create(reconcile.B, "New/Sub"),      // 2: under the failed rename
		create(reconcile.B, "Travel"),       // 3
		rename,                              // 4
		create(reconcile.A, "Lists"),        // 5
		create(reconcile.B, "Work"),         // 6
	}
	groups := [][]int{{0}, {1}, {2}, {3}, {4}, {5}, {6}}
	failed := []*reconcile.Action{&acts[4]}
	tests := []struct {
		name   string
		from   int
		failed []*reconcile.Action
		want   [][]int
	}{
		{"creations in a row", 0, nil, [][]int{{0}, {1}, {2}, {3}}},
		{"up to one under a failed rename", 0, failed, [][]int{{0}, {1}}},
		{"none from one under a failed rename", 2, failed, [][]int{}},
		{"a rename ends the run", 3, nil, [][]int{{3}}},
		{"a rename starts none", 4, nil, [][]int{}},
		{"the other side ends the run", 5, nil, [][]int{{5}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := reconcile.CreateRun(acts, groups[tc.from:], tc.failed)
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("CreateRun from %d = %v, want %v", tc.from, got, tc.want)
			}
		})
	}
}
