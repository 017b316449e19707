package reconcile

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestPrefetchCandidates: which new messages a scan reads whole, one row
// per limit.
func TestPrefetchCandidates(t *testing.T) {
	known := map[Identity]bool{"m:moved": true}
	msg := func(uid UID, id Identity, size int64) Message { return Message{UID: uid, ID: id, Size: size} }
	many := make([]Message, prefetchMaxFolder+1)
	for i := range many {
		many[i] = msg(UID(10+i), Identity("m:n"+string(rune('a'+i))), 1000)
	}
	tests := []struct {
		name   string
		msgs   []Message
		from   UID
		budget int64
		want   []UID
	}{
		{"new small mail", []Message{msg(1, "m:old", 500), msg(10, "m:a", 500), msg(11, "", 700)}, 10, prefetchBudget, []UID{10, 11}},
		{"moved in: known identity", []Message{msg(10, "m:moved", 500), msg(11, "m:b", 500)}, 10, prefetchBudget, []UID{11}},
		{"only moves", []Message{msg(10, "m:moved", 500)}, 10, prefetchBudget, nil},
		{"one too large: none", []Message{msg(10, "m:a", 500), msg(11, "m:b", prefetchMaxMessage+1)}, 10, prefetchBudget, nil},
		{"size unknown: none", []Message{msg(10, "m:a", 0)}, 10, prefetchBudget, nil},
		{"too many: none", many, 10, prefetchBudget, nil},
		{"over the budget: none", []Message{msg(10, "m:a", 600), msg(11, "m:b", 600)}, 10, 1000, nil},
		{"no scan point: none", []Message{msg(10, "m:a", 500)}, 0, prefetchBudget, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPrefetched()
			p.budget = tt.budget
			got := p.candidates(&Folder{Mailbox: "X", Messages: tt.msgs}, tt.from, known)
			if !slices.Equal(got, tt.want) {
				t.Errorf("candidates = %v, want %v", got, tt.want)
			}
			var size int64
			for _, m := range tt.msgs {
				if slices.Contains(got, m.UID) {
					size += m.Size
				}
			}
			if p.budget != tt.budget-size {
				t.Errorf("budget left %d, want %d", p.budget, tt.budget-size)
			}
		})
	}
	var nilStore *prefetched
	if got := nilStore.candidates(&Folder{Messages: []Message{msg(10, "m:a", 5)}}, 10, known); got != nil {
		t.Errorf("a nil store's candidates = %v, want none", got)
	}
}

// TestPrefetchFollowsRenames: a body read from a folder the plan renames,
// or from a folder under it, is found under the new name; the other
// side's, and a folder that only shares a prefix, stay where they were.
func TestPrefetchFollowsRenames(t *testing.T) {
	p := newPrefetched()
	body := prefetchedBody{body: []byte("x")}
	for _, k := range []prefetchKey{
		{B, "Projects", 1}, {B, "Projects/Sub", 2}, {B, "ProjectsOld", 3}, {A, "Projects", 4},
	} {
		p.m[k] = body
	}
	p.renamed(&Plan{Actions: []Action{{Op: RenameFolder, Side: B, Mailbox: "Projects", Dest: "Work/2025"}}}, [2]rune{'.', '/'})
	want := []prefetchKey{{B, "Work/2025", 1}, {B, "Work/2025/Sub", 2}, {B, "ProjectsOld", 3}, {A, "Projects", 4}}
	if len(p.m) != len(want) {
		t.Fatalf("after the rename: %v, want %v", p.m, want)
	}
	for _, k := range want {
		if _, ok := p.m[k]; !ok {
			t.Errorf("after the rename: %v has no %v", p.m, k)
		}
	}
}

// TestPrefetchReaderKeepsWholeBodiesOnly: a body is kept only when it
// is as long as the size the server gave, and not too large.
func TestPrefetchReaderKeepsWholeBodiesOnly(t *testing.T) {
	p := newPrefetched()
	fn, keep := p.reader(B, "X")
	give := func(uid UID, size int64, body string) {
		if err := fn(FetchedMessage{UID: uid, Size: size, Body: strings.NewReader(body)}); err != nil {
			t.Fatalf("reader(uid %d) = %v", uid, err)
		}
	}
	big := strings.Repeat("x", prefetchMaxMessage+1)
	give(1, 5, "hello")
	give(2, 6, "hello")           // shorter than its size
	give(3, 4, "hello")           // longer than its size
	give(4, int64(len(big)), big) // too large to read with the scan
	give(5, 0, "")
	give(6, -1, "")
	keep()
	var held []UID
	for k, v := range p.m {
		held = append(held, k.uid)
		if k.uid == 1 && string(v.body) != "hello" {
			t.Errorf("uid 1 kept as %q, want %q", v.body, "hello")
		}
	}
	slices.Sort(held)
	if want := []UID{1, 5}; !slices.Equal(held, want) {
		t.Errorf("kept uids %v, want %v", held, want)
	}
}

// BenchmarkPrefetchReader reads 100 new messages of 2 to 20 KB, as b3's
// scans do.
func BenchmarkPrefetchReader(b *testing.B) {
	bodies := make([][]byte, 100)
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte("x"), 2<<10+i*184)
	}
	b.ReportAllocs()
	for b.Loop() {
		p := newPrefetched()
		fn, keep := p.reader(B, "X")
		for i, body := range bodies {
			fn(FetchedMessage{UID: UID(i + 1), Size: int64(len(body)), Body: bytes.NewReader(body)})
		}
		keep()
	}
}
