package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// FastPathDiff builds the plan for base and the listings a and b twice,
// with the fast path for folder pairs nothing changed in and without it
// (the full per-message walk), and reports how they differ: in the
// plan (its actions, conflicts, counts and error) or in the next state
// Next computes from it, for outcomes and for three made-up ones
// (every action done, every action failed, the run cut before the
// first). clean is the number of folder pairs the fast path took.
func FastPathDiff(pair string, base State, a, b Listing, p Policy, outcomes []Outcome) (clean int, err error) {
	fast, ferr := build(pair, cloneState(base), cloneListing(a), cloneListing(b), p, true, [2]map[string]bool{})
	full, serr := build(pair, cloneState(base), cloneListing(a), cloneListing(b), p, false, [2]map[string]bool{})
	for _, d := range fast.drafts {
		if d.carried != nil {
			clean++
		}
	}
	if fmt.Sprint(ferr) != fmt.Sprint(serr) {
		return clean, fmt.Errorf("fast path: Build error %v, full walk: %v", ferr, serr)
	}
	if len(fast.Actions) != len(full.Actions) {
		return clean, fmt.Errorf("fast path plans %d actions, full walk %d:\nfast:\n%s\nfull:\n%s", len(fast.Actions), len(full.Actions), fast, full)
	}
	for i := range fast.Actions {
		if x, y := exported(fast.Actions[i]), exported(full.Actions[i]); !reflect.DeepEqual(x, y) {
			return clean, fmt.Errorf("action %d: fast path %+v, full walk %+v", i, x, y)
		}
	}
	if !slices.Equal(fast.Conflicts, full.Conflicts) || fast.Counts != full.Counts || fast.Pair != full.Pair {
		return clean, fmt.Errorf("fast path: conflicts %q, counts %+v; full walk: %q, %+v", fast.Conflicts, fast.Counts, full.Conflicts, full.Counts)
	}
	done := make([]Outcome, len(fast.Actions))
	failed := make([]Outcome, len(fast.Actions))
	for i := range done {
		done[i] = Outcome{UID: UID(9_000_000 + i), UIDValidity: 77}
		failed[i] = Outcome{Err: errors.New("failed")}
	}
	for _, c := range []struct {
		name string
		out  []Outcome
	}{{"given outcomes", outcomes}, {"all done", done}, {"all failed", failed}, {"none run", nil}} {
		x, y := Next(fast, c.out), Next(full, c.out)
		if err := sameState(x, y); err != nil {
			return clean, fmt.Errorf("Next with %s: %v", c.name, err)
		}
	}
	return clean, nil
}

// exported returns a's exported fields, with empty flags as nil.
func exported(a Action) Action {
	a.slot, a.arrival, a.folder = nil, nil, nil
	if r := a.rare(); a.rareFields != nil {
		r.mergeBase, r.hasBase, r.renFrom, r.renTo = nil, false, "", ""
		a.rareFields = &r
		if reflect.ValueOf(r).IsZero() {
			a.rareFields = nil
		}
	}
	if len(a.Flags) == 0 {
		a.Flags = nil
	}
	if len(a.Remove) == 0 {
		a.Remove = nil
	}
	return a
}

// sameState compares two states as they are stored, and their folders'
// order.
func sameState(x, y State) error {
	xn, yn := folderNames(x), folderNames(y)
	if !slices.Equal(xn, yn) {
		return fmt.Errorf("fast path gives folders %q, full walk %q", xn, yn)
	}
	ex, ey := EncodeState(x), EncodeState(y)
	if !maps.EqualFunc(ex, ey, bytes.Equal) {
		for n := range ex {
			if !bytes.Equal(ex[n], ey[n]) {
				return fmt.Errorf("state file %s: fast path\n%s\nfull walk\n%s", n, ex[n], ey[n])
			}
		}
		return fmt.Errorf("fast path gives state files %v, full walk %v", slices.Sorted(maps.Keys(ex)), slices.Sorted(maps.Keys(ey)))
	}
	return nil
}

func folderNames(s State) []string {
	var out []string
	for _, f := range s.Folders {
		out = append(out, f.Name)
	}
	return out
}

func cloneState(s State) State {
	out := State{Folders: slices.Clone(s.Folders)}
	for i := range out.Folders {
		out.Folders[i].Records = slices.Clone(out.Folders[i].Records)
	}
	return out
}

func cloneListing(l Listing) Listing {
	out := l
	out.Folders = slices.Clone(l.Folders)
	for i := range out.Folders {
		out.Folders[i].Messages = slices.Clone(out.Folders[i].Messages)
	}
	return out
}

// ScanPointHoldsBoth answers scanPointHolds for f on side s, listed as
// l, both ways: by the walk beside the sorted records, and by maps.
func ScanPointHoldsBoth(f FolderState, s Side, l Folder, removed, stored map[UID]bool) (walk, byMaps bool) {
	var scratch []uidRecord
	return scanPointHolds(&f, s, &l, removed, stored, &scratch), scanPointHoldsMaps(&f, s, &l, removed, stored)
}

// ParseFolderBoth parses data both ways: the fast parser (ok false where
// it gives up) and the line-by-line one.
func ParseFolderBoth(data []byte) (fast FolderState, ok bool, slow FolderState, err error) {
	fast, ok = parseFolderFast(data)
	slow, err = parseFolder("f.state", data)
	return fast, ok, slow, err
}

// Scoped is scoped, for the tests of scoped runs.
func (p *Plan) Scoped(scope []string) (*Plan, []int) { return p.scoped(scope) }

// SkippedUnderFailedRename reports whether the executor leaves a out:
// a CreateFolder or RenameFolder into a folder under the destination of
// a RenameFolder of acts that failed (its outcome in out).
func SkippedUnderFailedRename(acts []Action, out []Outcome, a *Action) bool {
	var failed []*Action
	for i := range acts {
		if acts[i].Op == RenameFolder && out[i].Err != nil && out[i].Err != ErrNotRun {
			failed = append(failed, &acts[i])
		}
	}
	return underFailedRename(failed, a) != nil
}

// SettledDiff marks the folders of a and b whose listed messages are
// exactly the base's on that side (the records' messages with a UID
// there below its UIDNEXT, by UID, as ScanSince gives an unchanged
// folder) as listed without them, and, where buildSettled makes a plan
// of those listings, compares it with Build's for the listings with the
// base's messages: the same actions, conflicts, counts and error, and
// the same next state. taken reports that buildSettled made a plan.
func SettledDiff(pair string, base State, a, b Listing, p Policy) (taken bool, err error) {
	lists := [2]Listing{cloneListing(a), cloneListing(b)}
	// Not knownOf: it leaves out base folders without a scan point,
	// which the model tests' states often lack; buildSettled's promise
	// does not depend on the point, so the comparison takes every folder
	// listed as its records say.
	var asBase [2]map[string]bool
	for s := range 2 {
		asBase[s] = map[string]bool{}
		claims := map[string]int{}
		for i := range base.Folders {
			claims[base.Folders[i].Side(Side(s)).Mailbox]++
		}
		for i := range base.Folders {
			f := &base.Folders[i]
			ss := f.Side(Side(s))
			if ss.Mailbox == "" || claims[ss.Mailbox] > 1 {
				continue
			}
			r := &recorded{point: Known{UIDValidity: ss.UIDValidity, UIDNext: ss.UIDNext, HighestModSeq: ss.HighestModSeq}, from: f, side: Side(s)}
			want := r.known().Messages
			for j := range lists[s].Folders {
				l := &lists[s].Folders[j]
				if l.Mailbox != ss.Mailbox || len(l.Messages) != len(want) || l.NumMessages != len(want) {
					continue
				}
				same := true
				for k := range want {
					if m := l.Messages[k]; m.UID != want[k].UID || m.ID != want[k].ID || !m.Flags.Equal(want[k].Flags) {
						same = false
						break
					}
				}
				if same {
					l.Messages = want // Size 0, as ScanSince gives them
					asBase[s][l.Mailbox] = true
				}
			}
		}
	}
	full, ferr := Build(pair, cloneState(base), cloneListing(lists[A]), cloneListing(lists[B]), p)
	var held [2][][]Message
	for s := range 2 {
		held[s] = make([][]Message, len(lists[s].Folders))
		for j := range lists[s].Folders {
			if asBase[s][lists[s].Folders[j].Mailbox] {
				held[s][j], lists[s].Folders[j].Messages = lists[s].Folders[j].Messages, nil
			}
		}
	}
	settled := buildSettled(pair, cloneState(base), lists[A], lists[B], p, asBase)
	if settled == nil {
		return false, nil
	}
	// Next reads the listings: they get the base's messages back, as
	// Run's unscanned.fill would give them.
	for s := range 2 {
		for j := range lists[s].Folders {
			if held[s][j] != nil {
				lists[s].Folders[j].Messages = held[s][j]
			}
		}
	}
	if ferr != nil {
		return true, fmt.Errorf("buildSettled made a plan, Build: %v", ferr)
	}
	if len(full.Actions) != 0 || !slices.Equal(settled.Conflicts, full.Conflicts) || settled.Counts != full.Counts || settled.Pair != full.Pair {
		return true, fmt.Errorf("buildSettled: no action, conflicts %q, counts %+v; Build: %d actions, %q, %+v:\n%s", settled.Conflicts, settled.Counts, len(full.Actions), full.Conflicts, full.Counts, full)
	}
	if err := sameState(Next(settled, nil), Next(full, nil)); err != nil {
		return true, fmt.Errorf("Next: %v", err)
	}
	return true, nil
}

// BuildSettled is buildSettled, for the benchmarks.
func BuildSettled(pair string, base State, a, b Listing, p Policy, asBase [2]map[string]bool) *Plan {
	return buildSettled(pair, base, a, b, p, asBase)
}

// CreateRun is createRun: the folder creations the executor sends to a
// FolderBatchCreator in one exchange.
func CreateRun(acts []Action, groups [][]int, failed []*Action) [][]int {
	return createRun(acts, groups, failed)
}
