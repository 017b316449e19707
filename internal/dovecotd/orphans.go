package dovecotd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A test binary that go test ends at its -timeout runs no t.Cleanup: the
// Dovecot it started is a daemon and runs on, taking its share of the
// machine from every later test and benchmark. Claim records which
// process a server's directory belongs to, and ReapOrphans stops the
// servers whose process is gone.

// ownerFile holds, in a server's directory, the pid of the process that
// claimed it.
const ownerFile = "owner.pid"

// Claim records the calling process as the owner of dir, a server's
// directory: once the process is gone, ReapOrphans may stop the server.
func Claim(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// ReapOrphans stops the Dovecot of each directory in parent whose name
// starts with prefix and whose owner (see Claim) has exited, and removes
// the directory. A directory without an owner, or whose owner runs, is
// left alone; so is a process that is not that directory's Dovecot
// master (its pid reused). It returns the directories it removed.
func ReapOrphans(parent, prefix string) []string {
	if !Supported {
		return nil
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var reaped []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || owner <= 0 || alive(owner) {
			continue
		}
		d := &Server{dir: dir, conf: filepath.Join(dir, "dovecot.conf")}
		if pid := d.masterPID(); pid > 0 && alive(pid) {
			if !runs(pid, d.conf) {
				continue
			}
			// A master that has only just started lets SIGTERM wait
			// until it is up: SIGKILL after a while (its children see
			// it go and exit).
			if !stop(pid, false, 3*time.Second) && !stop(pid, true, 3*time.Second) {
				continue
			}
		}
		if os.RemoveAll(dir) == nil {
			reaped = append(reaped, dir)
		}
	}
	return reaped
}

// stop signals pid (SIGTERM, or SIGKILL when kill is set) and reports
// whether it is gone within wait.
func stop(pid int, kill bool, wait time.Duration) bool {
	signal(pid, kill)
	deadline := time.Now().Add(wait)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// runs reports whether process pid was started with conf on its command
// line: a Dovecot master of that directory. Without procfs it cannot
// tell, and says no.
func runs(pid int, conf string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte(conf))
}
