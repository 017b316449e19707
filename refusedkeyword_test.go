package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestSyncOneRefusedMessageDoesNotHoldBackOthers: Dovecot refuses a
// keyword longer than 50 characters (mail_max_keyword_length) with NO,
// on an APPEND as on a STORE. A MULTIAPPEND is atomic, so its NO fails
// every message it carried. Before the copy sent those again alone, the
// messages sent beside the one b refuses were never copied: every run
// sent them together again and failed them all. Now only that one
// fails, with the server's own reason, and the next run tries only it.
func TestSyncOneRefusedMessageDoesNotHoldBackOthers(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartMem)
	f.srvB = imaptest.StartDovecot(t, userB)
	fb := &syncFixture{t: t, srv: f.srvB} // its helpers go to b's server
	long := imap.Flag("$" + strings.Repeat("k", 60))
	var want []string
	for i := 1; i <= 8; i++ {
		id := fmt.Sprintf("m%d", i)
		if i == 5 {
			f.put(userA, "INBOX", id, long)
			continue
		}
		f.put(userA, "INBOX", id, imap.FlagSeen)
		want = append(want, id+` \Seen`)
	}

	for run := 1; run <= 2; run++ {
		res, err := f.attempt(false)
		if !errors.Is(err, reconcile.ErrActionsFailed) {
			t.Fatalf("run %d: Run = %v, want ErrActionsFailed (b refuses m5)", run, err)
		}
		var failed []string
		for i, o := range res.Outcomes {
			if o.Err == nil {
				continue
			}
			failed = append(failed, res.Plan.Actions[i].String())
			var br *reconcile.BatchRefusedError
			if errors.As(o.Err, &br) || !strings.Contains(o.Err.Error(), "Keyword length too long") {
				t.Errorf("run %d: the failed copy's error is %q, want Dovecot's answer to an APPEND of its own", run, o.Err)
			}
		}
		if len(failed) != 1 || !strings.Contains(failed[0], `flags `+string(long)) {
			t.Errorf("run %d: failed %q, want only the copy of m5", run, failed)
		}
		fb.want(userB, "INBOX", want...)
		if n := res.Plan.Counts[reconcile.B].Copies; run == 2 && n != 1 {
			t.Errorf("run 2 copied %d messages to b, want 1 (m5 again):\n%s", n, res.Plan)
		}
	}

	// New mail of an incremental run travels with the scan (its bodies
	// read at once), and its copies go in one MULTIAPPEND: sent again
	// alone from the bodies held.
	f.put(userA, "INBOX", "m9")
	f.put(userA, "INBOX", "m10", long)
	f.put(userA, "INBOX", "m11")
	res, err := f.attempt(false)
	if !errors.Is(err, reconcile.ErrActionsFailed) {
		t.Fatalf("run 3: Run = %v, want ErrActionsFailed (b refuses m5 and m10)", err)
	}
	failed := 0
	for _, o := range res.Outcomes {
		if o.Err != nil {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("run 3: %d copies failed, want 2 (m5 and m10):\n%s", failed, res.Plan)
	}
	fb.want(userB, "INBOX", append(want, "m9 -", "m11 -")...)
}
