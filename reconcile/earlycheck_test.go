package reconcile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// observingStore is a ScanPointAdvancer that records the mailboxes it
// is asked to observe and finds each as the request's point left it.
// Nothing else is called: the embedded Mailstore is nil.
type observingStore struct {
	Mailstore
	mu       sync.Mutex
	observed []string
}

func (o *observingStore) ObserveScanPoints(ctx context.Context, reqs []ScanPointRequest) ([]ScanPointObservation, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	obs := make([]ScanPointObservation, len(reqs))
	for i, r := range reqs {
		o.observed = append(o.observed, r.Mailbox)
		obs[i] = ScanPointObservation{Usable: true, Since: r.Since, UIDValidity: r.Since.UIDValidity, UIDNext: r.Since.UIDNext + 1, HighestModSeq: r.Since.HighestModSeq + 1}
	}
	return obs, nil
}

// TestEarlyChecksOnlyWhatOneLaneChanged: a folder is checked during the
// run only where its lane is all that changed it (not a move's target
// from another folder), every action of the lane succeeded, the folder
// is listed with a HIGHESTMODSEQ under the name the lane uses, and its
// server is near; the check is used only where Next leaves the point it
// was read from.
func TestEarlyChecksOnlyWhatOneLaneChanged(t *testing.T) {
	acts := []Action{
		{Op: Move, Side: B, Mailbox: "X", UID: 1, Dest: "Y"},
		{Op: Copy, Side: B, Mailbox: "Y", SrcMailbox: "Y", SrcUID: 1},
		{Op: Store, Side: B, Mailbox: "Z", UID: 3, Flags: Flags{`\Seen`}},
		{Op: Expunge, Side: B, Mailbox: "New", UID: 4},
		{Op: Store, Side: B, Mailbox: "V", UID: 5, Flags: Flags{`\Seen`}},
		{Op: Store, Side: B, Mailbox: "NoModSeq", UID: 6, Flags: Flags{`\Seen`}},
	}
	listing := &Listing{Folders: []Folder{
		{Mailbox: "NoModSeq", UIDValidity: 1, UIDNext: 10},
		{Mailbox: "V", UIDValidity: 1, UIDNext: 10, HighestModSeq: 5},
		{Mailbox: "X", UIDValidity: 1, UIDNext: 10, HighestModSeq: 5},
		{Mailbox: "Y", UIDValidity: 1, UIDNext: 10, HighestModSeq: 5},
		{Mailbox: "Z", UIDValidity: 2, UIDNext: 20, HighestModSeq: 7},
	}}
	out := make([]Outcome, len(acts))
	out[4].Err = errors.New("refused")
	p := &Plan{Actions: acts, lists: [2]*Listing{{}, listing}}

	for _, near := range []bool{true, false} {
		b := &observingStore{}
		pl := newPool([2]Mailstore{nil, b}, [2]int{1, 1})
		pl.near[B] = near
		e := newEarlyChecks(p, pl)
		if !near {
			if e != nil {
				t.Errorf("far b: early checks made")
			}
			continue
		}
		stores := [2]Mailstore{nil, b}
		for _, lane := range lanesOf(acts, batches(acts)) {
			e.observe(context.Background(), lane, out, stores)
		}
		e.wait()
		slices.Sort(b.observed)
		if want := []string{"X", "Z"}; !slices.Equal(b.observed, want) {
			t.Errorf("observed %q, want %q", b.observed, want)
		}
		if o, ok := e.take(B, "Z", Known{UIDValidity: 2, UIDNext: 20, HighestModSeq: 7}); !ok || o.HighestModSeq != 8 {
			t.Errorf("take Z at the listed point = %+v, %v; want the observation", o, ok)
		}
		if _, ok := e.take(B, "Z", Known{}); ok {
			t.Errorf("take Z with no point (Next cleared it): observation used")
		}
		if _, ok := e.take(A, "Z", Known{UIDValidity: 2, UIDNext: 20, HighestModSeq: 7}); ok {
			t.Errorf("take Z on a: b's observation used")
		}
	}
}

// expectingStore is an observingStore that records the checks announced
// to it (CheckAheadAdvancer).
type expectingStore struct {
	observingStore
	expected []ScanPointRequest
}

func (o *expectingStore) ExpectCheck(r ScanPointRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.expected = append(o.expected, r)
}

// TestEarlyChecksAnnounced: before a lane's changes, the check of its
// folder is announced to the store where the check during the run may
// follow them: the lane is all that changes the folder, which is listed
// with a HIGHESTMODSEQ, on a near server; the point announced is the
// listing's, the one the check reads from. Nothing is announced where
// another lane's move lands in the folder, the folder is not listed, or
// the listing has no HIGHESTMODSEQ.
func TestEarlyChecksAnnounced(t *testing.T) {
	acts := []Action{
		{Op: Move, Side: B, Mailbox: "X", UID: 1, Dest: "Y"},
		{Op: Store, Side: B, Mailbox: "Y", UID: 2, Flags: Flags{`\Seen`}},
		{Op: Store, Side: B, Mailbox: "Z", UID: 3, Flags: Flags{`\Seen`}},
		{Op: Expunge, Side: B, Mailbox: "New", UID: 4},
		{Op: Store, Side: B, Mailbox: "NoModSeq", UID: 6, Flags: Flags{`\Seen`}},
	}
	listing := &Listing{Folders: []Folder{
		{Mailbox: "NoModSeq", UIDValidity: 1, UIDNext: 10},
		{Mailbox: "X", UIDValidity: 1, UIDNext: 10, HighestModSeq: 5},
		{Mailbox: "Y", UIDValidity: 1, UIDNext: 10, HighestModSeq: 5},
		{Mailbox: "Z", UIDValidity: 2, UIDNext: 20, HighestModSeq: 7},
	}}
	p := &Plan{Actions: acts, lists: [2]*Listing{{}, listing}}
	b := &expectingStore{}
	pl := newPool([2]Mailstore{nil, b}, [2]int{1, 1})
	pl.near[B] = true
	e := newEarlyChecks(p, pl)
	for _, lane := range lanesOf(acts, batches(acts)) {
		e.expect(lane, [2]Mailstore{nil, b})
	}
	want := []ScanPointRequest{
		{Mailbox: "X", Since: Known{UIDValidity: 1, UIDNext: 10, HighestModSeq: 5}},
		{Mailbox: "Z", Since: Known{UIDValidity: 2, UIDNext: 20, HighestModSeq: 7}},
	}
	slices.SortFunc(b.expected, func(x, y ScanPointRequest) int { return strings.Compare(x.Mailbox, y.Mailbox) })
	if !slices.EqualFunc(b.expected, want, func(x, y ScanPointRequest) bool {
		return x.Mailbox == y.Mailbox && x.Since.UIDValidity == y.Since.UIDValidity && x.Since.UIDNext == y.Since.UIDNext && x.Since.HighestModSeq == y.Since.HighestModSeq
	}) {
		t.Errorf("announced %+v, want %+v", b.expected, want)
	}
}
