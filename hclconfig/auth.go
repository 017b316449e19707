package hclconfig

import (
	"net/url"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// The values of an account's auth: how it authenticates.
const (
	// AuthDefault (auth unset, no token source) logs in with the password:
	// IMAP LOGIN, or AUTHENTICATE PLAIN where the server disables LOGIN.
	AuthDefault = ""
	// AuthPlain is AUTHENTICATE PLAIN with the password.
	AuthPlain = "plain"
	// AuthLogin is the IMAP LOGIN command with the password.
	AuthLogin = "login"
	// AuthXOAuth2 is AUTHENTICATE XOAUTH2 with an access token (Gmail,
	// Microsoft 365).
	AuthXOAuth2 = "xoauth2"
	// AuthOAuthBearer is AUTHENTICATE OAUTHBEARER (RFC 7628) with an
	// access token.
	AuthOAuthBearer = "oauthbearer"
)

// authNames are the spellings auth accepts, in the order diagnostics
// list them. Read-only.
var authNames = []string{AuthPlain, AuthLogin, AuthXOAuth2, AuthOAuthBearer}

// tokenAuth reports whether auth logs in with an access token rather
// than a password.
func tokenAuth(auth string) bool { return auth == AuthXOAuth2 || auth == AuthOAuthBearer }

// OAuth2 is an account's oauth2 block: where and how to trade a refresh
// token for an access token (the OAuth 2.0 refresh grant, RFC 6749 6).
// The caller does the trading; hclconfig never contacts TokenURL.
//
// ClientSecret and RefreshToken are secrets: they must reach no log, no
// error and no file. A refresh token the provider rotates while trading
// is used for the run and written nowhere.
type OAuth2 struct {
	// TokenURL is the provider's token endpoint: an https:// URL, or
	// http:// to a loopback host.
	TokenURL string
	// ClientID is the OAuth client the refresh token was issued to; not
	// empty.
	ClientID string
	// ClientSecret is the client's secret; empty for a public client.
	ClientSecret string
	// RefreshToken is not empty.
	RefreshToken string
	// Scopes are sent with the refresh request when not empty; most
	// providers want none there (the refresh token carries them).
	Scopes []string
	// SecretInFile is true when RefreshToken or ClientSecret is written
	// out in the configuration file itself (no env(), file() or
	// variable), as Account.PasswordInFile is for the password.
	SecretInFile bool
}

// oauth2Schema is the oauth2 block's. Read-only.
var oauth2Schema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "token_url", Required: true},
	{Name: "client_id", Required: true},
	{Name: "client_secret"},
	{Name: "refresh_token", Required: true},
	{Name: "scopes"},
}}

// credentials decodes how account acc logs in: password or
// password_command, auth, token_command and the oauth2 block, with the
// defaults of the account's preset p (nil: none). b is the account
// block, c its content.
func (d *decoder) credentials(b *hcl.Block, c *hcl.BodyContent, acc *Account, p *Preset) {
	at := c.Attributes
	pw, pwOK := d.str(at["password"], false)
	cmd, cmdOK := d.strList(at["password_command"])
	acc.Password, acc.PasswordCommand = pw, cmd
	acc.PasswordInFile = pwOK == good && inFile(at["password"].Expr)
	if cmdOK == good && (len(cmd) == 0 || cmd[0] == "") {
		d.errorf(at["password_command"].Expr.Range(), "Invalid password_command", `password_command must start with a program name, e.g. ["pass", "show", "imap"].`)
	}

	tcmd, tcmdOK := d.strList(at["token_command"])
	if tcmdOK == good && (len(tcmd) == 0 || tcmd[0] == "") {
		d.errorf(at["token_command"].Expr.Range(), "Invalid token_command", `token_command must start with a program name, e.g. ["oama", "access", "me@example.com"].`)
	}
	acc.TokenCommand = tcmd
	ob := d.single(c.Blocks, "oauth2")
	if ob != nil {
		acc.OAuth2 = d.oauth2(ob)
	}

	auth, authOK := "", unset
	if i, o := d.enum(at["auth"], authNames); o == good {
		auth, authOK = authNames[i], good
	} else {
		authOK = o
	}

	// The settings that give a secret, with where they are.
	var passwords, tokens []hcl.Range
	if pwOK != unset {
		passwords = append(passwords, at["password"].Range)
	}
	if cmdOK != unset {
		passwords = append(passwords, at["password_command"].Range)
	}
	if tcmdOK != unset {
		tokens = append(tokens, at["token_command"].Range)
	}
	if ob != nil {
		tokens = append(tokens, ob.DefRange)
	}
	later := func(rs []hcl.Range) hcl.Range {
		r := rs[0]
		for _, x := range rs[1:] {
			if x.Start.Byte > r.Start.Byte {
				r = x
			}
		}
		return r
	}
	switch {
	case len(passwords) == 2:
		d.errorf(later(passwords), "Conflicting password settings", "Account %q sets both password and password_command; keep one.", acc.Name)
	case len(tokens) == 2:
		d.errorf(later(tokens), "Conflicting token settings", "Account %q sets both token_command and an oauth2 block; keep one: an access token comes from exactly one of them.", acc.Name)
	case len(passwords) > 0 && len(tokens) > 0:
		d.errorf(later(append(passwords, tokens...)), "Conflicting credentials", "Account %q sets a password and an access token source (token_command or oauth2); an account logs in with one of them: keep the password for auth = \"plain\" or \"login\", the token source for \"xoauth2\" or \"oauthbearer\".", acc.Name)
	case len(tokens) > 0:
		switch {
		case authOK == unset && p != nil && p.TokenAuth != "":
			auth = p.TokenAuth
		case authOK == unset:
			auth = AuthXOAuth2
		case authOK == good && !tokenAuth(auth):
			d.errorf(at["auth"].Expr.Range(), "Invalid auth", "auth = %q logs in with a password, but account %q has an access token source (token_command or oauth2) and no password. Use auth = \"xoauth2\" or \"oauthbearer\", or replace the token source with password = env(\"...\").", auth, acc.Name)
		}
	case len(passwords) > 0:
		switch {
		case authOK == good && tokenAuth(auth):
			d.errorf(at["auth"].Expr.Range(), "Missing access token", "auth = %q logs in with an OAuth2 access token: account %q needs token_command = [\"oama\", \"access\", \"...\"] or an oauth2 { token_url, client_id, refresh_token } block instead of its password.", auth, acc.Name)
		case authOK == unset && p != nil && p.PasswordRefused != "":
			d.errorf(later(passwords), "Password not accepted", "Account %q: %s", acc.Name, p.PasswordRefused)
		case authOK == unset && p != nil:
			auth = p.PasswordAuth
		}
	case authOK == good && tokenAuth(auth):
		d.errorf(b.DefRange, "Missing access token", "Account %q sets auth = %q, which logs in with an OAuth2 access token: add token_command = [\"oama\", \"access\", \"...\"] or an oauth2 { token_url, client_id, refresh_token } block.", acc.Name, auth)
	case p != nil && p.PasswordRefused != "":
		d.errorf(b.DefRange, "Missing access token", "Account %q: %s", acc.Name, p.PasswordRefused)
	default:
		d.errorf(b.DefRange, "Missing password", `Account %q needs password (e.g. password = env("IMAP_PASSWORD")) or password_command (e.g. ["pass", "show", "imap"]), or for OAuth2 token_command or an oauth2 block.`, acc.Name)
	}
	acc.Auth = auth
}

// oauth2 decodes an oauth2 block; nil after an error.
func (d *decoder) oauth2(b *hcl.Block) *OAuth2 {
	c := d.content(b.Body, oauth2Schema)
	at := c.Attributes
	o := &OAuth2{}
	ok := true
	if s, so := d.str(at["token_url"], true); so == good {
		if msg := checkTokenURL(s); msg != "" {
			d.errorf(at["token_url"].Expr.Range(), "Invalid token_url", "%s", msg)
			ok = false
		}
		o.TokenURL = s
	} else {
		ok = false
	}
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
	}{{"client_id", &o.ClientID, true}, {"client_secret", &o.ClientSecret, false}, {"refresh_token", &o.RefreshToken, true}} {
		s, so := d.str(at[f.name], f.required)
		switch {
		case so == bad || (so == unset && f.required):
			ok = false
		case so == good && s == "" && f.required:
			// Not quoted: an env() that gave "" for a secret says
			// nothing about the secret.
			d.errorf(at[f.name].Expr.Range(), "Invalid "+f.name, "%s is empty: is the environment variable or file it reads set?", f.name)
			ok = false
		}
		*f.dst = s
		if so == good && f.name != "client_id" && inFile(at[f.name].Expr) {
			o.SecretInFile = true
		}
	}
	if v, so := d.value(at["scopes"], cty.List(cty.String), false); so == good {
		for _, e := range v.AsValueSlice() {
			if e.IsNull() || e.AsString() == "" {
				d.errorf(at["scopes"].Expr.Range(), "Invalid scopes", "The scopes must not be null or empty.")
				ok = false
				break
			}
			o.Scopes = append(o.Scopes, e.AsString())
		}
	} else if so == bad {
		ok = false
	}
	if !ok {
		return nil
	}
	return o
}

// checkTokenURL returns what is wrong with a token endpoint, or "": the
// refresh token and client secret travel to it, so it must be https
// (http only to a loopback host, which never leaves the machine).
func checkTokenURL(s string) string {
	const want = "token_url must be the provider's token endpoint, an https:// URL such as \"https://oauth2.googleapis.com/token\" (http:// only to localhost)"
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return want + "."
	}
	switch {
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return want + ": plain http would send the refresh token in clear text."
	}
	return want + "."
}
