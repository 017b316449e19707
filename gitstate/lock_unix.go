//go:build unix

package gitstate

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this pid exists on this
// host. Signal 0 checks without signalling; EPERM means it exists but
// belongs to someone else.
func processAlive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
