package reconcile_test

import (
	"errors"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// scanPointListing is INBOX on both sides, as a CONDSTORE server lists it
// after a scan: A with messages 1 and 2, B empty.
func scanPointListing() (a, b reconcile.Listing) {
	a = reconcile.Listing{Delim: '/', Folders: []reconcile.Folder{{
		Mailbox: "INBOX", UIDValidity: 7, UIDNext: 3, HighestModSeq: 10, NumMessages: 2,
		Messages: []reconcile.Message{
			{UID: 1, Flags: reconcile.NewFlags(`\Seen`), ID: "x:1"},
			{UID: 2, ID: "x:2"},
		},
	}}}
	b = reconcile.Listing{Delim: '/', Folders: []reconcile.Folder{{
		Mailbox: "INBOX", UIDValidity: 9, UIDNext: 1, HighestModSeq: 5, NumMessages: 0, Messages: []reconcile.Message{},
	}}}
	return a, b
}

func inbox(t *testing.T, st reconcile.State) reconcile.FolderState {
	t.Helper()
	for _, f := range st.Folders {
		if f.Name == "INBOX" {
			return f
		}
	}
	t.Fatalf("no INBOX in %+v", st)
	return reconcile.FolderState{}
}

// TestScanPoints: Next records a side's listing as the next run's scan
// point (HighestModSeq, UIDNext as listed) only where the records then
// hold every message listed there with its flags. A failed copy leaves
// neither side a scan point: the target's folder had a failed action,
// and the source's message has no record. A folder listed but not
// scanned has none either.
func TestScanPoints(t *testing.T) {
	pol := reconcile.Policy{Default: reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}, MaxDeletes: reconcile.DefaultMaxDeletes}
	copies := func(p *reconcile.Plan, fail int) []reconcile.Outcome {
		out := make([]reconcile.Outcome, len(p.Actions))
		for i, a := range p.Actions {
			if a.Op != reconcile.Copy {
				t.Fatalf("unexpected action %v", a)
			}
			out[i] = reconcile.Outcome{UID: reconcile.UID(i + 1), UIDValidity: 9}
			if i == fail {
				out[i] = reconcile.Outcome{Err: errors.New("NO [OVERQUOTA]")}
			}
		}
		return out
	}

	a, b := scanPointListing()
	p, err := reconcile.Build("p", reconcile.State{}, a, b, pol)
	if err != nil || len(p.Actions) != 2 {
		t.Fatalf("Build = %v, %v; want two copies", p, err)
	}
	f := inbox(t, reconcile.Next(p, copies(p, -1)))
	if f.A.HighestModSeq != 10 || f.A.UIDNext != 3 || f.B.HighestModSeq != 5 || f.B.UIDNext != 1 {
		t.Errorf("all done: scan points a %d/%d, b %d/%d; want a 10/3 and b 5/1 (as listed, below the copies' UIDs)",
			f.A.HighestModSeq, f.A.UIDNext, f.B.HighestModSeq, f.B.UIDNext)
	}

	a, b = scanPointListing()
	p, _ = reconcile.Build("p", reconcile.State{}, a, b, pol)
	f = inbox(t, reconcile.Next(p, copies(p, 1)))
	if f.A.HighestModSeq != 0 || f.B.HighestModSeq != 0 {
		t.Errorf("one copy failed: scan points a %d, b %d; want none", f.A.HighestModSeq, f.B.HighestModSeq)
	}

	a, b = scanPointListing()
	a.Folders[0].Messages = nil // listed, never scanned
	p, _ = reconcile.Build("p", reconcile.State{}, a, b, pol)
	f = inbox(t, reconcile.Next(p, nil))
	if f.A.HighestModSeq != 0 {
		t.Errorf("a not scanned: scan point %d; want none", f.A.HighestModSeq)
	}

	// Flags listed that the record does not hold, with no STORE to make
	// them so: no point (the next run would read the record's flags).
	a, b = scanPointListing()
	base := reconcile.State{Folders: []reconcile.FolderState{{
		Name: "INBOX",
		A:    reconcile.SideState{Mailbox: "INBOX", UIDValidity: 7, UIDNext: 3, HighestModSeq: 8},
		B:    reconcile.SideState{Mailbox: "INBOX", UIDValidity: 9, UIDNext: 3, HighestModSeq: 4},
		Records: []reconcile.Record{
			{UIDA: 1, UIDB: 1, Flags: reconcile.NewFlags(`\Seen`), ID: "x:1"},
			{UIDA: 2, UIDB: 2, ID: "x:2"},
		},
	}}}
	b.Folders[0] = reconcile.Folder{Mailbox: "INBOX", UIDValidity: 9, UIDNext: 3, HighestModSeq: 6, NumMessages: 2, Messages: []reconcile.Message{
		{UID: 1, Flags: reconcile.NewFlags(`\Seen`), ID: "x:1"},
		{UID: 2, Flags: reconcile.NewFlags(`\Flagged`), ID: "x:2"},
	}}
	p, _ = reconcile.Build("p", base, a, b, pol)
	out := make([]reconcile.Outcome, len(p.Actions)) // the STORE on a succeeds
	f = inbox(t, reconcile.Next(p, out))
	if f.A.HighestModSeq != 10 || f.B.HighestModSeq != 6 {
		t.Errorf("flag change on b carried to a: scan points a %d, b %d; want 10 and 6", f.A.HighestModSeq, f.B.HighestModSeq)
	}
	out[0].Err = errors.New("NO")
	f = inbox(t, reconcile.Next(p, out))
	if f.A.HighestModSeq != 0 {
		t.Errorf("the STORE on a failed: scan point a %d; want none", f.A.HighestModSeq)
	}
}
