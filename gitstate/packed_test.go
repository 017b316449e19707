package gitstate

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5"
)

// TestFilesOfPackedRepo reads a state whose objects are in a pack, not
// loose (a repository someone ran git gc on), with no worktree to read
// them from: Files falls back to go-git's reader.
func TestFilesOfPackedRepo(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"a.state": []byte("one\n"), "sub/b.state": []byte("two\n")}
	if err := r.Stage(ctx, "p", want); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if err := r.git.RepackObjects(&git.RepackConfig{}); err != nil {
		t.Fatal(err)
	}
	loose, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "[0-9a-f][0-9a-f]"))
	if err != nil || len(loose) == 0 {
		t.Fatalf("no loose objects to remove (%v)", err)
	}
	for _, d := range loose {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "p")); err != nil {
		t.Fatal(err)
	}
	r, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Files(ctx, "p")
	if err != nil {
		t.Fatalf("Files = %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("Files = %q, want %q", got, want)
	}
	for name, data := range want {
		if string(got[name]) != string(data) {
			t.Errorf("Files[%s] = %q, want %q", name, got[name], data)
		}
	}
}
