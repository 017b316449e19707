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

// TestScanPointObservationAdvance: the decision on a folder read after
// the run, one row per way the check can go.
func TestScanPointObservationAdvance(t *testing.T) {
	seen, flagged := reconcile.NewFlags(`\Seen`), reconcile.NewFlags(`\Flagged`)
	// k: the run left messages 1 (\Seen), 2 and 5 (\Flagged, appended
	// by the run) in a folder whose point was UIDNEXT 5, HIGHESTMODSEQ
	// 40.
	k := reconcile.Known{UIDValidity: 7, UIDNext: 5, HighestModSeq: 40, Messages: []reconcile.Message{
		{UID: 1, Flags: seen}, {UID: 2}, {UID: 5, Flags: flagged},
	}}
	ours := func() reconcile.ScanPointObservation {
		return reconcile.ScanPointObservation{
			Usable: true, Since: reconcile.Known{UIDValidity: 7, UIDNext: 5, HighestModSeq: 40},
			UIDValidity: 7, UIDNext: 6, HighestModSeq: 45, NumMessages: 3,
			// the run's STORE on 1, and its APPEND of 5
			Changed: []reconcile.Message{{UID: 1, Flags: seen}, {UID: 5, Flags: flagged}},
		}
	}
	tests := []struct {
		name   string
		change func(o *reconcile.ScanPointObservation, k *reconcile.Known)
		want   bool
	}{
		{"only the run's changes", func(*reconcile.ScanPointObservation, *reconcile.Known) {}, true},
		{"not usable", func(o *reconcile.ScanPointObservation, _ *reconcile.Known) { o.Usable = false }, false},
		{"read from another point", func(o *reconcile.ScanPointObservation, _ *reconcile.Known) { o.Since.HighestModSeq = 41 }, false},
		{"read from no point: every message, all the run's", func(o *reconcile.ScanPointObservation, _ *reconcile.Known) {
			o.Since.HighestModSeq = 0
			o.Changed = []reconcile.Message{{UID: 1, Flags: seen}, {UID: 2}, {UID: 5, Flags: flagged}}
		}, true},
		{"UIDVALIDITY changed", func(o *reconcile.ScanPointObservation, _ *reconcile.Known) { o.UIDValidity = 8 }, false},
		{"no HIGHESTMODSEQ", func(o *reconcile.ScanPointObservation, _ *reconcile.Known) { o.HighestModSeq = 0 }, false},
		{"one message more", func(o *reconcile.ScanPointObservation, _ *reconcile.Known) { o.NumMessages = 4 }, false},
		{"someone else changed a flag", func(o *reconcile.ScanPointObservation, _ *reconcile.Known) {
			o.Changed = append(o.Changed, reconcile.Message{UID: 2, Flags: flagged})
		}, false},
		{"someone else added a message", func(o *reconcile.ScanPointObservation, _ *reconcile.Known) {
			o.Changed = append(o.Changed, reconcile.Message{UID: 6})
		}, false},
		{"the run's message not there", func(o *reconcile.ScanPointObservation, _ *reconcile.Known) { o.Changed = o.Changed[:1] }, false},
		{"k without a point: must hold exactly the folder", func(o *reconcile.ScanPointObservation, k *reconcile.Known) {
			k.HighestModSeq = 0
			o.Since.HighestModSeq = 0
			o.Changed = []reconcile.Message{{UID: 1, Flags: seen}, {UID: 2}, {UID: 5, Flags: flagged}}
		}, true},
		{"k without a point, read from one", func(_ *reconcile.ScanPointObservation, k *reconcile.Known) { k.HighestModSeq = 0 }, false},
		{"k of a folder the run created: takes its UIDVALIDITY", func(o *reconcile.ScanPointObservation, k *reconcile.Known) {
			k.UIDValidity, k.UIDNext, k.HighestModSeq, k.Messages = 0, 0, 0, nil
			o.Since = reconcile.Known{}
			o.NumMessages, o.Changed = 0, nil
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, kk := ours(), k
			kk.Messages = append([]reconcile.Message(nil), k.Messages...)
			tt.change(&o, &kk)
			pt, ok := o.Advance(kk)
			if ok != tt.want {
				t.Fatalf("Advance = %v, want %v", ok, tt.want)
			}
			if ok && (pt.UIDValidity != o.UIDValidity || pt.UIDNext != o.UIDNext || pt.HighestModSeq != o.HighestModSeq || pt.Messages != nil) {
				t.Errorf("Advance point = %+v, want the folder's as read (%d, %d, %d)", pt, o.UIDValidity, o.UIDNext, o.HighestModSeq)
			}
		})
	}
}

// BenchmarkScanPointAdvance is one folder side's check at a run's end
// (advanceScanPointsOn): 500 messages, 10 of them changed by the run
// (5 flag changes, 5 appended), as b3 leaves each of its 20 folders.
func BenchmarkScanPointAdvance(b *testing.B) {
	seen := reconcile.NewFlags(`\Seen`)
	k := reconcile.Known{UIDValidity: 7, UIDNext: 501, HighestModSeq: 900}
	o := reconcile.ScanPointObservation{
		Usable: true, Since: reconcile.Known{UIDValidity: 7, UIDNext: 501, HighestModSeq: 900},
		UIDValidity: 7, UIDNext: 506, HighestModSeq: 910, NumMessages: 500,
	}
	for u := reconcile.UID(6); u <= 505; u++ {
		m := reconcile.Message{UID: u}
		if u%100 == 0 {
			m.Flags = seen
		}
		k.Messages = append(k.Messages, m)
		if u%100 == 0 || u > 500 {
			o.Changed = append(o.Changed, m)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := o.Advance(k); !ok {
			b.Fatal("Advance refused the run's own changes")
		}
	}
}
