package reconcile_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

var (
	randCases  = flag.Int("rand.cases", 3000, "cases of TestRandomSync")
	randMirror = flag.Bool("rand.mirror", false, "check every plan of TestRandomSync against the plan of the same pair with A and B swapped (mirrorDiff): an exploration aid")
)

// TestRandomSync is the randomised model test of the planner: random
// changes on two model accounts between syncs (new mail on either or both
// sides, flag changes, expunges, folders created and deleted), under a
// random policy, with some syncs' actions failing at random. After every
// sync it checks that nothing was lost; after every sync in which all
// actions succeeded, that the result is converged and settled:
//
//   - nothing lost: a message present on both sides before a sync (and
//     not expunged by the user since the last complete sync), or new since
//     the last sync, is present on some side after it; and a message
//     deleted on one side while its flags changed on the other is kept;
//   - no duplicates: no identity appears twice in one folder of one side;
//   - the state knows every message, and for every record present on
//     both sides both copies carry the record's flags in two-way folders;
//   - settled: planning again at once plans nothing.
func TestRandomSync(t *testing.T) {
	var fast fastPathCount
	for c := range *randCases {
		seed := uint64(c)
		if err := randomCase(seed, &fast); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	fast.check(t)
}

var randFlags = []string{`\Seen`, `\Flagged`, `\Answered`, "$work"}

type randomRun struct {
	r      *rand.Rand
	acc    [2]*account
	nextID int
	pol    reconcile.Policy
	// deleted holds the identities the user expunged (or whose folder
	// the user deleted) since the last sync that fully succeeded.
	deleted map[reconcile.Identity]bool
}

func randomCase(seed uint64, fast *fastPathCount) error {
	rr := &randomRun{r: rand.New(rand.NewPCG(seed, 0x6d61696c)), acc: [2]*account{newAccount(), newAccount()}, deleted: map[reconcile.Identity]bool{}}
	for s := range 2 {
		rr.acc[s].create("Trash").role = reconcile.RoleTrash
	}
	dirs := []reconcile.Direction{reconcile.Both, reconcile.Both, reconcile.AToB, reconcile.BToA}
	dels := []reconcile.Deletion{reconcile.Propagate, reconcile.Trash, reconcile.Keep}
	rr.pol = reconcile.Policy{
		Default: reconcile.FolderPolicy{Direction: dirs[rr.r.IntN(len(dirs))], Deletion: dels[rr.r.IntN(len(dels))]},
		Force:   true,
		Rules: []reconcile.Rule{{Pattern: "Oneway", FolderPolicy: reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: dels[rr.r.IntN(len(dels))]}},
			{Pattern: "Ignored", FolderPolicy: reconcile.FolderPolicy{Direction: reconcile.None}}},
	}
	var base reconcile.State
	var log []string
	prev := ""
	for round := range 8 {
		for range rr.r.IntN(6) + 1 {
			log = append(log, rr.change())
		}
		before := rr.census()
		cvd := rr.changedVersusDeleted(base)
		dupsBefore := rr.copies()
		fail := rr.r.IntN(4) == 0
		for s := range 2 {
			rr.acc[s].failOn = nil
			if fail {
				r := rand.New(rand.NewPCG(seed, uint64(round)))
				rr.acc[s].failOn = func(*reconcile.Action) bool { return r.IntN(3) == 0 }
			}
		}
		for s := range 2 {
			if e := rr.acc[s].scanPointError(base, reconcile.Side(s)); e != "" {
				return fmt.Errorf("round %d: a scan point of the state would read a folder wrong:\n  %s\nbase:\n%s\nchanges:\n  %s\nprevious run:\n%s", round, e, formatState(base), strings.Join(log, "\n  "), prev)
			}
		}
		la, lb := rr.acc[0].listing(), rr.acc[1].listing()
		plan, err := reconcile.Build("p", base, la, lb, rr.pol)
		if err != nil {
			return fmt.Errorf("round %d: Build: %v", round, err)
		}
		if *randMirror {
			if d := mirrorDiff(plan, base, la, lb, rr.pol); d != "" {
				return fmt.Errorf("round %d: %s  this pair's plan:\n%s\nbase:\n%s", round, d, plan, formatState(base))
			}
		}
		out := execute(plan, rr.acc[0], rr.acc[1])
		if err := fast.compare("p", base, la, lb, rr.pol, out); err != nil {
			return fmt.Errorf("round %d: %v\nbase:\n%s\nplan:\n%s", round, err, formatState(base), plan)
		}
		next := reconcile.Next(plan, out)
		ctx := func() string {
			return fmt.Sprintf("round %d, policy %+v, failures %v\nchanges:\n  %s\nbase:\n%s\nplan:\n%s\nnext:\n%s", round, rr.pol.Default, fail, strings.Join(log, "\n  "), formatState(base), plan, formatState(next))
		}
		after := rr.census()
		for id, n := range before.both {
			if n && !after.any[id] && !rr.deleted[id] {
				return fmt.Errorf("%s was on both sides and is gone from both\n%s", id, ctx())
			}
		}
		for id := range cvd {
			if !after.any[id] {
				return fmt.Errorf("%s was deleted on one side while its flags changed on the other, and is gone: change beats delete\n%s", id, ctx())
			}
		}
		for id := range before.any {
			if !inState(base, id) && !after.any[id] {
				return fmt.Errorf("%s was new and is gone\n%s", id, ctx())
			}
		}
		if err := rr.noDuplicates(dupsBefore); err != nil {
			return fmt.Errorf("%v\n%s", err, ctx())
		}
		base = next
		prev = ctx()
		for i, o := range out {
			if o.Err != nil {
				prev += fmt.Sprintf("failed: %s\n", plan.Actions[i].String())
			}
		}
		log = nil
		for s := range 2 {
			rr.acc[s].failOn = nil
		}
		if fail {
			continue
		}
		if err := rr.stateAgrees(base); err != nil {
			return fmt.Errorf("%v\n%s", err, ctx())
		}
		again, err := reconcile.Build("p", base, rr.acc[0].listing(), rr.acc[1].listing(), rr.pol)
		if err != nil || !again.Empty() {
			return fmt.Errorf("not settled: a second plan is %v, %v\n%s", again, err, ctx())
		}
		log = log[:0]
		clear(rr.deleted)
	}
	return nil
}

func (rr *randomRun) folders(s int) []string {
	var out []string
	for n := range rr.acc[s].folders {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (rr *randomRun) pick(xs []string) string { return xs[rr.r.IntN(len(xs))] }

// change makes one random user change and describes it.
func (rr *randomRun) change() string {
	s := rr.r.IntN(2)
	side := reconcile.Side(s)
	acc := rr.acc[s]
	switch k := rr.r.IntN(10); {
	case k < 3: // new mail on one side
		rr.nextID++
		f := rr.pick(rr.folders(s))
		id := reconcile.Identity(fmt.Sprintf("x:%d", rr.nextID))
		acc.deliver(f, id, reconcile.NewFlags(rr.pick(append(randFlags, "", ""))))
		return fmt.Sprintf("%s: new %s in %s", side, id, f)
	case k == 3: // the same new mail on both sides, as a mailing list
		rr.nextID++
		id := reconcile.Identity(fmt.Sprintf("x:%d", rr.nextID))
		rr.acc[0].deliver("INBOX", id, nil)
		rr.acc[1].deliver("INBOX", id, nil)
		return fmt.Sprintf("both: new %s in INBOX", id)
	case k < 6: // flag change
		f := rr.pick(rr.folders(s))
		mb := acc.folders[f]
		if len(mb.msgs) == 0 {
			return "nothing"
		}
		m := &mb.msgs[rr.r.IntN(len(mb.msgs))]
		fl := rr.pick(randFlags)
		if m.Flags.Has(fl) {
			var keep []string
			for _, x := range m.Flags {
				if x != fl {
					keep = append(keep, x)
				}
			}
			m.Flags = reconcile.NewFlags(keep...)
			return fmt.Sprintf("%s: %s uid %d -%s", side, f, m.UID, fl)
		}
		m.Flags = reconcile.NewFlags(append(append([]string{}, m.Flags...), fl)...)
		return fmt.Sprintf("%s: %s uid %d +%s", side, f, m.UID, fl)
	case k < 8: // expunge
		f := rr.pick(rr.folders(s))
		mb := acc.folders[f]
		if len(mb.msgs) == 0 {
			return "nothing"
		}
		i := rr.r.IntN(len(mb.msgs))
		u := mb.msgs[i].UID
		rr.deleted[mb.msgs[i].ID] = true
		mb.msgs = append(mb.msgs[:i], mb.msgs[i+1:]...)
		return fmt.Sprintf("%s: %s uid %d expunged", side, f, u)
	case k == 8 && rr.r.IntN(2) == 0: // a mail client moves a message (to the trash, often)
		f := rr.pick(rr.folders(s))
		mb := acc.folders[f]
		if len(mb.msgs) == 0 {
			return "nothing"
		}
		dest := rr.pick(append(rr.folders(s), "Trash", "Trash"))
		if dest == f {
			return "nothing"
		}
		i := rr.r.IntN(len(mb.msgs))
		m := mb.msgs[i]
		mb.msgs = append(mb.msgs[:i], mb.msgs[i+1:]...)
		acc.deliver(dest, m.ID, m.Flags)
		return fmt.Sprintf("%s: %s uid %d moved to %s", side, f, m.UID, dest)
	case k == 8: // new folder
		f := rr.pick([]string{"Work", "Lists/Go", "Oneway", "Ignored"})
		acc.create(f)
		return fmt.Sprintf("%s: folder %s created", side, f)
	default: // delete a folder
		var cands []string
		for _, f := range rr.folders(s) {
			if f != "INBOX" && f != "Trash" {
				cands = append(cands, f)
			}
		}
		if len(cands) == 0 {
			return "nothing"
		}
		f := rr.pick(cands)
		for _, m := range acc.folders[f].msgs {
			rr.deleted[m.ID] = true
		}
		delete(acc.folders, f)
		return fmt.Sprintf("%s: folder %s deleted", side, f)
	}
}

type census struct {
	any  map[reconcile.Identity]bool
	both map[reconcile.Identity]bool
}

// census records which identities are on which side, outside ignored
// folders.
func (rr *randomRun) census() census {
	c := census{any: map[reconcile.Identity]bool{}, both: map[reconcile.Identity]bool{}}
	var on [2]map[reconcile.Identity]bool
	for s := range 2 {
		on[s] = map[reconcile.Identity]bool{}
		for name, mb := range rr.acc[s].folders {
			if rr.pol.For(name).Direction == reconcile.None {
				continue
			}
			for _, m := range mb.msgs {
				on[s][m.ID] = true
				c.any[m.ID] = true
			}
		}
	}
	for id := range on[0] {
		if on[1][id] {
			c.both[id] = true
		}
	}
	return c
}

// changedVersusDeleted returns the identities of two-way folders that
// are gone from one side while their flags changed on the other since
// the base: the sync must keep them.
func (rr *randomRun) changedVersusDeleted(base reconcile.State) map[reconcile.Identity]bool {
	out := map[reconcile.Identity]bool{}
	for _, f := range base.Folders {
		if rr.pol.For(f.Name).Direction != reconcile.Both {
			continue
		}
		for _, r := range f.Records {
			if r.UIDA == 0 || r.UIDB == 0 {
				continue
			}
			var msg [2]*reconcile.Message
			for s := range 2 {
				if mb := rr.acc[s].folders[f.Side(reconcile.Side(s)).Mailbox]; mb != nil {
					if i := mb.find(r.UID(reconcile.Side(s))); i >= 0 {
						msg[s] = &mb.msgs[i]
					}
				}
			}
			for s := range 2 {
				if o := msg[1-s]; msg[s] == nil && o != nil && !o.Flags.Equal(r.Flags) {
					out[r.ID] = true
				}
			}
		}
	}
	return out
}

func inState(st reconcile.State, id reconcile.Identity) bool {
	for _, f := range st.Folders {
		for _, r := range f.Records {
			if r.ID == id {
				return true
			}
		}
	}
	return false
}

// copies counts each identity per side and folder.
func (rr *randomRun) copies() map[string]int {
	n := map[string]int{}
	for s := range 2 {
		for name, mb := range rr.acc[s].folders {
			for _, m := range mb.msgs {
				n[fmt.Sprintf("%s %s %s", reconcile.Side(s), name, m.ID)]++
			}
		}
	}
	return n
}

// noDuplicates checks the sync made no second copy of a message in a
// folder: a folder holds no more copies of an identity than before, or
// one, or than the other side's folder held (a user can make duplicates,
// say by moving a message into a folder that has it already, and the
// sync then mirrors them, but must not add to them).
func (rr *randomRun) noDuplicates(before map[string]int) error {
	for k, n := range rr.copies() {
		mirror := "b" + k[1:] // the same folder and identity on the other side
		if k[0] == 'b' {
			mirror = "a" + k[1:]
		}
		if n > max(before[k], before[mirror], 1) {
			return fmt.Errorf("duplicate: %s appears %d times, %d before the sync", k, n, before[k])
		}
	}
	return nil
}

// stateAgrees checks that the state knows every message of every synced
// folder, that its records point at messages with their identity, and
// that in two-way folders both copies carry the agreed flags.
func (rr *randomRun) stateAgrees(st reconcile.State) error {
	for _, f := range st.Folders {
		pol := rr.pol.For(f.Name)
		if pol.Direction == reconcile.None {
			continue
		}
		known := [2]map[reconcile.UID]bool{{}, {}}
		for _, r := range f.Records {
			for s := range 2 {
				side := reconcile.Side(s)
				u := r.UID(side)
				if u == 0 {
					continue
				}
				known[s][u] = true
				mb := rr.acc[s].folders[f.Side(side).Mailbox]
				if mb == nil || mb.find(u) < 0 {
					return fmt.Errorf("state record %d/%d %s in %s points at a missing message on %s", r.UIDA, r.UIDB, r.ID, f.Name, side)
				}
				m := mb.msgs[mb.find(u)]
				if m.ID != r.ID {
					return fmt.Errorf("state record %s in %s points at %s on %s", r.ID, f.Name, m.ID, side)
				}
				if pol.Direction == reconcile.Both && r.UIDA != 0 && r.UIDB != 0 && !m.Flags.Equal(r.Flags) {
					return fmt.Errorf("%s in %s on %s has flags %s, the state agreed %s", r.ID, f.Name, side, m.Flags, r.Flags)
				}
			}
		}
		for s := range 2 {
			side := reconcile.Side(s)
			mb := rr.acc[s].folders[f.Side(side).Mailbox]
			if mb == nil {
				continue
			}
			for _, m := range mb.msgs {
				if !known[s][m.UID] {
					return fmt.Errorf("%s uid %d in %s on %s is unknown to the state", m.ID, m.UID, f.Name, side)
				}
			}
		}
	}
	for s := range 2 {
		for name, mb := range rr.acc[s].folders {
			if rr.pol.For(name).Direction == reconcile.None || len(mb.msgs) == 0 {
				continue
			}
			if f := st.Folder(name); f == nil || f.Side(reconcile.Side(s)).Mailbox == "" {
				return fmt.Errorf("folder %s on %s with %d messages is unknown to the state", name, reconcile.Side(s), len(mb.msgs))
			}
		}
	}
	return nil
}
