package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestGCWaitsForReservedHeap checks gcPolicy in a process of its own
// (the policy is the process's): at its percent from the start; no
// collection while the heap is below what is reserved, where the
// percent alone would have collected many times; still waiting after
// collections that leave little live; at its percent again once what
// is live nears the reserve; and for good once settled.
func TestGCWaitsForReservedHeap(t *testing.T) {
	if os.Getenv("MAILTWIN_TEST_GC_CHILD") == "" {
		runGCChild(t, "TestGCWaitsForReservedHeap")
		return
	}
	const percent, reserved = 37, 64 << 20
	p := startGC(percent)
	if p == nil {
		t.Fatal("no policy without GOGC")
	}
	if _, gogc := readGC(); gogc != percent {
		t.Fatalf("gogc %d at the start, want %d", gogc, percent)
	}
	p.reserve(reserved)
	before, gogc := readGC()
	if gogc <= percent {
		t.Fatalf("gogc %d after a reserve, want more than %d", gogc, percent)
	}
	// 32 MB of garbage: at 37% from a small heap, a dozen collections.
	for range 4096 {
		runtime.KeepAlive(garbage(8 << 10))
	}
	if after, _ := readGC(); after != before {
		t.Fatalf("%d collections below the reserved heap (%d MB)", after-before, reserved>>20)
	}

	// Loading a pair's state reserves what decoding it takes.
	ctx := context.Background()
	repo, err := gitstate.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := reconcile.State{Folders: []reconcile.FolderState{{Name: "INBOX",
		A: reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1, UIDNext: 3},
		B: reconcile.SideState{Mailbox: "INBOX", UIDValidity: 7, UIDNext: 3},
		Records: []reconcile.Record{
			{UIDA: 1, UIDB: 1, ID: reconcile.IdentityFromMessageID("<m1@x>", 10)},
			{UIDA: 2, UIDB: 2, Flags: reconcile.NewFlags(`\Seen`), ID: reconcile.IdentityFromMessageID("<m2@x>", 20)},
		},
	}}}
	if err := (stateRepo{repo}).Save(ctx, "p", st); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	size := int64(len(reconcile.FormatFolder(st.Folders[0])))
	if _, err := (stateRepo{repo}).Load(withGCPolicy(ctx, p), "p"); err != nil {
		t.Fatal(err)
	}
	if want := reserved + size*gcStateFactor; p.target != want {
		t.Fatalf("reserved %d after loading a %d-byte state, want %d", p.target, size, want)
	}

	// 256 MB of garbage: collected at the reserve, leaving little live,
	// and the policy still waits. A collection counts as live what was
	// allocated while it marked, so on a busy machine the last one may
	// not have left little; one that runs with nothing allocating does.
	for range 32768 {
		runtime.KeepAlive(garbage(8 << 10))
	}
	if after, _ := readGC(); after == before {
		t.Fatal("no collection in 256 MB of garbage")
	}
	if gogc := waitForGOGC(func(gogc uint64) bool { return gogc > percent }); gogc <= percent {
		t.Fatalf("gogc %d after collections that left little live, want more than %d", gogc, percent)
	}
	// What is live nears the reserve: the policy is at its percent.
	var live [][]byte
	for range reserved >> 13 {
		live = append(live, garbage(8<<10))
	}
	if gogc := waitForGOGC(func(gogc uint64) bool { return gogc == percent }); gogc != percent {
		t.Fatalf("gogc %d with as much live as reserved, want %d", gogc, percent)
	}
	runtime.KeepAlive(live)
	// Dropped again, it is garbage: the policy waits again. (So does it
	// when a collection on a busy machine counted garbage as live.)
	live = nil
	if gogc := waitForGOGC(func(gogc uint64) bool { return gogc > percent }); gogc <= percent {
		t.Fatalf("gogc %d once what was live is dropped, want more than %d", gogc, percent)
	}

	// Settled, a reserve changes nothing.
	p.reserve(reserved)
	if _, gogc := readGC(); gogc <= percent {
		t.Fatalf("gogc %d after a reserve with little live, want more than %d", gogc, percent)
	}
	p.settle()
	p.reserve(reserved)
	if _, gogc := readGC(); gogc != percent || p.target != 0 {
		t.Fatalf("settled: gogc %d, reserved %d; want %d and 0", gogc, p.target, percent)
	}
}

// TestGCPolicyLeavesGOGC checks that GOGC in the environment wins:
// startGC then changes nothing.
func TestGCPolicyLeavesGOGC(t *testing.T) {
	t.Setenv("GOGC", "80")
	_, before := readGC()
	defer debug.SetGCPercent(int(before))
	if p := startGC(37); p != nil {
		t.Fatal("a policy with GOGC set")
	}
	if _, after := readGC(); after != before {
		t.Fatalf("GOGC went from %d to %d with GOGC set in the environment", before, after)
	}
}

// TestGCSettlesWhenThePairEnds checks, in a process of its own, that a
// pair's run settles the policy even when it ends before it planned
// (its accounts cannot be reached), so that runs that fail early, one
// after another in a watch, do not add reserve to reserve.
func TestGCSettlesWhenThePairEnds(t *testing.T) {
	if os.Getenv("MAILTWIN_TEST_GC_CHILD") == "" {
		runGCChild(t, "TestGCSettlesWhenThePairEnds")
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the dial fails at once
	path := writeTestConfig(t, loopbackAccount("a", addr, "alice"), loopbackAccount("b", addr, "bob"), pairHCL("p", "a", "b"))
	var out bytes.Buffer
	p := startGC(37)
	ctx := withGCPolicy(context.Background(), p)
	p.reserve(64 << 20)
	if code := run(ctx, []string{"-c", path, "apply"}, strings.NewReader(""), &out, &out); code != exitFailed {
		t.Fatalf("apply with no server: exit %d, want %d\n%s", code, exitFailed, out.String())
	}
	if _, gogc := readGC(); gogc != 37 || !p.settled {
		t.Fatalf("after a pair that failed to dial: gogc %d, settled %v; want 37, true", gogc, p.settled)
	}
}

// runGCChild runs test in a child process, without GOGC.
func runGCChild(t *testing.T, test string) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "MAILTWIN_TEST_GC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// waitForGOGC collects until GOGC is as ok wants, and returns it. The
// finalizer that adjusts GOGC runs on its own goroutine after a
// collection; more collections give it its turns.
func waitForGOGC(ok func(gogc uint64) bool) uint64 {
	for range 1000 {
		if _, gogc := readGC(); ok(gogc) {
			return gogc
		}
		runtime.GC()
		runtime.Gosched()
	}
	_, gogc := readGC()
	return gogc
}

// readGC returns the collections so far and GOGC.
func readGC() (cycles, gogc uint64) {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// garbage allocates n bytes on the heap and drops them.
//
//go:noinline
func garbage(n int) []byte { return make([]byte, n) }
