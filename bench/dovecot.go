package main

import (
	"os"
	"path/filepath"

	"github.com/mailtwin/mailtwin/internal/dovecotd"
)

// password is the password of every benchmark account.
const password = "bench-secret"

// dovecot is one Dovecot instance (internal/dovecotd) with one user. It
// can be stopped and started again on the same port, so its Maildir can
// be swapped while it is down.
type dovecot struct {
	*dovecotd.Server
	user string
}

// newDovecot prepares (but does not start) an instance for user under a
// new directory in parent, which must have a short path.
func newDovecot(parent, name, userName string) (*dovecot, error) {
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s, err := dovecotd.New(dir, dovecotd.Config{Users: []string{userName}, Password: password})
	if err != nil {
		return nil, err
	}
	return &dovecot{Server: s, user: userName}, nil
}

// maildir is the user's Maildir (Dovecot keeps its indexes in it too).
func (d *dovecot) maildir() string { return d.MailDir(d.user) }
