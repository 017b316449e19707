package hclconfig_test

import (
	"reflect"
	"testing"

	"github.com/mailtwin/mailtwin/hclconfig"
)

// TestPresets: what provider = "..." sets, per provider, for an account
// with a password and for one with a token source; and that whatever the
// file sets by hand wins.
func TestPresets(t *testing.T) {
	type got struct {
		Host    string
		Port    int
		TLS     hclconfig.TLSMode
		Auth    string
		Exclude []string
	}
	gmailExclude := []string{`\All`, `\Important`}
	tests := []struct {
		name string
		body []string
		want got
	}{
		{"gmail, app password", []string{`  provider = "gmail"`, `  password = "app-pw"`},
			got{"imap.gmail.com", 993, hclconfig.TLSImplicit, hclconfig.AuthPlain, gmailExclude}},
		{"gmail, token", []string{`  provider = "gmail"`, `  token_command = ["oama", "access", "a@gmail.com"]`},
			got{"imap.gmail.com", 993, hclconfig.TLSImplicit, hclconfig.AuthXOAuth2, gmailExclude}},
		{"outlook, token", []string{`  provider = "outlook"`, `  token_command = ["oama", "access", "a@example.org"]`},
			got{"outlook.office365.com", 993, hclconfig.TLSImplicit, hclconfig.AuthXOAuth2, nil}},
		{"outlook, password with auth by hand", []string{`  provider = "outlook"`, `  password = "pw"`, `  auth = "login"`},
			got{"outlook.office365.com", 993, hclconfig.TLSImplicit, hclconfig.AuthLogin, nil}},
		{"fastmail, app password", []string{`  provider = "fastmail"`, `  password = "pw"`},
			got{"imap.fastmail.com", 993, hclconfig.TLSImplicit, hclconfig.AuthDefault, nil}},
		{"icloud, app-specific password", []string{`  provider = "icloud"`, `  password = "pw"`},
			got{"imap.mail.me.com", 993, hclconfig.TLSImplicit, hclconfig.AuthDefault, nil}},
		{"yahoo, app password", []string{`  provider = "yahoo"`, `  password = "pw"`},
			got{"imap.mail.yahoo.com", 993, hclconfig.TLSImplicit, hclconfig.AuthDefault, nil}},
		{"yahoo, token, oauthbearer by hand", []string{`  provider = "yahoo"`, `  token_command = ["t"]`, `  auth = "oauthbearer"`},
			got{"imap.mail.yahoo.com", 993, hclconfig.TLSImplicit, hclconfig.AuthOAuthBearer, nil}},
		{"host and port by hand", []string{`  provider = "gmail"`, `  host = "127.0.0.1"`, `  port = 1993`, `  password = "pw"`},
			got{"127.0.0.1", 1993, hclconfig.TLSImplicit, hclconfig.AuthPlain, gmailExclude}},
		{"tls by hand takes its own default port", []string{`  provider = "fastmail"`, `  tls = "starttls"`, `  password = "pw"`},
			got{"imap.fastmail.com", 143, hclconfig.TLSStartTLS, hclconfig.AuthDefault, nil}},
		{"no provider", []string{`  host = "imap.example.com"`, `  password = "pw"`},
			got{"imap.example.com", 993, hclconfig.TLSImplicit, hclconfig.AuthDefault, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := parseAccount(t, oneAccount(append([]string{`  username = "alice"`}, tt.body...)...))
			g := got{a.Host, a.Port, a.TLS, a.Auth, a.ExcludeSpecialUse}
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Parse() account = %+v, want %+v", g, tt.want)
			}
		})
	}
}

// TestPresetTable: every preset is a complete server on port 993 with
// implicit TLS, and Presets hands out copies.
func TestPresetTable(t *testing.T) {
	ps := hclconfig.Presets()
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		if p.Host == "" || p.Port != 993 || p.TLS != hclconfig.TLSImplicit || p.TokenAuth != hclconfig.AuthXOAuth2 {
			t.Errorf("preset %+v: want a host, port 993, implicit TLS and xoauth2 for tokens", p)
		}
	}
	if want := []string{"gmail", "outlook", "fastmail", "icloud", "yahoo"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Presets() names = %v, want %v", names, want)
	}
	ps[0].ExcludeSpecialUse[0] = "changed"
	if p, _ := hclconfig.LookupPreset("gmail"); p.ExcludeSpecialUse[0] != `\All` {
		t.Errorf("changing what Presets() returned changed the table: %v", p.ExcludeSpecialUse)
	}
}

// TestPresetErrors: an unknown provider lists the known ones; Microsoft
// 365 refuses a password alone; without a provider, host is required.
func TestPresetErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      []string // from line 2
		summary   string
		line, col int
		detail    string
	}{
		{"unknown provider", []string{`  provider = "hotmail"`, `  username = "a"`, `  password = "pw"`},
			"Unknown provider", 2, 14, `provider must be one of "gmail", "outlook", "fastmail", "icloud" or "yahoo"; got "hotmail". Microsoft 365 and Outlook.com are "outlook".`},
		{"provider in capitals", []string{`  provider = "Gmail"`, `  username = "a"`, `  password = "pw"`},
			"Unknown provider", 2, 14, `Did you mean "gmail"?`},
		{"outlook with a password", []string{`  provider = "outlook"`, `  username = "a"`, `  password = "pw"`},
			"Password not accepted", 4, 3, `Microsoft 365 (provider = "outlook") needs OAuth2`},
		{"outlook with nothing", []string{`  provider = "outlook"`, `  username = "a"`},
			"Missing access token", 1, 1, `needs OAuth2`},
		{"no host, no provider", []string{`  username = "a"`, `  password = "pw"`},
			"Missing required argument", 1, 13, `The argument "host" is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, oneAccount(tt.body...), tt.summary, tt.line, tt.col, tt.detail)
		})
	}
}
