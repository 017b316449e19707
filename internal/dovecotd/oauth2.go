package dovecotd

import (
	"fmt"
	"os"
	"path/filepath"
)

// OAuth2 makes a Server accept OAuth2 access tokens with AUTHENTICATE
// XOAUTH2 and OAUTHBEARER, through Dovecot's oauth2 passdb: for each
// login Dovecot POSTs the token (form field "token") to
// IntrospectionURL, token introspection as in RFC 7662, and lets the user
// in when the JSON answer has "active": "true" (or true) and "username"
// naming the user. Dovecot caches nothing: a token revoked at the
// introspection endpoint fails the next login.
type OAuth2 struct {
	// IntrospectionURL is the endpoint, typically an httptest server on
	// 127.0.0.1.
	IntrospectionURL string
	// NoPasswords leaves the passwd-file passdb out: LOGIN and PLAIN are
	// refused, and a connection without TLS advertises LOGINDISABLED.
	// Otherwise passwords still work for PLAIN and LOGIN (and tokens
	// only for XOAUTH2 and OAUTHBEARER).
	NoPasswords bool
}

// oauth2Conf is the oauth2 passdb's settings file.
func (d *Server) oauth2Conf() string { return filepath.Join(d.dir, "dovecot-oauth2.conf.ext") }

// mechanisms is auth_mechanisms.
func (d *Server) mechanisms() string {
	switch o := d.cfg.OAuth2; {
	case o == nil:
		return "plain login"
	case o.NoPasswords:
		return "xoauth2 oauthbearer"
	}
	return "plain login xoauth2 oauthbearer"
}

// passdbs is the passdb sections: passwd-file for passwords, oauth2 for
// tokens, each restricted to its mechanisms when both are there.
func (d *Server) passdbs() string {
	passwd := fmt.Sprintf("passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%%u %s/passwd\n", d.dir)
	o := d.cfg.OAuth2
	if o == nil {
		return passwd + "}\n"
	}
	oauth := fmt.Sprintf("passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s\n}\n", d.oauth2Conf())
	if o.NoPasswords {
		return oauth
	}
	return passwd + "  mechanisms = plain login\n}\n" + oauth
}

// writeOAuth2 writes the oauth2 passdb's settings, if there is one.
func (d *Server) writeOAuth2() error {
	o := d.cfg.OAuth2
	if o == nil {
		return nil
	}
	conf := fmt.Sprintf(`introspection_mode = post
introspection_url = %s
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
`, o.IntrospectionURL)
	if err := os.WriteFile(d.oauth2Conf(), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write dovecot oauth2 config: %w", err)
	}
	return nil
}
