package reconcile_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// liveOf reads what the sides hold now, a mailbox a line:
//
//	a INBOX 1=m:01 2=m:02
//	trash b Trash
func liveOf(t *testing.T, spec string) [2]reconcile.LiveSide {
	t.Helper()
	var live [2]reconcile.LiveSide
	for i := range live {
		live[i].Mailboxes = map[string]map[reconcile.UID]reconcile.Identity{}
	}
	side := func(s string) int {
		if s == "a" {
			return 0
		}
		return 1
	}
	for _, ln := range strings.Split(strings.TrimSpace(spec), "\n") {
		f := strings.Fields(ln)
		if len(f) == 0 {
			continue
		}
		if f[0] == "trash" {
			live[side(f[1])].Trash = f[2]
			continue
		}
		msgs := map[reconcile.UID]reconcile.Identity{}
		for _, m := range f[2:] {
			u, id, _ := strings.Cut(m, "=")
			n, err := strconv.Atoi(u)
			if err != nil {
				t.Fatalf("bad live line %q", ln)
			}
			msgs[reconcile.UID(n)] = reconcile.Identity(id)
		}
		live[side(f[0])].Mailboxes[f[1]] = msgs
		live[side(f[0])].Delim = '/'
	}
	return live
}

// TestBuildRevert: one row per kind of action a run records, and what
// its inverse is, or why there is none.
func TestBuildRevert(t *testing.T) {
	trash := reconcile.Policy{Default: reconcile.FolderPolicy{Deletion: reconcile.Trash}, MaxDeletes: reconcile.DefaultMaxDeletes}
	propagate := reconcile.Policy{Default: reconcile.FolderPolicy{Deletion: reconcile.Propagate}, MaxDeletes: reconcile.DefaultMaxDeletes}
	keep := reconcile.Policy{Default: reconcile.FolderPolicy{Deletion: reconcile.Keep}, MaxDeletes: reconcile.DefaultMaxDeletes}
	copyLine := `ok b copy "INBOX" "INBOX" 0 "INBOX" 5 "" 7 "\\Seen" "" m:05 "new" ""` + "\n"
	for _, tt := range []struct {
		name       string
		journal    string
		live       string
		policy     reconcile.Policy
		plan       string
		impossible []string
	}{
		{"copy, trash policy: to the trash", copyLine, "b INBOX 7=m:05\nb Trash\ntrash b Trash", trash,
			`  > b:"INBOX" uid 7 -> "Trash" m:05 (undo copy)`, nil},
		{"copy, propagate policy: expunged", copyLine, "b INBOX 7=m:05", propagate,
			`  - b:"INBOX" uid 7 expunge m:05 (undo copy)`, nil},
		{"copy, keep policy: stays", copyLine, "b INBOX 7=m:05", keep, "",
			[]string{`cannot undo + b:"INBOX" <- a:"INBOX" uid 5 flags \Seen m:05 (new) => uid 7: the folder's deletion policy is keep: the copy stays`}},
		{"copy, trash policy, no trash folder", copyLine, "b INBOX 7=m:05", trash, "",
			[]string{`cannot undo + b:"INBOX" <- a:"INBOX" uid 5 flags \Seen m:05 (new) => uid 7: the deletion policy is trash and b has no trash folder`}},
		{"copy gone since", copyLine, "b INBOX 8=m:05", propagate, "",
			[]string{`cannot undo + b:"INBOX" <- a:"INBOX" uid 5 flags \Seen m:05 (new) => uid 7: uid 7 is no longer in b:"INBOX"`}},
		{"copy's uid holds another message", copyLine, "b INBOX 7=m:99", propagate, "",
			[]string{`cannot undo + b:"INBOX" <- a:"INBOX" uid 5 flags \Seen m:05 (new) => uid 7: uid 7 of b:"INBOX" is another message now`}},
		{"move and trash move: back",
			`ok b move "INBOX" "INBOX" 1 "" 0 "Archive" 2 "" "" m:01 "moved on other side" ""` + "\n" +
				`ok b move "INBOX" "INBOX" 3 "" 0 "Trash" 1 "" "" m:03 "trash" ""` + "\n",
			"b INBOX\nb Archive 2=m:01\nb Trash 1=m:03", trash,
			`  > b:"Archive" uid 2 -> "INBOX" m:01 (undo move)` + "\n" + `  > b:"Trash" uid 1 -> "INBOX" m:03 (undo move)`, nil},
		{"move whose new uid is unknown",
			`ok b move "INBOX" "INBOX" 1 "" 0 "Archive" 0 "" "" m:01 "moved on other side" ""` + "\n",
			"b INBOX\nb Archive 2=m:01", trash, "",
			[]string{`cannot undo > b:"INBOX" uid 1 -> "Archive" m:01 (moved on other side): the server did not say which uid the moved message got`}},
		{"flags, then moved in the same run: undone where it is now",
			`ok a store "INBOX" "INBOX" 4 "" 0 "" 0 "\\Flagged" "\\Seen" m:04 "flags changed" ""` + "\n" +
				`ok a move "INBOX" "INBOX" 4 "" 0 "Work" 9 "" "" m:04 "moved on other side" ""` + "\n",
			"a INBOX\na Work 9=m:04", trash,
			`  ~ a:"Work" uid 9 +\Seen -\Flagged m:04 (undo flag change)` + "\n" + `  > a:"Work" uid 9 -> "INBOX" m:04 (undo move)`, nil},
		{"expunge and folder deletion cannot be undone",
			`ok a expunge "INBOX" "INBOX" 4 "" 0 "" 0 "" "" m:04 "deleted on other side" ""` + "\n" +
				`ok a delete-folder "Old" "Old" 0 "" 0 "" 0 "" "" - "folder deleted on other side" ""` + "\n",
			"a INBOX", trash, "",
			[]string{`cannot undo - a:"INBOX" uid 4 expunge m:04 (deleted on other side): the message was expunged`,
				`cannot undo - a:"Old" delete folder (folder deleted on other side): the folder was deleted`}},
		{"failed and not-run actions are skipped",
			`failed b copy "INBOX" "INBOX" 0 "INBOX" 5 "" 0 "" "" m:05 "new" "boom"` + "\n" +
				`not-run b store "INBOX" "INBOX" 2 "" 0 "" 0 "\\Seen" "" m:02 "flags changed" ""` + "\n",
			"b INBOX 2=m:02", trash, "", nil},
		{"rename: back",
			`ok b rename-folder "Projects" "Work" 0 "" 0 "Projects" 0 "" "" - "renamed on other side" ""` + "\n",
			"b Projects", trash, `  > b:"Projects" rename folder -> "Work" (undo folder rename)`, nil},
		{"rename and a move into the renamed folder: renamed back, then moved back by the old name",
			`ok b rename-folder "Projects" "Work" 0 "" 0 "Projects" 0 "" "" - "renamed on other side" ""` + "\n" +
				`ok b move "INBOX" "INBOX" 1 "" 0 "Projects" 4 "" "" m:01 "moved on other side" ""` + "\n" +
				`ok b move "Projects/2024" "Projects/2024" 2 "" 0 "INBOX" 9 "" "" m:02 "moved on other side" ""` + "\n",
			"b Projects 4=m:01\nb INBOX 9=m:02\nb Projects/2024", trash,
			`  > b:"Projects" rename folder -> "Work" (undo folder rename)` + "\n" +
				`  > b:"INBOX" uid 9 -> "Work/2024" m:02 (undo move)` + "\n" +
				`  > b:"Work" uid 4 -> "INBOX" m:01 (undo move)`, nil},
		{"created folder: deleted once empty, else listed",
			`ok b create-folder "New" "New" 0 "" 0 "" 0 "" "" - "new folder" ""` + "\n" +
				`ok b create-folder "Full" "Full" 0 "" 0 "" 0 "" "" - "new folder" ""` + "\n" +
				`ok b copy "New" "New" 0 "New" 1 "" 1 "" "" m:11 "new" ""` + "\n",
			"b New 1=m:11\nb Full 1=m:12", propagate,
			`  - b:"New" uid 1 expunge m:11 (undo copy)` + "\n" + `  - b:"New" delete folder (undo folder creation)`,
			[]string{`cannot undo + b:"Full" create folder (new folder): b:"Full" would still hold 1 message(s)`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j, err := reconcile.ParseJournal("j", []byte(journalHead+tt.journal))
			if err != nil {
				t.Fatal(err)
			}
			rp, err := reconcile.BuildRevert("p", j, liveOf(t, tt.live), reconcile.State{}, tt.policy)
			if err != nil && !errors.Is(err, reconcile.ErrTooManyDeletes) {
				t.Fatal(err)
			}
			got := strings.TrimRight(rp.Plan.String(), "\n")
			_, acts, _ := strings.Cut(got, "\n")
			if acts != tt.plan {
				t.Errorf("BuildRevert plan =\n%s\nwant\n%s", acts, tt.plan)
			}
			if !reflect.DeepEqual(rp.Impossible, tt.impossible) {
				t.Errorf("BuildRevert impossible =\n%q\nwant\n%q", rp.Impossible, tt.impossible)
			}
		})
	}
}

// TestBuildRevertGuard: a revert deleting more than max_deletes allows
// is refused unless forced, as a sync is.
func TestBuildRevertGuard(t *testing.T) {
	var b strings.Builder
	var live strings.Builder
	live.WriteString("b INBOX")
	for i := 1; i <= 3; i++ {
		b.WriteString(`ok b copy "INBOX" "INBOX" 0 "INBOX" ` + strconv.Itoa(i) + ` "" ` + strconv.Itoa(10+i) + ` "" "" m:0` + strconv.Itoa(i) + ` "new" ""` + "\n")
		live.WriteString(" " + strconv.Itoa(10+i) + "=m:0" + strconv.Itoa(i))
	}
	j, err := reconcile.ParseJournal("j", []byte(journalHead+b.String()))
	if err != nil {
		t.Fatal(err)
	}
	head := reconcile.State{Folders: []reconcile.FolderState{{Name: "INBOX", Records: []reconcile.Record{
		{UIDA: 1, UIDB: 11}, {UIDA: 2, UIDB: 12}, {UIDA: 3, UIDB: 13}, {UIDA: 4, UIDB: 14}}}}}
	p := reconcile.Policy{MaxDeletes: reconcile.Limit{Count: 2}}
	rp, err := reconcile.BuildRevert("p", j, liveOf(t, live.String()), head, p)
	if !errors.Is(err, reconcile.ErrTooManyDeletes) || rp == nil || len(rp.Plan.Actions) != 3 {
		t.Fatalf("BuildRevert over max_deletes = %v, %v; want the plan and ErrTooManyDeletes", rp, err)
	}
	p.Force = true
	if _, err := reconcile.BuildRevert("p", j, liveOf(t, live.String()), head, p); err != nil {
		t.Errorf("BuildRevert forced = %v", err)
	}
}

// TestRevertState: the state before the run, with moved-back messages
// at their new UIDs, those whose move back failed dropped, and no scan
// points.
func TestRevertState(t *testing.T) {
	j, err := reconcile.ParseJournal("j", []byte(journalHead+
		`ok b move "INBOX" "INBOX" 1 "" 0 "Archive" 2 "" "" m:01 "moved on other side" ""`+"\n"+
		`ok b move "INBOX" "INBOX" 3 "" 0 "Trash" 1 "" "" m:03 "trash" ""`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	live := liveOf(t, "b INBOX\nb Archive 2=m:01\nb Trash 1=m:03")
	rp, err := reconcile.BuildRevert("p", j, live, reconcile.State{}, reconcile.Policy{MaxDeletes: reconcile.DefaultMaxDeletes})
	if err != nil {
		t.Fatal(err)
	}
	side := reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1, UIDNext: 4, HighestModSeq: 9}
	base := reconcile.State{Folders: []reconcile.FolderState{{Name: "INBOX", A: side, B: side, Records: []reconcile.Record{
		{UIDA: 1, UIDB: 1, ID: "m:01"}, {UIDA: 2, UIDB: 2, ID: "m:02"}, {UIDA: 3, UIDB: 3, ID: "m:03"}}}}}
	// The move back from Archive got uid 8; the one from Trash failed.
	got := reconcile.RevertState(base, j, rp, []reconcile.Outcome{{UID: 8}, {Err: errors.New("no")}})
	side.HighestModSeq = 0
	want := reconcile.State{Folders: []reconcile.FolderState{{Name: "INBOX", A: side, B: side, Records: []reconcile.Record{
		{UIDA: 1, UIDB: 8, ID: "m:01"}, {UIDA: 2, UIDB: 2, ID: "m:02"}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RevertState =\n%+v\nwant\n%+v", got, want)
	}
	if base.Folders[0].Records[0].UIDB != 1 || base.Folders[0].B.HighestModSeq != 9 {
		t.Errorf("RevertState changed its base: %+v", base)
	}

	// The state committed before anything is undone has both messages
	// to move back at UnknownUID on b, whatever becomes of the moves,
	// and keeps their records: found by identity where they are then.
	got = reconcile.RevertCheckpoint(base, j, rp)
	want = reconcile.State{Folders: []reconcile.FolderState{{Name: "INBOX", A: side, B: side, Records: []reconcile.Record{
		{UIDA: 1, UIDB: reconcile.UnknownUID, ID: "m:01"}, {UIDA: 2, UIDB: 2, ID: "m:02"}, {UIDA: 3, UIDB: reconcile.UnknownUID, ID: "m:03"}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RevertCheckpoint =\n%+v\nwant\n%+v", got, want)
	}
	if base.Folders[0].Records[0].UIDB != 1 || base.Folders[0].B.HighestModSeq != 9 {
		t.Errorf("RevertCheckpoint changed its base: %+v", base)
	}
}

// TestDiffStates: records added, removed and flag-changed per folder;
// folders added, removed and renamed.
func TestDiffStates(t *testing.T) {
	sd := func(v uint32) reconcile.SideState { return reconcile.SideState{Mailbox: "x", UIDValidity: v} }
	old := reconcile.State{Folders: []reconcile.FolderState{
		{Name: "Gone", A: sd(1), B: sd(1), Records: []reconcile.Record{{UIDA: 1, UIDB: 1}}},
		{Name: "INBOX", A: sd(2), B: sd(2), Records: []reconcile.Record{{UIDA: 1, UIDB: 1}, {UIDA: 2, UIDB: 2, Flags: reconcile.Flags{`\Seen`}}, {UIDA: 3, UIDB: 3}}},
		{Name: "Same", A: sd(3), B: sd(3), Records: []reconcile.Record{{UIDA: 1, UIDB: 1}}},
		{Name: "Work", A: sd(4), B: sd(5), Records: []reconcile.Record{{UIDA: 1, UIDB: 1}}},
	}}
	cur := reconcile.State{Folders: []reconcile.FolderState{
		{Name: "INBOX", A: sd(2), B: sd(2), Records: []reconcile.Record{{UIDA: 1, UIDB: 1}, {UIDA: 2, UIDB: 2}, {UIDA: 4, UIDB: 4}, {UIDA: 5, UIDB: 0}}},
		{Name: "New", A: sd(6), B: sd(6), Records: []reconcile.Record{{UIDA: 1, UIDB: 1}, {UIDA: 2, UIDB: 2}}},
		{Name: "Projects", A: sd(4), B: sd(5), Records: []reconcile.Record{{UIDA: 1, UIDB: 1}}},
		{Name: "Same", A: sd(3), B: sd(3), Records: []reconcile.Record{{UIDA: 1, UIDB: 1}}},
	}}
	want := []reconcile.FolderDiff{
		{Folder: "Gone", Change: "removed", Removed: 1},
		{Folder: "INBOX", Added: 2, Removed: 1, FlagsChanged: 1},
		{Folder: "New", Change: "added", Added: 2},
		{Folder: "Projects", Change: "renamed", RenamedFrom: "Work"},
	}
	if got := reconcile.DiffStates(old, cur); !reflect.DeepEqual(got, want) {
		t.Errorf("DiffStates =\n%+v\nwant\n%+v", got, want)
	}
}
