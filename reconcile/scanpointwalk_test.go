package reconcile_test

import (
	"math/rand/v2"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// TestScanPointWalkSameAsMaps holds scanPointHolds' walk beside the
// sorted records to the map version it replaced, on random small
// folders: records in any order (duplicate UIDs too), listings sorted
// by UID, flags, removed and stored messages and UIDNEXT at random.
func TestScanPointWalkSameAsMaps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	flags := []reconcile.Flags{nil, reconcile.NewFlags(`\Seen`)}
	holds := 0
	for c := range 20000 {
		const maxUID = 10
		f := reconcile.FolderState{Name: "F", A: reconcile.SideState{Mailbox: "F", UIDValidity: 5}, B: reconcile.SideState{Mailbox: "F", UIDValidity: 5}}
		for range r.IntN(8) {
			rec := reconcile.Record{UIDA: reconcile.UID(r.IntN(maxUID)), UIDB: reconcile.UID(r.IntN(maxUID)), Flags: flags[r.IntN(2)], ID: "m:x"}
			if r.IntN(4) > 0 && len(f.Records) > 0 { // mostly in order, as states are
				last := f.Records[len(f.Records)-1]
				rec.UIDA, rec.UIDB = last.UIDA+reconcile.UID(r.IntN(2)), last.UIDB+reconcile.UID(r.IntN(3))
			}
			f.Records = append(f.Records, rec)
		}
		l := reconcile.Folder{Mailbox: "F", UIDValidity: 5, UIDNext: reconcile.UID(1 + r.IntN(maxUID+2)), HighestModSeq: 9}
		removed, stored := map[reconcile.UID]bool{}, map[reconcile.UID]bool{}
		for u := reconcile.UID(1); u < maxUID; u++ {
			if r.IntN(2) == 0 {
				l.Messages = append(l.Messages, reconcile.Message{UID: u, Flags: flags[r.IntN(2)]})
			}
			if r.IntN(8) == 0 {
				removed[u] = true
			}
			if r.IntN(8) == 0 {
				stored[u] = true
			}
		}
		for _, s := range []reconcile.Side{reconcile.A, reconcile.B} {
			walk, byMaps := reconcile.ScanPointHoldsBoth(f, s, l, removed, stored)
			if walk != byMaps {
				t.Fatalf("case %d side %s: walk says %v, maps %v\nrecords %v\nlisting %+v\nremoved %v stored %v", c, s, walk, byMaps, f.Records, l, removed, stored)
			}
			if walk {
				holds++
			}
		}
	}
	if holds == 0 {
		t.Fatal("no case where the scan point holds: the test tests nothing")
	}
	t.Logf("%d of 40000 hold", holds)
}
