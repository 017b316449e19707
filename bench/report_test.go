package main

import (
	"errors"
	"testing"
	"time"
)

func TestRatioSpread(t *testing.T) {
	run := func(rep int, wall time.Duration) result {
		return result{rep: rep, exec: execResult{wall: wall}}
	}
	failed := run(3, time.Second)
	failed.check = "A and B differ"
	tests := []struct {
		name           string
		mailtwin, peer []result
		want           string
	}{
		{
			name:     "runs paired by repetition, not by order",
			mailtwin: []result{run(1, 600*time.Millisecond), run(2, 900*time.Millisecond)},
			peer:     []result{run(2, 1000*time.Millisecond), run(1, 1200*time.Millisecond)},
			want:     "0.50–0.90",
		},
		{
			name:     "a failed run on either side is left out",
			mailtwin: []result{run(1, 700*time.Millisecond), failed},
			peer:     []result{run(1, 1000*time.Millisecond), run(3, 100*time.Millisecond)},
			want:     "0.70–0.70",
		},
		{
			name:     "a repetition the peer has no run of is left out",
			mailtwin: []result{run(1, 500*time.Millisecond), run(2, 100*time.Millisecond)},
			peer:     []result{run(1, 1000*time.Millisecond)},
			want:     "0.50–0.50",
		},
		{
			name:     "no repetition with both runs passed",
			mailtwin: []result{{rep: 1, exec: execResult{wall: time.Second, err: errors.New("exit status 1")}}},
			peer:     []result{run(1, time.Second)},
			want:     "-",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ratioSpread(tc.mailtwin, tc.peer); got != tc.want {
				t.Errorf("ratioSpread = %q, want %q", got, tc.want)
			}
		})
	}
}
