package hclconfig_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/mailtwin/mailtwin/hclconfig"
)

// base is a valid configuration; the error cases edit it by line number.
var base = []string{
	/* 1 */ `account "a" {`,
	/* 2 */ `  host     = "imap.example.com"`,
	/* 3 */ `  username = "alice"`,
	/* 4 */ `  password = "pw"`,
	/* 5 */ `}`,
	/* 6 */ `account "b" {`,
	/* 7 */ `  host             = "127.0.0.1"`,
	/* 8 */ `  tls              = "none"`,
	/* 9 */ `  username         = "bob"`,
	/* 10 */ `  password_command = ["pass", "show", "b"]`,
	/* 11 */ `}`,
	/* 12 */ `pair "p" {`,
	/* 13 */ `  a = "a"`,
	/* 14 */ `  b = "b"`,
	/* 15 */ `}`,
}

// edit returns base with line n (1-based) replaced by lines; no lines
// deletes it.
func edit(n int, lines ...string) string {
	out := append([]string{}, base[:n-1]...)
	out = append(out, lines...)
	return strings.Join(append(out, base[n:]...), "\n") + "\n"
}

// after returns base with lines inserted after line n (0: at the top).
func after(n int, lines ...string) string {
	out := append([]string{}, base[:n]...)
	out = append(out, lines...)
	return strings.Join(append(out, base[n:]...), "\n") + "\n"
}

func TestBaseIsValid(t *testing.T) {
	cfg, diags, _ := hclconfig.Parse([]byte(after(0)), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
	if cfg == nil || len(diags) > 0 {
		t.Fatalf("Parse(base) = %v, %v", cfg, diags)
	}
}

// TestParseErrors has one row per mistake. Each must give exactly one
// error (unless errors says otherwise) with the summary, at the exact
// line:column, whose detail says what was expected, and WriteDiagnostics
// must show "c.hcl:L:C" and the source line.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		summary   string
		line, col int
		detail    string // a part of the detail
		errors    int    // 0 means 1
	}{
		{"unknown attribute", after(3, `  prot = 993`),
			"Unsupported argument", 4, 3, `Did you mean "port"?`, 0},
		{"unknown block", after(15, `acount "c" {}`),
			"Unsupported block type", 16, 1, `Did you mean "account"?`, 0},
		{"unknown block in pair", after(14, `  folders "x" {}`),
			"Unsupported block type", 15, 3, `Did you mean "folder"?`, 0},
		{"missing required attribute", edit(3),
			"Missing required argument", 1, 13, `The argument "username" is required`, 0},
		{"missing a", edit(13),
			"Missing required argument", 12, 10, `The argument "a" is required`, 0},
		{"null required attribute", edit(2, `  host = null`),
			"Missing required argument", 2, 10, `"host" is required`, 0},
		{"wrong type", after(8, `  port = "imaps"`),
			"Incorrect attribute value type", 9, 10, `attribute "port": a number is required`, 0},
		{"unknown account", edit(14, `  b = "nosuch"`),
			"Unknown account", 14, 7, `No account named "nosuch" is defined; the accounts are "a" and "b".`, 0},
		{"unknown account in other case", edit(14, `  b = "B"`),
			"Unknown account", 14, 7, `Did you mean "b"?`, 0},
		{"a equals b", edit(14, `  b = "a"`),
			"Pair of one account", 14, 7, `a pair needs two different accounts`, 0},
		{"bad tls", edit(8, `  tls = "ssl"`),
			"Invalid tls", 8, 9, `tls must be one of "implicit", "starttls" or "none"; got "ssl".`, 0},
		{"bad direction", after(14, `  defaults { direction = "sideways" }`),
			"Invalid direction", 15, 26, `direction must be one of "both", "a-to-b", "b-to-a" or "none"; got "sideways".`, 0},
		{"direction spelled with underscores", after(14, `  folder "X" { direction = "a_to_b" }`),
			"Invalid direction", 15, 28, `Did you mean "a-to-b"?`, 0},
		{"bad deletion", after(14, `  folder "X" { deletion = "shred" }`),
			"Invalid deletion", 15, 27, `deletion must be one of "propagate", "trash" or "keep"; got "shred".`, 0},
		{"bad prefer", after(14, `  prefer = "c"`),
			"Invalid prefer", 15, 12, `prefer must be one of "a" or "b"; got "c".`, 0},
		{"bad max_deletes", after(14, `  defaults { max_deletes = "lots" }`),
			"Invalid max_deletes", 15, 28, `a count such as 100 or a percentage between 0% and 100% such as "5%"; got "lots".`, 0},
		{"max_deletes over 100%", after(14, `  defaults { max_deletes = "120%" }`),
			"Invalid max_deletes", 15, 28, `got "120%"`, 0},
		{"max_deletes NaN", after(14, `  defaults { max_deletes = "NaN%" }`),
			"Invalid max_deletes", 15, 28, `got "NaN%"`, 0},
		{"max_deletes negative", after(14, `  defaults { max_deletes = -3 }`),
			"Invalid max_deletes", 15, 28, `got -3`, 0},
		{"max_deletes fraction", after(14, `  defaults { max_deletes = 2.5 }`),
			"Invalid max_deletes", 15, 28, `got 2.5`, 0},
		{"max_deletes wrong type", after(14, `  defaults { max_deletes = true }`),
			"Invalid max_deletes", 15, 28, `got a bool`, 0},
		{"invalid folder glob", after(14, `  folder "[x" {}`),
			"Invalid folder pattern", 15, 10, `"[x" is not a valid pattern`, 0},
		{"folder glob with an empty level", after(14, `  folder "Archive/" {}`),
			"Invalid folder pattern", 15, 10, `"Archive/" has an empty level`, 0},
		{"empty folder glob", after(14, `  folder "" {}`),
			"Invalid folder pattern", 15, 10, `must not be empty`, 0},
		{"port out of range", after(8, `  port = 70000`),
			"Invalid port", 9, 10, `port must be a whole number between 1 and 65535; got 70000.`, 0},
		{"huge number", after(8, `  port = 1e99999999`),
			"Number out of range", 9, 10, `too large or too small`, 0},
		{"huge number from a string", after(8, `  port = "1e99999999"`),
			"Invalid port", 9, 10, `got a number out of range.`, 0},
		{"port zero", after(8, `  port = 0`),
			"Invalid port", 9, 10, `got 0.`, 0},
		{"plain text to a remote host", edit(7, `  host = "imap.remote.example"`),
			"Plain-text IMAP to a remote host", 8, 22, `set insecure_plaintext = true`, 0},
		{"plain text to a remote IP", edit(7, `  host = "192.0.2.1"`),
			"Plain-text IMAP to a remote host", 8, 22, `in clear text to 192.0.2.1`, 0},
		{"invalid host", edit(2, `  host = "imap.example.com:993"`),
			"Invalid host", 2, 10, `without a scheme or a port`, 0},
		{"empty username", edit(3, `  username = ""`),
			"Invalid username", 3, 14, `must not be empty`, 0},
		{"neither password nor password_command", edit(4),
			"Missing password", 1, 1, `needs password`, 0},
		{"both password and password_command", after(4, `  password_command = ["x"]`),
			"Conflicting password settings", 5, 3, `sets both password and password_command`, 0},
		{"empty password_command", edit(10, `  password_command = []`),
			"Invalid password_command", 10, 22, `must start with a program name`, 0},
		{"duplicate account", after(11, `account "a" {`, `  host = "h"`, `  username = "u"`, `  password = "p"`, `}`),
			"Duplicate account", 12, 9, `An account named "a" is already defined at c.hcl:1:9.`, 0},
		{"empty account name", edit(6, `account "" {`),
			"Invalid account name", 6, 9, `must not be empty`, 2}, // and pair p's b = "b" is unknown
		{"duplicate pair", after(15, `pair "p" {`, `  a = "a"`, `  b = "b"`, `}`),
			"Duplicate pair", 16, 6, `A pair named "p" is already defined at c.hcl:12:6.`, 0},
		{"pair name unusable as a directory", edit(12, `pair "../p" {`),
			"Invalid pair name", 12, 6, `its directory in the state repository`, 0},
		{"duplicate folder pattern", after(14, `  folder "X" {}`, `  folder "X" { direction = "none" }`),
			"Duplicate folder rule", 16, 10, `already defined at c.hcl:15:10`, 0},
		{"duplicate defaults", after(14, `  defaults {}`, `  defaults {}`),
			"Duplicate defaults block", 16, 3, `the first one is at c.hcl:15:3`, 0},
		{"empty state remote", after(0, `state {`, `  remote = ""`, `}`),
			"Invalid state remote", 2, 12, `remote must not be empty`, 0},
		{"token in the remote URL", after(0, `state {`, `  remote = "https://bot:ghp_123@git.example.com/s.git"`, `}`),
			"Invalid state remote", 2, 12, `must not hold a password or token; use token_env`, 0},
		{"state remote of an unknown scheme", after(0, `state {`, `  remote = "ftp://git.example.com/s.git"`, `}`),
			"Invalid state remote", 2, 12, `got scheme ftp`, 0},
		{"plain http remote", after(0, `state {`, `  remote = "http://git.example.com/s.git"`, `}`),
			"Invalid state remote", 2, 12, `use https`, 0},
		{"branch without a remote", after(0, `state {`, `  branch = "main"`, `}`),
			"State remote missing", 2, 12, `branch is only used with a remote`, 0},
		{"token_env without a remote", after(0, `state {`, `  token_env = "T"`, `}`),
			"State remote missing", 2, 15, `token_env is only used with a remote`, 0},
		{"token_env for an ssh remote", after(0, `state {`, `  remote = "git@git.example.com:ops/s.git"`, `  token_env = "T"`, `}`),
			"Wrong remote for token_env", 3, 15, `token_env is for an https remote; this remote is ssh.`, 0},
		{"ssh_key_file for an https remote", after(0, `state {`, `  remote = "https://git.example.com/s.git"`, `  ssh_key_file = "id"`, `}`),
			"Wrong remote for ssh_key_file", 3, 18, `ssh_key_file is for an ssh remote; this remote is https.`, 0},
		{"token written into token_env", after(0, `state {`, `  remote = "https://git.example.com/s.git"`, `  token_env = "ghp_abc-123"`, `}`),
			"Invalid token_env", 3, 15, `the NAME of an environment variable`, 0},
		{"bad branch", after(0, `state {`, `  remote = "/srv/s.git"`, `  branch = "a..b"`, `}`),
			"Invalid branch", 3, 12, `Got "a..b".`, 0},
		{"duplicate state", after(0, `state {}`, `state {}`),
			"Duplicate state block", 2, 1, `Only one state block`, 0},
		{"duplicate folder mapping", after(14, `  map {`, `    a = "Sent"`, `    b = "Sent Items"`, `  }`, `  map {`, `    a = "Sent"`, `    b = "Sent Mail"`, `  }`),
			"Duplicate folder mapping", 20, 9, `Folder "Sent" of account a is already mapped at c.hcl:16:9.`, 0},
		{"duplicate folder mapping on b", after(14, `  map {`, `    a = "Sent"`, `    b = "Sent Items"`, `  }`, `  map {`, `    a = "INBOX.Sent"`, `    b = "Sent Items"`, `  }`),
			"Duplicate folder mapping", 21, 9, `Folder "Sent Items" of account b is already mapped at c.hcl:17:9.`, 0},
		{"empty folder mapping", after(14, `  map {`, `    a = ""`, `    b = "Sent Items"`, `  }`),
			"Invalid folder name", 16, 9, `a must name a folder of account a; it is empty.`, 0},
		{"prefix starting with a slash", after(14, `  b_prefix = "/Backup"`),
			"Invalid b_prefix", 15, 14, `b_prefix "/Backup" starts or ends with "/".`, 0},
		{"prefix ending with a slash", after(14, `  a_prefix = "Backup/Work/"`),
			"Invalid a_prefix", 15, 14, `a_prefix "Backup/Work/" starts or ends with "/".`, 0},
		{"prefix of a lone slash", after(14, `  b_prefix = "/"`),
			"Invalid b_prefix", 15, 14, `b_prefix "/" starts or ends with "/".`, 0},
		{"prefix with an empty level", after(14, `  b_prefix = "Backup//Work"`),
			"Invalid b_prefix", 15, 14, `b_prefix "Backup//Work" has an empty level.`, 0},
		{"prefix with a star", after(14, `  b_prefix = "Backup/*"`),
			"Invalid b_prefix", 15, 14, `b_prefix "Backup/*" holds "*", an IMAP LIST wildcard`, 0},
		{"prefix with a percent sign", after(14, `  a_prefix = "100% Work"`),
			"Invalid a_prefix", 15, 14, `a_prefix "100% Work" holds "%", an IMAP LIST wildcard`, 0},
		{"prefix with a tab", after(14, `  b_prefix = "Backup\tWork"`),
			"Invalid b_prefix", 15, 14, `b_prefix "Backup\tWork" holds the control character U+0009`, 0},
		{"prefix with a newline", after(14, `  b_prefix = "Backup\n"`),
			"Invalid b_prefix", 15, 14, `holds the control character U+000A`, 0},
		{"prefix with a DEL", after(14, `  a_prefix = "Back\u007fup"`),
			"Invalid a_prefix", 15, 14, `holds the control character U+007F`, 0},
		{"prefix of the wrong type", after(14, `  b_prefix = ["Backup", "Work"]`),
			"Incorrect attribute value type", 15, 14, `attribute "b_prefix": string required`, 0},
		{"prefix misspelt", after(14, `  b_prefixes = "Backup"`),
			"Unsupported argument", 15, 3, `Did you mean "b_prefix"?`, 0},
		{"match_special_use not a bool", after(14, `  match_special_use = "yes"`),
			"Incorrect attribute value type", 15, 23, `attribute "match_special_use": a bool is required`, 0},
		{"match_special_use a number", after(14, `  match_special_use = 1`),
			"Incorrect attribute value type", 15, 23, `attribute "match_special_use"`, 0},
		{"timeout not a duration", after(3, `  timeout = "soon"`),
			"Invalid timeout", 4, 13, `timeout must be a duration greater than zero with its unit, such as "30s", "2m" or "1m30s"; got "soon".`, 0},
		{"timeout without a unit", after(3, `  timeout = "30"`),
			"Invalid timeout", 4, 13, `got "30". Did you mean "30s"?`, 0},
		{"timeout as a bare number", after(3, `  timeout = 30`),
			"Invalid timeout", 4, 13, `got 30. Did you mean "30s"?`, 0},
		{"timeout zero", after(3, `  timeout = "0s"`),
			"Invalid timeout", 4, 13, `greater than zero`, 0},
		{"timeout negative", after(3, `  timeout = "-5s"`),
			"Invalid timeout", 4, 13, `got "-5s".`, 0},
		{"timeout of the wrong type", after(3, `  timeout = ["30s"]`),
			"Incorrect attribute value type", 4, 13, `attribute "timeout": string required`, 0},
		{"timeout a bool", after(3, `  timeout = true`),
			"Invalid timeout", 4, 13, `got "true".`, 0},
		{"timeout with a space", after(9, `  timeout = "1 m"`),
			"Invalid timeout", 10, 13, `got "1 m".`, 0},
		{"connections zero", after(3, `  connections = 0`),
			"Invalid connections", 4, 17, `connections must be a whole number between 1 and 16; got 0.`, 0},
		{"connections too many", after(3, `  connections = 40`),
			"Invalid connections", 4, 17, `got 40.`, 0},
		{"connections a fraction", after(3, `  connections = 2.5`),
			"Invalid connections", 4, 17, `got 2.5.`, 0},
		{"connections a string", after(3, `  connections = "four"`),
			"Incorrect attribute value type", 4, 17, `attribute "connections": a number is required`, 0},
		{"tls_ca_file missing", after(3, `  tls_ca_file = "/nonexistent/mailtwin/ca.pem"`),
			"Invalid tls_ca_file", 4, 17, `tls_ca_file of account "a": cannot read /nonexistent/mailtwin/ca.pem: no such file or directory.`, 0},
		{"tls_ca_file empty", after(3, `  tls_ca_file = ""`),
			"Invalid tls_ca_file", 4, 17, `must not be empty`, 0},
		{"tls_ca_file without TLS", after(9, `  tls_ca_file = "/nonexistent/mailtwin/ca.pem"`),
			"tls_ca_file without TLS", 10, 3, `account "b" uses tls = "none"`, 0},
		{"tls_server_name without TLS", after(9, `  tls_server_name = "mail.example.test"`),
			"tls_server_name without TLS", 10, 3, `account "b" uses tls = "none"`, 0},
		{"tls_server_name empty", after(3, `  tls_server_name = ""`),
			"Invalid tls_server_name", 4, 21, `tls_server_name of account "a" must not be empty`, 0},
		{"tls_server_name with a port", after(3, `  tls_server_name = "mail.example.test:993"`),
			"Invalid tls_server_name", 4, 21, `without a scheme or a port; got "mail.example.test:993"`, 0},
		{"tls_server_name misspelt", after(3, `  tls_servername = "mail.example.test"`),
			"Unsupported argument", 4, 3, `Did you mean "tls_server_name"?`, 0},
		{"empty state path", after(0, `state { path = "" }`),
			"Invalid state path", 1, 16, `must not be empty`, 0},
		{"no pair", strings.Join(base[:11], "\n") + "\n",
			"Nothing to sync", 1, 1, `defines no pair`, 0},
		{"empty file", "",
			"Nothing to sync", 1, 1, `defines no pair`, 0},
		{"env unset", edit(4, `  password = env("NOPE_PW")`),
			"Error in function call", 4, 14, `environment variable "NOPE_PW" is not set`, 0},
		{"env unset inside another call", edit(4, `  password = lower(env("NOPE_PW"))`),
			"Error in function call", 4, 20, `environment variable "NOPE_PW" is not set`, 0},
		{"file unreadable", edit(4, `  password = file("/nonexistent/mailtwin/secret")`),
			"Error in function call", 4, 14, `cannot read /nonexistent/mailtwin/secret`, 0},
		{"unknown function", edit(4, `  password = getenv("PW")`),
			"Call to unknown function", 4, 14, `There is no function named "getenv"`, 0},
		{"variable reference", edit(4, `  password = var.pw`),
			"Variables not allowed", 4, 14, ``, 0},
		{"syntax error", edit(13, `  a =`),
			"Invalid expression", 13, 6, `Expected the start of an expression`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, files := hclconfig.Parse([]byte(tt.src), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("Parse() = %v, %v; want errors", cfg, diags)
			}
			want := max(tt.errors, 1)
			if n := errorCount(diags); n != want {
				t.Errorf("Parse() gave %d errors, want %d: %v", n, want, diags)
			}
			var d *hcl.Diagnostic
			for _, x := range diags {
				if x.Summary == tt.summary {
					d = x
					break
				}
			}
			if d == nil {
				t.Fatalf("Parse() diagnostics = %v, want one with summary %q", diags, tt.summary)
			}
			if d.Severity != hcl.DiagError || d.Subject == nil || d.Subject.Start.Line != tt.line || d.Subject.Start.Column != tt.col {
				t.Errorf("%q at %v, want an error at %d:%d", tt.summary, d.Subject, tt.line, tt.col)
			}
			if !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("%q detail = %q, want it to contain %q", tt.summary, d.Detail, tt.detail)
			}

			var out bytes.Buffer
			if err := hclconfig.WriteDiagnostics(&out, diags, files); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			head := fmt.Sprintf("c.hcl:%d:%d: error: %s\n", tt.line, tt.col, tt.summary)
			if !strings.Contains(text, head) {
				t.Errorf("WriteDiagnostics() lacks %q:\n%s", head, text)
			}
			srcLine := ""
			if lines := strings.Split(tt.src, "\n"); tt.line <= len(lines) {
				srcLine = lines[tt.line-1]
			}
			if want := fmt.Sprintf(" %d | %s\n", tt.line, srcLine); !strings.Contains(text, want) {
				t.Errorf("WriteDiagnostics() lacks the source line %q:\n%s", want, text)
			}
		})
	}
}

// TestEveryMistake: Parse does not stop at the first mistake, and
// reports them in file order.
func TestEveryMistake(t *testing.T) {
	src := `pair "p" {
  a = "a"
  b = "nosuch"
  prefer = "c"
  folder "[" {}
}
account "a" {
  host = "imap.example.com"
  tls  = "ssl"
  port = 0
  username = "alice"
  password = env("NOPE")
  password_command = ["pass"]
  colour = "blue"
}
`
	_, diags, _ := hclconfig.Parse([]byte(src), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%d:%d %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
	}
	want := []string{
		"3:7 Unknown account",
		"4:12 Invalid prefer",
		"5:10 Invalid folder pattern",
		"9:10 Invalid tls",
		"10:10 Invalid port",
		"12:14 Error in function call",
		"13:3 Conflicting password settings",
		"14:3 Unsupported argument",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Parse() diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
