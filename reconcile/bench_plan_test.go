package reconcile_test

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// The hot pure parts of a run at the scale of issue #5: 200 folders of
// 500 messages (100,000 messages) per side. Run with
//
//	go test ./reconcile -run '^$' -bench . -benchmem
//
// The fixtures are built once per benchmark, outside the timer.

const (
	benchFolders    = 200
	benchPerFolder  = 500
	benchUIDOffsetB = 1_000_000 // B's UIDs differ from A's, as after a first sync
)

// benchAccounts returns the agreed state of 100,000 messages and the
// listings of both sides that match it exactly (a no-op run).
func benchAccounts() (reconcile.State, reconcile.Listing, reconcile.Listing) {
	var st reconcile.State
	a := reconcile.Listing{Delim: '/'}
	b := reconcile.Listing{Delim: '/'}
	flags := []reconcile.Flags{reconcile.NewFlags(`\Seen`), reconcile.NewFlags(`\Seen`, `\Answered`), nil, reconcile.NewFlags(`\Flagged`, `\Seen`)}
	for f := range benchFolders {
		name := fmt.Sprintf("Archive/%03d", f)
		if f == 0 {
			name = "INBOX"
		}
		fs := reconcile.FolderState{
			Name: name,
			A:    reconcile.SideState{Mailbox: name, UIDValidity: 1000 + uint32(f), UIDNext: benchPerFolder + 1, HighestModSeq: benchPerFolder + 1},
			B:    reconcile.SideState{Mailbox: name, UIDValidity: 2000 + uint32(f), UIDNext: benchUIDOffsetB + benchPerFolder + 1, HighestModSeq: benchPerFolder + 1},
		}
		fa := reconcile.Folder{Mailbox: name, UIDValidity: fs.A.UIDValidity, UIDNext: fs.A.UIDNext, HighestModSeq: fs.A.HighestModSeq}
		fb := reconcile.Folder{Mailbox: name, UIDValidity: fs.B.UIDValidity, UIDNext: fs.B.UIDNext, HighestModSeq: fs.B.HighestModSeq}
		for i := range benchPerFolder {
			uid := reconcile.UID(i + 1)
			size := int64(2048 + (f*benchPerFolder+i)%18000)
			id := reconcile.IdentityFromMessageID(fmt.Sprintf("<%d.%d@bench.example>", f, i), size)
			fl := flags[(f+i)%len(flags)]
			fs.Records = append(fs.Records, reconcile.Record{UIDA: uid, UIDB: benchUIDOffsetB + uid, Flags: fl, ID: id})
			fa.Messages = append(fa.Messages, reconcile.Message{UID: uid, Flags: fl, ID: id, Size: size})
			fb.Messages = append(fb.Messages, reconcile.Message{UID: benchUIDOffsetB + uid, Flags: fl, ID: id, Size: size})
		}
		st.Folders = append(st.Folders, fs)
		a.Folders = append(a.Folders, fa)
		b.Folders = append(b.Folders, fb)
	}
	sortListing(&a)
	sortListing(&b)
	sortState(&st)
	return st, a, b
}

func sortListing(l *reconcile.Listing) {
	for i := 1; i < len(l.Folders); i++ {
		for j := i; j > 0 && l.Folders[j].Mailbox < l.Folders[j-1].Mailbox; j-- {
			l.Folders[j], l.Folders[j-1] = l.Folders[j-1], l.Folders[j]
		}
	}
}

func sortState(s *reconcile.State) {
	for i := 1; i < len(s.Folders); i++ {
		for j := i; j > 0 && s.Folders[j].Name < s.Folders[j-1].Name; j-- {
			s.Folders[j], s.Folders[j-1] = s.Folders[j-1], s.Folders[j]
		}
	}
}

// changeA makes b3's and b4's changes on A's listing: every hundredth
// message has a flag toggled, every hundredth (another one) is gone,
// every hundredth (a third) moved to the next folder, and one new
// message per hundred arrives.
func changeA(a reconcile.Listing) reconcile.Listing {
	out := reconcile.Listing{Delim: a.Delim, Folders: make([]reconcile.Folder, len(a.Folders))}
	for fi, f := range a.Folders {
		out.Folders[fi] = f
		out.Folders[fi].Messages = nil
	}
	for fi, f := range a.Folders {
		for i, m := range f.Messages {
			switch i % 100 {
			case 10: // flag change
				if m.Flags.Has(`\Seen`) {
					m.Flags = reconcile.NewFlags()
				} else {
					m.Flags = reconcile.NewFlags(`\Seen`)
				}
			case 20: // expunged
				continue
			case 30: // moved to the next folder
				to := &out.Folders[(fi+1)%len(out.Folders)]
				m.UID = to.UIDNext
				to.UIDNext++
				to.Messages = append(to.Messages, m)
				continue
			}
			out.Folders[fi].Messages = append(out.Folders[fi].Messages, m)
		}
	}
	for fi := range out.Folders {
		to := &out.Folders[fi]
		for k := range benchPerFolder / 100 {
			size := int64(3000 + k)
			to.Messages = append(to.Messages, reconcile.Message{UID: to.UIDNext, ID: reconcile.IdentityFromMessageID(fmt.Sprintf("<new.%d.%d@bench.example>", fi, k), size), Size: size})
			to.UIDNext++
		}
		to.HighestModSeq += 100
		slices.SortFunc(to.Messages, func(x, y reconcile.Message) int { return cmp.Compare(x.UID, y.UID) })
	}
	return out
}

func benchPolicy() reconcile.Policy {
	limit, err := reconcile.ParseLimit("50%")
	if err != nil {
		panic(err)
	}
	return reconcile.Policy{Default: reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}, MaxDeletes: limit}
}

// BenchmarkBuild plans a pair of 100,000 messages per side: with
// nothing changed (b2), after 1% flag changes, expunges, moves and new
// messages on A (b3 and b4), and a first sync into an empty B (b1).
func BenchmarkBuild(b *testing.B) {
	st, la, lb := benchAccounts()
	empty := reconcile.Listing{Delim: '/'}
	for _, c := range []struct {
		name     string
		base     reconcile.State
		a, b     reconcile.Listing
		nActions int // -1: any
	}{
		{"noop", st, la, lb, 0},
		{"changed", st, changeA(la), lb, -1},
		{"initial", reconcile.State{}, la, empty, -1},
		// One folder of b refuses flags: maskRefused's cost, on every
		// run of such a pair, should stay with that folder's messages.
		{"changed-one-folder-refuses", refusingFirstOnB(st), changeA(la), lb, -1},
		// b's server refused a keyword outright in one folder, which
		// is read as refused in all of b's folders (refusedOutright).
		{"changed-keyword-refused-outright", refusingOutrightOnB(st), changeA(la), lb, -1},
	} {
		b.Run(fmt.Sprintf("%s/messages=%d", c.name, benchFolders*benchPerFolder), func(b *testing.B) {
			pol := benchPolicy()
			b.ReportAllocs()
			var p *reconcile.Plan
			for b.Loop() {
				var err error
				p, err = reconcile.Build("bench", c.base, c.a, c.b, pol)
				if err != nil {
					b.Fatal(err)
				}
			}
			if c.nActions >= 0 && len(p.Actions) != c.nActions {
				b.Fatalf("Build planned %d actions, want %d", len(p.Actions), c.nActions)
			}
			b.ReportMetric(float64(len(p.Actions)), "actions")
		})
	}
}

// refusingFirstOnB returns st with b's side of its first folder keeping
// \Seen alone (SideState.Permanent); st is not changed.
func refusingFirstOnB(st reconcile.State) reconcile.State {
	st.Folders = slices.Clone(st.Folders)
	st.Folders[0].B.Permanent = reconcile.NewPermanent(`\Seen`)
	return st
}

// BenchmarkBuildSettled plans BenchmarkBuild's no-op as a run that
// found every folder unchanged plans it: the listings without their
// messages, which stand for the state's (buildSettled). Set beside
// BenchmarkBuild/noop, it shows what not copying the state's messages
// into the listings saves.
func BenchmarkBuildSettled(b *testing.B) {
	st, la, lb := benchAccounts()
	var asBase [2]map[string]bool
	for s, l := range []*reconcile.Listing{&la, &lb} {
		asBase[s] = map[string]bool{}
		for i := range l.Folders {
			f := &l.Folders[i]
			f.NumMessages, f.Messages = len(f.Messages), nil
			asBase[s][f.Mailbox] = true
		}
	}
	pol := benchPolicy()
	b.ReportAllocs()
	var p *reconcile.Plan
	for b.Loop() {
		if p = reconcile.BuildSettled("bench", st, la, lb, pol, asBase); p == nil {
			b.Fatal("buildSettled declined the no-op")
		}
	}
	b.ReportMetric(float64(len(p.Actions)), "actions")
}

// BenchmarkNext computes the next state after BenchmarkBuild's no-op
// and changed plans, every action done.
func BenchmarkNext(b *testing.B) {
	st, la, lb := benchAccounts()
	for _, c := range []struct {
		name string
		a    reconcile.Listing
	}{
		{"noop", la},
		{"changed", changeA(la)},
	} {
		b.Run(fmt.Sprintf("%s/messages=%d", c.name, benchFolders*benchPerFolder), func(b *testing.B) {
			p, err := reconcile.Build("bench", st, c.a, lb, benchPolicy())
			if err != nil {
				b.Fatal(err)
			}
			outcomes := make([]reconcile.Outcome, len(p.Actions))
			for i := range outcomes {
				outcomes[i].UID = reconcile.UID(2_000_000 + i)
			}
			b.ReportAllocs()
			for b.Loop() {
				reconcile.Next(p, outcomes)
			}
		})
	}
}

// BenchmarkEncodeState renders the state of 100,000 messages (200
// files), as every run that changed something does before staging.
func BenchmarkEncodeState(b *testing.B) {
	st, _, _ := benchAccounts()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = 0
		for _, data := range reconcile.EncodeState(st) {
			n += len(data)
		}
	}
	b.SetBytes(int64(n))
}

// BenchmarkDecodeState parses the state of 100,000 messages, as every
// run does first.
func BenchmarkDecodeState(b *testing.B) {
	st, _, _ := benchAccounts()
	files := reconcile.EncodeState(st)
	var n int
	for _, data := range files {
		n += len(data)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		got, err := reconcile.DecodeState("bench", files)
		if err != nil {
			b.Fatal(err)
		}
		if len(got.Folders) != benchFolders {
			b.Fatalf("DecodeState gave %d folders, want %d", len(got.Folders), benchFolders)
		}
	}
}

// BenchmarkFormatJournal writes the journal of a first sync of 100,000
// messages, as the run's last step does: its memory (B/op) is about the
// file itself, no entries held beside it (FormatJournalOf), against the
// entries and the file (FormatJournal of NewRunJournal).
func BenchmarkFormatJournal(b *testing.B) {
	_, la, _ := benchAccounts()
	p, err := reconcile.Build("bench", reconcile.State{}, la, reconcile.Listing{Delim: '/'}, benchPolicy())
	if err != nil {
		b.Fatal(err)
	}
	outcomes := make([]reconcile.Outcome, len(p.Actions))
	for i := range outcomes {
		outcomes[i].UID = reconcile.UID(1 + i)
	}
	for _, c := range []struct {
		name   string
		format func() []byte
	}{
		{"of", func() []byte {
			return reconcile.FormatJournalOf(reconcile.RunJournal{Run: "r", Status: reconcile.RunComplete, Conflicts: p.Conflicts}, p, outcomes)
		}},
		{"entries", func() []byte { return reconcile.FormatJournal(reconcile.NewRunJournal("r", p, outcomes)) }},
	} {
		b.Run(fmt.Sprintf("%s/actions=%d", c.name, len(p.Actions)), func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = len(c.format())
			}
			b.SetBytes(int64(n))
		})
	}
}

// refusingOutrightOnB returns st with b's side of its first folder
// refusing a keyword outright (reconcile.Refusing); st is not changed.
func refusingOutrightOnB(st reconcile.State) reconcile.State {
	st.Folders = slices.Clone(st.Folders)
	st.Folders[0].B.Permanent = reconcile.Refusing("$" + strings.Repeat("k", 60))
	return st
}

// resetCase is a folder of n messages whose UIDVALIDITY changed on A (a
// server restored from a backup), a tenth of them flagged there since.
func resetCase(n int) (reconcile.State, reconcile.Listing, reconcile.Listing) {
	var recs []reconcile.Record
	var la, lb []reconcile.Message
	for i := 1; i <= n; i++ {
		id := reconcile.Identity(fmt.Sprintf("id%d", i))
		recs = append(recs, reconcile.Record{UIDA: reconcile.UID(i), UIDB: reconcile.UID(i), Flags: reconcile.Flags{`\Seen`}, ID: id})
		fl := reconcile.Flags{`\Seen`}
		if i%10 == 0 {
			fl = reconcile.Flags{`\Flagged`, `\Seen`}
		}
		la = append(la, reconcile.Message{UID: reconcile.UID(2*n + i), Flags: fl, ID: id})
		lb = append(lb, reconcile.Message{UID: reconcile.UID(i), Flags: reconcile.Flags{`\Seen`}, ID: id})
	}
	base := reconcile.State{Folders: []reconcile.FolderState{{Name: "INBOX", A: reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1}, B: reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1}, Records: recs}}}
	a := reconcile.Listing{Delim: '/', Folders: []reconcile.Folder{{Mailbox: "INBOX", UIDValidity: 2, UIDNext: reconcile.UID(3*n + 1), Messages: la}}}
	b := reconcile.Listing{Delim: '/', Folders: []reconcile.Folder{{Mailbox: "INBOX", UIDValidity: 1, UIDNext: reconcile.UID(n + 1), Messages: lb}}}
	return base, a, b
}

// bulkMoveCase is a move on A of the first moved messages of INBOX (of
// inbox) into Archive (of archive).
func bulkMoveCase(inbox, archive, moved int) (reconcile.State, reconcile.Listing, reconcile.Listing) {
	mk := func(prefix string, n int) ([]reconcile.Record, []reconcile.Message) {
		var recs []reconcile.Record
		var ms []reconcile.Message
		for i := 1; i <= n; i++ {
			id := reconcile.Identity(fmt.Sprintf("%s%d", prefix, i))
			recs = append(recs, reconcile.Record{UIDA: reconcile.UID(i), UIDB: reconcile.UID(i), Flags: reconcile.Flags{`\Seen`}, ID: id})
			ms = append(ms, reconcile.Message{UID: reconcile.UID(i), Flags: reconcile.Flags{`\Seen`}, ID: id})
		}
		return recs, ms
	}
	ri, mi := mk("in", inbox)
	ra, ma := mk("ar", archive)
	base := reconcile.State{Folders: []reconcile.FolderState{
		{Name: "Archive", A: reconcile.SideState{Mailbox: "Archive", UIDValidity: 2}, B: reconcile.SideState{Mailbox: "Archive", UIDValidity: 2}, Records: ra},
		{Name: "INBOX", A: reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1}, B: reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1}, Records: ri},
	}}
	aArch := slices.Clone(ma)
	for i := range moved {
		m := mi[i]
		m.UID = reconcile.UID(archive + 1 + i)
		aArch = append(aArch, m)
	}
	a := reconcile.Listing{Delim: '/', Folders: []reconcile.Folder{
		{Mailbox: "Archive", UIDValidity: 2, UIDNext: reconcile.UID(archive + moved + 1), Messages: aArch},
		{Mailbox: "INBOX", UIDValidity: 1, UIDNext: reconcile.UID(inbox + 1), Messages: mi[moved:]},
	}}
	b := reconcile.Listing{Delim: '/', Folders: []reconcile.Folder{
		{Mailbox: "Archive", UIDValidity: 2, UIDNext: reconcile.UID(archive + 1), Messages: ma},
		{Mailbox: "INBOX", UIDValidity: 1, UIDNext: reconcile.UID(inbox + 1), Messages: mi},
	}}
	return base, a, b
}

// BenchmarkBuildReset plans resetCase(10,000): every record re-pairs by
// identity.
func BenchmarkBuildReset(b *testing.B) {
	base, la, lb := resetCase(10000)
	pol := benchPolicy()
	for b.Loop() {
		if p, err := reconcile.Build("p", base, la, lb, pol); err != nil || p.Counts[reconcile.B].Stores != 1000 {
			b.Fatalf("Build = %v, %v; want 1,000 flag stores on b", p, err)
		}
	}
}

// BenchmarkBuildBulkMove plans a move of 10,000 messages from INBOX
// (20,000) into Archive (50,000) on A: 10,000 moves on B.
func BenchmarkBuildBulkMove(b *testing.B) {
	base, la, lb := bulkMoveCase(20000, 50000, 10000)
	pol := benchPolicy()
	for b.Loop() {
		if p, err := reconcile.Build("p", base, la, lb, pol); err != nil || p.Counts[reconcile.B].Moves != 10000 {
			b.Fatalf("Build = %v, %v; want 10,000 moves on b", p, err)
		}
	}
}
