package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestSyncKeywordTheTargetRefuses: Dovecot refuses a keyword longer than
// 50 characters (mail_max_keyword_length) with NO [CANNOT], on an
// APPEND as on a STORE, though its PERMANENTFLAGS say it keeps any
// keyword. Before, such a message was never copied, and nor were the
// messages sent beside it in its MULTIAPPEND, which the server refused
// whole: every run sent them together again and failed them all. Now
// the MULTIAPPEND's messages are sent again alone, the one refused is
// sent once more without its keywords, its other keyword is stored on
// its own, and the state remembers that b's INBOX refuses the long one:
// the run succeeds, the next one has nothing to do, and a keeps the
// keyword while b's user's changes still reach it. The same for a long
// keyword a's user adds to a message copied before: its STORE is
// refused, and fails the changes sent with it, which are made again
// alone.
func TestSyncKeywordTheTargetRefuses(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartMem)
	f.srvB = imaptest.StartDovecot(t, userB)
	fb := &syncFixture{t: t, srv: f.srvB} // its helpers go to b's server
	long := "$" + strings.Repeat("k", 60)
	var onA, onB []string
	for i := 1; i <= 8; i++ {
		id := fmt.Sprintf("m%d", i)
		if i == 5 {
			f.put(userA, "INBOX", id, imap.Flag(long), "$ok", imap.FlagSeen)
			onA = append(onA, id+" "+long+`,$ok,\Seen`)
			onB = append(onB, id+` $ok,\Seen`)
			continue
		}
		f.put(userA, "INBOX", id, imap.FlagSeen)
		onA = append(onA, id+` \Seen`)
		onB = append(onB, id+` \Seen`)
	}
	f.sync()
	f.want(userA, "INBOX", onA...)
	fb.want(userB, "INBOX", onB...)
	st, err := stateRepo{f.repo}.Load(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Folder("INBOX").B.Permanent, reconcile.Refusing(long); !got.Equal(want) {
		t.Errorf("the state has b's INBOX keep %v, want %v", got, want)
	}
	f.settled()

	// New mail of an incremental run travels with the scan (its bodies
	// read at once), and its copies go in one MULTIAPPEND.
	f.put(userA, "INBOX", "m9")
	f.put(userA, "INBOX", "m10", imap.Flag(long))
	f.put(userA, "INBOX", "m11")
	f.sync()
	onA = append(onA, "m9 -", "m10 "+long, "m11 -")
	onB = append(onB, "m9 -", "m10 -", "m11 -")
	f.want(userA, "INBOX", onA...)
	fb.want(userB, "INBOX", onB...)
	f.settled()

	// b's user flags m5: a gets \Flagged and keeps the long keyword.
	f.srvB.AddFlags(t, userB, "INBOX", fb.uidOf(userB, "INBOX", "m5"), imap.FlagFlagged)
	f.sync()
	for i := range onA { // want sorts them
		if strings.HasPrefix(onA[i], "m5 ") {
			onA[i] = "m5 " + long + `,$ok,\Flagged,\Seen`
		}
		if strings.HasPrefix(onB[i], "m5 ") {
			onB[i] = `m5 $ok,\Flagged,\Seen`
		}
	}
	f.want(userA, "INBOX", onA...)
	fb.want(userB, "INBOX", onB...)
	f.settled()

	// a's user gives m1 another long keyword and a short one, and flags
	// m2: b refuses the STORE of the long one, which fails the changes
	// sent with it; each is made again alone, and the long keyword
	// joins what the state remembers b's INBOX refuses.
	long2 := "$" + strings.Repeat("q", 60)
	f.srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m1"), imap.Flag(long2), "$ok2")
	f.srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m2"), imap.FlagFlagged)
	f.sync()
	for i := range onA {
		switch {
		case strings.HasPrefix(onA[i], "m1 "):
			onA[i] = "m1 $ok2," + long2 + `,\Seen`
		case strings.HasPrefix(onA[i], "m2 "):
			onA[i] = `m2 \Flagged,\Seen`
		}
		switch {
		case strings.HasPrefix(onB[i], "m1 "):
			onB[i] = `m1 $ok2,\Seen`
		case strings.HasPrefix(onB[i], "m2 "):
			onB[i] = `m2 \Flagged,\Seen`
		}
	}
	f.want(userA, "INBOX", onA...)
	fb.want(userB, "INBOX", onB...)
	if st, err = (stateRepo{f.repo}).Load(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	if got, want := st.Folder("INBOX").B.Permanent, reconcile.Refusing(long, long2); !got.Equal(want) {
		t.Errorf("the state has b's INBOX keep %v, want %v", got, want)
	}
	f.settled()

	// A change alone in its folder goes as a STORE of its own (not
	// through ChangeBatcher): the same.
	long3 := "$" + strings.Repeat("z", 60)
	f.srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m3"), imap.Flag(long3))
	res := f.sync()
	if n := res.Plan.Counts[reconcile.B].Stores; n != 1 {
		t.Fatalf("the run stored flags on b %d times, want 1:\n%s", n, res.Plan)
	}
	for i := range onA {
		if strings.HasPrefix(onA[i], "m3 ") {
			onA[i] = "m3 " + long3 + `,\Seen`
		}
	}
	f.want(userA, "INBOX", onA...)
	fb.want(userB, "INBOX", onB...)
	if st, err = (stateRepo{f.repo}).Load(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	if got, want := st.Folder("INBOX").B.Permanent, reconcile.Refusing(long, long2, long3); !got.Equal(want) {
		t.Errorf("the state has b's INBOX keep %v, want %v", got, want)
	}
	f.settled()
}

// TestCLIWarnsOfKeywordsRefused: apply says which keywords b refused
// outright, in which folder and for how many messages, once per folder,
// exits 0, and puts them in --json's outcomes; the next apply, which
// sends none of them, says nothing of them.
func TestCLIWarnsOfKeywordsRefused(t *testing.T) {
	t.Parallel()
	mem := imaptest.StartMem(t, "alice")
	r := newFaultRig(t, mem, "alice", "bob", "20s")
	r.rec[1] = imaptest.Record(t, imaptest.StartDovecot(t, "bob"))
	r.setTimeout("20s")
	long := "$" + strings.Repeat("k", 60)
	r.put(0, "INBOX", "m1", imap.Flag(long), imap.FlagSeen)
	r.put(0, "INBOX", "m2", imap.Flag(long))
	r.put(0, "INBOX", "m3")
	code, stdout, stderr, _ := r.mailtwin(time.Minute, "apply", "--json")
	if code != 0 {
		t.Fatalf("apply: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := `warning: pair "p": b refused keyword ` + long + ` outright in "INBOX" (2 messages): it is kept on a only, and not sent to b again (README, "Flags synced")`
	if n := strings.Count(stderr, "refused keyword"); n != 1 || !strings.Contains(stderr, want) {
		t.Errorf("stderr says %d times that b refused a keyword, want once:\n%s\nstderr:\n%s", n, want, stderr)
	}
	var rep struct {
		Pairs []struct {
			Outcomes []struct{ Refused []string }
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Pairs) != 1 {
		t.Fatalf("apply --json: %v, %d pairs\n%s", err, len(rep.Pairs), stdout)
	}
	n := 0
	for _, o := range rep.Pairs[0].Outcomes {
		if slices.Equal(o.Refused, []string{long}) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("apply --json reports %d outcomes with the keyword refused, want 2:\n%s", n, stdout)
	}
	r.put(0, "INBOX", "m4", imap.Flag(long))
	code, stdout, stderr, _ = r.mailtwin(time.Minute, "apply")
	if code != 0 || strings.Contains(stderr, "refused keyword") {
		t.Fatalf("apply: exit %d, want 0 and no warning (b's INBOX is known to refuse it)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r.f.srv = r.rec[1].Server()
	r.f.want("bob", "INBOX", `m1 \Seen`, "m2 -", "m3 -", "m4 -")
}
