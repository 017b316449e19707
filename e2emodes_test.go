package main

import (
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

// e2eModes are the policies, by seed modulo their number: two in five
// seeds the default, both ways with deletions propagated, whose checks
// are the strictest (the accounts converge); one each deletions kept,
// deletions to the trash, and a one-way pair.
var e2eModes = []e2eMode{
	{"both, propagate", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}},
	{"both, propagate", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}},
	{"both, keep", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Keep}},
	{"both, trash", reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Trash}},
	{"a-to-b, propagate", reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Propagate}},
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
			if !removed && !(deleted && r.acted[s][id] == nil) {
				continue
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
			t.Errorf("%s: %s left %s in %q, now gone from %s though deletions are not propagated; %s", mode.name, sideName[s], id, model[s].msgs[id].folder, sideName[s], where)
		}
	}
}

// e2eOneWay checks an a-to-b round: a is as its user left it; what a's
// user alone did reaches b, except where b's user has acted on the
// message or its folder in any round (what b does on its own stays and
// is remembered); what b's user did stays; nothing b holds is lost but
// what a's user removed, or filed into a folder b's user deleted or
// renamed away (its copy on b then gets the deletion policy, as in a
// pair both ways). bActed and bFolders are the messages and folders b's
// user ever acted on, this round's included; deleted are the folders a
// user ever deleted, and what they were renamed to on the side alone
// that kept them (runEndToEnd's everDeleted).
func e2eOneWay(t *testing.T, before, model, after [2]e2eAccount, r *e2eRound, bActed, bFolders, deleted, filed map[string]bool, where string) {
	t.Helper()
	if !maps.Equal(after[0].folders, model[0].folders) {
		t.Errorf("a-to-b: the run changed a's folders: %q, its user left %q; %s", slices.Sorted(maps.Keys(after[0].folders)), slices.Sorted(maps.Keys(model[0].folders)), where)
	}
	for _, id := range slices.Sorted(maps.Keys(model[0].msgs)) {
		if got, ok := after[0].msgs[id]; !ok || got != model[0].msgs[id] {
			t.Errorf("a-to-b: a's user left %s in %q %q, the run made it %s; %s", id, model[0].msgs[id].folder, model[0].msgs[id].flags, e2eWhere(got, ok), where)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(after[0].msgs)) {
		if _, ok := model[0].msgs[id]; !ok {
			t.Errorf("a-to-b: the run put %s into a's %q; %s", id, after[0].msgs[id].folder, where)
		}
	}
	untouched := func(folders ...string) bool {
		for _, f := range folders {
			if f != "" && (r.foldersActed[f] || deleted[f] || e2eUnder(f, bFolders)) {
				return false
			}
		}
		return true
	}
	// What a's user alone did.
	for _, id := range slices.Sorted(maps.Keys(r.acted[0])) {
		want, kept := model[0].msgs[id]
		if r.acted[1][id] != nil || bActed[id] || filed[id] || !untouched(before[0].msgs[id].folder, want.folder) {
			continue
		}
		got, ok := after[1].msgs[id]
		switch {
		case !kept && ok:
			t.Errorf("a-to-b: a expunged %s; b's copy is still in %q; %s", id, got.folder, where)
		case kept && (!ok || got != want):
			t.Errorf("a-to-b: a left %s in %q %q; b's copy is %s; %s", id, want.folder, want.flags, e2eWhere(got, ok), where)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(model[0].folders)) {
		if untouched(f) && !after[1].folders[f] {
			t.Errorf("a-to-b: a has folder %q, b has not; %s", f, where)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(r.foldersActed)) {
		if model[0].folders[f] || !after[1].folders[f] || !(r.gone[0][f] || r.deletedBy[0][f]) || e2eUnder(f, bFolders) {
			continue
		}
		// a renamed it away or deleted it: on b it stays only for
		// b's mail the base does not know, or a folder under it.
		if len(after[1].inFolder(f)) == 0 && !slices.ContainsFunc(slices.Collect(maps.Keys(after[1].folders)), func(c string) bool { return strings.HasPrefix(c, f+"/") }) {
			t.Errorf("a-to-b: a renamed or deleted folder %q; b still has it, empty; %s", f, where)
		}
	}
	// What b's user did stays.
	for _, id := range slices.Sorted(maps.Keys(r.acted[1])) {
		want, kept := model[1].msgs[id]
		if r.acted[0][id] != nil || filed[id] || r.foldersActed[before[1].msgs[id].folder] || kept && r.foldersActed[want.folder] {
			continue
		}
		got, ok := after[1].msgs[id]
		switch {
		case !kept && ok:
			t.Errorf("a-to-b: b expunged %s, which is back in %q; %s", id, got.folder, where)
		case kept && (!ok || got != want):
			t.Errorf("a-to-b: b left %s in %q %q, now %s; %s", id, want.folder, want.flags, e2eWhere(got, ok), where)
		}
	}
	// Nothing lost on b but what a's user removed.
	for _, id := range slices.Sorted(maps.Keys(model[1].msgs)) {
		if _, ok := after[1].msgs[id]; !ok && !r.lost[id] && !filed[id] {
			t.Errorf("a-to-b: b's %s, in %q, is gone, and a's user removed nothing of it; %s", id, model[1].msgs[id].folder, where)
		}
	}
}

// e2eWhere says where a message is, for an error.
func e2eWhere(m e2eMsg, ok bool) string {
	if !ok {
		return "gone"
	}
	return "in " + strings.Join([]string{`"` + m.folder + `"`, `"` + m.flags + `"`}, " ")
}

// e2eUnion returns a set of what is in any of sets.
func e2eUnion(sets ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, s := range sets {
		maps.Copy(out, s)
	}
	return out
}
