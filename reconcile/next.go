package reconcile

import (
	"cmp"
	"errors"
	"slices"
	"sort"
	"strings"
)

// Outcome is what became of one Action.
type Outcome struct {
	// Err is nil when the action was done.
	Err error
	// UID is the new UID of a copied or moved message, 0 when the server
	// did not report it.
	UID UID
	// UIDValidity is the UIDVALIDITY of the mailbox a copy or move went
	// to, or of the folder created, when known.
	UIDValidity uint32
	// Refused holds the keywords of a Copy, a Store or a Move's
	// restoring STORE that its target refused outright (see
	// RefusedError): the copy went, or stays, without them. Next records
	// that its folder refuses them (Permanent), so the copy's lack of
	// them is not read as its user's removal.
	Refused Flags
	// Unrestored holds the Flags of a Move done, those its source
	// folder had dropped, that could not be stored on the moved copy,
	// for another reason than a refusal outright (see movedOutOfRefusal,
	// restoreMoved): Next takes them out of its record.
	Unrestored Flags
}

// ErrNotRun is the outcome of an action the run did not get to.
var ErrNotRun = errors.New("not run")

// Next computes the state to commit after a plan was carried out, from the
// plan and one Outcome per action (missing outcomes count as not run).
// Where an action failed, the record it concerned stays as the base had
// it, so the next run decides it again; a pairing the plan made (no base
// record) is kept where only its flag Stores failed (see pairedKept);
// where the server did not report a new UID, the record is dropped and
// the next run pairs the message by identity. Next is a pure function.
func Next(p *Plan, outcomes []Outcome) State {
	for _, d := range p.drafts {
		for _, sl := range d.slots {
			sl.failed, sl.storeFailed, sl.targetLost = false, [2]bool{}, false
		}
	}
	createFailed := map[*draftFolder]bool{}
	// followed maps the slot of a base record whose Move, following the
	// other side's user's move, failed to the slot at its destination,
	// whose flags are the merge the run stored where every Store of it
	// was done (see below). A map, not a slot field: failures are rare,
	// and a field costs every slot of a large plan.
	var followed map[*slot]*slot
	// keptSource holds the copies failed Moves leave recorded on their
	// side only, where they are (actionRare.keepSource).
	type keptAt struct {
		side    Side
		mailbox string
		rec     Record
	}
	var keptSource []keptAt
	// sourceIfDropped holds, by the base record's slot, the copies failed
	// Moves leave recorded where they are should Next drop that record
	// (actionRare.keepSource without keepTarget); dropped marks the failed
	// slots whose records Next drops.
	var sourceIfDropped map[*slot]keptAt
	var dropped map[*slot]bool
	// The plan's actions are copies of the planner's: a rename is known
	// by what it renames.
	type renameKey struct {
		side     Side
		from, to string
	}
	renameFailed := map[renameKey]bool{}
	// keptBase marks, per folder pair, the sides whose folder the state
	// keeps as the base had it because the deletion that was to follow
	// there failed on the other side.
	keptBase := map[*draftFolder][2]bool{}
	// created holds the folders the plan made whose UIDVALIDITY the
	// server told (CreateFolder's outcome). The copies and moves into a
	// folder tell it too, under the UIDs they report, and win: a folder
	// made again by someone else between the CREATE and the copies has
	// the copies' UIDVALIDITY.
	type createdFolder struct {
		st          *SideState
		uidValidity uint32
	}
	var created []createdFolder
	side := make(map[*draftFolder]*[2]SideState, len(p.drafts))
	// home is the folder pair a Move's arrival belongs to: another
	// folder pair than the action's own. Only arrivals are looked up, so
	// only they are indexed.
	home := map[*slot]*draftFolder{}
	for i := range p.Actions {
		if a := p.Actions[i].arrival; a != nil {
			home[a] = nil
		}
	}
	for _, d := range p.drafts {
		s := d.side
		side[d] = &s
		if len(home) == 0 {
			continue
		}
		for _, sl := range d.slots {
			if _, ok := home[sl]; ok {
				home[sl] = d
			}
		}
	}
	for i := range p.Actions {
		a := &p.Actions[i]
		out := Outcome{Err: ErrNotRun}
		if i < len(outcomes) {
			out = outcomes[i]
		}
		var ss *[2]SideState
		if a.folder != nil {
			ss = side[a.folder]
		}
		if out.Err != nil {
			rare := a.rare()
			if a.slot != nil {
				if a.Op == Store {
					a.slot.storeFailed[a.Side] = true
				} else {
					a.slot.failed = true
				}
				if a.Op == Move && a.Reason == ReasonMoved && a.arrival != nil {
					if followed == nil {
						followed = map[*slot]*slot{}
					}
					followed[a.slot] = a.arrival
				}
			}
			if a.arrival != nil {
				a.arrival.failed = true
			}
			if d := home[a.arrival]; a.slot != nil && (rare.keepBase || rare.keepTarget && d != nil && createFailed[d]) {
				a.slot.targetLost = true
			}
			// Where the folder has a new UIDVALIDITY on a side, the base
			// record is not kept (its UID there names nothing), and the
			// filed copy's record is the one link left between the two
			// copies: it stays (TestModelMovesAndRenames seed 2812513).
			if d := a.folder; rare.filedAway && d != nil && !d.reset[A] && !d.reset[B] {
				if filed := p.filedCopies[a.ID]; len(filed) == 1 && filed[0].rec.UID(a.Side) == 0 && filed[0].rec.UID(a.Side.Other()) != 0 {
					filed[0].failed = true
				}
			}
			if rare.keepSource {
				k := Record{ID: a.ID, Flags: rare.sourceFlags}
				k.setUID(a.Side, a.UID)
				switch d := home[a.arrival]; {
				case rare.keepTarget && d != nil && createFailed[d]:
					keptSource = append(keptSource, keptAt{a.Side, a.Mailbox, k})
				case !rare.keepTarget && a.slot != nil:
					if sourceIfDropped == nil {
						sourceIfDropped, dropped = map[*slot]keptAt{}, map[*slot]bool{}
					}
					sourceIfDropped[a.slot] = keptAt{a.Side, a.Mailbox, k}
				}
			}
			if d := home[a.arrival]; len(rare.holds) > 0 && (rare.holdsAlways || d != nil && createFailed[d]) {
				// The join's folder is not remembered (below), nor the
				// record it was to keep, or that record would read as a
				// deletion (actionRare.holdsAlways): keep the source's
				// instead.
				for _, h := range rare.holds {
					h.failed = true
				}
			}
			if ss != nil {
				switch a.Op {
				case CreateFolder:
					ss[a.Side] = SideState{}
					createFailed[a.folder] = true
				case DeleteFolder:
					ss[a.Side] = a.folder.listed[a.Side]
					// Still gone from the other side: the next run reads
					// it deleted there again, and deletes it here, as it
					// would have had this run not been made. Recorded on
					// this side only, it would stay here for good.
					if b := a.folder.base; b != nil && a.folder.renamed == nil {
						o := a.Side.Other()
						ss[o] = *b.Side(o)
						k := keptBase[a.folder]
						k[o] = true
						keptBase[a.folder] = k
					}
				}
			}
			if a.Op == RenameFolder {
				renameFailed[renameKey{a.Side, a.Mailbox, a.Dest}] = true
			}
			continue
		}
		// What the target refused outright, the folder the copy is in
		// refuses: a Move's destination, else the action's folder.
		if dst := ss; len(out.Refused) > 0 {
			if d := home[a.arrival]; a.Op == Move && d != nil {
				dst = side[d]
			}
			if dst != nil {
				dst[a.Side].Permanent = dst[a.Side].Permanent.Intersect(Refusing(out.Refused...))
			}
		}
		switch a.Op {
		case Copy:
			a.slot.rec.setUID(a.Side, out.UID)
		case Move:
			if a.arrival != nil {
				a.arrival.rec.setUID(a.Side, out.UID)
				if len(out.Unrestored) > 0 {
					var held []string
					for _, f := range a.arrival.rec.Flags {
						if !out.Unrestored.Has(f) {
							held = append(held, f)
						}
					}
					a.arrival.rec.Flags = NewFlags(held...)
				}
			}
		case DeleteFolder:
			if ss != nil {
				ss[a.Side] = SideState{}
			}
		case CreateFolder:
			if ss != nil && out.UIDValidity != 0 {
				created = append(created, createdFolder{&ss[a.Side], out.UIDValidity})
			}
		}
		// A Move into a folder this plan creates (the trash) tells its
		// UIDVALIDITY, as a Copy does: without it, a UIDVALIDITY change
		// of that folder before the next run would go unnoticed and its
		// records be paired by stale UIDs.
		if d := home[a.arrival]; a.Op == Move && d != nil {
			ss = side[d]
		}
		if ss != nil && (a.Op == Copy || a.Op == Move && home[a.arrival] != nil) {
			st := &ss[a.Side]
			if st.UIDValidity == 0 {
				st.UIDValidity = out.UIDValidity
			}
			if out.UID >= st.UIDNext {
				st.UIDNext = out.UID + 1
			}
		}
	}
	// A folder the plan made and put nothing into is known by its
	// UIDVALIDITY all the same: renamed by its user before the next run,
	// it is then found by it, and not taken for a folder deleted and
	// another one new.
	for _, c := range created {
		if c.st.UIDValidity == 0 {
			c.st.UIDValidity = c.uidValidity
		}
	}

	failedRename := func(a *Action) bool { return renameFailed[renameKey{a.Side, a.Mailbox, a.Dest}] }
	splitOff := splitOffFolders(p, outcomes, createFailed)
	claimed := claimedByKeptOrig(p, createFailed)
	draftNamed := make(map[string]bool, len(p.drafts))
	for _, d := range p.drafts {
		draftNamed[d.name] = true
	}
	var st State
	// exact holds the folder pairs carried over as they are, with nothing
	// added: their records are exactly what both sides listed.
	exact := map[string]*draftFolder{}
	for _, d := range p.drafts {
		if splitOff[d] {
			continue
		}
		ss := *side[d]
		name := d.name
		if rn := d.renamed; rn != nil {
			// Made again on a side where it was deleted, but that
			// failed: the state stays as it was, and the next run
			// finds the same rename and tries again.
			if createFailed[d] && (rn.revive[A] || rn.revive[B]) {
				st.Folders = append(st.Folders, keptOrig(p, outcomes, d))
				continue
			}
			// Not renamed on a side after all: the folder stays where
			// the renames that were done left it, under the name that
			// gives it, and the next run finds the rest again.
			nFailed := 0
			var where [2]string // the name each side's renames left it under
			for s := range 2 {
				if l, mb, failed := undoFailedRenames(p, Side(s), rn.chain[s], rn.lname[s], rn.oldMailbox[s], failedRename); failed {
					name, ss[s].Mailbox = l, mb
					where[s] = l
					nFailed++
				}
			}
			if nFailed == 2 && !draftNamed[rn.from] {
				// Failed on both sides: neither side's name says who
				// renamed what (under one side's, the next run would
				// take the other side's for renamed by its user), the
				// base's does, unless a folder has it now. Under it
				// the next run finds the same renames again.
				name = rn.from
				// But where one side's user left the folder alone and
				// this plan's RENAMEs there, following the other side,
				// moved it before one failed, the base's name is that
				// side's no longer: under it, the next run would take
				// where they left it for renamed by that side's user,
				// a conflict with the other's rename, which the prefer
				// side may win (TestModelMovesAndRenames seed 167794:
				// a parent's RENAME followed on b, then the folder's
				// own failed, and a's user's rename of it was undone).
				// That side's name is where they left it.
				for s := range 2 {
					o := 1 - s
					if rn.lname[s] == rn.from && rn.lname[o] != rn.from && where[s] != rn.from && !draftNamed[where[s]] {
						name = where[s]
					}
				}
			}
		} else {
			// A folder no rename was found for (new since the base, say)
			// that a RENAME of a folder above it moves: where one fails,
			// it stays where the ones before it left it too.
			for s := range 2 {
				if mv := p.along[s][ss[s].Mailbox]; mv != nil {
					if l, mb, failed := undoFailedRenames(p, Side(s), mv.chain, mv.lname, mv.oldMailbox, failedRename); failed {
						name, ss[s].Mailbox = l, mb
					}
				}
			}
		}
		f := FolderState{Name: name, A: ss[A], B: ss[B], Direction: p.policy.For(name).Direction}
		if f.Direction == None {
			// Ignored now: what was agreed stays as it was.
			f.Direction = Both
			if d.base != nil {
				f.Direction = d.base.Direction
			}
		}
		if n := len(d.carried) + len(d.slots); n > 0 {
			f.Records = make([]Record, len(d.carried), n)
			copy(f.Records, d.carried)
		}
		// kept marks the sides whose folder the state keeps as the base
		// had it, for a record of a failed action (below), or for a
		// failed deletion of the folder (keptBase): the base's UIDs
		// there still name that mailbox's messages.
		kept := keptBase[d]
		for _, sl := range d.slots {
			if claimed.take(sl) {
				continue
			}
			r := sl.rec
			storeFailed := sl.storeFailed[A] || sl.storeFailed[B]
			if sl.failed && (sl.failKeeps[A] || sl.failKeeps[B]) {
				// A join of two copies both users moved (see
				// actionRare.keepTarget) failed: the copy it joins stays
				// recorded, on its side only, with the flags it has.
				for x := range 2 {
					side := Side(x)
					if !sl.failKeeps[x] || r.UID(side) == 0 {
						continue
					}
					k := Record{ID: r.ID, Flags: r.Flags}
					if sl.paired != nil && sl.storeFailed[x] {
						k.Flags = sl.paired.listed[x]
					}
					k.setUID(side, r.UID(side))
					f.Records = append(f.Records, k)
				}
				continue
			}
			if flags, ok := pairedKept(sl); ok {
				// Paired by this plan (one identity new on both sides,
				// or moved here on one and new on the other), but a
				// flag Store failed. Dropped, the record would leave
				// the two copies unlinked, and a move of either before
				// the next run would copy it both ways. Kept with the
				// flags pairedKept gives, it has the next run merge the
				// same again.
				r.Flags = flags
				if (sl.waiting[A] && r.UIDA == 0) || (sl.waiting[B] && r.UIDB == 0) {
					continue // moved here, the new UID unknown
				}
			} else if sl.failed || storeFailed {
				if sl.base == nil {
					continue
				}
				// sl.base is one of d.base's records (the planner's
				// slots take theirs from the folder's base), so d.base
				// is set from here on.
				r = *sl.base
				// Its Move, following the other side's user, failed
				// after the flag Stores of the merge at the destination
				// were done: the copies hold the merged flags, and so
				// does the record. With the base's, the next run would
				// take this run's Stores for a change by that side's
				// user, which beats a deletion on the other side: a
				// folder that side's user deleted would be made again
				// (TestModel seed 1607162).
				if f := followed[sl]; f != nil && !sl.storeFailed[A] && !sl.storeFailed[B] && !f.storeFailed[A] && !f.storeFailed[B] && f.paired != nil {
					r.Flags = f.rec.Flags
				}
				// A record kept on a side the plan let go of (the
				// folder deleted there by its user, its last messages
				// leaving by this plan, or deleted there by this plan
				// once they had left) keeps that side's folder too, so
				// the next run sees the same as this one. Without it
				// the state would hold a UID on a side it says the
				// folder is not on (TestModelMovesAndRenames seed 40530
				// of -movemodel.bugs 7,10).
				for s := range 2 {
					side := Side(s)
					if r.UID(side) != 0 && ss[s].Mailbox == "" && d.base != nil && d.base.Side(side).Mailbox != "" {
						ss[s] = *d.base.Side(side)
						*f.Side(side) = ss[s]
						kept[s] = true
					}
				}
				// The base record's UID on a side may no longer name its
				// message: after a UIDVALIDITY change it is the old
				// mailbox's, and where the folder was deleted on that
				// side and is there again (created by the user or by
				// this plan), it is the deleted mailbox's. Kept, it
				// would name one UID twice in the state (which then does
				// not load) or pair the wrong messages. So take the UID
				// the message has now; a message the server lost (its
				// restore failed) is dropped, and the next run copies it
				// by identity; one the user deleted with its folder
				// stays off that side, by agreement. Where the state
				// keeps that side's folder as the base had it (kept),
				// the base's UID still names a message of that mailbox,
				// and stays: the next run finds the folder deleted again
				// and decides the message again (a move out of it
				// before the deletion is repeated, not taken for a
				// message new elsewhere).
				gone := false
				for s := range 2 {
					side := Side(s)
					switch {
					case r.UID(side) == 0:
					case sl.backAgain && sl.now[s] != 0:
						// See slot.backAgain: the base's UID, gone
						// from the folder, which no message gets again.
					case sl.now[s] != 0:
						r.setUID(side, sl.now[s])
					case d.reset[s] && sl.movedOff[s] && sl.now[side.Other()] != 0:
						// Its user moved it out of here, and the Move
						// that was to follow on the other side failed:
						// the record keeps this side at UnknownUID, so
						// the next run follows the move again, or the
						// deletion where this side's user deleted the
						// moved copy meanwhile. On the other side only,
						// unlinked from the moved copy, it would stay
						// there for good (TestModel seeds 1927891,
						// 2484218 and 3503452).
						r.setUID(side, UnknownUID)
					case d.reset[s] && sl.targetLost:
						// See slot.targetLost: that side's copy stays,
						// on that side only.
						r.setUID(side, 0)
					case d.reset[s]:
						gone = true
					case ss[s].Mailbox != "" && !kept[s] && (d.listed[s].Mailbox == "" || d.base.Side(side).Mailbox == ""):
						r.setUID(side, 0)
					}
				}
				// UnknownUID pairs by identity with the copy recorded on
				// the other side; with that side's UID let go of, it
				// names nothing (and the state would not load).
				for s := range 2 {
					if side := Side(s); r.UID(side) == UnknownUID && r.UID(side.Other()) == 0 {
						gone = true
					}
				}
				if gone {
					if dropped != nil {
						dropped[sl] = true
					}
					continue
				}
			} else if (sl.waiting[A] && r.UIDA == 0) || (sl.waiting[B] && r.UIDB == 0) {
				// Done, but the new UID is unknown: UnknownUID has
				// the next run pair it by identity, knowing the flags
				// agreed. Dropped, the record left both copies new to
				// that run: a deletion on one side was no deletion,
				// and the other side's copy, paired with another
				// record's flags, a change that made a deleted folder
				// again (TestModel seed 2235184).
				if r.UIDA != 0 || r.UIDB != 0 {
					for s := range 2 {
						if sl.waiting[s] && r.UID(Side(s)) == 0 {
							r.setUID(Side(s), UnknownUID)
						}
					}
				} else {
					continue
				}
			}
			if r.UIDA == 0 && r.UIDB == 0 {
				if dropped != nil && sl.failed {
					dropped[sl] = true
				}
				continue
			}
			// Copied to the side it was away from: on both sides now.
			r.Away = r.Away && (r.UIDA == 0 || r.UIDB == 0)
			f.Records = append(f.Records, r)
		}
		if f.A.Mailbox == "" && f.B.Mailbox == "" && len(f.Records) == 0 {
			continue
		}
		// A new folder whose creation failed is not remembered: the next
		// run sees it as new again and creates it.
		if d.base == nil && createFailed[d] {
			continue
		}
		sortRecords(f.Records)
		st.Folders = append(st.Folders, f)
		if d.carried != nil && len(d.slots) == 0 {
			exact[f.Name] = d
		}
	}
	// A failed Move leaves the loser's copy recorded where it is
	// (actionRare.keepSource) where it is the one link left between the two
	// copies: where Next dropped the base record, or where the winner's
	// copy went unrecorded with the new folder the state forgets. Not
	// where the winner's copy is recorded still (keptOrig keeps it in a
	// folder the winner's user renamed: TestNextFailedMoveConflictLeavesALoadableState):
	// recorded on both sides apart, the two copies would stay apart.
	keep := func(k keptAt) {
		for i := range st.Folders {
			f := &st.Folders[i]
			if f.Side(k.side).Mailbox == "" || f.Side(k.side).Mailbox != k.mailbox || slices.ContainsFunc(f.Records, func(r Record) bool { return r.UID(k.side) == k.rec.UID(k.side) }) {
				continue
			}
			f.Records = append(f.Records, k.rec)
			sortRecords(f.Records)
			delete(exact, f.Name)
			return
		}
	}
	for _, k := range keptSource {
		if !recordedOn(st, k.side.Other(), k.rec.ID) {
			keep(k)
		}
	}
	for sl, k := range sourceIfDropped {
		if dropped[sl] {
			keep(k)
		}
	}
	sort.Slice(st.Folders, func(i, j int) bool { return st.Folders[i].Name < st.Folders[j].Name })
	setScanPoints(p, outcomes, &st, exact)
	return st
}

// recordedOn reports whether st records a copy of id on side s.
func recordedOn(st State, s Side, id Identity) bool {
	for i := range st.Folders {
		for j := range st.Folders[i].Records {
			if r := &st.Folders[i].Records[j]; r.ID == id && r.UID(s) != 0 {
				return true
			}
		}
	}
	return false
}

// splitOffFolders returns the folders Next does not remember because a
// revival failed: where the base folder a folder made again on side o
// stands for is still listed on o, under the name o's user renamed it to
// (renamed.keptAt: a one-way pair does not follow that rename, case
// 147), the plan records o's folder apart, as new, with o's records.
// Where its CREATE failed, Next keeps the base folder as it was
// (keptOrig), o's side and records with it; remembered too, o's new
// folder would record o's messages twice, and the next run, finding
// o's side of the base folder claimed by it, would take that side for
// deleted and copy the other side's messages into the folder it makes
// again: o would hold two of each (TestModelMovesAndRenamesOneWay seed
// 40). Without it, the next run finds the same renames as this one and
// makes the folder again. Not where an action of the plan that was
// done concerns the new folder: what it did is remembered.
func splitOffFolders(p *Plan, outcomes []Outcome, createFailed map[*draftFolder]bool) map[*draftFolder]bool {
	type sideMailbox struct {
		side    Side
		mailbox string
	}
	var kept map[sideMailbox]bool
	for d := range createFailed {
		rn := d.renamed
		if rn == nil {
			continue
		}
		for o := range 2 {
			if rn.revive[o] && rn.keptAt[o] != "" {
				if kept == nil {
					kept = map[sideMailbox]bool{}
				}
				kept[sideMailbox{Side(o), rn.keptAt[o]}] = true
			}
		}
	}
	if kept == nil {
		return nil
	}
	out := map[*draftFolder]bool{}
	for _, d := range p.drafts {
		if d.base != nil {
			continue
		}
		for o := range 2 {
			if mb := d.side[o].Mailbox; mb != "" && d.side[1-o].Mailbox == "" && kept[sideMailbox{Side(o), mb}] {
				out[d] = true
			}
		}
	}
	for i := range p.Actions {
		if a := &p.Actions[i]; out[a.folder] && i < len(outcomes) && outcomes[i].Err == nil {
			delete(out, a.folder)
		}
	}
	return out
}

// keptClaims counts, per side and identity, the copies that the base
// folders Next keeps as they were (keptOrig) record on the side where
// the folder was deleted (see claimedByKeptOrig).
type keptClaims [2]map[Identity]int

// claimedByKeptOrig returns the copies that the base folders of failed
// revivals, which Next keeps as the base had them, record on the side
// that deleted the folder. Such a copy that side's user moved out
// before the deletion is new where it went, on that side alone, and in
// a one-way pair nothing waits for its move, which is not followed on
// the renaming side: its slot would be recorded whatever failed, and
// claim the copy beside the base's record. The next run, finding it
// recorded where it went, would take the base's for deleted with the
// folder, and copy the message again into the folder it makes again:
// that side would hold it twice (TestModelMovesAndRenamesOneWay seed
// 12893). Not recorded, it is where the base had it, and the next run
// decides it as this one did.
func claimedByKeptOrig(p *Plan, createFailed map[*draftFolder]bool) keptClaims {
	var out keptClaims
	for d := range createFailed {
		rn := d.renamed
		if rn == nil || rn.revive[A] == rn.revive[B] {
			continue
		}
		o := B
		if rn.revive[A] {
			o = A
		}
		for _, r := range rn.orig.Records {
			if r.ID != "" && r.UID(o) != 0 {
				if out[o] == nil {
					out[o] = map[Identity]int{}
				}
				out[o][r.ID]++
			}
		}
	}
	return out
}

// take reports whether slot sl records, as new, on one side only and at
// a UID that side listed, a copy c claims; it counts the claim off.
func (c keptClaims) take(sl *slot) bool {
	if sl.base != nil || sl.failed {
		return false
	}
	r := &sl.rec
	for o := range 2 {
		side := Side(o)
		if c[o] != nil && r.UID(side) != 0 && r.UID(side.Other()) == 0 && !sl.waiting[o] && c[o][r.ID] > 0 {
			c[o][r.ID]--
			return true
		}
	}
	return false
}

// pairedKept reports whether Next keeps the record of a slot that has no
// base record and whose only failures are flag Stores of a pairing the
// plan made (see Next), and the flags it keeps it with.
//
// Under direction both, where side x's Store failed and the other side's
// was done (or not needed), the record takes x's flags as listed: the
// next run finds x unchanged and the other side changed to the merge,
// and stores the same on x again; a deletion on the other side is a
// deletion. One on side x meets the other side's flags changed, and
// change beats delete: the copy comes back, as it would with no record.
//
// Where both sides' Stores failed, or the one Store of a one-way folder
// (on the side changes flow to), the record takes the flags the merge
// started from: the next run finds each side changed from them as this
// one did, and merges the same.
func pairedKept(sl *slot) (Flags, bool) {
	if sl.failed || sl.base != nil || sl.paired == nil || !sl.storeFailed[A] && !sl.storeFailed[B] {
		return nil, false
	}
	switch {
	case sl.paired.oneWay || sl.storeFailed[A] && sl.storeFailed[B]:
		return sl.paired.base, true
	case sl.storeFailed[B]:
		return sl.paired.listed[B], true
	}
	return sl.paired.listed[A], true
}

// sortRecords sorts records by UID A, then UID B, then identity. Most
// folders come sorted already (a folder carried over as it is), and
// are only checked.
func sortRecords(rs []Record) {
	if !slices.IsSortedFunc(rs, compareRecords) {
		slices.SortFunc(rs, compareRecords)
	}
}

func compareRecords(x, y Record) int {
	if c := cmp.Compare(x.UIDA, y.UIDA); c != 0 {
		return c
	}
	if c := cmp.Compare(x.UIDB, y.UIDB); c != 0 {
		return c
	}
	return strings.Compare(string(x.ID), string(y.ID))
}

// keptOrig is the base folder that d, renamed on one side and deleted
// on the other, continues, as Next keeps it when making it again on the
// deleting side failed: the next run finds the same rename and tries
// again. It leaves out the records whose message left the folder on the
// renaming side: not listed there (its user moved or expunged it before
// the run), or moved or expunged out of it by an action of this plan
// that was done. Kept, such a record would claim the message
// beside the record it has where it went, and the next run would take
// the message for gone from that folder and new in this one: copied
// again to the deleting side, beside the copy it has (TestModelMovesAndRenames
// seed 205661).
func keptOrig(p *Plan, outcomes []Outcome, d *draftFolder) FolderState {
	rn := d.renamed
	s := A // the renaming side
	if rn.revive[A] {
		s = B
	}
	mb := d.side[s].Mailbox
	left := map[UID]bool{}
	for i := range p.Actions {
		a := &p.Actions[i]
		if (a.Op == Move || a.Op == Expunge) && a.Side == s && a.Mailbox == mb && i < len(outcomes) && outcomes[i].Err == nil {
			left[a.UID] = true
		}
	}
	// A message both users moved out, to different folders, whose join
	// failed (moveConflicts), has not left the base's story: the next
	// run settles the same conflict again. Dropped, its record would
	// leave the two copies unlinked, each copied to the other side
	// (TestModelMovesAndRenames seed 726891).
	// So has the one-sided record a failed join of two copies both
	// users moved back into the pair has Next keep as the base had it
	// (actionRare.holds, marked failed then): it links the two copies for
	// the next run's join. Dropped, the next run copied the winner's
	// copy to the loser's side, beside the loser's own
	// (TestNextFailedJoinOfARecordInAFolderMadeAgainInVain).
	undecided := map[*slot]bool{}
	for i := range p.Actions {
		a := &p.Actions[i]
		if a.Op != Move {
			continue
		}
		if a.Reason == ReasonMoveConflict && a.folder == d && a.slot != nil && i < len(outcomes) && outcomes[i].Err != nil {
			undecided[a.slot] = true
		}
		if i >= len(outcomes) || outcomes[i].Err != nil {
			for _, h := range a.rare().holds {
				if h.failed {
					undecided[h] = true
				}
			}
		}
	}
	// By identity: where the renaming side's UIDVALIDITY changed (a
	// rename by copy), the base's UIDs there name other messages now
	// (TestModelMovesAndRenames seed 303265).
	there := map[Identity]int{}
	for _, sl := range d.slots {
		id := sl.rec.ID
		if sl.base != nil {
			id = sl.base.ID
		}
		if id != "" && (sl.now[s] != 0 && !left[sl.now[s]] || undecided[sl]) {
			there[id]++
		}
	}
	f := *rn.orig
	f.Records = slices.DeleteFunc(slices.Clone(f.Records), func(r Record) bool {
		if r.UID(s) == 0 || r.ID == "" {
			return false
		}
		if there[r.ID] == 0 {
			return true
		}
		there[r.ID]--
		return false
	})
	// A join whose Move failed keeps the copy it joins recorded on its
	// side only (actionRare.keepTarget): where that copy is in this folder,
	// on the renaming side, under the mailbox the base knows by its
	// UIDVALIDITY, it stays recorded here, or the next run takes it for
	// new and copies it beside the other side's own.
	if uv := f.Side(s).UIDValidity; uv != 0 && uv == d.listed[s].UIDValidity {
		for _, sl := range d.slots {
			if sl.failed && sl.failKeeps[s] && sl.rec.UID(s) != 0 && sl.rec.UID(s) != UnknownUID && !slices.ContainsFunc(f.Records, func(r Record) bool { return r.UID(s) == sl.rec.UID(s) }) {
				k := Record{ID: sl.rec.ID, Flags: sl.rec.Flags}
				k.setUID(s, sl.rec.UID(s))
				f.Records = append(f.Records, k)
			}
		}
		sortRecords(f.Records)
	}
	return f
}

// undoFailedRenames follows a folder of side s from its mailbox mb and
// logical name l before plan p's renames through chain, the RENAMEs that
// move it, up to the first one that failed; failed reports that one did.
// The folder then keeps the name the ones before it gave, in the mailbox
// where they left it, or where a later RENAME of p's that was done took
// it along (see carriedAfter).
func undoFailedRenames(p *Plan, s Side, chain []*Action, l, mb string, failedRename func(*Action) bool) (string, string, bool) {
	for _, a := range chain {
		if failedRename(a) {
			mb, l := carriedAfter(p, s, a, mb, l, failedRename)
			return l, mb, true
		}
		ren := a.rare()
		if rest, ok := strings.CutPrefix(l+"/", ren.renFrom+"/"); ok {
			l = strings.TrimSuffix(ren.renTo+"/"+rest, "/")
		}
		if strings.HasPrefix(mb, a.Mailbox) {
			mb = a.Dest + mb[len(a.Mailbox):]
		}
	}
	return l, mb, false
}

// carriedAfter returns the mailbox that mailbox mb of side s is in once
// plan p's RENAMEs on s after failed, which did not move it, have run:
// a RENAME of a folder above it that was done takes it along. Its chain
// had it moved out from under that folder by failed
// (TestModelMovesAndRenames seed 923406: a's F3/R6 was to be renamed to
// R5, then a's F3 to R4; the first failed, the second took F3/R6 along
// to R4/R6, and the state kept F3/R6, a mailbox gone).
//
// It returns with it logical name l, the folder's name on s before
// failed, carried the same way: the name s's mailbox has now. Left the
// name before, the next run reads that side's mailbox, under another
// name than the state's, as renamed by its user, which against the
// other side's user's rename is a conflict the prefer side may win
// (TestModelMovesAndRenames seed 2177498: b's RENAME of F3/F8 to R13,
// a's user's name, failed, b's RENAME of F3 took it along to
// F1/R11/R10/F8, and the next run renamed a's R13 back there). Where
// a folder of the plan has that name already, l stays as it was.
func carriedAfter(p *Plan, s Side, failed *Action, mb, l string, failedRename func(*Action) bool) (string, string) {
	var d string
	if ls := p.lists[s]; ls != nil && ls.Delim != 0 {
		d = string(ls.Delim)
	}
	after := false
	carried := l
	for i := range p.Actions {
		a := &p.Actions[i]
		if a.Op != RenameFolder || a.Side != s {
			continue
		}
		if !after {
			after = a.Mailbox == failed.Mailbox && a.Dest == failed.Dest
			continue
		}
		if failedRename(a) {
			continue
		}
		if mb == a.Mailbox || d != "" && strings.HasPrefix(mb, a.Mailbox+d) {
			mb = a.Dest + mb[len(a.Mailbox):]
			ren := a.rare()
			if rest, ok := strings.CutPrefix(carried+"/", ren.renFrom+"/"); ok && ren.renFrom != "" {
				carried = strings.TrimSuffix(ren.renTo+"/"+rest, "/")
			}
		}
	}
	if carried != l && !p.hasDraft(carried) {
		l = carried
	}
	return mb, l
}

// hasDraft reports whether a folder pair of plan p has logical name
// name.
func (p *Plan) hasDraft(name string) bool {
	for _, d := range p.drafts {
		if d.name == name {
			return true
		}
	}
	return false
}
