package gitstate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestCommitIndexRefusesAMovedHead: a commit made on a HEAD that moved
// since it was read (by a process that ignored the run lock) fails, and
// the commit that moved HEAD stays its tip.
func TestCommitIndexRefusesAMovedHead(t *testing.T) {
	ctx := context.Background()
	r, err := Open(ctx, filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	fixedClock(r)
	hist := packHistory(3, 2, 5)
	first := commitState(t, ctx, r, hist[0], "first")
	second := commitState(t, ctx, r, hist[1], "second")
	for _, prefix := range []string{"work", "home"} {
		sub := map[string][]byte{}
		for name, data := range hist[2] {
			if rel, ok := strings.CutPrefix(name, prefix+"/"); ok {
				sub[rel] = data
			}
		}
		if err := r.Stage(ctx, prefix, sub); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := r.git.Storer.Index()
	if err != nil {
		t.Fatal(err)
	}
	stale := plumbing.NewHash(first.Hash)
	c, err := r.git.CommitObject(stale)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.commitIndex(idx, stale, c.TreeHash, "third, on the first\n")
	if err == nil {
		t.Fatal("commitIndex on a HEAD that moved since = nil error; want it refused")
	}
	for _, want := range []string{"another process committed", "see git log, then run again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("commitIndex on a HEAD that moved since: %v; want it to say %q", err, want)
		}
	}
	head, err := r.git.Head()
	if err != nil {
		t.Fatal(err)
	}
	if head.Hash().String() != second.Hash {
		t.Errorf("HEAD = %s; want %s, the commit that moved it", head.Hash(), second.Hash)
	}
}
