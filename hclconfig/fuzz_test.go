package hclconfig_test

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/reconcile"
)

// FuzzParse: no input makes Parse or WriteDiagnostics panic; a Config
// comes back exactly when there is no error, and then it keeps the
// invariants its fields document; every diagnostic with a range points
// into the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte(after(0)))
	f.Add([]byte(""))
	f.Add([]byte(`pair "p" { folder "**" { direction = 1 } }`))
	f.Add([]byte(`account "" { port = "x" }`))
	f.Add([]byte("account \"a\" {\n  host = \"h\"\n  username = \"u\"\n  password = env(\"X\")\n  port = 1e400\n}\n"))
	f.Add([]byte("pair \"p\" {\n  a = \"a\"\n  b = \"a\"\n  defaults {\n    max_deletes = true ? null : \"5%\"\n  }\n  map {\n    a = null\n    b = \"x\"\n  }\n}\n"))
	f.Add([]byte("state {\n  path = file(\"nope\")\n}\naccount \"a\" {\n\thost = \"[::1]\"\n\ttls = \"none\"\n}\n"))
	f.Add([]byte("account \"a\" {\n  host = \"h\"\n  username = \"u\"\n  password_command = [\"x\", null]\n}\n"))
	f.Add([]byte("pair \"p\" {\n  a = \"a\n}\n"))
	f.Add([]byte(after(14, `  a_prefix = "Work"`, `  b_prefix = "Backup/Work"`, `  match_special_use = false`, `  map {`, `    a = "Sent"`, `    b = "Backup/Work/Sent Items"`, `  }`)))
	f.Add([]byte(after(3, `  timeout = "1m30s"`)))
	f.Add([]byte(after(3, `  timeout = 30`)))
	f.Add([]byte(after(3, `  tls_ca_file = "nope.pem"`, `  tls_server_name = "mail.example.test"`)))
	f.Add([]byte(after(9, `  tls_ca_file = "nope.pem"`, `  tls_server_name = ""`)))
	f.Add([]byte(after(14, `  a_prefix = "/Work/"`, `  b_prefix = "a//b\t*"`, `  match_special_use = "maybe"`)))

	dir := f.TempDir()
	filename := filepath.Join(dir, "f.hcl")
	lookup := env(map[string]string{"X": "1", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags, files := hclconfig.Parse(src, filename, hclconfig.Options{LookupEnv: lookup})
		if (cfg == nil) != diags.HasErrors() {
			t.Fatalf("Parse() = %v with diagnostics %v: a config must come back exactly when there is no error", cfg, diags)
		}
		for _, d := range diags {
			if d.Subject != nil && (d.Subject.Filename != filename || d.Subject.Start.Line < 1 || d.Subject.Start.Column < 1) {
				t.Errorf("diagnostic %q at %v: not in %s", d.Summary, d.Subject, filename)
			}
		}
		if err := hclconfig.WriteDiagnostics(io.Discard, diags, files); err != nil {
			t.Fatal(err)
		}
		if cfg != nil {
			checkInvariants(t, cfg)
		}
	})
}

// checkInvariants checks what Config's documentation promises.
func checkInvariants(t *testing.T, cfg *hclconfig.Config) {
	t.Helper()
	if cfg.State.Path == "" {
		t.Errorf("State.Path is empty")
	}
	names := map[string]bool{}
	for _, a := range cfg.Accounts {
		if a.Name == "" || names[a.Name] || a.Host == "" || a.Username == "" || a.Port < 1 || a.Port > 65535 {
			t.Errorf("invalid account %+v", a)
		}
		if a.TLS < hclconfig.TLSImplicit || a.TLS > hclconfig.TLSNone {
			t.Errorf("account %q: TLS %d", a.Name, a.TLS)
		}
		if len(a.PasswordCommand) > 0 && (a.Password != "" || a.PasswordCommand[0] == "") {
			t.Errorf("account %q: password %q and command %q", a.Name, a.Password, a.PasswordCommand)
		}
		if (a.TLSCAFile == "") != (len(a.TLSCAs) == 0) || (a.TLS == hclconfig.TLSNone && (a.TLSCAFile != "" || a.TLSServerName != "")) {
			t.Errorf("account %q: TLS %v, CA file %q with %d certificates, server name %q", a.Name, a.TLS, a.TLSCAFile, len(a.TLSCAs), a.TLSServerName)
		}
		if a.Timeout < 0 {
			t.Errorf("account %q: timeout %v", a.Name, a.Timeout)
		}
		names[a.Name] = true
	}
	if len(cfg.Pairs) == 0 {
		t.Errorf("no pair")
	}
	pairs := map[string]bool{}
	for _, p := range cfg.Pairs {
		if p.Name == "" || pairs[p.Name] || !names[p.A] || !names[p.B] || p.A == p.B {
			t.Errorf("invalid pair %+v", p)
		}
		pairs[p.Name] = true
		if p.Policy.Force || (p.Policy.Prefer != reconcile.A && p.Policy.Prefer != reconcile.B) {
			t.Errorf("pair %q: policy %+v", p.Name, p.Policy)
		}
		patterns := map[string]bool{}
		for _, r := range p.Policy.Rules {
			if patterns[r.Pattern] || reconcile.ValidGlob(r.Pattern) != nil {
				t.Errorf("pair %q: rule %+v", p.Name, r)
			}
			patterns[r.Pattern] = true
			_ = r.Direction.String() + r.Deletion.String() // in range
		}
		_ = p.Policy.Default.Direction.String() + p.Policy.Default.Deletion.String() + p.Policy.MaxDeletes.String()
		if _, err := reconcile.ParseLimit(p.Policy.MaxDeletes.String()); err != nil {
			t.Errorf("pair %q: max_deletes %v: %v", p.Name, p.Policy.MaxDeletes, err)
		}
		seen := [2]map[string]bool{{}, {}}
		for _, m := range p.Policy.Naming.Maps {
			if m.A == "" || m.B == "" || seen[0][m.A] || seen[1][m.B] {
				t.Errorf("pair %q: map %+v", p.Name, m)
			}
			seen[0][m.A], seen[1][m.B] = true, true
		}
		for i, pre := range p.Policy.Naming.Prefix {
			if pre == "" {
				continue
			}
			bad := strings.HasPrefix(pre, "/") || strings.HasSuffix(pre, "/") || strings.Contains(pre, "//") || strings.ContainsAny(pre, "*%")
			for _, r := range pre {
				bad = bad || unicode.IsControl(r)
			}
			if bad {
				t.Errorf("pair %q: prefix of %v %q", p.Name, reconcile.Side(i), pre)
			}
		}
	}
}
