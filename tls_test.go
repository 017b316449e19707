package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

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
			if !strings.Contains(errb.String(), "certificate is not trusted") || !strings.Contains(errb.String(), "set tls_ca_file") {
				t.Errorf("plan against a self-signed certificate: stderr:\n%s\nwant it to say the certificate is not trusted and to point at tls_ca_file", errb.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
				t.Errorf("plan made the state repository: %v", err)
			}
		})
	}
}

// startTLSServer starts go-imap's memory server on 127.0.0.1 with users
// alice and bob and the certificate of cfg, with TLS from the first
// byte (imaptest.TLSImplicit) or offered by STARTTLS, and returns its
// address. imaptest.StartMemWith always uses a self-signed certificate
// for 127.0.0.1; these tests need one from a CA, for chosen names.
func startTLSServer(t *testing.T, mode imaptest.TLSMode, cfg *tls.Config) (host, port string) {
	t.Helper()
	mem := imapmemserver.New()
	for _, name := range []string{"alice", "bob"} {
		u := imapmemserver.NewUser(name, imaptest.Password)
		if err := u.Create("INBOX", nil); err != nil {
			t.Fatal(err)
		}
		mem.AddUser(u)
	}
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:   imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		Logger: log.New(io.Discard, "", 0), // refused handshakes are the point
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ = net.SplitHostPort(ln.Addr().String())
	switch mode {
	case imaptest.TLSImplicit:
		ln = tls.NewListener(ln, cfg)
	case imaptest.TLSStartTLS:
		opts.TLSConfig = cfg
	default:
		t.Fatalf("startTLSServer: TLS mode %v", mode)
	}
	srv := imapserver.New(opts)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return host, port
}

// writeTLSConfig writes dir/mailtwin.hcl: accounts a (alice) and b (bob)
// at host:port with TLS mode, each with the lines extra, in pair p.
func writeTLSConfig(t *testing.T, dir, host, port, mode, extra string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "state { path = %q }\n", filepath.Join(dir, "state"))
	for _, acc := range [][2]string{{"a", "alice"}, {"b", "bob"}} {
		fmt.Fprintf(&b, "account %q {\n  host = %q\n  port = %s\n  tls = %q\n  username = %q\n  password = %q\n%s}\n",
			acc[0], host, port, mode, acc[1], imaptest.Password, extra)
	}
	b.WriteString("pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n")
	path := filepath.Join(dir, "mailtwin.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// plan runs `mailtwin plan` with the config file at path.
func plan(t *testing.T, path string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), []string{"plan", "--config", path}, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

var tlsModes = []struct {
	srv  imaptest.TLSMode
	mode string
}{
	{imaptest.TLSImplicit, "implicit"},
	{imaptest.TLSStartTLS, "starttls"},
}

// TestTLSCAFile: a server whose certificate a private CA issued is
// refused with the system roots, and trusted with tls_ca_file naming the
// CA's PEM file (relative to the config file); a CA file of another CA
// does not make it trusted, and the error says so.
func TestTLSCAFile(t *testing.T) {
	t.Parallel()
	for _, tc := range tlsModes {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			ca := imaptest.NewCA(t)
			host, port := startTLSServer(t, tc.srv, ca.ServerTLS(t, "127.0.0.1"))
			dir := t.TempDir()
			ca.WriteFile(t, filepath.Join(dir, "ca.pem"))
			imaptest.NewCA(t).WriteFile(t, filepath.Join(dir, "other-ca.pem"))

			path := writeTLSConfig(t, dir, host, port, tc.mode, "")
			code, out, errb := plan(t, path)
			if code != 1 || !strings.Contains(errb, `account "a"`) || !strings.Contains(errb, "certificate is not trusted") || !strings.Contains(errb, "set tls_ca_file") {
				t.Errorf("plan without tls_ca_file: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1, the certificate not trusted, a hint at tls_ca_file", code, out, errb)
			}

			path = writeTLSConfig(t, dir, host, port, tc.mode, "  tls_ca_file = \"other-ca.pem\"\n")
			code, out, errb = plan(t, path)
			if want := "no certificate in tls_ca_file " + filepath.Join(dir, "other-ca.pem") + " signed it"; code != 1 || !strings.Contains(errb, `account "a"`) || !strings.Contains(errb, want) {
				t.Errorf("plan with the wrong CA: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and %q", code, out, errb, want)
			}

			path = writeTLSConfig(t, dir, host, port, tc.mode, "  tls_ca_file = \"ca.pem\"\n")
			code, out, errb = plan(t, path)
			if code != 0 || errb != "" {
				t.Errorf("plan with tls_ca_file: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0, nothing on stderr", code, out, errb)
			}
			if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
				t.Errorf("plan made the state repository: %v", err)
			}
		})
	}
}

// TestTLSServerName: a certificate for mail.example.test alone (no IP
// address) does not match when the account connects to 127.0.0.1, and
// the error names the certificate's name and tls_server_name; with
// tls_server_name = "mail.example.test" the plan succeeds; with a name
// the certificate is not for, it fails saying the certificate does not
// match that name.
func TestTLSServerName(t *testing.T) {
	t.Parallel()
	for _, tc := range tlsModes {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			ca := imaptest.NewCA(t)
			host, port := startTLSServer(t, tc.srv, ca.ServerTLS(t, "mail.example.test"))
			dir := t.TempDir()
			ca.WriteFile(t, filepath.Join(dir, "ca.pem"))
			for _, tt := range []struct {
				name string // tls_server_name; "" for none
				code int
				want []string // in stderr
			}{
				{"", 1, []string{`account "a"`, "certificate does not match 127.0.0.1: it is for mail.example.test", `tls_server_name = "mail.example.test"`}},
				{"wrong.example.test", 1, []string{`account "a"`, "certificate does not match wrong.example.test: it is for mail.example.test", `tls_server_name = "mail.example.test"`}},
				{"MAIL.example.test", 0, nil},
				{"mail.example.test", 0, nil},
			} {
				extra := "  tls_ca_file = \"ca.pem\"\n"
				if tt.name != "" {
					extra += fmt.Sprintf("  tls_server_name = %q\n", tt.name)
				}
				code, out, errb := plan(t, writeTLSConfig(t, dir, host, port, tc.mode, extra))
				if code != tt.code {
					t.Errorf("plan with tls_server_name %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.name, code, tt.code, out, errb)
					continue
				}
				if tt.code == 0 && errb != "" {
					t.Errorf("plan with tls_server_name %q: stderr:\n%s\nwant nothing", tt.name, errb)
				}
				for _, w := range tt.want {
					if !strings.Contains(errb, w) {
						t.Errorf("plan with tls_server_name %q: stderr:\n%s\nwant %q in it", tt.name, errb, w)
					}
				}
			}
		})
	}
}

// TestTLSCAFileMissing: a tls_ca_file that cannot be read stops the run
// before any connection, as a configuration error at its position that
// names the account and the file.
func TestTLSCAFileMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeTLSConfig(t, dir, "127.0.0.1", "1", "implicit", "  tls_ca_file = \"nope.pem\"\n")
	for _, cmd := range []string{"validate", "plan"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{cmd, "--config", path}, strings.NewReader(""), &out, &errb)
		for _, want := range []string{path + ":8:17: error: Invalid tls_ca_file", `account "a"`, "cannot read " + filepath.Join(dir, "nope.pem")} {
			if code != 4 || !strings.Contains(errb.String(), want) {
				t.Errorf("%s with a missing tls_ca_file: exit %d\nstderr:\n%s\nwant exit 4 and %q", cmd, code, errb.String(), want)
			}
		}
	}
}
