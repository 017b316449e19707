package imaptest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/mailtwin/mailtwin/internal/dovecotd"
)

// TokenServer is an OAuth2 provider for tests, on 127.0.0.1: the token
// endpoint (TokenURL) trades refresh tokens for access tokens (the
// refresh grant, RFC 6749 6), and the introspection endpoint
// (IntrospectURL, RFC 7662) tells Dovecot's oauth2 passdb whose an
// access token is and whether it is still active.
//
// Every token it issues is random and distinctive, and Secrets lists
// them all, so a test can look for them where they must not be.
type TokenServer struct {
	// TokenURL and IntrospectURL are the endpoints.
	TokenURL, IntrospectURL string
	// ClientID and ClientSecret are the only client credentials the
	// token endpoint accepts, in the form or with HTTP Basic auth.
	ClientID, ClientSecret string

	mu sync.Mutex
	// refresh and access map live tokens to their user.
	refresh, access map[string]string
	// rotate: each refresh also issues a new refresh token.
	rotate  bool
	secrets []string
	grants  int
	scopes  []string // the scope parameter of each grant
}

// StartTokenServer starts a TokenServer, stopped when the test ends.
func StartTokenServer(t testing.TB) *TokenServer {
	t.Helper()
	ts := &TokenServer{
		ClientID:     "mailtwin-test-client",
		ClientSecret: "cs-" + randomHex(t),
		refresh:      map[string]string{},
		access:       map[string]string{},
	}
	ts.secrets = append(ts.secrets, ts.ClientSecret)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", ts.token)
	mux.HandleFunc("POST /introspect", ts.introspect)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ts.TokenURL, ts.IntrospectURL = srv.URL+"/token", srv.URL+"/introspect"
	return ts
}

func randomHex(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	return hex.EncodeToString(b)
}

// RefreshToken issues a refresh token for user.
func (ts *TokenServer) RefreshToken(t testing.TB, user string) string {
	t.Helper()
	rt := "rt-" + randomHex(t)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.refresh[rt] = user
	ts.secrets = append(ts.secrets, rt)
	return rt
}

// AccessToken issues an access token for user, as a helper such as
// oama would hand one out.
func (ts *TokenServer) AccessToken(t testing.TB, user string) string {
	t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issueLocked(user, "at-"+randomHex(t))
}

func (ts *TokenServer) issueLocked(user, tok string) string {
	ts.access[tok] = user
	ts.secrets = append(ts.secrets, tok)
	return tok
}

// Rotate makes every later refresh issue a new refresh token too (the
// old one stays valid), as providers that rotate refresh tokens do.
func (ts *TokenServer) Rotate() {
	ts.mu.Lock()
	ts.rotate = true
	ts.mu.Unlock()
}

// Revoke ends every access and refresh token of user: the next login
// with one of them fails.
func (ts *TokenServer) Revoke(user string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, m := range []map[string]string{ts.refresh, ts.access} {
		for tok, u := range m {
			if u == user {
				delete(m, tok)
			}
		}
	}
}

// EndAccessTokens ends every access token of user, but not the refresh
// tokens: as a provider that ends an access token before the expiry it
// gave (a password change, a security event) does. A login with one of
// them fails; a refreshed token works.
func (ts *TokenServer) EndAccessTokens(user string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for tok, u := range ts.access {
		if u == user {
			delete(ts.access, tok)
		}
	}
}

// Grants is how many refresh grants the token endpoint has answered
// with an access token.
func (ts *TokenServer) Grants() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.grants
}

// Scopes returns the scope parameter of each refresh grant answered, in
// order ("" where there was none).
func (ts *TokenServer) Scopes() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.scopes...)
}

// Secrets returns every token the server issued, refresh tokens (rotated
// ones too) and the client secret.
func (ts *TokenServer) Secrets() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.secrets...)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (ts *TokenServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != ts.ClientID || secret != ts.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	user, ok := ts.refresh[r.PostForm.Get("refresh_token")]
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "the refresh token is revoked or unknown"})
		return
	}
	ts.grants++
	ts.scopes = append(ts.scopes, r.PostForm.Get("scope"))
	b := make([]byte, 12)
	rand.Read(b)
	resp := map[string]any{
		"access_token": ts.issueLocked(user, "at-"+hex.EncodeToString(b)),
		"token_type":   "Bearer",
		"expires_in":   3600,
	}
	if ts.rotate {
		rand.Read(b)
		rt := "rt-" + hex.EncodeToString(b)
		ts.refresh[rt] = user
		ts.secrets = append(ts.secrets, rt)
		resp["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, resp)
}

func (ts *TokenServer) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	ts.mu.Lock()
	user, ok := ts.access[r.PostForm.Get("token")]
	ts.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusOK, map[string]string{"active": "false"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"active": "true", "username": user})
}

// StartDovecotOAuth2 is StartDovecotWith for a server that also takes
// OAuth2 access tokens issued by ts (AUTHENTICATE XOAUTH2 and
// OAUTHBEARER). Passwords keep working for PLAIN and LOGIN, so the
// Server's helpers (Append, Dial...) work as usual, unless noPasswords:
// then only tokens log in, the helpers cannot, and a connection
// advertises LOGINDISABLED.
func StartDovecotOAuth2(t testing.TB, ts *TokenServer, noPasswords bool, opts DovecotOptions, users ...string) *Server {
	t.Helper()
	opts.OAuth2 = &dovecotd.OAuth2{IntrospectionURL: ts.IntrospectURL, NoPasswords: noPasswords}
	return StartDovecotWith(t, opts, users...)
}
