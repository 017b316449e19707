package gitstate_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/mailtwin/mailtwin/gitstate"
)

var t0 = time.Date(2025, 11, 29, 10, 0, 0, 0, time.UTC)

// newRepo opens a new state repository whose clock starts at t0 and
// advances a minute per reading, so commits are reproducible.
func newRepo(t testing.TB) *gitstate.Repo {
	t.Helper()
	r, err := gitstate.Open(context.Background(), filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	n := 0
	r.Clock = func() time.Time { n++; return t0.Add(time.Duration(n) * time.Minute) }
	return r
}

func stage(t testing.TB, r *gitstate.Repo, prefix string, files map[string]string) {
	t.Helper()
	if err := r.Stage(context.Background(), prefix, bytesMap(files)); err != nil {
		t.Fatalf("Stage(%q) = %v", prefix, err)
	}
}

func commit(t testing.TB, r *gitstate.Repo, prefix string, files map[string]string, msg string) gitstate.Commit {
	t.Helper()
	stage(t, r, prefix, files)
	c, err := r.Commit(context.Background(), msg)
	if err != nil {
		t.Fatalf("Commit(%q) = %v", msg, err)
	}
	return c
}

func bytesMap(m map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}

func stringMap(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func files(t testing.TB, r *gitstate.Repo, prefix string) map[string]string {
	t.Helper()
	m, err := r.Files(context.Background(), prefix)
	if err != nil {
		t.Fatalf("Files(%q) = %v", prefix, err)
	}
	if m == nil {
		t.Fatalf("Files(%q) = nil map", prefix)
	}
	return stringMap(m)
}

func wantFiles(t testing.TB, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
}

func readWorktree(t testing.TB, r *gitstate.Repo, name string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.Dir(), filepath.FromSlash(name)))
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func subjects(cs []gitstate.Commit) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Subject)
	}
	return out
}

func TestOpenCreatesRepoOnMain(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "does", "not", "exist")
	r, err := gitstate.Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if r.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", r.Dir(), dir)
	}
	head, err := os.ReadFile(filepath.Join(dir, ".git", "HEAD"))
	if err != nil {
		t.Fatal(err)
	}
	if string(head) != "ref: refs/heads/main\n" {
		t.Errorf(".git/HEAD = %q, want ref: refs/heads/main", head)
	}
	c := commit(t, r, "work", map[string]string{"a": "1\n"}, "first")

	// Opening again finds the repository and its commit.
	r2, err := gitstate.Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open again = %v", err)
	}
	log, err := r2.Log(ctx, 0)
	if err != nil || len(log) != 1 || log[0].Hash != c.Hash {
		t.Fatalf("Log after reopen = %v, %v, want [%s]", log, err, c.Short)
	}
	g, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := g.Head()
	if err != nil || ref.Name() != plumbing.NewBranchReferenceName("main") || ref.Hash().String() != c.Hash {
		t.Errorf("HEAD = %v, %v, want refs/heads/main at %s", ref, err, c.Hash)
	}
}

func TestNewRepoIsEmpty(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	wantFiles(t, files(t, r, "work"), map[string]string{})
	wantFiles(t, files(t, r, ""), map[string]string{})
	log, err := r.Log(ctx, 0)
	if err != nil || len(log) != 0 {
		t.Errorf("Log = %v, %v, want none", log, err)
	}
	if _, err := r.Commit(ctx, "nothing"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Errorf("Commit on empty repo = %v, want ErrNothingToCommit", err)
	}
	if _, err := r.Resolve(ctx, "HEAD"); !errors.Is(err, gitstate.ErrUnknownRevision) {
		t.Errorf("Resolve(HEAD) on empty repo = %v, want ErrUnknownRevision", err)
	}
}

func TestStageCommitFiles(t *testing.T) {
	r := newRepo(t)
	want := map[string]string{
		"INBOX.state":          "# mailtwin state v1\n1 2 - m:aa\n",
		"Archive%2F2024.state": "# mailtwin state v1\n",
		"sub/dir/x.state":      "",
	}
	c := commit(t, r, "work", want, "sync work: +1 a→b\n\njournal line 1\njournal line 2\n\n")
	wantFiles(t, files(t, r, "work"), want)

	if len(c.Hash) != 40 || c.Short != c.Hash[:7] {
		t.Errorf("Commit = %+v, want a 40-digit hash and its 7-digit Short", c)
	}
	if c.Subject != "sync work: +1 a→b" {
		t.Errorf("Subject = %q", c.Subject)
	}
	if c.Message != "sync work: +1 a→b\n\njournal line 1\njournal line 2" {
		t.Errorf("Message = %q", c.Message)
	}
	if !c.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("Time = %v, want the injected clock's %v", c.Time, t0.Add(time.Minute))
	}
	for name, content := range want {
		got, ok := readWorktree(t, r, "work/"+name)
		if !ok || got != content {
			t.Errorf("worktree work/%s = %q, %v, want %q", name, got, ok, content)
		}
		fi, err := os.Stat(filepath.Join(r.Dir(), "work", filepath.FromSlash(name)))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("worktree work/%s mode = %v, %v, want 0600", name, fi.Mode(), err)
		}
	}
	g, err := git.PlainOpen(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	obj, err := g.CommitObject(plumbing.NewHash(c.Hash))
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []object.Signature{obj.Author, obj.Committer} {
		if sig.Name != "mailtwin" || sig.Email != "mailtwin@localhost" {
			t.Errorf("signature = %s, want mailtwin <mailtwin@localhost>", sig.String())
		}
	}
}

// TestLooseObjectsReadByGit checks the loose objects Stage writes with
// its own compressor against two other readers: go-git's, which
// inflates with the standard library, and git itself (fsck, and the
// bytes of every blob): a state-sized file, an empty one, a small one in
// a subdirectory and one that does not compress.
func TestLooseObjectsReadByGit(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed to check the objects Stage writes: %v", err)
	}
	var state strings.Builder
	state.WriteString("# mailtwin state v1\n")
	for i := range 500 {
		fmt.Fprintf(&state, "%d %d \\Seen m:%032x\n", i+1, i+1_000_001, uint64(i)*2654435761)
	}
	noise := make([]byte, 300<<10)
	x := uint64(1)
	for i := range noise {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		noise[i] = byte(x)
	}
	want := map[string]string{
		"INBOX.state":     state.String(),
		"Empty.state":     "",
		"attachment.bin":  string(noise),
		"dir/small.state": "# mailtwin state v1\n1 2 - m:aa\n",
	}
	r := newRepo(t)
	c := commit(t, r, "work", want, "run")

	g, err := git.PlainOpen(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	co, err := g.CommitObject(plumbing.NewHash(c.Hash))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := co.Tree()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range want {
		f, err := tree.File("work/" + name)
		if err != nil {
			t.Errorf("go-git: %s: %v", name, err)
			continue
		}
		if got, err := f.Contents(); err != nil || got != content {
			t.Errorf("go-git reads work/%s as %d bytes (%v), want the %d staged", name, len(got), err, len(content))
		}
	}

	if out, err := exec.Command(gitBin, "-C", r.Dir(), "fsck", "--full", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
	for name, content := range want {
		out, err := exec.Command(gitBin, "-C", r.Dir(), "cat-file", "blob", c.Hash+":work/"+name).Output()
		if err != nil || string(out) != content {
			t.Errorf("git cat-file reads work/%s as %d bytes (%v), want the %d staged", name, len(out), err, len(content))
		}
	}
}

func TestCommitUnchangedIsNothingToCommit(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	fs := map[string]string{"a": "1\n", "b": "2\n"}
	commit(t, r, "work", fs, "first")
	stage(t, r, "work", fs)
	if c, err := r.Commit(ctx, "second"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Fatalf("Commit of unchanged files = %+v, %v, want ErrNothingToCommit", c, err)
	}
	// Changing and changing back is no change either.
	stage(t, r, "work", map[string]string{"a": "changed\n", "b": "2\n"})
	stage(t, r, "work", fs)
	if _, err := r.Commit(ctx, "third"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Fatalf("Commit after staging a change and undoing it = %v, want ErrNothingToCommit", err)
	}
	if log, _ := r.Log(ctx, 0); len(log) != 1 {
		t.Errorf("Log has %d commits, want 1", len(log))
	}
}

func TestStageRemovesDroppedFile(t *testing.T) {
	r := newRepo(t)
	commit(t, r, "work", map[string]string{"a": "1\n", "d/b": "2\n", "d/e/c": "3\n"}, "three")
	commit(t, r, "work", map[string]string{"a": "1\n"}, "one")
	wantFiles(t, files(t, r, "work"), map[string]string{"a": "1\n"})
	for _, gone := range []string{"work/d/b", "work/d/e/c", "work/d"} {
		if _, err := os.Lstat(filepath.Join(r.Dir(), filepath.FromSlash(gone))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("worktree %s still there (%v)", gone, err)
		}
	}
	// A file may become a directory and back.
	commit(t, r, "work", map[string]string{"a/x": "4\n"}, "a is a dir")
	wantFiles(t, files(t, r, "work"), map[string]string{"a/x": "4\n"})
	commit(t, r, "work", map[string]string{"a": "5\n"}, "a is a file")
	wantFiles(t, files(t, r, "work"), map[string]string{"a": "5\n"})
	// Dropping everything empties the prefix.
	commit(t, r, "work", map[string]string{}, "empty")
	wantFiles(t, files(t, r, "work"), map[string]string{})
	if _, err := os.Lstat(filepath.Join(r.Dir(), "work")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty prefix directory still there (%v)", err)
	}
}

func TestStageRemovesLeftoverTempFiles(t *testing.T) {
	r := newRepo(t)
	commit(t, r, "work", map[string]string{"a": "1\n"}, "one")
	junk := filepath.Join(r.Dir(), "work", ".a.tmp12345")
	if err := os.WriteFile(junk, []byte("half a fi"), 0o600); err != nil {
		t.Fatal(err)
	}
	stage(t, r, "work", map[string]string{"a": "1\n"})
	if _, err := os.Lstat(junk); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temp file still there (%v)", err)
	}
}

func TestStageOnlyTouchesItsPrefix(t *testing.T) {
	r := newRepo(t)
	commit(t, r, "work", map[string]string{"INBOX.state": "w\n"}, "work")
	notes := filepath.Join(r.Dir(), "notes.txt")
	if err := os.WriteFile(notes, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commit(t, r, "home", map[string]string{"INBOX.state": "h\n"}, "home")
	commit(t, r, "work-backup", map[string]string{"INBOX.state": "wb\n"}, "work-backup")
	stage(t, r, "home", map[string]string{})
	if _, err := r.Commit(context.Background(), "drop home"); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, files(t, r, "work"), map[string]string{"INBOX.state": "w\n"})
	wantFiles(t, files(t, r, "work-backup"), map[string]string{"INBOX.state": "wb\n"})
	wantFiles(t, files(t, r, "home"), map[string]string{})
	if got, ok := readWorktree(t, r, "work/INBOX.state"); !ok || got != "w\n" {
		t.Errorf("worktree work/INBOX.state = %q, %v", got, ok)
	}
	if got, ok := readWorktree(t, r, "notes.txt"); !ok || got != "mine\n" {
		t.Errorf("untracked notes.txt outside the prefix = %q, %v, want it untouched", got, ok)
	}
	// The whole tree holds no untracked file.
	wantFiles(t, files(t, r, ""), map[string]string{"work/INBOX.state": "w\n", "work-backup/INBOX.state": "wb\n"})
}

func TestStageRejectsBadPaths(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	for _, prefix := range []string{"", "/abs", "../up", "a/../b", "a/", ".git", "x/.GIT", "./a", `a\b`} {
		if err := r.Stage(ctx, prefix, nil); err == nil {
			t.Errorf("Stage(%q) = nil, want an error", prefix)
		}
	}
	for _, name := range []string{"", "/abs", "../up", "a//b", ".git/config", "d/.git", "."} {
		if err := r.Stage(ctx, "work", map[string][]byte{name: nil}); err == nil {
			t.Errorf("Stage with file %q = nil, want an error", name)
		}
	}
	err := r.Stage(ctx, "work", map[string][]byte{"a": nil, "a/b": nil})
	if err == nil || !strings.Contains(err.Error(), "both a file and the directory") {
		t.Errorf("Stage with a and a/b = %v, want a file/directory error", err)
	}
	if _, err := os.Lstat(filepath.Join(r.Dir(), "work")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rejected Stage wrote to the worktree (%v)", err)
	}
}

func TestFilesReadsHEADNotWorktree(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	commit(t, r, "work", map[string]string{"a": "committed\n"}, "one")
	wt := filepath.Join(r.Dir(), "work", "a")
	if err := os.WriteFile(wt, []byte("garbage from a killed run"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, files(t, r, "work"), map[string]string{"a": "committed\n"})
	// Not even with the committed file's size: Files reads the worktree
	// only where it is still the file the index staged.
	if err := os.WriteFile(wt, []byte("COMMITTED\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, files(t, r, "work"), map[string]string{"a": "committed\n"})

	// Staged but uncommitted content is not read back either.
	stage(t, r, "work", map[string]string{"a": "staged\n", "b": "new\n"})
	wantFiles(t, files(t, r, "work"), map[string]string{"a": "committed\n"})

	// Staging the committed content again repairs the worktree, and
	// there is nothing to commit.
	if err := os.WriteFile(wt, []byte("more garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	stage(t, r, "work", map[string]string{"a": "committed\n"})
	if got, _ := readWorktree(t, r, "work/a"); got != "committed\n" {
		t.Errorf("worktree work/a = %q after Stage, want it repaired", got)
	}
	if _, err := r.Commit(ctx, "two"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Errorf("Commit = %v, want ErrNothingToCommit", err)
	}
}

func TestLog(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	var made []gitstate.Commit
	for i := range 3 {
		made = append(made, commit(t, r, "work", map[string]string{"a": fmt.Sprint(i)}, fmt.Sprintf("run %d\n\nbody %d", i, i)))
	}
	log, err := r.Log(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := subjects(log), []string{"run 2", "run 1", "run 0"}; !slices.Equal(got, want) {
		t.Errorf("Log(0) subjects = %q, want %q", got, want)
	}
	for i, c := range log {
		if c != made[2-i] {
			t.Errorf("Log(0)[%d] = %+v, want %+v", i, c, made[2-i])
		}
	}
	if !log[0].Time.After(log[1].Time) {
		t.Errorf("Log times %v, %v not newest first", log[0].Time, log[1].Time)
	}
	log, err = r.Log(ctx, 2)
	if got, want := subjects(log), []string{"run 2", "run 1"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Log(2) = %q, %v, want %q", got, err, want)
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	c0 := commit(t, r, "work", map[string]string{"a": "0"}, "run 0")
	c1 := commit(t, r, "work", map[string]string{"a": "1"}, "run 1")
	c2 := commit(t, r, "work", map[string]string{"a": "2"}, "run 2")
	for rev, want := range map[string]gitstate.Commit{
		"HEAD":                    c2,
		"@":                       c2,
		"main":                    c2,
		"HEAD~1":                  c1,
		"HEAD^":                   c1,
		"HEAD~2":                  c0,
		"HEAD~0":                  c2,
		"main~1":                  c1,
		c0.Hash:                   c0,
		c1.Short:                  c1,
		strings.ToUpper(c1.Short): c1,
		c2.Hash[:4]:               c2,
		c2.Short + "~2":           c0,
		c1.Hash + "^":             c0,
	} {
		got, err := r.Resolve(ctx, rev)
		if err != nil || got != want {
			t.Errorf("Resolve(%q) = %v, %v, want %s %q", rev, got.Short, err, want.Short, want.Subject)
		}
	}
	for _, rev := range []string{"deadbeef", "HEAD~3", "HEAD~9", "nosuchbranch", c0.Hash[:3], "", "0000000000000000000000000000000000000000", "HEAD@{1}", "a b", "HEAD~1:work/a", "HEAD^{tree}", "HEAD^2"} {
		_, err := r.Resolve(ctx, rev)
		if !errors.Is(err, gitstate.ErrUnknownRevision) || !strings.Contains(err.Error(), fmt.Sprintf("%q", rev)) {
			t.Errorf("Resolve(%q) = %v, want ErrUnknownRevision naming the revision", rev, err)
		}
	}
}

func TestResolveAmbiguous(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	commit(t, r, "work", map[string]string{"a": "0"}, "run 0")

	// Make commits (same tree, new messages; deterministic, since the
	// time is fixed) until two hashes share their first 4 digits.
	g, err := git.PlainOpen(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := g.Head()
	if err != nil {
		t.Fatal(err)
	}
	parent, err := g.CommitObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	var prefix string
	for i := 0; prefix == "" && i < 5000; i++ {
		c := &object.Commit{Author: parent.Author, Committer: parent.Committer, TreeHash: parent.TreeHash,
			ParentHashes: []plumbing.Hash{parent.Hash}, Message: fmt.Sprintf("filler %d\n", i)}
		obj := g.Storer.NewEncodedObject()
		if err := c.Encode(obj); err != nil {
			t.Fatal(err)
		}
		h, err := g.Storer.SetEncodedObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		if parent, err = g.CommitObject(h); err != nil {
			t.Fatal(err)
		}
		p := h.String()[:4]
		if _, dup := seen[p]; dup {
			prefix = p
		}
		seen[p] = h.String()
	}
	if prefix == "" {
		t.Fatal("no two commits share 4 leading digits")
	}
	if err := g.Storer.SetReference(plumbing.NewHashReference(ref.Name(), parent.Hash)); err != nil {
		t.Fatal(err)
	}
	_, err = r.Resolve(ctx, prefix)
	if !errors.Is(err, gitstate.ErrAmbiguousRevision) || !strings.Contains(err.Error(), fmt.Sprintf("%q", prefix)) {
		t.Errorf("Resolve(%q) = %v, want ErrAmbiguousRevision naming the revision", prefix, err)
	}
	if c, err := r.Resolve(ctx, seen[prefix][:12]); err != nil || c.Hash != seen[prefix] {
		t.Errorf("Resolve(%q) = %v, %v, want %s", seen[prefix][:12], c.Hash, err, seen[prefix])
	}
}

func TestRollback(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	v1 := map[string]string{"a": "1\n", "c": "c1\n"}
	c1 := commit(t, r, "work", v1, "run 1")
	c2 := commit(t, r, "work", map[string]string{"a": "2\n", "b": "b2\n"}, "run 2")
	c3 := commit(t, r, "work", map[string]string{"a": "3\n", "b": "b3\n", "d/e": "e3\n"}, "run 3")
	commit(t, r, "home", map[string]string{"x": "home\n"}, "home")
	stage(t, r, "work", map[string]string{"a": "staged, never committed\n"})

	rb, err := r.Rollback(ctx, c1.Short)
	if err != nil {
		t.Fatalf("Rollback(%s) = %v", c1.Short, err)
	}
	if want := "rollback to " + c1.Short + ": run 1"; rb.Subject != want {
		t.Errorf("rollback subject = %q, want %q", rb.Subject, want)
	}
	log, err := r.Log(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 5 || log[0] != rb || log[2] != c3 || log[3] != c2 || log[4] != c1 {
		t.Errorf("Log after rollback = %q, want the rollback on top of all earlier commits", subjects(log))
	}
	wantFiles(t, files(t, r, "work"), v1)
	wantFiles(t, files(t, r, "home"), map[string]string{}) // the whole tree is c1's
	old, err := r.FilesAt(ctx, c1.Hash, "")
	if err != nil {
		t.Fatal(err)
	}
	wantFiles(t, files(t, r, ""), stringMap(old))

	// The worktree and the index follow.
	for name, want := range map[string]string{"work/a": "1\n", "work/c": "c1\n"} {
		if got, ok := readWorktree(t, r, name); !ok || got != want {
			t.Errorf("worktree %s = %q, %v, want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"work/b", "work/d/e", "home/x"} {
		if _, ok := readWorktree(t, r, name); ok {
			t.Errorf("worktree %s still there after rollback", name)
		}
	}
	stage(t, r, "work", v1)
	if _, err := r.Commit(ctx, "same"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Errorf("Commit after rollback = %v, want ErrNothingToCommit", err)
	}

	if _, err := r.Rollback(ctx, c1.Hash); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Errorf("second Rollback(%s) = %v, want ErrNothingToCommit", c1.Short, err)
	}
	if _, err := r.Rollback(ctx, "deadbeef"); !errors.Is(err, gitstate.ErrUnknownRevision) {
		t.Errorf("Rollback(deadbeef) = %v, want ErrUnknownRevision", err)
	}
	// Rolling back the rollback is a rollback too.
	if _, err := r.Rollback(ctx, "HEAD~1"); err != nil {
		t.Fatalf("Rollback(HEAD~1) = %v", err)
	}
	wantFiles(t, files(t, r, "home"), map[string]string{"x": "home\n"})
}

func TestFilesAt(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	c1 := commit(t, r, "work", map[string]string{"a": "1\n", "b": "1\n"}, "one")
	commit(t, r, "work", map[string]string{"a": "2\n"}, "two")
	for _, rev := range []string{c1.Short, c1.Hash, "HEAD~1"} {
		got, err := r.FilesAt(ctx, rev, "work")
		if err != nil {
			t.Fatalf("FilesAt(%q) = %v", rev, err)
		}
		wantFiles(t, stringMap(got), map[string]string{"a": "1\n", "b": "1\n"})
	}
	got, err := r.FilesAt(ctx, "HEAD", "absent")
	if err != nil || len(got) != 0 {
		t.Errorf("FilesAt(HEAD, absent) = %v, %v, want empty", got, err)
	}
	if _, err := r.FilesAt(ctx, "HEAD", "work/a"); err == nil {
		t.Errorf("FilesAt(HEAD, work/a) = nil error, want not a directory")
	}
	if _, err := r.FilesAt(ctx, "nope", "work"); !errors.Is(err, gitstate.ErrUnknownRevision) {
		t.Errorf("FilesAt(nope) = %v, want ErrUnknownRevision", err)
	}
}

func TestCanceledContext(t *testing.T) {
	r := newRepo(t)
	commit(t, r, "work", map[string]string{"a": "1"}, "one")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	checks := map[string]error{}
	_, checks["Open"] = gitstate.Open(ctx, r.Dir())
	_, checks["Files"] = r.Files(ctx, "work")
	checks["Stage"] = r.Stage(ctx, "work", nil)
	_, checks["Commit"] = r.Commit(ctx, "x")
	_, checks["Log"] = r.Log(ctx, 0)
	_, checks["Resolve"] = r.Resolve(ctx, "HEAD")
	_, checks["Rollback"] = r.Rollback(ctx, "HEAD")
	_, checks["FilesAt"] = r.FilesAt(ctx, "HEAD", "work")
	_, checks["Lock"] = r.Lock(ctx)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with canceled context = %v, want context.Canceled", name, err)
		}
	}
	wantFiles(t, files(t, r, "work"), map[string]string{"a": "1"})
}

// TestStageKeepingAndFilesFlat: StageKeeping replaces a prefix's files
// but leaves the kept one as staged, in the next commit too; FilesFlat
// reads the files directly in the prefix and none below it.
func TestStageKeepingAndFilesFlat(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	commit(t, r, "p", map[string]string{"a.state": "1\n", "b.state": "2\n", "journal/actions": "run 1\n"}, "first")
	if err := r.StageKeeping(ctx, "p", bytesMap(map[string]string{"a.state": "3\n"}), "journal/actions"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, files(t, r, "p"), map[string]string{"a.state": "3\n", "journal/actions": "run 1\n"})
	if _, err := os.Lstat(filepath.Join(r.Dir(), "p", "journal", "actions")); err != nil {
		t.Errorf("the kept file left the worktree: %v", err)
	}
	flat, err := r.FilesFlat(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	wantFiles(t, stringMap(flat), map[string]string{"a.state": "3\n"})
}

// TestStageOnly checks that StageOnly stages the files it is given and
// leaves every other file under the prefix as staged, in the worktree
// and in the commit, where Stage would remove them.
func TestStageOnly(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	commit(t, r, "p", map[string]string{"a.state": "1\n", "b.state": "2\n", "journal/actions": "run 1\n"}, "first")
	// Staged and not committed: StageOnly keeps it too.
	if err := r.Stage(ctx, "p", bytesMap(map[string]string{"a.state": "3\n", "b.state": "2\n", "journal/actions": "run 1\n"})); err != nil {
		t.Fatal(err)
	}
	if err := r.StageOnly(ctx, "p", bytesMap(map[string]string{"journal/actions": "run 2\n"})); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, files(t, r, "p"), map[string]string{"a.state": "3\n", "b.state": "2\n", "journal/actions": "run 2\n"})
	for _, name := range []string{"a.state", "b.state"} {
		if _, err := os.Lstat(filepath.Join(r.Dir(), "p", name)); err != nil {
			t.Errorf("%s left the worktree: %v", name, err)
		}
	}
	// A new file, in a new directory.
	if err := r.StageOnly(ctx, "p", bytesMap(map[string]string{"notes/new": "x\n"})); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, "third"); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, files(t, r, "p"), map[string]string{"a.state": "3\n", "b.state": "2\n", "journal/actions": "run 2\n", "notes/new": "x\n"})
}

// TestStageReplacesSymlink: a worktree file that became a symbolic
// link is replaced by the file, and what the link pointed to is left
// alone: Stage writes files in place, but never through a link.
func TestStageReplacesSymlink(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	commit(t, r, "work", map[string]string{"a": "one\n"}, "one")
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("not the state's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wt := filepath.Join(r.Dir(), "work", "a")
	// StageOnly, which removes nothing first, as Stage, which removes
	// what is not a file of the state.
	for i, stageFn := range []func(map[string][]byte) error{
		func(m map[string][]byte) error { return r.StageOnly(ctx, "work", m) },
		func(m map[string][]byte) error { return r.Stage(ctx, "work", m) },
	} {
		content := fmt.Sprintf("version %d\n", i)
		if err := os.Remove(wt); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, wt); err != nil {
			t.Fatal(err)
		}
		if err := stageFn(map[string][]byte{"a": []byte(content)}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Commit(ctx, content); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(outside); err != nil || string(b) != "not the state's\n" {
			t.Errorf("the link's target holds %q, %v; want it untouched", b, err)
		}
		if fi, err := os.Lstat(wt); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("work/a is %v, %v; want a regular file", fi.Mode(), err)
		}
		wantFiles(t, files(t, r, "work"), map[string]string{"a": content})
	}
}
