package reconcile_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

var (
	refusedCases  = flag.Int("refused.cases", 2000, "number of random cases TestModelRefusedFlags runs")
	refusedSeed   = flag.Uint64("refused.seed", 0, "run only the TestModelRefusedFlags case with this seed")
	refusedFrom   = flag.Uint64("refused.from", 1, "the seed of TestModelRefusedFlags's first case: with -refused.cases, explore past the seeds run before")
	refusedMirror = flag.Bool("refused.mirror", false, "check every plan of TestModelRefusedFlags against the plan of the same pair with A and B swapped (mirrorDiff): an exploration aid")
)

// refusedFlagPool is the flags the users of TestModelRefusedFlags set,
// and a folder may refuse.
var refusedFlagPool = []string{`\Answered`, `\Flagged`, `\Seen`, "$a", "$b"}

// TestModelRefusedFlags: random flag changes and moves between INBOX and
// Shared on both sides, where each side's Shared keeps a random part of
// the flags, as its PERMANENTFLAGS would say, and the model account
// drops the rest from every copy, STORE and MOVE, as a server does; and
// where a side's server refuses keywords outright (a third of the
// seeds, on each side), a copy or a STORE goes without them and says
// so (Outcome.Refused), as Run's does. A
// user changes only what the folder keeps (the server drops the rest),
// never the same flag of a message on both sides in one round, and
// moves a message on one side at most, and not after changing its
// flags in that round (that change would leave nothing to see, where
// the new folder refuses the flag). After each round the pair is
// synced once, and a second plan must have nothing to do (a copy moved
// out of a folder that dropped its flags gets them back in the same
// run: see movedOutOfRefusal). Then:
//
//   - every message is on both sides, once, in the folder its user
//     last moved it to;
//   - each copy holds exactly the flags its users last set, less what
//     its folder refuses: no flag is lost because a folder could not
//     hold it.
//
// Rerun a failure alone with
//
//	go test ./reconcile -run TestModelRefusedFlags -refused.seed N
//
// and run more cases with -refused.cases N (from seed -refused.from).
func TestModelRefusedFlags(t *testing.T) {
	if *refusedSeed != 0 {
		runRefusedModel(t, *refusedSeed)
		return
	}
	for i := range *refusedCases {
		if !runRefusedModel(t, *refusedFrom+uint64(i)) {
			return
		}
	}
}

func runRefusedModel(t *testing.T, seed uint64) bool {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b9))
	keeps := func() reconcile.Permanent {
		if rng.IntN(3) == 0 {
			return reconcile.Permanent{} // keeps every flag
		}
		var kept []string
		for _, f := range refusedFlagPool {
			if rng.IntN(2) == 0 {
				kept = append(kept, f)
			}
		}
		return reconcile.NewPermanent(kept...)
	}
	// Keywords a side's server refuses outright, in every folder, from
	// a stream of their own: the other choices of a seed are as before.
	rngRefuses := rand.New(rand.NewPCG(seed, 0x51ed27))
	refuses := func() reconcile.Flags {
		if rngRefuses.IntN(3) != 0 {
			return nil
		}
		return reconcile.NewFlags(pickOne(rngRefuses, [][]string{{"$a"}, {"$b"}, {"$a", "$b"}})...)
	}
	accs := [2]*account{newAccount(), newAccount()}
	for s := range 2 {
		accs[s].keeps = map[string]reconcile.Permanent{"Shared": keeps()}
		accs[s].refuses = refuses()
		accs[s].folders["INBOX"].refuses = accs[s].refuses
		accs[s].create("Shared")
	}
	var history []string
	logf := func(format string, args ...any) { history = append(history, fmt.Sprintf(format, args...)) }
	logf("a's Shared keeps %v, b's %v; a refuses %v outright, b %v", accs[0].keeps["Shared"], accs[1].keeps["Shared"], accs[0].refuses, accs[1].refuses)

	// want holds, by identity, the flags the users last set: what each
	// copy must hold, less what its folder refuses.
	want := map[reconcile.Identity]reconcile.Flags{}
	folderOf := map[reconcile.Identity]string{}
	randomFlags := func() reconcile.Flags {
		var fl []string
		for _, f := range refusedFlagPool {
			if rng.IntN(3) == 0 {
				fl = append(fl, f)
			}
		}
		return reconcile.NewFlags(fl...)
	}
	next := 0
	deliver := func(s reconcile.Side, folder string) {
		next++
		id := reconcile.Identity(fmt.Sprintf("x:%d", next))
		accs[s].create(folder)
		fl := accs[s].folders[folder].kept(randomFlags())
		accs[s].deliver(folder, id, fl)
		want[id], folderOf[id] = fl, folder
		logf("%s: new %s in %s, %v", s, id, folder, fl)
	}
	for range 2 + rng.IntN(4) {
		deliver(reconcile.Side(rng.IntN(2)), pickOne(rng, []string{"INBOX", "Shared"}))
	}
	pol := reconcile.Policy{
		Default:    reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate},
		MaxDeletes: reconcile.Limit{Percent: true, Value: 100},
	}
	var base reconcile.State
	fail := func(format string, args ...any) bool {
		t.Helper()
		t.Errorf("refused-flags model seed %d (rerun: go test ./reconcile -run TestModelRefusedFlags -refused.seed %d): %s\nhistory:\n  %s\nstate:\n%s\na:\n%s\nb:\n%s",
			seed, seed, fmt.Sprintf(format, args...), strings.Join(history, "\n  "), indentBlock(formatState(base)), formatModelAccount(accs[0]), formatModelAccount(accs[1]))
		return false
	}
	for round := range 6 {
		if round > 0 {
			// Each user changes flags their folder keeps; a flag of a
			// message is changed on one side at most.
			changed := map[string]bool{}
			moved := map[reconcile.Identity]bool{}
			// A user who changes a flag and then moves the message into
			// a folder that refuses it leaves nothing to see of the
			// change: that order is left out (the planner keeps the
			// flag). Moved first and changed after is in.
			flagged := map[reconcile.Identity]bool{}
			for range 1 + rng.IntN(4) {
				s := reconcile.Side(rng.IntN(2))
				folder := pickOne(rng, []string{"INBOX", "Shared"})
				mb := accs[s].folders[folder]
				if mb == nil || len(mb.msgs) == 0 {
					continue
				}
				k := rng.IntN(len(mb.msgs))
				m := &mb.msgs[k]
				if rng.IntN(3) == 0 {
					if moved[m.ID] || flagged[m.ID] {
						continue
					}
					moved[m.ID] = true
					dest := map[string]string{"INBOX": "Shared", "Shared": "INBOX"}[folder]
					id, fl := m.ID, m.Flags
					mb.msgs = append(mb.msgs[:k:k], mb.msgs[k+1:]...)
					accs[s].deliver(dest, id, fl)
					folderOf[id] = dest
					logf("round %d: %s's user moves %s from %s to %s", round, s, id, folder, dest)
					continue
				}
				f := pickOne(rng, refusedFlagPool)
				if len(mb.kept(reconcile.Flags{f})) == 0 || changed[string(m.ID)+" "+f] {
					continue
				}
				changed[string(m.ID)+" "+f] = true
				flagged[m.ID] = true
				set := !m.Flags.Has(f)
				toggle := func(fl reconcile.Flags) reconcile.Flags {
					var out []string
					for _, x := range fl {
						if x != f {
							out = append(out, x)
						}
					}
					if set {
						out = append(out, f)
					}
					return reconcile.NewFlags(out...)
				}
				want[m.ID], m.Flags = toggle(want[m.ID]), mb.kept(toggle(m.Flags))
				logf("round %d: %s's user sets %s %v in %s (%s %v)", round, s, m.ID, m.Flags, folder, map[bool]string{true: "+", false: "-"}[set], f)
			}
			if rng.IntN(3) == 0 {
				deliver(reconcile.Side(rng.IntN(2)), pickOne(rng, []string{"INBOX", "Shared"}))
			}
		}
		for run := 0; ; run++ {
			la, lb := accs[0].listing(), accs[1].listing()
			plan, err := reconcile.Build("p", base, la, lb, pol)
			if err != nil {
				return fail("round %d: Build: %v", round, err)
			}
			if *refusedMirror {
				if d := mirrorDiff(plan, base, la, lb, pol); d != "" {
					return fail("round %d: %s  this pair's plan:\n%s", round, d, plan)
				}
			}
			if run == 1 && !plan.Empty() {
				return fail("round %d: a second run still has work: %s", round, plan)
			}
			logf("round %d: plan %s", round, indentBlock(plan.String()))
			base = reconcile.Next(plan, execute(plan, accs[0], accs[1]))
			if plan.Empty() {
				break
			}
		}
		for s := range 2 {
			for _, folder := range []string{"INBOX", "Shared"} {
				mb := accs[s].folders[folder]
				var got []string
				for id, fo := range folderOf {
					if fo != folder {
						continue
					}
					n := 0
					if mb != nil {
						for _, m := range mb.msgs {
							if m.ID != id {
								continue
							}
							n++
							if w := mb.kept(want[id]); !m.Flags.Equal(w) {
								return fail("round %d: %s's copy of %s in %s holds %v, want %v", round, reconcile.Side(s), id, folder, m.Flags, w)
							}
						}
					}
					if n != 1 {
						got = append(got, fmt.Sprintf("%s %d times", id, n))
					}
				}
				if len(got) > 0 {
					slices.Sort(got)
					return fail("round %d: %s's %s holds %s, want each once", round, reconcile.Side(s), folder, strings.Join(got, ", "))
				}
			}
		}
	}
	return true
}
