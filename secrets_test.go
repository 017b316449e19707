package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestSecretsNeverLeak runs the CLI through a whole life (validate, plan,
// plan --json, apply -vv with its protocol trace, a second apply --json
// -vv with new mail, flags and a deletion, log -v, status) against a real
// server, and greps everything it produced for the account password:
// stdout, stderr, the plan JSON, every commit message and every object in
// the state repository's history, and every file on disk under it. The
// state repository must not hold the messages' subjects, bodies or
// addresses either (DESIGN.md: never passwords, bodies, subjects or
// addresses).
//
// The password is imaptest.Password. Nothing else the test produces
// contains that word, so finding it anywhere means it leaked; the
// base64 forms an AUTHENTICATE PLAIN would send are looked for too.
func TestSecretsNeverLeak(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		t.Setenv("MAILTWIN_TEST_B_PASSWORD", imaptest.Password)
		cfg := writeTestConfig(t,
			loopbackAccount("a", srv.Addr, userA),
			loopbackAccount("b", srv.Addr, userB, `password = env("MAILTWIN_TEST_B_PASSWORD")`),
			pairHCL("p", "a", "b"))
		state := filepath.Join(filepath.Dir(cfg), "state")

		// Subjects, bodies and addresses distinctive enough to grep for.
		var private []string
		put := func(user, mailbox, id string, flags ...imap.Flag) {
			from, to := "zorblat."+id+"@sender.test", "quimby."+id+"@rcpt.test"
			subject, body := "Subject vexillum "+id, "Body marmalade "+id
			private = append(private, from, to, subject, body)
			srv.Append(t, user, mailbox, imaptest.NewMessage("Zorblat <"+from+">", to, subject, id+"@example.org", body+"\r\n"), flags...)
		}
		put(userA, "INBOX", "m1", imap.FlagSeen)
		put(userA, "INBOX", "m2")
		put(userB, "INBOX", "m3", imap.FlagFlagged)
		put(userB, "Work", "m4")

		var outputs []string // "what: text", every stdout and stderr
		mt := func(want int, args ...string) string {
			t.Helper()
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"-c", cfg}, args...), strings.NewReader(""), &out, &errb)
			if code != want {
				t.Fatalf("mailtwin %s exited %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out.String(), errb.String())
			}
			outputs = append(outputs,
				fmt.Sprintf("stdout of %s:\n%s", strings.Join(args, " "), out.String()),
				fmt.Sprintf("stderr of %s:\n%s", strings.Join(args, " "), errb.String()))
			return out.String() + errb.String()
		}
		mt(0, "validate")
		mt(0, "plan")
		mt(0, "plan", "--json")
		trace := mt(0, "apply", "-vv")
		// The trace is really there, with its LOGIN redacted.
		for _, want := range []string{"mailtwin: trace a: ", "mailtwin: trace b: ", "[LOGIN command and reply not shown]", "APPEND"} {
			if !strings.Contains(trace, want) {
				t.Errorf("apply -vv output lacks %q:\n%s", want, trace)
			}
		}
		put(userA, "INBOX", "m5")
		seed := &syncFixture{t: t, srv: srv}
		srv.AddFlags(t, userB, "INBOX", seed.uidOf(userB, "INBOX", "m1"), imap.FlagAnswered)
		seed.expunge(userA, "INBOX", "m2")
		mt(0, "plan", "-vv")
		mt(0, "apply", "--json", "-vv")
		mt(0, "log", "-v")
		mt(0, "status")

		secrets := []string{imaptest.Password}
		for _, u := range []string{userA, userB} {
			for _, plain := range []string{"\x00" + u + "\x00" + imaptest.Password, u + "\x00" + u + "\x00" + imaptest.Password} {
				secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(plain)))
			}
		}
		for _, o := range outputs {
			for _, s := range secrets {
				if strings.Contains(o, s) {
					t.Errorf("the password (%q) leaked into the %s", s, o)
				}
			}
		}

		commits, stateFiles := grepStateRepo(t, state, append(secrets, private...))
		if commits < 2 || stateFiles < 2 {
			t.Fatalf("state repo has %d commits and %d state file versions, want at least 2 of each: the test saw too little", commits, stateFiles)
		}
	})
}

// grepStateRepo looks for each of needles in the state repository at
// dir: every object of its history decompressed (blobs, trees, commits
// with their messages and journals), the commits as walked from HEAD,
// and every file on disk under dir (worktree, index, refs, config, a
// lock's leftovers). It returns how many commits and state file versions
// it saw, so a caller can tell it saw enough.
func grepStateRepo(t *testing.T, state string, needles []string) (commits, stateFiles int) {
	t.Helper()
	g, err := git.PlainOpen(state)
	if err != nil {
		t.Fatal(err)
	}
	objects, err := g.Storer.IterEncodedObjects(plumbing.AnyObject)
	if err != nil {
		t.Fatal(err)
	}
	err = objects.ForEach(func(o plumbing.EncodedObject) error {
		if o.Type() == plumbing.CommitObject {
			commits++
		}
		r, err := o.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(b, []byte("# mailtwin state")) {
			stateFiles++
		}
		for _, s := range needles {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("state repo %s %s holds %q:\n%s", o.Type(), o.Hash(), s, b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	log, err := g.Log(&git.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = log.ForEach(func(c *object.Commit) error {
		for _, s := range needles {
			if strings.Contains(c.Message, s) {
				t.Errorf("commit %s message holds %q:\n%s", c.Hash, s, c.Message)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range needles {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", p, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return commits, stateFiles
}

// TestSecretsNeverLeakOAuth2 is TestSecretsNeverLeak for OAuth2
// accounts: one trading a refresh token (which the token endpoint
// rotates) with a client secret, one with token_command. Through
// validate, plan, apply -vv (the protocol trace, SASL exchanges
// included), a second apply --json -vv with new mail, a run whose token
// is revoked, log -v and status, no access token, refresh token (first
// or rotated), client secret, or SASL initial response carrying a token
// reaches stdout, stderr or anything in the state repository.
func TestSecretsNeverLeakOAuth2(t *testing.T) {
	s := newOAuthSetup(t, oauthAccount{"a", userA, "oauth2", "xoauth2"}, oauthAccount{"b", userB, "command", "oauthbearer"})
	f := &syncFixture{t: t, srv: s.srv}
	s.seed(f)
	s.mt(0, "validate")
	s.mt(0, "plan")
	_, trace := s.mt(0, "apply", "-vv")
	for _, want := range []string{
		"mailtwin: trace a: T1 AUTHENTICATE XOAUTH2 [credentials and SASL exchange not shown]",
		"mailtwin: trace b: T1 AUTHENTICATE OAUTHBEARER [credentials and SASL exchange not shown]",
		"APPEND",
	} {
		if !strings.Contains(trace, want) {
			t.Errorf("apply -vv output lacks %q:\n%s", want, trace)
		}
	}
	f.put(userA, "INBOX", "late")
	f.put(userB, "Work", "b-work")
	s.mt(0, "plan", "-vv", "--json")
	s.mt(0, "apply", "--json", "-vv")
	s.ts.Revoke(userB)
	s.mt(1, "apply", "-vv")
	s.mt(0, "log", "-v")
	s.mt(0, "status")

	secrets := s.ts.Secrets()
	if len(secrets) < 6 { // client secret, 1 refresh token + 2 rotated, 1 command token, 3 access tokens
		t.Fatalf("the token server issued only %d secrets: the test saw too little", len(secrets))
	}
	var needles []string
	for _, sec := range secrets {
		needles = append(needles, sec)
		for _, u := range []string{userA, userB} {
			for _, ir := range []string{"user=" + u + "\x01auth=Bearer " + sec + "\x01\x01", "n,a=" + u + ",\x01auth=Bearer " + sec + "\x01\x01"} {
				needles = append(needles, base64.StdEncoding.EncodeToString([]byte(ir)))
			}
		}
	}
	for _, o := range s.outputs {
		for _, n := range needles {
			if strings.Contains(o, n) {
				t.Errorf("a secret (%q) leaked into the %s", n, o)
			}
		}
	}
	if commits, stateFiles := grepStateRepo(t, s.state, needles); commits < 2 || stateFiles < 2 {
		t.Fatalf("state repo has %d commits and %d state file versions, want at least 2 of each: the test saw too little", commits, stateFiles)
	}
}
