package dovecotd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestReapOrphans: of two running servers, the one whose owner has
// exited is stopped and its directory removed; the one whose owner runs
// (this test) is left as it is, and so is a directory with no owner.
func TestReapOrphans(t *testing.T) {
	if _, _, err := Find(); err != nil {
		if os.Getenv("MAILTWIN_REQUIRE_DOVECOT") == "1" || !errors.Is(err, ErrNotInstalled) {
			t.Fatal(err)
		}
		t.Skip("dovecot not installed")
	}
	parent, err := os.MkdirTemp("", "reap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	start := func(name string) *Server {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		d, err := New(dir, Config{Users: []string{"alice"}, Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Stop() })
		// Dovecot may listen before it writes its pid file.
		for deadline := time.Now().Add(10 * time.Second); d.masterPID() <= 0; {
			if time.Now().After(deadline) {
				t.Fatalf("no master.pid in %s", dir)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return d
	}
	orphan, owned := start("dcgone"), start("dcmine")
	if err := os.Mkdir(filepath.Join(parent, "dcnoowner"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A process that has exited: the owner of the orphan.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphan.dir, ownerFile), []byte(strconv.Itoa(gone.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Claim(owned.dir); err != nil {
		t.Fatal(err)
	}
	orphanPID, ownedPID := orphan.masterPID(), owned.masterPID()

	reaped := ReapOrphans(parent, "dc")
	if !slices.Equal(reaped, []string{orphan.dir}) {
		t.Errorf("ReapOrphans() = %q, want only %s", reaped, orphan.dir)
	}
	if alive(orphanPID) {
		t.Errorf("the orphan's master %d still runs", orphanPID)
	}
	if _, err := os.Stat(orphan.dir); !os.IsNotExist(err) {
		t.Errorf("the orphan's directory is still there (%v)", err)
	}
	if !alive(ownedPID) {
		t.Errorf("the master %d of a server whose owner runs was stopped", ownedPID)
	}
	for _, dir := range []string{owned.dir, filepath.Join(parent, "dcnoowner")} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s: %v, want it left alone", dir, err)
		}
	}
}
