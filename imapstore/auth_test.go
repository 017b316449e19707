package imapstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// traceBuf is a DebugWriter that several connections may write to.
type traceBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *traceBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *traceBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// wireForms are the forms a secret takes on the wire: itself, and the
// base64 of the SASL initial responses that carry it.
func wireForms(user, secret string) []string {
	out := []string{secret}
	for _, ir := range []string{
		"user=" + user + "\x01auth=Bearer " + secret + "\x01\x01",
		"n,a=" + user + ",\x01auth=Bearer " + secret + "\x01\x01",
		"\x00" + user + "\x00" + secret,
	} {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(ir)))
	}
	return out
}

// TestAuthMechanisms logs in to Dovecot with each mechanism: PLAIN and
// LOGIN with the password, XOAUTH2 and OAUTHBEARER with an access token
// that Dovecot checks at the test's introspection endpoint. Every
// connection of the Store authenticates the same way: the MULTIAPPEND
// connection appends a message. The -vv trace shows the mechanism but
// no credential. Then the token is revoked: a new connection fails with
// ErrAuthFailed, naming the mechanism, never the token.
func TestAuthMechanisms(t *testing.T) {
	t.Parallel()
	ts := imaptest.StartTokenServer(t)
	srv := imaptest.StartDovecotOAuth2(t, ts, false, imaptest.DovecotOptions{}, "alice", "bob")
	for _, tt := range []struct {
		user  string
		mech  imapstore.Mechanism
		shown []string // in the trace: the Store's connection, the MULTIAPPEND one
	}{
		{"alice", imapstore.AuthPlain, []string{"T1 AUTHENTICATE PLAIN [credentials and SASL exchange not shown]", "M1 AUTHENTICATE PLAIN [credentials and SASL exchange not shown]"}},
		{"alice", imapstore.AuthLogin, []string{"[LOGIN command and reply not shown]", "M1 LOGIN [credentials not shown]"}},
		{"alice", imapstore.AuthXOAuth2, []string{"T1 AUTHENTICATE XOAUTH2 [credentials and SASL exchange not shown]", "M1 AUTHENTICATE XOAUTH2 [credentials and SASL exchange not shown]"}},
		{"bob", imapstore.AuthOAuthBearer, []string{"T1 AUTHENTICATE OAUTHBEARER [credentials and SASL exchange not shown]", "M1 AUTHENTICATE OAUTHBEARER [credentials and SASL exchange not shown]"}},
	} {
		t.Run(tt.mech.String(), func(t *testing.T) {
			token := ts.AccessToken(t, tt.user)
			var calls atomic.Int32
			trace := &traceBuf{}
			opts := imapstore.Options{
				Name: "acct", Addr: srv.Addr, TLS: imapstore.None,
				Username: tt.user, Auth: tt.mech, Timeout: 20 * time.Second,
				DebugWriter: trace,
			}
			if tt.mech == imapstore.AuthPlain || tt.mech == imapstore.AuthLogin {
				opts.Password = imaptest.Password
			} else {
				opts.Token = func(context.Context) (string, error) {
					calls.Add(1)
					return token, nil
				}
			}
			st, err := imapstore.Dial(context.Background(), opts)
			if err != nil {
				t.Fatalf("Dial(%v) = %v\n%s", tt.mech, err, srv.Log())
			}
			defer st.Close()
			if _, err := st.List(context.Background()); err != nil {
				t.Fatalf("List() = %v", err)
			}
			body := imaptest.NewMessage("a@example.org", "b@example.org", "auth", "auth-"+tt.mech.String()+"@example.org", "hello\r\n")
			if ap, err := imapstore.MultiAppendPipeline(st).Send(context.Background(), "INBOX", nil, time.Time{}, int64(len(body)), bytes.NewReader(body))(); err != nil || ap.UID == 0 {
				t.Fatalf("MULTIAPPEND connection: wait = %+v, %v\n%s", ap, err, srv.Log())
			}
			if tt.mech.String() == "XOAUTH2" || tt.mech.String() == "OAUTHBEARER" {
				if n := calls.Load(); n != 2 {
					t.Errorf("Token was called %d times, want 2 (the Store's connection, the MULTIAPPEND one)", n)
				}
			}
			st.Close()
			got := trace.String()
			for _, want := range tt.shown {
				if !strings.Contains(got, want) {
					t.Errorf("trace lacks %q:\n%s", want, got)
				}
			}
			secret := imaptest.Password
			if opts.Token != nil {
				secret = token
			}
			for _, bad := range wireForms(tt.user, secret) {
				if strings.Contains(got, bad) {
					t.Errorf("trace shows the credential %q:\n%s", bad, got)
				}
			}

			if opts.Token == nil {
				return
			}
			ts.Revoke(tt.user)
			_, err = imapstore.Dial(context.Background(), opts)
			t.Logf("with the token revoked: %v", err)
			if !errors.Is(err, imapstore.ErrAuthFailed) || !strings.Contains(err.Error(), "with "+tt.mech.String()) || !strings.Contains(err.Error(), "rejected the access token") {
				t.Errorf("Dial(revoked token) = %v; want ErrAuthFailed naming %v and the token", err, tt.mech)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("Dial(revoked token) error shows the token: %v", err)
			}
		})
	}
}

// TestAuthLoginDisabled: a server that takes only tokens advertises
// LOGINDISABLED on a connection without TLS. A password login says so,
// with what to do, and sends no password; a mechanism the server does
// not offer is refused before anything is sent.
func TestAuthLoginDisabled(t *testing.T) {
	t.Parallel()
	ts := imaptest.StartTokenServer(t)
	srv := imaptest.StartDovecotOAuth2(t, ts, true, imaptest.DovecotOptions{}, "alice")
	for _, tt := range []struct {
		mech imapstore.Mechanism
		want []string
		is   error
	}{
		{imapstore.AuthDefault, []string{`account "acct": login as alice at ` + srv.Addr, "(LOGINDISABLED): use TLS (implicit or starttls)", "it offers AUTHENTICATE OAUTHBEARER, XOAUTH2"}, imapstore.ErrLoginDisabled},
		{imapstore.AuthLogin, []string{"(LOGINDISABLED): use TLS"}, imapstore.ErrLoginDisabled},
		{imapstore.AuthPlain, []string{"with PLAIN: the server does not offer it (its AUTHENTICATE mechanisms: OAUTHBEARER, XOAUTH2)"}, nil},
	} {
		t.Run(tt.mech.String(), func(t *testing.T) {
			trace := &traceBuf{}
			_, err := imapstore.Dial(context.Background(), imapstore.Options{
				Name: "acct", Addr: srv.Addr, TLS: imapstore.None,
				Username: "alice", Password: imaptest.Password, Auth: tt.mech,
				Timeout: 20 * time.Second, DebugWriter: trace,
			})
			if err == nil {
				t.Fatal("Dial() = nil error, want a refusal")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Dial() = %v; want it to contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Dial() = %v; want it to match %v", err, tt.is)
			}
			got := trace.String()
			for _, line := range strings.Split(got, "\n") {
				if f := strings.Fields(line); strings.Contains(line, "not shown") || len(f) > 1 && (f[1] == "LOGIN" || f[1] == "AUTHENTICATE") {
					t.Errorf("trace shows a login attempt:\n%s", got)
				}
			}
		})
	}
}

// TestLoginCheckedInOneRoundTrip: the NOOP that checks a LOGIN took (a
// Dovecot that cannot set up the mail storage answers OK, then BYE)
// goes with the LOGIN: the LOGIN's answer is held until the NOOP has
// come, which it would never do were the NOOP sent after the answer.
// A wrong password still fails the login, as such.
func TestLoginCheckedInOneRoundTrip(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		rec := imaptest.Record(t, srv)
		noop := imaptest.NewGate()
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			switch {
			case e.Stage == imaptest.Received && e.Verb == "NOOP":
				noop.Open()
			case e.Stage == imaptest.Answered && e.Verb == "LOGIN":
				noop.Wait(10 * time.Second)
			}
			return imaptest.Action{}
		})
		open(t, rec.Server(), "alice")
		if noop.Held() {
			t.Errorf("the NOOP was sent after the LOGIN's answer:\n%s", strings.Join(rec.Commands(), "\n"))
		}
		rec.Intercept(nil)
		_, err := imapstore.Dial(context.Background(), imapstore.Options{
			Name: "acct", Addr: rec.Addr, TLS: imapstore.None, Username: "alice", Password: "wrong", Timeout: 20 * time.Second,
		})
		if err == nil || !strings.Contains(err.Error(), "check username and password") {
			t.Errorf("Dial with a wrong password = %v, want the login refused", err)
		}
	})
}
