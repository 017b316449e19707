package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestLoginDisabledSendsNoCredentials: mailtwin authenticates with LOGIN
// only; it has no AUTHENTICATE fallback. A server that advertises
// LOGINDISABLED on a plain connection (and AUTHENTICATE PLAIN nowhere,
// as go-imap's server does without TLS) gets neither: `plan -vv` fails
// with an error that says LOGINDISABLED and to use TLS, and the protocol
// trace shows that no LOGIN or AUTHENTICATE command was sent and holds
// no form of the password.
func TestLoginDisabledSendsNoCredentials(t *testing.T) {
	t.Parallel()
	mem := imapmemserver.New()
	for _, name := range []string{"alice", "bob"} {
		u := imapmemserver.NewUser(name, imaptest.Password)
		if err := u.Create("INBOX", nil); err != nil {
			t.Fatal(err)
		}
		mem.AddUser(u)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: false, // no authentication without TLS: LOGINDISABLED
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})

	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	path := writeTLSConfig(t, dir, host, port, "none", "")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"plan", "-vv", "--config", path}, strings.NewReader(""), &out, &errb)
	stderr := errb.String()
	if code != 1 || !strings.Contains(stderr, `account "a"`) || !strings.Contains(stderr, "(LOGINDISABLED): use TLS") {
		t.Fatalf("plan -vv against LOGINDISABLED: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and a LOGINDISABLED error", code, out.String(), stderr)
	}
	if !strings.Contains(stderr, `mailtwin: trace a: * OK`) || !strings.Contains(stderr, "LOGINDISABLED") {
		t.Errorf("stderr holds no trace of the greeting and capabilities:\n%s", stderr)
	}
	// Sent, they would show as themselves or as a placeholder.
	if m := regexp.MustCompile(`(?im)^mailtwin: trace \w+: (\S+ (LOGIN|AUTHENTICATE)\b|\[LOGIN command).*$`).FindString(stderr); m != "" {
		t.Errorf("credentials were sent: %q\n%s", m, stderr)
	}
	for _, plain := range []string{imaptest.Password, "\x00alice\x00" + imaptest.Password, "alice\x00alice\x00" + imaptest.Password} {
		for _, s := range []string{plain, base64.StdEncoding.EncodeToString([]byte(plain)), base64.RawStdEncoding.EncodeToString([]byte(plain))} {
			if strings.Contains(stderr, s) || strings.Contains(out.String(), s) {
				t.Errorf("the output holds %q:\n%s", s, stderr)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("plan made the state repository: %v", err)
	}
}
