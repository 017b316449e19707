package hclconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Preset is what an account's provider = "..." fills in: the provider's
// IMAP server, and how its accounts log in. Anything the account sets by
// hand wins over it.
type Preset struct {
	// Name is the provider's spelling in the configuration.
	Name string
	// Host, Port and TLS are the provider's IMAP server.
	Host string
	Port int
	TLS  TLSMode
	// TokenAuth is the auth of an account with an access token source
	// (token_command or oauth2) and no auth of its own.
	TokenAuth string
	// PasswordAuth is the auth of an account with a password and no auth
	// of its own (AuthDefault: LOGIN, or PLAIN where LOGIN is disabled).
	PasswordAuth string
	// PasswordRefused, when not empty, says why a password without an
	// auth of the account's own is an error for this provider.
	PasswordRefused string
	// ExcludeSpecialUse is the account's ExcludeSpecialUse when the file
	// does not set exclude_special_use.
	ExcludeSpecialUse []string
}

// presets is the table Presets returns copies of. Read-only.
var presets = []Preset{
	{
		Name: "gmail", Host: "imap.gmail.com", Port: 993, TLS: TLSImplicit,
		TokenAuth: AuthXOAuth2, PasswordAuth: AuthPlain,
		// Every message is in All Mail, and the important ones in
		// Important too: pairing them would copy each message twice.
		ExcludeSpecialUse: []string{`\All`, `\Important`},
	},
	{
		Name: "outlook", Host: "outlook.office365.com", Port: 993, TLS: TLSImplicit,
		TokenAuth:       AuthXOAuth2,
		PasswordRefused: `Microsoft 365 (provider = "outlook") needs OAuth2: it no longer accepts passwords over IMAP. Set token_command (e.g. ["oama", "access", "you@example.com"]) or an oauth2 block instead of the password; the README's "Gmail and Microsoft 365" says how to get a refresh token.`,
	},
	{
		Name: "fastmail", Host: "imap.fastmail.com", Port: 993, TLS: TLSImplicit,
		TokenAuth: AuthXOAuth2,
	},
	{
		Name: "icloud", Host: "imap.mail.me.com", Port: 993, TLS: TLSImplicit,
		TokenAuth: AuthXOAuth2,
	},
	{
		Name: "yahoo", Host: "imap.mail.yahoo.com", Port: 993, TLS: TLSImplicit,
		TokenAuth: AuthXOAuth2,
	},
}

// Presets returns the provider presets, in the order the documentation
// lists them. The caller may modify the result.
func Presets() []Preset {
	out := make([]Preset, len(presets))
	for i, p := range presets {
		p.ExcludeSpecialUse = slices.Clone(p.ExcludeSpecialUse)
		out[i] = p
	}
	return out
}

// LookupPreset returns the preset named name, or false.
func LookupPreset(name string) (Preset, bool) {
	for _, p := range Presets() {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}

// provider decodes an account's provider: its preset, or nil when unset
// or after a diagnostic.
func (d *decoder) provider(a *hcl.Attribute) (*Preset, outcome) {
	s, o := d.str(a, false)
	if o != good {
		return nil, o
	}
	if p, ok := LookupPreset(s); ok {
		return &p, good
	}
	var names []string
	hint := ""
	for _, p := range presets {
		names = append(names, p.Name)
		if strings.EqualFold(p.Name, strings.TrimSpace(s)) {
			hint = fmt.Sprintf(" Did you mean %q?", p.Name)
		}
	}
	switch s {
	case "office365", "microsoft", "m365", "hotmail", "outlook.com":
		hint = ` Microsoft 365 and Outlook.com are "outlook".`
	case "google", "googlemail":
		hint = ` Google accounts are "gmail".`
	}
	d.errorf(a.Expr.Range(), "Unknown provider", "provider must be one of %s; got %q.%s Leave provider out and set host, port and tls for any other server.", quoteList(names, "or"), s, hint)
	return nil, bad
}
