package reconcile_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// checkParseBoth fails when the fast state file parser accepts what the
// line-by-line one rejects, or reads it otherwise; and when it gives up
// on a file the other accepts whose records are all well-formed
// (wantFast), since then it is not fast.
func checkParseBoth(t *testing.T, data []byte, wantFast bool) {
	t.Helper()
	fast, ok, slow, err := reconcile.ParseFolderBoth(data)
	switch {
	case ok && err != nil:
		t.Fatalf("fast parser accepted what the full one rejects (%v):\n%q", err, data)
	case ok && !reflect.DeepEqual(fast, slow) && !reflect.DeepEqual(normFolder(fast), normFolder(slow)):
		t.Fatalf("fast parser read\n%+v\nfull one\n%+v\nfrom %q", fast, slow, data)
	case !ok && err == nil && wantFast:
		t.Fatalf("fast parser gave up on a good file:\n%q", data)
	}
}

// TestParseFolderFastSameAsFull holds the fast parser to the full one on
// good state files and on random corruptions of them: byte changes,
// lines swapped, doubled or cut.
func TestParseFolderFastSameAsFull(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	flags := []reconcile.Flags{nil, reconcile.NewFlags(`\Seen`), reconcile.NewFlags(`\Seen`, `\Answered`, "$label")}
	alphabet := []byte("0123456789-~> ,:\\\n$SAsmh\x00\r")
	accepted := 0
	for c := range 3000 {
		f := reconcile.FolderState{Name: fmt.Sprintf("F%d", c), A: reconcile.SideState{Mailbox: "F", UIDValidity: 3, UIDNext: 40, HighestModSeq: 7}}
		if c%2 == 0 {
			f.B = reconcile.SideState{Mailbox: "G", UIDValidity: 4, UIDNext: 50}
		}
		if c%3 == 0 {
			f.Direction = reconcile.Direction(1 + c%2) // a-to-b or b-to-a: the v2 header and its direction line
		}
		left := false
		for i := range r.IntN(12) {
			rec := reconcile.Record{UIDA: reconcile.UID(i + 1), UIDB: reconcile.UID(r.IntN(30) + 1), Flags: flags[r.IntN(3)], ID: reconcile.Identity(fmt.Sprintf("m:%x", r.Uint32()))}
			if r.IntN(5) == 0 {
				rec.UIDA = 0
			}
			if r.IntN(5) == 0 && rec.UIDA != 0 {
				rec.UIDB = 0
			}
			if rec.UIDA == 0 || rec.UIDB == 0 {
				rec.Away = r.IntN(2) == 0
			}
			if rec.UIDA != 0 && rec.UIDB != 0 && r.IntN(8) == 0 {
				rec.UIDB, left = reconcile.UnknownUID, true // the fast parser leaves "?" to the full one
			}
			f.Records = append(f.Records, rec)
		}
		data := reconcile.FormatFolder(f)
		checkParseBoth(t, data, !left)
		for range 5 {
			bad := append([]byte(nil), data...)
			for range 1 + r.IntN(3) {
				switch k := r.IntN(len(bad)); r.IntN(3) {
				case 0:
					bad[k] = alphabet[r.IntN(len(alphabet))]
				case 1:
					bad = append(bad[:k:k], bad[k+1:]...)
				default:
					bad = append(bad[:k:k], append([]byte{alphabet[r.IntN(len(alphabet))]}, bad[k:]...)...)
				}
				if len(bad) == 0 {
					break
				}
			}
			checkParseBoth(t, bad, false)
			if _, ok, _, _ := reconcile.ParseFolderBoth(bad); ok {
				accepted++
			}
		}
	}
	if accepted == 0 {
		t.Fatal("the fast parser accepted no corrupted file: the corruptions test nothing")
	}
}
