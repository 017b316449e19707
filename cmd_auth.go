package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/imapstore"
)

// Access tokens for accounts with auth = "xoauth2" or "oauthbearer".
//
// A run fetches each account's token once and hands it to every
// connection to that account (the pool's, MULTIAPPEND's, a reconnection):
// a tokenCache rides in the run's context (withTokenCache) and keeps one
// source per account. An oauth2 block's source trades the refresh token
// at the token endpoint and reuses the access token until shortly before
// it expires; a refresh token the provider rotates stays in that
// source's memory for the rest of the process and is written nowhere. A
// token_command's token is reused for tokenCommandReuse, as such helpers
// (oama) hand out a token with most of its hour still to go.
//
// No token, refresh token or client secret is ever printed: errors name
// the command or the token endpoint, and what the provider said (its
// OAuth error code), never a secret; imapstore.Dial puts the account's
// name and the mechanism in front.

// tokenCommandReuse is how long a token_command's token is used before
// the command runs again.
const tokenCommandReuse = 5 * time.Minute

// tokenHTTPTimeout bounds a request to an oauth2 token endpoint.
const tokenHTTPTimeout = 60 * time.Second

type tokenCacheKey struct{}

// tokenCache holds the token source of each account, by name.
type tokenCache struct {
	mu      sync.Mutex
	sources map[string]*tokenSource
}

// withTokenCache returns ctx carrying a new, empty tokenCache: the
// commands run under it share their accounts' tokens.
func withTokenCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, tokenCacheKey{}, &tokenCache{sources: map[string]*tokenSource{}})
}

// tokenSourceFor returns the source imapstore asks for acc's access
// token before each connection. Under a context without a tokenCache,
// each call of dialAccount has a source of its own.
func tokenSourceFor(ctx context.Context, acc *hclconfig.Account) *tokenSource {
	c, _ := ctx.Value(tokenCacheKey{}).(*tokenCache)
	if c == nil {
		return newTokenSource(acc)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	src := c.sources[acc.Name]
	if src == nil {
		src = newTokenSource(acc)
		c.sources[acc.Name] = src
	}
	return src
}

// tokenSource is one account's access token.
type tokenSource struct {
	acc *hclconfig.Account

	mu sync.Mutex
	// oauth2 block: the reusing source, made on first use; the last
	// token it gave; and the refresh token the next source starts from
	// when a rejected access token dropped the last one ("": the
	// config's).
	ts      oauth2.TokenSource
	last    *oauth2.Token
	refresh string
	// token_command: the last token, and when it was fetched.
	cmdToken string
	cmdAt    time.Time
}

func newTokenSource(acc *hclconfig.Account) *tokenSource { return &tokenSource{acc: acc} }

// token returns the access token, fetching it when there is none yet or
// it has run out. Concurrent callers wait for one fetch.
func (s *tokenSource) token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.acc.OAuth2 != nil:
		return s.oauth2Token(ctx)
	case len(s.acc.TokenCommand) > 0:
		if s.cmdToken != "" && time.Since(s.cmdAt) < tokenCommandReuse {
			return s.cmdToken, nil
		}
		tok, err := runTokenCommand(ctx, s.acc)
		if err != nil {
			return "", err
		}
		s.cmdToken, s.cmdAt = tok, time.Now()
		return tok, nil
	}
	return "", fmt.Errorf("auth = %q needs token_command or an oauth2 block", s.acc.Auth)
}

// oauth2Token trades the refresh token (golang.org/x/oauth2's refresh
// grant, reused until expiry) and waits for it at most as long as ctx
// lets it.
func (s *tokenSource) oauth2Token(ctx context.Context) (string, error) {
	o := s.acc.OAuth2
	if s.ts == nil {
		cfg := &oauth2.Config{
			ClientID:     o.ClientID,
			ClientSecret: o.ClientSecret,
			Endpoint:     oauth2.Endpoint{TokenURL: o.TokenURL},
			Scopes:       o.Scopes,
		}
		// The source outlives this call (other connections, later runs
		// of watch): its context must not be cancelled with ctx. Each
		// request is bounded by the client's timeout instead.
		client := &http.Client{Timeout: tokenHTTPTimeout}
		if len(o.Scopes) > 0 {
			client.Transport = &scopeTransport{scope: strings.Join(o.Scopes, " "), base: http.DefaultTransport}
		}
		base := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, client)
		s.ts = cfg.TokenSource(base, &oauth2.Token{RefreshToken: cmp.Or(s.refresh, o.RefreshToken)})
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := s.ts.Token()
		done <- result{tok, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return "", fmt.Errorf("oauth2 token endpoint %s: %w", o.TokenURL, ctx.Err())
	}
	if r.err != nil {
		return "", fmt.Errorf("oauth2 token endpoint %s: %s", o.TokenURL, describeOAuth2Error(r.err))
	}
	if r.tok.AccessToken == "" {
		return "", fmt.Errorf("oauth2 token endpoint %s: it answered without an access token", o.TokenURL)
	}
	s.last = r.tok
	return r.tok.AccessToken, nil
}

// rejected drops tok, an access token a server refused, so that the
// next call of token gets a new one rather than the one kept for reuse:
// the oauth2 source starts again from the latest refresh token (a
// rotated one, if the provider rotates them), a token_command runs
// again. A tok that is no longer the current token (another connection
// reported it first) changes nothing.
func (s *tokenSource) rejected(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.acc.OAuth2 != nil && s.last != nil && s.last.AccessToken == tok:
		s.refresh = s.last.RefreshToken
		s.ts, s.last = nil, nil
	case s.cmdToken != "" && s.cmdToken == tok:
		s.cmdToken = ""
	}
}

// describeOAuth2Error renders a failed refresh without the response
// body (which a provider could fill with anything) and with a hint.
func describeOAuth2Error(err error) string {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err.Error() // a network error: it names the URL, not the form
	}
	status := ""
	if re.Response != nil {
		status = re.Response.Status
	}
	switch re.ErrorCode {
	case "invalid_grant":
		return fmt.Sprintf("the provider refused the refresh token (invalid_grant, %s): it was revoked, expired or issued to another client; get a new one", status)
	case "invalid_client", "unauthorized_client":
		return fmt.Sprintf("the provider refused the client (%s, %s): check client_id and client_secret", re.ErrorCode, status)
	case "":
		return fmt.Sprintf("the token endpoint answered %s", status)
	}
	return fmt.Sprintf("the provider refused the refresh (%s, %s)", re.ErrorCode, status)
}

// runTokenCommand runs token_command and returns the first line of its
// output, as runPasswordCommand does. Its output is never printed. Its
// errors do not name the account: imapstore.Dial adds it.
func runTokenCommand(ctx context.Context, acc *hclconfig.Account) (string, error) {
	cmd := exec.CommandContext(ctx, acc.TokenCommand[0], acc.TokenCommand[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("token_command %q: %w", acc.TokenCommand[0], err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("token_command %q printed no access token", acc.TokenCommand[0])
	}
	return line, nil
}

// authOptions sets how acc logs in on opts: the mechanism, and the token
// function for a token mechanism.
func authOptions(ctx context.Context, acc *hclconfig.Account, opts *imapstore.Options) {
	switch acc.Auth {
	case hclconfig.AuthPlain:
		opts.Auth = imapstore.AuthPlain
	case hclconfig.AuthLogin:
		opts.Auth = imapstore.AuthLogin
	case hclconfig.AuthXOAuth2:
		opts.Auth = imapstore.AuthXOAuth2
	case hclconfig.AuthOAuthBearer:
		opts.Auth = imapstore.AuthOAuthBearer
	default:
		opts.Auth = imapstore.AuthDefault
	}
	if acc.Auth == hclconfig.AuthXOAuth2 || acc.Auth == hclconfig.AuthOAuthBearer {
		src := tokenSourceFor(ctx, acc)
		opts.Token, opts.TokenRejected = src.token, src.rejected
	}
}

// authHint adds to a failed login what to change in the account.
func authHint(acc *hclconfig.Account, err error) error {
	switch {
	case errors.Is(err, imapstore.ErrLoginDisabled) && acc.TLS == hclconfig.TLSNone:
		return fmt.Errorf("%w; set tls = \"implicit\" (port 993) or \"starttls\" in account %q, or, if the server takes only OAuth2, auth = \"xoauth2\" with token_command or an oauth2 block", err, acc.Name)
	case errors.Is(err, imapstore.ErrLoginDisabled):
		return fmt.Errorf("%w; the server takes no password from account %q: set auth = \"xoauth2\" or \"oauthbearer\" with token_command or an oauth2 block", err, acc.Name)
	}
	return err
}

// warnExposedTokens warns, once per account, when the config file is
// readable by group or others and holds that account's refresh token or
// client secret written out in it, as warnExposedPasswords does for
// passwords.
func warnExposedTokens(g *globalOptions, cfg *hclconfig.Config) {
	fi, err := os.Stat(g.config)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		return
	}
	for _, acc := range cfg.Accounts {
		if acc.OAuth2 != nil && acc.OAuth2.SecretInFile {
			g.log.Warn(fmt.Sprintf("warning: %s is readable by group or others (mode %04o) and holds the oauth2 refresh token or client secret of account %q: run chmod 600 %s, or use env(\"...\") or file(\"...\") for them",
				g.config, fi.Mode().Perm(), acc.Name, g.config), fieldAccount, acc.Name)
		}
	}
}

// scopeTransport adds an oauth2 block's scopes to the refresh request:
// golang.org/x/oauth2 sends none with the refresh grant (only the
// authorization request carries Config.Scopes), and Microsoft's v2
// endpoint wants them there. Other requests pass unchanged.
type scopeTransport struct {
	scope string // space-separated, as the form wants it
	base  http.RoundTripper
}

func (t *scopeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || r.Body == nil {
		return t.base.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "refresh_token" && form.Get("scope") == "" {
		form.Set("scope", t.scope)
		body = []byte(form.Encode())
	}
	r2 := r.Clone(r.Context()) // a RoundTripper must not change the caller's request
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return t.base.RoundTrip(r2)
}
