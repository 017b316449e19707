package hclconfig_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/mailtwin/mailtwin/hclconfig"
)

// oneAccount is a configuration whose account "a" has body (one
// attribute or block per line), paired with a plain account "b".
func oneAccount(body ...string) string {
	return "account \"a\" {\n" + strings.Join(body, "\n") + "\n}\n" + `account "b" {
  host     = "127.0.0.1"
  tls      = "none"
  username = "bob"
  password = "pw"
}
pair "p" {
  a = "a"
  b = "b"
}
`
}

// secretEnv is the environment of these tests: the secrets an oauth2
// block reads, and an empty variable.
func secretEnv(name string) (string, bool) {
	switch name {
	case "RT":
		return "refresh-123", true
	case "CS":
		return "client-secret-456", true
	case "EMPTY":
		return "", true
	}
	return "", false
}

func parseAccount(t *testing.T, src string) *hclconfig.Account {
	t.Helper()
	cfg, diags, _ := hclconfig.Parse([]byte(src), "c.hcl", hclconfig.Options{LookupEnv: secretEnv})
	if cfg == nil || len(diags) > 0 {
		t.Fatalf("Parse() = %v, %v\n%s", cfg, diags, src)
	}
	return cfg.Account("a")
}

// TestAuthSettings: auth, token_command and oauth2 decode into the
// Account, and the auth an account gets when it does not say.
func TestAuthSettings(t *testing.T) {
	head := []string{`  host = "imap.example.com"`, `  username = "alice"`}
	oauth := []string{
		`  oauth2 {`,
		`    token_url     = "https://login.example/token"`,
		`    client_id     = "mailtwin-test"`,
		`    client_secret = env("CS")`,
		`    refresh_token = env("RT")`,
		`    scopes        = ["https://mail.example/.default", "offline_access"]`,
		`  }`,
	}
	tests := []struct {
		name  string
		body  []string
		want  hclconfig.Account
		check func(a *hclconfig.Account) bool
	}{
		{"password, auth unset", []string{`  password = "pw"`},
			hclconfig.Account{Auth: hclconfig.AuthDefault, Password: "pw"}, nil},
		{"password, auth plain", []string{`  password = "pw"`, `  auth = "plain"`},
			hclconfig.Account{Auth: hclconfig.AuthPlain, Password: "pw"}, nil},
		{"password_command, auth login", []string{`  password_command = ["pass", "x"]`, `  auth = "login"`},
			hclconfig.Account{Auth: hclconfig.AuthLogin, PasswordCommand: []string{"pass", "x"}}, nil},
		{"token_command, auth unset: xoauth2", []string{`  token_command = ["oama", "access", "alice@example.com"]`},
			hclconfig.Account{Auth: hclconfig.AuthXOAuth2, TokenCommand: []string{"oama", "access", "alice@example.com"}}, nil},
		{"token_command, oauthbearer", []string{`  token_command = ["oama", "access", "alice@example.com"]`, `  auth = "oauthbearer"`},
			hclconfig.Account{Auth: hclconfig.AuthOAuthBearer, TokenCommand: []string{"oama", "access", "alice@example.com"}}, nil},
		{"oauth2 block", append([]string{`  auth = "xoauth2"`}, oauth...),
			hclconfig.Account{Auth: hclconfig.AuthXOAuth2, OAuth2: &hclconfig.OAuth2{
				TokenURL: "https://login.example/token", ClientID: "mailtwin-test",
				ClientSecret: "client-secret-456", RefreshToken: "refresh-123",
				Scopes: []string{"https://mail.example/.default", "offline_access"},
			}}, nil},
		{"oauth2 block with the refresh token in the file", []string{
			`  oauth2 {`, `    token_url = "https://t.example/token"`, `    client_id = "c"`, `    refresh_token = "1//written-out"`, `  }`},
			hclconfig.Account{Auth: hclconfig.AuthXOAuth2, OAuth2: &hclconfig.OAuth2{
				TokenURL: "https://t.example/token", ClientID: "c", RefreshToken: "1//written-out", SecretInFile: true,
			}}, nil},
		{"oauth2 block, public client, loopback http", []string{
			`  oauth2 {`, `    token_url = "http://127.0.0.1:8080/token"`, `    client_id = "c"`, `    refresh_token = env("RT")`, `  }`},
			hclconfig.Account{Auth: hclconfig.AuthXOAuth2, OAuth2: &hclconfig.OAuth2{
				TokenURL: "http://127.0.0.1:8080/token", ClientID: "c", RefreshToken: "refresh-123",
			}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := parseAccount(t, oneAccount(append(append([]string{}, head...), tt.body...)...))
			got := hclconfig.Account{Auth: a.Auth, Password: a.Password, PasswordCommand: a.PasswordCommand, TokenCommand: a.TokenCommand, OAuth2: a.OAuth2}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() account = %+v (oauth2 %+v), want %+v (oauth2 %+v)", got, got.OAuth2, tt.want, tt.want.OAuth2)
			}
		})
	}
}

// TestAuthErrors has one row per mistake in the authentication settings:
// exactly one error, with its summary at line:col, whose detail says
// what to do; and the rendering names c.hcl:line:col.
func TestAuthErrors(t *testing.T) {
	head := []string{`  host = "imap.example.com"`, `  username = "alice"`} // lines 2 and 3
	tests := []struct {
		name      string
		body      []string // from line 4
		summary   string
		line, col int
		detail    string
	}{
		{"unknown auth", []string{`  password = "pw"`, `  auth = "cram-md5"`},
			"Invalid auth", 5, 10, `auth must be one of "plain", "login", "xoauth2" or "oauthbearer"; got "cram-md5".`},
		{"auth in capitals", []string{`  password = "pw"`, `  auth = "XOAUTH2"`},
			"Invalid auth", 5, 10, `Did you mean "xoauth2"?`},
		{"xoauth2 with a password", []string{`  password = "pw"`, `  auth = "xoauth2"`},
			"Missing access token", 5, 10, `needs token_command`},
		{"oauthbearer with nothing", []string{`  auth = "oauthbearer"`},
			"Missing access token", 1, 1, `add token_command`},
		{"token_command with auth plain", []string{`  token_command = ["oama", "access", "a"]`, `  auth = "plain"`},
			"Invalid auth", 5, 10, `Use auth = "xoauth2" or "oauthbearer"`},
		{"oauth2 with auth login", []string{`  auth = "login"`, `  oauth2 {`, `    token_url = "https://t.example/token"`, `    client_id = "c"`, `    refresh_token = env("RT")`, `  }`},
			"Invalid auth", 4, 10, `has an access token source`},
		{"token_command and oauth2", []string{`  token_command = ["oama"]`, `  oauth2 {`, `    token_url = "https://t.example/token"`, `    client_id = "c"`, `    refresh_token = env("RT")`, `  }`},
			"Conflicting token settings", 5, 3, `sets both token_command and an oauth2 block`},
		{"password and token_command", []string{`  password = "pw"`, `  token_command = ["oama"]`},
			"Conflicting credentials", 5, 3, `sets a password and an access token source`},
		{"empty token_command", []string{`  token_command = []`},
			"Invalid token_command", 4, 19, `must start with a program name`},
		{"oauth2 without refresh_token", []string{`  oauth2 {`, `    token_url = "https://t.example/token"`, `    client_id = "c"`, `  }`},
			"Missing required argument", 4, 10, `"refresh_token" is required`},
		{"oauth2 refresh_token empty", []string{`  oauth2 {`, `    token_url = "https://t.example/token"`, `    client_id = "c"`, `    refresh_token = env("EMPTY")`, `  }`},
			"Invalid refresh_token", 7, 21, `refresh_token is empty`},
		{"oauth2 token_url over http", []string{`  oauth2 {`, `    token_url = "http://login.example/token"`, `    client_id = "c"`, `    refresh_token = env("RT")`, `  }`},
			"Invalid token_url", 5, 17, `plain http would send the refresh token in clear text`},
		{"oauth2 token_url not a URL", []string{`  oauth2 {`, `    token_url = "login.example"`, `    client_id = "c"`, `    refresh_token = env("RT")`, `  }`},
			"Invalid token_url", 5, 17, `an https:// URL`},
		{"oauth2 unknown attribute", []string{`  oauth2 {`, `    token_url = "https://t.example/token"`, `    client_id = "c"`, `    refresh_token = env("RT")`, `    scope = ["x"]`, `  }`},
			"Unsupported argument", 8, 5, `Did you mean "scopes"?`},
		{"oauth2 empty scope", []string{`  oauth2 {`, `    token_url = "https://t.example/token"`, `    client_id = "c"`, `    refresh_token = env("RT")`, `    scopes = [""]`, `  }`},
			"Invalid scopes", 8, 14, `must not be null or empty`},
		{"two oauth2 blocks", []string{`  oauth2 {`, `    token_url = "https://t.example/token"`, `    client_id = "c"`, `    refresh_token = env("RT")`, `  }`, `  oauth2 {`, `    token_url = "https://t.example/token"`, `    client_id = "c"`, `    refresh_token = env("RT")`, `  }`},
			"Duplicate oauth2 block", 9, 3, `the first one is at c.hcl:4:3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := oneAccount(append(append([]string{}, head...), tt.body...)...)
			wantError(t, src, tt.summary, tt.line, tt.col, tt.detail)
		})
	}
}

// wantError checks that src gives exactly one error, summary at
// line:col with detail in it, rendered with c.hcl:line:col and the
// source line; and that no secret of secretEnv shows in the rendering.
func wantError(t *testing.T, src, summary string, line, col int, detail string) {
	t.Helper()
	cfg, diags, files := hclconfig.Parse([]byte(src), "c.hcl", hclconfig.Options{LookupEnv: secretEnv})
	if cfg != nil || !diags.HasErrors() {
		t.Fatalf("Parse() = %v, %v; want errors\n%s", cfg, diags, src)
	}
	if n := errorCount(diags); n != 1 {
		t.Errorf("Parse() gave %d errors, want 1: %v", n, diags)
	}
	var d *hcl.Diagnostic
	for _, x := range diags {
		if x.Summary == summary {
			d = x
			break
		}
	}
	if d == nil {
		t.Fatalf("Parse() diagnostics = %v, want one with summary %q", diags, summary)
	}
	if d.Subject == nil || d.Subject.Start.Line != line || d.Subject.Start.Column != col {
		t.Errorf("%q at %v, want %d:%d", summary, d.Subject, line, col)
	}
	if !strings.Contains(d.Detail, detail) {
		t.Errorf("%q detail = %q, want it to contain %q", summary, d.Detail, detail)
	}
	var out bytes.Buffer
	if err := hclconfig.WriteDiagnostics(&out, diags, files); err != nil {
		t.Fatal(err)
	}
	if head := fmt.Sprintf("c.hcl:%d:%d: error: %s\n", line, col, summary); !strings.Contains(out.String(), head) {
		t.Errorf("WriteDiagnostics() lacks %q:\n%s", head, out.String())
	}
	for _, secret := range []string{"refresh-123", "client-secret-456"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("WriteDiagnostics() shows the secret %q:\n%s", secret, out.String())
		}
	}
}
