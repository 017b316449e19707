package gitstate_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/gitstate"
)

// TestCommitTreesAsGitWritesThem commits, run after run, pair
// directories whose names sort differently as files and as directories
// in Git's order ("a.b" before "a/", "a-b" before both, "a0" after),
// nested directories, and runs that change one pair and leave the
// others as HEAD has them. After each commit git itself must find the
// repository whole (fsck) and write the same tree from the same index
// (write-tree): the commit builds its trees without go-git's
// Worktree.Commit, and a tree in the wrong order, or a subtree left
// unwritten because HEAD was thought to have it, would be a corrupt
// state history.
func TestCommitTreesAsGitWritesThem(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed to check the trees Commit writes: %v", err)
	}
	r := newRepo(t)
	runGit := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gitBin, args...)
		cmd.Dir = r.Dir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	runs := []struct {
		prefix string
		files  map[string]string
	}{
		{"a", map[string]string{"INBOX.state": "1\n", "x/y.state": "2\n"}},
		{"a.b", map[string]string{"INBOX.state": "3\n"}},
		{"a-b", map[string]string{"INBOX.state": "4\n", "a.state": "5\n", "a/b.state": "6\n"}},
		{"a0", map[string]string{"INBOX.state": "7\n"}},
		// One pair changes, the others stay as HEAD has them.
		{"a", map[string]string{"INBOX.state": "8\n", "x/y.state": "2\n", "x/z.state": "9\n"}},
		{"a-b", map[string]string{"INBOX.state": "4\n", "a.state": "10\n", "a/b.state": "6\n"}},
		// A nested directory dropped.
		{"a", map[string]string{"INBOX.state": "8\n"}},
	}
	var last gitstate.Commit
	for i, run := range runs {
		c := commit(t, r, run.prefix, run.files, "run")
		if i > 0 && c.Hash == last.Hash {
			t.Fatalf("run %d: no new commit", i)
		}
		last = c
		runGit("fsck", "--strict", "--no-dangling")
		if got, want := runGit("rev-parse", "HEAD^{tree}"), runGit("write-tree"); got != want {
			t.Fatalf("run %d: HEAD's tree %s; git writes %s from the same index", i, got, want)
		}
		if got := runGit("rev-parse", "HEAD"); got != c.Hash {
			t.Fatalf("run %d: HEAD is %s; Commit returned %s", i, got, c.Hash)
		}
		if got, want := runGit("log", "-1", "--format=%s"), "run"; got != want {
			t.Fatalf("run %d: subject %q; want %q", i, got, want)
		}
	}
	if got := runGit("rev-list", "--count", "HEAD"); got != "7" {
		t.Errorf("%s commits; want 7, one per run, each on the one before", got)
	}
	// The same index again: nothing to commit.
	stage(t, r, "a", map[string]string{"INBOX.state": "8\n"})
	if _, err := r.Commit(t.Context(), "again"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Errorf("Commit of HEAD's tree = %v; want ErrNothingToCommit", err)
	}
}
