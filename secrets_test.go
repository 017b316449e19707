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
		host, port, _ := strings.Cut(srv.Addr, ":")
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		cfg := filepath.Join(dir, "mailtwin.hcl")
		t.Setenv("MAILTWIN_TEST_B_PASSWORD", imaptest.Password)
		config := fmt.Sprintf(`state { path = %q }
account "a" {
  host = %q
  port = %s
  tls = "none"
  username = %q
  password = %q
}
account "b" {
  host = %q
  port = %s
  tls = "none"
  username = %q
  password = env("MAILTWIN_TEST_B_PASSWORD")
}
pair "p" {
  a = "a"
  b = "b"
}
`, state, host, port, userA, imaptest.Password, host, port, userB)
		if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}

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

		// Every object of the state repository's history, decompressed:
		// blobs, trees and commits (the messages and journals).
		g, err := git.PlainOpen(state)
		if err != nil {
			t.Fatal(err)
		}
		objects, err := g.Storer.IterEncodedObjects(plumbing.AnyObject)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[plumbing.ObjectType]int{}
		var stateFiles int
		err = objects.ForEach(func(o plumbing.EncodedObject) error {
			counts[o.Type()]++
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
			where := fmt.Sprintf("state repo %s %s", o.Type(), o.Hash())
			for _, s := range append(secrets, private...) {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds %q:\n%s", where, s, b)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if counts[plumbing.CommitObject] < 2 || stateFiles < 2 {
			t.Fatalf("state repo has %d commits and %d state file versions, want at least 2 of each: the test saw too little", counts[plumbing.CommitObject], stateFiles)
		}
		// The commits as go-git reads them, walked from HEAD.
		commits, err := g.Log(&git.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = commits.ForEach(func(c *object.Commit) error {
			for _, s := range append(secrets, private...) {
				if strings.Contains(c.Message, s) {
					t.Errorf("commit %s message holds %q:\n%s", c.Hash, s, c.Message)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Every file on disk: the worktree, the index, refs, config, the
		// lock's leftovers.
		err = filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, s := range append(secrets, private...) {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds %q", p, s)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
