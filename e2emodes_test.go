package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// e2eMode is the folder policy a seed of TestRandomEndToEnd syncs under.
type e2eMode struct {
	name   string
	policy reconcile.FolderPolicy
}

// e2eModes are the policies, by seed modulo their number: two in six
// seeds the default, both ways with deletions propagated, whose checks
// are the strictest (the accounts converge); one each deletions kept,
// deletions to the trash, a-to-b and b-to-a (the pair's prefer side,
// a, is then the target: the conflicts it wins meet the direction).
var e2eModes = []e2eMode{
	{"both, propagate", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}},
	{"both, propagate", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}},
	{"both, keep", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Keep}},
	{"both, trash", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Trash}},
	{"a-to-b, propagate", reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Propagate}},
	{"b-to-a, propagate", reconcile.FolderPolicy{Direction: reconcile.BToA, Deletion: reconcile.Propagate}},
}

func e2eModeFor(seed uint64) e2eMode { return e2eModes[seed%uint64(len(e2eModes))] }

// e2eTrash is the trash folder the run files into: Dovecot's \Trash,
// and the name the run makes where a server has none.
const e2eTrash = "Trash"

var sideName = [2]string{"a", "b"}

// e2eSpared checks, under keep and trash, what became of the other
// side's copy of a message one user alone removed (expunged, or deleted
// with its folder): under keep it is where it was, under trash in the
// trash folder (or gone, when it was in the trash already: there the
// deletion propagates). It also checks that nothing a user left on its
// side is gone from it: the other user's deletions no longer reach it,
// but for the trash's own.
func e2eSpared(t *testing.T, mode e2eMode, before, model, after [2]e2eAccount, r *e2eRound, filed map[string]bool, where string) {
	t.Helper()
	trash := mode.policy.Deletion == reconcile.Trash
	for s := range 2 {
		o := 1 - s
		for _, id := range slices.Sorted(maps.Keys(before[o].msgs)) {
			prev := before[o].msgs[id]
			if r.acted[o][id] != nil || filed[id] || r.foldersActed[prev.folder] && !r.deletedBy[s][prev.folder] {
				continue
			}
			_, removed := before[s].msgs[id]
			_, kept := model[s].msgs[id]
			removed = removed && !kept && r.acted[s][id] != nil && r.acted[s][id]["expunge"]
			ps, paired := before[s].msgs[id]
			deleted := paired && ps.folder == prev.folder && r.deletedBy[s][prev.folder] && !e2eUnder(prev.folder, r.made[o], r.gone[o], r.deletedBy[o]) &&
				!slices.ContainsFunc(slices.Collect(maps.Keys(r.made[o])), func(f string) bool { return strings.HasPrefix(f, prev.folder+"/") })
			if !removed && !(deleted && r.acted[s][id] == nil) || e2eUnder(prev.folder, r.made[o], r.gone[o], r.deletedBy[o]) {
				continue // (o's user renamed or deleted its folder: the folder's fate settles it)
			}
			got, ok := after[o].msgs[id]
			how := "expunged"
			if !removed {
				how = "deleted the folder of"
			}
			switch {
			case !trash && (!ok || got != prev):
				t.Errorf("keep: %s %s %s; %s's copy, in %q %q, is now %s; %s", sideName[s], how, id, sideName[o], prev.folder, prev.flags, e2eWhere(got, ok), where)
			case trash && prev.folder == e2eTrash && ok:
				t.Errorf("trash: %s %s %s, in the trash; %s's copy is still %s; %s", sideName[s], how, id, sideName[o], e2eWhere(got, ok), where)
			case trash && prev.folder != e2eTrash && (!ok || got.folder != e2eTrash || got.flags != prev.flags):
				t.Errorf("trash: %s %s %s; %s's copy, in %q %q, is now %s, want it in %q; %s", sideName[s], how, id, sideName[o], prev.folder, prev.flags, e2eWhere(got, ok), e2eTrash, where)
			}
		}
		// What user s left is still on s.
		for _, id := range slices.Sorted(maps.Keys(model[s].msgs)) {
			if _, ok := after[s].msgs[id]; ok {
				continue
			}
			if p, ok := before[o].msgs[id]; trash && ok && p.folder == e2eTrash && r.acted[o][id]["expunge"] {
				continue // expunged from the other side's trash: that propagates
			}
			if p, ok := before[o].msgs[id]; trash && ok && p.folder == e2eTrash && filed[id] && r.acted[o][id]["move"] && model[s].msgs[id].folder == e2eTrash {
				// The other side's user took it out of the trash into a
				// folder this side deleted: filed away there, and this
				// side's copy gets the deletion policy, which expunges
				// a copy in the trash already (DESIGN.md's table).
				continue
			}
			if p, ok := before[o].msgs[id]; trash && ok && p.folder == e2eTrash && r.acted[o][id]["move"] && model[s].msgs[id].folder == e2eTrash {
				if _, still := model[o].msgs[id]; !still {
					// The other side's user took it out of the trash
					// and removed it in the same round (with the
					// folder it went to, say): to the run it is gone
					// from that side's trash, which propagates to this
					// side's copy in the trash (seed 657).
					continue
				}
			}
			t.Errorf("%s: %s left %s in %q, now gone from %s though deletions are not propagated; %s", mode.name, sideName[s], id, model[s].msgs[id].folder, sideName[s], where)
		}
	}
}

// e2eOneWay checks a round of a one-way pair whose source is side src:
// the source is as its user left it; what the source's user alone did
// reaches the target, except where the target's user has acted on the
// message or its folder in any round (what the target does on its own
// stays and is remembered); what the target's user did stays; nothing
// the target holds is lost but what the source's user removed, or
// filed into a folder the target's user deleted or renamed away (its
// copy on the target then gets the deletion policy, as in a pair both
// ways). dstActed and dstFolders are the messages and folders the
// target's user ever acted on, this round's included; deleted are the
// folders a user ever deleted, and what they were renamed to on the
// side alone that kept them (runEndToEnd's everDeleted).
func e2eOneWay(t *testing.T, src int, before, model, after [2]e2eAccount, r *e2eRound, dstActed, dstFolders, deleted, filed map[string]bool, where string) {
	t.Helper()
	dst := 1 - src
	way := sideName[src] + "-to-" + sideName[dst]
	if !maps.Equal(after[src].folders, model[src].folders) {
		t.Errorf("%s: the run changed %s's folders: %q, its user left %q; %s", way, sideName[src], slices.Sorted(maps.Keys(after[src].folders)), slices.Sorted(maps.Keys(model[src].folders)), where)
	}
	for _, id := range slices.Sorted(maps.Keys(model[src].msgs)) {
		if got, ok := after[src].msgs[id]; !ok || got != model[src].msgs[id] {
			t.Errorf("%s: %s's user left %s in %q %q, the run made it %s; %s", way, sideName[src], id, model[src].msgs[id].folder, model[src].msgs[id].flags, e2eWhere(got, ok), where)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(after[src].msgs)) {
		if _, ok := model[src].msgs[id]; !ok {
			t.Errorf("%s: the run put %s into %s's %q; %s", way, id, sideName[src], after[src].msgs[id].folder, where)
		}
	}
	untouched := func(folders ...string) bool {
		for _, f := range folders {
			if f != "" && (r.foldersActed[f] || deleted[f] || e2eUnder(f, dstFolders)) {
				return false
			}
		}
		return true
	}
	// What the source's user alone did.
	for _, id := range slices.Sorted(maps.Keys(r.acted[src])) {
		want, kept := model[src].msgs[id]
		if r.acted[dst][id] != nil || dstActed[id] || filed[id] || !untouched(before[src].msgs[id].folder, want.folder) {
			continue
		}
		got, ok := after[dst].msgs[id]
		switch {
		case !kept && ok:
			t.Errorf("%s: %s expunged %s; %s's copy is still in %q; %s", way, sideName[src], id, sideName[dst], got.folder, where)
		case kept && (!ok || got != want):
			t.Errorf("%s: %s left %s in %q %q; %s's copy is %s; %s", way, sideName[src], id, want.folder, want.flags, sideName[dst], e2eWhere(got, ok), where)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(model[src].folders)) {
		if untouched(f) && !after[dst].folders[f] {
			t.Errorf("%s: %s has folder %q, %s has not; %s", way, sideName[src], f, sideName[dst], where)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(r.foldersActed)) {
		if model[src].folders[f] || !after[dst].folders[f] || !(r.gone[src][f] || r.deletedBy[src][f]) || e2eUnder(f, dstFolders) {
			continue
		}
		// The source's user renamed it away or deleted it: on the
		// target it stays only for the target's mail the base does not
		// know, or a folder under it.
		if len(after[dst].inFolder(f)) == 0 && !slices.ContainsFunc(slices.Collect(maps.Keys(after[dst].folders)), func(c string) bool { return strings.HasPrefix(c, f+"/") }) {
			t.Errorf("%s: %s renamed or deleted folder %q; %s still has it, empty; %s", way, sideName[src], f, sideName[dst], where)
		}
	}
	// What the target's user did stays.
	for _, id := range slices.Sorted(maps.Keys(r.acted[dst])) {
		want, kept := model[dst].msgs[id]
		if r.acted[src][id] != nil || filed[id] || r.foldersActed[before[dst].msgs[id].folder] || kept && r.foldersActed[want.folder] {
			continue
		}
		got, ok := after[dst].msgs[id]
		switch {
		case !kept && ok:
			t.Errorf("%s: %s expunged %s, which is back in %q; %s", way, sideName[dst], id, got.folder, where)
		case kept && (!ok || got != want):
			t.Errorf("%s: %s left %s in %q %q, now %s; %s", way, sideName[dst], id, want.folder, want.flags, e2eWhere(got, ok), where)
		}
	}
	// Nothing lost on the target but what the source's user removed.
	for _, id := range slices.Sorted(maps.Keys(model[dst].msgs)) {
		if _, ok := after[dst].msgs[id]; !ok && !r.lost[id] && !filed[id] {
			t.Errorf("%s: %s's %s, in %q, is gone, and %s's user removed nothing of it; %s", way, sideName[dst], id, model[dst].msgs[id].folder, sideName[src], where)
		}
	}
}

// e2eStaysExpunged checks that the messages a one-way target's user
// expunged, in this round or an earlier one, are not back on the target
// (expunged holds those of earlier rounds; this round's are added). A
// message counts unless the source's user moved it in the round of the
// expunge (a move in the run that sees the deletion is copied, as the
// planner cannot tell it from a run cut short); it leaves the set once
// the source's user removes it, or a user acts on its folder (a folder
// made again brings its messages), or takes it out of its trash (wanted
// again, it is new to the pair, as keptMoves has it).
func e2eStaysExpunged(t *testing.T, src int, before, model, after [2]e2eAccount, r *e2eRound, expunged, dstFolders map[string]bool, where string) {
	t.Helper()
	dst := 1 - src
	way := sideName[src] + "-to-" + sideName[dst]
	acted := func(id string) bool {
		m, ok := model[src].msgs[id]
		was := before[src].msgs[id].folder
		return !ok || r.foldersActed[m.folder] || r.foldersActed[was] || e2eUnder(m.folder, dstFolders) ||
			was == e2eTrash && m.folder != e2eTrash
	}
	for id := range expunged {
		if acted(id) {
			delete(expunged, id)
		}
	}
	for id, acts := range r.acted[dst] {
		if acts["expunge"] && !r.acted[src][id]["move"] && !acted(id) {
			expunged[id] = true
		}
	}
	for _, id := range slices.Sorted(maps.Keys(expunged)) {
		if got, ok := after[dst].msgs[id]; ok {
			t.Errorf("%s: %s's user expunged %s, and %s's user did not move it in that round; it is back on %s, in %q; %s", way, sideName[dst], id, sideName[src], sideName[dst], got.folder, where)
		}
	}
}

// e2eWhere says where a message is, for an error.
func e2eWhere(m e2eMsg, ok bool) string {
	if !ok {
		return "gone"
	}
	return fmt.Sprintf("in %q %q", m.folder, m.flags)
}

// e2eUnion returns a set of what is in any of sets.
func e2eUnion(sets ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, s := range sets {
		maps.Copy(out, s)
	}
	return out
}
