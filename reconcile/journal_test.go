package reconcile_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

const journalHead = "# mailtwin journal v1\nrun \"r1\"\nstatus complete\n"

// journalCanonical is a journal holding every op, every status and
// every optional part: it must read back to the same bytes.
var journalCanonical = journalHead +
	`note "revert abc1234"
ok b create-folder "Trash" "Trash" 0 "" 0 "" 0 "" "" - "trash folder needed" ""
ok b copy "INBOX" "INBOX" 0 "INBOX" 5 "" 7 "$work \\Seen" "" m:3fa9c1d2e4b5a6978899aabb "new" ""
failed a store "Lists/Go \"nuts\"" "Lists.Go \"nuts\"" 4 "" 0 "" 0 "\\Flagged" "\\Seen" h:00ff "flags changed" "store: connection reset"
ok b move "INBOX" "INBOX" 3 "" 0 "Trash" 1 "" "" m:72b80ef59152ad20e1aa6cde "trash" ""
not-run a expunge "Ärger" "&AMQ-rger" 9 "" 0 "" 0 "" "" m:00 "deleted on other side" ""
ok a rename-folder "Work" "Work" 0 "" 0 "Projects" 0 "" "" - "renamed on other side" ""
ok a delete-folder "Old" "Old" 0 "" 0 "" 0 "" "" - "folder deleted on other side" ""
conflict "\"INBOX\": moved to \"A\" on a and to \"B\" on b: a wins"
`

// TestJournalRoundTrip: a journal file parses and formats back to the
// same bytes, and what NewRunJournal records survives the trip.
func TestJournalRoundTrip(t *testing.T) {
	for _, file := range []string{journalHead, journalCanonical,
		"# mailtwin journal v1\nrun \"r2\"\nstatus incomplete\nnote \"checkpoint after 3 of 9 actions\"\n"} {
		j, err := reconcile.ParseJournal("j", []byte(file))
		if err != nil {
			t.Fatalf("ParseJournal(%q) = %v", file, err)
		}
		if got := string(reconcile.FormatJournal(j)); got != file {
			t.Errorf("FormatJournal(ParseJournal(x)) =\n%s\nwant\n%s", got, file)
		}
	}
	j, _ := reconcile.ParseJournal("j", []byte(journalCanonical))
	if e := j.Entries[2]; e.Status != reconcile.StatusFailed || e.Side != reconcile.A || e.Op != reconcile.Store ||
		e.Folder != `Lists/Go "nuts"` || e.UID != 4 || !reflect.DeepEqual(e.Flags, reconcile.Flags{`\Flagged`}) ||
		!reflect.DeepEqual(e.Remove, reconcile.Flags{`\Seen`}) || e.Error != "store: connection reset" {
		t.Errorf("entry 2 = %+v", e)
	}
	if e := j.Entries[1]; e.NewUID != 7 || e.SrcUID != 5 || !reflect.DeepEqual(e.Flags, reconcile.Flags{"$work", `\Seen`}) {
		t.Errorf("entry 1 = %+v", e)
	}

	// From a plan and its outcomes.
	p := &reconcile.Plan{Pair: "p", Actions: []reconcile.Action{
		{Op: reconcile.Copy, Side: reconcile.B, Folder: "INBOX", Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: 5, Flags: reconcile.Flags{}, ID: "m:01", Reason: reconcile.ReasonNew},
		{Op: reconcile.Move, Side: reconcile.A, Folder: "INBOX", Mailbox: "INBOX", UID: 2, Dest: "Trash", ID: "m:02", Reason: reconcile.ReasonTrash},
		{Op: reconcile.Expunge, Side: reconcile.A, Folder: "INBOX", Mailbox: "INBOX", UID: 3, ID: "m:03"},
	}, Conflicts: []string{"c1"}}
	rj := reconcile.NewRunJournal("r9", p, []reconcile.Outcome{{UID: 11}, {Err: errors.New("no\nway")}})
	back, err := reconcile.ParseJournal("j", reconcile.FormatJournal(rj))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rj) {
		t.Errorf("ParseJournal(FormatJournal(j)) =\n%+v\nwant\n%+v", back, rj)
	}
	if back.Entries[0].NewUID != 11 || back.Entries[1].Status != reconcile.StatusFailed || back.Entries[1].Error != "no way" ||
		back.Entries[2].Status != reconcile.StatusNotRun {
		t.Errorf("NewRunJournal entries = %+v", back.Entries)
	}
}

// TestParseJournalErrors: the parser is strict and says where.
func TestParseJournalErrors(t *testing.T) {
	line := `ok b copy "INBOX" "INBOX" 0 "INBOX" 5 "" 7 "" "" m:01 "new" ""`
	for _, tt := range []struct{ file, want string }{
		{"", "j:1: not a journal"},
		{journalHead + "conflict \"x\"", "no final newline"},
		{"# mailtwin journal v2\nrun \"r\"\nstatus complete\n", "j:1: not a journal of this version"},
		{"# mailtwin journal v1\nrun r\nstatus complete\n", "j:2: run: want a quoted string"},
		{"# mailtwin journal v1\nrun \"r\"\nstatus done\n", "j:3: want status"},
		{journalHead + strings.Replace(line, "ok", "fine", 1) + "\n", `j:4: unknown status "fine"`},
		{journalHead + strings.Replace(line, "copy", "cp", 1) + "\n", `j:4: unknown op "cp"`},
		{journalHead + strings.Replace(line, " 5 ", " 05 ", 1) + "\n", `j:4: bad uid "05"`},
		{journalHead + strings.Replace(line, "m:01", "m01", 1) + "\n", `j:4: bad identity`},
		{journalHead + strings.Replace(line, `"new"`, "new", 1) + "\n", `j:4: not in canonical form`},
		{journalHead + strings.Replace(line, `"new" ""`, `"new"`, 1) + "\n", "j:4: want 15 fields"},
		{journalHead + strings.Replace(line, "ok", "failed", 1) + "\n", "j:4: a failed action needs its error"},
		{journalHead + "conflict \"x\"\n" + line + "\n", "j:5: action after a conflict line"},
		{journalHead + line + "  \n", "j:4: empty field"},
	} {
		_, err := reconcile.ParseJournal("j", []byte(tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseJournal(%q) = %v, want an error with %q", tt.file, err, tt.want)
		}
	}
}

// FuzzParseJournal: whatever ParseJournal accepts formats to bytes that
// parse to the same journal and format to themselves.
func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(journalCanonical))
	f.Add([]byte(journalHead))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := reconcile.ParseJournal("f", data)
		if err != nil {
			return
		}
		out := reconcile.FormatJournal(j)
		j2, err := reconcile.ParseJournal("f", out)
		if err != nil {
			t.Fatalf("ParseJournal(FormatJournal(j)) = %v\n%s", err, out)
		}
		if !reflect.DeepEqual(j, j2) {
			t.Fatalf("round trip changed the journal:\n%+v\n%+v", j, j2)
		}
		if out2 := reconcile.FormatJournal(j2); !bytes.Equal(out, out2) {
			t.Fatalf("FormatJournal is not stable:\n%s\n%s", out, out2)
		}
	})
}

// TestDecodeStateIgnoresJournal: the journal file lives beside the
// state files and is not taken for one.
func TestDecodeStateIgnoresJournal(t *testing.T) {
	if strings.HasSuffix(reconcile.JournalFile, ".state") || reconcile.StateFileName("journal/actions") == reconcile.JournalFile {
		t.Fatalf("JournalFile %q can be taken for a state file", reconcile.JournalFile)
	}
	st := reconcile.State{Folders: []reconcile.FolderState{{Name: "INBOX", A: reconcile.SideState{Mailbox: "INBOX"}, B: reconcile.SideState{Mailbox: "INBOX"}}}}
	files := reconcile.EncodeState(st)
	files[reconcile.JournalFile] = []byte(journalCanonical)
	got, err := reconcile.DecodeState("p", files)
	if err != nil || !reflect.DeepEqual(got, st) {
		t.Errorf("DecodeState with a journal = %+v, %v; want %+v", got, err, st)
	}
}

// TestCheckpointJournalListsWhatWasDone: a checkpoint's journal holds
// the actions finished so far, failed ones included, and leaves out
// those not run yet; it says the run is incomplete.
func TestCheckpointJournalListsWhatWasDone(t *testing.T) {
	p := &reconcile.Plan{Actions: []reconcile.Action{
		{Op: reconcile.Copy, Side: reconcile.B, Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: 1},
		{Op: reconcile.Copy, Side: reconcile.B, Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: 2},
		{Op: reconcile.Expunge, Side: reconcile.A, Mailbox: "Work", UID: 7},
	}}
	outcomes := []reconcile.Outcome{{UID: 10}, {Err: reconcile.ErrNotRun}, {Err: errors.New("refused")}}
	j := reconcile.NewCheckpointJournal("r1", p, outcomes)
	if j.Status != reconcile.RunIncomplete || len(j.Entries) != 2 {
		t.Fatalf("checkpoint journal: status %q, %d entries; want incomplete, 2", j.Status, len(j.Entries))
	}
	if e := j.Entries[0]; e.SrcUID != 1 || e.Status != reconcile.StatusOK || e.NewUID != 10 {
		t.Errorf("first entry = %+v, want the copy of uid 1, ok, new uid 10", e)
	}
	if e := j.Entries[1]; e.UID != 7 || e.Status != reconcile.StatusFailed {
		t.Errorf("second entry = %+v, want the failed expunge of uid 7", e)
	}
	if full := reconcile.NewRunJournal("r1", p, outcomes); len(full.Entries) != 3 || full.Entries[1].Status != reconcile.StatusNotRun {
		t.Errorf("the run's journal lists %d entries (second %q), want all 3 with the second not run", len(full.Entries), full.Entries[1].Status)
	}
}

// TestFormatJournalOf: the journal written from a plan and its outcomes
// is, byte for byte, the one formatted from NewRunJournal's entries (and
// NewCheckpointJournal's for an incomplete run), note and conflicts
// included.
func TestFormatJournalOf(t *testing.T) {
	p := &reconcile.Plan{Pair: "p", Actions: []reconcile.Action{
		{Op: reconcile.Copy, Side: reconcile.B, Folder: "INBOX", Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: 5, Flags: reconcile.Flags{`\Seen`}, ID: "m:01", Reason: reconcile.ReasonNew},
		{Op: reconcile.Move, Side: reconcile.A, Folder: "INBOX", Mailbox: "INBOX", UID: 2, Dest: "Trash", ID: "m:02", Reason: reconcile.ReasonTrash},
		{Op: reconcile.Store, Side: reconcile.A, Folder: "Work", Mailbox: "Work", UID: 4, Flags: reconcile.Flags{`\Flagged`}, Remove: reconcile.Flags{`\Seen`}},
		{Op: reconcile.Expunge, Side: reconcile.A, Folder: "INBOX", Mailbox: "INBOX", UID: 3, ID: "m:03"},
	}, Conflicts: []string{"c1"}}
	outcomes := []reconcile.Outcome{{UID: 11}, {Err: errors.New("no\nway")}, {Err: reconcile.ErrNotRun}}

	full := reconcile.NewRunJournal("r9", p, outcomes)
	full.Note = "revert 3fa9c1d"
	got := reconcile.FormatJournalOf(reconcile.RunJournal{Run: "r9", Status: reconcile.RunComplete, Note: full.Note, Conflicts: p.Conflicts}, p, outcomes)
	if want := reconcile.FormatJournal(full); string(got) != string(want) {
		t.Errorf("FormatJournalOf, complete run:\n%s\nwant\n%s", got, want)
	}

	cp := reconcile.NewCheckpointJournal("r9", p, outcomes)
	cp.Note = "checkpoint after 2 of 4 actions"
	got = reconcile.FormatJournalOf(reconcile.RunJournal{Run: "r9", Status: reconcile.RunIncomplete, Note: cp.Note, Conflicts: p.Conflicts}, p, outcomes)
	if want := reconcile.FormatJournal(cp); string(got) != string(want) {
		t.Errorf("FormatJournalOf, checkpoint:\n%s\nwant\n%s", got, want)
	}
	if len(cp.Entries) != 2 {
		t.Fatalf("checkpoint has %d entries, want the 2 actions done", len(cp.Entries))
	}
}
