package imapstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// Mechanism is how a Store authenticates.
type Mechanism int

const (
	// AuthDefault logs in with the password: the LOGIN command, or, on
	// a TLS connection where the server disables LOGIN (LOGINDISABLED)
	// and offers PLAIN, AUTHENTICATE PLAIN. Without TLS it never falls
	// back: LOGINDISABLED there fails with ErrLoginDisabled.
	AuthDefault Mechanism = iota
	// AuthPlain is AUTHENTICATE PLAIN with the password.
	AuthPlain
	// AuthLogin is the LOGIN command with the password.
	AuthLogin
	// AuthXOAuth2 is AUTHENTICATE XOAUTH2 with an access token (Google,
	// Microsoft).
	AuthXOAuth2
	// AuthOAuthBearer is AUTHENTICATE OAUTHBEARER (RFC 7628) with an
	// access token.
	AuthOAuthBearer
)

// String returns the mechanism's IMAP name: "LOGIN", "PLAIN",
// "XOAUTH2", "OAUTHBEARER"; "default" for AuthDefault.
func (m Mechanism) String() string {
	switch m {
	case AuthDefault:
		return "default"
	case AuthPlain:
		return "PLAIN"
	case AuthLogin:
		return "LOGIN"
	case AuthXOAuth2:
		return "XOAUTH2"
	case AuthOAuthBearer:
		return "OAUTHBEARER"
	}
	return fmt.Sprintf("Mechanism(%d)", int(m))
}

// usesToken reports a mechanism that sends an access token.
func (m Mechanism) usesToken() bool { return m == AuthXOAuth2 || m == AuthOAuthBearer }

// ErrLoginDisabled is matched (errors.Is) by the error of a password
// login the server refuses on this connection (LOGINDISABLED without
// AUTHENTICATE PLAIN): it wants TLS, or another mechanism.
var ErrLoginDisabled = errors.New("login disabled")

type loginDisabledError struct {
	msg string
}

func (e *loginDisabledError) Error() string        { return e.msg }
func (e *loginDisabledError) Is(target error) bool { return target == ErrLoginDisabled }

// token returns the access token of a token mechanism, "" for the
// others. It is asked for before each connection is dialled, so the
// caller's Options.Token decides how long a token is reused.
func (s *Store) token(ctx context.Context, m Mechanism) (string, error) {
	if !m.usesToken() {
		return "", nil
	}
	if s.opts.Token == nil {
		return "", fmt.Errorf("authenticate with %s: no access token source (Options.Token)", m)
	}
	tok, err := s.opts.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("get the access token for %s: %w", m, err)
	}
	if tok == "" {
		return "", fmt.Errorf("get the access token for %s: it is empty", m)
	}
	return tok, nil
}

// withFreshToken runs dial with the access token of the mechanism the
// next connection uses ("" for a mechanism without one). The token is
// fetched before dialling: getting it can take a round trip to the
// provider, and no server waits for it meanwhile. When the server
// rejects the token and Options.TokenRejected is set, the source is
// told, and dial runs once more if the source then gives another token;
// if it gives none, the error says why.
func (s *Store) withFreshToken(ctx context.Context, dial func(token string) error) error {
	m := s.tokenMech()
	token, err := s.token(ctx, m)
	if err != nil {
		return err
	}
	err = dial(token)
	if err == nil || !m.usesToken() || s.opts.TokenRejected == nil || !errors.Is(err, ErrAuthFailed) {
		return err
	}
	s.opts.TokenRejected(token)
	fresh, ferr := s.token(ctx, m)
	switch {
	case ferr != nil:
		// Why there is no new token (a refresh token revoked, say) is
		// what the user has to mend.
		return fmt.Errorf("%w; a new token could not be had either: %w", err, ferr)
	case fresh == token:
		return err
	}
	return dial(fresh)
}

// mechanism decides how to authenticate on a connection whose server
// advertises caps: the Store's mechanism, with AuthDefault resolved.
func (s *Store) mechanism(caps imap.CapSet) (Mechanism, error) {
	m := s.opts.Auth
	if s.mech != AuthDefault {
		m = s.mech // decided on the first connection; every other follows
	}
	disabled := caps.Has(imap.CapLoginDisabled)
	switch {
	case m == AuthDefault && !disabled:
		return AuthLogin, nil
	case m == AuthDefault && caps.Has(imap.Cap("AUTH=PLAIN")) && s.opts.TLS != None:
		// Never on a plain-text connection: a server that disables
		// LOGIN there and offers PLAIN is confused, and the password
		// would travel in clear.
		return AuthPlain, nil
	case m == AuthDefault || (m == AuthLogin && disabled):
		msg := fmt.Sprintf("login as %s at %s: the server does not allow a password login on this connection (LOGINDISABLED)", s.opts.Username, s.addr)
		switch {
		case s.opts.TLS == None:
			msg += ": use TLS (implicit or starttls)"
		case m == AuthDefault:
			msg += " and offers no AUTHENTICATE PLAIN"
		}
		if mechs := saslMechs(caps); len(mechs) > 0 {
			msg += "; it offers AUTHENTICATE " + strings.Join(mechs, ", ")
		}
		return 0, &loginDisabledError{msg}
	case m == AuthLogin:
		return AuthLogin, nil
	}
	if !caps.Has(imap.Cap("AUTH=" + m.String())) {
		offers := "none"
		if mechs := saslMechs(caps); len(mechs) > 0 {
			offers = strings.Join(mechs, ", ")
		}
		return 0, fmt.Errorf("authenticate as %s at %s with %s: the server does not offer it (its AUTHENTICATE mechanisms: %s)", s.opts.Username, s.addr, m, offers)
	}
	return m, nil
}

// saslMechs lists the AUTH= mechanisms of caps, sorted.
func saslMechs(caps imap.CapSet) []string {
	var out []string
	for c := range caps {
		if m, ok := strings.CutPrefix(string(c), "AUTH="); ok {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// saslClient returns the SASL client of m (not AuthLogin), with the
// password or token.
func (s *Store) saslClient(m Mechanism, token string) sasl.Client {
	switch m {
	case AuthPlain:
		return sasl.NewPlainClient("", s.opts.Username, s.opts.Password)
	case AuthXOAuth2:
		return &xoauth2Client{username: s.opts.Username, token: token}
	case AuthOAuthBearer:
		return &bearerClient{Client: sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: s.opts.Username, Token: token})}
	}
	panic(fmt.Sprintf("imapstore: no SASL client for %v", m))
}

// authenticate logs c in with m. Its errors name the user, the address
// and the mechanism, never the password or token.
//
// With LOGIN, the NOOP that connect sends to see that the login took
// goes out right behind it, one round trip for both, and comes back as
// noop (whose answer is not read yet); a server answers a NOOP after a
// failed LOGIN as well. AUTHENTICATE takes turns with the server, and
// noop is nil.
func (s *Store) authenticate(c *imapclient.Client, m Mechanism, token string) (noop *imapclient.Command, err error) {
	if m == AuthLogin {
		s.debug.redact(true)
		login := c.Login(s.opts.Username, s.opts.Password)
		noop = c.Noop()
		err := login.Wait()
		s.debug.redact(false)
		if err != nil {
			return nil, s.loginError(err)
		}
		return noop, nil
	}
	cl := s.saslClient(m, token)
	if err := c.Authenticate(cl); err != nil {
		return nil, s.saslError(m, err, saslFailure(cl))
	}
	return nil, nil
}

// saslError explains a failed AUTHENTICATE. failure is what the server
// said in its error challenge (XOAUTH2, OAUTHBEARER), "" if nothing.
func (s *Store) saslError(m Mechanism, err error, failure string) error {
	prefix := fmt.Sprintf("authenticate as %s at %s with %s", s.opts.Username, s.addr, m)
	var ierr *imap.Error
	if !errors.As(err, &ierr) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	switch ierr.Code {
	case imap.ResponseCodeUnavailable, imap.ResponseCodeLimit, imap.ResponseCodeInUse:
		return fmt.Errorf("%s: the server is unavailable, try again later: %s", prefix, serverText(ierr))
	}
	what := "check username and password"
	if m.usesToken() {
		what = "the server rejected the access token: it is wrong, expired or revoked, or not for this user"
	}
	said := ""
	if failure != "" {
		said = "; the server said " + failure
	}
	if text := strings.TrimSpace(ierr.Text); text != "" && !strings.EqualFold(strings.TrimRight(text, "."), "authentication failed") {
		said += fmt.Sprintf("; the server answered %q", text)
	}
	return fmt.Errorf("%s: %w (%s)%s", prefix, ErrAuthFailed, what, said)
}

// xoauth2Client is Google's XOAUTH2 SASL mechanism, which go-sasl lacks:
// one initial response, "user=U\x01auth=Bearer T\x01\x01". On a bad
// token the server answers with a challenge holding a JSON error, and
// the client must answer that to get the tagged NO. Google documents an
// empty answer, but go-imap cannot send one (it writes "=", which
// Dovecot rejects as bad base64); the client answers with the single
// %x01 of OAUTHBEARER (RFC 7628 3.2.3), which ends the exchange as well.
type xoauth2Client struct {
	username, token string
	failure         []byte // the server's error challenge
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	c.failure = challenge
	return []byte{0x01}, nil
}

// bearerClient is go-sasl's OAUTHBEARER client, answering an error
// challenge as RFC 7628 3.2.3 says (a single %x01) instead of giving up
// mid-exchange, so the server ends the command with its tagged NO and the
// connection stays in step.
type bearerClient struct {
	sasl.Client
	failure []byte
}

func (c *bearerClient) Next(challenge []byte) ([]byte, error) {
	c.failure = challenge
	return []byte{0x01}, nil
}

// saslFailure renders the error challenge cl received, "" if none: the
// JSON error's status (and scope), which holds no secret.
func saslFailure(cl sasl.Client) string {
	var b []byte
	switch c := cl.(type) {
	case *xoauth2Client:
		b = c.failure
	case *bearerClient:
		b = c.failure
	}
	if len(b) == 0 {
		return ""
	}
	var e struct {
		Status string `json:"status"`
		Scope  string `json:"scope"`
	}
	if json.Unmarshal(b, &e) != nil || e.Status == "" {
		return "(an error challenge that is not JSON)"
	}
	out := "status " + e.Status
	if e.Scope != "" {
		out += ", scope " + e.Scope
	}
	return out
}

// multiAuthenticate runs AUTHENTICATE with cl on a MULTIAPPEND
// connection, without SASL-IR (one round trip more, on a connection that
// lives for many messages). The trace shows the command's tag and
// mechanism, not the responses.
func (mc *multiConn) authenticate(cl sasl.Client) error {
	mech, ir, err := cl.Start()
	if err != nil {
		return err
	}
	mc.tags++
	tag := "M" + fmt.Sprint(mc.tags)
	mc.trace(tag + " AUTHENTICATE " + mech + " [credentials and SASL exchange not shown]\r\n")
	if _, err := mc.w.WriteString(tag + " AUTHENTICATE " + mech + "\r\n"); err != nil {
		return err
	}
	if err := mc.w.Flush(); err != nil {
		return err
	}
	for {
		resp, err := mc.readResponse()
		if err != nil {
			return err
		}
		t, rest, _ := strings.Cut(resp, " ")
		switch t {
		case "+":
			var out []byte
			if ir != nil {
				out, ir = ir, nil
			} else {
				challenge, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
				if err != nil {
					return fmt.Errorf("AUTHENTICATE %s: bad challenge from the server: %w", mech, err)
				}
				if out, err = cl.Next(challenge); err != nil {
					return err
				}
			}
			line := base64.StdEncoding.EncodeToString(out)
			if _, err := mc.w.WriteString(line + "\r\n"); err != nil {
				return err
			}
			if err := mc.w.Flush(); err != nil {
				return err
			}
			continue
		case "*":
			if word, text, _ := strings.Cut(rest, " "); strings.EqualFold(word, "BYE") {
				return fmt.Errorf("the server closed the connection: %s", text)
			}
			continue
		}
		if t != tag {
			continue
		}
		status, code, text := parseStatus(rest)
		if status != imap.StatusResponseTypeOK {
			return &imap.Error{Type: status, Code: imap.ResponseCode(codeName(code)), Text: text}
		}
		return nil
	}
}

// tokenMech is the mechanism a new connection will use, as far as
// needing a token goes: the first connection's, or the configured one
// before there is a first.
func (s *Store) tokenMech() Mechanism {
	if s.mech != AuthDefault {
		return s.mech
	}
	return s.opts.Auth
}

// multiMech is the mechanism of a MULTIAPPEND connection: the one the
// Store's first connection logged in with (LOGIN when it was
// preauthenticated, which a MULTIAPPEND connection is too then).
func (s *Store) multiMech() Mechanism {
	switch {
	case s.mech != AuthDefault:
		return s.mech
	case s.opts.Auth != AuthDefault:
		return s.opts.Auth
	}
	return AuthLogin
}
