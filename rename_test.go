package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// End-to-end tests of moves and folder renames (the sync fixture is in
// sync_test.go). Renames of folders with children run against Dovecot
// only: imapmemserver's RENAME leaves the children behind (LIBNOTES.md),
// so a user's rename cannot be simulated on it.

// clientDo runs fn on a fresh client of user.
func (f *syncFixture) clientDo(user string, fn func(c *imapclient.Client) error) {
	f.t.Helper()
	c := f.srv.Dial(f.t, user)
	if err := fn(c); err != nil {
		f.t.Fatalf("%s: %v", user, err)
	}
}

// userRename renames a folder as the user's mail client would.
func (f *syncFixture) userRename(user, from, to string) {
	f.t.Helper()
	f.clientDo(user, func(c *imapclient.Client) error { return c.Rename(from, to, nil).Wait() })
}

// userMove moves message id from one folder to another with UID MOVE.
func (f *syncFixture) userMove(user, from, id, to string) {
	f.t.Helper()
	f.srv.Move(f.t, user, from, f.uidOf(user, from, id), to)
}

// recreate gives mailbox of user a new UIDVALIDITY with the same messages
// and flags, the way a server that changes UIDVALIDITY on RENAME (or a
// client that renames by copying) leaves it: the messages go to a
// temporary folder, the mailbox is deleted and made again, and they come
// back.
func (f *syncFixture) recreate(user, mailbox string) {
	f.t.Helper()
	const tmp = "mailtwin-test-tmp"
	before := f.srv.UIDValidity(f.t, user, mailbox)
	copyAll := func(c *imapclient.Client, from, to string) error {
		if _, err := c.Select(from, nil).Wait(); err != nil {
			return err
		}
		if _, err := c.Copy(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, to).Wait(); err != nil {
			return err
		}
		return c.Unselect().Wait()
	}
	f.clientDo(user, func(c *imapclient.Client) error {
		if err := c.Create(tmp, nil).Wait(); err != nil {
			return err
		}
		if err := copyAll(c, mailbox, tmp); err != nil {
			return err
		}
		if err := c.Delete(mailbox).Wait(); err != nil {
			return err
		}
		if err := c.Create(mailbox, nil).Wait(); err != nil {
			return err
		}
		if err := copyAll(c, tmp, mailbox); err != nil {
			return err
		}
		return c.Delete(tmp).Wait()
	})
	if after := f.srv.UIDValidity(f.t, user, mailbox); after == before {
		f.t.Fatalf("recreate %q: UIDVALIDITY still %d", mailbox, after)
	}
}

// wantNoMailbox asserts neither account has any of names.
func (f *syncFixture) wantNoMailbox(names ...string) {
	f.t.Helper()
	f.wantNoMailboxOn(userA, names...)
	f.wantNoMailboxOn(userB, names...)
}

// wantNoMailboxOn asserts user's account has none of names.
func (f *syncFixture) wantNoMailboxOn(user string, names ...string) {
	f.t.Helper()
	have := f.srv.Mailboxes(f.t, user)
	for _, n := range names {
		if slices.Contains(have, n) {
			f.t.Errorf("%s has folder %q again: %q", user, n, have)
		}
	}
}

// TestSyncFolderRenameIsARename: a folder renamed on a, with a child, is
// renamed on b by one RENAME: no message is copied or deleted, b's
// messages keep their UIDs, and the old names do not come back on either
// side, now or on the next run.
func TestSyncFolderRenameIsARename(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.put(userA, "Projects", "m1")
	f.put(userA, "Projects/Sub", "m2", imap.FlagSeen)
	f.sync()
	uid1, uid2 := f.uidOf(userB, "Projects", "m1"), f.uidOf(userB, "Projects/Sub", "m2")

	f.userRename(userA, "Projects", "Projects-2025")
	m3 := f.put(userB, "Projects/Sub", "m3") // mail arriving meanwhile follows
	rec := f.record()
	res := f.sync()
	// m3's body is read once, with the scan of b's "Projects/Sub"
	// (small new mail travels with the scan); its copy finds it under the
	// folder's new name.
	bodies := rec.BodyFetches()
	if n, a := rec.Count("RENAME"), rec.Count("APPEND"); n != 1 || a != 1 || len(bodies) != 1 || !strings.HasPrefix(bodies[0], fmt.Sprintf("UID FETCH %d ", m3)) {
		t.Errorf("mailtwin sent %d RENAME, %d APPEND and fetched bodies %q; want 1, 1 (m3) and m3's once:\n\t%s",
			n, a, bodies, strings.Join(rec.Commands(), "\n\t"))
	}
	cb, ca := res.Plan.Counts[reconcile.B], res.Plan.Counts[reconcile.A]
	if cb != (reconcile.Counts{FoldersRenamed: 1}) || ca != (reconcile.Counts{Copies: 1}) {
		t.Errorf("plan = %s\nwant one rename on b and m3 copied to a, nothing else", res.Plan)
	}
	f.wantBoth("Projects-2025", "m1 -")
	f.wantBoth("Projects-2025/Sub", `m2 \Seen`, "m3 -")
	if u := f.uidOf(userB, "Projects-2025", "m1"); u != uid1 {
		t.Errorf("m1 on b has uid %d after the rename, was %d: re-uploaded?", u, uid1)
	}
	if u := f.uidOf(userB, "Projects-2025/Sub", "m2"); u != uid2 {
		t.Errorf("m2 on b has uid %d after the rename, was %d: re-uploaded?", u, uid2)
	}
	f.wantNoMailbox("Projects", "Projects/Sub")
	// The run's commit records the rename.
	log, err := f.repo.Log(context.Background(), 1)
	if err != nil || len(log) != 1 || !strings.Contains(log[0].Message, `ok > b:"Projects" rename folder -> "Projects-2025"`) ||
		!strings.Contains(log[0].Subject, "1 folders renamed") {
		t.Errorf("the run's commit does not record the rename: %v\n%+v", err, log)
	}
	f.settled()
	f.sync()
	f.wantNoMailbox("Projects", "Projects/Sub")
}

// refuseEvery makes rec answer NO with text to every command of verb:
// the server never sees them.
func refuseEvery(rec *imaptest.Recorder, verb, text string) {
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == verb {
			return imaptest.Action{Do: imaptest.Refuse, Text: text}
		}
		return imaptest.Action{}
	})
}

// TestSyncFolderUnderAFailedRenameWaits: a's user renamed "P" to "Q",
// made "Q/N" under it and mail came into both; b's server refuses the
// RENAME (the test's proxy answers NO). Nor is "Q/N" made on b: its
// CREATE would make "Q" there as its parent, apart from "P" whose
// messages the state pairs with a's "Q". Nothing is copied into either
// on b (an APPEND would carry its body to the server only to be
// refused: neither folder is there). The run says why for each, b
// keeps "P" as it was, and the next run renames it, makes "Q/N" and
// copies the new mail, every message once.
func TestSyncFolderUnderAFailedRenameWaits(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.put(userA, "P", "p1")
	f.sync()
	f.userRename(userA, "P", "Q")
	f.put(userA, "Q", "q1")
	f.put(userA, "Q/N", "n1")

	rec := f.record()
	refuseEvery(rec, "RENAME", "[SERVERBUG] rename failed, try again")
	res, err := f.attempt(false)
	rec.Intercept(nil)
	if !errors.Is(err, reconcile.ErrActionsFailed) {
		t.Fatalf("run with b's RENAME refused: error %v, want ErrActionsFailed", err)
	}
	for _, want := range []string{
		`rename failed, try again`,
		`folder "Q/N" on b not created: the RENAME of "P" to "Q" above it failed`,
		`not copied: folder "Q/N" on b was not created`,
		`not copied: folder "Q" on b is not there, the RENAME of "P" to "Q" failed`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the run's error does not say %q:\n%v", want, err)
		}
	}
	if n, a := rec.Count("CREATE"), rec.Count("APPEND"); n != 0 || a != 0 {
		t.Errorf("b got %d CREATE and %d APPEND, want none under the failed RENAME\n%v", n, a, rec.Commands())
	}
	if have := f.srv.Mailboxes(t, userB); slices.Contains(have, "Q") || slices.Contains(have, "Q/N") {
		t.Errorf("b has %q after the failed RENAME, want no Q nor Q/N", have)
	}
	f.want(userB, "P", "p1 -")
	if res.Failed != 4 {
		t.Errorf("%d actions failed, want 4 (the RENAME, the CREATE under it, the copies into both)\n%v", res.Failed, res.Plan)
	}

	f.sync()
	f.wantBoth("Q", "p1 -", "q1 -")
	f.wantBoth("Q/N", "n1 -")
	f.wantNoMailbox("P")
	f.settled()
}

// TestSyncNoCopiesIntoAFolderNotCreated: b's server refuses to make the
// folder a's user made: the mail in it is not sent to b (each APPEND
// would be refused, after its body), the run says why, and the next
// run makes the folder and copies the mail.
func TestSyncNoCopiesIntoAFolderNotCreated(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.put(userA, "INBOX", "i1")
	f.sync()
	f.put(userA, "New", "n1")
	f.put(userA, "New", "n2")

	rec := f.record()
	refuseEvery(rec, "CREATE", "[OVERQUOTA] too many folders")
	_, err := f.attempt(false)
	rec.Intercept(nil)
	if err == nil || !strings.Contains(err.Error(), "too many folders") || !strings.Contains(err.Error(), `not copied: folder "New" on b was not created`) {
		t.Fatalf("run with b's CREATE refused: error %v, want the CREATE's and the copies' failures", err)
	}
	if n := rec.Count("APPEND"); n != 0 {
		t.Errorf("b got %d APPEND into the folder it did not make\n%v", n, rec.Commands())
	}
	f.sync()
	f.wantBoth("New", "n1 -", "n2 -")
	f.settled()
}

// TestSyncFolderRenamedVersusDeleted: renamed on a, deleted on b: the
// folder is made again on b under the new name with a's messages; a
// loses nothing.
func TestSyncFolderRenamedVersusDeleted(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "Projects", "m1", imap.FlagFlagged)
		f.put(userA, "Projects", "m2")
		f.sync()
		f.userRename(userA, "Projects", "Projects-2025")
		f.srv.Delete(t, userB, "Projects")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Deletions() != 0 || c.FoldersDeleted != 0 {
			t.Errorf("plan deletes on a: %s", res.Plan)
		}
		// The same end as a new folder would reach, but for the right
		// reason: the plan says so.
		if !strings.Contains(res.Plan.String(), reconcile.ReasonRevived) {
			t.Errorf("plan does not treat it as renamed-versus-deleted:\n%s", res.Plan)
		}
		f.wantBoth("Projects-2025", `m1 \Flagged`, "m2 -")
		f.wantNoMailbox("Projects")
		f.settled()
	})
}

// TestSyncMovesAroundARenamedVersusDeletedFolder: as above, a renamed
// Projects and b deleted it; b's user had moved m1 out of it first, and
// a's user moved m3 into the renamed folder. Both are moves on the other
// side (m3 into the folder made again on b): UID MOVE twice, and the one
// APPEND is m2's, the message the folder is made again with. Before,
// m1 and m3 each ended up twice on one side.
func TestSyncMovesAroundARenamedVersusDeletedFolder(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "Projects", "m1", imap.FlagFlagged)
		f.put(userA, "Projects", "m2")
		f.put(userA, "INBOX", "m3", imap.FlagSeen)
		f.sync()
		f.userMove(userB, "Projects", "m1", "INBOX")
		f.srv.Delete(t, userB, "Projects")
		f.userRename(userA, "Projects", "Projects-2025")
		f.userMove(userA, "INBOX", "m3", "Projects-2025")
		rec := f.record()
		res := f.sync()
		ca, cb := res.Plan.Counts[reconcile.A], res.Plan.Counts[reconcile.B]
		if ca.Moves != 1 || ca.Copies != 0 || cb.Moves != 1 || cb.Copies != 1 || ca.Deletions()+cb.Deletions() != 0 {
			t.Errorf("plan: a %+v, b %+v; want a move on each side and m2 made again on b:\n%s", ca, cb, res.Plan)
		}
		if got := rec.Count("UID MOVE"); got != 2 {
			t.Errorf("mailtwin sent %d UID MOVE, want 2; commands:\n\t%s", got, strings.Join(rec.Commands(), "\n\t"))
		}
		if got := rec.Count("APPEND"); got != 1 {
			t.Errorf("mailtwin sent %d APPEND, want 1 (m2); commands:\n\t%s", got, strings.Join(rec.Commands(), "\n\t"))
		}
		f.wantBoth("INBOX", `m1 \Flagged`)
		f.wantBoth("Projects-2025", "m2 -", `m3 \Seen`)
		f.wantNoMailbox("Projects")
		f.settled()
	})
}

// TestSyncFolderRenamedOnAServerThatChangesUIDValidity: a server that
// gives a renamed folder a new UIDVALIDITY (simulated by a rename that
// copies and deletes) is still a rename, found by the messages'
// identities: b renames, nothing is copied; and when b's folder then
// gets a new UIDVALIDITY too, the next run re-pairs by identity without
// a duplicate, a lost flag or a human.
func TestSyncFolderRenamedOnAServerThatChangesUIDValidity(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "Projects", "m1", imap.FlagSeen)
		f.put(userA, "Projects", "m2")
		f.put(userA, "Projects", "m3")
		f.sync()

		// a renames by copy: new folder, new UIDVALIDITY, old one gone.
		f.srv.RenameByCopy(t, userA, "Projects", "Projects-2025")
		rec := f.record()
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.FoldersRenamed != 1 || c.Copies != 0 || c.Deletions() != 0 {
			t.Errorf("plan on b = %+v, want one rename and nothing else:\n%s", c, res.Plan)
		}
		if rec.Count("RENAME") != 1 || rec.Count("APPEND") != 0 || len(rec.BodyFetches()) != 0 {
			t.Errorf("want one RENAME, no APPEND, no body fetched; commands:\n\t%s", strings.Join(rec.Commands(), "\n\t"))
		}
		f.wantBoth("Projects-2025", `m1 \Seen`, "m2 -", "m3 -")
		f.settled()

		// Now b's server hands out a new UIDVALIDITY for the folder, and
		// a flag changes on a meanwhile.
		f.recreate(userB, "Projects-2025")
		f.srv.AddFlags(t, userA, "Projects-2025", f.uidOf(userA, "Projects-2025", "m2"), imap.FlagFlagged)
		res = f.sync()
		for _, s := range []reconcile.Side{reconcile.A, reconcile.B} {
			if c := res.Plan.Counts[s]; c.Copies != 0 || c.Deletions() != 0 {
				t.Errorf("plan on %s after the UIDVALIDITY change copies or deletes:\n%s", s, res.Plan)
			}
		}
		f.wantBoth("Projects-2025", `m1 \Seen`, `m2 \Flagged`, "m3 -")
		f.settled()
	})
}

// TestSyncRenameAcrossDelimiters: Dovecot with "." on a, imapmemserver
// with "/" on b. A rename with a child on a is one rename on b, and the
// child comes along (imapstore renames the children memserver leaves
// behind).
func TestSyncRenameAcrossDelimiters(t *testing.T) {
	t.Parallel()
	dot := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Separator: "."}, userA)
	mem := imaptest.StartMem(t, userB)
	x := newCrossFixture(t, dot, mem)
	dot.Append(t, userA, "Projects", x.msg("p1"))
	dot.Append(t, userA, "Projects.Sub", x.msg("p2"))
	x.sync()
	x.rename(dot, userA, "Projects", "Projects-2025")
	res := x.sync()
	if c := res.Plan.Counts[reconcile.B]; c != (reconcile.Counts{FoldersRenamed: 1}) {
		t.Errorf("plan on b = %+v, want one rename:\n%s", c, res.Plan)
	}
	got := mem.Mailboxes(t, userB)
	if !slices.Contains(got, "Projects-2025/Sub") || slices.Contains(got, "Projects") || slices.Contains(got, "Projects/Sub") {
		t.Errorf("memserver folders = %q, want Projects-2025/Sub and no Projects", got)
	}
	if got := x.ids(mem, userB, "Projects-2025/Sub"); !slices.Equal(got, []string{"p2@example.org"}) {
		t.Errorf("memserver Projects-2025/Sub = %q, want p2", got)
	}
	x.settled()
}

// TestSyncMovesOnBothSidesAtOnce: each side moves another message; each
// move is repeated on the other side with UID MOVE, nothing is copied.
func TestSyncMovesOnBothSidesAtOnce(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.put(userA, "INBOX", "m3")
		f.srv.Create(t, userA, "Archive")
		f.srv.Create(t, userA, "Later")
		f.sync()
		f.userMove(userA, "INBOX", "m1", "Archive")
		f.userMove(userB, "INBOX", "m2", "Later")
		rec := f.record()
		res := f.sync()
		f.wantMovedNotCopied(rec, 2)
		ca, cb := res.Plan.Counts[reconcile.A], res.Plan.Counts[reconcile.B]
		if ca != (reconcile.Counts{Moves: 1}) || cb != (reconcile.Counts{Moves: 1}) {
			t.Errorf("plan = %s\nwant one move on each side and nothing else", res.Plan)
		}
		f.wantBoth("INBOX", "m3 -")
		f.wantBoth("Archive", "m1 -")
		f.wantBoth("Later", "m2 -")
		f.settled()
	})
}

// TestSyncMovedVersusDeleted: moved on a, deleted on b: change beats
// delete, the message ends up in the destination on both sides.
func TestSyncMovedVersusDeleted(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m1")
		f.srv.Create(t, userA, "Archive")
		f.sync()
		f.userMove(userA, "INBOX", "m1", "Archive")
		f.expunge(userB, "INBOX", "m1")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Deletions() != 0 {
			t.Errorf("plan deletes on a:\n%s", res.Plan)
		}
		f.wantBoth("INBOX")
		f.wantBoth("Archive", "m1 -")
		f.settled()
	})
}

// TestSyncMoveIntoANewFolder: a message moved on a into a folder a just
// made: b makes the folder and moves its copy there; nothing is copied.
func TestSyncMoveIntoANewFolder(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "INBOX", "m1")
		f.sync()
		f.srv.Create(t, userA, "Archive/2026")
		f.userMove(userA, "INBOX", "m1", "Archive/2026")
		rec := f.record()
		res := f.sync()
		f.wantMovedNotCopied(rec, 1)
		if c := res.Plan.Counts[reconcile.B]; c != (reconcile.Counts{FoldersCreated: 1, Moves: 1}) {
			t.Errorf("plan on b = %+v, want a folder and a move:\n%s", c, res.Plan)
		}
		f.wantBoth("INBOX")
		f.wantBoth("Archive/2026", "m1 -")
		f.settled()
	})
}

// crossFixture syncs account a on one server with account b on another.
type crossFixture struct {
	t      *testing.T
	srv    [2]*imaptest.Server
	users  [2]string
	repo   *gitstate.Repo
	policy reconcile.Policy
}

func newCrossFixture(t *testing.T, a, b *imaptest.Server) *crossFixture {
	t.Helper()
	repo, err := gitstate.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &crossFixture{t: t, srv: [2]*imaptest.Server{a, b}, users: [2]string{userA, userB}, repo: repo,
		policy: reconcile.Policy{Default: reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}, MaxDeletes: reconcile.DefaultMaxDeletes}}
}

func (x *crossFixture) msg(id string) []byte {
	return imaptest.NewMessage("sender@example.org", "team@example.org", "about "+id, id+"@example.org", "body of "+id+"\r\n")
}

func (x *crossFixture) run(planOnly bool) *reconcile.Result {
	x.t.Helper()
	var stores [2]*imapstore.Store
	for s := range 2 {
		st, err := imapstore.Dial(context.Background(), imapstore.Options{Name: x.users[s], Addr: x.srv[s].Addr, TLS: imapstore.None,
			Username: x.users[s], Password: imaptest.Password, ReadOnly: planOnly})
		if err != nil {
			x.t.Fatal(err)
		}
		x.t.Cleanup(func() { st.Close() })
		stores[s] = st
	}
	res, err := reconcile.Run(context.Background(), reconcile.RunOptions{Pair: "p", Policy: x.policy, PlanOnly: planOnly}, stores[0], stores[1], stateRepo{x.repo})
	if err != nil {
		x.t.Fatalf("Run(planOnly=%v) = %v", planOnly, err)
	}
	if !planOnly {
		if _, err := commitRun(context.Background(), x.repo, []string{res.Plan.Summary()}, reconcile.Journal(res.Plan, res.Outcomes), 0); err != nil {
			x.t.Fatal(err)
		}
	}
	return res
}

func (x *crossFixture) sync() *reconcile.Result { x.t.Helper(); return x.run(false) }

func (x *crossFixture) settled() {
	x.t.Helper()
	if p := x.run(true).Plan; !p.Empty() {
		x.t.Errorf("plan after sync is not empty:\n%s", p)
	}
}

func (x *crossFixture) rename(srv *imaptest.Server, user, from, to string) {
	x.t.Helper()
	if err := srv.Dial(x.t, user).Rename(from, to, nil).Wait(); err != nil {
		x.t.Fatal(err)
	}
}

func (x *crossFixture) ids(srv *imaptest.Server, user, mailbox string) []string {
	x.t.Helper()
	var out []string
	for _, m := range srv.Messages(x.t, user, mailbox) {
		out = append(out, m.MessageID)
	}
	slices.Sort(out)
	return out
}

// TestSyncSpecialUseFoldersPairByRole: a's \Sent is "Sent", b's is "Sent
// Items" (and \Trash "Trash" against "Deleted Items"): they pair by role,
// no folder is made under the other side's name, and the trash policy
// uses b's own trash. With role matching off they pair by name only.
func TestSyncSpecialUseFoldersPairByRole(t *testing.T) {
	t.Parallel()
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("IgnoreRoles=%v", ignore), func(t *testing.T) {
			t.Parallel()
			a := imaptest.StartDovecot(t, userA)
			b := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{SpecialUse: map[string]string{
				`\Sent`: "Sent Items", `\Trash`: "Deleted Items"}}, userB)
			x := newCrossFixture(t, a, b)
			x.policy.Default.Deletion = reconcile.Trash
			x.policy.Naming.IgnoreRoles = ignore
			a.Append(t, userA, "Sent", x.msg("s1"))
			b.Append(t, userB, "Sent Items", x.msg("s2"))
			a.Append(t, userA, "INBOX", x.msg("m1"))
			x.sync()
			if !ignore {
				if got := x.ids(a, userA, "Sent"); !slices.Equal(got, []string{"s1@example.org", "s2@example.org"}) {
					t.Errorf("a's Sent = %q, want s1 and s2", got)
				}
				if got := x.ids(b, userB, "Sent Items"); !slices.Equal(got, []string{"s1@example.org", "s2@example.org"}) {
					t.Errorf("b's Sent Items = %q, want s1 and s2", got)
				}
				if slices.Contains(a.Mailboxes(t, userA), "Sent Items") || slices.Contains(b.Mailboxes(t, userB), "Sent") {
					t.Errorf("a folder was made under the other side's name: a %q, b %q", a.Mailboxes(t, userA), b.Mailboxes(t, userB))
				}
				// A deletion on a sends b's copy to b's own trash.
				a.Expunge(t, userA, "INBOX", a.Messages(t, userA, "INBOX")[0].UID)
				x.sync()
				if got := x.ids(b, userB, "Deleted Items"); !slices.Equal(got, []string{"m1@example.org"}) {
					t.Errorf("b's Deleted Items = %q, want m1", got)
				}
				if slices.Contains(b.Mailboxes(t, userB), "Trash") {
					t.Errorf("b got a folder named Trash: %q", b.Mailboxes(t, userB))
				}
			} else {
				if got := x.ids(b, userB, "Sent"); !slices.Equal(got, []string{"s1@example.org"}) {
					t.Errorf("b's Sent = %q, want s1 (pairing by name)", got)
				}
				if got := x.ids(a, userA, "Sent Items"); !slices.Equal(got, []string{"s2@example.org"}) {
					t.Errorf("a's Sent Items = %q, want s2 (pairing by name)", got)
				}
			}
			x.settled()
		})
	}
}

// TestSyncTrashEmptiedIntoANewFolderIsNotARename: b's user deletes m1
// and m2, the trash policy moves a's copies to a's trash, and b's user
// puts m9 into b's trash. a's user then takes m1 and m2 out of the trash
// into a new folder, Lists, and deletes the trash. Lists holds all the
// messages the state has in a's trash, but it is not the trash renamed:
// m1 and m2 are wanted again, new to the pair, and copied to b's Lists,
// and b's trash, with what b's user deleted, stays b's. Before, b's
// trash was renamed to Lists and m9 was copied into a's Lists (testdata
// case 162; TestModel seeds 101970 and 927828). Dovecot makes its Trash
// again as soon as it is deleted (the fixture's auto = create), so there
// a's trash comes back empty under a new UIDVALIDITY, which is no rename
// either; the memory server lets it go.
func TestSyncTrashEmptiedIntoANewFolderIsNotARename(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Trash
		f.trashOnBoth()
		for _, id := range []string{"m1", "m2", "m3", "m4", "m5"} {
			f.put(userA, "INBOX", id)
		}
		f.sync()
		f.expunge(userB, "INBOX", "m1")
		f.expunge(userB, "INBOX", "m2")
		f.sync()
		f.want(userA, "Trash", "m1 -", "m2 -")

		f.put(userB, "Trash", "m9")
		f.srv.Create(t, userA, "Lists")
		f.userMove(userA, "Trash", "m1", "Lists")
		f.userMove(userA, "Trash", "m2", "Lists")
		f.srv.Delete(t, userA, "Trash")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.FoldersRenamed != 0 {
			t.Errorf("plan on b = %+v, want no rename:\n%s", c, res.Plan)
		}
		f.wantBoth("Lists", "m1 -", "m2 -")
		f.want(userB, "Trash", "m9 -")
		f.settled()
	})
}

// TestSyncFolderMovedWithItsParentAfterAFailedRename: b's user moves F
// under P (P/F) and m1 arrives there; the run's RENAME of a's F fails, so
// the state keeps F under its old name with b's mailbox P/F, and m1's
// copy waits with the RENAME, unrecorded. Then b's user renames P to Q,
// which takes P/F along to Q/F, and moves m0, F's one recorded message,
// up into Q. Q/F holds none of F's recorded messages and one the state
// never recorded, but it is F: its own UIDVALIDITY, under the mailbox
// that has P's. The next run renames a's F to Q/F and copies m1 there.
// Before, F read as deleted on b and Q/F as new: made on a beside F,
// which stayed a's only under keep (testdata case 165; TestModelMovesAndRenames
// seed 141195). On Dovecot only: imapmemserver's RENAME leaves the names
// under the old one where they are (LIBNOTES.md).
func TestSyncFolderMovedWithItsParentAfterAFailedRename(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Default.Deletion = reconcile.Keep
	f.srv.Create(t, userA, "P")
	f.put(userA, "F", "m0")
	f.sync()
	f.wantBoth("F", "m0 -")

	f.srv.Rename(t, userB, "F", "P/F")
	f.put(userB, "P/F", "m1")
	f.syncRefusingFirst("RENAME", "the run whose RENAME fails")
	f.want(userA, "F", "m0 -")

	f.srv.Rename(t, userB, "P", "Q")
	f.userMove(userB, "Q/F", "m0", "Q")
	res := f.sync()
	if c := res.Plan.Counts[reconcile.A]; c.FoldersCreated != 0 {
		t.Errorf("plan on a = %+v, want F renamed, no folder made:\n%s", c, res.Plan)
	}
	f.wantBoth("Q/F", "m1 -")
	f.wantBoth("Q", "m0 -")
	for _, name := range []string{"F", "P"} {
		if slices.Contains(f.srv.Mailboxes(t, userA), name) {
			t.Errorf("a still has %q: %q", name, f.srv.Mailboxes(t, userA))
		}
	}
	f.settled()
}

// TestSyncFolderMadeAnewAfterAFailedRename: b's user renames the empty
// folder F to G and the run's RENAME of a's fails, so the state keeps F
// with b's mailbox G. Then b's server makes G anew under its name (a new
// UIDVALIDITY; imaptest's MakeAnew). G is the very
// mailbox the state records for b, so it is F made anew, as a folder
// under its own name would be: the next run renames a's F to G. Before,
// G read as a new folder, made on a, and F as deleted on b, deleted on a
// (testdata case 214; TestModelMovesAndRenames -movemodel.resets seed
// 55172).
func TestSyncFolderMadeAnewAfterAFailedRename(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.srv.Create(t, userA, "F")
		f.sync()
		f.srv.Rename(t, userB, "F", "G")
		f.syncRefusingFirst("RENAME", "the run whose RENAME of F fails")
		f.want(userA, "F")

		f.srv.MakeAnew(t, userB, "G")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.FoldersCreated != 0 || c.FoldersDeleted != 0 || c.FoldersRenamed != 1 {
			t.Errorf("plan on a = %+v, want F renamed to G, no folder made or deleted:\n%s", c, res.Plan)
		}
		for _, u := range []string{userA, userB} {
			if have := f.srv.Mailboxes(t, u); !slices.Contains(have, "G") || slices.Contains(have, "F") || slices.Contains(have, "G-made-anew") {
				t.Errorf("%s's mailboxes %q, want G, and neither F nor G-made-anew", u, have)
			}
		}
		f.settled()
	})
}

// TestSyncFolderMadeAnewWhereItsMailboxParentTookIt: b's user renames
// the empty folder F to P/G and the run's RENAME of a's fails, so the
// state keeps F with b's mailbox P/G, under P there. Then both users
// rename P to Q (b's server's RENAME takes P/G along to Q/G), and b's
// server makes Q/G anew (a new UIDVALIDITY; imaptest's MakeAnew). Q/G
// is where the parent's RENAME took the mailbox the state records for
// b, so it is F made anew, as under that very mailbox (the test above):
// the next run renames a's F to Q/G. Before, Q/G read as a new folder,
// made on a, and F as deleted on b, deleted on a (testdata case 222;
// TestModelMovesIntoTheTrash -movemodel.resets -movemodel.alike seed
// 139142, where under keep F stayed on a only). On Dovecot only:
// imapmemserver's RENAME leaves the names under the old one where they
// are (LIBNOTES.md).
func TestSyncFolderMadeAnewWhereItsMailboxParentTookIt(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.srv.Create(t, userA, "P")
	f.srv.Create(t, userA, "F")
	f.sync()
	f.srv.Rename(t, userB, "F", "P/G")
	f.syncRefusingFirst("RENAME", "the run whose RENAME of F fails")
	f.want(userA, "F")

	f.srv.Rename(t, userA, "P", "Q")
	f.srv.Rename(t, userB, "P", "Q")
	f.srv.MakeAnew(t, userB, "Q/G")
	res := f.sync()
	if c := res.Plan.Counts[reconcile.A]; c.FoldersCreated != 0 || c.FoldersDeleted != 0 || c.FoldersRenamed != 1 {
		t.Errorf("plan on a = %+v, want F renamed to Q/G (P renamed to Q there already), no folder made or deleted:\n%s", c, res.Plan)
	}
	for _, u := range []string{userA, userB} {
		if have := f.srv.Mailboxes(t, u); !slices.Contains(have, "Q/G") || slices.Contains(have, "F") || slices.Contains(have, "P") {
			t.Errorf("%s's mailboxes %q, want Q/G, and neither F nor P", u, have)
		}
	}
	f.settled()
}

// TestSyncRenamedFolderDeletedOnTheOtherSideAfterAFailedRename: b's user
// renames F1/F2 to F1/R3 and the run's RENAME of a's fails, so the state
// keeps F1/F2 with b's mailbox F1/R3. Then a's user deletes F1/F2, m10
// arrives in b's F1/R3, and both users rename F1 to R4. b's folder went
// with its parent, but under the name b's user gave it: renamed on b,
// deleted on a, and the rename wins (change beats delete). R4/R3 is made
// again on a with b's messages, m10 with them. Before, a's F1/F2 read as
// renamed with its parent to R4/F2 and then deleted, a conflict with b's
// R4/R3 that a (prefer) won: b's folder was renamed to R4/F2, its two
// recorded messages went to b's trash, and m10 stayed on b only
// (testdata case 206; TestModelMovesIntoTheTrash seed 130803). On
// Dovecot only: imapmemserver's RENAME leaves the names under the old one
// where they are (LIBNOTES.md).
func TestSyncRenamedFolderDeletedOnTheOtherSideAfterAFailedRename(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Default.Deletion = reconcile.Trash
	f.trashOnBoth()
	f.put(userA, "INBOX", "m1")
	f.put(userA, "F1", "m4")
	f.put(userA, "F1/F2", "m2")
	f.put(userA, "F1/F2", "m3")
	f.sync()
	f.wantBoth("F1/F2", "m2 -", "m3 -")

	f.srv.Rename(t, userB, "F1/F2", "F1/R3")
	f.syncRefusingFirst("RENAME", "the run whose RENAME of F1/F2 fails")
	f.want(userA, "F1/F2", "m2 -", "m3 -")

	f.srv.Delete(t, userA, "F1/F2")
	f.put(userB, "F1/R3", "m10")
	f.srv.Rename(t, userA, "F1", "R4")
	f.srv.Rename(t, userB, "F1", "R4")
	res := f.sync()
	if c := res.Plan.Counts[reconcile.B]; c.FoldersRenamed != 0 || c.Trashed != 0 {
		t.Errorf("plan on b = %+v, want nothing renamed or trashed:\n%s", c, res.Plan)
	}
	f.wantBoth("R4/R3", "m2 -", "m3 -", "m10 -")
	f.wantBoth("R4", "m4 -")
	f.wantBoth("Trash")
	f.settled()
}

// TestSyncFolderRenamedAfterItsParentsRenameFollowedAndFailures: a's user
// renames P to Q, which takes P/C along, and b's RENAME to follow is
// refused: the state keeps P with a's mailbox Q. Then a's user moves Q/C
// to G/D and b's user renames G to H. The next run renames b's P to Q
// (following a; it takes P/C along to Q/C), but b's RENAME of Q/C to H/D
// and a's of G to H are refused. Neither side's name for C is the base's
// P/C any more; the state must keep it under b's, Q/C, where the RENAMEs
// that did run left it and b's user never moved it, so that the run
// after reads a's G/D as a's user's rename and finishes it, to H/D.
// Before, the state kept P/C, and the run after took b's Q/C for renamed
// by b's user as well: a conflict b (prefer) won, and a's user's rename
// was undone (TestRenamesFailingMidway; TestModelMovesAndRenames seed
// 167794). On Dovecot only: imapmemserver's RENAME leaves the names
// under the old one where they are.
func TestSyncFolderRenamedAfterItsParentsRenameFollowedAndFailures(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Prefer = reconcile.B
	f.srv.Create(t, userA, "P")
	f.put(userA, "P/C", "m1")
	f.srv.Create(t, userA, "G")
	f.sync()
	f.wantBoth("P/C", "m1 -")

	f.srv.Rename(t, userA, "P", "Q")
	f.syncRefusingFirst("RENAME", "the run whose RENAME of P fails")

	f.srv.Rename(t, userA, "Q/C", "G/D")
	f.srv.Rename(t, userB, "G", "H")
	rec := f.record()
	var refusing atomic.Bool
	refusing.Store(true)
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		// Every RENAME but b's of P, which is to run.
		if fs := strings.Fields(e.Line); refusing.Load() && e.Stage == imaptest.Received && e.Verb == "RENAME" && len(fs) > 1 && strings.Trim(fs[1], `"`) != "P" {
			return imaptest.Action{Do: imaptest.Refuse, Text: "[CANNOT] not now"}
		}
		return imaptest.Action{}
	})
	if _, err := f.attempt(false); !errors.Is(err, reconcile.ErrActionsFailed) {
		t.Fatalf("the run whose RENAMEs of C and G fail: err %v, want actions failed", err)
	}
	f.want(userB, "Q/C", "m1 -")
	refusing.Store(false)

	f.sync()
	f.wantBoth("H/D", "m1 -")
	for _, u := range []string{userA, userB} {
		for _, name := range []string{"P", "G", "Q/C", "G/D"} {
			if slices.Contains(f.srv.Mailboxes(t, u), name) {
				t.Errorf("%s still has %q: %q", u, name, f.srv.Mailboxes(t, u))
			}
		}
	}
	f.settled()
}

// TestSyncFiledAwayFolderRenamedByCopyWhileTheOtherCopyMoved: a's user
// files m1 from INBOX into Old while b's user deletes Old, and the run
// that was to put b's copy of m1, and a's of m2, Old's other message,
// into the trash fails (the state still pairs m1 in INBOX, and keeps Old
// on b with m2). Then a's user renames Old to New by copy (a new
// UIDVALIDITY), so New is made again on b, and b's user moves b's copy
// to Work. Both users moved m1: a move conflict, which a (prefer) wins,
// and b's copy joins a's in New with one UID MOVE. Before, a's copy,
// new in New like every message there, was taken for a second one: m1
// went to b with New and to a's Work, twice on each side (testdata cases
// 166 and 167; TestModelMovesAndRenames seed 266179).
func TestSyncFiledAwayFolderRenamedByCopyWhileTheOtherCopyMoved(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Trash
		f.policy.Prefer = reconcile.A
		for _, id := range []string{"m1", "m3", "m4"} {
			f.put(userA, "INBOX", id)
		}
		f.put(userA, "Old", "m2")
		f.srv.Create(t, userA, "Work")
		f.sync()

		f.userMove(userA, "INBOX", "m1", "Old")
		f.srv.Delete(t, userB, "Old")
		// b's m1 and a's m2 are to go to the trash; with a's refused,
		// the state keeps Old on b too.
		f.syncRefusing("UID MOVE", 2, "the run whose trash moves fail")
		f.want(userB, "INBOX", "m1 -", "m3 -", "m4 -")
		f.want(userA, "Old", "m1 -", "m2 -")

		f.srv.RenameByCopy(t, userA, "Old", "New")
		f.userMove(userB, "INBOX", "m1", "Work")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.B]; c.Moves != 1 || c.Copies != 1 || res.Plan.Counts[reconcile.A].Copies != 0 {
			t.Errorf("plan on b = %+v, on a = %+v, want b's m1 moved and m2 copied with New, nothing copied to a:\n%s", c, res.Plan.Counts[reconcile.A], res.Plan)
		}
		if len(res.Plan.Conflicts) != 1 {
			t.Errorf("conflicts %q, want one: m1 moved on both sides", res.Plan.Conflicts)
		}
		f.wantBoth("New", "m1 -", "m2 -")
		f.wantBoth("Work")
		f.settled()
	})
}

// TestSyncKeptCopyMovedOutOfAFolderRenamedAndDeleted: a's server gives R6
// a new UIDVALIDITY and a's user moves m3 from it to R16; b's server
// refuses the UID MOVE that was to follow, so the state keeps b's copy in
// R6 on b only, and a's in R16 unrecorded, for the next run to join the
// two. Then a's user renames R6 to R15, and b's user moves b's copy to
// INBOX and deletes R6: R15 is made again on b with a's messages. Both
// users moved m3, to different folders: b (prefer) wins, and a's copy
// joins b's in INBOX with one UID MOVE. Before, b's one-sided record was
// not seen under the folder renamed on a and deleted on b, and m3 was
// copied to b's R16 as new: twice on b (testdata case 168;
// TestModelMovesAndRenames seed 519769).
func TestSyncKeptCopyMovedOutOfAFolderRenamedAndDeleted(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Prefer = reconcile.B
		f.put(userA, "R6", "m2")
		f.put(userA, "R6", "m3")
		f.srv.Create(t, userA, "R16")
		f.sync()

		f.recreate(userA, "R6")
		f.userMove(userA, "R6", "m3", "R16")
		f.syncRefusingFirstMove("the run whose move of b's m3 fails")
		f.want(userB, "R6", "m2 -", "m3 -")

		f.srv.Rename(t, userA, "R6", "R15")
		f.userMove(userB, "R6", "m3", "INBOX")
		f.srv.Delete(t, userB, "R6")
		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Moves != 1 || res.Plan.Counts[reconcile.B].Copies != 1 {
			t.Errorf("plan on a = %+v, on b = %+v, want a's m3 moved and m2 copied with R15:\n%s", c, res.Plan.Counts[reconcile.B], res.Plan)
		}
		f.wantBoth("INBOX", "m3 -")
		f.wantBoth("R15", "m2 -")
		f.wantBoth("R16")
		f.settled()
	})
}

// TestSyncFailedRevivalKeepsAnUndecidedMoveConflict: a's user renames R5
// to R9 and moves m1 out of it into INBOX; b's user moves m1 into P and
// deletes R5. The run is to make R9 again on b, with m2, and to settle
// m1's move conflict by moving b's copy into INBOX (a is the prefer
// side); b's server refuses the CREATE and the UID MOVE. The next run
// must settle the same conflict: m1 once on each side, in INBOX. Before,
// the failed run's state dropped m1's record with the mail that left R5,
// and the next run copied each copy to the other side
// (TestModelMovesAndRenames seeds 649286 and 726891).
func TestSyncFailedRevivalKeepsAnUndecidedMoveConflict(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Prefer = reconcile.A
		f.put(userA, "R5", "m1")
		f.put(userA, "R5", "m2")
		f.srv.Create(t, userA, "P")
		f.sync()

		f.srv.Rename(t, userA, "R5", "R9")
		f.userMove(userA, "R9", "m1", "INBOX")
		f.userMove(userB, "R5", "m1", "P")
		f.srv.Delete(t, userB, "R5")
		f.syncRefusingFirstOfEach("the run whose CREATE and UID MOVE on b fail", "CREATE", "UID MOVE")
		f.want(userB, "P", "m1 -")

		res := f.sync()
		if c := res.Plan.Counts[reconcile.A]; c.Copies != 0 || len(res.Plan.Conflicts) != 1 {
			t.Errorf("the retry's plan copies %d to a and has conflicts %q, want none copied and the one conflict:\n%s", c.Copies, res.Plan.Conflicts, res.Plan)
		}
		f.wantBoth("INBOX", "m1 -")
		f.wantBoth("P")
		f.wantBoth("R9", "m2 -")
		f.settled()
	})
}

// TestSyncFolderMadeUnderTheNameOfOneWhoseRenameFailed: a's user moves A
// under P (P/A); b's user renames A to Y and P to Q. b wins A's rename
// conflict, so the run renames a's P/A to Y, then a's P to Q; a's server
// refuses the first RENAME, and the second takes P/A along to Q/A. Then
// a's user makes a folder P/A. The next run must take it for new, and
// rename a's Q/A, the state's folder there with its UIDVALIDITY, to Y.
// Before, the state kept a's mailbox P/A, gone, and the next run took
// the new P/A for the folder (by name, with a new UIDVALIDITY): it
// renamed the new P/A to Y, and moved m1 out of b's Y into a Q/A it made
// on b (reconcile's TestNextFailedRenameCarriedAlong and
// TestRenamesFailingMidway; TestModelMovesAndRenames seed 923406). On
// Dovecot only: imapmemserver's RENAME leaves the names under the old one
// where they are (LIBNOTES.md).
func TestSyncFolderMadeUnderTheNameOfOneWhoseRenameFailed(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Prefer = reconcile.B
	f.put(userA, "A", "m1")
	f.srv.Create(t, userA, "P")
	f.sync()

	f.srv.Rename(t, userA, "A", "P/A")
	f.srv.Rename(t, userB, "A", "Y")
	f.srv.Rename(t, userB, "P", "Q")
	f.syncRefusingFirst("RENAME", "the run whose RENAME of P/A fails")
	f.want(userA, "Q/A", "m1 -")

	f.srv.Create(t, userA, "P/A")
	f.sync()
	f.wantBoth("Y", "m1 -")
	f.wantBoth("P/A")
	for _, user := range []string{userA, userB} {
		if got := f.srv.Mailboxes(t, user); slices.Contains(got, "Q/A") {
			t.Errorf("%s still has Q/A: %q", user, got)
		}
	}
	f.settled()
}

// TestSyncChildRenamedAwayFromADeletedParent: b's user renames P/N out
// from under P, to N; a's server refuses the RENAME that would follow, so
// the state keeps the logical name P/N with b's mailbox N. Then b's user
// moves p1 out of P into N, deletes P, and renames N to Archive by
// copying (a new UIDVALIDITY), while a's user files a new message n4 in
// P/N. Archive holds P/N's three messages and P's one: it is P/N
// renamed, so the run renames a's P/N to Archive, copies n4 to b, moves
// p1 on a, and deletes P. Before, P's absence made P/N count only by
// UIDVALIDITY, P took Archive by its one message, and P/N followed it to
// Archive/N, a folder left on a only with n4 in it (reconcile case 171,
// TestModelMovesAndRenames seed 1450448).
func TestSyncChildRenamedAwayFromADeletedParent(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.put(userA, "P", "p1")
		for _, id := range []string{"n1", "n2", "n3"} {
			f.put(userA, "P/N", id)
		}
		f.sync()

		f.userRename(userB, "P/N", "N")
		f.syncRefusingFirst("RENAME", "the run whose RENAME of P/N to N fails on a")
		f.want(userA, "P/N", "n1 -", "n2 -", "n3 -")

		f.userMove(userB, "P", "p1", "N")
		f.srv.Delete(t, userB, "P")
		f.userRename(userB, "N", "Archive")
		f.recreate(userB, "Archive")
		f.put(userA, "P/N", "n4")
		f.sync()
		f.wantBoth("Archive", "n1 -", "n2 -", "n3 -", "n4 -", "p1 -")
		f.wantNoMailbox("P", "P/N", "N", "Archive/N")
		f.settled()
	})
}

// TestSyncFiledAwayMovedBackInThenRenamed: under trash, a's user files m5
// into R6, which b's user deleted, and the run that was to follow fails
// (its UID MOVEs to the trash refused), so R6 stays on a with m5 and b
// keeps m5 in INBOX. a's user then moves m5 out of R6 and back in (a new
// UID) and renames R6 to R8, which the next run makes again on b. b's
// copy must join a's there, moved: b ends with m5 once, in R8. Before,
// the revival's join looked for a's copy at its recorded UID only: m5
// was copied to b's R8 and b's own went to b's trash, two copies on b
// (reconcile case 174, TestModelMovesAndRenames seed 1521754).
func TestSyncFiledAwayMovedBackInThenRenamed(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Trash
		f.policy.Prefer = reconcile.B
		f.put(userA, "R6", "m3")
		f.put(userA, "INBOX", "m5", imap.FlagSeen)
		f.put(userA, "Keep", "m1") // under max_deletes: m3 and m5 are not the most of it
		f.put(userA, "Keep", "m2")
		f.sync()

		f.srv.Delete(t, userB, "R6")
		f.userMove(userA, "INBOX", "m5", "R6")
		f.syncRefusing("UID MOVE", 2, "the run whose moves to the trash fail")
		f.want(userA, "R6", "m3 -", `m5 \Seen`)
		f.want(userB, "INBOX", `m5 \Seen`)

		f.userMove(userA, "R6", "m5", "INBOX")
		f.userMove(userA, "INBOX", "m5", "R6")
		f.userRename(userA, "R6", "R8")
		f.sync()
		f.wantBoth("R8", "m3 -", `m5 \Seen`)
		f.wantBoth("INBOX")
		f.want(userB, "Trash")
		f.settled()
	})
}

// TestSyncFiledAwayBeforeAUIDValidityChange: under keep, a's user deletes
// Old and b's user Gone; b's user then files m2 from P into Old, so a's
// copy stays in P, a's only, and b's in Old. a's user then files a's
// copy away into Gone, and P gets a new UIDVALIDITY on a (a rename by
// copy does that, as in the seed); b's user moves b's copy back into P.
// Each side holds m2 once and must go on doing so: a in Gone, b in P.
// Before, the record a had alone in P was taken for lost with the new
// UIDVALIDITY, and b's copy, re-paired with it by identity, was restored
// to a's P: a held m2 twice (reconcile case 176,
// TestModelMovesAndRenames seed 1745338).
func TestSyncFiledAwayBeforeAUIDValidityChange(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "P", "m2")
		f.put(userA, "P", "m9")
		f.put(userA, "Old", "m4")
		f.put(userA, "Gone", "m10")
		f.sync()

		f.srv.Delete(t, userA, "Old")
		f.srv.Delete(t, userB, "Gone")
		f.sync()
		f.userMove(userB, "P", "m2", "Old")
		f.sync()
		f.want(userA, "P", "m2 -", "m9 -")
		f.want(userB, "P", "m9 -")
		f.want(userB, "Old", "m2 -", "m4 -")

		f.userMove(userA, "P", "m2", "Gone")
		f.recreate(userA, "P")
		f.userMove(userB, "Old", "m2", "P")
		f.sync()
		f.want(userA, "P", "m9 -")
		f.want(userB, "P", "m2 -", "m9 -")
		f.want(userA, "Gone", "m10 -", "m2 -")
		f.want(userB, "Old", "m4 -")
		f.settled()
	})
}

// TestSyncChildRenamedByCopyUnderItsRenamedParent: under keep, b's user
// moves m3 from F1 into F2/F3 and deletes F1, renames F2 to R4 (F2/F3
// goes along) and then R4/F3 to R4/R5 by copy, a new UIDVALIDITY. R4/R5
// holds one message of F1 and one of F2/F3. It is F2/F3, renamed: a's
// folders must follow as R4 and R4/R5, and F1 stays on a, empty, as a
// folder b's user deleted under keep. Before, F1 was read as renamed to
// R4/R5 and F2/F3 as deleted on b, and a kept an empty R4/F3 (reconcile
// case 177, TestModelMovesAndRenames seed 1052206). On Dovecot only:
// imapmemserver's RENAME leaves the children behind.
func TestSyncChildRenamedByCopyUnderItsRenamedParent(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Default.Deletion = reconcile.Keep
	f.put(userA, "F1", "m3")
	f.put(userA, "F2", "m7")
	f.put(userA, "F2/F3", "m10")
	f.sync()

	f.userMove(userB, "F1", "m3", "F2/F3")
	f.srv.Delete(t, userB, "F1")
	f.userRename(userB, "F2", "R4")
	f.userRename(userB, "R4/F3", "R4/R5")
	f.recreate(userB, "R4/R5")
	f.sync()
	f.wantNoMailbox("F2", "F2/F3", "R4/F3")
	f.wantBoth("R4", "m7 -")
	f.wantBoth("R4/R5", "m10 -", "m3 -")
	if have := f.srv.Mailboxes(t, userA); !slices.Contains(have, "F1") {
		t.Fatalf("a lost F1, which b's user deleted under keep: %q", have)
	}
	f.want(userA, "F1")
	f.settled()
}

// TestSyncEmptyChildRenamedAlongAMailboxParent: a's user renames F4 to
// R11/R13 (the empty F4/F6 goes along, to R11/R13/F6) while b's user
// renames F4/F6 to R11/R15; b's RENAMEs fail, so the state keeps F4
// under its old name with a's mailbox R11/R13, and the empty folder under
// a's name R11/R13/F6 with b's mailbox R11/R15: on a its mailbox lies
// under F4's, its logical name under R11's. Then a's user renames R11 by
// copy to R16 (new UIDVALIDITYs) and R16/R13 to R19, which takes the
// empty folder to R19/F6, and b's user renames R11 to R17, which takes
// R11/R15 to R17/R15. The empty folder is the one folder renamed on both
// sides, and b's name wins: it ends as R17/R15 on both. Before, it
// followed only its logical parent R11, to R16/R13/F6, which a does not
// list: it was read as deleted on a, and each side made the other's new
// folder, two names for one (reconcile case 178,
// TestModelMovesAndRenames seed 2084535). On Dovecot only:
// imapmemserver's RENAME leaves the children behind.
func TestSyncEmptyChildRenamedAlongAMailboxParent(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Prefer = reconcile.B
	f.put(userA, "F4", "m11")
	f.srv.Create(t, userA, "F4/F6")
	f.put(userA, "R11", "m2")
	f.sync()
	f.want(userB, "F4/F6")

	f.userRename(userA, "F4", "R11/R13")
	f.userRename(userB, "F4/F6", "R11/R15")
	f.syncRefusing("RENAME", 2, "the run whose RENAMEs fail on both sides")

	f.srv.RenameByCopy(t, userA, "R11", "R16")
	f.userRename(userA, "R16/R13", "R19")
	f.userRename(userB, "R11", "R17")
	f.sync()
	f.wantNoMailbox("R19/F6", "R16/R13/F6", "R11/R13/F6", "R11/R15", "F4/F6")
	for _, user := range []string{userA, userB} {
		if have := f.srv.Mailboxes(t, user); !slices.Contains(have, "R17/R15") {
			t.Errorf("%s has no R17/R15, the one name b's user gave the empty folder: %q", user, have)
		}
	}
	f.wantBoth("R17/R15")
	f.wantBoth("R19", "m11 -")
	f.wantBoth("R17", "m2 -")
	f.settled()
}

// TestSyncFailedRenameCarriedAlongKeepsTheUsersName: a's user renames P
// to Q, F3 to Q/Z (F3/F8 goes along) and then Q/Z/F8 to R13. The run
// renames b's F3/F8 to R13 first (the RENAME of F3 waits for the one of
// P, as its new name lies under P's), then P to Q and F3 to Q/Z. The
// first RENAME fails, and the last takes F3/F8 along to Q/Z/F8. b's user
// did nothing, so the next run must finish a's user's rename: R13 on
// both. Before, the state kept the folder's old name F3/F8, under which
// b's Q/Z/F8 too read as renamed by its user, a conflict b won under
// prefer b: a's R13 was renamed back to Q/Z/F8 (reconcile
// TestNextFailedRenameCarriedAlong, TestModelMovesAndRenames seed
// 2177498). On Dovecot only: imapmemserver's RENAME leaves the children
// behind.
func TestSyncFailedRenameCarriedAlongKeepsTheUsersName(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Prefer = reconcile.B
	f.put(userA, "P", "m0")
	f.put(userA, "F3", "m1")
	f.put(userA, "F3/F8", "m2")
	f.sync()

	f.userRename(userA, "P", "Q")
	f.userRename(userA, "F3", "Q/Z")
	f.userRename(userA, "Q/Z/F8", "R13")
	f.syncRefusingFirst("RENAME", "the run whose RENAME of F3/F8 fails")
	if have := f.srv.Mailboxes(t, userB); !slices.Contains(have, "Q/Z/F8") || slices.Contains(have, "R13") {
		t.Fatalf("b has %q after the failed RENAME, want Q/Z/F8, where the RENAME of F3 took F3/F8, and no R13", have)
	}
	res := f.sync()
	if len(res.Plan.Conflicts) != 0 {
		t.Errorf("the run after the failed RENAME finds a conflict, want none: %q", res.Plan.Conflicts)
	}
	f.wantNoMailbox("P", "F3", "F3/F8", "Q/Z/F8")
	f.wantBoth("R13", "m2 -")
	f.wantBoth("Q/Z", "m1 -")
	f.wantBoth("Q", "m0 -")
	f.settled()
}

// TestSyncRenameOntoAFolderCarriedAlongIsNoRename: b's user moves m3 from
// D into the empty P/C, deletes D, and renames P by copy to Q, which
// makes Q/C anew with m3 in it. By m3, D reads as renamed to Q/C; but
// a's RENAME of P to Q takes a's P/C to that very name, and a RENAME of
// a's D onto it would fail in every run ("exists"). It is no rename: D
// was deleted on b, m3 is moved into Q/C on a, and P/C follows P (reconcile
// case 181, TestModelMovesAndRenames seed 2196914). On Dovecot only:
// imapmemserver's RENAME leaves the children behind.
func TestSyncRenameOntoAFolderCarriedAlongIsNoRename(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.put(userA, "P", "m1")
	f.srv.Create(t, userA, "P/C")
	f.put(userA, "D", "m3")
	f.sync()
	f.want(userB, "P/C")

	f.userMove(userB, "D", "m3", "P/C")
	f.srv.Delete(t, userB, "D")
	f.srv.RenameByCopy(t, userB, "P", "Q")
	res, err := f.attempt(false)
	if err != nil {
		t.Fatalf("the run after b's rename by copy: %v\n%s", err, res.Plan)
	}
	f.wantNoMailbox("P", "P/C", "D")
	f.wantBoth("Q", "m1 -")
	f.wantBoth("Q/C", "m3 -")
	f.settled()
}

// TestSyncChildRenamedByCopyUnderARenamedGrandparent: b's user renames
// F6/R7/R8 to F6/R9 by copy and moves m8 there from F6/R7, then renames
// F6 to R10, which takes both along, and b's server makes R10/R7 anew;
// meanwhile m10 arrives in a's F6/R7/R8. F6/R7, gone from b with no rename
// by UIDVALIDITY, says nothing of where its child went; F6, renamed by
// UIDVALIDITY, does, and F6/R7/R8's messages find it in R10/R9. The run
// renames a's F6/R7/R8 there too, and m10 goes to b. Before, F6/R7's one
// message took R10/R9, F6/R7/R8 read as deleted on b, its messages moved
// on a into a new R10/R9, and a's R10/R7/R8 stayed, with m10 on a only
// (testdata case 216; TestModelMovesAndRenames -movemodel.resets seed
// 63194). On Dovecot only: imapmemserver's RENAME leaves the names under
// the old one where they are (LIBNOTES.md).
func TestSyncChildRenamedByCopyUnderARenamedGrandparent(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.policy.Default.Deletion = reconcile.Keep
	f.srv.Create(t, userA, "F6")
	f.put(userA, "F6/R7", "m8")
	f.put(userA, "F6/R7/R8", "m4")
	f.put(userA, "F6/R7/R8", "m5")
	f.sync()
	f.wantBoth("F6/R7/R8", "m4 -", "m5 -")

	f.srv.RenameByCopy(t, userB, "F6/R7/R8", "F6/R9")
	f.userMove(userB, "F6/R7", "m8", "F6/R9")
	f.srv.Rename(t, userB, "F6", "R10")
	f.srv.MakeAnew(t, userB, "R10/R7")
	f.put(userA, "F6/R7/R8", "m10")
	res := f.sync()
	if c := res.Plan.Counts[reconcile.A]; c.FoldersCreated != 0 || c.FoldersRenamed != 2 {
		t.Errorf("plan on a = %+v, want F6 and F6/R7/R8 renamed, no folder made:\n%s", c, res.Plan)
	}
	f.wantBoth("R10/R9", "m4 -", "m5 -", "m8 -", "m10 -")
	f.wantBoth("R10/R7")
	for _, u := range []string{userA, userB} {
		if have := f.srv.Mailboxes(t, u); slices.Contains(have, "R10/R7/R8") || slices.Contains(have, "F6") {
			t.Errorf("%s's mailboxes %q, want neither R10/R7/R8 nor F6", u, have)
		}
	}
	f.settled()
}

// TestSyncRenameTieWithAFolderRenamedOnTheOtherSide: b's user moves m6
// from R8 into R13, deletes R8, and renames R13 to R15 by copy; a's user
// renames R13 to R16 by copy. b's R15 holds one message of each folder's,
// as good evidence for either; R13, found renamed on a, is there still
// as much as R8, which a lists, so R13 is renamed on both sides (a's
// name wins, by prefer), R8 is deleted on b, and m6 is moved on a into
// R16 as b's user moved it. Before, R8 took R15: a's R8, which a's user
// kept, was renamed to R15, an empty R16 was made on b, and R13 ended
// under a name on each side (testdata case 220;
// TestModelMovesAndRenames -movemodel.alike seed 126671).
func TestSyncRenameTieWithAFolderRenamedOnTheOtherSide(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.policy.Prefer = reconcile.A
		f.put(userA, "R8", "m6", imap.FlagSeen)
		f.put(userA, "R13", "m12")
		f.sync()

		f.userMove(userB, "R8", "m6", "R13")
		f.srv.Delete(t, userB, "R8")
		f.srv.RenameByCopy(t, userB, "R13", "R15")
		f.srv.RenameByCopy(t, userA, "R13", "R16")
		f.syncCounting(map[string]int{"APPEND": 0})
		f.wantBoth("R16", "m12 -", "m6 \\Seen")
		f.want(userA, "R8")
		for _, u := range []string{userA, userB} {
			if have := f.srv.Mailboxes(t, u); slices.Contains(have, "R15") || slices.Contains(have, "R13") || u == userB && slices.Contains(have, "R8") {
				t.Errorf("%s's mailboxes %q, want neither R15 nor R13 (nor R8 on b)", u, have)
			}
		}
		f.settled()
	})
}

// TestSyncChildRenamedByCopyUnderAParentRenamedByCopy: b's user moved m5
// from F1 into F2/F3, deleted F1, renamed F2/F3 to F2/R4 and then F2 to
// R5, each by copy (new mailboxes, as a client that cannot RENAME does).
// b's R5/R4 holds F2/F3's three messages and F1's one. F2 is found
// renamed to R5 by its message, and F2/F3, whose parent is gone, claims
// R5/R4 under that new name with its three, before F1 with its one:
// F2/F3 is renamed to R5/R4 on a, F1 is kept on a (deletions kept), and
// m5 is moved there on a, not uploaded. Before (reconcile table case
// 224), F1 took R5/R4 and F2/F3 stayed on a alone.
func TestSyncChildRenamedByCopyUnderAParentRenamedByCopy(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "F1", "m5", imap.FlagFlagged)
		f.put(userA, "F2", "m4")
		for _, id := range []string{"m8", "m9", "m10"} {
			f.put(userA, "F2/F3", id)
		}
		f.sync()

		f.userMove(userB, "F1", "m5", "F2/F3")
		f.srv.Delete(t, userB, "F1")
		f.srv.RenameByCopy(t, userB, "F2/F3", "F2/R4")
		f.srv.RenameByCopy(t, userB, "F2", "R5")
		f.syncCounting(map[string]int{"APPEND": 0})
		f.wantBoth("R5", "m4 -")
		f.wantBoth("R5/R4", "m10 -", "m5 \\Flagged", "m8 -", "m9 -")
		f.want(userA, "F1")
		f.wantNoMailbox("F2", "F2/F3", "F2/R4", "R5/F3")
		f.wantNoMailboxOn(userB, "F1")
		f.settled()
	})
}

// TestSyncFoldersUnderAGoneParentTakeNewFoldersBestFirst: b's user moved
// m5 out of F3/F4/F5 into F3/R9, deleted F3/F4/F5, renamed F3/F4 to R10,
// renamed F3 to R11 by copy (F3/R9 made anew as R11/R9) and R11/R9 to
// R12. b's R12 holds both of F3/R9's messages and F3/F4/F5's one. Both
// folders lie under a parent gone from b and are found by their
// messages alone; F3/R9's two of two go before F3/F4/F5's one of one,
// though F3/F4/F5 comes first by name: F3/R9 is renamed to R12 on a,
// with m5 moved in there, and F3/F4/F5 is kept on a under R10
// (deletions kept). Before (reconcile table case 223), F3/F4/F5 took
// R12, and F3/R9 was kept on a as R11/R9, empty.
func TestSyncFoldersUnderAGoneParentTakeNewFoldersBestFirst(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "F3", "m11")
		f.put(userA, "F3/F4", "m9", imap.FlagSeen)
		f.put(userA, "F3/F4/F5", "m5")
		f.put(userA, "F3/R9", "m1")
		f.put(userA, "F3/R9", "m4")
		f.sync()

		f.userMove(userB, "F3/F4/F5", "m5", "F3/R9")
		f.srv.Delete(t, userB, "F3/F4/F5")
		f.srv.Rename(t, userB, "F3/F4", "R10")
		f.srv.RenameByCopy(t, userB, "F3", "R11")
		f.srv.Rename(t, userB, "R11/R9", "R12")
		f.syncCounting(map[string]int{"APPEND": 0})
		f.wantBoth("R12", "m1 -", "m4 -", "m5 -")
		f.wantBoth("R11", "m11 -")
		f.wantBoth("R10", "m9 \\Seen")
		f.want(userA, "R10/F5")
		f.wantNoMailbox("F3", "F3/R9", "R11/R9", "F3/F4/F5")
		f.wantNoMailboxOn(userB, "R10/F5")
		f.settled()
	})
}

// TestSyncLateClaimLeftUnusedGoesToTheNextFolder: b's user renamed P to
// Q by copy (Q/X and Q/Y made anew under it), renamed Q/Y to R by copy,
// and moved three of Q/X's four messages into R. P's children lie under
// a parent found renamed by its messages only, so they take new folders
// best first among themselves: P/X, three of four in R, goes before
// P/Y, two of two, and takes R; but P/X then goes with its parent to
// Q/X. R goes to P/Y: Q/Y is renamed to R on a, and the three messages
// are moved there. Before (reconcile table cases 225 and 226), R stayed
// P/X's, P/Y was kept on a as an empty Q/Y, and R was made on a as a
// new folder.
func TestSyncLateClaimLeftUnusedGoesToTheNextFolder(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "P", "m1")
		for _, id := range []string{"m2", "m3", "m4", "m5"} {
			f.put(userA, "P/X", id)
		}
		f.put(userA, "P/Y", "m6")
		f.put(userA, "P/Y", "m7")
		f.sync()

		f.srv.RenameByCopy(t, userB, "P", "Q")
		f.srv.RenameByCopy(t, userB, "Q/Y", "R")
		for _, id := range []string{"m2", "m3", "m4"} {
			f.userMove(userB, "Q/X", id, "R")
		}
		f.syncCounting(map[string]int{"APPEND": 0})
		f.wantBoth("Q", "m1 -")
		f.wantBoth("Q/X", "m5 -")
		f.wantBoth("R", "m2 -", "m3 -", "m4 -", "m6 -", "m7 -")
		f.wantNoMailbox("P", "P/X", "P/Y", "Q/Y")
		f.settled()
	})
}

// TestSyncTiedClaimsGoToTheFolderWhoseMessageComesFirst: a's user moved
// m2 out of A1 into X, deleted A1, and renamed X to Z by copy. a's Z
// holds one message of each of two folders gone from a, as good a claim
// as each other; the one whose message comes first in Z takes it, as a
// rename by copy keeps the old order and the mail moved in came after.
// X is renamed to Z on b, and m2 moved there. Before (reconcile table
// case 227), A1 took Z by its name, and X stayed on b under its old
// name beside Z.
func TestSyncTiedClaimsGoToTheFolderWhoseMessageComesFirst(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "A1", "m2")
		f.put(userA, "X", "m1")
		f.sync()

		f.userMove(userA, "A1", "m2", "X")
		f.srv.Delete(t, userA, "A1")
		f.srv.RenameByCopy(t, userA, "X", "Z")
		f.syncCounting(map[string]int{"APPEND": 0})
		f.wantBoth("Z", "m1 -", "m2 -")
		f.wantNoMailbox("X")
		f.wantNoMailboxOn(userA, "A1")
		f.settled()
	})
}

// TestSyncChildLeftBehindByItsParentClaimsByItsMessages: b's user moved
// m3 out of D into P/C, deleted D, renamed P/C to N by copy, and then
// renamed P to Q. b's N holds one message of D's and one of P/C's, both
// folders gone from b. P's RENAME did not take P/C along (b lists no
// Q/C), so P/C's message counts as much as D's, and it comes first in
// N: P/C is renamed to N on a and m3 moved there. Before (reconcile
// table case 228), D took N, and P/C was kept on a as an empty Q/C.
func TestSyncChildLeftBehindByItsParentClaimsByItsMessages(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.policy.Default.Deletion = reconcile.Keep
		f.put(userA, "D", "m3")
		f.put(userA, "P", "m1")
		f.put(userA, "P/C", "m2")
		f.sync()

		f.userMove(userB, "D", "m3", "P/C")
		f.srv.Delete(t, userB, "D")
		f.srv.RenameByCopy(t, userB, "P/C", "N")
		f.srv.Rename(t, userB, "P", "Q")
		f.syncCounting(map[string]int{"APPEND": 0})
		f.wantBoth("N", "m2 -", "m3 -")
		f.wantBoth("Q", "m1 -")
		f.wantNoMailbox("P", "P/C", "Q/C")
		f.wantNoMailboxOn(userB, "D")
		f.settled()
	})
}

// TestSyncRenameWhoseAnswerIsLost: a's user renames B1 to R, which
// takes B1/C along, and moves m1 from R into R/C; b's user deletes
// B1/C. One run renames b's B1 to R, makes R/C again there (renamed on
// a, deleted on b: DESIGN.md keeps it) and moves m1 into it. Here b's
// connection is cut as b's server answers the RENAME. Before, the
// RENAME the server did was reported failed, the CREATE and the move
// behind it failed, and the state kept B1 as the base had it; the next
// run then read b's R as b's user's own rename, R/C as deleted on b
// after it, and m1 as filed away into a folder of a's alone: it
// expunged b's copy and left R/C on a only (TestRandomEndToEnd
// -e2e.cuts 0.5, Dovecot seed 120). Now the RENAME is found done, and
// the run goes on as one uncut run would. On Dovecot only:
// imapmemserver's RENAME leaves the names under the old one where they
// are (LIBNOTES.md).
func TestSyncRenameWhoseAnswerIsLost(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.put(userA, "INBOX", "m0")
	f.put(userA, "B1", "m1")
	f.srv.Create(t, userA, "B1/C")
	f.sync()
	f.wantBoth("B1", "m1 -")
	f.wantBoth("B1/C")

	f.userRename(userA, "B1", "R")
	f.userMove(userA, "R", "m1", "R/C")
	f.srv.Delete(t, userB, "B1/C")
	rec := f.record()
	var cut atomic.Bool
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Answered && e.Verb == "RENAME" && cut.CompareAndSwap(false, true) {
			return imaptest.Action{Do: imaptest.Cut}
		}
		return imaptest.Action{}
	})
	res, err := f.attempt(false)
	if !cut.Load() {
		t.Fatalf("no RENAME was cut; the run's plan:\n%v", res.Plan)
	}
	if err != nil {
		t.Errorf("the run whose RENAME's answer is lost: %v", err)
	}
	f.sync()
	f.wantBoth("R/C", "m1 -")
	f.wantBoth("R")
	f.wantBoth("INBOX", "m0 -")
	f.wantNoMailbox("B1", "B1/C")
	f.settled()
}
