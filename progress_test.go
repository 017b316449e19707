package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

func TestProgress(t *testing.T) {
	a := &reconcile.Action{Op: reconcile.Copy, Side: reconcile.B, Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: 1}
	run := func(total int, verbose bool) []string {
		var b bytes.Buffer
		log, _ := newLogger(&b, logText)
		p := newProgress(log, "p", verbose)
		for i := 1; i <= total; i++ {
			p.step(i, total, a)
		}
		return strings.Split(strings.TrimSpace(b.String()), "\n")
	}
	if got := run(1000, false); len(got) != 10 || got[9] != "mailtwin: p: 1000/1000 actions (100%)" || got[0] != "mailtwin: p: 100/1000 actions (10%)" {
		t.Errorf("1000 actions: %d lines %q, want one per tenth ending at 100%%", len(got), got)
	}
	if got := run(20, false); len(got) != 1 || got[0] != "" {
		t.Errorf("20 actions: %q, want no progress lines for a short run", got)
	}
	if got := run(3, true); len(got) != 3 || !strings.HasPrefix(got[2], `mailtwin: [p 3/3] + b:"INBOX" <- a:"INBOX" uid 1`) {
		t.Errorf("-v: %q, want a line per action", got)
	}
}
