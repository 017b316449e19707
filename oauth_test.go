package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// oauthAccount is an account of an OAuth2 test configuration.
type oauthAccount struct {
	name, user string
	// source is "oauth2" (a refresh token traded at the test's token
	// endpoint) or "command" (token_command printing an access token).
	source string
	auth   string // "xoauth2" or "oauthbearer"
}

// oauthSetup is a configuration of two OAuth2 accounts on one Dovecot
// that checks their tokens at a TokenServer.
type oauthSetup struct {
	t          *testing.T
	ts         *imaptest.TokenServer
	srv        *imaptest.Server
	cfg, state string
	// counts[name] is the file token_command appends a line to at each
	// run of it.
	counts  map[string]string
	outputs []string // every stdout and stderr, labelled
}

// newOAuthSetup starts the token server and Dovecot (which takes
// passwords too, for the test's own helpers) and writes the
// configuration. The secrets reach mailtwin through the environment, as
// a CI job would pass them.
func newOAuthSetup(t *testing.T, a, b oauthAccount) *oauthSetup {
	t.Helper()
	ts := imaptest.StartTokenServer(t)
	ts.Rotate()
	srv := imaptest.StartDovecotOAuth2(t, ts, false, imaptest.DovecotOptions{}, userA, userB)
	dir := t.TempDir()
	s := &oauthSetup{t: t, ts: ts, srv: srv, cfg: filepath.Join(dir, "mailtwin.hcl"), state: filepath.Join(dir, "state"), counts: map[string]string{}}
	host, port, _ := strings.Cut(srv.Addr, ":")
	t.Setenv("MAILTWIN_TEST_CLIENT_SECRET", ts.ClientSecret)
	config := fmt.Sprintf("state { path = %q }\n", s.state)
	for _, acc := range []oauthAccount{a, b} {
		up := strings.ToUpper(acc.name)
		config += fmt.Sprintf("account %q {\n  host = %q\n  port = %s\n  tls = \"none\"\n  username = %q\n  auth = %q\n", acc.name, host, port, acc.user, acc.auth)
		switch acc.source {
		case "oauth2":
			t.Setenv("MAILTWIN_TEST_RT_"+up, ts.RefreshToken(t, acc.user))
			config += fmt.Sprintf(`  oauth2 {
    token_url     = %q
    client_id     = %q
    client_secret = env("MAILTWIN_TEST_CLIENT_SECRET")
    refresh_token = env("MAILTWIN_TEST_RT_%s")
    scopes        = ["mail", "offline_access"]
  }
`, ts.TokenURL, ts.ClientID, up)
		case "command":
			t.Setenv("MAILTWIN_TEST_TOKEN_"+up, ts.AccessToken(t, acc.user))
			count := filepath.Join(dir, acc.name+".runs")
			s.counts[acc.name] = count
			script := fmt.Sprintf(`echo run >> %q; printf '%%s\n' "$MAILTWIN_TEST_TOKEN_%s"`, count, up)
			config += fmt.Sprintf("  token_command = [\"sh\", \"-c\", %q]\n", script)
		default:
			t.Fatalf("unknown token source %q", acc.source)
		}
		config += "}\n"
	}
	config += fmt.Sprintf("pair \"p\" {\n  a = %q\n  b = %q\n}\n", a.name, b.name)
	if err := os.WriteFile(s.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// mt runs mailtwin with the configuration and args, wants exit code
// want, and returns stdout and stderr.
func (s *oauthSetup) mt(want int, args ...string) (string, string) {
	s.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"-c", s.cfg}, args...), strings.NewReader(""), &out, &errb)
	s.outputs = append(s.outputs,
		fmt.Sprintf("stdout of %s:\n%s", strings.Join(args, " "), out.String()),
		fmt.Sprintf("stderr of %s:\n%s", strings.Join(args, " "), errb.String()))
	if code != want {
		s.t.Fatalf("mailtwin %s exited %d, want %d\nstdout:\n%s\nstderr:\n%s\n--- dovecot log ---\n%s", strings.Join(args, " "), code, want, out.String(), errb.String(), s.srv.Log())
	}
	return out.String(), errb.String()
}

// runs is how often token_command of account name has run.
func (s *oauthSetup) runs(name string) int {
	b, _ := os.ReadFile(s.counts[name])
	return strings.Count(string(b), "run\n")
}

// seed puts mail in several folders of both accounts, enough for a run
// to work on folders in parallel (the pool's connections) and to copy
// with MULTIAPPEND.
func (s *oauthSetup) seed(f *syncFixture) {
	for i := 1; i <= 6; i++ {
		f.put(userA, "INBOX", fmt.Sprintf("a%d", i))
	}
	for _, box := range []string{"Work", "Archive", "Lists"} {
		s.srv.Create(s.t, userA, box)
		f.put(userA, box, "a-"+strings.ToLower(box))
	}
	f.put(userB, "INBOX", "b1")
}

// TestOAuth2Sync syncs two accounts that log in with OAuth2 access
// tokens, over Dovecot's oauth2 passdb: one gets its token by trading a
// refresh token in an oauth2 block, the other from token_command; each
// way round, so XOAUTH2 and OAUTHBEARER both meet both sources. A run
// gets each account's token once (one refresh grant, one run of the
// command) though it opens several connections per account. The token
// endpoint rotates the refresh token: the rotated one is used, and not
// written anywhere (the config and environment still hold the first).
func TestOAuth2Sync(t *testing.T) {
	for _, tt := range []struct {
		name string
		a, b oauthAccount
	}{
		{"oauth2 xoauth2, command oauthbearer",
			oauthAccount{"a", userA, "oauth2", "xoauth2"}, oauthAccount{"b", userB, "command", "oauthbearer"}},
		{"command xoauth2, oauth2 oauthbearer",
			oauthAccount{"a", userA, "command", "xoauth2"}, oauthAccount{"b", userB, "oauth2", "oauthbearer"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newOAuthSetup(t, tt.a, tt.b)
			f := &syncFixture{t: t, srv: s.srv}
			s.seed(f)
			oauthName, cmdName := tt.a.name, tt.b.name
			if tt.a.source == "command" {
				oauthName, cmdName = cmdName, oauthName
			}

			s.mt(0, "apply")
			if g := s.ts.Grants(); g != 1 {
				t.Errorf("apply made %d refresh grants for account %q, want 1 (one token per run, shared by its connections)", g, oauthName)
			}
			if sc := s.ts.Scopes(); len(sc) != 1 || sc[0] != "mail offline_access" {
				t.Errorf("the refresh grants asked for scopes %q, want [\"mail offline_access\"] (the oauth2 block's)", sc)
			}
			if n := s.runs(cmdName); n != 1 {
				t.Errorf("apply ran token_command of account %q %d times, want 1", cmdName, n)
			}
			inbox := []string{"a1 -", "a2 -", "a3 -", "a4 -", "a5 -", "a6 -", "b1 -"}
			f.wantBoth("INBOX", inbox...)
			for _, box := range []string{"Work", "Archive", "Lists"} {
				f.wantBoth(box, "a-"+strings.ToLower(box)+" -")
			}

			// A second run: a new process's worth of tokens, and nothing
			// left to do.
			out, _ := s.mt(0, "plan", "--detailed-exitcode")
			if g := s.ts.Grants(); g != 2 {
				t.Errorf("after plan, %d refresh grants, want 2", g)
			}
			if n := s.runs(cmdName); n != 2 {
				t.Errorf("after plan, token_command ran %d times, want 2", n)
			}
			if strings.Contains(out, "+") {
				t.Errorf("plan after apply is not empty:\n%s", out)
			}

			// The rotated refresh tokens are nowhere on disk: not in the
			// config, not in the state repository.
			secrets := s.ts.Secrets()
			for _, p := range []string{s.cfg} {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				for _, sec := range secrets {
					if bytes.Contains(b, []byte(sec)) {
						t.Errorf("%s holds the secret %q", p, sec)
					}
				}
			}
			grepStateRepo(t, s.state, secrets)
		})
	}
}

// TestOAuth2Revoked: a run whose token the provider has revoked fails,
// exits 1, names the account and what refused it (the server, with the
// mechanism; or the token endpoint, for the refresh token), shows no
// token, and changes nothing: both mailboxes and the state repository
// stay as they were.
func TestOAuth2Revoked(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    oauthAccount
		want []string
	}{
		{"server rejects the access token",
			oauthAccount{"b", userB, "command", "xoauth2"},
			[]string{`pair "p": account "b": authenticate as bob at `, "with XOAUTH2: authentication failed", "the server rejected the access token"}},
		{"server rejects the access token, oauthbearer",
			oauthAccount{"b", userB, "command", "oauthbearer"},
			[]string{`account "b": authenticate as bob at `, "with OAUTHBEARER: authentication failed"}},
		{"token endpoint refuses the refresh token",
			oauthAccount{"b", userB, "oauth2", "xoauth2"},
			[]string{`pair "p": account "b": get the access token for XOAUTH2: oauth2 token endpoint http://127.0.0.1:`, "refused the refresh token (invalid_grant"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newOAuthSetup(t, oauthAccount{"a", userA, "oauth2", "oauthbearer"}, tt.b)
			f := &syncFixture{t: t, srv: s.srv}
			s.seed(f)
			s.mt(0, "apply")

			f.put(userA, "INBOX", "late")
			f.expunge(userB, "INBOX", "a1")
			beforeA, beforeB := f.contents(userA, "INBOX"), f.contents(userB, "INBOX")
			head, files := stateSnapshot(t, s.state)

			s.ts.Revoke(userB)
			_, stderr := s.mt(1, "apply")
			t.Logf("apply with the token revoked:\n%s", stderr)
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("apply stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, sec := range s.ts.Secrets() {
				if strings.Contains(stderr, sec) {
					t.Errorf("apply stderr shows the secret %q:\n%s", sec, stderr)
				}
			}
			f.want(userA, "INBOX", beforeA...)
			f.want(userB, "INBOX", beforeB...)
			if h, fs := stateSnapshot(t, s.state); h != head || fs != files {
				t.Errorf("the state repository changed: HEAD %s -> %s", head, h)
			}
		})
	}
}

// stateSnapshot returns the state repository's HEAD and every file of
// its worktree (name and contents), to tell whether a run changed it.
func stateSnapshot(t *testing.T, dir string) (string, string) {
	t.Helper()
	r, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := r.Head()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, string(filepath.Separator)+".git"+string(filepath.Separator)) {
			return err
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(&b, "== %s\n%s\n", p, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return head.Hash().String(), b.String()
}

// TestOAuth2OnlyServerRefusesPasswords: an account with a password (auth
// unset) against a server that takes only tokens, without TLS: the run
// exits 1 with an error naming the account, LOGINDISABLED, and what to
// set, and sends no password.
func TestOAuth2OnlyServerRefusesPasswords(t *testing.T) {
	ts := imaptest.StartTokenServer(t)
	srv := imaptest.StartDovecotOAuth2(t, ts, true, imaptest.DovecotOptions{}, userA, userB)
	cfg := writeTestConfig(t,
		loopbackAccount("a", srv.Addr, userA),
		loopbackAccount("b", srv.Addr, userB, `auth = "xoauth2"`, fmt.Sprintf(`token_command = ["echo", %q]`, ts.AccessToken(t, userB))),
		pairHCL("p", "a", "b"))
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-c", cfg, "plan", "-vv"}, strings.NewReader(""), &out, &errb)
	stderr := errb.String()
	for _, want := range []string{
		`mailtwin: pair "p": account "a": login as alice at ` + srv.Addr + `: the server does not allow a password login on this connection (LOGINDISABLED): use TLS (implicit or starttls)`,
		`it offers AUTHENTICATE OAUTHBEARER, XOAUTH2; set tls = "implicit" (port 993) or "starttls" in account "a", or, if the server takes only OAuth2, auth = "xoauth2" with token_command or an oauth2 block`,
		"mailtwin: trace b: T1 AUTHENTICATE XOAUTH2 [credentials and SASL exchange not shown]",
	} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("plan exited %d, want 1 with %q in stderr:\n%s", code, want, stderr)
		}
	}
	if strings.Contains(stderr, imaptest.Password) || strings.Contains(stderr, "trace a: T1 LOGIN") || strings.Contains(stderr, "[LOGIN command") {
		t.Errorf("a password login was attempted:\n%s", stderr)
	}
}

// TestOAuth2TokenPerRun: an account in two pairs, synced by one run,
// trades its refresh token once: the run's accounts share their tokens
// across pairs, not only across one pair's connections.
func TestOAuth2TokenPerRun(t *testing.T) {
	ts := imaptest.StartTokenServer(t)
	srv := imaptest.StartDovecotOAuth2(t, ts, false, imaptest.DovecotOptions{}, userA, userB, "carol")
	t.Setenv("MAILTWIN_TEST_RT", ts.RefreshToken(t, userA))
	t.Setenv("MAILTWIN_TEST_CLIENT_SECRET", ts.ClientSecret)
	cfg := writeTestConfig(t,
		loopbackAccount("a", srv.Addr, userA, fmt.Sprintf(`oauth2 {
    token_url     = %q
    client_id     = %q
    client_secret = env("MAILTWIN_TEST_CLIENT_SECRET")
    refresh_token = env("MAILTWIN_TEST_RT")
  }`, ts.TokenURL, ts.ClientID)),
		loopbackAccount("b", srv.Addr, userB),
		loopbackAccount("c", srv.Addr, "carol"),
		pairHCL("ab", "a", "b"),
		pairHCL("ac", "a", "c"))
	f := &syncFixture{t: t, srv: srv}
	f.put(userA, "INBOX", "m1")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-c", cfg, "apply"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("apply exited %d:\n%s\n%s", code, out.String(), errb.String())
	}
	f.want(userB, "INBOX", "m1 -")
	f.want("carol", "INBOX", "m1 -")
	if g := ts.Grants(); g != 1 {
		t.Errorf("one run of two pairs made %d refresh grants for account a, want 1", g)
	}
}

// TestOAuth2SecretInFileWarns: a config file that others can read and
// that holds a refresh token written out in it draws a warning naming
// the file and the account (and not the token); one that reads it with
// env() draws none, and neither does a private file.
func TestOAuth2SecretInFileWarns(t *testing.T) {
	dir := t.TempDir()
	write := func(name, refresh string) string {
		p := filepath.Join(dir, name)
		src := fmt.Sprintf(`account "a" {
  host = "127.0.0.1"
  tls = "none"
  username = "alice"
  oauth2 {
    token_url = "https://login.example/token"
    client_id = "c"
    refresh_token = %s
  }
}
account "b" {
  host = "127.0.0.1"
  tls = "none"
  username = "bob"
  password = env("MAILTWIN_TEST_PW")
}
pair "p" {
  a = "a"
  b = "b"
}
`, refresh)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("MAILTWIN_TEST_PW", "pw")
	t.Setenv("MAILTWIN_TEST_RT", "1//from-env")
	validate := func(path string) string {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"-c", path, "validate"}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("validate %s exited %d:\n%s", path, code, errb.String())
		}
		return errb.String()
	}
	literal := write("literal.hcl", `"1//written-out-token"`)
	got := validate(literal)
	want := fmt.Sprintf("mailtwin: warning: %s is readable by group or others (mode 0644) and holds the oauth2 refresh token or client secret of account \"a\": run chmod 600 %s, or use env(\"...\") or file(\"...\") for them\n", literal, literal)
	if got != want {
		t.Errorf("validate stderr = %q, want %q", got, want)
	}
	if err := os.Chmod(literal, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := validate(literal); got != "" {
		t.Errorf("validate of a private file: stderr = %q, want nothing", got)
	}
	if got := validate(write("env.hcl", `env("MAILTWIN_TEST_RT")`)); got != "" {
		t.Errorf("validate with env(): stderr = %q, want nothing", got)
	}
}

// TestOAuth2AccessTokenEndedEarly: the provider ends b's access token
// long before the hour it said it would last, while watch runs (and
// keeps the token for reuse). The next run's login is refused; mailtwin
// drops the token, gets a new one (a refresh at the token endpoint, or
// token_command again) and logs in with it: the run copies the new
// message and nothing fails. When the refresh token is revoked too,
// the error says so beside the server's rejection.
func TestOAuth2AccessTokenEndedEarly(t *testing.T) {
	for _, source := range []string{"oauth2", "command"} {
		t.Run(source, func(t *testing.T) {
			s := newOAuthSetup(t, oauthAccount{"a", userA, "oauth2", "xoauth2"}, oauthAccount{"b", userB, source, "xoauth2"})
			f := &syncFixture{t: t, srv: s.srv}
			f.put(userA, "INBOX", "m1")
			wr := startWatch(t, s.cfg, "--interval", "1h")
			wr.waitLine(t, "pair p (start): b: 1 copied; state committed")
			grants, runs := s.ts.Grants(), s.runs("b")
			s.ts.EndAccessTokens(userB)
			if source == "command" {
				// The helper hands out a new token from now on.
				t.Setenv("MAILTWIN_TEST_TOKEN_B", s.ts.AccessToken(t, userB))
			}
			f.put(userA, "INBOX", "m2")
			wr.waitLine(t, "pair p (idle): b: 1 copied; state committed")
			out := wr.out.String()
			if strings.Contains(out, "failed") || strings.Contains(out, "rejected") {
				t.Errorf("the run with the ended token failed before it recovered:\n%s", out)
			}
			switch source {
			case "oauth2":
				if got := s.ts.Grants(); got != grants+1 {
					t.Errorf("%d refresh grants after the token ended, want 1", got-grants)
				}
			case "command":
				if got := s.runs("b"); got != runs+1 {
					t.Errorf("token_command ran %d times after the token ended, want 1", got-runs)
				}
			}
			for _, sec := range s.ts.Secrets() {
				if strings.Contains(out, sec) {
					t.Errorf("watch's output shows the secret %q", sec)
				}
			}
			f.want(userB, "INBOX", "m1 -", "m2 -")
			if source == "oauth2" {
				// Now the refresh token goes too: the rejected token's
				// error says why no new one came.
				s.ts.Revoke(userB)
				f.put(userA, "INBOX", "m3")
				// One line, the first failure's: not a later retry's,
				// which finds no token to begin with.
				both := func() bool {
					for _, l := range strings.Split(wr.out.String(), "\n") {
						if strings.Contains(l, "the server rejected the access token") && strings.Contains(l, "refused the refresh token (invalid_grant") {
							return true
						}
					}
					return false
				}
				waitFor(t, 30*time.Second, "the rejection and the refused refresh in one error", both, wr.out.String)
				if n := strings.Count(wr.out.String(), "the server rejected the access token"); n != 1 {
					t.Errorf("%d errors name the server's rejection, want 1 (the retries find no token):\n%s", n, wr.out)
				}
			}
		})
	}
}
