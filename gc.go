package main

import (
	"context"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// gcPercent is mailtwin's garbage collection target (Go's default is
// 100; see gcPolicy for when it waits longer). A run waits on servers far
// more than it computes, and runs in containers with memory limits: a
// lower target keeps the heap's peak nearer to what is live, for CPU it
// has to spare (b1's peak RSS in the bench at commit 9deb6cb: 41 MB at
// 100, 35 MB at 50, no slower).
const gcPercent = 50

// gcStateFactor is how many bytes of heap one byte of state file takes
// once read: its records, each side's scan points, and the planner's
// view of them (a no-op run at 100,000 messages: 4.2 MB of state
// files, 25 MB of heap).
const gcStateFactor = 8

// gcPolicy is mailtwin's collection policy: Go's at gcPercent, except
// while a run reads its state and plans. The state's records, the scan
// points and the listings made from them stay live to the end of the
// run, and collecting while they grow marks them again and again for
// nothing: Go collects first at a 2 MB heap (at gcPercent), then each
// time the heap grows by half, and at 100,000 messages a no-op run
// spent a quarter of its time there. So reading the state reserves the
// heap it will take (reserve), and collections wait until the heap
// reaches what is reserved, as long as what is live is well below it.
// Once the run has planned and starts to act, or has ended without
// getting there (settle), the policy is gcPercent's for good: copies
// stream, and their garbage is collected early, and a reserve does not
// outlive its run. It is cmd/compile's way (AdjustStartingHeap): GOGC
// set from the live heap each collection leaves.
type gcPolicy struct {
	mu        sync.Mutex
	percent   int
	firstGoal int64 // Go's first heap goal at GOGC=100
	target    int64 // the heap reserved; 0 once settled
	settled   bool
	armed     bool // a finalizer will call adjust after the next collection
}

// startGC puts the policy in place and returns it, or nil where GOGC
// is set: it wins. GOMEMLIMIT, when set, still bounds the heap: Go
// collects as it nears the limit, whatever GOGC says, so a reserve
// cannot take a run past it.
func startGC(percent int) *gcPolicy {
	if os.Getenv("GOGC") != "" {
		return nil
	}
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	debug.SetGCPercent(percent)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 || s[1].Value.Uint64() != 100 {
		return nil // not the runtime this was written for: gcPercent alone
	}
	return &gcPolicy{percent: percent, firstGoal: int64(s[0].Value.Uint64())}
}

// adjust sets GOGC so that the next collection waits for the heap to
// reach the target, or to percent where that is no later than percent
// would collect, and has the next collection call it again until the
// policy settles. p.mu is held.
func (p *gcPolicy) adjust() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	metrics.Read(s)
	live := int64(s[0].Value.Uint64())
	// Go's goal is live + (live + stacks + globals) * GOGC/100, and no
	// less than its first goal (at GOGC=100) scaled by GOGC/100.
	gogc := 100 * p.target / max(p.firstGoal, 1)
	if s[1].Value.Uint64() > 0 && live > 0 {
		scanned := live + int64(s[2].Value.Uint64()) + int64(s[3].Value.Uint64())
		gogc = min(gogc, 100*(p.target-live)/scanned)
	}
	debug.SetGCPercent(int(min(max(gogc, int64(p.percent)), math.MaxInt32)))
	if !p.armed {
		// The next collection finds the sentinel unreachable and
		// queues its finalizer, which adjusts GOGC to the live heap
		// that collection left. It does so at percent too: what a
		// collection counts as live includes all that was allocated
		// while it marked, and on a busy machine one collection can
		// count a heap's worth of garbage; the next one, counting
		// less, lets the policy wait again.
		p.armed = true
		type sentinel [32]byte // not a tiny allocation, which is batched
		runtime.SetFinalizer(new(sentinel), func(*sentinel) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.armed = false
			if !p.settled {
				p.adjust()
			}
		})
	}
}

// reserve adds n bytes to the heap collections wait for, unless the
// policy has settled: memory the run is about to fill with what stays
// live. A nil policy does nothing.
func (p *gcPolicy) reserve(n int64) {
	if p == nil || n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.settled {
		p.target += n
		p.adjust()
	}
}

// settle makes the policy gcPercent's for good: the run is done
// building what stays live and goes on to stream messages. A nil policy
// does nothing.
func (p *gcPolicy) settle() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.settled {
		p.settled = true
		p.target = 0
		debug.SetGCPercent(p.percent)
	}
}

type gcPolicyKey struct{}

// withGCPolicy returns ctx carrying p, for the code that reads the state
// to reserve memory with.
func withGCPolicy(ctx context.Context, p *gcPolicy) context.Context {
	return context.WithValue(ctx, gcPolicyKey{}, p)
}

// gcPolicyFrom returns the policy ctx carries, nil when none.
func gcPolicyFrom(ctx context.Context) *gcPolicy {
	p, _ := ctx.Value(gcPolicyKey{}).(*gcPolicy)
	return p
}
