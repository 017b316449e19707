package main

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestFirstSyncCreatesFoldersInOneExchange: the folders a first sync
// makes on b go to the server in one exchange, not one round trip each:
// the recorder holds the answer to b's first CREATE until its last has
// arrived, which would never happen if each were awaited. A CREATE the
// server refuses fails that folder and its copies alone; the folders
// after it are made and filled, and the next run makes it and fills it.
func TestFirstSyncCreatesFoldersInOneExchange(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		d := string(f.srv.Delim)
		boxes := []string{"Archive", "Archive" + d + "2024", "Lists", "Travel"}
		for _, mb := range boxes {
			f.srv.Create(t, userA, mb)
			f.put(userA, mb, strings.ReplaceAll(mb, d, "-")+"-1")
		}
		rec := imaptest.Record(t, f.srv)
		f.addr = rec.Addr
		var mu sync.Mutex
		var creates []string // the CREATEs received, in order
		all := imaptest.NewGate()
		var refuse atomic.Bool
		refuse.Store(true)
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			if e.Verb != "CREATE" {
				return imaptest.Action{}
			}
			if e.Stage == imaptest.Answered {
				all.Wait(10 * time.Second)
				return imaptest.Action{}
			}
			mu.Lock()
			creates = append(creates, e.Line)
			if len(creates) == len(boxes) {
				all.Open()
			}
			mu.Unlock()
			if refuse.Load() && strings.Contains(e.Line, `"Lists"`) {
				return imaptest.Action{Do: imaptest.Refuse, Text: "not today"}
			}
			return imaptest.Action{}
		})
		res, err := f.attempt(false)
		if !errors.Is(err, reconcile.ErrActionsFailed) {
			t.Fatalf("first sync = %v, want ErrActionsFailed (Lists refused)", err)
		}
		if all.Held() {
			t.Errorf("b's CREATEs went one round trip each: %q\n%v", creates, rec.SessionCommands())
		}
		if len(creates) != len(boxes) {
			t.Errorf("CREATEs %q, want one per folder of %q", creates, boxes)
		}
		if p, c := slices.Index(creates, `CREATE "Archive"`), slices.Index(creates, `CREATE "Archive`+d+`2024"`); p < 0 || c < p {
			t.Errorf("CREATEs %q: want Archive made before Archive%s2024", creates, d)
		}
		failed := 0
		for i, o := range res.Outcomes {
			if o.Err != nil {
				failed++
				if a := res.Plan.Actions[i]; a.Mailbox != "Lists" || !strings.Contains(o.Err.Error(), "Lists") {
					t.Errorf("action %s failed: %v; only Lists' should", a.String(), o.Err)
				}
			}
		}
		if failed != 2 {
			t.Errorf("%d actions failed, want 2 (Lists' creation and its copy)", failed)
		}
		f.want(userB, "Archive", "Archive-1 -")
		f.want(userB, "Archive"+d+"2024", "Archive-2024-1 -")
		f.want(userB, "Travel", "Travel-1 -")
		if slices.Contains(f.srv.Mailboxes(t, userB), "Lists") {
			t.Errorf("b has Lists, whose CREATE was refused")
		}

		refuse.Store(false)
		rec.Intercept(nil)
		f.sync()
		f.want(userB, "Lists", "Lists-1 -")
		f.settled()
	})
}
