package reconcile_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/reconcile"
)

// memStates is a StateRepo in memory.
type memStates struct {
	st    reconcile.State
	saved int
}

func (m *memStates) Load(context.Context, string) (reconcile.State, error) { return m.st, nil }
func (m *memStates) Save(_ context.Context, _ string, st reconcile.State) error {
	m.st = st
	m.saved++
	return nil
}

// stoppingStore closes stop during its first expunge: the run is told to
// stop while that action is in flight.
type stoppingStore struct {
	modelStore
	stop chan struct{}
}

func (s *stoppingStore) Expunge(ctx context.Context, mailbox string, uids []reconcile.UID) error {
	if len(s.calls) == 0 {
		close(s.stop)
	}
	return s.modelStore.Expunge(ctx, mailbox, uids)
}

// TestRunStopFinishesInFlightAndSaves: Stop closed while the first of
// three folders' expunges is in flight lets that one finish, starts
// none of the others, saves the state of what was done (F1's records
// gone, F2's and F3's kept, so the next run does them) and returns
// ErrStopped, with no action counted as failed.
func TestRunStopFinishesInFlightAndSaves(t *testing.T) {
	base := parseState(t, "folder F1\n1 1 - x:1\nfolder F2\n1 1 - x:2\nfolder F3\n1 1 - x:3")
	la := parseListing(t, "folder F1\nfolder F2\nfolder F3")
	lb := parseListing(t, "folder F1\n1 - x:1\nfolder F2\n1 - x:2\nfolder F3\n1 - x:3")
	stop := make(chan struct{})
	a := &modelStore{acc: accountFromListing(la)}
	b := &stoppingStore{modelStore: modelStore{acc: accountFromListing(lb)}, stop: stop}
	states := &memStates{st: base}
	res, err := reconcile.Run(context.Background(), reconcile.RunOptions{Pair: "p", Policy: parsePolicy(t, "direction both\ndeletion propagate"), Stop: stop}, a, b, states)
	if !errors.Is(err, reconcile.ErrStopped) {
		t.Fatalf("Run stopped mid-way = %v, want ErrStopped", err)
	}
	if len(res.Plan.Actions) != 3 {
		t.Fatalf("plan has %d actions, want 3 expunges:\n%s", len(res.Plan.Actions), res.Plan)
	}
	if !slices.Equal(b.calls, []string{"expunge F1"}) {
		t.Errorf("b's calls = %q, want only the expunge in flight when Stop closed", b.calls)
	}
	if res.Failed != 0 {
		t.Errorf("Failed = %d, want 0: actions not run are not failures", res.Failed)
	}
	if states.saved != 1 {
		t.Fatalf("state saved %d times, want once", states.saved)
	}
	for name, want := range map[string]int{"F1": 0, "F2": 1, "F3": 1} {
		f := states.st.Folder(name)
		if f == nil || len(f.Records) != want {
			t.Errorf("saved state's %s = %+v, want %d record(s)", name, f, want)
		}
	}
}

// TestRunStoppedBeforeExecutionChangesNothing: a Stop closed before the
// plan is carried out runs no action and saves nothing.
func TestRunStoppedBeforeExecutionChangesNothing(t *testing.T) {
	base := parseState(t, "folder F1\n1 1 - x:1")
	la := parseListing(t, "folder F1")
	lb := parseListing(t, "folder F1\n1 - x:1")
	stop := make(chan struct{})
	close(stop)
	a := &modelStore{acc: accountFromListing(la)}
	b := &modelStore{acc: accountFromListing(lb)}
	states := &memStates{st: base}
	_, err := reconcile.Run(context.Background(), reconcile.RunOptions{Pair: "p", Policy: parsePolicy(t, "direction both\ndeletion propagate"), Stop: stop}, a, b, states)
	if !errors.Is(err, reconcile.ErrStopped) {
		t.Fatalf("Run with Stop closed = %v, want ErrStopped", err)
	}
	if len(b.calls) != 0 || states.saved != 0 {
		t.Errorf("Run with Stop closed called %q and saved %d times, want nothing", b.calls, states.saved)
	}
}

// scanStallStore closes stop in its first Scan and then waits for the
// scan's context to end, as a long scan of a large account would.
type scanStallStore struct {
	modelStore
	stop    chan struct{}
	scanned int
}

func (s *scanStallStore) Scan(ctx context.Context, f *reconcile.Folder) error {
	s.scanned++
	if s.scanned == 1 {
		close(s.stop)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("the scan was not cut short by Stop within a minute")
	}
}

// TestRunStoppedWhileScanningEndsTheScan: a Stop closed while a side is
// scanned cuts the scan short (a graceful stop of a first sync of a
// large account does not wait for its whole listing) and returns
// ErrStopped at once, having changed and saved nothing.
func TestRunStoppedWhileScanningEndsTheScan(t *testing.T) {
	la := parseListing(t, "folder F1\n1 - x:1\nfolder F2\n1 - x:2")
	stop := make(chan struct{})
	a := &scanStallStore{modelStore: modelStore{acc: accountFromListing(la)}, stop: stop}
	b := &modelStore{acc: accountFromListing(parseListing(t, ""))}
	states := &memStates{}
	res, err := reconcile.Run(context.Background(), reconcile.RunOptions{Pair: "p", Policy: parsePolicy(t, "direction both\ndeletion propagate"), Stop: stop, Connections: [2]int{1, 1}}, a, b, states)
	if !errors.Is(err, reconcile.ErrStopped) {
		t.Fatalf("Run stopped during its scan = %v, want ErrStopped", err)
	}
	if strings.Contains(err.Error(), "within a minute") {
		t.Fatalf("the scan was not cut short: %v", err)
	}
	if res != nil || a.scanned != 1 || len(b.calls) != 0 || states.saved != 0 {
		t.Errorf("Run stopped during its scan: result %v, %d scans, b's calls %q, saved %d times; want no result, 1 scan, nothing changed or saved", res, a.scanned, b.calls, states.saved)
	}
}
