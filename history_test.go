package main

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// historySnapshot is every mailbox of both accounts as sorted "id flags"
// lines, keyed "a INBOX", "b Trash", and so on.
func historySnapshot(t *testing.T, tr *sweepTrial) map[string][]string {
	t.Helper()
	f := tr.fixture(t)
	out := map[string][]string{}
	for side, user := range map[string]string{"a": tr.a, "b": tr.b} {
		for _, mb := range tr.srv.Mailboxes(t, user) {
			out[side+" "+mb] = f.contents(user, mb)
		}
	}
	return out
}

func headShort(t *testing.T, tr *sweepTrial) string {
	t.Helper()
	repo, err := gitstate.Open(context.Background(), tr.state)
	if err != nil {
		t.Fatal(err)
	}
	log, err := repo.Log(context.Background(), 1)
	if err != nil || len(log) == 0 {
		t.Fatalf("log: %v %v", log, err)
	}
	return log[0].Short
}

// TestHistoryShowDiffRevert: a run R that moved, flagged, copied and
// trashed messages (carrying out the user's move, flag, new message and
// deletion on a) is shown, diffed and reverted. After revert R each
// account holds what it held just before R, except that the copy R made
// on b went to b's trash (the pair's deletion policy), so the trash
// folder R created stays; show and the revert's output say so. A sync
// after the revert then does what R did again: the user's changes on a
// are still there, and the state is R's parent's.
func TestHistoryShowDiffRevert(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
		tr.pairExtra = "  defaults {\n    deletion = \"trash\"\n  }\n"
		tr.writeConfig(t, srv.Addr)
		f := tr.fixture(t)
		for _, id := range []string{"m1", "m2", "m3", "m4"} {
			f.put(userA, "INBOX", id)
		}
		srv.Create(t, userA, "Archive")
		f.put(userA, "Archive", "a1")
		tr.apply(t)

		// The user's changes on a.
		srv.Move(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m1"), "Archive")
		srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m2"), imap.FlagFlagged)
		f.put(userA, "INBOX", "m5", imap.FlagSeen)
		f.expunge(userA, "INBOX", "m3")
		before := historySnapshot(t, tr)
		tr.apply(t)
		r := headShort(t, tr)
		f.want(userB, "Archive", "a1 -", "m1 -")
		f.want(userB, "INBOX", `m2 \Flagged`, "m4 -", `m5 \Seen`)
		f.want(userB, "Trash", "m3 -")
		// The memory server has no trash folder until R makes one;
		// Dovecot has one from the start.
		_, hadTrash := before["b Trash"]

		// show, as text: one line per action, by folder, with outcome.
		code, out := tr.mailtwin("show", r)
		if code != 0 {
			t.Fatalf("show %s: exit %d:\n%s", r, code, out)
		}
		for _, want := range []string{
			"complete", `pair "p": run `, `folder "INBOX"`,
			`> b:"INBOX" uid 1 -> "Archive"`, `~ b:"INBOX" uid 2 +\Flagged`,
			`+ b:"INBOX" <- a:"INBOX" uid 5 flags \Seen`, `> b:"INBOX" uid 3 -> "Trash"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("show %s lacks %q:\n%s", r, want, out)
			}
		}
		// show --json: the same, as data.
		code, out = tr.mailtwin("show", "--json", r)
		var sr showReport
		if err := json.Unmarshal([]byte(out), &sr); code != 0 || err != nil {
			t.Fatalf("show --json: exit %d, %v:\n%s", code, err, out)
		}
		if len(sr.Pairs) != 1 || !sr.Pairs[0].Acted || sr.Status != "complete" {
			t.Fatalf("show --json pairs = %+v, want one pair that acted, complete", sr)
		}
		var ops []string
		for _, e := range sr.Pairs[0].Actions {
			if e.Status != "ok" || e.ID == "" && e.Op.String() != "create-folder" {
				t.Errorf("show --json action %+v: want ok, with an identity", e)
			}
			ops = append(ops, e.Side.String()+" "+e.Op.String()+" "+e.Mailbox+">"+e.Dest+" "+e.Reason)
		}
		slices.Sort(ops)
		wantOps := []string{
			"b copy INBOX> new",
			"b move INBOX>Archive moved on other side",
			"b move INBOX>Trash trash",
			"b store INBOX> flags changed",
		}
		if !hadTrash {
			wantOps = append(wantOps[:1], append([]string{"b create-folder Trash> trash folder needed"}, wantOps[1:]...)...)
		}
		if !slices.Equal(ops, wantOps) {
			t.Errorf("show --json actions:\n%s\nwant:\n%s", strings.Join(ops, "\n"), strings.Join(wantOps, "\n"))
		}
		raw := map[string]any{}
		json.Unmarshal([]byte(out), &raw)
		act := raw["pairs"].([]any)[0].(map[string]any)["actions"].([]any)[0].(map[string]any)
		for _, k := range []string{"status", "op", "side", "folder", "mailbox", "reason"} {
			if _, ok := act[k]; !ok {
				t.Errorf("show --json action lacks field %q: %v", k, act)
			}
		}

		// diff R^ R: per folder, offline.
		code, out = tr.mailtwin("diff", "--json", r+"^", r)
		var dr diffReport
		if err := json.Unmarshal([]byte(out), &dr); code != 0 || err != nil {
			t.Fatalf("diff --json: exit %d, %v:\n%s", code, err, out)
		}
		got := map[string]string{}
		for _, fd := range dr.Pairs[0].Folders {
			got[fd.Folder] = strings.TrimSpace(strings.Join([]string{fd.Change, itoa(fd.Added), itoa(fd.Removed), itoa(fd.FlagsChanged)}, " "))
		}
		// INBOX: m5 added; m1 moved away and m3 deleted; m2 flagged.
		// Trash: the record of m3, on b only.
		wantDiff := map[string]string{"INBOX": "1 2 1", "Archive": "1 0 0", "Trash": "1 0 0"}
		if !hadTrash {
			wantDiff["Trash"] = "added 1 0 0"
		}
		if !maps.Equal(got, wantDiff) {
			t.Errorf("diff %s^ %s = %v, want %v\n%s", r, r, got, wantDiff, out)
		}
		if code, out := tr.mailtwin("diff", r+"^"); code != 0 || !strings.Contains(out, `"INBOX": 1 added, 2 removed, 1 flags changed`) {
			t.Errorf("diff %s^ (to HEAD): exit %d:\n%s", r, code, out)
		}

		// revert --dry-run changes nothing.
		after := historySnapshot(t, tr)
		if code, out := tr.mailtwin("revert", "--dry-run", r); code != 0 || !strings.Contains(out, "undo move") {
			t.Fatalf("revert --dry-run: exit %d:\n%s", code, out)
		}
		if s := historySnapshot(t, tr); !maps.EqualFunc(s, after, slices.Equal) {
			t.Fatalf("revert --dry-run changed the mailboxes: %v, was %v", s, after)
		}
		if headShort(t, tr) != r {
			t.Fatalf("revert --dry-run made a commit")
		}

		code, out = tr.mailtwin("revert", r)
		if code != 0 {
			t.Fatalf("revert %s: exit %d:\n%s", r, code, out)
		}
		if !hadTrash && !strings.Contains(out, `cannot undo + b:"Trash" create folder`) {
			t.Errorf("revert output does not say the trash folder stays:\n%s", out)
		}
		// Just before R, except: R's copy of m5 is in b's trash, which
		// R created and which therefore stays.
		want := maps.Clone(before)
		want["b Trash"] = []string{`m5 \Seen`}
		if got := historySnapshot(t, tr); !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("after revert %s:\n got %v\nwant %v\nrevert said:\n%s", r, got, want, out)
		}
		rv := headShort(t, tr)
		if rv == r {
			t.Fatalf("revert made no commit")
		}
		code, out = tr.mailtwin("show", rv)
		if code != 0 || !strings.Contains(out, "revert "+r) || !strings.Contains(out, "undo copy") {
			t.Errorf("show of the revert commit: exit %d:\n%s", code, out)
		}

		// The next sync does R again: the user's changes are still on a.
		code, out = tr.mailtwin("apply")
		if code != 0 || !strings.Contains(out, "b: 1 copied, 1 moved, 1 flag updates, 1 trashed") {
			t.Errorf("apply after the revert: exit %d, want R's actions again:\n%s", code, out)
		}
		f.want(userB, "Archive", "a1 -", "m1 -")
		f.want(userB, "INBOX", `m2 \Flagged`, "m4 -", `m5 \Seen`)
		f.want(userB, "Trash", "m3 -", `m5 \Seen`)
		// The copy the revert trashed on b is new mail in b's trash:
		// where a has a trash folder too (Dovecot), it flows there.
		if hadTrash {
			f.want(userA, "Trash", `m5 \Seen`)
		}
		if code, out := tr.mailtwin("plan", "--detailed-exitcode"); code != 0 {
			t.Errorf("plan after the sync that followed the revert: exit %d, want 0 (settled):\n%s", code, out)
		}
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestHistoryRevertCheckpointedRun: a run that committed checkpoints
// (checkpoint_actions = 1) lists all its actions in its final commit;
// a checkpoint shows as incomplete and cannot be reverted by itself;
// reverting the final commit undoes the whole run and restores the state
// from before its first checkpoint.
func TestHistoryRevertCheckpointedRun(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
		tr.pairExtra = "  defaults {\n    max_deletes = \"100%\"\n  }\n"
		tr.writeConfig(t, srv.Addr)
		withCheckpointEveryAction(t, tr)
		f := tr.fixture(t)
		f.put(userA, "INBOX", "m1")
		tr.apply(t)
		first := headShort(t, tr)
		for _, mb := range []string{"F1", "F2", "F3"} {
			f.put(userA, mb, mb+"x")
			f.put(userA, mb, mb+"y")
		}
		before := historySnapshot(t, tr)
		tr.apply(t)
		r := headShort(t, tr)
		if code, log := tr.mailtwin("log"); code != 0 || strings.Count(log, "sync (incomplete)") < 2 {
			t.Fatalf("log shows fewer than two checkpoints of the run:\n%s", log)
		}

		code, out := tr.mailtwin("show", "--json", r)
		var sr showReport
		if err := json.Unmarshal([]byte(out), &sr); code != 0 || err != nil {
			t.Fatalf("show --json %s: exit %d, %v:\n%s", r, code, err, out)
		}
		copies := 0
		for _, e := range sr.Pairs[0].Actions {
			if e.Op.String() == "copy" && e.Status == "ok" {
				copies++
			}
		}
		if copies != 6 || sr.Status != "complete" {
			t.Errorf("show %s: %d copies, status %s; want all 6 of the run, complete:\n%s", r, copies, sr.Status, out)
		}
		code, out = tr.mailtwin("show", r+"~1")
		if code != 0 || !strings.Contains(out, "incomplete") || !strings.Contains(out, "checkpoint after") {
			t.Errorf("show of a checkpoint: exit %d:\n%s", code, out)
		}
		if code, out := tr.mailtwin("revert", r+"~1"); code != 4 || !strings.Contains(out, "is a checkpoint of run") {
			t.Errorf("revert of a checkpoint: exit %d, want 4 and a pointer to the final commit:\n%s", code, out)
		}

		if code, out := tr.mailtwin("revert", r); code != 0 {
			t.Fatalf("revert %s: exit %d:\n%s", r, code, out)
		}
		if got := historySnapshot(t, tr); !maps.EqualFunc(got, before, slices.Equal) {
			t.Errorf("after revert %s:\n got %v\nwant %v", r, got, before)
		}
		if code, out := tr.mailtwin("diff", first); code != 0 || !strings.Contains(out, `pair "p": no differences`) {
			t.Errorf("diff %s HEAD after the revert: exit %d, want the state from before the run:\n%s", first, code, out)
		}
	})
}

// TestHistoryCommitMessageShort: a run's commit message holds at most 20
// lines of its journal and says where the rest is; show lists every
// action from the journal file.
func TestHistoryCommitMessageShort(t *testing.T) {
	srv := imaptest.StartMem(t, userA, userB)
	tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
	f := tr.fixture(t)
	for i := range 30 {
		f.put(userA, "INBOX", "m"+itoa(i))
	}
	tr.apply(t)
	repo, err := gitstate.Open(context.Background(), tr.state)
	if err != nil {
		t.Fatal(err)
	}
	log, err := repo.Log(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	msg := log[0].Message
	if n := strings.Count(msg, "\nok "); n > 20 || !strings.Contains(msg, "more lines: mailtwin show REV lists every action") {
		t.Errorf("commit message holds %d journal lines, want at most 20 and a pointer to show:\n%s", n, msg)
	}
	code, out := tr.mailtwin("show", "--json", "HEAD")
	var sr showReport
	if err := json.Unmarshal([]byte(out), &sr); code != 0 || err != nil || len(sr.Pairs) != 1 || len(sr.Pairs[0].Actions) != 30 {
		t.Errorf("show --json HEAD: exit %d, %v, want the 30 copies:\n%s", code, err, out)
	}
}

// TestHistoryRevertRename: a run that renamed a folder on b (the user
// renamed it on a) and moved a message into it is reverted: the folder
// gets its old name back and the message goes back to INBOX. The next
// sync agrees with the state the revert committed and does the run
// again.
func TestHistoryRevertRename(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
		tr.pairExtra = ""
		tr.writeConfig(t, srv.Addr)
		f := tr.fixture(t)
		f.put(userA, "INBOX", "m1")
		f.put(userA, "INBOX", "m2")
		f.put(userA, "Work", "w1")
		f.put(userA, "Work", "w2")
		tr.apply(t)
		srv.Rename(t, userA, "Work", "Projects")
		srv.Move(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m1"), "Projects")
		before := historySnapshot(t, tr)
		tr.apply(t)
		f.want(userB, "Projects", "m1 -", "w1 -", "w2 -")
		r := headShort(t, tr)

		code, out := tr.mailtwin("revert", r)
		if code != 0 || !strings.Contains(out, "undo folder rename") {
			t.Fatalf("revert %s: exit %d:\n%s", r, code, out)
		}
		if got := historySnapshot(t, tr); !maps.EqualFunc(got, before, slices.Equal) {
			t.Errorf("after revert %s:\n got %v\nwant %v\nrevert said:\n%s", r, got, before, out)
		}
		tr.apply(t)
		f.want(userB, "Projects", "m1 -", "w1 -", "w2 -")
		f.want(userB, "INBOX", "m2 -")
		if slices.Contains(srv.Mailboxes(t, userB), "Work") {
			t.Errorf("b still has Work after the sync that followed the revert: %v", srv.Mailboxes(t, userB))
		}
		if code, out := tr.mailtwin("plan", "--detailed-exitcode"); code != 0 {
			t.Errorf("plan after that sync: exit %d, want 0 (settled):\n%s", code, out)
		}
	})
}
