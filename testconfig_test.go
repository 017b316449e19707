package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// loopbackAccount is the HCL of an account on a test server at addr
// (host:port, plain IMAP on loopback) for user. Its credentials are
// auth, lines of HCL such as `auth = "xoauth2"` and a token_command;
// with none, the test servers' password.
func loopbackAccount(name, addr, user string, auth ...string) string {
	host, port, _ := strings.Cut(addr, ":")
	if len(auth) == 0 {
		auth = []string{fmt.Sprintf("password = %q", imaptest.Password)}
	}
	return fmt.Sprintf("account %q {\n  host = %q\n  port = %s\n  tls = \"none\"\n  username = %q\n  %s\n}\n",
		name, host, port, user, strings.Join(auth, "\n  "))
}

// writeTestConfig writes a config in a new temporary directory: a state
// repository beside it, then the blocks (accounts, pairs) in order. It
// returns the config's path.
func writeTestConfig(t *testing.T, blocks ...string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "mailtwin.hcl")
	text := fmt.Sprintf("state { path = %q }\n", filepath.Join(dir, "state")) + strings.Join(blocks, "")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pairHCL is the HCL of pair name between accounts a and b, with body
// lines added (defaults, folder rules).
func pairHCL(name, a, b string, body ...string) string {
	extra := ""
	for _, l := range body {
		extra += "  " + l + "\n"
	}
	return fmt.Sprintf("pair %q {\n  a = %q\n  b = %q\n%s}\n", name, a, b, extra)
}
