package hclconfig_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/reconcile"
)

// env is a LookupEnv over a fixed map.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func noEnv(string) (string, bool) { return "", false }

// errorCount counts the errors among diags.
func errorCount(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

const fullConfig = `# every feature of the schema
state {
  path   = "./state-repo"
  remote = "ssh://git@git.example.com/ops/mail-state.git"
}

account "work" {
  host     = "imap.example.com"
  username = lower("Alice@Example.COM")
  password = env("WORK_PW")
}

account "backup" {
  host             = "imap.backup.example"
  port             = 10993
  tls              = "implicit"
  username         = "alice"
  password_command = ["pass", "show", "backup"]
  timeout          = "2m30s"
}

account "local" {
  host               = "127.0.0.1"
  tls                = "none"
  insecure_plaintext = false
  username           = upper("bob")
  password           = file("secret.txt")
}

account "office" {
  host     = "mail.office.example"
  tls      = "starttls"
  username = "carol"
  password = "hunter2"
}

pair "work-backup" {
  a      = "work"
  b      = "backup"
  prefer = "b"

  b_prefix          = "Backup/Work"
  match_special_use = false

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
  folder "Drafts" { deletion = "propagate" }

  map {
    a = "INBOX.Sent"
    b = "Sent Items"
  }
  map {
    a = "INBOX.Trash"
    b = "Deleted Items"
  }
}

pair "local-office" {
  a = "local"
  b = "office"

  a_prefix          = "INBOX/Office"
  b_prefix          = ""
  match_special_use = true

  defaults {
    max_deletes = 100
  }
}
`

func TestParseFullConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	filename := filepath.Join(dir, "mailtwin.hcl")
	cfg, diags, _ := hclconfig.Parse([]byte(fullConfig), filename, hclconfig.Options{LookupEnv: env(map[string]string{"WORK_PW": "w0rk"})})
	if len(diags) > 0 {
		t.Fatalf("Parse() diagnostics: %v", diags)
	}
	trash := reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Trash}
	want := &hclconfig.Config{
		Filename: filename,
		State: hclconfig.State{
			Path:       filepath.Join(dir, "state-repo"),
			Remote:     "ssh://git@git.example.com/ops/mail-state.git",
			RemoteKind: hclconfig.RemoteSSH,
			Branch:     "main",
		},
		Accounts: []hclconfig.Account{
			{Name: "work", Host: "imap.example.com", Port: 993, TLS: hclconfig.TLSImplicit, Username: "alice@example.com", Password: "w0rk"},
			{Name: "backup", Host: "imap.backup.example", Port: 10993, TLS: hclconfig.TLSImplicit, Username: "alice", PasswordCommand: []string{"pass", "show", "backup"}, Timeout: 150 * time.Second},
			{Name: "local", Host: "127.0.0.1", Port: 143, TLS: hclconfig.TLSNone, Username: "BOB", Password: "s3cret"},
			{Name: "office", Host: "mail.office.example", Port: 143, TLS: hclconfig.TLSStartTLS, Username: "carol", Password: "hunter2", PasswordInFile: true},
		},
		Pairs: []hclconfig.Pair{
			{
				Name: "work-backup", A: "work", B: "backup",
				Policy: reconcile.Policy{
					Rules: []reconcile.Rule{
						{Pattern: "Archive/**", FolderPolicy: reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Keep}},
						{Pattern: "Spam", FolderPolicy: reconcile.FolderPolicy{Direction: reconcile.None, Deletion: reconcile.Trash}},
						{Pattern: "Drafts", FolderPolicy: reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}},
					},
					Default:    trash,
					MaxDeletes: reconcile.Limit{Percent: true, Value: 5},
					Prefer:     reconcile.B,
					Naming: reconcile.Naming{
						Prefix:      [2]string{"", "Backup/Work"},
						Maps:        []reconcile.NameMap{{A: "INBOX.Sent", B: "Sent Items"}, {A: "INBOX.Trash", B: "Deleted Items"}},
						IgnoreRoles: true,
					},
				},
			},
			{
				Name: "local-office", A: "local", B: "office",
				Policy: reconcile.Policy{
					Default:    reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate},
					MaxDeletes: reconcile.Limit{Count: 100},
					Prefer:     reconcile.A,
					Naming:     reconcile.Naming{Prefix: [2]string{"INBOX/Office", ""}},
				},
			},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Parse() =\n%#v\nwant\n%#v", cfg, want)
	}

	if got := cfg.Account("backup"); got != &cfg.Accounts[1] {
		t.Errorf("Account(backup) = %p, want %p", got, &cfg.Accounts[1])
	}
	if got := cfg.Account("nosuch"); got != nil {
		t.Errorf("Account(nosuch) = %v, want nil", got)
	}
	if got := cfg.Pair("local-office"); got != &cfg.Pairs[1] {
		t.Errorf("Pair(local-office) = %p, want %p", got, &cfg.Pairs[1])
	}
	if got := cfg.Pair("nosuch"); got != nil {
		t.Errorf("Pair(nosuch) = %v, want nil", got)
	}
	if got := cfg.Account("backup").Address(); got != "imap.backup.example:10993" {
		t.Errorf("Address() = %q, want imap.backup.example:10993", got)
	}
}

// TestParseDefaults checks every default: ports by TLS mode, prefer a,
// max_deletes 50%, direction both, deletion propagate, no prefixes, no
// maps, special-use folders matched by role, the state beside the config
// file.
func TestParseDefaults(t *testing.T) {
	src := `account "a" {
  host     = "imap.example.com"
  username = "alice"
  password = "pw"
}
account "b" {
  host     = "imap.example.net"
  tls      = "starttls"
  username = "bob"
  password = "pw"
}
account "c" {
  host     = "::1"
  tls      = "none"
  username = "carol"
  password = "pw"
}
pair "p" {
  a = "a"
  b = "b"
}
`
	for _, tt := range []struct{ filename, statePath string }{
		{"/etc/mailtwin/c.hcl", "/etc/mailtwin/mailtwin-state"},
		{"conf/c.hcl", filepath.Join("conf", "mailtwin-state")},
		{"c.hcl", "mailtwin-state"},
	} {
		cfg, diags, _ := hclconfig.Parse([]byte(src), tt.filename, hclconfig.Options{LookupEnv: noEnv})
		if len(diags) > 0 {
			t.Fatalf("Parse(%s) diagnostics: %v", tt.filename, diags)
		}
		if cfg.State.Path != tt.statePath || cfg.State.Remote != "" {
			t.Errorf("Parse(%s).State = %+v, want path %s and no remote", tt.filename, cfg.State, tt.statePath)
		}
		ports := []struct {
			name string
			port int
			tls  hclconfig.TLSMode
			addr string
		}{
			{"a", 993, hclconfig.TLSImplicit, "imap.example.com:993"},
			{"b", 143, hclconfig.TLSStartTLS, "imap.example.net:143"},
			{"c", 143, hclconfig.TLSNone, "[::1]:143"},
		}
		for _, w := range ports {
			a := cfg.Account(w.name)
			if a.Port != w.port || a.TLS != w.tls || a.Address() != w.addr || a.InsecurePlaintext {
				t.Errorf("account %s = %+v, want port %d, TLS %v, address %s", w.name, a, w.port, w.tls, w.addr)
			}
		}
		p := cfg.Pair("p")
		want := reconcile.Policy{
			Default:    reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate},
			MaxDeletes: reconcile.DefaultMaxDeletes,
			Prefer:     reconcile.A,
		}
		if !reflect.DeepEqual(p.Policy, want) {
			t.Errorf("pair p = %+v, want policy %+v", p, want)
		}
		if p.Policy.MaxDeletes.String() != "50%" {
			t.Errorf("MaxDeletes = %v, want 50%%", p.Policy.MaxDeletes)
		}
	}
}

// TestFolderRules: rules keep file order, the first match wins, unset
// fields take the pair's defaults, and an unmatched folder gets the
// defaults.
func TestFolderRules(t *testing.T) {
	src := `account "a" {
  host     = "imap.example.com"
  username = "alice"
  password = "pw"
}
account "b" {
  host     = "imap.example.net"
  username = "bob"
  password = "pw"
}
pair "p" {
  a = "a"
  b = "b"
  folder "Archive/2024" { deletion = "keep" }
  folder "Archive/**" { direction = "a-to-b" }
  folder "*" { direction = "none" }
  folder "**" { direction = "b-to-a" }
  defaults {
    deletion = "trash"
  }
}
`
	cfg, diags, _ := hclconfig.Parse([]byte(src), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
	if len(diags) > 0 {
		t.Fatalf("Parse() diagnostics: %v", diags)
	}
	pol := cfg.Pair("p").Policy
	var patterns []string
	for _, r := range pol.Rules {
		patterns = append(patterns, r.Pattern)
	}
	if got, want := strings.Join(patterns, " "), "Archive/2024 Archive/** * **"; got != want {
		t.Errorf("rule patterns = %s, want %s (file order)", got, want)
	}
	for _, tt := range []struct {
		folder string
		want   reconcile.FolderPolicy
	}{
		{"Archive/2024", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Keep}},
		{"Archive/2023", reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Trash}},
		{"Archive", reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Trash}},
		{"Archive/2024/Q1", reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Trash}},
		{"INBOX", reconcile.FolderPolicy{Direction: reconcile.None, Deletion: reconcile.Trash}},
		{"Lists/go", reconcile.FolderPolicy{Direction: reconcile.BToA, Deletion: reconcile.Trash}},
	} {
		if got := pol.For(tt.folder); got != tt.want {
			t.Errorf("For(%q) = %+v, want %+v", tt.folder, got, tt.want)
		}
	}
}

// TestNaming: a_prefix, b_prefix, match_special_use and the map blocks
// land in Policy.Naming.
func TestNaming(t *testing.T) {
	for _, tt := range []struct {
		name  string
		lines []string // inserted into base's pair p
		want  reconcile.Naming
	}{
		{"none", nil, reconcile.Naming{}},
		{"b_prefix", []string{`  b_prefix = "Backup/Work"`},
			reconcile.Naming{Prefix: [2]string{"", "Backup/Work"}}},
		{"a_prefix", []string{`  a_prefix = "INBOX"`},
			reconcile.Naming{Prefix: [2]string{"INBOX", ""}}},
		{"both prefixes, spaces, dots and accents", []string{`  a_prefix = "Old mail/2024.1"`, `  b_prefix = "Sauvegarde/Été"`},
			reconcile.Naming{Prefix: [2]string{"Old mail/2024.1", "Sauvegarde/Été"}}},
		{"empty prefix is the top level", []string{`  a_prefix = ""`, `  b_prefix = null`},
			reconcile.Naming{}},
		{"prefix from an expression", []string{`  b_prefix = "Backup/${lower("WORK")}"`},
			reconcile.Naming{Prefix: [2]string{"", "Backup/work"}}},
		{"match_special_use true", []string{`  match_special_use = true`},
			reconcile.Naming{}},
		{"match_special_use false", []string{`  match_special_use = false`},
			reconcile.Naming{IgnoreRoles: true}},
		{"match_special_use null", []string{`  match_special_use = null`},
			reconcile.Naming{}},
		{"maps in file order", []string{
			`  map {`, `    a = "INBOX.Sent"`, `    b = "Sent Items"`, `  }`,
			`  map {`, `    a = "Trash"`, `    b = "Sent"`, `  }`, // a B name may be another map's A name
		}, reconcile.Naming{Maps: []reconcile.NameMap{{A: "INBOX.Sent", B: "Sent Items"}, {A: "Trash", B: "Sent"}}}},
		{"everything", []string{
			`  a_prefix = "Work"`, `  b_prefix = "Backup/Work"`, `  match_special_use = false`,
			`  map {`, `    a = "Sent"`, `    b = "Backup/Work/Sent Items"`, `  }`,
		}, reconcile.Naming{
			Prefix:      [2]string{"Work", "Backup/Work"},
			Maps:        []reconcile.NameMap{{A: "Sent", B: "Backup/Work/Sent Items"}},
			IgnoreRoles: true,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, _ := hclconfig.Parse([]byte(after(14, tt.lines...)), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
			if cfg == nil || len(diags) > 0 {
				t.Fatalf("Parse() = %v, %v; want a config and no diagnostics", cfg, diags)
			}
			if got := cfg.Pair("p").Policy.Naming; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Naming = %+v, want %+v", got, tt.want)
			}
		})
	}
}

const envFileConfig = `account "a" {
  host     = "imap.example.com"
  username = "alice"
  password = PASSWORD
}
account "b" {
  host     = "imap.example.net"
  username = "bob"
  password = "pw"
}
pair "p" {
  a = "a"
  b = "b"
}
`

// parsePassword parses envFileConfig with password = expr and returns
// account a's password.
func parsePassword(t *testing.T, expr, filename string, opts hclconfig.Options) (string, hcl.Diagnostics) {
	t.Helper()
	src := strings.Replace(envFileConfig, "PASSWORD", expr, 1)
	cfg, diags, _ := hclconfig.Parse([]byte(src), filename, opts)
	if cfg == nil {
		return "", diags
	}
	return cfg.Account("a").Password, diags
}

func TestEnv(t *testing.T) {
	vars := env(map[string]string{"PW": "from-env", "EMPTY": ""})
	for _, tt := range []struct {
		expr, want, errDetail string
	}{
		{`env("PW")`, "from-env", ""},
		{`env("EMPTY")`, "", ""},
		{`"x-${env("PW")}"`, "x-from-env", ""},
		{`upper(env("PW"))`, "FROM-ENV", ""},
		{`env("UNSET_PW")`, "", `environment variable "UNSET_PW" is not set`},
		{`env(1)`, "", `environment variable "1" is not set`},
	} {
		got, diags := parsePassword(t, tt.expr, "c.hcl", hclconfig.Options{LookupEnv: vars})
		if tt.errDetail == "" {
			if len(diags) > 0 || got != tt.want {
				t.Errorf("password = %s: got %q, %v; want %q", tt.expr, got, diags, tt.want)
			}
			continue
		}
		if errorCount(diags) != 1 || !strings.Contains(diags[0].Detail, tt.errDetail) || diags[0].Summary != "Error in function call" {
			t.Errorf("password = %s: diagnostics %v, want one error in function call saying %s", tt.expr, diags, tt.errDetail)
		}
	}
}

// Without Options.LookupEnv, env() reads the process environment.
func TestEnvDefaultsToProcess(t *testing.T) {
	t.Setenv("MAILTWIN_HCLCONFIG_TEST_PW", "process-env")
	got, diags := parsePassword(t, `env("MAILTWIN_HCLCONFIG_TEST_PW")`, "c.hcl", hclconfig.Options{})
	if len(diags) > 0 || got != "process-env" {
		t.Errorf("password = %q, %v; want process-env", got, diags)
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"secret":          "s3cret\n",
		"crlf":            "s3cret\r\n",
		"sub/nested":      "deep",
		"binary":          "\xff\xfe",
		"sub/dir/.keepme": "",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	filename := filepath.Join(dir, "c.hcl")
	abs := filepath.ToSlash(filepath.Join(dir, "secret"))
	for _, tt := range []struct {
		expr, want, errDetail string
	}{
		{`file("secret")`, "s3cret", ""},
		{`file("crlf")`, "s3cret", ""},
		{`file("sub/nested")`, "deep", ""},
		{`file("./sub/../secret")`, "s3cret", ""},
		{`file("` + abs + `")`, "s3cret", ""},
		{`file("missing")`, "", "cannot read " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{`file("sub/dir")`, "", "not a regular file"},
		{`file("binary")`, "", "is not UTF-8 text"},
		{`file("")`, "", "the path is empty"},
	} {
		got, diags := parsePassword(t, tt.expr, filename, hclconfig.Options{LookupEnv: noEnv})
		if tt.errDetail == "" {
			if len(diags) > 0 || got != tt.want {
				t.Errorf("password = %s: got %q, %v; want %q", tt.expr, got, diags, tt.want)
			}
			continue
		}
		if errorCount(diags) != 1 || !strings.Contains(diags[0].Detail, tt.errDetail) ||
			diags[0].Subject == nil || diags[0].Subject.Start.Line != 4 || diags[0].Subject.Start.Column != 14 {
			t.Errorf("password = %s: diagnostics %v, want one error at 4:14 saying %s", tt.expr, diags, tt.errDetail)
		}
	}
}

// TestTimeout: timeout takes any positive duration time.ParseDuration
// reads, and an account without one has Timeout zero, so that the
// caller's default applies.
func TestTimeout(t *testing.T) {
	for _, tt := range []struct {
		line string
		want time.Duration
	}{
		{``, 0},
		{`  timeout = null`, 0},
		{`  timeout = "30s"`, 30 * time.Second},
		{`  timeout = "2m"`, 2 * time.Minute},
		{`  timeout = "1m30s"`, 90 * time.Second},
		{`  timeout = "1h"`, time.Hour},
		{`  timeout = "250ms"`, 250 * time.Millisecond},
		{`  timeout = lower("5S")`, 5 * time.Second},
	} {
		cfg, diags, _ := hclconfig.Parse([]byte(after(3, tt.line)), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
		if len(diags) > 0 {
			t.Errorf("Parse(%s) diagnostics: %v", tt.line, diags)
			continue
		}
		if got := cfg.Account("a").Timeout; got != tt.want {
			t.Errorf("Parse(%s): account a Timeout = %v, want %v", tt.line, got, tt.want)
		}
		if got := cfg.Account("b").Timeout; got != 0 {
			t.Errorf("Parse(%s): account b Timeout = %v, want 0 (not set)", tt.line, got)
		}
	}
}

// TestConnections: connections takes a whole number from 1 to
// MaxConnections; an account without it has Connections zero, so that
// DefaultConnections applies.
func TestConnections(t *testing.T) {
	for _, tt := range []struct {
		line string
		want int
	}{
		{``, 0},
		{`  connections = null`, 0},
		{`  connections = 1`, 1},
		{`  connections = 8`, 8},
		{`  connections = 16`, 16},
	} {
		cfg, diags, _ := hclconfig.Parse([]byte(after(3, tt.line)), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
		if len(diags) > 0 {
			t.Errorf("Parse(%s) diagnostics: %v", tt.line, diags)
			continue
		}
		if got := cfg.Account("a").Connections; got != tt.want {
			t.Errorf("Parse(%s): account a Connections = %d, want %d", tt.line, got, tt.want)
		}
	}
}

func TestTLSModeString(t *testing.T) {
	for m, want := range map[hclconfig.TLSMode]string{
		hclconfig.TLSImplicit: "implicit",
		hclconfig.TLSStartTLS: "starttls",
		hclconfig.TLSNone:     "none",
	} {
		if got := m.String(); got != want {
			t.Errorf("TLSMode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

// A warning alone does not reject the configuration.
func TestWarningKeepsConfig(t *testing.T) {
	src := strings.Replace(envFileConfig, "PASSWORD", `"pw"`+"\n  insecure_plaintext = true", 1)
	cfg, diags, _ := hclconfig.Parse([]byte(src), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
	if cfg == nil || len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || diags[0].Summary != "insecure_plaintext has no effect" {
		t.Fatalf("Parse() = %v, %v; want a config and one warning", cfg, diags)
	}
	if !cfg.Account("a").InsecurePlaintext {
		t.Errorf("InsecurePlaintext = false, want true")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	filename := filepath.Join(dir, "mailtwin.hcl")
	src := strings.Replace(envFileConfig, "PASSWORD", `"pw"`, 1)
	if err := os.WriteFile(filename, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags, files := hclconfig.Load(filename, hclconfig.Options{LookupEnv: noEnv})
	if len(diags) > 0 || cfg == nil || cfg.Filename != filename || files[filename] == nil {
		t.Fatalf("Load() = %v, %v, %v; want a config and its file", cfg, diags, files)
	}
	if want := filepath.Join(dir, "mailtwin-state"); cfg.State.Path != want {
		t.Errorf("State.Path = %q, want %q", cfg.State.Path, want)
	}

	cfg, diags, _ = hclconfig.Load(filepath.Join(dir, "missing.hcl"), hclconfig.Options{LookupEnv: noEnv})
	if cfg != nil || len(diags) != 1 || diags[0].Summary != "Cannot read the configuration file" || !strings.Contains(diags[0].Detail, "missing.hcl") {
		t.Errorf("Load(missing) = %v, %v; want one error naming the file", cfg, diags)
	}
}

// TestLockMaxAge: state's lock_max_age takes a positive duration; left
// out it is zero (gitstate's default applies); a bare number is an error
// at its position that suggests the unit.
func TestLockMaxAge(t *testing.T) {
	const accounts = "account \"a\" {\n  host = \"127.0.0.1\"\n  tls = \"none\"\n  username = \"u\"\n  password = \"p\"\n}\n" +
		"account \"b\" {\n  host = \"127.0.0.1\"\n  tls = \"none\"\n  username = \"v\"\n  password = \"p\"\n}\n" +
		"pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n"
	for _, tt := range []struct {
		state string
		want  time.Duration
		err   string
	}{
		{"state {\n}\n", 0, ""},
		{"state {\n  lock_max_age = \"10m\"\n}\n", 10 * time.Minute, ""},
		{"state {\n  lock_max_age = 600\n}\n", 0, `Did you mean "600s"?`},
		{"state {\n  lock_max_age = \"-1h\"\n}\n", 0, "greater than zero"},
	} {
		cfg, diags, _ := hclconfig.Parse([]byte(tt.state+accounts), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
		if tt.err != "" {
			if len(diags) != 1 || !strings.Contains(diags[0].Detail, tt.err) || diags[0].Subject == nil || diags[0].Subject.Start.Line != 2 || diags[0].Subject.Start.Column != 18 {
				t.Errorf("Parse(%q): diagnostics %v, want one at 2:18 saying %s", tt.state, diags, tt.err)
			}
			continue
		}
		if len(diags) > 0 {
			t.Errorf("Parse(%q) diagnostics: %v", tt.state, diags)
			continue
		}
		if cfg.State.LockMaxAge != tt.want {
			t.Errorf("Parse(%q): LockMaxAge = %v, want %v", tt.state, cfg.State.LockMaxAge, tt.want)
		}
	}
}

// TestCheckpoints: state's checkpoint_actions takes a whole number of 1
// or more and checkpoint_interval a positive duration; left out they
// are zero (the defaults apply); a bad value is an error at its position.
func TestCheckpoints(t *testing.T) {
	const accounts = "account \"a\" {\n  host = \"127.0.0.1\"\n  tls = \"none\"\n  username = \"u\"\n  password = \"p\"\n}\n" +
		"account \"b\" {\n  host = \"127.0.0.1\"\n  tls = \"none\"\n  username = \"v\"\n  password = \"p\"\n}\n" +
		"pair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n"
	for _, tt := range []struct {
		state    string
		actions  int
		interval time.Duration
		err      string
		column   int
	}{
		{"state {\n}\n", 0, 0, "", 0},
		{"state {\n  checkpoint_actions = 50\n  checkpoint_interval = \"30s\"\n}\n", 50, 30 * time.Second, "", 0},
		{"state {\n  checkpoint_actions = 0\n}\n", 0, 0, "checkpoint_actions must be a whole number of actions, 1 or more; got 0.", 24},
		{"state {\n  checkpoint_actions = 2.5\n}\n", 0, 0, "got 2.5.", 24},
		{"state {\n  checkpoint_interval = 60\n}\n", 0, 0, `Did you mean "60s"?`, 25},
	} {
		cfg, diags, _ := hclconfig.Parse([]byte(tt.state+accounts), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
		if tt.err != "" {
			if len(diags) != 1 || !strings.Contains(diags[0].Detail, tt.err) || diags[0].Subject == nil || diags[0].Subject.Start.Line != 2 || diags[0].Subject.Start.Column != tt.column {
				t.Errorf("Parse(%q): diagnostics %v, want one at 2:%d saying %s", tt.state, diags, tt.column, tt.err)
			}
			continue
		}
		if len(diags) > 0 {
			t.Errorf("Parse(%q) diagnostics: %v", tt.state, diags)
			continue
		}
		if cfg.State.CheckpointActions != tt.actions || cfg.State.CheckpointInterval != tt.interval {
			t.Errorf("Parse(%q): checkpoints every %d actions or %v, want %d or %v", tt.state, cfg.State.CheckpointActions, cfg.State.CheckpointInterval, tt.actions, tt.interval)
		}
	}
}
