package gitstate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/gitstate"
)

func lock(t *testing.T, r *gitstate.Repo) func() error {
	t.Helper()
	unlock, err := r.Lock(context.Background())
	if err != nil {
		t.Fatalf("Lock = %v", err)
	}
	return unlock
}

func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// writeLock plants a lock file as another run would have left it, last
// refreshed at mtime.
func writeLock(t *testing.T, r *gitstate.Repo, pid int, host string, since, mtime time.Time) {
	t.Helper()
	content := fmt.Sprintf("pid %d\nhost %s\nsince %s\n", pid, host, since.Format(time.RFC3339))
	if err := os.WriteFile(r.LockPath(), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(r.LockPath(), mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// wantOurs checks the lock file names this process.
func wantOurs(t *testing.T, r *gitstate.Repo) {
	t.Helper()
	b, err := os.ReadFile(r.LockPath())
	if err != nil {
		t.Fatalf("lock file: %v", err)
	}
	if want := fmt.Sprintf("pid %d\nhost %s\n", os.Getpid(), hostname(t)); !strings.HasPrefix(string(b), want) {
		t.Errorf("lock file = %q, want it to start %q", b, want)
	}
}

func TestLockHeld(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	unlock := lock(t, r)
	defer unlock()
	wantOurs(t, r)

	// A second Lock, on this Repo or on another for the same directory.
	other, err := gitstate.Open(ctx, r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	other.Clock = r.Clock // lock ages are measured on the clock
	for _, rr := range []*gitstate.Repo{r, other} {
		_, err := rr.Lock(ctx)
		if !errors.Is(err, gitstate.ErrLocked) {
			t.Fatalf("second Lock = %v, want ErrLocked", err)
		}
		var le *gitstate.LockedError
		if !errors.As(err, &le) || le.PID != os.Getpid() || le.Host != hostname(t) {
			t.Fatalf("second Lock = %#v, want a *LockedError naming this process", err)
		}
		want := fmt.Sprintf("state repo %s is locked by pid %d on host %s since %s",
			r.Dir(), os.Getpid(), hostname(t), le.Since.Format(time.RFC3339))
		if err.Error() != want {
			t.Errorf("second Lock error = %q, want %q", err, want)
		}
	}
	if _, err := os.Stat(r.LockPath()); err != nil {
		t.Errorf("lock file after failed Lock: %v", err)
	}
}

func TestUnlockRemovesLock(t *testing.T) {
	r := newRepo(t)
	unlock := lock(t, r)
	if err := unlock(); err != nil {
		t.Fatalf("unlock = %v", err)
	}
	if _, err := os.Stat(r.LockPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after unlock: %v, want it gone", err)
	}
	if err := unlock(); err != nil {
		t.Errorf("second unlock = %v, want the first result", err)
	}
	unlock = lock(t, r) // free again
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestUnlockLeavesATakenOverLock(t *testing.T) {
	r := newRepo(t)
	unlock := lock(t, r)
	now := time.Now()
	writeLock(t, r, 1, "elsewhere.invalid", now, now)
	if err := unlock(); err == nil {
		t.Errorf("unlock of a lock taken over = nil, want an error")
	}
	if _, err := os.Stat(r.LockPath()); err != nil {
		t.Errorf("unlock removed another run's lock: %v", err)
	}
}

func TestLockTakesOverDeadPID(t *testing.T) {
	// A process that has exited: its pid is free.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.ProcessState.Pid()

	r := newRepo(t)
	now := time.Now()
	r.Clock = func() time.Time { return now }
	writeLock(t, r, dead, hostname(t), now, now)
	unlock := lock(t, r)
	defer unlock()
	wantOurs(t, r)

	// The same pid on another host might be alive: only age tells.
	unlock()
	writeLock(t, r, dead, "elsewhere.invalid", now, now)
	if _, err := r.Lock(context.Background()); !errors.Is(err, gitstate.ErrLocked) {
		t.Errorf("Lock over a fresh lock from another host = %v, want ErrLocked", err)
	}
}

func TestLockTakesOverOldLock(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	now := time.Now()
	r.Clock = func() time.Time { return now }
	// Held by this (live) process, so only the age can make it stale.
	writeLock(t, r, os.Getpid(), "elsewhere.invalid", now.Add(-3*time.Hour), now.Add(-30*time.Minute))
	if _, err := r.Lock(ctx); !errors.Is(err, gitstate.ErrLocked) {
		t.Fatalf("Lock over a lock refreshed 30m ago = %v, want ErrLocked", err)
	}
	writeLock(t, r, os.Getpid(), "elsewhere.invalid", now.Add(-3*time.Hour), now.Add(-61*time.Minute))
	unlock := lock(t, r)
	wantOurs(t, r)
	unlock()

	// LockMaxAge shortens it.
	writeLock(t, r, os.Getpid(), hostname(t), now, now.Add(-30*time.Minute))
	r.LockMaxAge = 10 * time.Minute
	unlock = lock(t, r)
	wantOurs(t, r)
	unlock()
}

func TestLockUnreadableLockFile(t *testing.T) {
	r := newRepo(t)
	now := time.Now()
	r.Clock = func() time.Time { return now }
	if err := os.WriteFile(r.LockPath(), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := r.Lock(context.Background())
	var le *gitstate.LockedError
	if !errors.As(err, &le) || le.Host != "unknown" {
		t.Fatalf("Lock over an unreadable fresh lock = %v, want a LockedError for host unknown", err)
	}
	old := now.Add(-2 * time.Hour)
	if err := os.Chtimes(r.LockPath(), old, old); err != nil {
		t.Fatal(err)
	}
	unlock := lock(t, r)
	unlock()
}

func TestLockDiscardsUncommittedStage(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	commit(t, r, "work", map[string]string{"a": "committed\n"}, "one")
	// A run that staged and died before committing.
	stage(t, r, "work", map[string]string{"a": "never agreed\n", "b": "never agreed\n"})
	stage(t, r, "home", map[string]string{"x": "never agreed\n"})

	unlock := lock(t, r)
	defer unlock()
	if _, err := r.Commit(ctx, "next run"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Errorf("Commit after Lock = %v, want ErrNothingToCommit", err)
	}
	if got, _ := readWorktree(t, r, "work/a"); got != "committed\n" {
		t.Errorf("worktree work/a = %q, want the committed content", got)
	}
	for _, name := range []string{"work/b", "home/x"} {
		if _, ok := readWorktree(t, r, name); ok {
			t.Errorf("worktree %s, staged and never committed, still there", name)
		}
	}
}

func TestLockDiscardsStageBeforeFirstCommit(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	stage(t, r, "work", map[string]string{"a": "never agreed\n"})
	unlock := lock(t, r)
	defer unlock()
	if _, err := r.Commit(ctx, "next run"); !errors.Is(err, gitstate.ErrNothingToCommit) {
		t.Errorf("Commit after Lock = %v, want ErrNothingToCommit", err)
	}
	if _, ok := readWorktree(t, r, "work/a"); ok {
		t.Errorf("worktree work/a, staged and never committed, still there")
	}
}
