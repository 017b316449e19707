//go:build !unix

package imaptest

const canRunDovecot = false

func alive(pid int) bool { return false }

func signal(pid int, kill bool) {}
