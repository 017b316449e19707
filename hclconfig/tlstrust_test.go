package hclconfig_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/hclconfig"
)

// newCA returns a throwaway CA certificate named cn, PEM-encoded.
func newCA(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestTLSTrust: tls_ca_file is read when the file is loaded, resolved
// against the config file's directory like state.path, and every
// certificate of a bundle is kept; tls_server_name is kept as written.
func TestTLSTrust(t *testing.T) {
	dir := t.TempDir()
	one, two := newCA(t, "ca one"), newCA(t, "ca two")
	bundle := append(append([]byte("# a bundle\n"), one...), append([]byte("\nca two:\n"), two...)...)
	for name, b := range map[string][]byte{"ca.pem": one, "certs/bundle.pem": bundle} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	filename := filepath.Join(dir, "c.hcl")
	abs := filepath.ToSlash(filepath.Join(dir, "ca.pem"))
	for _, tt := range []struct {
		lines      []string
		file       string   // want TLSCAFile
		cns        []string // want the TLSCAs' common names
		serverName string
	}{
		{nil, "", nil, ""},
		{[]string{`  tls_ca_file = "ca.pem"`}, filepath.Join(dir, "ca.pem"), []string{"ca one"}, ""},
		{[]string{`  tls_ca_file = "./certs/../ca.pem"`}, filepath.Join(dir, "ca.pem"), []string{"ca one"}, ""},
		{[]string{`  tls_ca_file = "` + abs + `"`}, filepath.Join(dir, "ca.pem"), []string{"ca one"}, ""},
		{[]string{`  tls_ca_file = "certs/bundle.pem"`}, filepath.Join(dir, "certs", "bundle.pem"), []string{"ca one", "ca two"}, ""},
		{[]string{`  tls_server_name = "mail.example.test"`}, "", nil, "mail.example.test"},
		{[]string{`  tls_server_name = "192.0.2.7"`}, "", nil, "192.0.2.7"},
		{[]string{`  tls = "starttls"`, `  tls_ca_file = "ca.pem"`, `  tls_server_name = "mail.example.test"`}, filepath.Join(dir, "ca.pem"), []string{"ca one"}, "mail.example.test"},
		{[]string{`  tls_ca_file = null`, `  tls_server_name = null`}, "", nil, ""},
	} {
		src := after(3, tt.lines...)
		cfg, diags, _ := hclconfig.Parse([]byte(src), filename, hclconfig.Options{LookupEnv: noEnv})
		if len(diags) > 0 {
			t.Errorf("Parse(%q) diagnostics: %v", tt.lines, diags)
			continue
		}
		a := cfg.Account("a")
		var cns []string
		for _, c := range a.TLSCAs {
			cns = append(cns, c.Subject.CommonName)
		}
		if a.TLSCAFile != tt.file || strings.Join(cns, ",") != strings.Join(tt.cns, ",") || a.TLSServerName != tt.serverName {
			t.Errorf("Parse(%q): account a TLSCAFile %q, CAs %q, TLSServerName %q; want %q, %q, %q", tt.lines, a.TLSCAFile, cns, a.TLSServerName, tt.file, tt.cns, tt.serverName)
		}
		if b := cfg.Account("b"); b.TLSCAFile != "" || b.TLSCAs != nil || b.TLSServerName != "" {
			t.Errorf("Parse(%q): account b = %+v, want no TLS trust settings", tt.lines, b)
		}
	}
}

// TestTLSCAFileErrors: a CA file that cannot be used is an error at the
// attribute that names the account and the file and says what it must
// hold, so `mailtwin validate` finds it before any connection.
func TestTLSCAFileErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "ca")
	der, _ := pem.Decode(ca)
	broken := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der.Bytes[:len(der.Bytes)/2]})
	for name, b := range map[string][]byte{
		"text.pem":   []byte("not a certificate\n"),
		"empty.pem":  nil,
		"key.pem":    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"broken.pem": append(append([]byte{}, ca...), broken...),
		"der.crt":    der.Bytes,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	filename := filepath.Join(dir, "c.hcl")
	for _, tt := range []struct {
		file, detail string
	}{
		{"missing.pem", "cannot read " + filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{"adir", filepath.Join(dir, "adir") + " is not a regular file"},
		{"text.pem", filepath.Join(dir, "text.pem") + " holds no PEM certificate"},
		{"empty.pem", filepath.Join(dir, "empty.pem") + " holds no PEM certificate"},
		{"der.crt", filepath.Join(dir, "der.crt") + " holds no PEM certificate"},
		{"key.pem", filepath.Join(dir, "key.pem") + " holds no certificate, only EC PRIVATE KEY"},
		{"broken.pem", "PEM block 2 of " + filepath.Join(dir, "broken.pem") + " is not a valid certificate"},
	} {
		src := after(3, `  tls_ca_file = "`+tt.file+`"`)
		cfg, diags, files := hclconfig.Parse([]byte(src), filename, hclconfig.Options{LookupEnv: noEnv})
		if cfg != nil || errorCount(diags) != 1 {
			t.Errorf("tls_ca_file = %q: Parse() = %v, %v; want one error", tt.file, cfg, diags)
			continue
		}
		d := diags[0]
		if d.Summary != "Invalid tls_ca_file" || d.Subject == nil || d.Subject.Start.Line != 4 || d.Subject.Start.Column != 17 {
			t.Errorf("tls_ca_file = %q: %q at %v, want Invalid tls_ca_file at 4:17", tt.file, d.Summary, d.Subject)
		}
		for _, want := range []string{`account "a"`, tt.detail, "PEM file of the certificates to trust"} {
			if !strings.Contains(d.Detail, want) {
				t.Errorf("tls_ca_file = %q: detail %q lacks %q", tt.file, d.Detail, want)
			}
		}
		var out bytes.Buffer
		if err := hclconfig.WriteDiagnostics(&out, diags, files); err != nil {
			t.Fatal(err)
		}
		if want := filename + ":4:17: error: Invalid tls_ca_file"; !strings.Contains(out.String(), want) {
			t.Errorf("tls_ca_file = %q: WriteDiagnostics() lacks %q:\n%s", tt.file, want, out.String())
		}
	}
}
