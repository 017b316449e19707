package imapstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// authSecrets are the forms in which the password (or access token) of
// user travels in LOGIN and AUTHENTICATE PLAIN, LOGIN, XOAUTH2 or
// OAUTHBEARER: a trace holding any of them leaks it.
func authSecrets(user, password string) []string {
	var out []string
	for _, plain := range []string{"\x00" + user + "\x00" + password, user + "\x00" + user + "\x00" + password, password,
		"user=" + user + "\x01auth=Bearer " + password + "\x01\x01", "n,a=" + user + ",\x01auth=Bearer " + password + "\x01\x01"} {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(plain)), base64.RawStdEncoding.EncodeToString([]byte(plain)))
	}
	return append(out, password)
}

// The exchanges go-imap and others send, as a trace shows them (both
// directions in one stream). Each authenticates "alice" with the password
// "s3cr3t-pw", then selects INBOX.
var authExchanges = map[string]string{
	"AUTHENTICATE PLAIN with SASL-IR": "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n" +
		"T1 AUTHENTICATE PLAIN AGFsaWNlAHMzY3IzdC1wdw==\r\n" +
		"T1 OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n",
	"AUTHENTICATE PLAIN with a continuation": "* OK ready\r\n" +
		"T1 CAPABILITY\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nT1 OK done\r\n" +
		"T2 AUTHENTICATE PLAIN\r\n+ \r\nYWxpY2UAYWxpY2UAczNjcjN0LXB3\r\n" +
		"T2 OK Logged in\r\n",
	"AUTHENTICATE LOGIN": "* OK ready\r\n" +
		"a authenticate login\r\n+ VXNlcm5hbWU6\r\nYWxpY2U=\r\n+ UGFzc3dvcmQ6\r\nczNjcjN0LXB3\r\n" +
		"a ok done\r\n",
	"AUTHENTICATE refused, then LOGIN": "* OK ready\r\n" +
		"A1 AUTHENTICATE PLAIN\r\n+ \r\nAGFsaWNlAHMzY3IzdC1wdw\r\nA1 NO [AUTHENTICATIONFAILED] nope\r\n" +
		"A2 LOGIN alice \"s3cr3t-pw\"\r\nA2 OK Logged in\r\n",
	"LOGIN with literals": "* OK ready\r\n" +
		"A1 LOGIN {5}\r\n+ Ready\r\nalice {9}\r\n+ Ready\r\ns3cr3t-pw\r\nA1 OK Logged in\r\n",
	"AUTHENTICATE XOAUTH2 with SASL-IR, token refused": "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n" +
		"T1 AUTHENTICATE XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciBzM2NyM3QtcHcBAQ==\r\n+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=\r\nAQ==\r\nT1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n" +
		"T2 AUTHENTICATE XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciBzM2NyM3QtcHcBAQ==\r\nT2 OK Logged in\r\n",
	"AUTHENTICATE OAUTHBEARER with a continuation": "* OK ready\r\n" +
		"M1 AUTHENTICATE OAUTHBEARER\r\n+ \r\nbixhPWFsaWNlLAFhdXRoPUJlYXJlciBzM2NyM3QtcHcBAQ==\r\nM1 OK Logged in\r\n",
	"AUTHENTICATE cancelled": "* OK ready\r\n" +
		"A1 AUTHENTICATE PLAIN\r\n+ \r\n*\r\nA1 BAD cancelled\r\n" +
		"A2 AUTHENTICATE PLAIN AGFsaWNlAHMzY3IzdC1wdw==\r\nA2 OK Logged in\r\n",
}

const afterAuth = "T9 SELECT INBOX\r\n* 3 EXISTS\r\nT9 OK [READ-WRITE] SELECT completed\r\n"

// TestAuthFilter feeds each exchange to the filter whole, a byte at a
// time, and split in two at every position, as go-imap's reads and
// writes may cut it: no form of the password comes out, the tagged
// answers and everything after authentication do, and each hidden
// command leaves its tag and name.
func TestAuthFilter(t *testing.T) {
	secrets := authSecrets("alice", "s3cr3t-pw")
	for name, ex := range authExchanges {
		t.Run(name, func(t *testing.T) {
			found := false
			for _, s := range secrets {
				found = found || strings.Contains(ex, s)
			}
			if !found {
				t.Fatalf("the exchange holds no form of the password: the test proves nothing")
			}
			feed := func(pieces ...string) string {
				var out bytes.Buffer
				f := newAuthFilter(&out)
				for _, p := range pieces {
					if n, err := f.Write([]byte(p)); n != len(p) || err != nil {
						t.Fatalf("Write(%q) = %d, %v", p, n, err)
					}
				}
				f.authenticated()
				f.Write([]byte(afterAuth))
				return out.String()
			}
			want := feed(ex)
			check := func(how, got string) {
				t.Helper()
				for _, s := range append(secrets, "YWxpY2U=") { // and the base64 user name
					if strings.Contains(got, s) {
						t.Fatalf("%s: the trace holds %q:\n%s", how, s, got)
					}
				}
				if got != want {
					t.Fatalf("%s: trace\n%s\nwant the same as written whole:\n%s", how, got, want)
				}
			}
			check("whole", want)
			for _, l := range strings.SplitAfter(ex, "\n") {
				tag, rest := traceWord([]byte(l))
				if status, _ := traceWord(rest); tag != "*" && tag != "+" && isStatus(status) && !strings.Contains(want, l) {
					t.Errorf("the tagged answer %q is missing:\n%s", l, want)
				}
			}
			if !strings.HasSuffix(want, afterAuth) || !strings.HasPrefix(want, "* OK") || !strings.Contains(want, "not shown]\r\n") {
				t.Errorf("trace\n%s\nwant the greeting, a placeholder and what follows authentication", want)
			}
			var bytewise []string
			for i := range len(ex) {
				bytewise = append(bytewise, ex[i:i+1])
			}
			check("a byte at a time", feed(bytewise...))
			for i := 1; i < len(ex); i++ {
				check("split", feed(ex[:i], ex[i:]))
			}
		})
	}
}

// TestAuthFilterPlaceholders: what a hidden command leaves in the trace.
func TestAuthFilterPlaceholders(t *testing.T) {
	var out bytes.Buffer
	f := newAuthFilter(&out)
	f.Write([]byte(authExchanges["AUTHENTICATE refused, then LOGIN"]))
	want := "* OK ready\r\n" +
		"A1 AUTHENTICATE PLAIN [credentials and SASL exchange not shown]\r\n" +
		"A1 NO [AUTHENTICATIONFAILED] nope\r\n" +
		"A2 LOGIN [credentials not shown]\r\n" +
		"A2 OK Logged in\r\n"
	if out.String() != want {
		t.Errorf("trace:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestAuthFilterAfterAuthentication: once the connection is
// authenticated, a message line that reads like a command is not taken
// for one, and reset looks again on the next connection.
func TestAuthFilterAfterAuthentication(t *testing.T) {
	var out bytes.Buffer
	f := newAuthFilter(&out)
	f.Write([]byte("* OK ready\r\nA1 LOGIN alice pw\r\n"))
	f.authenticated()
	body := "* 1 FETCH (BODY[] {40}\r\nA7 LOGIN is how you sign in to the box\r\n)\r\nT5 OK done\r\n"
	f.Write([]byte(body))
	if !strings.HasSuffix(out.String(), body) {
		t.Errorf("after authentication the trace is\n%s\nwant it to end with the message as it is:\n%s", out.String(), body)
	}
	out.Reset()
	f.reset()
	f.Write([]byte("* OK again\r\nB1 LOGIN alice pw\r\nB1 OK\r\n"))
	if got, want := out.String(), "* OK again\r\nB1 LOGIN [credentials not shown]\r\nB1 OK\r\n"; got != want {
		t.Errorf("after reset the trace is\n%s\nwant\n%s", got, want)
	}
}

// TestAuthFilterLongLine: a line longer than the filter keeps is
// decided by its start: passed on when harmless, dropped when it is a
// credential.
func TestAuthFilterLongLine(t *testing.T) {
	long := strings.Repeat("x", 2*maxAuthLine)
	var out bytes.Buffer
	f := newAuthFilter(&out)
	f.Write([]byte("* OK " + long[:maxAuthLine]))
	f.Write([]byte(long[maxAuthLine:] + "\r\nA1 LOGIN alice {200000}\r\n"))
	for range 4 {
		f.Write([]byte(long[:50000]))
	}
	f.Write([]byte("s3cr3t-pw\r\nA1 OK\r\n"))
	want := "* OK " + long + "\r\nA1 LOGIN [credentials not shown]\r\nA1 OK\r\n"
	if out.String() != want {
		t.Errorf("trace of %d bytes, want %d; holds the password: %v", out.Len(), len(want), strings.Contains(out.String(), "s3cr3t-pw"))
	}
}

// plainClient is SASL PLAIN, as go-sasl's, for imapclient.Authenticate.
type plainClient struct{ user, password string }

func (c plainClient) Start() (string, []byte, error) {
	return "PLAIN", []byte("\x00" + c.user + "\x00" + c.password), nil
}

func (c plainClient) Next([]byte) ([]byte, error) { return nil, nil }

// TestAuthFilterRealAuthenticate: mailtwin itself only sends LOGIN (and
// refuses a server with LOGINDISABLED before sending anything), but the
// filter must hide a real AUTHENTICATE PLAIN exchange too, in the pieces
// go-imap writes it: a go-imap client authenticates through it against
// each server. The raw trace without the filter holds the base64 form,
// so the test would see a leak.
func TestAuthFilterRealAuthenticate(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		secrets := authSecrets("alice", imaptest.Password)
		var raw, filtered bytes.Buffer
		f := newAuthFilter(&filtered)
		c, err := imapclient.DialInsecure(srv.Addr, &imapclient.Options{DebugWriter: teeWriter{&raw, f}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitGreeting(); err != nil {
			t.Fatal(err)
		}
		if err := c.Authenticate(plainClient{"alice", imaptest.Password}); err != nil {
			t.Fatalf("Authenticate() = %v", err)
		}
		f.authenticated()
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatalf("Select() = %v", err)
		}
		if err := c.Logout().Wait(); err != nil {
			t.Fatalf("Logout() = %v", err)
		}
		c.Close()
		<-c.Closed() // go-imap's reader is done with the trace
		leaked := false
		for _, s := range secrets {
			leaked = leaked || strings.Contains(raw.String(), s)
			if strings.Contains(filtered.String(), s) {
				t.Errorf("the filtered trace holds %q:\n%s", s, filtered.String())
			}
		}
		if !leaked {
			t.Fatalf("the raw trace holds no form of the password, so the test proves nothing:\n%s", raw.String())
		}
		got := filtered.String()
		for _, want := range []string{" AUTHENTICATE PLAIN [credentials and SASL exchange not shown]\r\n", " OK ", "SELECT INBOX", "LOGOUT"} {
			if !strings.Contains(got, want) {
				t.Errorf("the filtered trace lacks %q:\n%s", want, got)
			}
		}
	})
}

// teeWriter writes to both; go-imap writes the trace from two
// goroutines, and bytes.Buffer is not safe for that, so the raw copy is
// written under the filter's lock order: raw first, then the filter.
type teeWriter struct {
	raw *bytes.Buffer
	f   *authFilter
}

func (t teeWriter) Write(p []byte) (int, error) {
	t.f.mu.Lock()
	t.raw.Write(p)
	t.f.mu.Unlock()
	return t.f.Write(p)
}

// lockedBuffer is a bytes.Buffer safe for go-imap's two trace writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTraceAfterLogin: a Store's trace hides LOGIN but, once logged in,
// shows a message as it is, even a line of it that reads like a LOGIN
// command, and the commands after it.
func TestTraceAfterLogin(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "alice")
		body := "A7 LOGIN alice is how the manual says to sign in\r\nafter it, marmalade\r\n"
		uid := srv.Append(t, "alice", "INBOX", imaptest.NewMessage("a@example.org", "b@example.org", "login", "login@example.org", body))
		var trace lockedBuffer
		st, err := Dial(context.Background(), Options{
			Name: "a", Addr: srv.Addr, TLS: None, Username: "alice", Password: imaptest.Password, DebugWriter: &trace,
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		err = st.Fetch(context.Background(), "INBOX", []reconcile.UID{reconcile.UID(uid)}, func(m reconcile.FetchedMessage) error {
			var err error
			got, err = io.ReadAll(m.Body)
			return err
		})
		if err != nil || !bytes.Contains(got, []byte(body)) {
			t.Fatalf("Fetch() = %v, body %q", err, got)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		tr := trace.String()
		for _, want := range []string{"[LOGIN command and reply not shown]", "A7 LOGIN alice is how the manual says to sign in\r\nafter it, marmalade\r\n", "LOGOUT"} {
			if !strings.Contains(tr, want) {
				t.Errorf("trace lacks %q:\n%s", want, tr)
			}
		}
		for _, s := range authSecrets("alice", imaptest.Password) {
			if strings.Contains(tr, s) {
				t.Errorf("trace holds %q:\n%s", s, tr)
			}
		}
	})
}
