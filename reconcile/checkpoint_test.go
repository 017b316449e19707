package reconcile

import (
	"context"
	"testing"
)

// TestCheckpointSpacing: checkpoints come every CheckpointActions
// actions while few are done, then a quarter of those done apart, so
// that a long run writes its journal about five times over, not once per
// checkpoint_actions. Done one action at a time, 100,000 actions at
// every 1,000: the checkpoints at 1,000, 2,000, 3,000 and 4,000, then
// 5,000, 6,250, ...; 99 of them at a fixed spacing.
func TestCheckpointSpacing(t *testing.T) {
	const total, every = 100_000, 1_000
	var at []int
	c := &checkpointer{plan: &Plan{}, every: every, fn: func(_ context.Context, cp Checkpoint) { at = append(at, cp.Done) }}
	out := make([]Outcome, total)
	finished := make([]bool, total)
	for done := 1; done <= total; done++ {
		finished[done-1] = true
		c.maybe(context.Background(), done, out, finished)
	}
	want := []int{1000, 2000, 3000, 4000, 5000, 6250, 7812, 9765}
	if len(at) < len(want) {
		t.Fatalf("checkpoints at %v, want them to begin %v", at, want)
	}
	for i, w := range want {
		if at[i] != w {
			t.Fatalf("checkpoints at %v, want them to begin %v", at, want)
		}
	}
	lines := 0
	for _, d := range at {
		lines += d
	}
	if len(at) > 25 || lines > 5*total {
		t.Errorf("%d checkpoints listing %d actions in all for a run of %d, want at most 25 and %d", len(at), lines, total, 5*total)
	}
}
