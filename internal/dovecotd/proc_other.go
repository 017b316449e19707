//go:build !unix

package dovecotd

// Supported reports whether this platform can run Dovecot here.
const Supported = false

func alive(pid int) bool { return false }

func signal(pid int, kill bool) {}
