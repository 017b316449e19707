//go:build unix

package dovecotd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Supported reports whether this platform can run Dovecot here.
const Supported = true

// alive reports whether process pid exists and is not a zombie (a
// daemonised master is reparented, and a container's init may not reap).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if _, serr := os.Stat("/proc/self"); serr != nil {
			return true // no procfs: trust kill
		}
		return false
	}
	// the state is the field after the parenthesised command name
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// signal sends SIGTERM, or SIGKILL when kill is set.
func signal(pid int, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	syscall.Kill(pid, sig)
}
