package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

type dovecotKey struct{ side string }

// TestScriptsDovecot runs the CLI scripts in testdata/script-dovecot
// against two Dovecot servers, a and b, each with user alice (password
// in $IMAP_PASSWORD), at $A_ADDR and $B_ADDR (host:port, plain IMAP on
// 127.0.0.1; also split in $A_HOST, $A_PORT, $B_HOST and $B_PORT). Both
// list special-use attributes:
//
//	a: "Sent Items" \Sent, "Drafts" \Drafts, "Trash" \Trash, "Junk" \Junk
//	   (created), and "All Mail" \All, "Important" \Important (once made)
//	b: "Sent" \Sent, "Drafts", "Trash", "Junk" (created), "All Mail" \All
//	   (once made)
//
// Commands, SIDE being a or b:
//
//	dc-create SIDE MAILBOX                make a mailbox of alice
//	dc-append SIDE MAILBOX ID [FLAG...]   deliver a message with Message-ID ID
//	dc-list SIDE MAILBOX                  print "ID FLAGS" lines, sorted
//	dc-mailboxes SIDE                     print alice's mailboxes, sorted
//	exits N PROGRAM [ARGS...]             run PROGRAM, assert exit code N
func TestScriptsDovecot(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script-dovecot",
		Setup: func(env *testscript.Env) error {
			a := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{
				SpecialUse:      map[string]string{`\Sent`: "Sent Items"},
				ExtraSpecialUse: map[string]string{"All Mail": `\All`, "Important": `\Important`},
			}, "alice")
			b := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{
				ExtraSpecialUse: map[string]string{"All Mail": `\All`},
			}, "alice")
			env.Setenv("A_ADDR", a.Addr)
			env.Setenv("B_ADDR", b.Addr)
			for side, srv := range map[string]*imaptest.Server{"A": a, "B": b} {
				host, port, _ := strings.Cut(srv.Addr, ":")
				env.Setenv(side+"_HOST", host)
				env.Setenv(side+"_PORT", port)
			}
			env.Setenv("IMAP_PASSWORD", imaptest.Password)
			env.Values[dovecotKey{"a"}] = a
			env.Values[dovecotKey{"b"}] = b
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"dc-create":    dcCreate(t),
			"dc-append":    dcAppend(t),
			"dc-list":      dcList(t),
			"dc-mailboxes": dcMailboxes(t),
			"exits":        cmdExits,
		},
	})
}

func dcServer(ts *testscript.TestScript, side string) *imaptest.Server {
	srv, ok := ts.Value(dovecotKey{side}).(*imaptest.Server)
	if !ok {
		ts.Fatalf("no server %q: want a or b", side)
	}
	return srv
}

func dcCreate(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: dc-create SIDE MAILBOX")
		}
		dcServer(ts, args[0]).Create(t, "alice", args[1])
	}
}

func dcAppend(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 3 {
			ts.Fatalf("usage: dc-append SIDE MAILBOX ID [FLAG...]")
		}
		var flags []imap.Flag
		for _, f := range args[3:] {
			flags = append(flags, imap.Flag(f))
		}
		msg := imaptest.NewMessage("sender@example.org", "team@example.org", "about "+args[2], args[2]+"@example.org", "body of "+args[2]+"\r\n")
		dcServer(ts, args[0]).Append(t, "alice", args[1], msg, flags...)
	}
}

func dcList(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: dc-list SIDE MAILBOX")
		}
		var lines []string
		for _, m := range dcServer(ts, args[0]).Messages(t, "alice", args[1]) {
			fl := "-"
			if len(m.Flags) > 0 {
				fl = strings.Join(m.Flags, ",")
			}
			lines = append(lines, strings.TrimSuffix(m.MessageID, "@example.org")+" "+fl+"\n")
		}
		slices.Sort(lines)
		ts.Stdout().Write([]byte(strings.Join(lines, "")))
	}
}

func dcMailboxes(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: dc-mailboxes SIDE")
		}
		mbs := dcServer(ts, args[0]).Mailboxes(t, "alice")
		slices.Sort(mbs)
		ts.Stdout().Write([]byte(strings.Join(mbs, "\n") + "\n"))
	}
}

// TestInitAndFoldersOnlyRead: init and folders, against Dovecot through a
// recording proxy, send only commands that read: they log in, list
// (with STATUS) and leave; no mailbox is selected read-write, created,
// appended to or changed. folders also leaves no state repository.
func TestInitAndFoldersOnlyRead(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{
		ExtraSpecialUse: map[string]string{"All Mail": `\All`},
	}, "alice", "bob")
	srv.Create(t, "alice", "All Mail")
	srv.Create(t, "alice", "Work")
	srv.Append(t, "alice", "Work", imaptest.NewMessage("a@example.org", "b@example.org", "hello", "m1@example.org", "hi\r\n"))
	rec := imaptest.Record(t, srv)
	env := func(n string) (string, bool) {
		if n == envPasswordA || n == envPasswordB {
			return imaptest.Password, true
		}
		return "", false
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "mailtwin.hcl")
	var stdout, stderr bytes.Buffer
	g := &globalOptions{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, log: textLog(&stderr), lookupEnv: env, parallel: 1, config: out}
	ctx := context.Background()
	if err := cmdInit(ctx, g, initOptions{a: "imap+plain://alice@" + rec.Addr, b: "imap+plain://bob@" + rec.Addr}, ""); err != nil {
		t.Fatalf("init = %v\n%s", err, stderr.String())
	}
	if err := cmdFolders(ctx, g); err != nil {
		t.Fatalf("folders = %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "excluded: \\All on a") {
		t.Errorf("folders output lacks the excluded All Mail:\n%s", stdout.String())
	}
	reads := map[string]bool{"CAPABILITY": true, "LOGIN": true, "LIST": true, "STATUS": true, "NAMESPACE": true,
		"ID": true, "ENABLE": true, "NOOP": true, "UNSELECT": true, "EXAMINE": true, "LOGOUT": true}
	cmds := rec.Commands()
	if len(cmds) == 0 {
		t.Fatal("the recorder saw no command")
	}
	for _, c := range cmds {
		verb, _, _ := strings.Cut(c, " ")
		if !reads[strings.ToUpper(verb)] {
			t.Errorf("init or folders sent %q, which is not a read", c)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "mailtwin-state")); !os.IsNotExist(err) {
		t.Errorf("folders made the state repository: %v", err)
	}
	t.Logf("commands: %q", cmds)
}
