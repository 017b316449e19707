//go:build unix

package gitstate_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRepoIsPrivate: a new state repository, and everything later
// commits, a rollback and the lock add to it, is readable by its owner
// only (directories 0700, files 0600), whatever the umask.
func TestRepoIsPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()
	r := newRepo(t)
	wantPrivate(t, r.Dir(), "after Open")

	first := commit(t, r, "work", map[string]string{"INBOX.state": "# one\n", "sub/dir/x.state": "# x\n"}, "first")
	commit(t, r, "work", map[string]string{"INBOX.state": "# two\n", "Archive.state": "# a\n"}, "second")
	commit(t, r, "home", map[string]string{"INBOX.state": "# home\n"}, "third")
	unlock, err := r.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantPrivate(t, r.Dir(), "while locked")
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rollback(ctx, first.Hash); err != nil {
		t.Fatalf("Rollback = %v", err)
	}
	wantPrivate(t, r.Dir(), "after commits and a rollback")
}

func wantPrivate(t *testing.T, dir, when string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n++
		want := fs.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: %s mode = %v, want %v", when, p, fi.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("%s: only %d entries under %s", when, n, dir)
	}
}
