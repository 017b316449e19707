package gitstate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/mailtwin/mailtwin/gitstate"
)

// newBare creates an empty bare repository on branch main, the remote
// of the tests.
func newBare(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "remote.git")
	_, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{Bare: true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		t.Fatalf("PlainInit(bare) = %v", err)
	}
	return dir
}

// remoteLog returns the commits of the bare repository's main branch,
// newest first, failing on a merge commit.
func remoteLog(t testing.TB, bare string) []*object.Commit {
	t.Helper()
	g, err := git.PlainOpen(bare)
	if err != nil {
		t.Fatalf("PlainOpen(%s) = %v", bare, err)
	}
	ref, err := g.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		t.Fatalf("remote main: %v", err)
	}
	var out []*object.Commit
	for h := ref.Hash(); ; {
		c, err := g.CommitObject(h)
		if err != nil {
			t.Fatalf("remote commit %s: %v", h, err)
		}
		out = append(out, c)
		if c.NumParents() > 1 {
			t.Fatalf("remote commit %s is a merge: history is not linear", h)
		}
		if c.NumParents() == 0 {
			return out
		}
		h = c.ParentHashes[0]
	}
}

func commitSubjects(cs []*object.Commit) []string {
	var out []string
	for _, c := range cs {
		s, _, _ := strings.Cut(c.Message, "\n")
		out = append(out, s)
	}
	return out
}

func pull(t testing.TB, r *gitstate.Repo, o gitstate.Remote) gitstate.SyncResult {
	t.Helper()
	res, err := r.Pull(context.Background(), o)
	if err != nil {
		t.Fatalf("Pull = %v", err)
	}
	return res
}

func push(t testing.TB, r *gitstate.Repo, o gitstate.Remote) gitstate.SyncResult {
	t.Helper()
	res, err := r.Push(context.Background(), o)
	if err != nil {
		t.Fatalf("Push = %v", err)
	}
	return res
}

// clones returns two state repositories that both pulled the remote
// after a first commit of pair "base".
func clones(t *testing.T) (a, b *gitstate.Repo, o gitstate.Remote) {
	o = gitstate.Remote{URL: newBare(t)}
	a, b = newRepo(t), newRepo(t)
	commit(t, a, "base", map[string]string{"INBOX.state": "base\n"}, "sync: base")
	push(t, a, o)
	if res := pull(t, b, o); res.Action != "fast-forward" {
		t.Fatalf("Pull of new clone: Action = %q, want fast-forward", res.Action)
	}
	return a, b, o
}

// TestPullFastForward: a clone with no commits of its own takes the
// remote's, and its index and worktree follow, deletions included, so
// that staging the same content again is no change.
func TestPullFastForward(t *testing.T) {
	ctx := context.Background()
	a, b, o := clones(t)
	commit(t, a, "p1", map[string]string{"INBOX.state": "one\n"}, "sync: p1")
	stage(t, a, "base", map[string]string{})
	commit(t, a, "p2", map[string]string{"INBOX.state": "two\n"}, "sync: p2, base gone")
	push(t, a, o)

	if res := pull(t, b, o); res.Action != "fast-forward" {
		t.Fatalf("Pull: Action = %q, want fast-forward", res.Action)
	}
	if got := files(t, b, "p1"); got["INBOX.state"] != "one\n" {
		t.Errorf("Files(p1) = %v, want one", got)
	}
	if got := files(t, b, "base"); len(got) != 0 {
		t.Errorf("Files(base) = %v, want none (deleted on the remote)", got)
	}
	if _, err := os.Stat(filepath.Join(b.Dir(), "base")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("worktree still has base/: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(b.Dir(), "p2", "INBOX.state"))
	if err != nil || string(data) != "two\n" {
		t.Errorf("worktree p2/INBOX.state = %q, %v; want two", data, err)
	}
	stage(t, b, "p2", map[string]string{"INBOX.state": "two\n"})
	if _, err := b.Commit(ctx, "no change"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Errorf("Commit of unchanged files after Pull = %v, want ErrNothingToCommit (index out of step)", err)
	}
	if res := pull(t, b, o); res.Action != "up to date" {
		t.Errorf("second Pull: Action = %q, want up to date", res.Action)
	}
}

// TestPushRebasesDisjointPairs: two clones commit different pairs; the
// second push is refused, rebased onto the first and pushed again, and
// the remote's history is linear and holds both.
func TestPushRebasesDisjointPairs(t *testing.T) {
	a, b, o := clones(t)
	commit(t, a, "p1", map[string]string{"INBOX.state": "from a\n"}, "sync: p1 by a")
	commit(t, b, "p2", map[string]string{"INBOX.state": "from b\n"}, "sync: p2 by b\n\njournal of b")
	push(t, a, o)
	res := push(t, b, o)
	if res.Action != "rebased and pushed" || res.Rebased != 1 || res.Tries != 2 {
		t.Fatalf("Push = %+v, want rebased and pushed, 1 rebased, 2 tries", res)
	}
	log := remoteLog(t, o.URL)
	if got, want := strings.Join(commitSubjects(log), " | "), "sync: p2 by b | sync: p1 by a | sync: base"; got != want {
		t.Errorf("remote log = %s, want %s", got, want)
	}
	if !strings.Contains(log[0].Message, "journal of b") || log[0].Author.Name != gitstate.AuthorName {
		t.Errorf("replayed commit lost its message or author: %q by %v", log[0].Message, log[0].Author)
	}
	if got := files(t, b, "p1"); got["INBOX.state"] != "from a\n" {
		t.Errorf("b: Files(p1) = %v after rebase", got)
	}
	if got := files(t, b, "p2"); got["INBOX.state"] != "from b\n" {
		t.Errorf("b: Files(p2) = %v after rebase", got)
	}
	if res := pull(t, a, o); res.Action != "fast-forward" {
		t.Errorf("a: Pull = %q, want fast-forward", res.Action)
	}
	if got := files(t, a, "p2"); got["INBOX.state"] != "from b\n" {
		t.Errorf("a: Files(p2) = %v", got)
	}
}

// TestPullRebasesUnpushedCommit: a commit whose push failed is rebased
// by the next Pull when the remote moved on other pairs, and pushed.
func TestPullRebasesUnpushedCommit(t *testing.T) {
	a, b, o := clones(t)
	commit(t, a, "p1", map[string]string{"INBOX.state": "from a\n"}, "sync: p1 by a")
	push(t, a, o)
	commit(t, b, "p2", map[string]string{"INBOX.state": "from b\n"}, "sync: p2 by b")
	if res := pull(t, b, o); res.Action != "rebased" || res.Rebased != 1 {
		t.Fatalf("Pull = %+v, want rebased 1", res)
	}
	push(t, b, o)
	if got := len(remoteLog(t, o.URL)); got != 3 {
		t.Errorf("remote has %d commits, want 3", got)
	}
}

// TestPushConflictSamePair: both clones changed pair p1. The second
// push stops with a ConflictError naming p1, keeps its commit on a
// rejected ref, and leaves its branch on the remote's state, so a rerun
// starts from there.
func TestPushConflictSamePair(t *testing.T) {
	ctx := context.Background()
	a, b, o := clones(t)
	commit(t, a, "p1", map[string]string{"INBOX.state": "from a\n"}, "sync: p1 by a")
	commit(t, b, "p9", map[string]string{"INBOX.state": "b's other pair\n"}, "sync: p9 by b")
	mine := commit(t, b, "p1", map[string]string{"INBOX.state": "from b\n"}, "sync: p1 by b")
	theirs := push(t, a, o)

	_, err := b.Push(ctx, o)
	var ce *gitstate.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, gitstate.ErrConflict) {
		t.Fatalf("Push = %v, want a ConflictError", err)
	}
	if strings.Join(ce.Dirs, ",") != "p1" || ce.RemoteCommit != theirs.Head || ce.Local != mine.Hash ||
		!strings.HasPrefix(ce.Ref, gitstate.RejectedPrefix) {
		t.Errorf("ConflictError = %+v, want dirs p1, remote commit %s, local %s", ce, theirs.Head, mine.Hash)
	}
	kept, err := b.FilesAt(ctx, ce.Ref, "p1")
	if err != nil || string(kept["INBOX.state"]) != "from b\n" {
		t.Errorf("FilesAt(%s, p1) = %v, %v; want b's commit kept", ce.Ref, stringMap(kept), err)
	}
	if got := files(t, b, "p1"); got["INBOX.state"] != "from a\n" {
		t.Errorf("b: Files(p1) = %v after conflict, want the remote's", got)
	}
	if got := files(t, b, "p9"); len(got) != 0 {
		t.Errorf("b: Files(p9) = %v after conflict, want the remote's (none)", got)
	}
	// The worktree follows too (same size, other content: the index's
	// size-and-time check must not take b's old file for the new blob).
	if data, err := os.ReadFile(filepath.Join(b.Dir(), "p1", "INBOX.state")); err != nil || string(data) != "from a\n" {
		t.Errorf("b: worktree p1/INBOX.state = %q, %v; want the remote's", data, err)
	}
	if _, err := os.Stat(filepath.Join(b.Dir(), "p9")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("b: worktree still has p9/ after the reset: %v", err)
	}
	stage(t, b, "p1", map[string]string{"INBOX.state": "from a\n"})
	if _, err := b.Commit(ctx, "no change"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Errorf("Commit of the remote's content after the reset = %v, want ErrNothingToCommit", err)
	}
	if res := pull(t, b, o); res.Action != "up to date" {
		t.Errorf("rerun Pull = %q, want up to date", res.Action)
	}
	if got := len(remoteLog(t, o.URL)); got != 2 {
		t.Errorf("remote has %d commits, want 2 (base, a's)", got)
	}
}

// TestPullConflictSamePair: the same conflict found by Pull, for a
// commit a failed push left behind.
func TestPullConflictSamePair(t *testing.T) {
	a, b, o := clones(t)
	commit(t, a, "p1", map[string]string{"INBOX.state": "from a\n"}, "sync: p1 by a")
	push(t, a, o)
	commit(t, b, "p1", map[string]string{"INBOX.state": "from b\n"}, "sync: p1 by b")
	_, err := b.Pull(context.Background(), o)
	if !errors.Is(err, gitstate.ErrConflict) {
		t.Fatalf("Pull = %v, want ErrConflict", err)
	}
	if res := pull(t, b, o); res.Action != "up to date" {
		t.Errorf("rerun Pull = %q, want up to date", res.Action)
	}
}

// TestPushGivesUpAfterTries: with one try allowed, a refused push is
// an error and the local commit stays.
func TestPushGivesUpAfterTries(t *testing.T) {
	ctx := context.Background()
	a, b, o := clones(t)
	commit(t, a, "p1", map[string]string{"INBOX.state": "a\n"}, "sync: p1")
	push(t, a, o)
	mine := commit(t, b, "p2", map[string]string{"INBOX.state": "b\n"}, "sync: p2")
	o.PushTries = 1
	_, err := b.Push(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "gave up after 1 pushes") {
		t.Fatalf("Push with 1 try = %v, want gave up", err)
	}
	if log, _ := b.Log(ctx, 1); len(log) != 1 || log[0].Hash != mine.Hash {
		t.Errorf("b's HEAD = %v, want its commit %s kept", log, mine.Short)
	}
}

// TestPushFailureKeepsLocalCommit: a push to an unreachable remote
// fails and keeps the commit; once the remote is back, the next run's
// Pull finds the branch ahead and Push sends it.
func TestPushFailureKeepsLocalCommit(t *testing.T) {
	ctx := context.Background()
	a, _, o := clones(t)
	mine := commit(t, a, "p1", map[string]string{"INBOX.state": "a\n"}, "sync: p1")
	away := o.URL + ".away"
	if err := os.Rename(o.URL, away); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Push(ctx, o); err == nil {
		t.Fatal("Push to a missing remote = nil, want an error")
	}
	if log, _ := a.Log(ctx, 1); len(log) != 1 || log[0].Hash != mine.Hash {
		t.Fatalf("HEAD after failed push = %v, want %s", log, mine.Short)
	}
	if err := os.Rename(away, o.URL); err != nil {
		t.Fatal(err)
	}
	if res := pull(t, a, o); res.Action != "ahead" {
		t.Errorf("next Pull = %q, want ahead", res.Action)
	}
	push(t, a, o)
	if log := remoteLog(t, o.URL); log[0].Hash.String() != mine.Hash {
		t.Errorf("remote head = %s, want %s", log[0].Hash, mine.Hash)
	}
}

// TestRemoteCredentialsNotStored: a token goes neither into .git/config
// nor into the error of a failed fetch, and a URL with a password in it
// is refused.
func TestRemoteCredentialsNotStored(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	const token = "tok-3f9a1c-secret"
	_, err := r.Pull(ctx, gitstate.Remote{URL: "https://127.0.0.1:1/state.git", Token: token})
	if err == nil {
		t.Fatal("Pull from a closed port = nil, want an error")
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error holds the token: %v", err)
	}
	cfg, rerr := os.ReadFile(filepath.Join(r.Dir(), ".git", "config"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if strings.Contains(string(cfg), token) || !strings.Contains(string(cfg), "https://127.0.0.1:1/state.git") {
		t.Errorf(".git/config = %s, want the URL and no token", cfg)
	}
	_, err = r.Pull(ctx, gitstate.Remote{URL: "https://user:" + token + "@127.0.0.1:1/state.git"})
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("Pull with a password in the URL = %v, want a refusal that does not repeat it", err)
	}
}

// TestPullUnrelatedHistories: a clone that committed before it ever
// pulled (its own first commit) joins a remote with history of other
// pairs by rebasing its commits onto it.
func TestPullUnrelatedHistories(t *testing.T) {
	o := gitstate.Remote{URL: newBare(t)}
	a, b := newRepo(t), newRepo(t)
	commit(t, a, "p1", map[string]string{"INBOX.state": "a\n"}, "sync: p1")
	push(t, a, o)
	commit(t, b, "p2", map[string]string{"INBOX.state": "b\n"}, "sync: p2")
	if res := pull(t, b, o); res.Action != "rebased" || res.Rebased != 1 {
		t.Fatalf("Pull = %+v, want rebased 1", res)
	}
	push(t, b, o)
	if got := strings.Join(commitSubjects(remoteLog(t, o.URL)), " | "); got != "sync: p2 | sync: p1" {
		t.Errorf("remote log = %s", got)
	}
	if got := files(t, b, ""); len(got) != 2 {
		t.Errorf("Files() = %v, want both pairs", got)
	}
}

// TestRemoteRunPacks: commits whose blobs are in run packs (a commit
// of gitstate.RunPackMin or more changed files) push, rebase and pull
// as loose ones do.
func TestRemoteRunPacks(t *testing.T) {
	a, b, o := clones(t)
	many := func(who string) map[string]string {
		m := map[string]string{}
		for i := range gitstate.RunPackMin + 4 {
			m[fmt.Sprintf("folder%02d.state", i)] = fmt.Sprintf("%s %d\n", who, i)
		}
		return m
	}
	commit(t, a, "p1", many("a"), "sync: p1 by a")
	commit(t, b, "p2", many("b"), "sync: p2 by b")
	for _, r := range []*gitstate.Repo{a, b} {
		packs, err := filepath.Glob(filepath.Join(r.Dir(), ".git", "objects", "pack", "pack-*.pack"))
		if err != nil || len(packs) == 0 {
			t.Fatalf("%s: packs %v, %v; want the run pack of its commit", r.Dir(), packs, err)
		}
	}
	push(t, a, o)
	if res := push(t, b, o); res.Action != "rebased and pushed" {
		t.Fatalf("b: Push = %+v, want rebased and pushed", res)
	}
	if res := pull(t, a, o); res.Action != "fast-forward" {
		t.Fatalf("a: Pull = %q, want fast-forward", res.Action)
	}
	for _, r := range []*gitstate.Repo{a, b} {
		wantFiles(t, files(t, r, "p1"), many("a"))
		wantFiles(t, files(t, r, "p2"), many("b"))
	}
}
