package hclconfig_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/reconcile"
)

const accounts = `account "a" {
  host     = "imap.example.com"
  username = "alice"
  password = "pw"
}
account "b" {
  host     = "127.0.0.1"
  tls      = "none"
  username = "bob"
  password_command = ["pass", "show", "b"]
}
`

func noEnv(string) (string, bool) { return "", false }

func TestParseValid(t *testing.T) {
	src := accounts + `state {
  path = "st"
}
pair "p" {
  a      = "a"
  b      = "b"
  prefer = "b"
  defaults {
    direction   = "both"
    deletion    = "trash"
    max_deletes = "5%"
  }
  folder "Archive/**" {
    direction = "a-to-b"
    deletion  = "keep"
  }
  folder "Spam" { direction = "none" }
  map {
    a = "INBOX.Sent"
    b = "Sent Items"
  }
}
`
	cfg, diags, _ := hclconfig.Parse([]byte(src), "/etc/mt/c.hcl", hclconfig.Options{LookupEnv: noEnv})
	if diags.HasErrors() {
		t.Fatalf("Parse() diagnostics: %v", diags)
	}
	a, b := cfg.Account("a"), cfg.Account("b")
	if a.Port != 993 || a.TLS != hclconfig.TLSImplicit || a.Address() != "imap.example.com:993" || a.Password != "pw" {
		t.Errorf("account a = %+v, want implicit TLS on 993 with the password", a)
	}
	if b.Port != 143 || b.TLS != hclconfig.TLSNone || strings.Join(b.PasswordCommand, " ") != "pass show b" {
		t.Errorf("account b = %+v, want plain on 143 with password_command", b)
	}
	if cfg.State.Path != "/etc/mt/st" {
		t.Errorf("State.Path = %q, want it resolved beside the config", cfg.State.Path)
	}
	p := cfg.Pair("p")
	if p.Policy.Prefer != reconcile.B || p.Policy.MaxDeletes.String() != "5%" {
		t.Errorf("pair policy = %+v", p.Policy)
	}
	if got := p.Policy.For("Archive/2024/Q1"); got.Direction != reconcile.AToB || got.Deletion != reconcile.Keep {
		t.Errorf("For(Archive/2024/Q1) = %+v, want a-to-b keep", got)
	}
	if got := p.Policy.For("Spam"); got.Direction != reconcile.None || got.Deletion != reconcile.Trash {
		t.Errorf("For(Spam) = %+v, want none with the default deletion", got)
	}
	if got := p.Policy.For("INBOX"); got.Direction != reconcile.Both || got.Deletion != reconcile.Trash {
		t.Errorf("For(INBOX) = %+v, want the defaults", got)
	}
	if len(p.Maps) != 1 || p.Maps[0].B != "Sent Items" {
		t.Errorf("Maps = %+v", p.Maps)
	}
}

func TestParseDefaults(t *testing.T) {
	cfg, diags, _ := hclconfig.Parse([]byte(accounts+"pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n"), "dir/c.hcl", hclconfig.Options{LookupEnv: noEnv})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := cfg.Pairs[0]
	if p.Policy.Prefer != reconcile.A || p.Policy.MaxDeletes != reconcile.DefaultMaxDeletes ||
		p.Policy.Default != (reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}) {
		t.Errorf("defaults = %+v", p.Policy)
	}
	if cfg.State.Path != filepath.Join("dir", "mailtwin-state") {
		t.Errorf("State.Path = %q, want dir/mailtwin-state", cfg.State.Path)
	}
}

// TestParseErrors: one row per mistake; each must give a diagnostic with
// the summary, at the exact line:column, rendered with the source line.
func TestParseErrors(t *testing.T) {
	pair := "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n" // lines 12-15 after accounts
	tests := []struct {
		name, src, summary, pos, line string
	}{
		{"unknown attribute", strings.Replace(accounts, "  username = \"alice\"", "  usrname = \"alice\"\n  username = \"alice\"", 1) + pair,
			"Unsupported argument", "c.hcl:3:3", `usrname = "alice"`},
		{"unknown account", accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"nosuch\"\n}\n",
			"Unknown account", "c.hcl:14:7", `b = "nosuch"`},
		{"same account twice", accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"a\"\n}\n",
			"Pair of one account", "c.hcl:14:7", `b = "a"`},
		{"bad direction", accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n  defaults { direction = \"sideways\" }\n}\n",
			"Invalid direction", "c.hcl:15:26", "sideways"},
		{"bad deletion", accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n  folder \"X\" { deletion = \"shred\" }\n}\n",
			"Invalid deletion", "c.hcl:15:27", "shred"},
		{"bad tls", strings.Replace(accounts, `tls      = "none"`, `tls      = "ssl"`, 1) + pair,
			"Invalid tls", "c.hcl:8:14", `"ssl"`},
		{"bad prefer", accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n  prefer = \"c\"\n}\n",
			"Invalid prefer", "c.hcl:15:12", `prefer = "c"`},
		{"bad max_deletes", accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n  defaults { max_deletes = \"lots\" }\n}\n",
			"Invalid max_deletes", "c.hcl:15:28", "lots"},
		{"bad percentage", accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n  defaults { max_deletes = \"120%\" }\n}\n",
			"Invalid max_deletes", "c.hcl:15:28", "120%"},
		{"bad glob", accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n  folder \"[x\" {}\n}\n",
			"Invalid folder pattern", "c.hcl:15:3", `folder "[x"`},
		{"duplicate folder rule", accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n  folder \"X\" {}\n  folder \"X\" {}\n}\n",
			"Duplicate folder rule", "c.hcl:16:3", `folder "X"`},
		{"bad port", strings.Replace(accounts, `tls      = "none"`, `tls      = "none"`+"\n  port = 70000", 1) + pair,
			"Invalid port", "c.hcl:9:10", "70000"},
		{"plaintext to remote host", strings.Replace(accounts, `host     = "127.0.0.1"`, `host     = "imap.remote.example"`, 1) + pair,
			"Plain-text IMAP to a remote host", "c.hcl:8:14", `"none"`},
		{"no password", strings.Replace(accounts, "  password = \"pw\"\n", "", 1) + pair,
			"Missing password", "c.hcl:1:1", `account "a"`},
		{"both passwords", strings.Replace(accounts, "  password = \"pw\"\n", "  password = \"pw\"\n  password_command = [\"x\"]\n", 1) + pair,
			"Conflicting password settings", "c.hcl:5:22", `password_command`},
		{"duplicate account", accounts + "account \"a\" {\n  host = \"h\"\n  username = \"u\"\n  password = \"p\"\n}\n" + pair,
			"Duplicate account", "c.hcl:12:1", `account "a"`},
		{"duplicate pair", accounts + pair + pair,
			"Duplicate pair", "c.hcl:16:1", `pair "p"`},
		{"no pair", accounts, "Nothing to sync", "c.hcl:1:1", `account "a"`},
		{"unset env", strings.Replace(accounts, `password = "pw"`, `password = env("NOPE_PW")`, 1) + pair,
			"Error in function call", "c.hcl:4:14", `env("NOPE_PW")`},
		{"syntax error", accounts + "pair \"p\" {\n  a = \"a\n}\n", "", "c.hcl:13:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, files := hclconfig.Parse([]byte(tt.src), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("Parse() = %v, %v; want errors", cfg, diags)
			}
			var out bytes.Buffer
			hclconfig.WriteDiagnostics(&out, diags, files)
			text := out.String()
			if !strings.Contains(text, tt.pos) {
				t.Errorf("diagnostics lack position %s:\n%s", tt.pos, text)
			}
			if !strings.Contains(text, tt.summary) {
				t.Errorf("diagnostics lack %q:\n%s", tt.summary, text)
			}
			if !strings.Contains(text, tt.line) {
				t.Errorf("diagnostics lack the source line %q:\n%s", tt.line, text)
			}
		})
	}
}

func TestFunctions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(accounts, `password = "pw"`, `password = file("secret")`, 1)
	src = strings.Replace(src, `username = "alice"`, `username = lower(env("USER_A"))`, 1)
	env := func(k string) (string, bool) { return map[string]string{"USER_A": "ALICE"}[k], k == "USER_A" }
	cfg, diags, _ := hclconfig.Parse([]byte(src+"pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n"), filepath.Join(dir, "c.hcl"), hclconfig.Options{LookupEnv: env})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if a := cfg.Account("a"); a.Password != "s3cret" || a.Username != "alice" {
		t.Errorf("account a = %+v, want password from file() and username from env()", a)
	}
}

// The noisy second diagnostic after a failing function call is dropped.
func TestOneDiagnosticPerFailedCall(t *testing.T) {
	src := strings.Replace(accounts, `password = "pw"`, `password = env("NOPE")`, 1) + "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n"
	_, diags, _ := hclconfig.Parse([]byte(src), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d errors, want 1: %v", n, diags)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(accounts + "pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n"))
	f.Add([]byte("pair \"p\" { folder \"**\" { direction = 1 } }"))
	f.Add([]byte("account \"\" { port = \"x\" }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags, files := hclconfig.Parse(src, "f.hcl", hclconfig.Options{LookupEnv: noEnv})
		if cfg == nil && !diags.HasErrors() {
			t.Fatalf("nil config without errors")
		}
		hclconfig.WriteDiagnostics(&bytes.Buffer{}, diags, files)
	})
}
