package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestLockFromAnotherHost: a lock left by a run on another host cannot
// be checked by pid, so only its age tells it is stale. A lock ten
// minutes old blocks apply under the default lock_max_age (an hour):
// exit 1 naming the holder. With state { lock_max_age = "5m" } apply
// takes it over, syncs, and leaves no lock behind.
func TestLockFromAnotherHost(t *testing.T) {
	srv := imaptest.StartMem(t, userA, userB)
	tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
	tr.fixture(t).put(userA, "INBOX", "m1")
	tr.apply(t)
	tr.fixture(t).put(userA, "INBOX", "m2")

	repo, err := gitstate.Open(context.Background(), tr.state)
	if err != nil {
		t.Fatal(err)
	}
	lock := repo.LockPath()
	old := time.Now().Add(-10 * time.Minute)
	if err := os.WriteFile(lock, []byte("pid 4242\nhost other-host.example\nsince "+old.UTC().Format(time.RFC3339)+"\ntoken X\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}

	code, out := tr.mailtwin("apply")
	if code != 1 || !strings.Contains(out, "locked by pid 4242 on host other-host.example since") {
		t.Errorf("apply under another host's 10-minute-old lock, default lock_max_age: exit %d, want 1 naming the holder:\n%s", code, out)
	}
	if got := tr.fixture(t).contents(userB, "INBOX"); len(got) != 1 {
		t.Errorf("b INBOX = %q: the blocked run changed something", got)
	}

	cfg, err := os.ReadFile(tr.config)
	if err != nil {
		t.Fatal(err)
	}
	withAge := strings.Replace(string(cfg), "state { path = ", "state {\n  lock_max_age = \"5m\"\n  path = ", 1)
	withAge = strings.Replace(withAge, "\" }\n", "\"\n}\n", 1)
	if err := os.WriteFile(tr.config, []byte(withAge), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := tr.mailtwin("apply"); code != 0 {
		t.Fatalf("apply with lock_max_age = 5m under a 10-minute-old lock: exit %d, want 0:\n%s", code, out)
	}
	tr.fixture(t).want(userB, "INBOX", "m1 -", "m2 -")
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("the lock is still there after the run: %v", err)
	}
}
