package main

import (
	"errors"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestMain lets testscript run the mailtwin binary as a subprocess of the
// test binary: scripts call it as "exec mailtwin ...".
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"mailtwin": main})
}

type serverKey struct{}

// TestScripts runs the CLI scripts in testdata/script. Each script gets
// its own in-memory IMAP server with users alice and bob, whose address is
// in $IMAP_HOST and $IMAP_PORT, and these commands:
//
//	imap-append USER MAILBOX ID [FLAG...]   deliver a message with Message-ID ID
//	imap-list USER MAILBOX                  print "ID FLAGS" lines, sorted
//	imap-flag USER MAILBOX ID FLAG...       add flags
//	imap-expunge USER MAILBOX ID            expunge a message
//	exits N PROGRAM [ARGS...]               run PROGRAM, assert exit code N
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			srv := imaptest.StartMem(t, "alice", "bob")
			host, port, _ := strings.Cut(srv.Addr, ":")
			env.Setenv("IMAP_HOST", host)
			env.Setenv("IMAP_PORT", port)
			env.Setenv("IMAP_PASSWORD", imaptest.Password)
			env.Values[serverKey{}] = srv
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"imap-append":  cmdIMAPAppend(t),
			"imap-list":    cmdIMAPList(t),
			"imap-flag":    cmdIMAPFlag(t),
			"imap-expunge": cmdIMAPExpunge(t),
			"exits":        cmdExits,
		},
	})
}

func scriptServer(ts *testscript.TestScript) *imaptest.Server {
	return ts.Value(serverKey{}).(*imaptest.Server)
}

func cmdIMAPAppend(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 3 {
			ts.Fatalf("usage: imap-append USER MAILBOX ID [FLAG...]")
		}
		var flags []imap.Flag
		for _, f := range args[3:] {
			flags = append(flags, imap.Flag(f))
		}
		msg := imaptest.NewMessage("sender@example.org", "team@example.org", "about "+args[2], args[2]+"@example.org", "body of "+args[2]+"\r\n")
		scriptServer(ts).Append(t, args[0], args[1], msg, flags...)
	}
}

func cmdIMAPList(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: imap-list USER MAILBOX")
		}
		var lines []string
		for _, m := range scriptServer(ts).Messages(t, args[0], args[1]) {
			fl := "-"
			if len(m.Flags) > 0 {
				fl = strings.Join(m.Flags, ",")
			}
			lines = append(lines, strings.TrimSuffix(m.MessageID, "@example.org")+" "+fl+"\n")
		}
		slices.Sort(lines)
		for _, l := range lines {
			ts.Stdout().Write([]byte(l))
		}
	}
}

func scriptUID(t *testing.T, ts *testscript.TestScript, user, mailbox, id string) uint32 {
	for _, m := range scriptServer(ts).Messages(t, user, mailbox) {
		if m.MessageID == id+"@example.org" {
			return m.UID
		}
	}
	ts.Fatalf("%s has no message %s in %s", user, id, mailbox)
	return 0
}

func cmdIMAPFlag(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 4 {
			ts.Fatalf("usage: imap-flag USER MAILBOX ID FLAG...")
		}
		var flags []imap.Flag
		for _, f := range args[3:] {
			flags = append(flags, imap.Flag(f))
		}
		srv := scriptServer(ts)
		srv.AddFlags(t, args[0], args[1], scriptUID(t, ts, args[0], args[1], args[2]), flags...)
	}
}

func cmdIMAPExpunge(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: imap-expunge USER MAILBOX ID")
		}
		scriptServer(ts).Expunge(t, args[0], args[1], scriptUID(t, ts, args[0], args[1], args[2]))
	}
}

// cmdExits runs a program and asserts its exit code.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
