package reconcile

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestLanesKeepAMailboxOnOneLane: the batches of a phase that change one
// mailbox on one side go to one lane, in plan order, so that no two
// connections change a mailbox at once; other mailboxes, and the same
// name on the other side, get lanes of their own.
func TestLanesKeepAMailboxOnOneLane(t *testing.T) {
	acts := []Action{
		{Op: Expunge, Side: B, Mailbox: "INBOX", UID: 1},
		{Op: Move, Side: B, Mailbox: "Work", UID: 2, Dest: "INBOX"},
		{Op: Move, Side: B, Mailbox: "INBOX", UID: 3, Dest: "Work"},
		{Op: Expunge, Side: A, Mailbox: "INBOX", UID: 4},
		{Op: Expunge, Side: B, Mailbox: "Work", UID: 5},
	}
	groups := batches(acts)
	lanes := lanesOf(acts, groups)
	var got [][]int
	for _, l := range lanes {
		var idx []int
		for _, g := range l {
			idx = append(idx, g...)
		}
		got = append(got, idx)
	}
	want := [][]int{{0, 2}, {1, 4}, {3}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("lanes = %v, want %v", got, want)
	}
}

// warmStore is a Connector that counts its connections and the calls of
// WarmAppends on them. Connect waits for gate. Only Connect, Close and
// WarmAppends are called: the embedded Mailstore is nil.
type warmStore struct {
	Mailstore
	gate     chan struct{}
	mu       sync.Mutex
	connects int
	warmed   int
}

func (w *warmStore) Connect(ctx context.Context) (Conn, error) {
	<-w.gate
	w.mu.Lock()
	defer w.mu.Unlock()
	w.connects++
	return warmConn{w}, nil
}

func (w *warmStore) WarmAppends(context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warmed++
}

type warmConn struct{ *warmStore }

func (warmConn) Close() error { return nil }

// TestWarmOpensEachConnectionOnce: warm opens the connections of the
// workers it is asked for in the background and gets each ready for
// copies; a worker that asks for its connection while warm is opening
// it waits for that one instead of opening a second, and warm never
// opens more than the pool may hold.
func TestWarmOpensEachConnectionOnce(t *testing.T) {
	ctx := context.Background()
	a := &warmStore{gate: make(chan struct{})}
	b := &warmStore{gate: make(chan struct{})}
	close(b.gate)
	p := newPool([2]Mailstore{a, b}, [2]int{3, 1})
	p.warm(ctx, A, 10, true)
	var wg sync.WaitGroup
	got := make([]Mailstore, 3)
	for w := 1; w < 3; w++ {
		wg.Go(func() { got[w] = p.get(ctx, A, w) })
	}
	close(a.gate)
	wg.Wait()
	p.close()
	if got[1] == nil || got[2] == nil {
		t.Fatalf("get returned no connection: %v", got)
	}
	if a.connects != 2 {
		t.Errorf("side A connected %d times for workers 1 and 2, want 2", a.connects)
	}
	if a.warmed != 3 {
		t.Errorf("WarmAppends called %d times, want 3 (workers 0, 1 and 2)", a.warmed)
	}
	if b.connects != 0 || b.warmed != 0 {
		t.Errorf("side B, not warmed, connected %d times and warmed %d", b.connects, b.warmed)
	}
}

// TestEarlyChangesOnlyOnASideNoCopyReads: the flag changes, moves and
// expunges of a side run with the copies only where no copy reads from
// that side; a side copies read from waits, so that no copy's source is
// moved or expunged under it.
func TestEarlyChangesOnlyOnASideNoCopyReads(t *testing.T) {
	copyTo := func(s Side, mb string) Action {
		return Action{Op: Copy, Side: s, Mailbox: mb, SrcMailbox: mb, SrcUID: 1}
	}
	tests := []struct {
		name        string
		copies      []Action
		stage       []Action
		early, late []int // indexes into stage
	}{
		{"copies a to b: b's changes go early, a's wait",
			[]Action{copyTo(B, "INBOX")},
			[]Action{{Op: Expunge, Side: B, Mailbox: "Work", UID: 5}, {Op: Store, Side: A, Mailbox: "Work", UID: 6}, {Op: Move, Side: B, Mailbox: "INBOX", UID: 7, Dest: "Work"}},
			[]int{0, 2}, []int{1}},
		{"copies b to a: a's changes go early",
			[]Action{copyTo(A, "INBOX")},
			[]Action{{Op: Expunge, Side: B, Mailbox: "INBOX", UID: 5}, {Op: Expunge, Side: A, Mailbox: "Work", UID: 6}},
			[]int{1}, []int{0}},
		{"copies both ways: everything waits",
			[]Action{copyTo(A, "INBOX"), copyTo(B, "Work")},
			[]Action{{Op: Expunge, Side: B, Mailbox: "INBOX", UID: 5}, {Op: Expunge, Side: A, Mailbox: "Work", UID: 6}},
			nil, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts := append(slices.Clone(tt.copies), tt.stage...)
			var copies, stage [][]int
			for i := range tt.copies {
				copies = append(copies, []int{i})
			}
			for i := range tt.stage {
				stage = append(stage, []int{len(tt.copies) + i})
			}
			early, late := earlyOf(acts, copies, stage)
			idx := func(gs [][]int) []int {
				var out []int
				for _, g := range gs {
					out = append(out, g[0]-len(tt.copies))
				}
				return out
			}
			if got := idx(early); !slices.Equal(got, tt.early) {
				t.Errorf("early = %v, want %v", got, tt.early)
			}
			if got := idx(late); !slices.Equal(got, tt.late) {
				t.Errorf("late = %v, want %v", got, tt.late)
			}
		})
	}
}

// TestPoolSizedByTheWork: an incremental run uses two connections per
// side, more only for many folders; a folder read whole (a first sync)
// or a plan with much to copy uses every connection the pool may open.
// TestScanWorkers: the folders to scan on a side get a connection per
// five of them, at least as many as the run uses, at most as many as
// the side may have.
func TestScanWorkers(t *testing.T) {
	tests := []struct {
		name       string
		changed    int // folders with work, both sides (sizeFor)
		scanA      int // of them to scan on a
		want       int
		wantOtherB int // b, with none to scan
	}{
		{"one folder", 1, 1, 2, 2},
		{"ten folders", 10, 10, 2, 2},
		{"eleven folders", 11, 11, 3, 2},
		{"20 folders", 20, 20, 4, 2},
		{"more than a may have", 200, 200, 4, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool([2]Mailstore{nil, nil}, [2]int{4, 6})
			p.sizeFor(tt.changed, false)
			if got := p.scanWorkers(A, tt.scanA); got != tt.want {
				t.Errorf("scanWorkers(a, %d) = %d, want %d", tt.scanA, got, tt.want)
			}
			if got := p.scanWorkers(B, 0); got != tt.wantOtherB {
				t.Errorf("scanWorkers(b, 0) = %d, want %d", got, tt.wantOtherB)
			}
		})
	}
}

// latencyStore is a Mailstore whose server is d away (LatencyReporter);
// the pool asks it nothing else.
type latencyStore struct {
	Mailstore
	d time.Duration
}

func (l latencyStore) Latency() time.Duration { return l.d }

// TestPoolNearServers: an incremental run on a near server (Latency
// under nearby) uses one connection per foldersPerNearConn folders, to
// scan and to work, where a far one uses two or more; a first sync or
// a plan with much to copy uses every connection, near or far; a server
// whose latency is not known counts as far.
func TestPoolNearServers(t *testing.T) {
	near, far := latencyStore{d: time.Millisecond}, latencyStore{d: 20 * time.Millisecond}
	tests := []struct {
		name          string
		a, b          Mailstore
		folders       int
		whole         bool
		copy          int64
		wantA, wantB  int // workers(a), workers(b)
		scanA, scanB  int // scanWorkers(s, folders)
		wantBothSides int // workers(a, b)
	}{
		{"both near, 20 folders", near, near, 20, false, 0, 1, 1, 1, 1, 1},
		{"both near, 100 folders", near, near, 100, false, 0, 3, 3, 3, 3, 3},
		{"near a, far b, 20 folders", near, far, 20, false, 0, 1, 2, 1, 4, 1},
		{"far a, near b", far, near, 20, false, 0, 2, 1, 4, 1, 1},
		{"latency not known", latencyStore{}, nil, 20, false, 0, 2, 2, 4, 4, 2},
		{"both near, read whole", near, near, 20, true, 0, 4, 6, 4, 6, 4},
		{"both near, much to copy", near, near, 20, false, bulkCopy, 4, 6, 4, 6, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool([2]Mailstore{tt.a, tt.b}, [2]int{4, 6})
			p.sizeFor(tt.folders, tt.whole)
			p.sizeForPlan(&Plan{Actions: []Action{{Op: Copy, Size: tt.copy}}})
			if got := p.workers(A); got != tt.wantA {
				t.Errorf("workers(a) = %d, want %d", got, tt.wantA)
			}
			if got := p.workers(B); got != tt.wantB {
				t.Errorf("workers(b) = %d, want %d", got, tt.wantB)
			}
			if got := p.workers(A, B); got != tt.wantBothSides {
				t.Errorf("workers(a, b) = %d, want %d", got, tt.wantBothSides)
			}
			if got := p.scanWorkers(A, tt.folders); got != tt.scanA {
				t.Errorf("scanWorkers(a, %d) = %d, want %d", tt.folders, got, tt.scanA)
			}
			if got := p.scanWorkers(B, tt.folders); got != tt.scanB {
				t.Errorf("scanWorkers(b, %d) = %d, want %d", tt.folders, got, tt.scanB)
			}
		})
	}
}

func TestPoolSizedByTheWork(t *testing.T) {
	tests := []struct {
		name    string
		folders int
		whole   bool
		copy    int64
		want    int
	}{
		{"a few folders changed", 3, false, 0, 2},
		{"20 folders changed", 20, false, 0, 2},
		{"40 folders changed", 40, false, 0, 3},
		{"157 folders changed", 157, false, 0, 4},
		{"a folder read whole", 3, true, 0, 4},
		{"much to copy", 3, false, bulkCopy, 4},
		{"a little to copy", 3, false, bulkCopy - 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool([2]Mailstore{nil, nil}, [2]int{4, 6})
			p.sizeFor(tt.folders, tt.whole)
			p.sizeForPlan(&Plan{Actions: []Action{{Op: Copy, Size: tt.copy}, {Op: Store, Size: bulkCopy}}})
			if got := p.workers(A, B); got != tt.want {
				t.Errorf("workers = %d, want %d", got, tt.want)
			}
		})
	}
}
