package reconcile_test

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

var (
	modelCases  = flag.Int("model.cases", 5000, "number of random cases TestModel runs")
	modelSeed   = flag.Uint64("model.seed", 0, "run only the TestModel case with this seed (as a failure prints it)")
	modelFrom   = flag.Uint64("model.from", 1, "the seed of TestModel's first case: with -model.cases, explore past a known failure")
	modelMirror = flag.Bool("model.mirror", false, "check every plan of TestModel against the plan of the same pair with A and B swapped (mirrorDiff): an exploration aid")
)

// TestModel is a randomised model test of the planner. Each case is two
// model accounts (sim_test.go's account) and a random Policy (directions
// and deletion policies per folder, by rules). In rounds, a simulated
// user works on each side (new mail, mail from a list that reaches both
// sides, a message delivered again, flag changes, expunges, folders
// created and deleted, a server that resets a folder's UIDVALIDITY), then
// the pair is synced: Build, carry the plan out on the models, Next. Some
// syncs go wrong on purpose: some actions fail, the run is cut short
// (with or without saving the state), or the server does not report new
// UIDs. The last sync of a case is always clean.
//
// The invariants, checked against the test's own record of what the users
// did (the model's fields say what each excuse is):
//
// After every sync, clean or not (check):
//   - nothing lost: an identity is on neither side only if the user
//     deleted it on every side that ever held it, or deleted it where the
//     folder's changes flow from that side and the policy is propagate
//     (or trash, in the trash itself);
//   - no duplicates: a folder of a side holds an identity at most as many
//     times as it was delivered;
//   - one-way: in an a-to-b folder A holds only what was delivered to it
//     (b-to-a: B), plus, in the trash, what the trash policy moved there;
//   - the state survives EncodeState and DecodeState unchanged.
//
// After a clean sync (checkClean, checkFaithful, checkChanges):
//   - level-based: a second Build right away plans nothing;
//   - converged: in a two-way folder both sides hold the same multiset of
//     identities with the same flags, except copies that stay on one side
//     by the semantics: the other side deleted them under keep, or
//     deleted the folder, or they reached a side's trash by the trash
//     policy; in a one-way folder the source's messages are on the target
//     unless the target deleted them;
//   - a folder on a side whose changes flow is on the other side too,
//     unless the other side deleted it (or it is the trash, which the
//     planner creates for one side's use);
//   - the state is faithful: every listed folder is in it, every message
//     in exactly one record, every record names a message of its identity
//     with the record's flags;
//   - the changes since the agreed state went where the semantics table
//     says (see checkChanges): flags, deletions, change beats delete,
//     folder deletions, and no deleted folder comes back.
//
// A failure prints the case's seed, its history, the last plan, the
// states and both accounts; rerun it alone with
//
//	go test ./reconcile -run TestModel -model.seed N
//
// and run more cases with -model.cases N (from seed -model.from).
func TestModel(t *testing.T) {
	var fast fastPathCount
	if *modelSeed != 0 {
		runModel(t, *modelSeed, &fast)
		return
	}
	for i := range *modelCases {
		runModel(t, *modelFrom+uint64(i), &fast)
	}
	fast.check(t)
}

// The folders the simulated users work with. "Trash" is also what the
// planner finds (by name) or creates as each side's trash folder.
var modelFolders = []string{"Archive/2024", "Archive/2025", "INBOX", "Lists", "Trash", "Work"}

const trashFolder = "Trash"

var modelFlags = []string{`\Flagged`, `\Seen`, "$label1"}

// How a sync is carried out.
type syncMode int

const (
	syncClean      syncMode = iota // every action done, outcomes reported
	syncFailSome                   // some actions fail (account.failOn)
	syncCutSaved                   // the run stops after k actions; Next and the state saved
	syncCutLost                    // the run stops after k actions, before the state is saved
	syncUIDUnknown                 // all done, but some new UIDs are not reported
)

var syncModeNames = []string{"clean", "some actions fail", "cut short, state saved", "cut short, state not saved", "new UIDs not reported"}

// model is one case: two accounts, the agreed state and the book the test
// keeps of what the users did.
type model struct {
	t    *testing.T
	fast *fastPathCount
	seed uint64
	rng  *rand.Rand
	pol  reconcile.Policy
	acc  [2]*account
	st   reconcile.State
	log  []string
	ids  int

	// events counts the deliveries of each identity; one message from a
	// list that reaches both sides is one delivery.
	events map[reconcile.Identity]int
	// delivered[s][F] holds the identities the user's mail delivered to
	// folder F on side s.
	delivered [2]map[string]map[reconcile.Identity]bool
	// seen[s] holds the identities side s held at some point (after a
	// delivery or a sync).
	seen [2]map[reconcile.Identity]bool
	// userDeleted[s] holds the identities the user deleted on side s
	// (an expunge, or a deleted folder that held it).
	userDeleted [2]map[reconcile.Identity]bool
	// destroyed holds the identities a user's deletion was entitled to
	// remove from the other side too: deleted in a folder whose changes
	// flow from that side, under propagate, or in the trash under trash.
	destroyed map[reconcile.Identity]bool
	// oneSided[s][F] holds the identities that may stay in F on side s
	// without a counterpart in F on the other side: the other side
	// deleted it under keep or where its deletions do not flow; the other
	// side deleted folder F while it was there, or it arrived while the
	// other side's F was deleted; it reached s's trash because the other
	// side deleted it.
	oneSided [2]map[string]map[reconcile.Identity]bool
	// folderDeleted[s] holds the folders the user deleted on side s, and
	// those side s never had that the planner reads as the other side's
	// one-sided folder renamed (see bookReadAsRenames).
	folderDeleted [2]map[string]bool
	// gone[s] holds the folders the user deleted on side s, where the
	// state knew them, and no user created again since, on either side.
	gone [2]map[string]bool
	// touched[s] holds the folders in which the user changed flags on
	// side s since the last clean sync, or where a message arrived again
	// (same identity: to the planner, the old message under a new UID,
	// and maybe with other flags).
	touched [2]map[string]bool
	// deletedNow[s] holds the folders the user deleted on side s since
	// the last clean sync.
	deletedNow [2]map[string]bool
	// expunged[s][F] holds what the user expunged from F on side s since
	// the last clean sync.
	expunged [2]map[string]map[reconcile.Identity]bool
}

func runModel(t *testing.T, seed uint64, fast *fastPathCount) {
	t.Helper()
	m := &model{
		t:      t,
		fast:   fast,
		seed:   seed,
		rng:    rand.New(rand.NewPCG(seed, 0x6d61696c7477696e)),
		acc:    [2]*account{newAccount(), newAccount()},
		events: map[reconcile.Identity]int{},
	}
	for s := range 2 {
		m.delivered[s] = map[string]map[reconcile.Identity]bool{}
		m.userDeleted[s] = map[reconcile.Identity]bool{}
		m.seen[s] = map[reconcile.Identity]bool{}
		m.oneSided[s] = map[string]map[reconcile.Identity]bool{}
		m.folderDeleted[s] = map[string]bool{}
		m.gone[s] = map[string]bool{}
		m.deletedNow[s] = map[string]bool{}
		m.touched[s] = map[string]bool{}
		m.expunged[s] = map[string]map[reconcile.Identity]bool{}
	}
	m.destroyed = map[reconcile.Identity]bool{}
	m.pol = randomModelPolicy(m.rng)
	m.logf("policy: %s", modelPolicyString(m.pol))
	rounds := 3 + m.rng.IntN(10)
	for round := range rounds {
		for s := range 2 {
			for range m.rng.IntN(5) {
				m.userOp(reconcile.Side(s))
			}
		}
		mode := syncClean
		if round < rounds-1 && m.rng.IntN(10) < 3 {
			mode = syncMode(1 + m.rng.IntN(4))
		}
		m.sync(mode)
		if m.t.Failed() {
			return
		}
	}
}

func randomModelPolicy(r *rand.Rand) reconcile.Policy {
	dirs := []reconcile.Direction{reconcile.Both, reconcile.Both, reconcile.Both, reconcile.AToB, reconcile.BToA, reconcile.None}
	fp := func(dirs []reconcile.Direction) reconcile.FolderPolicy {
		return reconcile.FolderPolicy{
			Direction: dirs[r.IntN(len(dirs))],
			Deletion:  reconcile.Deletion(r.IntN(3)),
		}
	}
	p := reconcile.Policy{Force: true, MaxDeletes: reconcile.DefaultMaxDeletes}
	p.Default = fp(dirs[:5]) // the default is never none: nothing would happen
	patterns := []string{"Work", "Lists", "Archive/**", "Archive/*", "Trash", "inbox", "*s*"}
	for range r.IntN(4) {
		p.Rules = append(p.Rules, reconcile.Rule{Pattern: patterns[r.IntN(len(patterns))], FolderPolicy: fp(dirs)})
	}
	return p
}

func modelPolicyString(p reconcile.Policy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "default %s %s", p.Default.Direction, p.Default.Deletion)
	for _, r := range p.Rules {
		fmt.Fprintf(&b, "; rule %s %s %s", r.Pattern, r.Direction, r.Deletion)
	}
	return b.String()
}

func (m *model) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf(format, args...))
}

func (m *model) newID() reconcile.Identity {
	m.ids++
	return reconcile.Identity(fmt.Sprintf("x:%d", m.ids))
}

func (m *model) randomFlags() reconcile.Flags {
	var fl []string
	for _, f := range modelFlags {
		if m.rng.IntN(3) == 0 {
			fl = append(fl, f)
		}
	}
	return reconcile.NewFlags(fl...)
}

// folders returns the folders of side s, sorted (map order is random and
// the case must be deterministic).
func (m *model) folders(s reconcile.Side) []string {
	return slices.Sorted(maps.Keys(m.acc[s].folders))
}

func pickOne[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func markID(set map[string]map[reconcile.Identity]bool, folder string, id reconcile.Identity) {
	if set[folder] == nil {
		set[folder] = map[reconcile.Identity]bool{}
	}
	set[folder][id] = true
}

// userOp does one random thing a user (or a mail server) does on side s.
func (m *model) userOp(s reconcile.Side) {
	acc, o := m.acc[s], s.Other()
	switch x := m.rng.IntN(100); {
	case x < 33: // new mail
		m.deliver(s, pickOne(m.rng, m.folders(s)), m.newID())
	case x < 40: // a list message that reaches both sides, in one folder
		var both []string
		for _, f := range m.folders(s) {
			if m.acc[o].folders[f] != nil {
				both = append(both, f)
			}
		}
		f := pickOne(m.rng, both) // INBOX at least
		id := m.newID()
		touched := m.touched[o][f]
		m.deliver(s, f, id)
		m.deliver(o, f, id)
		m.events[id]-- // one delivery, two copies
		m.touched[o][f] = touched
	case x < 43: // an old message delivered again
		if m.ids > 0 {
			m.deliver(s, pickOne(m.rng, m.folders(s)), reconcile.Identity(fmt.Sprintf("x:%d", 1+m.rng.IntN(m.ids))))
		}
	case x < 70: // a flag toggled
		f := pickOne(m.rng, m.folders(s))
		mb := acc.folders[f]
		if len(mb.msgs) == 0 {
			return
		}
		msg := &mb.msgs[m.rng.IntN(len(mb.msgs))]
		fl := pickOne(m.rng, modelFlags)
		m.touched[s][f] = true
		if msg.Flags.Has(fl) {
			var keep []string
			for _, g := range msg.Flags {
				if g != fl {
					keep = append(keep, g)
				}
			}
			msg.Flags = reconcile.NewFlags(keep...)
			m.logf("%s: %s uid %d %s -%s", s, f, msg.UID, msg.ID, fl)
		} else {
			msg.Flags = reconcile.NewFlags(append(slices.Clone(msg.Flags), fl)...)
			m.logf("%s: %s uid %d %s +%s", s, f, msg.UID, msg.ID, fl)
		}
	case x < 85: // a message expunged
		f := pickOne(m.rng, m.folders(s))
		mb := acc.folders[f]
		if len(mb.msgs) == 0 {
			return
		}
		i := m.rng.IntN(len(mb.msgs))
		msg := mb.msgs[i]
		mb.msgs = slices.Delete(mb.msgs, i, i+1)
		m.logf("%s: %s uid %d %s expunged", s, f, msg.UID, msg.ID)
		m.userDelete(s, f, msg.ID)
		markID(m.expunged[s], f, msg.ID)
	case x < 92: // a folder created
		var missing []string
		for _, f := range modelFolders {
			if acc.folders[f] == nil {
				missing = append(missing, f)
			}
		}
		if len(missing) == 0 {
			return
		}
		f := pickOne(m.rng, missing)
		acc.create(f)
		m.gone[reconcile.A][f], m.gone[reconcile.B][f] = false, false
		m.logf("%s: folder %s created", s, f)
	case x < 97: // a folder deleted, with what it holds
		var names []string
		for _, f := range m.folders(s) {
			if f != "INBOX" {
				names = append(names, f)
			}
		}
		if len(names) == 0 {
			return
		}
		f := pickOne(m.rng, names)
		m.logf("%s: folder %s deleted", s, f)
		for _, msg := range acc.folders[f].msgs {
			m.userDelete(s, f, msg.ID)
		}
		delete(acc.folders, f)
		m.folderDeleted[s][f] = true
		m.deletedNow[s][f] = true
		// The planner can tell only if the state knew the folder there.
		fs := m.st.Folder(f)
		m.gone[s][f] = fs != nil && fs.Side(s).Mailbox != ""
		if mb := m.acc[o].folders[f]; mb != nil {
			for _, msg := range mb.msgs {
				markID(m.oneSided[o], f, msg.ID)
			}
		}
	default: // the server resets a folder: new UIDVALIDITY, new UIDs
		f := pickOne(m.rng, m.folders(s))
		mb := acc.folders[f]
		acc.nextUV++
		mb.uv = acc.nextUV
		for i := range mb.msgs {
			mb.msgs[i].UID = reconcile.UID(i + 1)
		}
		mb.uidNext = reconcile.UID(len(mb.msgs) + 1)
		m.logf("%s: folder %s reset to uidvalidity %d", s, f, mb.uv)
	}
}

func (m *model) deliver(s reconcile.Side, folder string, id reconcile.Identity) {
	fl := m.randomFlags()
	u := m.acc[s].deliver(folder, id, fl)
	if m.events[id] > 0 {
		m.touched[s][folder] = true
	}
	m.events[id]++
	m.seen[s][id] = true
	markID(m.delivered[s], folder, id)
	// Mail arriving in a folder the other side deleted stays on this side;
	// so does mail arriving in a trash folder the other side lacks (the
	// planner creates a side's trash for that side's use only).
	if o := s.Other(); m.acc[o].folders[folder] == nil && (m.folderDeleted[o][folder] || folder == trashFolder) {
		markID(m.oneSided[s], folder, id)
	}
	m.logf("%s: deliver %s to %s uid %d flags %s", s, id, folder, u, fl)
}

// userDelete books the user's deletion of a copy of id from folder on s.
func (m *model) userDelete(s reconcile.Side, folder string, id reconcile.Identity) {
	o := s.Other()
	m.userDeleted[s][id] = true
	fp := m.pol.For(folder)
	if fp.Direction == reconcile.None {
		return
	}
	if fp.Direction.Flows(s) && (fp.Deletion == reconcile.Propagate || fp.Deletion == reconcile.Trash && folder == trashFolder) {
		m.destroyed[id] = true
	}
	if fp.Deletion == reconcile.Keep || !fp.Direction.Flows(s) {
		markID(m.oneSided[o], folder, id)
	}
	// Under trash the other side's copy goes to its trash, and stays there
	// on that side only.
	markID(m.oneSided[o], trashFolder, id)
}

// bookReadAsMoves books, before a sync, what the planner takes for moves
// where the model delivered a message again (it has no moves of its
// own): side s's user expunged a copy from folder X while s holds a
// message of the same identity in another folder F.
//
//   - The state had the copy in X on s only (keptMoves): the message stays
//     on s only in F, as the record did in X. (In a one-way X, only where
//     F is one way too: see keepMovedAlone.)
//   - The state had it in X on both sides, and the other side lacks F: s's
//     user filed it away into F (heldAway), and the other side's copy in
//     X stays there, on that side only, also where its flags changed. So
//     too where the other side has F again but the state has s's copy
//     there Away (filedAlone): to the planner, filed there while the
//     other side lacked F, by a run whose deletion policy action then
//     failed. It cannot tell that from a message delivered again into F
//     while the other side lacked it (seed 1151294: x:3 delivered into
//     b's Work, which a had deleted and then made again, and b's user
//     then expunged b's INBOX copy while a's user flagged a's).
func (m *model) bookReadAsMoves(base reconcile.State, atUID [2]map[*reconcile.Record]bool) {
	for s := range 2 {
		side, o := reconcile.Side(s), 1-s
		for fi := range base.Folders {
			fs := &base.Folders[fi]
			dir := m.pol.For(fs.Name).Direction
			if fs.Name == trashFolder || !dir.Flows(side) {
				continue
			}
			for i := range fs.Records {
				r := &fs.Records[i]
				if r.ID == "" || r.UID(side) == 0 || r.Away || m.events[r.ID] < 2 {
					continue
				}
				// Still there: at its UID, or a copy of its identity
				// in the folder that no other record has at its UID
				// (seed 380575: the user expunged the copy, and the
				// folder holds another, recorded).
				others := 0
				for j := range fs.Records {
					if j != i && fs.Records[j].ID == r.ID && atUID[s][&fs.Records[j]] {
						others++
					}
				}
				if atUID[s][r] || len(m.copies(side, fs.Name)[r.ID]) > others {
					continue
				}
				if r.UID(side.Other()) != 0 {
					for f, to := range m.acc[s].folders {
						if f != fs.Name && (m.acc[o].folders[f] == nil || awayOnly(base.Folder(f), side, r.ID)) && slices.ContainsFunc(to.msgs, func(x reconcile.Message) bool { return x.ID == r.ID }) {
							markID(m.oneSided[o], fs.Name, r.ID)
						}
					}
					continue
				}
				for _, f := range modelFolders {
					to := m.acc[s].folders[f]
					if f == fs.Name || to == nil || dir != reconcile.Both && m.pol.For(f).Direction.Flows(side.Other()) {
						continue
					}
					if len(m.copies(side, f)[r.ID]) > 0 && !knowsID(base.Folder(f), r.ID) {
						markID(m.oneSided[s], f, r.ID)
					}
				}
			}
		}
	}
}

// bookHeldAloneOnEachSide books, before a sync, what the planner reads as
// a one-way target's user having moved the target's copy away: side s
// held a message alone (a record on s only) and its user moved it out of
// that folder, while the other side holds the same identity alone in
// another folder. A folder F on s whose changes flow to o but not back
// then gives o no copy of it: o holds its own, where its user put it
// (planner.keptAloneElsewhere). The planner cannot tell this from two
// deliveries of one message, one on each side, that the state never
// paired (seed 676397: b's own x:6, in a folder a lacked, moved into b's
// Trash, which is b-to-a, while a holds a copy of its own in Lists).
func (m *model) bookHeldAloneOnEachSide(base reconcile.State, atUID [2]map[*reconcile.Record]bool) {
	// movedAlone[s] holds the identities of records on s only that are
	// gone from their UID there; aloneIn[s][id] the folders whose base
	// records id on s only and that still hold it on s.
	var movedAlone [2]map[reconcile.Identity]bool
	var aloneIn [2]map[reconcile.Identity][]string
	for s := range 2 {
		side := reconcile.Side(s)
		movedAlone[s], aloneIn[s] = map[reconcile.Identity]bool{}, map[reconcile.Identity][]string{}
		for i := range base.Folders {
			fs := &base.Folders[i]
			if m.pol.For(fs.Name).Direction == reconcile.None {
				continue
			}
			for j := range fs.Records {
				r := &fs.Records[j]
				if r.ID == "" || r.UID(side) == 0 || r.UID(side.Other()) != 0 {
					continue
				}
				if !atUID[s][r] {
					movedAlone[s][r.ID] = true
				}
				if fs.Name != trashFolder && len(m.copies(side, fs.Name)[r.ID]) > 0 {
					aloneIn[s][r.ID] = append(aloneIn[s][r.ID], fs.Name)
				}
			}
		}
	}
	for s := range 2 {
		side, o := reconcile.Side(s), 1-s
		for id := range movedAlone[s] {
			for _, f := range modelFolders {
				dir := m.pol.For(f).Direction
				if !dir.Flows(side) || dir.Flows(side.Other()) || len(m.copies(side, f)[id]) == 0 || knowsID(base.Folder(f), id) {
					continue
				}
				if slices.ContainsFunc(aloneIn[o][id], func(g string) bool { return g != f }) {
					markID(m.oneSided[s], f, id)
				}
			}
		}
	}
}

// bookTrashedOnBothSides books, before a sync, what the planner reads as
// a message both users deleted, one of them into the trash: the state
// had it in a folder on both sides, it is gone from there on both, and
// side s holds its identity in the trash, where the state does not know
// it. Where the pair's policy uses the trash, that copy stays in s's
// trash, on s only (planner.trashedOn), not copied into the other side's
// trash. The planner cannot tell it from a message delivered again into
// s's trash after a run, cut short before it saved its state, had
// followed s's deletion onto the other side (seed 1084862: b's user
// expunged x:13 from INBOX, such a run expunged a's copy, and x:13 then
// arrived in b's Trash).
func (m *model) bookTrashedOnBothSides(base reconcile.State, atUID [2]map[*reconcile.Record]bool) {
	usesTrash := m.pol.Default.Deletion == reconcile.Trash ||
		slices.ContainsFunc(m.pol.Rules, func(r reconcile.Rule) bool { return r.Deletion == reconcile.Trash })
	if !usesTrash {
		return
	}
	for i := range base.Folders {
		fs := &base.Folders[i]
		for j := range fs.Records {
			r := &fs.Records[j]
			if r.ID == "" || r.UIDA == 0 || r.UIDB == 0 || atUID[reconcile.A][r] || atUID[reconcile.B][r] {
				continue
			}
			for s := range 2 {
				side := reconcile.Side(s)
				if len(m.copies(side, trashFolder)[r.ID]) > 0 && !knowsID(base.Folder(trashFolder), r.ID) {
					markID(m.oneSided[s], trashFolder, r.ID)
				}
			}
		}
	}
}

// bookBackAfterReset books, before a sync, a message the source side of
// a one-way folder holds again (delivered again after its copy there was
// deleted) where the source's server reset that folder since the state
// was saved, and the target's copy is gone. Every UID is new after a
// reset, so the planner cannot tell the copy from the one the state
// records, and reads the target's missing copy as its user's deletion,
// which a one-way pair does not revert: the copy stays on the source.
// (Without the reset, it sees the copy back under a new UID and copies
// it.) Seed 1617640: b expunged x:1, a run cut short before it saved its
// state expunged a's copy to follow, x:1 arrived on b again, and b's
// INBOX was reset.
func (m *model) bookBackAfterReset(base reconcile.State, atUID [2]map[*reconcile.Record]bool) {
	for i := range base.Folders {
		fs := &base.Folders[i]
		src, oneWay := sourceSide(m.pol.For(fs.Name).Direction)
		if !oneWay {
			continue
		}
		tgt := src.Other()
		mb := m.acc[src].folders[fs.Name]
		if mb == nil || mb.uv == fs.Side(src).UIDValidity {
			continue
		}
		for j := range fs.Records {
			r := &fs.Records[j]
			if r.ID != "" && r.UID(src) != 0 && r.UID(tgt) != 0 && !atUID[tgt][r] && m.events[r.ID] > 1 && len(m.copies(src, fs.Name)[r.ID]) > 0 {
				markID(m.oneSided[src], fs.Name, r.ID)
			}
		}
	}
}

// bookReadAsRenames books, before a sync, what the planner takes for a
// folder renamed where the model deleted one folder and delivered some of
// its mail again into another (it has no renames of its own): side s's
// user deleted folder X, which the state knew on s, and s holds a folder
// F the state does not know, and the other side lacks, with more than
// half of X's messages on s, by identity (findRenames' evidence), and X
// is not the trash, which is renamed only as the very mailbox (seeds
// 101970 and 927828, testdata case 162). The planner reads F as X
// renamed:
//
//   - X was on s only: F stays on s only, as X was;
//   - X was on both sides: the other side's X is renamed to F with what
//     it holds, not kept or deleted as a folder s's user deleted (seed
//     311904: b deleted Archive/2024 and delivered its one message into
//     Work; a's Archive/2024 became Work), and what the other side's
//     user deleted from X is deleted: under keep, s's copy in F stays on
//     s only.
func (m *model) bookReadAsRenames(base reconcile.State) {
	for s := range 2 {
		side, o := reconcile.Side(s), 1-s
		for _, x := range base.Folders {
			if x.Side(side).Mailbox == "" || m.acc[s].folders[x.Name] != nil ||
				x.Name == "INBOX" || x.Name == trashFolder || m.pol.For(x.Name).Direction == reconcile.None {
				continue
			}
			for _, f := range modelFolders {
				if f == "INBOX" || f == trashFolder || m.acc[s].folders[f] == nil || m.acc[o].folders[f] != nil ||
					!m.pol.For(f).Direction.Flows(side) || base.Folder(f) != nil && base.Folder(f).Side(side).Mailbox != "" {
					continue
				}
				held := map[reconcile.Identity]int{}
				for _, msg := range m.acc[s].folders[f].msgs {
					held[msg.ID]++
				}
				total, found := 0, 0
				for _, r := range x.Records {
					if r.UID(side) == 0 {
						continue
					}
					total++
					if r.ID != "" && held[r.ID] > 0 {
						held[r.ID]--
						found++
					}
				}
				if total == 0 || 2*found <= total {
					continue
				}
				if x.Side(side.Other()).Mailbox == "" {
					m.folderDeleted[o][f] = true
				} else {
					m.deletedNow[s][x.Name] = false
					// A rename keeps the records as they are: what
					// the state had on one side only stays so under
					// the new name, on either side (seed 2878231: X
					// one way, a-to-b, with b's own mail on b only,
					// and F both ways).
					// And a message of X the other side's user deleted
					// is deleted there, where the deletion policy keeps
					// s's copy: s's copy in F stays on s only (seed
					// 3931239: a expunged x:1 from Archive/2024, b
					// deleted it and delivered x:1 into Lists).
					ox := m.acc[o].folders[x.Name]
					for _, r := range x.Records {
						switch {
						case r.ID == "":
						case r.UID(side) != 0 && r.UID(side.Other()) == 0:
							markID(m.oneSided[s], f, r.ID)
						case r.UID(side) == 0 && r.UID(side.Other()) != 0:
							markID(m.oneSided[o], f, r.ID)
						case ox != nil && !slices.ContainsFunc(ox.msgs, func(msg reconcile.Message) bool { return msg.ID == r.ID }) &&
							m.pol.For(f).Deletion == reconcile.Keep:
							markID(m.oneSided[s], f, r.ID)
						}
					}
				}
			}
		}
	}
}

// atRecordUIDs returns, per side, the records of state base whose copy
// on that side is still at the record's UID, under the UIDVALIDITY the
// state has, with the record's identity.
func (m *model) atRecordUIDs(base reconcile.State) [2]map[*reconcile.Record]bool {
	var at [2]map[*reconcile.Record]bool
	for s := range 2 {
		side := reconcile.Side(s)
		at[s] = map[*reconcile.Record]bool{}
		for i := range base.Folders {
			fs := &base.Folders[i]
			mb := m.acc[s].folders[fs.Name]
			if mb == nil || mb.uv != fs.Side(side).UIDValidity {
				continue
			}
			claimed := map[reconcile.UID]bool{}
			for j := range fs.Records {
				r := &fs.Records[j]
				if k := mb.find(r.UID(side)); r.UID(side) != 0 && k >= 0 && mb.msgs[k].ID == r.ID {
					at[s][r] = true
					claimed[r.UID(side)] = true
				}
			}
			// A record at a UID the state does not know (UnknownUID) is
			// at a copy with its identity no other record is at: the
			// planner pairs it so, one with the record's flags first.
			for pass := range 2 {
				for j := range fs.Records {
					r := &fs.Records[j]
					if r.UID(side) != reconcile.UnknownUID || at[s][r] {
						continue
					}
					for _, msg := range mb.msgs {
						if msg.ID == r.ID && !claimed[msg.UID] && (pass == 1 || msg.Flags.Equal(r.Flags)) {
							at[s][r] = true
							claimed[msg.UID] = true
							break
						}
					}
				}
			}
		}
	}
	return at
}

// awayOnly reports whether folder state fs has a record of identity id
// on side s only, marked Away.
func awayOnly(fs *reconcile.FolderState, s reconcile.Side, id reconcile.Identity) bool {
	if fs == nil {
		return false
	}
	return slices.ContainsFunc(fs.Records, func(r reconcile.Record) bool {
		return r.ID == id && r.Away && r.UID(s) != 0 && r.UID(s.Other()) == 0
	})
}

// knowsID reports whether folder state fs has a record of identity id.
func knowsID(fs *reconcile.FolderState, id reconcile.Identity) bool {
	if fs == nil {
		return false
	}
	for _, r := range fs.Records {
		if r.ID == id {
			return true
		}
	}
	return false
}

// sync runs the planner on the pair and carries its plan out.
func (m *model) sync(mode syncMode) {
	base := m.st
	var pre [2]map[string]map[reconcile.Identity][]string
	var preUV [2]map[string]uint32
	for s := range 2 {
		pre[s] = map[string]map[reconcile.Identity][]string{}
		preUV[s] = map[string]uint32{}
		for _, f := range modelFolders {
			pre[s][f] = m.copies(reconcile.Side(s), f)
			if mb := m.acc[s].folders[f]; mb != nil {
				preUV[s][f] = mb.uv
			}
		}
	}
	atUID := m.atRecordUIDs(base)
	for s := range 2 {
		if e := m.acc[s].scanPointError(base, reconcile.Side(s)); e != "" {
			m.fail(base, nil, "a scan point of the state would read a folder wrong:\n  %s", e)
			return
		}
	}
	m.bookReadAsMoves(base, atUID)
	m.bookHeldAloneOnEachSide(base, atUID)
	m.bookTrashedOnBothSides(base, atUID)
	m.bookBackAfterReset(base, atUID)
	m.bookReadAsRenames(base)
	la, lb := m.acc[reconcile.A].listing(), m.acc[reconcile.B].listing()
	plan, err := reconcile.Build("p", base, la, lb, m.pol)
	if err != nil {
		m.fail(base, plan, "Build: %v", err)
		return
	}
	if *modelMirror {
		if d := mirrorDiff(plan, base, la, lb, m.pol); d != "" {
			m.fail(base, plan, "%s", d)
			return
		}
	}
	m.logf("sync (%s): %s", syncModeNames[mode], strings.TrimSuffix(plan.String(), "\n"))
	// Which actions fail, and where the run stops.
	fail := map[int]bool{}
	stop := len(plan.Actions)
	switch mode {
	case syncFailSome:
		for i := range plan.Actions {
			if m.rng.IntN(3) == 0 {
				fail[i] = true
				m.logf("  action %d fails", i)
			}
		}
	case syncCutSaved, syncCutLost:
		stop = m.rng.IntN(len(plan.Actions) + 1)
		m.logf("  stops after %d actions", stop)
	}
	var out []reconcile.Outcome
	for i := range stop {
		a := &plan.Actions[i]
		acc := m.acc[a.Side]
		// The planner deletes a folder only once nothing is left in it.
		// When an action that was to empty it failed, the folder is not
		// empty, and deleting it would take the messages with it
		// (IMAP DELETE does): the store must refuse, and the folder
		// stays for the next run. A clean run never gets here.
		if mb := acc.folders[a.Mailbox]; a.Op == reconcile.DeleteFolder && mb != nil && len(mb.msgs) > 0 && !fail[i] {
			if mode == syncClean {
				m.fail(base, plan, "action %d (%s): the folder still holds %d messages", i, a.String(), len(mb.msgs))
				return
			}
			m.logf("  action %d refused: the folder is not empty", i)
			out = append(out, reconcile.Outcome{Err: fmt.Errorf("folder not empty")})
			continue
		}
		if fail[i] {
			acc.failOn = func(*reconcile.Action) bool { return true }
		}
		o := acc.apply(a, m.acc[a.Side.Other()])
		acc.failOn = nil
		// When the state is not saved, the next run cannot tell what
		// this run did from what the users did: flags it stored or
		// copied with are changes made on that side (they may beat a
		// deletion), and a folder it deleted is a folder the user
		// deleted (if the other side creates it again, that stays the
		// other side's only; an open question).
		if mode == syncCutLost && (a.Op == reconcile.Store || a.Op == reconcile.Copy) && o.Err == nil {
			m.touched[a.Side][a.Mailbox] = true
		}
		// A message it moved to a side's trash is one that side's user
		// deleted, to the next run: the other side's copy may go to its
		// trash too (seed 322756).
		if mode == syncCutLost && a.Op == reconcile.Move && a.Reason == reconcile.ReasonTrash && o.Err == nil {
			markID(m.oneSided[a.Side.Other()], trashFolder, a.ID)
		}
		if mode == syncCutLost && a.Op == reconcile.DeleteFolder && o.Err == nil {
			m.folderDeleted[a.Side][a.Mailbox] = true
			if mb := m.acc[a.Side.Other()].folders[a.Mailbox]; mb != nil {
				for _, msg := range mb.msgs {
					markID(m.oneSided[a.Side.Other()], a.Mailbox, msg.ID)
				}
			}
		}
		if mode == syncUIDUnknown && (a.Op == reconcile.Copy || a.Op == reconcile.Move) && m.rng.IntN(2) == 0 {
			o.UID = 0
			m.logf("  action %d: new uid not reported", i)
		}
		if o.Err != nil && mode == syncClean {
			m.fail(base, plan, "action %d (%s) failed in a clean run: %v", i, a.String(), o.Err)
			return
		}
		out = append(out, o)
	}
	if err := m.fast.compare("p", base, la, lb, m.pol, out); err != nil {
		m.fail(base, plan, "%v", err)
		return
	}
	if mode != syncCutLost {
		m.st = reconcile.Next(plan, out)
		m.touchHalfStored(base, plan, out)
	}
	m.check(base, plan)
	if mode == syncClean && !m.t.Failed() {
		m.checkClean(base, plan)
	}
	if mode == syncClean && !m.t.Failed() {
		m.checkChanges(base, plan, pre, preUV, atUID)
		for s := range 2 {
			clear(m.expunged[s])
			clear(m.touched[s])
			clear(m.deletedNow[s])
		}
	}
}

// touchHalfStored notes, for a pairing the run made (one identity new
// in a folder on both sides, which the base has no record of there)
// whose flag Store failed or was not run, the sides whose flags are a
// change to the next run: Next keeps the pairing with the flags of the
// side whose Store failed (one of two) or with the flags the merge
// started from (both, or one way), so the next run sees a side whose
// copy has other flags as changed, and they may beat a deletion.
func (m *model) touchHalfStored(base reconcile.State, plan *reconcile.Plan, out []reconcile.Outcome) {
	type key struct {
		mailbox string
		id      reconcile.Identity
	}
	missed := map[key]bool{}
	for i := range plan.Actions {
		a := &plan.Actions[i]
		if a.Op == reconcile.Store && (i >= len(out) || out[i].Err != nil) {
			missed[key{a.Mailbox, a.ID}] = true
		}
	}
	for k := range missed {
		if fs := base.Folder(k.mailbox); fs != nil && slices.ContainsFunc(fs.Records, func(r reconcile.Record) bool { return r.ID == k.id }) {
			continue
		}
		fs := m.st.Folder(k.mailbox)
		if fs == nil {
			continue
		}
		at := slices.IndexFunc(fs.Records, func(r reconcile.Record) bool { return r.ID == k.id })
		if at < 0 {
			continue
		}
		for s := range 2 {
			mb := m.acc[s].folders[k.mailbox]
			if mb == nil {
				continue
			}
			for _, msg := range mb.msgs {
				if msg.ID == k.id && !msg.Flags.Equal(fs.Records[at].Flags) {
					m.touched[s][k.mailbox] = true
				}
			}
		}
	}
}

// fail reports a broken invariant with everything needed to understand it.
func (m *model) fail(base reconcile.State, plan *reconcile.Plan, format string, args ...any) {
	m.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "model case seed %d (rerun: go test ./reconcile -run TestModel -model.seed %d):\n", m.seed, m.seed)
	fmt.Fprintf(&b, "%s\n", fmt.Sprintf(format, args...))
	b.WriteString("\nhistory:\n")
	for _, l := range m.log {
		b.WriteString("  " + strings.ReplaceAll(l, "\n", "\n  ") + "\n")
	}
	fmt.Fprintf(&b, "\nbase state of the last sync:\n%s", indentBlock(formatState(base)))
	if plan != nil {
		fmt.Fprintf(&b, "\nlast plan:\n%s", indentBlock(plan.String()))
	}
	fmt.Fprintf(&b, "\nstate now:\n%s", indentBlock(formatState(m.st)))
	for s := range 2 {
		fmt.Fprintf(&b, "\naccount %s now:\n%s", reconcile.Side(s), indentBlock(formatModelAccount(m.acc[s])))
	}
	m.t.Fatal(b.String())
}

func indentBlock(s string) string {
	if s == "" {
		return "  (empty)\n"
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

// formatModelAccount renders an account in parseListing's syntax.
func formatModelAccount(acc *account) string {
	var b strings.Builder
	for _, f := range acc.listing().Folders {
		fmt.Fprintf(&b, "folder %s uv=%d\n", f.Mailbox, f.UIDValidity)
		for _, msg := range f.Messages {
			fmt.Fprintf(&b, "%d %s %s\n", msg.UID, msg.Flags, msg.ID)
		}
	}
	return b.String()
}

// copies returns the flags of each copy of each identity in folder on
// side s, sorted; nil when the folder does not exist there.
func (m *model) copies(s reconcile.Side, folder string) map[reconcile.Identity][]string {
	mb := m.acc[s].folders[folder]
	if mb == nil {
		return nil
	}
	out := map[reconcile.Identity][]string{}
	for _, msg := range mb.msgs {
		out[msg.ID] = append(out[msg.ID], msg.Flags.String())
	}
	for _, fl := range out {
		slices.Sort(fl)
	}
	return out
}

// check tests the invariants that hold after any sync, even one that
// went wrong: a crash or a failed action must lose nothing, duplicate
// nothing and carry nothing against the direction.
func (m *model) check(base reconcile.State, plan *reconcile.Plan) {
	m.t.Helper()
	// Nothing lost: an identity is gone from both sides only when the user
	// deleted it on every side that ever held it, or deleted it where the
	// deletion policy lets the deletion take the other side's copy too.
	exists := map[reconcile.Identity]bool{}
	for s := range 2 {
		for _, mb := range m.acc[s].folders {
			for _, msg := range mb.msgs {
				exists[msg.ID] = true
				m.seen[s][msg.ID] = true
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.events)) {
		if exists[id] || m.destroyed[id] ||
			(!m.seen[reconcile.A][id] || m.userDeleted[reconcile.A][id]) && (!m.seen[reconcile.B][id] || m.userDeleted[reconcile.B][id]) {
			continue
		}
		m.fail(base, plan, "lost: %s is on neither side, but the user deleted it on %s only, under a policy that does not take the other side's copy",
			id, deletedOn(m.userDeleted, id))
		return
	}
	// No duplicates: a folder on a side holds an identity where most as many
	// times as it was delivered.
	for s := range 2 {
		side := reconcile.Side(s)
		for _, f := range m.folders(side) {
			for id, fl := range m.copies(side, f) {
				if len(fl) > m.events[id] {
					m.fail(base, plan, "duplicate: %s holds %s %d times, delivered %d times", at(side, f), id, len(fl), m.events[id])
					return
				}
			}
		}
	}
	// One-way: the target's own mail stays on the target. The source's
	// folder only ever holds what was delivered to it (or, in its trash,
	// what the trash policy moved there).
	for _, f := range modelFolders {
		src, ok := sourceSide(m.pol.For(f).Direction)
		if !ok {
			continue
		}
		for id := range m.copies(src, f) {
			if !m.delivered[src][f][id] && !(f == trashFolder && m.oneSided[src][f][id]) {
				m.fail(base, plan, "direction: %s holds %s, which was never delivered there; under %s nothing flows to %s",
					at(src, f), id, m.pol.For(f).Direction, src)
				return
			}
		}
	}
	// The state survives its file format.
	files := reconcile.EncodeState(m.st)
	back, err := reconcile.DecodeState("p", files)
	if err != nil {
		m.fail(base, plan, "state does not decode: %v", err)
		return
	}
	if !reflect.DeepEqual(normState(back), normState(m.st)) {
		m.fail(base, plan, "state does not survive EncodeState/DecodeState; decoded:\n%s", formatState(back))
	}
}

// sourceSide returns the side whose changes flow under a one-way direction.
func sourceSide(d reconcile.Direction) (reconcile.Side, bool) {
	switch d {
	case reconcile.AToB:
		return reconcile.A, true
	case reconcile.BToA:
		return reconcile.B, true
	}
	return 0, false
}

func at(s reconcile.Side, folder string) string { return fmt.Sprintf("%s:%q", s, folder) }

func deletedOn(del [2]map[reconcile.Identity]bool, id reconcile.Identity) string {
	var on []string
	for s := range 2 {
		if del[s][id] {
			on = append(on, reconcile.Side(s).String())
		}
	}
	if len(on) == 0 {
		return "no side"
	}
	return strings.Join(on, " and ")
}

// normState makes nil and empty record lists compare equal.
func normState(st reconcile.State) reconcile.State {
	out := reconcile.State{Folders: slices.Clone(st.Folders)}
	for i := range out.Folders {
		rs := out.Folders[i].Records
		if len(rs) == 0 {
			rs = nil
		}
		out.Folders[i].Records = rs
		for j := range rs {
			if len(rs[j].Flags) == 0 {
				rs[j].Flags = nil
			}
		}
	}
	return out
}

// checkClean tests what a sync in which everything went right must
// achieve.
func (m *model) checkClean(base reconcile.State, plan *reconcile.Plan) {
	m.t.Helper()
	A, B := reconcile.A, reconcile.B

	// Level-based: planning again right away plans nothing.
	again, err := reconcile.Build("p", m.st, m.acc[A].listing(), m.acc[B].listing(), m.pol)
	if err != nil || !again.Empty() {
		m.fail(base, plan, "not level-based: a second Build right after the sync gives %v and\n%s", err, again)
		return
	}

	for _, f := range modelFolders {
		dir := m.pol.For(f).Direction
		if dir == reconcile.None {
			continue
		}
		// Folders: a folder on a side whose changes flow is on the other
		// side too, unless the other side deleted it (and its content
		// kept it on this side), or it is the trash, which the planner
		// may create on one side for that side's use only.
		for s := range 2 {
			side := reconcile.Side(s)
			o := side.Other()
			if dir.Flows(side) && m.acc[s].folders[f] != nil && m.acc[o].folders[f] == nil && !m.folderDeleted[o][f] && f != trashFolder {
				m.fail(base, plan, "folder %q is on %s but not on %s, which never deleted it", f, side, o)
				return
			}
		}
		ca, cb := m.copies(A, f), m.copies(B, f)
		if ca == nil || cb == nil {
			continue
		}
		// Messages: converged in a two-way folder; the source's messages on
		// the target in a one-way folder. An identity may be missing on a
		// side only for a reason the book gives (see model.oneSided).
		ids := slices.Sorted(maps.Keys(ca))
		for id := range cb {
			if ca[id] == nil {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			na, nb := len(ca[id]), len(cb[id])
			if na > nb && dir.Flows(A) && !m.oneSided[A][f][id] {
				m.fail(base, plan, "not converged: %s holds %s %d times, %s %d times (direction %s)", at(A, f), id, na, at(B, f), nb, dir)
				return
			}
			if nb > na && dir.Flows(B) && !m.oneSided[B][f][id] {
				m.fail(base, plan, "not converged: %s holds %s %d times, %s %d times (direction %s)", at(B, f), id, nb, at(A, f), na, dir)
				return
			}
			// Equal counts have equal flags, unless they may be
			// different deliveries that each stayed on one side.
			mixed := m.events[id] > 1 && (m.oneSided[A][f][id] || m.oneSided[B][f][id])
			if dir == reconcile.Both && na == nb && !mixed && !slices.Equal(ca[id], cb[id]) {
				m.fail(base, plan, "not converged: %s flags %v on a, %v on b", at(A, f), ca[id], cb[id])
				return
			}
		}
	}
	m.checkFaithful(base, plan)
}

// checkChanges tests, after a clean sync, that the changes the users
// made since the last agreed state went where the semantics table says.
// It looks at messages the base state knew on both sides, in one copy.
//
//   - A flag changed on one side only (relative to the agreed record)
//     is carried to the other side where that side's changes flow, and
//     stays as the user left it on the side that changed it either way.
//   - A message deleted on one side goes from the other side's folder
//     (expunged, or to its trash) where that side's changes flow and the
//     policy is propagate or trash, unless the other side changed its
//     flags in a two-way pair (change beats delete: it comes back);
//     under keep, or where the deleting side's changes do not flow, the
//     other side keeps it, and a one-way target's deletion stays.
//   - A folder the user deleted on one side goes on the other too once
//     nothing is left in it (INBOX and the trash excepted), where that
//     side's changes flow and the policy is not keep; otherwise it stays.
//   - A folder the user deleted, where the state knew it, is not
//     created again, unless the other side changed flags in it (change
//     beats delete), or a user created it since; the trash excepted,
//     which the planner creates when a deletion needs it.
func (m *model) checkChanges(base reconcile.State, plan *reconcile.Plan, pre [2]map[string]map[reconcile.Identity][]string, preUV [2]map[string]uint32, atUID [2]map[*reconcile.Record]bool) {
	m.t.Helper()
	A, B := reconcile.A, reconcile.B
	for _, f := range modelFolders {
		fp := m.pol.For(f)
		if fp.Direction == reconcile.None {
			continue
		}
		for s := range 2 {
			side := reconcile.Side(s)
			if m.gone[s][f] && m.acc[s].folders[f] != nil {
				if f != trashFolder && !m.touched[side.Other()][f] {
					m.fail(base, plan, "folder %s, which the user deleted, is there again", at(side, f))
					return
				}
				m.gone[s][f] = false // there again, for a reason
			}
		}
		fs := base.Folder(f)
		if fs == nil {
			continue
		}
		for s := range 2 {
			side, o := reconcile.Side(s), 1-s
			if !m.deletedNow[s][f] || m.acc[s].folders[f] != nil || fs.Side(side).Mailbox == "" || fs.Side(side.Other()).Mailbox == "" || preUV[o][f] == 0 {
				continue
			}
			mb := m.acc[o].folders[f]
			switch {
			case !fp.Direction.Flows(side) || fp.Deletion == reconcile.Keep:
				if mb == nil {
					m.fail(base, plan, "folder %q deleted on %s, want it kept on %s (%s, %s)", f, side, side.Other(), fp.Direction, fp.Deletion)
					return
				}
			case mb != nil && len(mb.msgs) == 0 && f != "INBOX" && f != trashFolder:
				m.fail(base, plan, "folder %q deleted on %s, want it deleted on %s too, with nothing left in it (%s, %s)", f, side, side.Other(), fp.Direction, fp.Deletion)
				return
			}
		}
		// A folder whose UIDVALIDITY changed is rescanned: what is
		// missing there was lost by the server, not deleted, and comes
		// back.
		if fs.A.UIDValidity != preUV[A][f] || fs.B.UIDValidity != preUV[B][f] {
			continue
		}
		post := [2]map[reconcile.Identity][]string{m.copies(A, f), m.copies(B, f)}
		for ri, r := range fs.Records {
			if r.UIDA == 0 || r.UIDB == 0 || len(m.records(fs, r.ID)) != 1 {
				continue
			}
			id := r.ID
			if len(pre[A][f][id]) > 1 || len(pre[B][f][id]) > 1 || m.events[id] > 1 {
				continue
			}
			flagsOf := func(c map[reconcile.Identity][]string) reconcile.Flags {
				if len(c[id]) != 1 {
					return nil
				}
				return flags(c[id][0])
			}
			var was [2]reconcile.Flags
			for s := range 2 {
				was[s] = flagsOf(pre[s][f])
			}
			// Deletions.
			for s := range 2 {
				side, o := reconcile.Side(s), 1-s
				if !m.expunged[s][f][id] || len(pre[s][f][id]) != 0 || len(pre[o][f][id]) != 1 {
					continue
				}
				// A copy back under a new UID (the folder's UIDVALIDITY
				// is the state's here) is changed whatever its flags:
				// its user may have deleted and restored it after a run
				// cut short removed the other side's copy, or a run
				// whose state was lost copied it there (seed 144400).
				// In a one-way pair the target's deletion stays: a flag
				// change on the source does not bring it back, while the
				// source's copy is at the record's UID.
				backNew := !atUID[o][&fs.Records[ri]]
				changed := fp.Direction.Flows(side.Other()) && (backNew || !was[o].Equal(r.Flags) && fp.Direction == reconcile.Both)
				switch {
				case changed:
					if len(post[s][id]) != 1 {
						m.fail(base, plan, "%s: deleted on %s, flags changed on %s: want it copied back to %s (change beats delete)", id, side, side.Other(), at(side, f))
						return
					}
				case fp.Direction.Flows(side) && fp.Deletion != reconcile.Keep:
					if len(post[o][id]) != 0 {
						m.fail(base, plan, "%s: deleted from %s, want it gone from %s (%s, %s)", id, at(side, f), at(side.Other(), f), fp.Direction, fp.Deletion)
						return
					}
				default:
					if len(post[o][id]) != 1 {
						m.fail(base, plan, "%s: deleted from %s, want it kept on %s (%s, %s)", id, at(side, f), at(side.Other(), f), fp.Direction, fp.Deletion)
						return
					}
				}
			}
			// Flags.
			if len(pre[A][f][id]) != 1 || len(pre[B][f][id]) != 1 || len(post[A][id]) != 1 || len(post[B][id]) != 1 {
				continue
			}
			now := [2]reconcile.Flags{flagsOf(post[A]), flagsOf(post[B])}
			for _, fl := range modelFlags {
				ch := [2]bool{was[A].Has(fl) != r.Flags.Has(fl), was[B].Has(fl) != r.Flags.Has(fl)}
				if ch[A] == ch[B] {
					continue
				}
				s := A
				if ch[B] {
					s = B
				}
				o := s.Other()
				want := [2]bool{}
				want[s] = was[s].Has(fl)
				want[o] = was[o].Has(fl)
				if fp.Direction.Flows(s) {
					want[o] = want[s]
				}
				if now[A].Has(fl) != want[A] || now[B].Has(fl) != want[B] {
					m.fail(base, plan, "%s in %q: %s changed %s (agreed %s; was a %s, b %s), want a %v, b %v; got a %s, b %s (%s)",
						id, f, s, fl, r.Flags, was[A], was[B], want[A], want[B], now[A], now[B], fp.Direction)
					return
				}
			}
		}
	}
}

// records returns the records of fs with identity id.
func (m *model) records(fs *reconcile.FolderState, id reconcile.Identity) []reconcile.Record {
	var out []reconcile.Record
	for _, r := range fs.Records {
		if r.ID == id {
			out = append(out, r)
		}
	}
	return out
}

// checkFaithful tests that the state committed after a clean sync says
// exactly what the two sides hold: every folder a side lists (outside
// direction none) is in the state under its mailbox, every message is in
// exactly one record, every record points where a message with its
// identity, and a record's flags are its messages' flags (the source's,
// in a one-way folder).
func (m *model) checkFaithful(base reconcile.State, plan *reconcile.Plan) {
	m.t.Helper()
	for s := range 2 {
		side := reconcile.Side(s)
		for _, f := range m.folders(side) {
			if m.pol.For(f).Direction == reconcile.None {
				continue
			}
			if fs := m.st.Folder(f); fs == nil || fs.Side(side).Mailbox != f {
				m.fail(base, plan, "state: %s is listed, but the state does not know it there", at(side, f))
				return
			}
		}
	}
	for _, fs := range m.st.Folders {
		dir := m.pol.For(fs.Name).Direction
		if dir == reconcile.None {
			continue
		}
		var msgs [2]map[reconcile.UID]reconcile.Message
		for s := range 2 {
			side := reconcile.Side(s)
			msgs[s] = map[reconcile.UID]reconcile.Message{}
			mbName := fs.Side(side).Mailbox
			if mbName == "" {
				continue
			}
			mb := m.acc[s].folders[mbName]
			if mb == nil {
				m.fail(base, plan, "state: folder %q has mailbox %q on %s, which %s does not have", fs.Name, mbName, side, side)
				return
			}
			for _, msg := range mb.msgs {
				msgs[s][msg.UID] = msg
			}
		}
		for _, r := range fs.Records {
			for s := range 2 {
				side := reconcile.Side(s)
				u := r.UID(side)
				if u == 0 {
					continue
				}
				msg, ok := msgs[s][u]
				if !ok || msg.ID != r.ID {
					m.fail(base, plan, "state: record %s %s %s %s of folder %q: %s has no uid %d with that identity",
						uidStr(r.UIDA), uidStr(r.UIDB), r.Flags, r.ID, fs.Name, side, u)
					return
				}
				delete(msgs[s], u)
				src, oneWay := sourceSide(dir)
				if (!oneWay || src == side || r.UID(side.Other()) == 0) && !msg.Flags.Equal(r.Flags) {
					m.fail(base, plan, "state: record %s %s %s %s of folder %q: the message on %s has flags %s",
						uidStr(r.UIDA), uidStr(r.UIDB), r.Flags, r.ID, fs.Name, side, msg.Flags)
					return
				}
			}
		}
		for s := range 2 {
			for _, u := range slices.Sorted(maps.Keys(msgs[s])) {
				m.fail(base, plan, "state: %s uid %d (%s) is in no record of folder %q", at(reconcile.Side(s), fs.Side(reconcile.Side(s)).Mailbox), u, msgs[s][u].ID, fs.Name)
				return
			}
		}
	}
}

// The tests below are failures of TestModel, reduced to what matters.
// They concern Next after actions that failed, or after a run cut short,
// which the txtar table (where every action succeeds) cannot show.

// runPlan builds a plan for the two accounts, carries out its actions
// (fail says which fail; nil: none) and returns the plan and the next
// state.
func runPlan(t *testing.T, base reconcile.State, accA, accB *account, pol reconcile.Policy, fail func(*reconcile.Action) bool) (*reconcile.Plan, reconcile.State) {
	t.Helper()
	plan, err := reconcile.Build("p", base, accA.listing(), accB.listing(), pol)
	if err != nil {
		t.Fatal(err)
	}
	accA.failOn, accB.failOn = fail, fail
	next := reconcile.Next(plan, execute(plan, accA, accB))
	accA.failOn, accB.failOn = nil, nil
	if _, err := reconcile.DecodeState("p", reconcile.EncodeState(next)); err != nil {
		t.Fatalf("plan:\n%s\nthe next state does not load: %v\n%s", plan, err, formatState(next))
	}
	return plan, next
}

// TestNextFailureAfterUIDValidityChange is the model test's seed 107,
// reduced: after a UIDVALIDITY change on B, x:1 is at B's uid 2 and x:2
// is lost there. Restoring x:2 to B fails, so Next falls back to x:2's
// base record, whose B uid 2 is from the old mailbox: it must not end up
// in the state beside x:1's new uid 2 (the state file would not load),
// and the next run must still restore x:2 once, and pair x:1.
func TestNextFailureAfterUIDValidityChange(t *testing.T) {
	base := parseState(t, "folder INBOX\n1 1 - x:1\n2 2 \\Seen x:2")
	accA := accountFromListing(parseListing(t, "folder INBOX\n1 - x:1\n2 \\Seen x:2"))
	accB := accountFromListing(parseListing(t, "folder INBOX uv=7\n2 - x:1"))
	pol := parsePolicy(t, "direction both\ndeletion propagate")
	_, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool { return a.Op == reconcile.Copy })
	_, next = runPlan(t, next, accA, accB, pol, nil)
	if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
		t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
	}
	if got, want := formatModelAccount(accB), "folder INBOX uv=7\n2 - x:1\n3 \\Seen x:2\n"; got != want {
		t.Errorf("B after the retry:\n%swant:\n%s", got, want)
	}
	if got, want := formatState(next), "folder INBOX\n1 2 - x:1\n2 3 \\Seen x:2\n"; got != want {
		t.Errorf("state after the retry:\n%swant:\n%s", got, want)
	}
}

// TestNextCutShortAfterFolderDeleted is the model test's seed 23938,
// reduced: B deleted Work, and the run that was to expunge A's copy of
// x:3 is cut short, twice; in between, B creates Work again and x:12
// arrives there at uid 1, the UID x:3 had in the deleted mailbox. That
// old UID must not stay in x:3's record beside the new folder, where the
// next run would pair x:3 with x:12.
func TestNextCutShortAfterFolderDeleted(t *testing.T) {
	base := parseState(t, "folder INBOX\nfolder Work\n1 1 - x:3")
	accA := accountFromListing(parseListing(t, "folder INBOX\nfolder Work\n1 - x:3"))
	accB := accountFromListing(parseListing(t, "folder INBOX"))
	pol := parsePolicy(t, "direction both\ndeletion propagate")
	cut := func(*reconcile.Action) bool { return true }
	_, next := runPlan(t, base, accA, accB, pol, cut)
	accB.create("Work")
	accB.deliver("Work", "x:12", nil)
	_, next = runPlan(t, next, accA, accB, pol, cut)
	for _, r := range next.Folder("Work").Records {
		if r.ID == "x:3" && r.UIDB != 0 {
			t.Fatalf("x:3 keeps B's uid %d from the deleted mailbox:\n%s", r.UIDB, formatState(next))
		}
	}
	_, next = runPlan(t, next, accA, accB, pol, nil)
	if got, want := formatModelAccount(accA), "folder INBOX uv=1\nfolder Work uv=1\n1 - x:3\n2 - x:12\n"; got != want {
		t.Errorf("A after a clean run:\n%swant:\n%s", got, want)
	}
	if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
		t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
	}
}

// TestNextTrashCreatedKnowsUIDValidity is the model test's seed 14389,
// reduced: the plan creates B's trash and moves x:1 there. Before the
// next run, B's trash gets a new UIDVALIDITY and x:5 takes uid 1. The
// state must have recorded the trash's UIDVALIDITY from the move, so
// that the next run notices the change and does not take x:5 for x:1.
func TestNextTrashCreatedKnowsUIDValidity(t *testing.T) {
	base := parseState(t, "folder INBOX\n1 1 - x:1")
	accA := accountFromListing(parseListing(t, "folder INBOX"))
	accB := accountFromListing(parseListing(t, "folder INBOX\n1 - x:1"))
	pol := parsePolicy(t, "direction both\ndeletion trash")
	_, next := runPlan(t, base, accA, accB, pol, nil)
	tr := accB.folders["Trash"]
	tr.msgs, tr.uidNext = nil, 1
	tr.uv++
	accB.deliver("Trash", "x:5", nil)
	_, next = runPlan(t, next, accA, accB, pol, nil)
	if got, want := formatState(next), "folder INBOX\nfolder Trash a=-\n- 1 - x:5\n"; got != want {
		t.Errorf("state:\n%swant:\n%s", got, want)
	}
}

// TestNextCreatedEmptyFolderKnowsUIDValidity: the plan creates Empty on
// B and puts nothing into it; its UIDVALIDITY comes from the CREATE's
// outcome alone. B's user then renames it (keeping its UIDVALIDITY, as
// Dovecot does): the next run renames A's Empty too, where without the
// UIDVALIDITY it took Empty for deleted on B and Renamed for new, and
// under keep left A's Empty behind (known bug 3 of the move model).
func TestNextCreatedEmptyFolderKnowsUIDValidity(t *testing.T) {
	base := parseState(t, "folder INBOX\n1 1 - x:1")
	accA := accountFromListing(parseListing(t, "folder INBOX\n1 - x:1\nfolder Empty"))
	accB := accountFromListing(parseListing(t, "folder INBOX\n1 - x:1"))
	pol := parsePolicy(t, "direction both\ndeletion keep")
	_, next := runPlan(t, base, accA, accB, pol, nil)
	var empty *reconcile.FolderState
	for i := range next.Folders {
		if next.Folders[i].Name == "Empty" {
			empty = &next.Folders[i]
		}
	}
	if empty == nil || empty.B.UIDValidity == 0 || empty.B.UIDValidity != accB.folders["Empty"].uv {
		t.Fatalf("state after the create: %+v; want Empty with B's UIDVALIDITY %d", empty, accB.folders["Empty"].uv)
	}
	if err := accB.rename("Empty", "Renamed"); err != nil {
		t.Fatal(err)
	}
	plan, _ := runPlan(t, next, accA, accB, pol, nil)
	if accA.folders["Empty"] != nil || accA.folders["Renamed"] == nil {
		t.Errorf("after B renamed the empty folder mailtwin made: A has Empty %v, Renamed %v; want Renamed only\nplan:\n%v",
			accA.folders["Empty"] != nil, accA.folders["Renamed"] != nil, plan.Actions)
	}
}

// recordsOf lists the records of identity id in state st, one
// "folder uid-a uid-b" each ("-" for no UID), in the state's order.
func recordsOf(st reconcile.State, id reconcile.Identity) []string {
	var out []string
	for _, f := range st.Folders {
		for _, r := range f.Records {
			if r.ID == id {
				out = append(out, fmt.Sprintf("%s %s %s", f.Name, uidStr(r.UIDA), uidStr(r.UIDB)))
			}
		}
	}
	return out
}

// failedRunSettles plans base against accA and accB under pol and runs
// the plan with the actions fail picks failing, then checks that the
// plan settled one conflict (a move conflict, a join), that the next
// state records x:1 exactly as want lists it (recordsOf), and that the
// runs after settle with no copy of x:1 (settlesAfterFailure; what names
// the failed action).
func failedRunSettles(t *testing.T, base reconcile.State, accA, accB *account, pol reconcile.Policy, fail func(*reconcile.Action) bool, what string, want ...string) {
	t.Helper()
	plan, next := runPlan(t, base, accA, accB, pol, fail)
	if len(plan.Conflicts) != 1 {
		t.Fatalf("the plan settles no conflict:\n%s", plan)
	}
	if kept := recordsOf(next, "x:1"); !slices.Equal(kept, want) {
		t.Fatalf("records of x:1 after the failed %s: %q, want %q\nplan:\n%s", what, kept, want, plan)
	}
	settlesAfterFailure(t, next, accA, accB, pol, what, false)
}

// settlesAfterFailure runs the plans that follow a run whose what (a
// move, a join) failed, from that run's state next: the first must copy
// no message (anyCopy), or no copy of x:1, across; the second must find
// nothing left to do; and each account must then hold x:1 once. It
// returns the first plan.
func settlesAfterFailure(t *testing.T, next reconcile.State, accA, accB *account, pol reconcile.Policy, what string, anyCopy bool) *reconcile.Plan {
	t.Helper()
	plan, next := runPlan(t, next, accA, accB, pol, nil)
	for _, a := range plan.Actions {
		if a.Op == reconcile.Copy && (anyCopy || a.ID == "x:1") {
			t.Fatalf("the run after the failed %s copies %s:\n%s", what, a.ID, plan)
		}
	}
	if again, _ := runPlan(t, next, accA, accB, pol, nil); !again.Empty() {
		t.Fatalf("not settled after a clean run; plans again:\n%s", again)
	}
	for _, acc := range []*account{accA, accB} {
		if got := strings.Count(formatModelAccount(acc), "x:1"); got != 1 {
			t.Errorf("an account holds x:1 %d times:\n%s", got, formatModelAccount(acc))
		}
	}
	return plan
}

// TestNextFailedMoveOutOfTheTrash: a Move that takes a copy back out of
// a trash fails. The state keeps the record as the base had it, so the
// next run finds the same change against the same deletion and moves the
// copy out of the trash again: no copy, and x:1 once on each side.
//   - own trash: testdata case 179, where B's copy of x:1, deleted into
//     B's own trash, is moved back out of it because A's user changed it.
//   - one-way: testdata case 204, where A's copy of x:1 is back under a
//     new UID and B's copy, in B's trash, is moved back out of it. The
//     state keeps the base's UID on A, as for a failed copy
//     (TestNextFailedCopyBackAgainOneWay). Recorded at its new UID, A's
//     copy would look changed where the state has it, and B's copy
//     deleted by B's user, which a one-way pair does not revert: x:1
//     would stay in B's trash for good (TestModel seed 1380703, under
//     b-to-a).
func TestNextFailedMoveOutOfTheTrash(t *testing.T) {
	for _, tc := range []struct {
		name, policy, base, a, b, kept string
	}{
		{
			name:   "own trash",
			policy: "direction both\ndeletion trash\nprefer b",
			base:   "folder F uv=1/1\n1 1 \\Seen x:1\nfolder INBOX\nfolder Trash a=- uv=0/2",
			a:      "folder F uv=1\n1 \\Flagged x:1\nfolder INBOX",
			b:      "folder F uv=1\nfolder INBOX\nfolder Trash uv=2\n5 \\Seen x:1",
			kept:   "F 1 1",
		},
		{
			name:   "one-way",
			policy: "direction a-to-b\ndeletion propagate",
			base:   "folder INBOX\nfolder R5\n2 3 $todo,\\Flagged x:1\n3 2 \\Seen x:8\nfolder Trash",
			a:      "folder INBOX\nfolder R5\n3 \\Seen x:8\n5 $todo,\\Flagged x:1\nfolder Trash role=\\Trash",
			b:      "folder INBOX\nfolder R5\n2 \\Seen x:8\nfolder Trash role=\\Trash\n4 $todo x:1",
			kept:   "R5 2 3",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := parsePolicy(t, tc.policy)
			accA := accountFromListing(parseListing(t, tc.a))
			accB := accountFromListing(parseListing(t, tc.b))
			plan, next := runPlan(t, parseState(t, tc.base), accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move
			})
			if !strings.Contains(plan.String(), "back out of the trash") {
				t.Fatalf("the plan moves nothing out of B's trash:\n%s", plan)
			}
			if kept := recordsOf(next, "x:1"); !slices.Equal(kept, []string{tc.kept}) {
				t.Fatalf("records of x:1 after the failed move: %q, want the base's", kept)
			}
			plan = settlesAfterFailure(t, next, accA, accB, pol, "move out of the trash", true)
			if !strings.Contains(plan.String(), "back out of the trash") {
				t.Fatalf("the run after the failed move does not move B's copy out of its trash:\n%s", plan)
			}
		})
	}
}

// TestNextFailedCopyBackAgainOneWay: in an a-to-b pair, A's copy of x:1
// is back in INBOX under a new UID with other flags, and B's copy is gone
// (testdata case 152): the change beats the delete, and A's copy is
// copied to B. When that copy fails, the next run copies it again.
// Recorded at its new UID, A's copy would look changed where the state
// has it, and B's copy deleted by B's user, which a one-way pair does not
// revert (case 149): B would never get x:1 back (TestModel seed 52832).
func TestNextFailedCopyBackAgainOneWay(t *testing.T) {
	pol := parsePolicy(t, "direction a-to-b\ndeletion propagate")
	base := parseState(t, "folder INBOX\n1 1 - x:1\n2 2 - x:2")
	accA := accountFromListing(parseListing(t, "folder INBOX\n2 - x:2\n3 \\Seen x:1"))
	accB := accountFromListing(parseListing(t, "folder INBOX\n2 - x:2"))
	_, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.Copy
	})
	plan, next := runPlan(t, next, accA, accB, pol, nil)
	if !strings.Contains(plan.String(), "+ b:\"INBOX\" <- a:\"INBOX\" uid 3") {
		t.Fatalf("the run after the failed copy does not copy x:1 to B again:\n%s", plan)
	}
	if again, _ := runPlan(t, next, accA, accB, pol, nil); !again.Empty() {
		t.Fatalf("not settled after a clean run; plans again:\n%s", again)
	}
	if got := strings.Count(formatModelAccount(accB), "x:1"); got != 1 {
		t.Errorf("B holds x:1 %d times:\n%s", got, formatModelAccount(accB))
	}
}

// TestNextFailedCrossedJoinKeepsWinner: both users moved their copy of
// a filed-away message back into the pair, to different folders
// (testdata case 128), and the Move that joins them fails. The winner's
// copy stays recorded, on its side only: the next run joins the two
// again, rather than taking both for new mail and copying each to the
// other side, which held it twice then.
func TestNextFailedCrossedJoinKeepsWinner(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion keep\nprefer a")
	base := parseState(t, "folder Archive b=-\n1 - - x:1\nfolder INBOX\n- 5 \\Seen x:1\nfolder Lists\nfolder Work")
	accA := accountFromListing(parseListing(t, "folder Archive\nfolder INBOX\nfolder Lists\nfolder Work\n7 - x:1"))
	accB := accountFromListing(parseListing(t, "folder INBOX\nfolder Lists\n9 \\Seen x:1\nfolder Work"))
	_, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.Move
	})
	kept := recordsOf(next, "x:1")
	if want := []string{"Work 7 -"}; !slices.Equal(kept, want) {
		t.Fatalf("records of x:1 after the failed join: %q, want %q", kept, want)
	}
	settlesAfterFailure(t, next, accA, accB, pol, "join", true)
}

// TestNextFailedCrossedJoinOneWay is TestModel's seed 5479752, reduced:
// TestNextFailedCrossedJoinKeepsWinner in a one-way pair, each way. From
// b to a: A's user moved x:1, which the state has on A only (A's own mail),
// from INBOX into Archive/2024; b got x:1 in Archive/2025. B wins, as
// Archive/2024 takes nothing from A, and the plan moves A's copy into
// Archive/2025, and the run stops before the Move. Kept on B only, B's
// copy would read to the next run as deleted by A's user (deletion
// keep: never copied back), and A's copy as A's own new mail: x:1 in
// Archive/2025 on B but not on A, for good. The state keeps A's record
// as the base had it instead, and the next run plans the same join.
func TestNextFailedCrossedJoinOneWay(t *testing.T) {
	for _, tc := range []struct {
		name, policy, base, a, b, move, kept string
		loser                                int // the account whose copy is moved: 0 a, 1 b
	}{
		{
			name:   "b-to-a",
			policy: "direction b-to-a\ndeletion keep\nprefer a",
			base:   "folder Archive/2024\nfolder Archive/2025\nfolder INBOX\n6 - - x:1",
			a:      "folder Archive/2024\n2 - x:1\nfolder Archive/2025\nfolder INBOX",
			b:      "folder Archive/2024\nfolder Archive/2025\n1 - x:1\nfolder INBOX",
			move:   `> a:"Archive/2024" uid 2 -> "Archive/2025"`,
			kept:   "INBOX 6 -",
			loser:  0,
		},
		{
			name:   "a-to-b",
			policy: "direction a-to-b\ndeletion keep\nprefer b",
			base:   "folder Archive/2024\nfolder Archive/2025\nfolder INBOX\n- 6 - x:1",
			a:      "folder Archive/2024\nfolder Archive/2025\n1 - x:1\nfolder INBOX",
			b:      "folder Archive/2024\n2 - x:1\nfolder Archive/2025\nfolder INBOX",
			move:   `> b:"Archive/2024" uid 2 -> "Archive/2025"`,
			kept:   "INBOX - 6",
			loser:  1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := parsePolicy(t, tc.policy)
			base := parseState(t, tc.base)
			accA := accountFromListing(parseListing(t, tc.a))
			accB := accountFromListing(parseListing(t, tc.b))
			plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move
			})
			if len(plan.Conflicts) != 1 || !strings.Contains(plan.String(), tc.move) {
				t.Fatalf("the plan does not join the loser's copy to the winner's in Archive/2025:\n%s", plan)
			}
			if kept := recordsOf(next, "x:1"); !slices.Equal(kept, []string{tc.kept}) {
				t.Fatalf("records of x:1 after the failed join: %q, want the base's", kept)
			}
			if plan := settlesAfterFailure(t, next, accA, accB, pol, "join", true); len(plan.Conflicts) != 1 {
				t.Fatalf("the run after the failed join does not join the two again:\n%s", plan)
			}
			got := formatModelAccount([]*account{accA, accB}[tc.loser])
			if i := strings.Index(got, "folder Archive/2025"); i < 0 || !strings.Contains(got[i:], "x:1") {
				t.Errorf("the loser's x:1 is not in Archive/2025:\n%s", got)
			}
		})
	}
}

// TestNextFailedMoveConflictOutOfResetFolderOneWay: both users moved x:1
// out of X, to different folders, after X got a new UIDVALIDITY on the
// source; the source (prefer) wins, and the Move of the target's copy
// into its folder fails. keepTarget would keep the source's copy
// recorded on the source only, which in a one-way pair reads as
// deleted by the target's user (not copied back, and the target's copy
// its own): x:1 would stay in Y on the source and in Z on the target.
// The state keeps x:1's record in X on the target's side instead, and
// the next run joins the two, as a crossed join (found by reading
// moveConflicts after TestNextFailedCrossedJoinOneWay's fix).
func TestNextFailedMoveConflictOutOfResetFolderOneWay(t *testing.T) {
	for _, tc := range []struct {
		name, policy, a, b, move, kept string
	}{
		{
			name:   "a-to-b",
			policy: "direction a-to-b\ndeletion keep\nprefer a",
			a:      "folder X uv=9\n5 - x:2\nfolder Y uv=1\n1 - x:1\nfolder Z uv=1",
			b:      "folder X uv=1\n2 - x:2\nfolder Y uv=1\nfolder Z uv=1\n1 - x:1",
			move:   `> b:"Z" uid 1 -> "Y"`,
			kept:   "X - 1",
		},
		{
			name:   "b-to-a",
			policy: "direction b-to-a\ndeletion keep\nprefer b",
			a:      "folder X uv=1\n2 - x:2\nfolder Y uv=1\nfolder Z uv=1\n1 - x:1",
			b:      "folder X uv=9\n5 - x:2\nfolder Y uv=1\n1 - x:1\nfolder Z uv=1",
			move:   `> a:"Z" uid 1 -> "Y"`,
			kept:   "X 1 -",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := parsePolicy(t, tc.policy)
			base := parseState(t, "folder X uv=1/1\n1 1 - x:1\n2 2 - x:2\nfolder Y uv=1/1\nfolder Z uv=1/1")
			accA := accountFromListing(parseListing(t, tc.a))
			accB := accountFromListing(parseListing(t, tc.b))
			plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move
			})
			if len(plan.Conflicts) != 1 || !strings.Contains(plan.String(), tc.move) {
				t.Fatalf("the plan does not move the target's copy into the source's folder:\n%s", plan)
			}
			if kept := recordsOf(next, "x:1"); !slices.Equal(kept, []string{tc.kept}) {
				t.Fatalf("records of x:1 after the failed move: %q, want %q", kept, tc.kept)
			}
			if plan := settlesAfterFailure(t, next, accA, accB, pol, "move", true); !strings.Contains(plan.String(), tc.move) {
				t.Fatalf("the run after the failed move does not move the target's copy again:\n%s", plan)
			}
			for _, acc := range []*account{accA, accB} {
				got := formatModelAccount(acc)
				if i := strings.Index(got, "folder Y"); i < 0 || !strings.Contains(got[i:strings.Index(got, "folder Z")], "x:1") {
					t.Errorf("x:1 is not in Y:\n%s", got)
				}
			}
		})
	}
}

// TestNextFailedMoveConflictOutOfFolderResetOnBothSidesOneWay is
// TestNextFailedMoveConflictOutOfResetFolderOneWay where X got a new
// UIDVALIDITY on both sides: no side's UID still names x:1's place, so
// the record cannot stay, and the source's copy stays recorded on the
// source only, as before. The two copies stay apart (each side's user
// put its copy where it is), but neither is copied: dropped, that record
// left the source's copy new to the next run, which copied it to the
// target beside the target's own.
func TestNextFailedMoveConflictOutOfFolderResetOnBothSidesOneWay(t *testing.T) {
	pol := parsePolicy(t, "direction a-to-b\ndeletion keep\nprefer a")
	base := parseState(t, "folder X uv=1/1\n1 1 - x:1\n2 2 - x:2\nfolder Y uv=1/1\nfolder Z uv=1/1")
	accA := accountFromListing(parseListing(t, "folder X uv=9\n5 - x:2\nfolder Y uv=1\n1 - x:1\nfolder Z uv=1"))
	accB := accountFromListing(parseListing(t, "folder X uv=8\n7 - x:2\nfolder Y uv=1\nfolder Z uv=1\n1 - x:1"))
	_, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.Move
	})
	if kept := recordsOf(next, "x:1"); !slices.Equal(kept, []string{"Y 1 -"}) {
		t.Fatalf("records of x:1 after the failed move: %q, want the source's copy on the source only", kept)
	}
	settlesAfterFailure(t, next, accA, accB, pol, "move", true)
}

// TestNextFailedConflictOutOfFolderDeletedHere is TestModelMovesAndRenames'
// seed 40530 of -movemodel.bugs 7,10, reduced. A's user moved x:1 out of
// X into INBOX and deleted X; B's user moved B's copy to Y. B (prefer)
// wins the move conflict, and the plan moves A's copy to Y and deletes
// B's X, now empty. The Move fails, the deletion does not. The state
// kept x:1's record in X with B's UID, but recorded X as gone from B:
// a UID on a side whose folder the state does not have. When A's user
// then moved x:1 again, into a new folder, the next run read X as
// renamed to it on A, B's copy as deleted there and A's as changed:
// x:1 was copied to Y on A and expunged from the new folder (and, with
// more runs, held twice). Now X stays recorded on B as the base had it,
// so the next run sees the same conflict again.
func TestNextFailedConflictOutOfFolderDeletedHere(t *testing.T) {
	for _, tc := range []struct {
		name      string
		movedInto string // the folder A's user moves x:1 into before the next run
	}{
		{"not moved again", ""},
		{"moved again into a new folder", "New"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := parsePolicy(t, "direction both\ndeletion propagate\nprefer b")
			base := parseState(t, "folder INBOX\nfolder X\n1 1 - x:1\nfolder Y")
			accA := accountFromListing(parseListing(t, "folder INBOX\n9 - x:1\nfolder Y"))
			accB := accountFromListing(parseListing(t, "folder INBOX\nfolder X\nfolder Y\n1 - x:1"))
			plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move
			})
			if len(plan.Conflicts) != 1 || !strings.Contains(plan.String(), `- b:"X" delete folder`) {
				t.Fatalf("the plan does not settle the conflict and delete B's X:\n%s", plan)
			}
			if got, want := formatState(next), "folder INBOX\nfolder X\n1 1 - x:1\nfolder Y\n"; got != want {
				t.Fatalf("state after the failed move:\n%swant:\n%s", got, want)
			}
			if tc.movedInto != "" {
				inbox := accA.folders["INBOX"]
				inbox.msgs = inbox.msgs[:0]
				accA.deliver(tc.movedInto, "x:1", reconcile.Flags{})
			}
			settlesAfterFailure(t, next, accA, accB, pol, "move", true)
		})
	}
}

// TestNextFailedMoveOutOfResetFolder is TestModelMovesAndRenames' known
// bug 13 (seeds 252, 255, 322 and 528 of -movemodel.bugs 13), reduced:
// A's user moved x:1 out of INBOX after INBOX got a new UIDVALIDITY on A,
// and the Move that was to follow on B fails. The base's record of x:1
// cannot stay as it was (its UID on A names nothing in the new mailbox),
// and it was dropped: the next run found x:1 new on both sides, in two
// folders, and copied each both ways. Now the copy the Move was to take
// or join stays recorded: where it was to follow A's, with A's side as
// "?" (UnknownUID), so the next run follows the move again; in a conflict,
// on its side only, and the next run joins the two.
//
//   - followed: B's copy was to follow A's into Work;
//   - a conflict: B's user moved x:1 to Lists meanwhile, and A (prefer)
//     wins: B's copy was to move to Work.
func TestNextFailedMoveOutOfResetFolder(t *testing.T) {
	for _, tc := range []struct {
		name, b, kept string
	}{
		{"followed", "folder INBOX\n1 - x:1\nfolder Lists\nfolder Work", "INBOX ? 1"},
		{"a conflict", "folder INBOX\nfolder Lists\n3 - x:1\nfolder Work", "Work 5 -"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := parsePolicy(t, "direction both\ndeletion propagate\nprefer a")
			base := parseState(t, "folder INBOX\n1 1 - x:1\nfolder Lists\nfolder Work")
			accA := accountFromListing(parseListing(t, "folder INBOX uv=7\nfolder Lists\nfolder Work\n5 - x:1"))
			accB := accountFromListing(parseListing(t, tc.b))
			plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move
			})
			if !strings.Contains(plan.String(), `> b:`) {
				t.Fatalf("the plan moves nothing on B:\n%s", plan)
			}
			kept := recordsOf(next, "x:1")
			if want := []string{tc.kept}; !slices.Equal(kept, want) {
				t.Fatalf("records of x:1 after the failed move: %q, want %q", kept, want)
			}
			settlesAfterFailure(t, next, accA, accB, pol, "move", true)
		})
	}
}

// TestNextFailedMoveOutOfResetFolderThenDeleted: as
// TestNextFailedMoveOutOfResetFolder's "followed", then A's user deletes
// the copy it had moved (TestModel seeds 1927891, 2484218 and 3503452,
// reduced). The record keeps A's side at UnknownUID, so the next
// run reads the deletion and follows it on B. Before, the record kept
// B's copy on B only, unlinked from A's moved copy: B kept x:1 for good,
// and under propagate the accounts never agreed.
func TestNextFailedMoveOutOfResetFolderThenDeleted(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion propagate\nprefer a")
	base := parseState(t, "folder INBOX\n1 1 - x:1\nfolder Work")
	accA := accountFromListing(parseListing(t, "folder INBOX uv=7\nfolder Work\n5 - x:1"))
	accB := accountFromListing(parseListing(t, "folder INBOX\n1 - x:1\nfolder Work"))
	_, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool { return a.Op == reconcile.Move })
	if got, want := recordsOf(next, "x:1"), []string{"INBOX ? 1"}; !slices.Equal(got, want) {
		t.Errorf("records of x:1 after the failed move: %q, want %q", got, want)
	}
	work := accA.folders["Work"]
	work.msgs = work.msgs[:0]
	plan, next := runPlan(t, next, accA, accB, pol, nil)
	if got := plan.String(); !strings.Contains(got, `- b:"INBOX" uid 1 expunge x:1 (deleted on other side)`) || plan.Counts[reconcile.A].Copies != 0 {
		t.Fatalf("after A's user deleted the moved copy, the plan:\n%s\nwant B's copy expunged, nothing copied", got)
	}
	if got := recordsOf(next, "x:1"); len(got) != 0 {
		t.Errorf("records of x:1 after the deletion: %q, want none", got)
	}
	if n := len(accB.folders["INBOX"].msgs); n != 0 {
		t.Errorf("B's INBOX holds %d messages, want none", n)
	}
	if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
		t.Errorf("not settled; plans again:\n%s", plan)
	}
}

// TestNextUnreportedUIDThenDeleted: a run copies x:2, new on A, to B,
// and B's server does not report the new UID (no UIDPLUS); then A's user
// deletes x:2. The record keeps B's side at UnknownUID, so the next run
// finds B's copy by identity and follows the deletion there. Before, the
// record was dropped for the next run to pair the two copies afresh: B's
// copy was new to it, and went back to A, the deletion undone (TestModel
// seed 2235184, where a second copy of a message then took a record's
// place and a deleted folder was made again).
func TestNextUnreportedUIDThenDeleted(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion propagate")
	base := parseState(t, "folder Archive\n1 1 - x:1")
	accA := accountFromListing(parseListing(t, "folder Archive\n1 - x:1\n2 \\Seen x:2"))
	accB := accountFromListing(parseListing(t, "folder Archive\n1 - x:1"))
	plan, err := reconcile.Build("p", base, accA.listing(), accB.listing(), pol)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := execute(plan, accA, accB)
	for i := range outcomes {
		outcomes[i].UID = 0 // done, the new UID not reported
	}
	next := reconcile.Next(plan, outcomes)
	if got, want := recordsOf(next, "x:2"), []string{"Archive 2 ?"}; !slices.Equal(got, want) {
		t.Errorf("records of x:2 after the copy: %q, want %q", got, want)
	}
	archive := accA.folders["Archive"]
	archive.msgs = archive.msgs[:1]
	plan, next = runPlan(t, next, accA, accB, pol, nil)
	if got := plan.String(); !strings.Contains(got, `- b:"Archive" uid 2 expunge x:2 (deleted on other side)`) || plan.Counts[reconcile.A].Copies != 0 {
		t.Fatalf("after A's user deleted x:2, the plan:\n%s\nwant B's copy expunged, nothing copied", got)
	}
	if got := recordsOf(next, "x:2"); len(got) != 0 {
		t.Errorf("records of x:2 after the deletion: %q, want none", got)
	}
	if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
		t.Errorf("not settled; plans again:\n%s", plan)
	}
}

// TestNextFailedFiledConflict is testdata cases 134 to 137 with the
// conflict's Move failing: A's user filed x:1 into a folder B had deleted
// (Old, renamed to New since and so made again on B; or Kept, which a
// change made again on B before), and B's user moved B's copy to Work.
// Whichever side wins, the failed Move must leave the winner's copy
// recorded, so that the next run joins the two again rather than copying
// either copy across (A would hold x:1 twice).
func TestNextFailedFiledConflict(t *testing.T) {
	const (
		revived = "folder INBOX\n1 1 - x:1\nfolder Old\n2 2 - x:2\n5 ~ - x:1\nfolder Work"
		kept    = "folder INBOX\n1 1 - x:1\nfolder Kept\n2 2 - x:2\n5 ~ - x:1\nfolder Work"
	)
	for _, tc := range []struct {
		name, prefer, base, a, b string
		kept                     []string
	}{
		{"made again, prefer a", "a", revived, "folder INBOX\nfolder New\n2 - x:2\n5 - x:1\nfolder Work", "folder INBOX\nfolder Work\n3 - x:1", []string{"New 5 -"}},
		{"made again, prefer b", "b", revived, "folder INBOX\nfolder New\n2 - x:2\n5 - x:1\nfolder Work", "folder INBOX\nfolder Work\n3 - x:1", []string{"New 5 -", "Work - 3"}},
		{"on both, prefer a", "a", kept, "folder INBOX\nfolder Kept\n2 - x:2\n5 - x:1\nfolder Work", "folder INBOX\nfolder Kept\n2 - x:2\nfolder Work\n3 - x:1", []string{"Kept 5 -"}},
		{"on both, prefer b", "b", kept, "folder INBOX\nfolder Kept\n2 - x:2\n5 - x:1\nfolder Work", "folder INBOX\nfolder Kept\n2 - x:2\nfolder Work\n3 - x:1", []string{"Kept 5 -", "Work - 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := parsePolicy(t, "direction both\ndeletion trash\nprefer "+tc.prefer)
			base := parseState(t, tc.base)
			accA := accountFromListing(parseListing(t, tc.a))
			accB := accountFromListing(parseListing(t, tc.b))
			plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move
			})
			if len(plan.Conflicts) != 1 {
				t.Fatalf("the plan reports no move conflict:\n%s", plan)
			}
			kept := recordsOf(next, "x:1")
			if !slices.Equal(kept, tc.kept) {
				t.Fatalf("records of x:1 after the failed move: %q, want %q", kept, tc.kept)
			}
			settlesAfterFailure(t, next, accA, accB, pol, "move", false)
		})
	}
}

// TestNextFailedJoinIntoNewFolder is TestModelMovesAndRenames's seed
// 146381 of -movemodel.bugs 6, reduced: as in testdata case 128, both
// users move their copy of a filed-away x:1 back into the pair, to
// different folders, and the two are to join in the prefer side's; but
// that folder is new, and both its creation on the other side and the
// join's Move fail. The state cannot keep the winner's copy recorded
// there (it forgets a new folder whose creation failed), so it must keep
// the loser's source record: the next run then plans the same join
// again, rather than copying each copy to the other side.
func TestNextFailedJoinIntoNewFolder(t *testing.T) {
	for _, tc := range []struct{ prefer, a, b string }{
		{"a", "folder Archive\nfolder INBOX\nfolder Lists\nfolder New\n7 - x:1", "folder Filed\nfolder INBOX\nfolder Lists\n9 - x:1"},
		{"b", "folder Archive\nfolder INBOX\nfolder Lists\n7 - x:1", "folder Filed\nfolder INBOX\nfolder Lists\nfolder New\n9 - x:1"},
	} {
		t.Run("prefer "+tc.prefer, func(t *testing.T) {
			pol := parsePolicy(t, "direction both\ndeletion keep\nprefer "+tc.prefer)
			base := parseState(t, "folder Archive b=-\n1 - - x:1\nfolder Filed a=-\n- 3 - x:1\nfolder INBOX\nfolder Lists")
			accA := accountFromListing(parseListing(t, tc.a))
			accB := accountFromListing(parseListing(t, tc.b))
			plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.CreateFolder || a.Op == reconcile.Move
			})
			if len(plan.Conflicts) != 1 {
				t.Fatalf("the plan reports no move conflict:\n%s", plan)
			}
			if plan := settlesAfterFailure(t, next, accA, accB, pol, "join", false); len(plan.Conflicts) != 1 {
				t.Fatalf("the run after the failed join does not join the two again:\n%s", plan)
			}
		})
	}
}

// TestNextFailedCrossedJoinOutOfAFolderMadeAnew is
// TestModelMovesAndRenamesOneWay seed 53430 (known bug 16), reduced, and
// its two-way twin. x:1 was held apart, on A in Archive and on B in F,
// each recorded on its side only. A's user moved it into New, a folder
// new to the pair; B's user moved it into G, and B's server made F anew
// (a new UIDVALIDITY). The plan joins B's copy into New after A's, and
// both the CREATE of New on B and the Move fail. Next cannot keep A's
// copy recorded (New is forgotten with its failed CREATE), nor B's
// record as the base had it (its UID in F names nothing now): it keeps
// B's copy recorded on B only, in G, where it is, and the run after
// joins the two again. Before, x:1 was recorded nowhere, the run after
// copied A's copy to B as new mail, and B held it twice.
func TestNextFailedCrossedJoinOutOfAFolderMadeAnew(t *testing.T) {
	for _, dir := range []string{"a-to-b", "both"} {
		t.Run(dir, func(t *testing.T) {
			pol := parsePolicy(t, "direction "+dir+"\ndeletion keep")
			base := parseState(t, "folder Archive b=-\n1 - - x:1\nfolder F uv=3/4\n- 2 - x:1\n3 3 - x:3\nfolder G\nfolder INBOX")
			accA := accountFromListing(parseListing(t, "folder Archive\nfolder F uv=3\n3 - x:3\nfolder G\nfolder INBOX\nfolder New uv=8\n1 - x:1"))
			accB := accountFromListing(parseListing(t, "folder F uv=9\n2 - x:3\nfolder G\n1 - x:1\nfolder INBOX"))
			failedRunSettles(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move || a.Op == reconcile.CreateFolder
			}, "join", "G - 1")
		})
	}
}

// TestNextFailedMoveConflictIntoANewFolderOutOfAFolderRenamedByCopy is
// TestModelMovesAndRenamesOneWay seed 184812 (known bug 16), reduced.
// A's user renamed F to H by copy (a new UIDVALIDITY) after moving x:1
// out of it into New, a folder new to the pair; B's user renamed F to G
// by copy, which the a-to-b pair does not follow (G is B's own folder).
// A's move wins; the CREATE of New on B and the Move of B's copy there
// fail. Next cannot keep F's record of x:1 on either side (A's UID names
// nothing, B's names F's old mailbox, split off as G), nor A's copy (New
// is forgotten with its failed CREATE): it keeps B's copy recorded on B
// only, where it is, and the run after joins the two again. Before, x:1
// was recorded nowhere, and the run after copied A's copy to B, which
// held it twice. In the two-way twin B's user moved x:1 into G, F's
// mailbox on B is F's still, and Next keeps F's record on B's side
// (slot.targetLost) as before: one record, not two.
func TestNextFailedMoveConflictIntoANewFolderOutOfAFolderRenamedByCopy(t *testing.T) {
	for _, tc := range []struct{ dir, b, kept string }{
		{"a-to-b", "folder G uv=9\n1 - x:1\n2 - x:2\n3 - x:3\nfolder INBOX", "G - 1"},
		{"both", "folder F uv=4\n2 - x:2\n3 - x:3\nfolder G uv=5\n1 - x:1\nfolder INBOX", "H - 1"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			pol := parsePolicy(t, "direction "+tc.dir+"\ndeletion keep")
			base := parseState(t, "folder F uv=3/4\n1 1 - x:1\n2 2 - x:2\n3 3 - x:3\nfolder G uv=6/5\nfolder INBOX")
			accA := accountFromListing(parseListing(t, "folder G uv=6\nfolder H uv=10\n1 - x:2\n2 - x:3\nfolder INBOX\nfolder New uv=8\n1 - x:1"))
			accB := accountFromListing(parseListing(t, tc.b))
			failedRunSettles(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move || a.Op == reconcile.CreateFolder && a.Folder == "New"
			}, "move", tc.kept)
		})
	}
}

// TestNextFailedJoinOfARecordInAFolderRenamedAndDeleted: testdata case
// 208 (known bug 16, TestModelMovesAndRenamesOneWay seed 8911), whose
// join fails. B's link record is the original's of a folder renamed on A
// and deleted on B, not one of the folder pair's base, so Next cannot
// keep it as the base had it: it keeps A's copy in INBOX, recorded on A
// only, and the run after copies nothing and leaves each copy where its
// user put it. Before, the link was lost with the failed join, and the
// run after copied A's copy to B, which then held x:1 twice.
func TestNextFailedJoinOfARecordInAFolderRenamedAndDeleted(t *testing.T) {
	pol := parsePolicy(t, "direction a-to-b\ndeletion keep")
	base := parseState(t, "folder INBOX\nfolder R4 uv=104/103\n1 1 - x:2\nfolder R4/F2 uv=105/106\n- 2 - x:1\n3 3 - x:4")
	accA := accountFromListing(parseListing(t, "folder INBOX\n2 - x:1\nfolder R5 uv=104\n1 - x:2\n5 - x:4\nfolder R5/F2 uv=105"))
	accB := accountFromListing(parseListing(t, "folder INBOX\nfolder R4 uv=103\n1 - x:2\n4 - x:1"))
	failedRunSettles(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.Move
	}, "join", "INBOX 2 -")
}

// TestNextFailedMoveConflictOutOfAFolderRenamedByCopyOnBothSides is
// known bug 16's TestModelMovesAndRenamesOneWay seed 34216, reduced. In
// an a-to-b pair A's user moved x:1 out of F to INBOX and renamed F to
// R7, B's user renamed F to R6, each by copy (a new UIDVALIDITY). R6 is
// B's own folder (a one-way pair does not follow the target's rename,
// and B's mailbox is not F's by its UIDVALIDITY, so F reads as deleted
// on B): R7 is made on B, and B's x:1, in R6, is moved to INBOX after
// A's, the source winning the move conflict. Should that Move fail, F's
// base record cannot be kept on B (the folder pair has B's side no
// more), so A's copy stays recorded on A only, and the run after copies
// nothing. Before, no record of x:1 was kept, the run after copied A's
// copy to B as new mail, and B held x:1 twice. Where the CREATE of R7
// fails too, the state keeps F as the base had it, and the run after
// plans the same again.
func TestNextFailedMoveConflictOutOfAFolderRenamedByCopyOnBothSides(t *testing.T) {
	pol := parsePolicy(t, "direction a-to-b\ndeletion keep")
	base := parseState(t, "folder INBOX\nfolder F uv=3/4\n1 1 - x:2\n2 2 - x:1\n3 3 - x:3")
	for _, createFails := range []bool{false, true} {
		t.Run(map[bool]string{false: "move fails", true: "create and move fail"}[createFails], func(t *testing.T) {
			accA := accountFromListing(parseListing(t, "folder INBOX\n1 - x:1\nfolder R7 uv=5\n1 - x:2\n2 - x:3"))
			accB := accountFromListing(parseListing(t, "folder INBOX\nfolder R6 uv=6\n1 - x:2\n2 - x:1\n3 - x:3"))
			plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move || createFails && a.Op == reconcile.CreateFolder
			})
			if len(plan.Conflicts) != 1 {
				t.Fatalf("the plan settles no move conflict:\n%s", plan)
			}
			if kept := recordsOf(next, "x:1"); !createFails && !slices.Equal(kept, []string{"INBOX 1 -"}) {
				t.Fatalf("records of x:1 after the failed move: %q, want A's copy in INBOX", kept)
			}
			settlesAfterFailure(t, next, accA, accB, pol, "move", false)
		})
	}
}

// TestNextFailedJoinOfARecordInAFolderRenamedByCopy is known bug 16's
// TestModelMovesAndRenamesOneWay seeds 44994 and 59337, reduced. In a
// b-to-a pair A's user had moved x:1 out of R6/F3 into G, A's own
// folder, so the state links the two copies by B's record in R6/F3, on
// B only. Then B's user moved x:1 to INBOX and renamed R6 (R6/F3 along)
// to R11 by copy, and A's user renamed G to H by copy: A's copy is to
// join B's in INBOX. Should that Move fail, B's link record names a UID
// of a mailbox that is gone (R6/F3's UIDVALIDITY changed on B), so Next
// cannot keep it as the base had it: it keeps B's copy in INBOX recorded
// on B only, and the run after copies nothing and leaves each copy where
// its user put it. Before, the record was dropped with its folder, the
// run after copied B's copy to A as new mail, and A held x:1 twice.
func TestNextFailedJoinOfARecordInAFolderRenamedByCopy(t *testing.T) {
	pol := parsePolicy(t, "direction b-to-a\ndeletion keep")
	base := parseState(t, "folder G b=- uv=5/0\n1 - - x:1\nfolder INBOX\nfolder R6 uv=3/3\n1 1 - x:2\nfolder R6/F3 uv=6/6\n- 1 - x:1")
	accA := accountFromListing(parseListing(t, "folder H uv=9\n1 - x:1\nfolder INBOX\nfolder R6 uv=3\n1 - x:2\nfolder R6/F3 uv=6"))
	accB := accountFromListing(parseListing(t, "folder INBOX\n1 - x:1\nfolder R11 uv=8\n1 - x:2\nfolder R11/F3 uv=9"))
	failedRunSettles(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.Move
	}, "join", "INBOX - 1")
}

// TestNextFailedJoinOfARecordInAFolderMadeAgainInVain is known bug 16's
// TestModelMovesAndRenamesOneWay seed 132287, reduced. In a b-to-a pair
// A's user had moved x:1 out of R10 into G, A's own folder, so the state
// links the two copies by B's record in R10, on B only. Then B's user
// moved x:1 to INBOX and renamed R10 to R14; A's user renamed R10 to
// R12, which the pair does not follow (R14 is made again on A), and
// moved A's copy on to H. A's copy is to join B's in INBOX, and the
// CREATE of R14 and the Move both fail: Next keeps R10 as the base had
// it (keptOrig), and in it B's link record, which the failed join holds.
// The run after joins the two. Before, keptOrig left the record out, as
// its message had left R10 on B, the run after copied B's copy to A as
// new mail, and A held x:1 twice.
func TestNextFailedJoinOfARecordInAFolderMadeAgainInVain(t *testing.T) {
	pol := parsePolicy(t, "direction b-to-a\ndeletion propagate")
	base := parseState(t, "folder G b=- uv=5/0\n1 - - x:1\nfolder H b=- uv=2/0\nfolder INBOX\nfolder R10 uv=6/3\n- 1 - x:1\n1 2 - x:2")
	accA := accountFromListing(parseListing(t, "folder G uv=5\nfolder H uv=2\n4 - x:1\nfolder INBOX\nfolder R12 uv=6\n1 - x:2"))
	accB := accountFromListing(parseListing(t, "folder INBOX\n4 - x:1\nfolder R14 uv=3\n2 - x:2"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.CreateFolder || a.Op == reconcile.Move
	})
	if len(plan.Conflicts) != 1 {
		t.Fatalf("the plan joins nothing:\n%s", plan)
	}
	if kept := recordsOf(next, "x:1"); !slices.Equal(kept, []string{"R10 - 1"}) {
		t.Fatalf("records of x:1 after the failed join: %q, want B's link record in R10", kept)
	}
	if plan := settlesAfterFailure(t, next, accA, accB, pol, "join", false); len(plan.Conflicts) != 1 {
		t.Fatalf("the run after the failed join does not join the two again:\n%s", plan)
	}
}

// TestNextFailedStoreKeepsPairing is TestModelMovesAndRenames's known bug
// 4 (seeds 60, 89 and 162 of -movemodel.all at 1be37a0), reduced: x:1 is
// new on both sides with other flags, so the plan pairs the two copies
// and stores the merge on each, and B's Store fails. The pairing must
// survive in the state: a move of x:1 by A's user before the next run is
// then a move on B too, not a copy each way; a deletion by A's user is a
// deletion on B (with the record dropped, B's copy was new to the next
// run and went back to A); and untouched, the next run stores the merge
// on B again.
func TestNextFailedStoreKeepsPairing(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion propagate")
	base := parseState(t, "folder INBOX\nfolder Work")
	setup := func(t *testing.T) (*account, *account, reconcile.State) {
		accA := accountFromListing(parseListing(t, "folder INBOX\n1 \\Seen x:1\nfolder Work"))
		accB := accountFromListing(parseListing(t, "folder INBOX\n1 \\Flagged x:1\nfolder Work"))
		_, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
			return a.Op == reconcile.Store && a.Side == reconcile.B
		})
		return accA, accB, next
	}
	settle := func(t *testing.T, next reconcile.State, accA, accB *account) {
		t.Helper()
		_, next = runPlan(t, next, accA, accB, pol, nil)
		if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
			t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
		}
	}
	t.Run("moved", func(t *testing.T) {
		accA, accB, next := setup(t)
		in := accA.folders["INBOX"]
		m := in.msgs[0]
		in.msgs = nil
		accA.deliver("Work", m.ID, m.Flags)
		plan, _ := runPlan(t, next, accA, accB, pol, nil)
		for _, a := range plan.Actions {
			if a.Op == reconcile.Copy {
				t.Fatalf("the move of x:1 on A is copied, the pairing was lost:\n%s", plan)
			}
		}
		settle(t, next, accA, accB)
		want := "folder INBOX uv=1\nfolder Work uv=1\n1 \\Flagged,\\Seen x:1\n"
		if got := formatModelAccount(accB); got != want {
			t.Errorf("B after the run:\n%swant:\n%s", got, want)
		}
	})
	t.Run("deleted on the other side", func(t *testing.T) {
		accA, accB, next := setup(t)
		accA.folders["INBOX"].msgs = nil
		settle(t, next, accA, accB)
		if got, want := formatModelAccount(accB), "folder INBOX uv=1\nfolder Work uv=1\n"; got != want {
			t.Errorf("B after A's user deleted x:1:\n%swant:\n%s", got, want)
		}
	})
	t.Run("deleted where the Store failed", func(t *testing.T) {
		// B's user deletes x:1: A's copy has the merged flags, which
		// the state's record (B's flags) shows as A's change, and
		// change beats delete. Nothing is lost; x:1 comes back to B,
		// as it did when the record was dropped and A's copy unknown.
		accA, accB, next := setup(t)
		accB.folders["INBOX"].msgs = nil
		settle(t, next, accA, accB)
		if got, want := formatModelAccount(accA), "folder INBOX uv=1\n1 \\Flagged,\\Seen x:1\nfolder Work uv=1\n"; got != want {
			t.Errorf("A after B's user deleted x:1:\n%swant:\n%s", got, want)
		}
		if got := formatModelAccount(accB); !strings.Contains(got, "x:1") {
			t.Errorf("B after its user deleted x:1, with A's copy changed:\n%swant x:1 back", got)
		}
	})
	t.Run("untouched", func(t *testing.T) {
		accA, accB, next := setup(t)
		plan, _ := runPlan(t, next, accA, accB, pol, nil)
		if got, want := plan.String(), "~ b:\"INBOX\" uid 1 +\\Seen x:1"; !strings.Contains(got, want) {
			t.Errorf("the next run's plan:\n%swant it to hold %s", got, want)
		}
	})
}

// TestNextFailedFlagMergeKeepsPairing: the plan pairs two copies of x:1
// and merges their flags, and the flag Stores fail. Dropped, the record
// left the two copies unlinked: the next run pairs them by identity
// again only where they are still in one folder, and a move of either
// by its user before it was copied each way (TestModelMovesAndRenames
// seed 90113 of 150,000, the move conflict below). The pairing must
// stay, with the flags the merge started from, so that the next run
// finds each side changed from them as this one did and merges the same
// again. (TestNextFailedStoreKeepsPairing has a Store failing on one
// side of two.)
//
//   - new on both sides: paired by identity in INBOX, both Stores fail;
//   - a move conflict: moved from INBOX to Work on A and to Lists on B,
//     A wins, B's copy is moved to Work to join A's, and the Stores of
//     both users' flag changes fail;
//   - one way: new on both sides of an a-to-b folder, B's Store (the
//     only one) fails.
func TestNextFailedFlagMergeKeepsPairing(t *testing.T) {
	storeFails := func(a *reconcile.Action) bool { return a.Op == reconcile.Store }
	for _, tc := range []struct {
		name, base, a, b, pol string
		// from and to are where A's user then moves x:1 from, and to.
		from, to string
		// merged is the flags each side's copy ends with.
		merged [2]string
	}{
		{
			name: "new on both sides",
			base: "folder INBOX\nfolder Work",
			a:    "folder INBOX\n1 \\Seen x:1\nfolder Work",
			b:    "folder INBOX\n1 \\Flagged x:1\nfolder Work",
			pol:  "direction both\ndeletion propagate",
			from: "INBOX", to: "Work",
			merged: [2]string{"\\Flagged,\\Seen", "\\Flagged,\\Seen"},
		},
		{
			name: "move conflict",
			base: "folder INBOX\n1 1 \\Seen x:1\nfolder Lists\nfolder Work",
			a:    "folder INBOX\nfolder Lists\nfolder Work\n1 - x:1",
			b:    "folder INBOX\nfolder Lists\n1 \\Flagged,\\Seen x:1\nfolder Work",
			pol:  "direction both\ndeletion keep\nprefer a",
			from: "Work", to: "INBOX",
			merged: [2]string{"\\Flagged", "\\Flagged"},
		},
		{
			name: "one way",
			base: "folder INBOX\nfolder Work",
			a:    "folder INBOX\n1 \\Seen x:1\nfolder Work",
			b:    "folder INBOX\n1 \\Flagged x:1\nfolder Work",
			pol:  "direction a-to-b\ndeletion propagate",
			from: "INBOX", to: "Work",
			merged: [2]string{"\\Seen", "\\Flagged,\\Seen"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := parsePolicy(t, tc.pol)
			setup := func(t *testing.T) (*account, *account, reconcile.State) {
				accA := accountFromListing(parseListing(t, tc.a))
				accB := accountFromListing(parseListing(t, tc.b))
				_, next := runPlan(t, parseState(t, tc.base), accA, accB, pol, storeFails)
				return accA, accB, next
			}
			// check runs the next sync, and a clean one after it,
			// which must have nothing left to do: x:1 is then in
			// folder on each side, once, with its merged flags.
			check := func(t *testing.T, accA, accB *account, next reconcile.State, folder string) {
				t.Helper()
				plan, next := runPlan(t, next, accA, accB, pol, nil)
				for _, a := range plan.Actions {
					if a.Op == reconcile.Copy {
						t.Fatalf("x:1 is copied, the pairing was lost:\n%s", plan)
					}
				}
				if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
					t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
				}
				for s, acc := range []*account{accA, accB} {
					got := formatModelAccount(acc)
					if !strings.Contains(got, folder+" uv=1\n1 "+tc.merged[s]+" x:1") || strings.Count(got, "x:1") != 1 {
						t.Errorf("%s after the run:\n%swant x:1 once, in %s with %s", reconcile.Side(s), got, folder, tc.merged[s])
					}
				}
			}
			t.Run("moved", func(t *testing.T) {
				accA, accB, next := setup(t)
				src := accA.folders[tc.from]
				m := src.msgs[0]
				src.msgs = nil
				accA.deliver(tc.to, m.ID, m.Flags)
				check(t, accA, accB, next, tc.to)
			})
			t.Run("untouched", func(t *testing.T) {
				accA, accB, next := setup(t)
				check(t, accA, accB, next, tc.from)
			})
		})
	}
}

// TestNextFailedActionInADeletedFolderIsRetried: B's user deleted Work,
// and the action that carries out what B did there fails on A (and so
// Work stays on A). The state must keep the record paired in Work, with
// B's side of Work as the base had it, so that the next run does it
// again. With B's UID cleared (Next's rule for a folder that is there
// again), the message became A's only in Work, for good.
//
//   - moved out first: B's user moved x:1 into INBOX before deleting
//     Work (TestModelMovesAndRenames' known bug 2 in its failure form,
//     seeds 378 and 594 of -movemodel.bugs 2). A's UID MOVE fails; B's
//     copy in INBOX was then new to the next run and copied to A, which
//     held x:1 twice.
//   - deleted with the folder: A's expunge (propagate) fails; A kept x:1.
func TestNextFailedActionInADeletedFolderIsRetried(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion propagate")
	for _, tc := range []struct {
		name       string
		base, a, b string
		fails      reconcile.Op
		want       reconcile.Counts // the next run's plan on A
		wantA      string
	}{
		{"moved out first", "folder INBOX\nfolder Work\n1 1 - x:1\n2 2 - x:2", "folder INBOX\nfolder Work\n1 - x:1\n2 - x:2", "folder INBOX\n5 - x:1",
			reconcile.Move, reconcile.Counts{Moves: 1, FoldersDeleted: 1}, "folder INBOX uv=1\n1 - x:1\n"},
		{"deleted with the folder", "folder INBOX\nfolder Work\n1 1 - x:1", "folder INBOX\nfolder Work\n1 - x:1", "folder INBOX",
			reconcile.Expunge, reconcile.Counts{Expunges: 1, FoldersDeleted: 1}, "folder INBOX uv=1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := parseState(t, tc.base)
			accA := accountFromListing(parseListing(t, tc.a))
			accB := accountFromListing(parseListing(t, tc.b))
			_, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == tc.fails || a.Op == reconcile.DeleteFolder
			})
			plan, next := runPlan(t, next, accA, accB, pol, nil)
			if c := plan.Counts[reconcile.A]; c != tc.want {
				t.Errorf("the next run's plan on A = %+v, want %+v:\n%s", c, tc.want, plan)
			}
			if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
				t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
			}
			if got := formatModelAccount(accA); got != tc.wantA {
				t.Errorf("A after the retry:\n%swant:\n%s", got, tc.wantA)
			}
		})
	}
}

// TestNextFailedFolderDeletionIsRetried: B's user deleted Work, and the
// run expunges A's copy there, then fails to delete A's Work (refused,
// or the connection lost). The state must keep B's side of Work as the
// base had it, so that the next run finds Work deleted on B again and
// deletes A's. Before, it recorded Work on A only, A's own by agreement,
// and A kept it, empty, for good: in a pair both ways and in a one-way
// pair from B (TestRandomEndToEnd -e2e.cuts, Dovecot seed 52).
func TestNextFailedFolderDeletionIsRetried(t *testing.T) {
	for _, dir := range []string{"both", "b-to-a"} {
		t.Run(dir, func(t *testing.T) {
			pol := parsePolicy(t, "direction "+dir+"\ndeletion propagate")
			base := parseState(t, "folder INBOX\nfolder Work\n1 1 - x:1")
			accA := accountFromListing(parseListing(t, "folder INBOX\nfolder Work\n1 - x:1"))
			accB := accountFromListing(parseListing(t, "folder INBOX"))
			_, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool { return a.Op == reconcile.DeleteFolder })
			if got, want := formatModelAccount(accA), "folder INBOX uv=1\nfolder Work uv=1\n"; got != want {
				t.Fatalf("A after the run whose deletion fails:\n%swant:\n%s", got, want)
			}
			plan, next := runPlan(t, next, accA, accB, pol, nil)
			if c, want := plan.Counts[reconcile.A], (reconcile.Counts{FoldersDeleted: 1}); c != want {
				t.Errorf("the next run's plan on A = %+v, want %+v:\n%s", c, want, plan)
			}
			if got, want := formatModelAccount(accA), "folder INBOX uv=1\n"; got != want {
				t.Errorf("A after the retry:\n%swant:\n%s", got, want)
			}
			if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
				t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
			}
		})
	}
}

// TestNextFailedConflictIntoNewFolderAfterReset is seed 103260 of
// TestModelMovesAndRenames -movemodel.bugs 2, reduced: Box was made
// anew on A (a new UIDVALIDITY), and both users moved x:1 out of it,
// A's into New, a folder new on A, B's into Filed, a folder A deleted.
// So A's folder wins, and the plan creates New on B and moves B's copy
// there; both fail. The record keepTarget keeps goes with New, which
// the state forgets; nor could Box's record stay with A's old UID. Box
// keeps it on B's side only, and the next run moves B's copy to New
// (crossedJoin), rather than copying A's to B, which held it twice then.
func TestNextFailedConflictIntoNewFolderAfterReset(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion keep\nprefer b")
	base := parseState(t, "folder Box uv=7/8\n1 1 - x:1\nfolder Filed a=-\nfolder INBOX")
	accA := accountFromListing(parseListing(t, "folder Box uv=9\nfolder INBOX\nfolder New\n7 - x:1"))
	accB := accountFromListing(parseListing(t, "folder Box uv=8\nfolder Filed\n3 - x:1\nfolder INBOX"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.CreateFolder || a.Op == reconcile.Move
	})
	if len(plan.Conflicts) != 1 || !strings.Contains(plan.String(), `+ b:"New" create folder`) {
		t.Fatalf("the plan does not settle a move conflict into New:\n%s", plan)
	}
	if kept, want := recordsOf(next, "x:1"), []string{"Box - 1"}; !slices.Equal(kept, want) {
		t.Fatalf("records of x:1 after the failed move: %q, want %q", kept, want)
	}
	if plan := settlesAfterFailure(t, next, accA, accB, pol, "move", false); len(plan.Conflicts) != 1 {
		t.Fatalf("the run after the failed move does not settle the conflict again:\n%s", plan)
	}
}

// TestNextFailedRevivalLeavesMovedOutRecords: a's user renamed R5 to R9
// and moved x:1 out of it into INBOX, and b's user deleted R5. The plan
// makes R9 again on b with a's messages, and copies x:1 to b's INBOX;
// making R9 fails, and the state keeps R5 as the base had it, for the
// next run to find the same rename again. But not x:1's record there:
// x:1 left R5 on a, and its record is INBOX's now. a's user then files
// x:1 into R9. The next run must move b's copy there, not copy x:1 to
// b's R9 and trash b's INBOX copy: kept, R5's stale record claimed x:1
// in R9, so a's move did not read as a move (TestModelMovesAndRenames
// seed 205661, where b ended with x:1 in R9 and in its trash). Renamed by
// copy, R9 has new UIDs, and x:1's old one is x:3's now: the records
// are judged by identity (seed 303265).
func TestNextFailedRevivalLeavesMovedOutRecords(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion trash")
	for _, tc := range []struct {
		name string
		r9   string // a's R9
	}{
		{"renamed", "folder R9 uv=5\n1 - x:2\n3 - x:3"},
		{"renamed by copy", "folder R9 uv=8\n1 - x:2\n2 - x:3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := parseState(t, "folder INBOX uv=1/1\nfolder R5 uv=5/6\n1 1 - x:2\n2 2 - x:1\n3 3 - x:3")
			accA := accountFromListing(parseListing(t, "folder INBOX uv=1\n7 - x:1\n"+tc.r9))
			accB := accountFromListing(parseListing(t, "folder INBOX uv=1"))
			plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool { return a.Op == reconcile.CreateFolder })
			if c := plan.Counts[reconcile.B]; c.Copies != 3 || c.FoldersCreated != 1 {
				t.Fatalf("first plan on b = %+v, want R9 made with x:2 and x:3, and x:1 copied:\n%s", c, plan)
			}
			if got := recordsOf(next, "x:1"); len(got) != 1 {
				t.Fatalf("x:1 recorded %q after the failed run, want once (INBOX):\n%s", got, formatState(next))
			}
			if o := accA.apply(&reconcile.Action{Op: reconcile.Move, Side: reconcile.A, Mailbox: "INBOX", UID: 7, Dest: "R9", ID: "x:1"}, accB); o.Err != nil {
				t.Fatal(o.Err) // a's user's move
			}
			plan, next = runPlan(t, next, accA, accB, pol, nil)
			if c := plan.Counts[reconcile.B]; c.Copies != 2 || c.Moves != 1 || c.Trashed != 0 {
				t.Errorf("the next run's plan on b = %+v, want x:2 and x:3 copied and x:1 moved:\n%s", c, plan)
			}
			if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
				t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
			}
			if got := accB.folders["R9"]; got == nil || len(got.msgs) != 3 || len(accB.folders["INBOX"].msgs) != 0 || accB.folders["Trash"] != nil {
				t.Errorf("b after the retry:\n%s", formatModelAccount(accB))
			}
		})
	}
}

// TestNextFailedRevivalKeepsUndecidedConflict: a's user renamed R5 to
// R9 and moved x:1 out of it into INBOX; b's user moved x:1 into P and
// deleted R5. So R9 is made again on b, and x:1, moved to different
// folders on both sides, is a move conflict: a's folder wins, and b's
// copy is to follow into INBOX. Both the creation and the Move fail.
// The state keeps R5 as the base had it (the next run finds the same
// rename), and must keep x:1's record in it: dropped with the mail that
// left R5, it left the two copies unlinked, and the next run copied each
// to the other side (TestModelMovesAndRenames seeds 649286 and 726891).
func TestNextFailedRevivalKeepsUndecidedConflict(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion propagate\nprefer a")
	base := parseState(t, "folder INBOX uv=1/1\nfolder P uv=2/2\nfolder R5 uv=5/6\n1 1 - x:1\n2 2 - x:2")
	accA := accountFromListing(parseListing(t, "folder INBOX uv=1\n7 - x:1\nfolder P uv=2\nfolder R9 uv=5\n2 - x:2"))
	accB := accountFromListing(parseListing(t, "folder INBOX uv=1\nfolder P uv=2\n4 - x:1"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.CreateFolder || a.Op == reconcile.Move
	})
	if c := plan.Counts[reconcile.B]; c.FoldersCreated != 1 || c.Moves != 1 || c.Copies != 1 || len(plan.Conflicts) != 1 {
		t.Fatalf("first plan on b = %+v, want R9 made with x:2, and x:1 moved to INBOX as a conflict:\n%s", c, plan)
	}
	if got := recordsOf(next, "x:1"); len(got) != 1 {
		t.Fatalf("x:1 recorded %q after the failed run, want once (R5):\n%s", got, formatState(next))
	}
	plan, next = runPlan(t, next, accA, accB, pol, nil)
	if a, b := plan.Counts[reconcile.A], plan.Counts[reconcile.B]; a.Copies != 0 || b.Moves != 1 || b.Copies != 1 {
		t.Errorf("the next run's plan on a = %+v, on b = %+v, want b's x:1 moved and only x:2 copied:\n%s", a, b, plan)
	}
	if plan, _ := runPlan(t, next, accA, accB, pol, nil); !plan.Empty() {
		t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
	}
	for _, acc := range []*account{accA, accB} {
		if got := acc.folders["INBOX"]; got == nil || len(got.msgs) != 1 || len(acc.folders["P"].msgs) != 0 {
			t.Errorf("after the retry, want x:1 in INBOX only:\n%s", formatModelAccount(acc))
		}
	}
}

// TestNextFailedFollowKeepsStoredFlags: b's user moved x:2 out of
// Archive into INBOX, flagged it there, and deleted Archive. The plan
// stores the merged flags on a's copy and moves it to INBOX; the Store is
// done and the Move fails. The record kept in Archive must carry the
// flags the run stored: with the base's, the next run took them for a's
// user's change, which beats b's deletion of Archive, and made Archive
// again on b, once b's user had expunged x:2 (TestModel seed 1607162).
func TestNextFailedFollowKeepsStoredFlags(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion keep")
	base := parseState(t, "folder Archive uv=5/6\n1 2 \\Seen x:2\nfolder INBOX uv=1/1")
	accA := accountFromListing(parseListing(t, "folder Archive uv=5\n1 \\Seen x:2\nfolder INBOX uv=1"))
	accB := accountFromListing(parseListing(t, "folder INBOX uv=1\n4 \\Flagged x:2"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool { return a.Op == reconcile.Move })
	if c := plan.Counts[reconcile.A]; c.Stores != 1 || c.Moves != 1 {
		t.Fatalf("first plan on a = %+v, want a Store and a Move:\n%s", c, plan)
	}
	if f := next.Folder("Archive"); f == nil || len(f.Records) != 1 || !f.Records[0].Flags.Equal(reconcile.NewFlags(`\Flagged`)) {
		t.Fatalf("after the failed Move the state is\n%s\nwant x:2 kept in Archive with the stored flags, \\Flagged", formatState(next))
	}
	if o := accB.apply(&reconcile.Action{Op: reconcile.Expunge, Side: reconcile.B, Mailbox: "INBOX", UID: 4, ID: "x:2"}, accA); o.Err != nil {
		t.Fatal(o.Err) // b's user's expunge
	}
	plan, _ = runPlan(t, next, accA, accB, pol, nil)
	if c := plan.Counts[reconcile.B]; c.FoldersCreated != 0 || c.Copies != 0 {
		t.Errorf("the next run's plan on b = %+v, want Archive not made again:\n%s", c, plan)
	}
}

// TestNextFailedRevivalOfAFolderTheTargetRenamed is testdata case 147
// with its CREATE failing (TestModelMovesAndRenamesOneWay seed 40): in an
// a-to-b pair both users renamed Work, a's to Projects, b's to Mine. The
// plan makes Projects on b, empty, and records Mine apart as b's own
// folder, with b's copies. When the CREATE fails, the state keeps Work as
// the base had it (keptOrig); Mine must not be recorded as well. It was,
// with b's copies: recorded twice, and the next run, finding Work's side
// on b claimed by Mine, took it for deleted and copied x:1 and x:2 into
// the Projects it made: b held two of each. (claimedByKeptOrig, since,
// keeps such copies from being recorded twice by itself; the state
// still records one mailbox once, and Mine not at all.) The next run
// must plan what case 147 plans.
func TestNextFailedRevivalOfAFolderTheTargetRenamed(t *testing.T) {
	pol := parsePolicy(t, "direction a-to-b\ndeletion propagate")
	base := parseState(t, "folder INBOX\nfolder Work uv=7/8\n1 1 - x:1\n2 2 \\Seen x:2")
	accA := accountFromListing(parseListing(t, "folder INBOX\nfolder Projects uv=7\n1 - x:1\n2 \\Seen x:2"))
	accB := accountFromListing(parseListing(t, "folder INBOX\nfolder Mine uv=8\n1 - x:1\n2 \\Seen x:2"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.CreateFolder
	})
	if !strings.Contains(plan.String(), `+ b:"Projects" create folder`) {
		t.Fatalf("the plan does not make Projects on b:\n%s", plan)
	}
	for _, id := range []reconcile.Identity{"x:1", "x:2"} {
		if got := recordsOf(next, id); len(got) != 1 || !strings.HasPrefix(got[0], "Work ") {
			t.Errorf("records of %s after the failed CREATE: %q, want the base's one, in Work:\n%s", id, got, formatState(next))
		}
	}
	// One mailbox, one folder of the state: Work's side on b is Mine.
	for _, f := range next.Folders {
		if f.B.Mailbox == "Mine" {
			t.Errorf("the state records b's Mine as a folder of its own beside Work:\n%s", formatState(next))
		}
	}
	plan = settlesAfterFailure(t, next, accA, accB, pol, "CREATE", true)
	if !strings.Contains(plan.String(), `+ b:"Projects" create folder`) {
		t.Errorf("the run after the failed CREATE does not make Projects on b:\n%s", plan)
	}
	if got := strings.Count(formatModelAccount(accB), "x:2"); got != 1 {
		t.Errorf("b holds x:2 %d times:\n%s", got, formatModelAccount(accB))
	}
}

// TestNextFailedRevivalAfterATargetMoveOut: in an a-to-b pair, b's user
// moved x:2 out of Work into INBOX, then deleted Work; a's server made
// Work anew under the name Projects (a rename by copy: a new
// UIDVALIDITY, found by its messages). Renamed on a, deleted on b, Work
// is made again on b as Projects, with x:1; x:2 stays where b's user
// put it, recorded there on b only (a one-way pair does not follow b's
// move). The CREATE fails, and the state keeps Work as the base had it
// (keptOrig), with x:2 on both sides: b's copy must not be recorded in
// INBOX as well. Recorded twice, the next run took b's copy of Work for
// deleted with the folder and copied x:2 into Projects: b held it twice
// (TestModelMovesAndRenamesOneWay seed 12893). Recorded only as the base
// had it, the next run decides x:2 as this one did.
func TestNextFailedRevivalAfterATargetMoveOut(t *testing.T) {
	pol := parsePolicy(t, "direction a-to-b\ndeletion propagate")
	base := parseState(t, "folder INBOX\nfolder Work uv=7/8\n1 1 - x:1\n2 2 \\Seen x:2")
	accA := accountFromListing(parseListing(t, "folder INBOX\nfolder Projects uv=9\n1 - x:1\n2 \\Seen x:2"))
	accB := accountFromListing(parseListing(t, "folder INBOX\n5 \\Seen x:2"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.CreateFolder || a.Op == reconcile.Copy
	})
	if !strings.Contains(plan.String(), `+ b:"Projects" create folder`) || strings.Contains(plan.String(), "x:2 (") {
		t.Fatalf("the plan does not make Projects on b with x:1 alone:\n%s", plan)
	}
	if got := recordsOf(next, "x:2"); !slices.Equal(got, []string{"Work 2 2"}) {
		t.Errorf("records of x:2 after the failed CREATE: %q, want the base's alone:\n%s", got, formatState(next))
	}
	plan, next = runPlan(t, next, accA, accB, pol, nil)
	if !strings.Contains(plan.String(), `+ b:"Projects" create folder`) || strings.Contains(plan.String(), "x:2 (") {
		t.Errorf("the run after the failed CREATE does not make Projects on b with x:1 alone:\n%s", plan)
	}
	if again, _ := runPlan(t, next, accA, accB, pol, nil); !again.Empty() {
		t.Errorf("not settled after a clean run; plans again:\n%s", again)
	}
	if got := strings.Count(formatModelAccount(accB), "x:2"); got != 1 {
		t.Errorf("b holds x:2 %d times:\n%s", got, formatModelAccount(accB))
	}
}

// TestNextFailedMoveConflictLeavesALoadableState is
// TestModelMovesAndRenamesOneWay seed 869, reduced. x:5's record in F1/F2
// has a's UID unknown (a Move after a UIDVALIDITY change failed before)
// and b's at 2. Both sides renamed F1 (a to R8, b to F6/R9, which an
// a-to-b pair does not follow: R8 and R8/F2 are made on b), and both
// users moved x:5, a's into R8, b's with its folder: a move conflict that
// a wins. The Move of b's copy fails. The state kept x:5's base record
// without b's UID (the record's folder on b is the new R8/F2 now): a
// record at a UID not known on a side and no UID on the other, which
// names nothing; the state did not load, and every later run stopped
// on it. Such a record is dropped now. And as F1/F2 was made again on b,
// the base record cannot be kept as it was: the winner's copy, a's in
// R8, stays recorded on a only (actionRare.keepTarget), which in an a-to-b
// folder keeps it off b, where b holds the message already. Without it,
// the next run copied x:5 into b's R8, beside b's own. Where the CREATE
// of R8 on b fails too, the state keeps F1 as the base had it, and a's
// copy recorded in it (keptOrig), as R8 is F1's mailbox on a.
func TestNextFailedMoveConflictLeavesALoadableState(t *testing.T) {
	pol := parsePolicy(t, "direction a-to-b\ndeletion propagate\nprefer a")
	base := parseState(t, "folder F1 a=R8 uv=107/104\n1 1 - x:2\nfolder F1/F2 a=R8/F2 uv=108/105\n1 - - x:1\n? 2 - x:5\nfolder INBOX uv=101/101")
	for _, tc := range []struct {
		name string
		// createFails: the CREATE of R8 on b, the winner's folder,
		// fails too (seed 869 itself): the state keeps F1 as the base
		// had it (keptOrig), and a's copy recorded in it.
		createFails bool
		records     []string
	}{
		{name: "move fails", records: []string{"R8 4 -"}},
		{name: "move and create fail", createFails: true, records: []string{"F1 4 -"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accA := accountFromListing(parseListing(t, "folder INBOX uv=101\nfolder R8 uv=107\n1 - x:2\n4 - x:5\nfolder R8/F2 uv=108\n1 - x:1"))
			accB := accountFromListing(parseListing(t, "folder F6 uv=107\nfolder F6/R9 uv=104\n1 - x:2\nfolder F6/R9/F2 uv=105\n2 - x:5\nfolder INBOX uv=101"))
			// runPlan fails the test when the next state does not load.
			plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
				return a.Op == reconcile.Move && a.Reason == reconcile.ReasonMoveConflict ||
					tc.createFails && a.Op == reconcile.CreateFolder && a.Mailbox == "R8"
			})
			if len(plan.Conflicts) != 1 {
				t.Fatalf("the plan does not settle x:5's move conflict:\n%s", plan)
			}
			if got := recordsOf(next, "x:5"); !slices.Equal(got, tc.records) {
				t.Errorf("records of x:5 after the failed run: %q, want %q, a's copy on a only\n%s", got, tc.records, formatState(next))
			}
			settlesAfterFailure(t, next, accA, accB, pol, "Move", false)
			for _, acc := range []*account{accA, accB} {
				if got := strings.Count(formatModelAccount(acc), "x:5"); got != 1 {
					t.Errorf("an account holds x:5 %d times:\n%s", got, formatModelAccount(acc))
				}
			}
		})
	}
}

// TestNextFailedMoveConflictIntoANewFolderOutOfAFolderMadeAnew is
// TestModelMovesAndRenames -movemodel.alike seed 178238, reduced. Both
// users moved x:1 out of F, whose UIDVALIDITY changed on both sides (a
// rename by copy, say): A's into N, a folder A's user made, B's into G.
// A wins (prefer), and B's copy is to move to N, made on B by the run.
// Should the CREATE and the Move both fail, the base record's UIDs name
// nothing (F was made anew), and the winner's copy cannot be kept on
// its side only in N, which the state forgets: Next keeps B's copy in G
// recorded on B only, and the run after joins the two in N. Before, the
// state kept no record of x:1, and the run after copied each copy to
// the other side: each account held x:1 twice.
func TestNextFailedMoveConflictIntoANewFolderOutOfAFolderMadeAnew(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion propagate\nprefer a")
	base := parseState(t, "folder F uv=3/4\n1 1 \\Flagged x:1\n2 2 - x:2\nfolder G uv=5/6\nfolder INBOX")
	accA := accountFromListing(parseListing(t, "folder F uv=7\n1 - x:2\nfolder G uv=5\nfolder INBOX\nfolder N uv=9\n1 \\Flagged x:1"))
	accB := accountFromListing(parseListing(t, "folder F uv=8\n1 - x:2\nfolder G uv=6\n1 \\Flagged x:1\nfolder INBOX"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.CreateFolder || a.Op == reconcile.Move
	})
	if len(plan.Conflicts) != 1 {
		t.Fatalf("the plan settles no move conflict:\n%s", plan)
	}
	if kept := recordsOf(next, "x:1"); !slices.Equal(kept, []string{"G - 1"}) {
		t.Fatalf("records of x:1 after the failed move: %q, want B's copy in G", kept)
	}
	plan = settlesAfterFailure(t, next, accA, accB, pol, "move", false)
	if !slices.ContainsFunc(plan.Actions, func(a reconcile.Action) bool {
		return a.Op == reconcile.Move && a.Side == reconcile.B && a.Dest == "N"
	}) {
		t.Fatalf("the run after the failed move does not join B's copy with A's in N:\n%s", plan)
	}
}

// TestNextFailedTrashOfACopyFiledAwayOnTheOtherSide is
// TestModelMovesAndRenames seed 2782957, reduced. Under trash, B's user
// moved x:9 out of INBOX into F, which A's user deleted: B's copy stays
// in F on B only (Record.Away), and A's copy goes to A's trash. Should
// that Move fail, the base record stays as it was (INBOX, both UIDs),
// and B's filed copy must not be recorded beside it: B's one copy would
// be in the state twice. Then A's user moved A's copy into F (made
// again on A by the run, for x:2) and B's user moved B's copy back to
// INBOX, and the run after read each move as a change against the
// other side's deletion: each side got the other's copy, and held x:9
// twice. Without the filed record, the run after finds B's move again.
func TestNextFailedTrashOfACopyFiledAwayOnTheOtherSide(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion trash\nprefer b")
	base := parseState(t, "folder F uv=4/4\n1 2 \\Flagged x:5\n2 1 - x:4\n3 3 $todo,\\Flagged,\\Seen x:2\nfolder INBOX uv=1/1\n1 2 - x:1\n5 5 - x:9\nfolder Trash a=- uv=0/2\n- 1 - x:6")
	accA := accountFromListing(parseListing(t, "folder INBOX uv=1\n1 - x:1\n5 - x:9"))
	accB := accountFromListing(parseListing(t, "folder F uv=4\n1 - x:4\n2 \\Flagged x:5\n3 $todo,\\Flagged x:2\n4 - x:9\nfolder INBOX uv=1\n2 - x:1\nfolder Trash uv=2\n1 - x:6"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.Move && a.Side == reconcile.A && a.ID == "x:9"
	})
	if !slices.ContainsFunc(plan.Actions, func(a reconcile.Action) bool {
		return a.Op == reconcile.Move && a.Side == reconcile.A && a.ID == "x:9" && a.Reason == reconcile.ReasonTrash
	}) {
		t.Fatalf("the plan does not move A's copy of x:9 to the trash:\n%s", plan)
	}
	if kept := recordsOf(next, "x:9"); !slices.Equal(kept, []string{"INBOX 5 5"}) {
		t.Fatalf("records of x:9 after the failed move: %q, want the base's in INBOX alone", kept)
	}
	// Both users move their copy before the next run.
	move := func(acc *account, from string, uid reconcile.UID, to string) {
		m := acc.folders[from]
		i := slices.IndexFunc(m.msgs, func(x reconcile.Message) bool { return x.UID == uid })
		if i < 0 {
			t.Fatalf("%s holds no UID %d:\n%s", from, uid, formatModelAccount(acc))
		}
		x := m.msgs[i]
		m.msgs = slices.Delete(m.msgs, i, i+1)
		acc.deliver(to, x.ID, x.Flags)
	}
	move(accA, "INBOX", 5, "F")
	move(accB, "F", 4, "INBOX")
	plan, next = runPlan(t, next, accA, accB, pol, nil)
	for _, a := range plan.Actions {
		if a.Op == reconcile.Copy && a.ID == "x:9" {
			t.Fatalf("the run after copies x:9:\n%s", plan)
		}
	}
	if again, _ := runPlan(t, next, accA, accB, pol, nil); !again.Empty() {
		t.Fatalf("not settled after a clean run; plans again:\n%s", again)
	}
	for _, acc := range []*account{accA, accB} {
		if got := strings.Count(formatModelAccount(acc), "x:9"); got != 1 {
			t.Errorf("an account holds x:9 %d times:\n%s", got, formatModelAccount(acc))
		}
	}
}

// TestNextFailedRemovalOfACopyFiledAwayOutOfAFolderMadeAnew is
// TestModelMovesAndRenames seed 2812513, reduced: as
// TestNextFailedTrashOfACopyFiledAwayOnTheOtherSide, but the folder B's
// user filed x:9 away from has a new UIDVALIDITY on B. The base record
// cannot be kept there (its UID on B names nothing), so the record of
// B's filed copy in G, on B only, is the one link left between the two
// copies, and it stays: the run after copies nothing.
func TestNextFailedRemovalOfACopyFiledAwayOutOfAFolderMadeAnew(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion propagate\nprefer a")
	base := parseState(t, "folder F uv=4/4\n1 1 - x:1\n2 2 - x:9\nfolder G uv=5/6\n1 1 - x:6\nfolder INBOX uv=1/1")
	accA := accountFromListing(parseListing(t, "folder F uv=4\n1 - x:1\n2 - x:9\nfolder INBOX uv=1"))
	accB := accountFromListing(parseListing(t, "folder F uv=9\n1 - x:1\nfolder G uv=6\n1 - x:6\n2 - x:9\nfolder INBOX uv=1"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.Expunge && a.ID == "x:9"
	})
	if !slices.ContainsFunc(plan.Actions, func(a reconcile.Action) bool {
		return a.Op == reconcile.Expunge && a.Side == reconcile.A && a.ID == "x:9"
	}) {
		t.Fatalf("the plan does not expunge A's copy of x:9:\n%s", plan)
	}
	if kept := recordsOf(next, "x:9"); !slices.Equal(kept, []string{"G - 2"}) {
		t.Fatalf("records of x:9 after the failed expunge: %q, want B's filed copy in G", kept)
	}
	settlesAfterFailure(t, next, accA, accB, pol, "expunge", false)
	for _, acc := range []*account{accA, accB} {
		if got := strings.Count(formatModelAccount(acc), "x:9"); got != 1 {
			t.Errorf("an account holds x:9 %d times:\n%s", got, formatModelAccount(acc))
		}
	}
}

// TestNextFailedMoveConflictWhoseBaseRecordIsLetGo is
// TestModelMovesAndRenames seed 2845161, reduced. Both users moved x:1
// out of X: A's into Y, B's into Z; A wins (prefer), and B's copy is to
// move to Y. The base record has A's UID in X, which A's user deleted
// and the run makes again on A (for B's change of x:2), and B's at a UID
// the state did not know. Should the Move fail, Next lets A's UID go (X
// is a new mailbox on A) and B's names nothing: the base record is
// dropped. B's copy then stays recorded in Z on B only, and the run
// after joins the two in Y. Before, no record linked the two copies,
// and the run after copied each to the other side.
func TestNextFailedMoveConflictWhoseBaseRecordIsLetGo(t *testing.T) {
	pol := parsePolicy(t, "direction both\ndeletion propagate\nprefer a")
	base := parseState(t, "folder INBOX uv=1/1\nfolder X uv=5/6\n1 1 \\Flagged x:2\n2 ? $todo x:1\nfolder Y uv=7/7\nfolder Z uv=8/8")
	accA := accountFromListing(parseListing(t, "folder INBOX uv=1\nfolder Y uv=7\n3 $todo x:1\nfolder Z uv=8"))
	accB := accountFromListing(parseListing(t, "folder INBOX uv=1\nfolder X uv=6\n1 - x:2\nfolder Y uv=7\nfolder Z uv=8\n2 $todo x:1"))
	plan, next := runPlan(t, base, accA, accB, pol, func(a *reconcile.Action) bool {
		return a.Op == reconcile.Move && a.ID == "x:1"
	})
	if len(plan.Conflicts) != 1 {
		t.Fatalf("the plan settles no move conflict:\n%s", plan)
	}
	if kept := recordsOf(next, "x:1"); !slices.Equal(kept, []string{"Z - 2"}) {
		t.Fatalf("records of x:1 after the failed move: %q, want B's copy in Z", kept)
	}
	plan = settlesAfterFailure(t, next, accA, accB, pol, "move", false)
	if !slices.ContainsFunc(plan.Actions, func(a reconcile.Action) bool {
		return a.Op == reconcile.Move && a.Side == reconcile.B && a.Dest == "Y"
	}) {
		t.Fatalf("the run after the failed move does not join B's copy with A's in Y:\n%s", plan)
	}
}

// finishRetried runs a plan from base whose one action, on side s, is
// the Expunge that finishes what a broken run left half done, and has it
// fail; the next run must plan it again, and the one after that nothing.
func finishRetried(t *testing.T, base reconcile.State, accA, accB *account, p reconcile.Policy, s reconcile.Side) {
	t.Helper()
	plan, next := runPlan(t, base, accA, accB, p, func(a *reconcile.Action) bool { return a.Op == reconcile.Expunge })
	if c := plan.Counts[s]; c != (reconcile.Counts{Expunges: 1}) {
		t.Fatalf("the plan on %s = %+v, want the original expunged:\n%s", s, c, plan)
	}
	plan, next = runPlan(t, next, accA, accB, p, nil)
	if c := plan.Counts[s]; c != (reconcile.Counts{Expunges: 1}) {
		t.Errorf("the run after the failed expunge plans on %s %+v, want it again:\n%s", s, c, plan)
	}
	if plan, _ := runPlan(t, next, accA, accB, p, nil); !plan.Empty() {
		t.Fatalf("not settled after a clean run; plans again:\n%s", plan)
	}
}

// TestNextFailedFinishOfAHalfDoneMoveConflict: the Expunge that
// finishes a move conflict a killed run left half done (testdata case
// 236: x:1 in Junk and Trash on a, in Trash on b) fails. The state must
// not record the two copies in Trash as paired: with the base's record
// kept and Trash paired, the next run found no conflict, took a's copy
// in Junk for a's own new mail, and a kept x:1 twice (in a pair both
// ways, b got a second copy too). Left unpaired, the next run finds the
// same conflict and finishes it.
func TestNextFailedFinishOfAHalfDoneMoveConflict(t *testing.T) {
	for _, pol := range []string{"direction b-to-a\ndeletion propagate", "direction both\ndeletion propagate\nprefer b"} {
		t.Run(strings.Fields(pol)[1], func(t *testing.T) {
			p := parsePolicy(t, pol)
			base := parseState(t, "folder INBOX\n1 1 - x:1\nfolder Junk\nfolder Trash")
			accA := accountFromListing(parseListing(t, "folder INBOX\nfolder Junk\n6 - x:1\nfolder Trash\n9 - x:1"))
			accB := accountFromListing(parseListing(t, "folder INBOX\nfolder Junk\nfolder Trash\n3 - x:1"))
			finishRetried(t, base, accA, accB, p, reconcile.A)
			for _, acc := range []*account{accA, accB} {
				if got, want := formatModelAccount(acc), "folder INBOX uv=1\nfolder Junk uv=1\nfolder Trash uv=1\n"; !strings.HasPrefix(got, want) || strings.Count(got, "x:1") != 1 {
					t.Errorf("an account after the retry:\n%swant x:1 once, in Trash", got)
				}
			}
		})
	}
}

// TestNextFailedFinishOfAHalfDoneJoin: case 238's expunge of B's
// original fails. Next keeps INBOX's one-sided record and drops the
// pairing in Work, so the next run finds the same half-done join and
// expunges the original then: B holds x:1 once, in Work.
func TestNextFailedFinishOfAHalfDoneJoin(t *testing.T) {
	for _, pol := range []string{"direction both\ndeletion keep", "direction a-to-b\ndeletion propagate"} {
		t.Run(strings.Fields(pol)[1], func(t *testing.T) {
			p := parsePolicy(t, pol)
			base := parseState(t, "folder INBOX\n2 2 - x:2\n- 5 \\Seen x:1\nfolder Work")
			accA := accountFromListing(parseListing(t, "folder INBOX\n2 - x:2\nfolder Work\n7 \\Seen x:1"))
			accB := accountFromListing(parseListing(t, "folder INBOX\n2 - x:2\n5 \\Seen x:1\nfolder Work\n3 \\Seen x:1"))
			finishRetried(t, base, accA, accB, p, reconcile.B)
			if got := formatModelAccount(accB); strings.Count(got, "x:1") != 1 || !strings.Contains(got, "folder Work uv=1\n3 ") {
				t.Errorf("B after the retry:\n%swant x:1 once, in Work", got)
			}
		})
	}
}
