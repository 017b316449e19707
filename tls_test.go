package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestUntrustedCertificateIsRefused: certificates are verified by
// default. Against a server with a self-signed certificate, for both TLS
// modes, `mailtwin plan` exits 1 with a message that names the account
// and says it is the certificate, and no state repository is made.
func TestUntrustedCertificateIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		srv  imaptest.TLSMode
		mode string
	}{
		{imaptest.TLSImplicit, "implicit"},
		{imaptest.TLSStartTLS, "starttls"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			srv := imaptest.StartMemWith(t, imaptest.MemOptions{TLS: tc.srv}, "alice", "bob")
			host, port, _ := strings.Cut(srv.Addr, ":")
			dir := t.TempDir()
			cfg := fmt.Sprintf(`state { path = %q }
account "a" {
  host     = %q
  port     = %s
  tls      = %q
  username = "alice"
  password = %q
}
account "b" {
  host     = %q
  port     = %s
  tls      = %q
  username = "bob"
  password = %q
}
pair "p" {
  a = "a"
  b = "b"
}
`, filepath.Join(dir, "state"), host, port, tc.mode, imaptest.Password, host, port, tc.mode, imaptest.Password)
			path := filepath.Join(dir, "mailtwin.hcl")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"plan", "--config", path}, strings.NewReader(""), &out, &errb)
			if code != 1 || !strings.Contains(errb.String(), "certificate") || !strings.Contains(errb.String(), `account "a"`) && !strings.Contains(errb.String(), `account "b"`) {
				t.Errorf("plan against a self-signed certificate: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and a certificate error naming the account", code, out.String(), errb.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
				t.Errorf("plan made the state repository: %v", err)
			}
		})
	}
}
