package main

import (
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestSyncExcludeSpecialUse: an account whose \All folder ("All Mail")
// holds copies of its other folders' messages, as Gmail's does, synced
// with that attribute excluded: B gets each message once, in the folder
// it lives in, and no All Mail copy; B's own folder of that name is not
// copied into A's; nothing is deleted on either side, then or when the
// excluded folder changes later.
func TestSyncExcludeSpecialUse(t *testing.T) {
	t.Parallel()
	start := func(t testing.TB, users ...string) *imaptest.Server {
		return imaptest.StartDovecotWith(t, imaptest.DovecotOptions{ExtraSpecialUse: map[string]string{"All Mail": `\All`}}, users...)
	}
	f := newSyncFixture(t, start)
	f.policy.ExcludeSpecialUse[reconcile.A] = []reconcile.Role{reconcile.RoleAll}
	f.srv.Create(t, userA, "All Mail")
	f.srv.Create(t, userA, "Work")
	f.srv.Create(t, userB, "All Mail")
	f.put(userA, "INBOX", "m1")
	f.put(userA, "Work", "m2", imap.FlagSeen)
	// All Mail holds every message: both above, and one archived (in no
	// other folder).
	f.put(userA, "All Mail", "m1")
	f.put(userA, "All Mail", "m2", imap.FlagSeen)
	f.put(userA, "All Mail", "m3")
	// B's folder of the same name; it is \All there too, but only A
	// excludes \All: the name is left out on both sides all the same.
	f.put(userB, "All Mail", "m9")

	res := f.sync()
	for _, a := range res.Plan.Actions {
		if a.Folder == "All Mail" || a.Mailbox == "All Mail" {
			t.Errorf("plan touches the excluded folder: %s", &a)
		}
	}
	f.wantBoth("INBOX", "m1 -")
	f.wantBoth("Work", `m2 \Seen`)
	f.want(userA, "All Mail", "m1 -", `m2 \Seen`, "m3 -")
	f.want(userB, "All Mail", "m9 -")
	f.settled()

	// The excluded folder changes on A (a message archived, one deleted
	// for good there) and B deletes its own: no run reads any of it as
	// a change to carry over.
	f.put(userA, "All Mail", "m4")
	f.expunge(userA, "All Mail", "m1")
	f.srv.Delete(t, userB, "All Mail")
	if p := f.sync().Plan; !p.Empty() {
		t.Errorf("plan after changes in the excluded folder is not empty:\n%s", p)
	}
	f.wantBoth("INBOX", "m1 -")
	f.wantBoth("Work", `m2 \Seen`)
	f.want(userA, "All Mail", `m2 \Seen`, "m3 -", "m4 -")
	if mbs := f.srv.Mailboxes(t, userB); slices.Contains(mbs, "All Mail") {
		t.Errorf("b's deleted All Mail came back: %q", mbs)
	}
	f.settled()
}
