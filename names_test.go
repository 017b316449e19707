package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// twoServers is a config for account a (alice) on one server and b (bob)
// on another, and the CLI run in-process against it.
type twoServers struct {
	t      *testing.T
	a, b   *imaptest.Server
	config string
}

func newTwoServers(t *testing.T, a, b *imaptest.Server) *twoServers {
	cfg := writeTestConfig(t, loopbackAccount("a", a.Addr, userA), loopbackAccount("b", b.Addr, userB), pairHCL("p", "a", "b"))
	return &twoServers{t: t, a: a, b: b, config: cfg}
}

func (ts *twoServers) mailtwin(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"-c", ts.config}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func (ts *twoServers) ids(srv *imaptest.Server, user, mailbox string) []string {
	var out []string
	for _, m := range srv.Messages(ts.t, user, mailbox) {
		out = append(out, strings.TrimSuffix(m.MessageID, "@example.org"))
	}
	slices.Sort(out)
	return out
}

func namesMsg(id string) []byte {
	return imaptest.NewMessage("sender@example.org", "team@example.org", "about "+id, id+"@example.org", "body of "+id+"\r\n")
}

// TestNameTheOtherServerForbids: a folder name one server takes and the
// other refuses (Dovecot's maildir refuses a level longer than 255
// bytes; the memory server takes anything) fails that folder only. The
// run exits 1 and names the folder's account and the server's reason;
// everything else is synced, a 254-character name included. The next
// run fails the same way and does no harm: the refused folder is not
// taken for one deleted on b, so a's copy stays, and nothing is copied
// twice.
func TestNameTheOtherServerForbids(t *testing.T) {
	t.Parallel()
	mem := imaptest.StartMem(t, userA)
	dot := imaptest.StartDovecot(t, userB)
	ts := newTwoServers(t, mem, dot)
	long := strings.Repeat("Ä", 255)
	fits := strings.Repeat("x", 254)
	mem.Append(t, userA, long, namesMsg("m1"))
	mem.Append(t, userA, "INBOX", namesMsg("m2"))
	mem.Append(t, userA, fits, namesMsg("m3"))
	for run := 1; run <= 2; run++ {
		code, out, errb := ts.mailtwin("apply")
		if code != 1 || !strings.Contains(errb, "Mailbox name too long") || !strings.Contains(errb, "b:") {
			t.Fatalf("apply %d: exit %d, want 1 and Dovecot's refusal on b\nstdout:\n%s\nstderr:\n%s", run, code, out, errb)
		}
		if got := ts.ids(dot, userB, "INBOX"); !slices.Equal(got, []string{"m2"}) {
			t.Errorf("apply %d: b INBOX = %q, want m2 once", run, got)
		}
		if got := ts.ids(dot, userB, fits); !slices.Equal(got, []string{"m3"}) {
			t.Errorf("apply %d: b's 254-character folder = %q, want m3 once", run, got)
		}
		if got := ts.ids(mem, userA, long); !slices.Equal(got, []string{"m1"}) {
			t.Errorf("apply %d: a's 255-character folder = %q, want m1 still there", run, got)
		}
		if got := ts.ids(mem, userA, "INBOX"); !slices.Equal(got, []string{"m2"}) {
			t.Errorf("apply %d: a INBOX = %q, want m2 once", run, got)
		}
	}
}

// TestNameWithTheOtherSidesDelimiter: a folder "v1.2" on a server whose
// delimiter is "/" cannot be made on a server whose delimiter is ".":
// it would become v1 with a child 2. Both plan and apply exit 4 before
// changing anything, naming the folder.
func TestNameWithTheOtherSidesDelimiter(t *testing.T) {
	t.Parallel()
	mem := imaptest.StartMem(t, userA)
	dot := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Separator: "."}, userB)
	ts := newTwoServers(t, mem, dot)
	mem.Append(t, userA, "v1.2", namesMsg("m1"))
	mem.Append(t, userA, "INBOX", namesMsg("m2"))
	before := dot.Mailboxes(t, userB)
	for _, cmd := range []string{"plan", "apply"} {
		code, out, errb := ts.mailtwin(cmd)
		if code != 4 || !strings.Contains(errb, `"v1.2"`) {
			t.Errorf("%s: exit %d, want 4 naming the folder v1.2\nstdout:\n%s\nstderr:\n%s", cmd, code, out, errb)
		}
	}
	if got := dot.Mailboxes(t, userB); !slices.Equal(got, before) {
		t.Errorf("b's folders = %q, were %q: nothing may change", got, before)
	}
	if got := ts.ids(dot, userB, "INBOX"); len(got) != 0 {
		t.Errorf("b INBOX = %q, want nothing copied", got)
	}
}
