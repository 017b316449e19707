package reconcile

import (
	"math/rand/v2"
	"testing"
)

// TestUIDIndexFindsWhatAMapWould checks the planner's UID index and
// set against Go maps, on dense folders, folders with UIDs far apart
// (the map fallback), UIDs listed twice, and lookups outside the range.
func TestUIDIndexFindsWhatAMapWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	shapes := []struct {
		name string
		uid  func(i int) UID
	}{
		{"dense", func(i int) UID { return UID(i + 1) }},
		{"holes", func(i int) UID { return UID(1000 + 3*i + rng.IntN(3)) }},
		{"far apart", func(i int) UID { return UID(1 + rng.Uint32N(1<<31)) }},
		{"twice", func(i int) UID { return UID(50 + i/2) }},
		{"one", func(int) UID { return 7 }},
		{"top", func(i int) UID { return UID(4294967295 - i) }},
	}
	for _, sh := range shapes {
		for _, n := range []int{0, 1, 10, 3000} {
			msgs := make([]Message, n)
			want := map[UID]*Message{}
			for i := range msgs {
				msgs[i] = Message{UID: sh.uid(i), Size: int64(i)}
				want[msgs[i].UID] = &msgs[i]
			}
			// The set holds every third UID.
			set := uidSetFor(msgs)
			wantSet := map[UID]bool{}
			for i := 0; i < n; i += 3 {
				set.add(msgs[i].UID)
				wantSet[msgs[i].UID] = true
			}
			x := newUIDIndex(msgs)
			probe := func(u UID) {
				t.Helper()
				if got := x.get(u); got != want[u] {
					t.Fatalf("%s, %d messages: get(%d) = %v, want %v", sh.name, n, u, got, want[u])
				}
				if got := set.has(u); got != wantSet[u] {
					t.Fatalf("%s, %d messages: set.has(%d) = %v, want %v", sh.name, n, u, got, wantSet[u])
				}
			}
			for i := range msgs {
				probe(msgs[i].UID)
				probe(msgs[i].UID + 1)
				probe(msgs[i].UID - 1)
			}
			for _, u := range []UID{0, 1, 2, 4294967295, rng.Uint32()} {
				probe(u)
			}
		}
	}
	var nilIndex *uidIndex
	var nilSet *uidSet
	if nilIndex.get(1) != nil || nilSet.has(1) {
		t.Fatal("a nil index or set is not empty")
	}
}

// TestUIDSetTakesUIDsOutsideItsRange checks that a set sized for one
// range still holds UIDs added outside it (it turns into a map), and
// that the zero set takes UIDs.
func TestUIDSetTakesUIDsOutsideItsRange(t *testing.T) {
	s := newUIDSet(100, 200, 10)
	in := []UID{100, 150, 200, 0, 99, 201, 5000000, 4294967295}
	for _, u := range in {
		s.add(u)
	}
	for _, u := range in {
		if !s.has(u) {
			t.Errorf("set lost %d", u)
		}
	}
	for _, u := range []UID{1, 101, 199, 202, 4999999} {
		if s.has(u) {
			t.Errorf("set has %d, never added", u)
		}
	}
	var z uidSet
	z.add(3)
	if !z.has(3) || z.has(4) {
		t.Error("the zero set does not hold what was added")
	}
	// The records' UIDs on a side include 0 for a record not on it.
	rs := []Record{{UIDA: 10, UIDB: 0}, {UIDA: 12, UIDB: 7}}
	ra, rb := recordUIDSet(rs, A), recordUIDSet(rs, B)
	if !ra.has(10) || !ra.has(12) || ra.has(11) || ra.has(0) || !rb.has(0) || !rb.has(7) || rb.has(10) {
		t.Errorf("recordUIDSet: A has 10 %v 12 %v 11 %v 0 %v; B has 0 %v 7 %v 10 %v",
			ra.has(10), ra.has(12), ra.has(11), ra.has(0), rb.has(0), rb.has(7), rb.has(10))
	}
}
