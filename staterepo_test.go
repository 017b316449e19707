package main

import (
	"context"
	"testing"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestSaveRunAfterSaveStagesTheJournalAlone checks how a run's journal
// is staged: after Run's Save, alone, leaving the state Save staged
// (encoding and comparing it again is what it saves); after a
// checkpoint, or with no Save before, with the state given.
func TestSaveRunAfterSaveStagesTheJournalAlone(t *testing.T) {
	ctx := context.Background()
	repo, err := gitstate.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	state := func(uidNext reconcile.UID) reconcile.State {
		return reconcile.State{Folders: []reconcile.FolderState{{Name: "INBOX",
			A:       reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1, UIDNext: uidNext},
			B:       reconcile.SideState{Mailbox: "INBOX", UIDValidity: 7, UIDNext: uidNext},
			Records: []reconcile.Record{{UIDA: 1, UIDB: 1, ID: reconcile.IdentityFromMessageID("<m1@x>", 10)}},
		}}}
	}
	ls := &lockedStates{inner: stateRepo{repo}, repo: repo, run: "r1"}
	plan := &reconcile.Plan{Pair: "p"}
	committed := func(what string) (reconcile.UID, string) {
		t.Helper()
		if _, err := repo.Commit(ctx, what); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		st, err := ls.Load(ctx, "p")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		j, err := readJournal(ctx, repo, "", "p")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st.Folders[0].A.UIDNext, string(j)
	}

	// Run's Save, then the journal: the state given to saveRun is the
	// one Save had, so it is not staged again (a different one here
	// shows it).
	if err := ls.Save(ctx, "p", state(2)); err != nil {
		t.Fatal(err)
	}
	if err := ls.saveRun(ctx, "p", state(99), plan, nil); err != nil {
		t.Fatal(err)
	}
	if next, j := committed("first"); next != 2 || j != string(reconcile.FormatJournal(reconcile.RunJournal{Run: "r1", Status: reconcile.RunComplete})) {
		t.Fatalf("after Save and saveRun: UIDNEXT %d, journal %q; want 2 and the run's", next, j)
	}

	// No Save of this run before: saveRun stages the state too.
	if err := ls.saveRun(ctx, "p", state(3), plan, nil); err != nil {
		t.Fatal(err)
	}
	if next, _ := committed("second"); next != 3 {
		t.Fatalf("saveRun with no Save before: UIDNEXT %d, want 3", next)
	}

	// A checkpoint after Save staged another state: so does saveRun.
	if err := ls.Save(ctx, "p", state(4)); err != nil {
		t.Fatal(err)
	}
	ls.checkpoint(ctx, &globalOptions{}, "p", reconcile.Checkpoint{State: state(5), Plan: &reconcile.Plan{Pair: "p"}})
	if err := ls.saveRun(ctx, "p", state(6), plan, nil); err != nil {
		t.Fatal(err)
	}
	if next, _ := committed("third"); next != 6 {
		t.Fatalf("saveRun after a checkpoint: UIDNEXT %d, want 6", next)
	}
}
