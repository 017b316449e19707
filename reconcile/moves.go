package reconcile

import (
	"cmp"
	"fmt"
	"slices"
)

// Moves: a message the user moved between folders on one side is moved
// the same way on the other, with UID MOVE, never re-uploaded.

// cand is a message new in a folder since the base, a possible move
// destination.
type cand struct {
	v *view
	m *Message
}

// detectMoves finds the messages a user moved between folders on one
// side: a base record gone from folder X on side o, still in X on side s,
// and a new message with its identity in folder Y on o. It plans a Move
// of s's copy from X to Y (UID MOVE: the body never crosses the wire) and
// registers its arrival in Y, where Y's new message pairs with it instead
// of being copied. X may have been deleted on o since, and either folder
// may have a new UIDVALIDITY on either side (the messages are then found
// by identity); Y may be new on o (its folder pair makes it on s). Where
// Y was deleted on s, or already holds the message there, or a direction
// does not let o's changes flow, the move stays a deletion plus a new
// message, which loses nothing. Where Y was deleted on s (heldAway), o
// holds the message still: a flag change on s then keeps s's copy where
// it is rather than copying it back to o.
func (pl *planner) detectMoves(views []*view) {
	pl.moveOf = map[*Record]*Action{}
	pl.finished = map[*Record]bool{}
	pl.filedAwayFrom = map[*Record]bool{}
	pl.rejoinAt = map[*Record]*Action{}
	pl.heldFor = map[*Record]*Action{}
	pl.conflictOf = map[*Record]*Action{}
	pl.movedBoth = map[Identity]Flags{}
	// A folder pair nothing changed in (view.clean) has no message gone
	// from it and none new in it: it takes no part in a move.
	for _, x := range views {
		if x.clean || x.base == nil {
			continue
		}
		goneA, goneB, held := pl.goneOrDeleted(x, A), pl.goneOrDeleted(x, B), heldOnBoth(x)
		// A copy the state knows at no UID (UnknownUID) is gone from
		// that UID, but not from the folder where the folder holds its
		// message still: it is paired there again by identity
		// (TestModel seed 5187105: a copy whose new UID the server did
		// not report read as moved out on both sides, and the other
		// side's copy put into the trash then as a deletion both users
		// made, never copied to the other side's trash).
		left := func(s Side, gone func(*Record) bool) func(*Record) bool {
			return func(r *Record) bool {
				return gone(r) && !(r.UID(s) == UnknownUID && pl.holds(x.listed[s], r.ID))
			}
		}
		goneA, goneB = left(A, goneA), left(B, goneB)
		for i := range x.base.Records {
			r := &x.base.Records[i]
			if r.ID != "" && held(r) && goneA(r) && goneB(r) {
				pl.movedBoth[r.ID] = r.Flags
			}
		}
	}
	pl.leaving = [2]map[*Message]bool{{}, {}}
	pl.joinedBy = [2]map[*Message]bool{} // made on a crossed join's first use
	pl.keptOn = [2]map[*Message]bool{{}, {}}
	pl.keptAt = [2]map[Identity][]*cand{{}, {}}
	// pl.heldAway reports whether side o holds a message with identity id in
	// a folder the other side does not have (deleted there, now or
	// before, and not made again by this plan), and did not hold it there
	// paired with that side at the base. A message a user moved there was
	// filed away, not deleted (pl.filedAwayFrom). o's trash is no such
	// folder: a message moved there was deleted.
	var away [2]map[Identity]bool
	pl.heldAway = func(o Side, id Identity) bool {
		if away[o] == nil {
			s := o.Other()
			away[o] = pl.listedWhere(views, o, func(v *view) func(Identity) bool {
				if v.endsOn(s) {
					return nil
				}
				paired := map[Identity]bool{}
				for _, r := range v.base.Records {
					if r.UID(s) != 0 {
						paired[r.ID] = true
					}
				}
				return func(id Identity) bool { return !paired[id] }
			})
		}
		return id != "" && away[o][id]
	}
	// pl.filedAway is heldAway for copies that side o's user put into
	// such a folder since the base: at a UID no base record there has,
	// or has only as filed away (Record.Away). A copy the base already
	// had there on o alone was not filed away by this run's moves.
	var filed [2]map[Identity]bool
	pl.filedAway = func(o Side, id Identity) bool {
		if filed[o] == nil {
			filed[o] = map[Identity]bool{}
			s := o.Other()
			for _, v := range views {
				f := v.listed[o]
				if f == nil || v.endsOn(s) || pl.trash[o] != "" && f.Mailbox == pl.trash[o] {
					continue
				}
				paired, settled := map[Identity]bool{}, map[UID]bool{}
				reset := pl.resetOn(v, o)
				for _, r := range v.base.Records {
					if r.UID(s) != 0 {
						paired[r.ID] = true
					}
					if r.UID(o) != 0 && !r.Away && !reset {
						settled[r.UID(o)] = true
					}
				}
				for i := range f.Messages {
					if m := &f.Messages[i]; m.ID != "" && !paired[m.ID] && !settled[m.UID] {
						filed[o][m.ID] = true
					}
				}
			}
		}
		return id != "" && filed[o][id]
	}
	// pl.keptAlone reports whether side s lists a message with identity
	// id in a folder pair (not its trash) whose base records it on s
	// only: s's user filed it away there, or the deletion policy kept
	// it there when the other side deleted it. pl.filedAlone is the
	// same for records marked Away only: s's user filed it there, or it
	// came in there, while the other side lacked the folder.
	var aloneAway [2]map[Identity]bool
	awayAlone := func(s Side) map[Identity]bool {
		o := s.Other()
		return pl.listedWhere(views, s, func(v *view) func(Identity) bool {
			if v.base == nil {
				return nil
			}
			var ids map[Identity]bool
			for _, r := range v.base.Records {
				if r.ID != "" && r.UID(s) != 0 && r.UID(o) == 0 && r.Away {
					if ids == nil {
						ids = map[Identity]bool{}
					}
					ids[r.ID] = true
				}
			}
			return func(id Identity) bool { return ids[id] }
		})
	}
	// pl.movedAlone reports whether a base record that had id on side s
	// only is gone from its folder there: s's user moved it out (or
	// deleted it). pl.keptAloneElsewhere is pl.keptAlone in folder pairs
	// other than v.
	var goneAlone [2]map[Identity]bool
	pl.movedAlone = func(s Side, id Identity) bool {
		if goneAlone[s] == nil {
			goneAlone[s] = map[Identity]bool{}
			for _, x := range views {
				if x.base == nil || x.policy.Direction == None {
					continue
				}
				idx := x.byUID(s)
				for _, r := range x.base.Records {
					if r.ID != "" && r.UID(s) != 0 && r.UID(s.Other()) == 0 && idx.get(r.UID(s)) == nil {
						goneAlone[s][r.ID] = true
					}
				}
			}
		}
		return id != "" && goneAlone[s][id]
	}
	// aloneIn holds, per side and identity, the folder pairs (not the
	// trash) that list it on that side where their base records it on
	// that side only.
	var aloneIn [2]map[Identity][]*view
	aloneWhere := func(s Side, id Identity) []*view {
		if aloneIn[s] == nil {
			aloneIn[s] = map[Identity][]*view{}
			for _, x := range views {
				f := x.listed[s]
				if f == nil || x.base == nil || pl.trash[s] != "" && f.Mailbox == pl.trash[s] {
					continue
				}
				var ids map[Identity]bool
				for _, r := range x.base.Records {
					if r.ID != "" && r.UID(s) != 0 && r.UID(s.Other()) == 0 {
						if ids == nil {
							ids = map[Identity]bool{}
						}
						ids[r.ID] = true
					}
				}
				for i := range f.Messages {
					if id := f.Messages[i].ID; ids[id] {
						aloneIn[s][id] = append(aloneIn[s][id], x)
					}
				}
			}
		}
		return aloneIn[s][id]
	}
	pl.keptAlone = func(s Side, id Identity) bool {
		return id != "" && len(aloneWhere(s, id)) > 0
	}
	pl.keptAloneElsewhere = func(s Side, v *view, id Identity) bool {
		for _, x := range aloneWhere(s, id) {
			if x != v {
				return true
			}
		}
		return false
	}
	pl.filedAlone = func(s Side, id Identity) bool {
		if aloneAway[s] == nil {
			aloneAway[s] = awayAlone(s)
		}
		return id != "" && aloneAway[s][id]
	}
	// ahead holds the copies copiedAhead matched with a record: one
	// copy finishes one record's move.
	ahead := map[*cand]bool{}
	// Messages on each side that no base record of their folder knows.
	fresh := [2]map[Identity][]*cand{{}, {}}
	for _, v := range views {
		if v.clean || v.policy.Direction == None {
			continue
		}
		for s := range 2 {
			f := v.listed[s]
			if f == nil {
				continue
			}
			// After a UIDVALIDITY change the base's UIDs say nothing: a
			// message the base's records know by identity is re-paired
			// there, not taken for moved in (knows, below).
			var known *uidSet
			if v.base != nil && v.base.Side(Side(s)).Mailbox != "" && !pl.resetOn(v, Side(s)) {
				known = v.recordUIDs(Side(s))
			}
			for i := range f.Messages {
				if m := &f.Messages[i]; !known.has(m.UID) && m.ID != "" {
					fresh[s][m.ID] = append(fresh[s][m.ID], &cand{v, m})
				}
			}
		}
	}
	pl.newElsewhere = func(s Side, v *view, id Identity, trash bool) bool {
		for _, c := range fresh[s][id] {
			if c.v != v && (trash || pl.trash[s] == "" || c.v.listed[s].Mailbox != pl.trash[s]) && unmatchedIn(fresh, s, c.v, id) {
				return true
			}
		}
		return false
	}
	for _, x := range views {
		if x.clean || x.base == nil || x.policy.Direction == None {
			continue
		}
		held := heldOnBoth(x)
		for o := range 2 {
			side := Side(o)
			s := side.Other()
			// (x deleted on o after the user moved messages out of it:
			// those are moves too, and the rest goes with the folder.)
			// Where s renamed x and o deleted it, renames made the base
			// s's only (the folder is made again on o): heldOnBoth
			// finds the records the state had on o too.
			revived := x.renamed != nil && x.renamed.revive[o]
			if x.listed[s] == nil || x.base.Side(side).Mailbox == "" && !revived || x.base.Side(s).Mailbox == "" ||
				!x.policy.Direction.Flows(side) {
				continue
			}
			// A side whose UIDVALIDITY changed has the base's messages
			// under new UIDs: they are found by identity there.
			reset := [2]bool{pl.resetOn(x, A), pl.resetOn(x, B)}
			listed := [2]*uidIndex{x.byUID(A), x.byUID(B)}
			// spare holds s's messages of x at no base record's UID, by
			// identity: re-uploaded, or all of them after a UIDVALIDITY
			// change.
			var known *uidSet
			if !reset[s] {
				known = x.recordUIDs(s)
			}
			spare := map[Identity][]*Message{}
			for i := range x.listed[s].Messages {
				if m := &x.listed[s].Messages[i]; !known.has(m.UID) {
					spare[m.ID] = append(spare[m.ID], m)
				}
			}
			order := recordsBy(x.base.Records, s)
			for k := range x.base.Records {
				i := k
				if order != nil {
					i = order[k]
				}
				r := &x.base.Records[i]
				uo, us := r.UID(side), r.UID(s)
				if !held(r) {
					continue
				}
				// Gone from x on o?
				if (reset[o] && pl.holds(x.listed[o], r.ID)) || (!reset[o] && listed[o].get(uo) != nil) {
					continue
				}
				// Still in x on s, at its UID or by identity?
				var moved *Message
				if m := listed[s].get(us); !reset[s] && m != nil {
					moved = m
				} else if len(spare[r.ID]) == 0 {
					continue
				}
				cs := fresh[o][r.ID]
				j := -1
				for k, c := range cs {
					if c.v == x { // back in its own folder: re-paired there
						j = -1
						break
					}
					if j < 0 && c.v.endsOn(s) && c.v.policy.Direction.Flows(side) && !pl.holds(c.v.listed[s], r.ID) && !pl.knows(c.v.base, r.ID) {
						j = k
					}
				}
				if j < 0 {
					// Filed away by side's user into a folder s lacks:
					// a copy put there since the base. A copy the base
					// had there already is side's own, another message
					// (table case 197).
					if pl.filedAway(side, r.ID) {
						pl.filedAwayFrom[r] = true
					}
					// The original's flags unchanged, or changed before
					// it was copied (the copy shows them too): the copy
					// holds all the original does (case 234).
					if m := listed[s].get(us); m != nil && !reset[s] && !reset[o] {
						if c := pl.copiedAhead(x, side, r.ID, cs, fresh[s][r.ID]); c != nil && !ahead[c] && (m.Flags.Equal(r.Flags) || c.m.Flags.Equal(m.Flags)) {
							ahead[c] = true
							pl.finished[r] = true
							// The original's expunge rests on the copy's
							// pairing there: a scoped run takes both.
							pl.plan.links = append(pl.plan.links, [2]string{x.name, c.v.name})
						}
					}
					continue
				}
				y := cs[j].v
				fresh[o][r.ID] = append(cs[:j:j], cs[j+1:]...)
				if moved == nil {
					// By identity: the copy with the flags the state
					// agreed on, if there are several (the folder
					// pass pairs the others with their records so).
					sp := spare[r.ID]
					k := max(0, slices.IndexFunc(sp, func(m *Message) bool { return m.Flags.Equal(r.Flags) }))
					moved = sp[k]
					spare[r.ID] = append(sp[:k:k], sp[k+1:]...)
				}
				us = moved.UID
				dest := pl.mailboxIn(s, y)
				a := &Action{Op: Move, Side: s, Folder: x.name, Mailbox: x.listed[s].Mailbox, UID: us,
					Dest: dest, ID: r.ID, Reason: ReasonMoved, rareFields: &actionRare{mergeBase: r.Flags, hasBase: true}}
				a.arrival = &slot{rec: Record{ID: r.ID, Flags: moved.Flags}}
				a.arrival.waiting[s] = true
				pl.acts = append(pl.acts, a)
				pl.arrivals[s][y.name] = append(pl.arrivals[s][y.name], a)
				pl.moveOf[r] = a
			}
		}
		pl.moveConflicts(x, fresh)
		pl.keptMoves(x, fresh)
	}
	pl.rejoins(views, fresh)
}

// rejoins finds messages the state holds on one side only on each side,
// in different folders, of which one side's user now moves its copy
// into a folder of the pair: the other side's copy is moved there to
// join it (UID MOVE), rather than the message being copied to a side
// that holds it already. So it goes when a user filed a message away
// into a folder the other side had deleted (it left the pair's folders:
// the other side's copy was kept under deletion = keep, or after a
// change there, or put into the trash) and later moved it back into a
// folder both sides have: the pair holds it there once, on both sides.
// One side's copy must have left its folder (moved, not copied, by its
// user) and the other side's must be where the state has it; where the
// other side holds several such copies, which one joins is not clear,
// and none does. The mover's side may hold several copies in one folder
// (delivered there again): one joins, the others are new mail. A move
// into the trash is such a return too: the trash is a folder of the
// pair, and a user's move into it is followed for any message on both
// sides; copied there instead, the message would be twice on the other
// side (case 200).
//
// Where the other side's user moved its copy too, into another folder,
// the two join in one, the prefer side's (crossedJoin).
//
// The other side's copy is often in a folder nothing else changed in
// (view.clean): that folder is planned in full, so that the record
// leaves it with the Move.
func (pl *planner) rejoins(views []*view, fresh [2]map[Identity][]*cand) {
	var ids [2][]Identity
	wanted := map[Identity]bool{}
	for s := range 2 {
		for id, cs := range fresh[s] {
			if len(cs) > 0 {
				ids[s] = append(ids[s], id)
				wanted[id] = true
			}
		}
		slices.Sort(ids[s])
	}
	// revived holds the records the folder pass would copy to side o
	// with their folder, renamed on the other side and deleted on o, so
	// made again there (see folder): one-sided, never on both sides, and
	// not held by o in a folder the other side lacks. They were filed
	// away into that folder while o had deleted it.
	type revival struct {
		y *view
		r *Record
		o Side
	}
	var revived []revival
	revivedIDs := map[Identity]bool{}
	for _, y := range views {
		rn := y.renamed
		if rn == nil || rn.revive[A] == rn.revive[B] || y.base == nil {
			continue
		}
		o := A
		if rn.revive[B] {
			o = B
		}
		s := o.Other()
		if y.listed[s] == nil || !y.policy.Direction.Flows(s) {
			continue
		}
		wasOnBoth := heldOnBoth(y)
		// s holds it there: at its UID, or by identity, as the folder
		// pass finds it, after a UIDVALIDITY change or where s's copy is
		// back under a new UID, the one copy there no record is at (its
		// user moved it out and back in: move-model seed 1521754, where
		// it was copied to o, and o's own copy went to o's trash).
		// The one copy of each identity in the folder, made on first
		// need: onlyCopy per record would walk the folder once for each.
		idx := y.byUID(s)
		var only map[Identity]*Message
		var atRecord map[UID]bool
		onlyHere := func(id Identity) *Message {
			if only == nil {
				only = map[Identity]*Message{}
				for i := range y.listed[s].Messages {
					m := &y.listed[s].Messages[i]
					if _, twice := only[m.ID]; twice {
						only[m.ID] = nil // not one copy
					} else {
						only[m.ID] = m
					}
				}
			}
			return only[id]
		}
		there := func(r *Record) bool {
			if idx.get(r.UID(s)) != nil {
				return true
			}
			m := onlyHere(r.ID)
			if m == nil {
				return false
			}
			if atRecord == nil {
				atRecord = map[UID]bool{}
				for i := range y.base.Records {
					atRecord[y.base.Records[i].UID(s)] = true
				}
			}
			return !atRecord[m.UID]
		}
		if pl.resetOn(y, s) {
			there = func(r *Record) bool { return onlyHere(r.ID) != nil }
		}
		for i := range y.base.Records {
			r := &y.base.Records[i]
			if r.ID == "" || r.UID(o) != 0 || r.UID(s) == 0 || !there(r) || wasOnBoth(r) || pl.filedAwayFrom[r] || pl.heldAway(o, r.ID) {
				continue
			}
			revived = append(revived, revival{y, r, o})
			wanted[r.ID] = true
			revivedIDs[r.ID] = true
		}
	}
	if len(wanted) == 0 {
		return
	}
	// oneSided holds, per side and identity, the base records on that
	// side only, with their folder pairs. (Most records are on both
	// sides: one pass over them costs a fraction of a millisecond at
	// 100,000 messages, where a map of every identity would cost
	// megabytes.)
	var oneSided [2]map[Identity][]held
	// filedOn holds, per side, the records on both sides of a revived
	// record's identity that are gone from the other side only: the
	// other side's user moved the message out, into the folder that
	// filed it away (a run that failed kept this record too), and this
	// side's copy, still where the state has it, would get the deletion
	// policy.
	var filedOn [2]map[Identity][]held
	for s := range 2 {
		oneSided[s] = map[Identity][]held{}
		filedOn[s] = map[Identity][]held{}
	}
	for _, v := range views {
		if v.base == nil {
			continue
		}
		for i := range v.base.Records {
			r := &v.base.Records[i]
			switch {
			case r.UIDA != 0 && r.UIDB != 0:
				if len(revivedIDs) > 0 && revivedIDs[r.ID] {
					goneA, goneB := pl.goneOrDeleted(v, A)(r), pl.goneOrDeleted(v, B)(r)
					switch {
					case goneA && !goneB:
						filedOn[B][r.ID] = append(filedOn[B][r.ID], held{v, r})
					case goneB && !goneA:
						filedOn[A][r.ID] = append(filedOn[A][r.ID], held{v, r})
					}
				}
			case !wanted[r.ID]:
			case r.UIDA != 0:
				oneSided[A][r.ID] = append(oneSided[A][r.ID], held{v, r})
			case r.UIDB != 0:
				oneSided[B][r.ID] = append(oneSided[B][r.ID], held{v, r})
			}
		}
		// Renamed on one side and deleted on the other, the folder pair's
		// base is the renaming side's records only: the deleting side's
		// one-sided records (kept when a Move that was to follow that
		// side's user failed) are its original's. That side's user may
		// have moved such a copy out before deleting the folder, and it
		// joins the other side's copy like any (TestModelMovesAndRenames
		// seed 519769: b's copy was copied again to b with a's). So too
		// where the folder is not made again there, a one-way target
		// (case 208, known bug 16's seed 8911: the link record a failed
		// join kept was not found, and the source's copy went to the
		// target as new mail, its second).
		if rn := v.renamed; rn != nil && rn.deleted[A] != rn.deleted[B] {
			o := A
			if rn.deleted[B] {
				o = B
			}
			for i := range rn.orig.Records {
				r := &rn.orig.Records[i]
				if wanted[r.ID] && r.UID(o) != 0 && r.UID(o.Other()) == 0 {
					oneSided[o][r.ID] = append(oneSided[o][r.ID], held{v, r})
				}
			}
		}
	}
	// paired reports whether the base has a record of id on both sides.
	paired := func(id Identity) bool {
		for _, v := range views {
			if v.base != nil && slices.ContainsFunc(v.base.Records, func(r Record) bool { return r.ID == id && r.UIDA != 0 && r.UIDB != 0 }) {
				return true
			}
		}
		return false
	}
	// otherCopy returns side o's one-sided copy of id, where the state
	// has it, with its record; with filed, also a copy of o the state
	// has on both sides that the other side's user filed away (filedOn).
	// Nil when o holds none there, or several (which one would join is
	// not clear).
	otherCopy := func(o Side, id Identity, filed bool) (held, *Message) {
		var there held
		var msg *Message
		n := 0
		cands := oneSided[o][id]
		if filed {
			cands = append(slices.Clip(cands), filedOn[o][id]...)
		}
		for _, h := range cands {
			// Taken out of z on o for the other side's change, z must
			// take that side's changes; and no copy this plan moves
			// already.
			z := h.v
			if z.listed[o] == nil || !z.policy.Direction.Flows(o.Other()) ||
				pl.moveOf[h.r] != nil || pl.conflictOf[h.r] != nil || pl.finished[h.r] {
				continue
			}
			// At its UID; or by identity, after a UIDVALIDITY change or
			// where o's user moved it out and back in again (under a
			// new UID), as the folder pass re-pairs it.
			m := z.byUID(o).get(h.r.UID(o))
			if pl.resetOn(z, o) || m == nil {
				m = onlyCopy(z.listed[o], id)
			}
			if m != nil && m.ID == id && !pl.leaving[o][m] {
				there, msg = h, m
				n++
			}
		}
		if n != 1 {
			return held{}, nil
		}
		return there, msg
	}
	for s := range 2 {
		side, o := Side(s), Side(s).Other()
		for _, id := range ids[s] {
			if len(oneSided[o][id]) == 0 {
				continue
			}
			// s's copy left the folder the state has it in on s only;
			// or the state has it nowhere on s (a run that failed to
			// carry out such a join forgot it), and s holds this copy
			// only, or copies in one folder only: one of them joins,
			// the others are new mail (TestModel seed 229371: the
			// message delivered there again before the next run).
			cs := fresh[s][id]
			left := len(oneSided[s][id]) == 0 && len(cs) > 0 &&
				!slices.ContainsFunc(cs, func(c *cand) bool { return c.v != cs[0].v })
			for _, h := range oneSided[s][id] {
				if h.v.listed[s] == nil || pl.goneFrom(h.v, side)(h.r) {
					left = true
				}
			}
			if !left || paired(id) {
				continue
			}
			there, msg := otherCopy(o, id, false)
			if msg == nil {
				pl.crossedJoin(side, id, cs, fresh, oneSided[o][id])
				continue
			}
			joining := false
			for k, c := range cs {
				if y := c.v; y != there.v && pl.canTake(y, o, id) && !pl.leaving[s][c.m] {
					a := pl.joinMove(o, there.v, msg, y, id, ReasonRejoined)
					pl.arrivals[o][y.name] = append(pl.arrivals[o][y.name], a)
					pl.moveOf[there.r] = a
					// Planned in full, so that the record leaves it.
					there.v.clean = false
					fresh[s][id] = append(cs[:k:k], cs[k+1:]...)
					joining = true
					break
				}
			}
			if !joining {
				pl.rejoinedAhead(o, there, msg, id, fresh)
			}
		}
	}
	// A filed-away message's folder, made again on o: o's copy joins it
	// there (the folder pass pairs them, see rejoinAt).
	for _, rv := range revived {
		there, msg := otherCopy(rv.o, rv.r.ID, true)
		if msg == nil {
			pl.filedConflict(rv.y, rv.r, rv.o, fresh)
			continue
		}
		if there.v == rv.y || pl.holds(rv.y.listed[rv.o], rv.r.ID) {
			continue
		}
		// The folder pass pairs it with the record there (not as an
		// arrival of the folder: the record is no new message).
		a := pl.joinMove(rv.o, there.v, msg, rv.y, rv.r.ID, ReasonRejoined)
		pl.moveOf[there.r] = a
		pl.rejoinAt[rv.r] = a
		there.v.clean = false
	}
	// A filed-away message in a folder both sides have again, whose other
	// copy that side's user moved after a failed run.
	if len(pl.movedBoth) == 0 {
		return
	}
	for _, y := range views {
		if y.base == nil || y.listed[A] == nil || y.listed[B] == nil {
			continue
		}
		for i := range y.base.Records {
			r := &y.base.Records[i]
			if r.ID == "" || (r.UIDA == 0) == (r.UIDB == 0) {
				continue
			}
			o := A
			if r.UIDA != 0 {
				o = B
			}
			pl.filedConflict(y, r, o, fresh)
		}
	}
}

// filedConflict settles a message that side s's user filed away into
// folder pair y while o lacked it (r, its record there, on s only), where
// y is on o again once the plan is carried out (made again by a change
// earlier, or by this plan: renamed on s, deleted on o), and that o's
// user moved too: the two copies were paired in another folder at the
// base, and both left it, o's into folder pair c.v (the run that was to
// give o's copy the deletion policy failed, so the state still paired
// them). That is a move conflict, settled as any: the prefer side's
// folder wins, unless it cannot take the other copy, which is moved
// there (UID MOVE), and the conflict is reported. Before, o's copy went
// to s as new mail (and, y made again, s's to o with its folder): the
// side that filed it held it twice. Should the move fail, the winner's
// copy stays recorded on its side only (actionRare.keepTarget), and the next
// run joins the two again.
//
// So too where y is made again on o by this plan and o's copy was o's
// only, kept there when s's user filed the message away (deletion =
// keep, or a change on o), and o's user then moved it into another
// folder of the pair (keptMoves took it: keptAt): both users moved the
// message, and without the join o would get s's copy with y, and hold
// two (TestModelMovesAndRenames seed 139772).
func (pl *planner) filedConflict(y *view, r *Record, o Side, fresh [2]map[Identity][]*cand) {
	s, id := o.Other(), r.ID
	// s's copy in y is new there where y's UIDVALIDITY changed on s (a
	// rename by copy, say): every message of y is then (TestModelMovesAndRenames
	// seed 266179). Any other new copy of s's makes the story unclear.
	if slices.ContainsFunc(fresh[s][id], func(c *cand) bool { return c.v != y }) ||
		!y.endsOn(o) || !y.policy.Direction.Flows(s) || pl.moveOf[r] != nil || pl.rejoinAt[r] != nil {
		return
	}
	var c *cand
	_, both := pl.movedBoth[id]
	switch kept := pl.keptAt[o][id]; {
	case both && len(fresh[o][id]) == 1:
		c = fresh[o][id][0]
	case !both && len(fresh[o][id]) == 0 && len(kept) == 1 && y.renamed != nil && y.renamed.revive[o]:
		c = kept[0]
	default:
		return
	}
	mine := y.byUID(s).get(r.UID(s))
	if pl.resetOn(y, s) {
		mine = onlyCopy(y.listed[s], id)
	}
	if c.v == y || mine == nil || pl.leaving[o][c.m] || pl.leaving[s][mine] || pl.holds(y.listed[o], id) {
		return
	}
	var by [2]*cand
	by[s], by[o] = &cand{y, mine}, c
	for _, w := range []Side{pl.policy.Prefer, pl.policy.Prefer.Other()} {
		l := w.Other()
		win, lose := by[w], by[l]
		if pl.isTrash(win.v) || !lose.v.policy.Direction.Flows(w) {
			continue
		}
		var a *Action
		if w == s {
			// o's copy joins s's in y, made on o if need be; the folder
			// pass pairs them (rejoinAt).
			a = pl.joinMove(o, lose.v, lose.m, y, id, ReasonMoveConflict)
			pl.rejoinAt[r] = a
		} else {
			if !pl.canTake(win.v, s, id) { // the trash is out (above)
				continue
			}
			a = pl.joinMove(s, y, mine, win.v, id, ReasonMoveConflict)
			pl.arrivals[s][win.v.name] = append(pl.arrivals[s][win.v.name], a)
			pl.moveOf[r] = a
		}
		a.rareToSet().keepTarget = true
		y.clean = false
		fresh[o][id] = nil
		winner := pl.winner(w, by[pl.policy.Prefer.Other()].v, fmt.Sprintf("%q cannot take it on %s", by[pl.policy.Prefer].v.name, pl.policy.Prefer.Other()))
		pl.plan.Conflicts = append(pl.plan.Conflicts, fmt.Sprintf("%s filed into %q on %s while %s lacked it, and moved to %q on %s: %s, moved to %q on %s too",
			shortID(id), y.name, s, o, c.v.name, o, winner, win.v.name, l))
		return
	}
}

// listedWhere returns the identities side s lists in the folder pairs of
// views, its trash left out, that pick takes: pick returns, for a folder
// pair, a test of an identity listed there, or nil to pass the folder
// pair by.
func (pl *planner) listedWhere(views []*view, s Side, pick func(v *view) func(Identity) bool) map[Identity]bool {
	out := map[Identity]bool{}
	for _, v := range views {
		f := v.listed[s]
		if f == nil || pl.trash[s] != "" && f.Mailbox == pl.trash[s] {
			continue
		}
		take := pick(v)
		if take == nil {
			continue
		}
		for i := range f.Messages {
			if id := f.Messages[i].ID; id != "" && take(id) {
				out[id] = true
			}
		}
	}
	return out
}

// mailboxIn returns the mailbox of folder pair y on side s: listed
// there, or the one this plan makes (its folder pair creates it, or
// makes it again).
func (pl *planner) mailboxIn(s Side, y *view) string {
	if y.listed[s] != nil {
		return y.listed[s].Mailbox
	}
	return pl.names.mustMailbox(s, y.name)
}

// joinMove plans the Move of side s's copy m of identity id out of
// folder pair from into folder pair y, where it joins the other side's
// copy: the Move's arrival carries m's flags, and m leaves from (its
// folder does not copy it). The caller registers the arrival where the
// folder pass is to find it.
func (pl *planner) joinMove(s Side, from *view, m *Message, y *view, id Identity, reason string) *Action {
	a := &Action{Op: Move, Side: s, Folder: from.name, Mailbox: from.listed[s].Mailbox, UID: m.UID,
		Dest: pl.mailboxIn(s, y), ID: id, Reason: reason}
	a.arrival = &slot{rec: Record{ID: id, Flags: m.Flags}}
	a.arrival.waiting[s] = true
	pl.acts = append(pl.acts, a)
	pl.leaving[s][m] = true
	return a
}

// canTake reports whether folder pair y may take a copy of id on side s,
// moved there for the other side's change: y takes what comes from the
// other side, is on s once the plan is carried out, holds no copy there
// and knew none at the base.
func (pl *planner) canTake(y *view, s Side, id Identity) bool {
	return y.endsOn(s) && y.policy.Direction.Flows(s.Other()) && !pl.holds(y.listed[s], id) && !pl.knows(y.base, id)
}

// canJoinBack is canTake for the folder pair y a crossed join brings
// side s's copy of id into from folder pair from; y is not the trash,
// unless trash. Where from is on both sides, y may know id by records
// on s only whose copy left y there: s's user moved that copy out, into
// from, while the other side's user moved its copy into y. Two
// one-sided copies swapped folders (TestModelMovesAndRenames seed
// 519625); the record goes with its copy, and the two copies are paired
// in y. (Where from is on s only, s's user filed the message away
// there, and it stays: case 138.)
func (pl *planner) canJoinBack(y *view, s Side, id Identity, from *view, trash bool) bool {
	if pl.isTrash(y) && !trash {
		return false
	}
	if pl.canTake(y, s, id) {
		return true
	}
	if !y.endsOn(s) || !y.policy.Direction.Flows(s.Other()) || pl.holds(y.listed[s], id) ||
		y.listed[s] == nil || from.listed[A] == nil || from.listed[B] == nil {
		return false
	}
	for i := range y.base.Records {
		if r := &y.base.Records[i]; r.ID == id && (r.UID(s) == 0 || r.UID(s.Other()) != 0) {
			return false
		}
	}
	return true
}

// joinsAgain reports whether the next run joins the winner's copy of a
// failed join, recorded on its side only in folder pair y (as
// actionRare.keepTarget keeps it), with the loser l's copy, new to that run
// in z (rejoins): both folders must take l's changes. Where either does
// not (a one-way pair), the record reads to that run as deleted by l's
// user, and the two copies stay apart for good.
func joinsAgain(l Side, y, z *view) bool {
	return y.policy.Direction.Flows(l) && z.policy.Direction.Flows(l)
}

// held is a base record with its folder pair.
type held struct {
	v *view
	r *Record
}

// inBase reports whether h's record is one of its folder pair's base
// records, not one of the original's a rename left out of it
// (renamed.deleted).
func inBase(h held) bool {
	if h.v.base == nil {
		return false
	}
	for i := range h.v.base.Records {
		if &h.v.base.Records[i] == h.r {
			return true
		}
	}
	return false
}

// crossedJoin settles a message that both users moved back into the
// pair, to different folders: side s's copy, cs, new in one folder, and
// the other side's, whose one-sided record (recs, the only one) its
// user moved out of its folder, new or kept (keptMoves) in another. The
// prefer side's folder wins, unless it cannot take the other copy
// (canJoinBack): the other copy is moved there, and the conflict is
// reported. The trash wins only where no other folder can: in a one-way
// pair whose source's user moved the message into the trash, the
// target's copy follows it there, as it would into any folder; copied
// there instead, the target would hold it twice (case 202;
// TestRandomEndToEnd Dovecot seed 1007). Should that move fail, the
// winner's copy stays recorded on its side only (actionRare.keepTarget),
// and the next run joins the two again (the other one new to it, in the
// loser's folder). Where the
// winner's folder is new and its creation on the loser's side failed
// too, the state cannot keep that record (it forgets the new folder);
// nor where either folder takes nothing from the loser's side (the
// next run would not join them, and the record would read as deleted
// by the loser's user). It keeps o's one-sided record as the base had
// it instead (heldFor, actionRare.holdsAlways), and the next run plans the
// same join again. Where that record cannot be kept either (not the
// folder pair's base's, or its folder has a new UIDVALIDITY on o), Next
// keeps o's copy recorded on o only, where it is (actionRare.keepSource),
// and the next run joins the two again.
func (pl *planner) crossedJoin(s Side, id Identity, cs []*cand, fresh [2]map[Identity][]*cand, recs []held) {
	o := s.Other()
	if len(cs) != 1 || len(recs) != 1 {
		return
	}
	if h := recs[0]; h.v.listed[o] != nil && !pl.goneFrom(h.v, o)(h.r) {
		return // not moved by o's user
	}
	moved := append(slices.Clone(fresh[o][id]), pl.keptAt[o][id]...)
	if len(moved) != 1 || pl.leaving[o][moved[0].m] || pl.leaving[s][cs[0].m] {
		return
	}
	var by [2]*cand
	by[s], by[o] = cs[0], moved[0]
	if by[s].v == by[o].v {
		return // moved into one folder: they pair there
	}
	for _, trash := range []bool{false, true} {
		for _, w := range []Side{pl.policy.Prefer, pl.policy.Prefer.Other()} {
			if pl.crossedJoinInto(w, id, by, recs[0], fresh, s, trash) {
				return
			}
		}
	}
}

// crossedJoinInto carries out crossedJoin's join into side w's folder,
// by[w], where it can take the other side's copy, by[w.Other()]: with
// trash, only where that folder is the trash. s is the side whose copy
// is new (crossedJoin's), and rec the other side's one-sided record. It
// reports whether it joined them.
func (pl *planner) crossedJoinInto(w Side, id Identity, by [2]*cand, rec held, fresh [2]map[Identity][]*cand, s Side, trash bool) bool {
	o, l := s.Other(), w.Other()
	y, z := by[w], by[l]
	if trash && !pl.isTrash(y.v) || !pl.canJoinBack(y.v, l, id, z.v, trash) || z.v.listed[l] == nil || !z.v.policy.Direction.Flows(w) {
		return false
	}
	a := pl.joinMove(l, z.v, z.m, y.v, id, ReasonMoveConflict)
	if joinsAgain(l, y.v, z.v) || !inBase(rec) || pl.resetOn(rec.v, o) {
		// (A record of the side that deleted its folder while the other
		// renamed it is not in the folder pair's base, but its
		// original's; one whose folder has a new UIDVALIDITY on its
		// side names a UID of a mailbox that is gone
		// (TestNextFailedJoinOfARecordInAFolderRenamedByCopy). Next
		// cannot keep either as the base had it, and keeps the winner's
		// copy instead, which the next run leaves where it is, as it
		// does the loser's.)
		a.rareToSet().keepTarget = true
		if !inBase(rec) || pl.resetOn(rec.v, o) {
			// Nor can it keep the winner's copy where the folder that
			// copy is in is new and its creation fails too: it keeps
			// the loser's, where it is (TestModelMovesAndRenamesOneWay
			// seed 53430).
			a.keepSourceWith(z.m.Flags)
		}
	} else {
		a.rareToSet().holdsAlways = true // TestModel seed 5479752
	}
	if pl.joinedBy[w] == nil {
		pl.joinedBy[w] = map[*Message]bool{}
	}
	pl.joinedBy[w][y.m] = true
	pl.heldFor[rec.r] = a
	pl.arrivals[l][y.v.name] = append(pl.arrivals[l][y.v.name], a)
	fresh[s][id] = slices.DeleteFunc(fresh[s][id], func(c *cand) bool { return c == by[s] })
	fresh[o][id] = slices.DeleteFunc(fresh[o][id], func(c *cand) bool { return c == by[o] })
	winner := pl.winner(w, by[pl.policy.Prefer.Other()].v, fmt.Sprintf("%q cannot take it on %s", by[pl.policy.Prefer].v.name, pl.policy.Prefer.Other()))
	pl.plan.Conflicts = append(pl.plan.Conflicts, fmt.Sprintf("%s moved back into the pair to %q on %s and to %q on %s: %s, moved to %q on %s too",
		shortID(id), y.v.name, w, z.v.name, l, winner, y.v.name, l))
	return true
}

// goneFrom returns a test of whether a base record's message is no longer
// in folder pair x on side s (listed there): not at its UID, or, where
// x's UIDVALIDITY changed on s (the base's messages under new UIDs), by
// identity.
func (pl *planner) goneFrom(x *view, s Side) func(r *Record) bool {
	if !pl.resetOn(x, s) {
		idx := x.byUID(s)
		return func(r *Record) bool { return idx.get(r.UID(s)) == nil }
	}
	ids := make(map[Identity]bool, len(x.listed[s].Messages))
	for _, m := range x.listed[s].Messages {
		ids[m.ID] = true
	}
	return func(r *Record) bool { return !ids[r.ID] }
}

// keptMoves finds the messages of folder pair x, on both sides
// at the base, that the state has on one side only (the other
// side deleted them and the deletion policy kept this side's copy, or
// the other side filed them away; in a one-way pair, the target's user
// deleted or moved the target's copy) and that this side's user moved to
// another folder: the message stays on this side only there too, rather
// than being copied to the side that no longer has it. (A message of a
// folder on one side only that its user moves into a folder of the pair
// is new to the pair, and copied; so is one its user takes out of the
// trash, where a deletion on the other side put it.)
func (pl *planner) keptMoves(x *view, fresh [2]map[Identity][]*cand) {
	if x.policy.Direction == None || pl.isTrash(x) {
		return // taken out of the trash: wanted again, new to the pair
	}
	for p := range 2 {
		side := Side(p)
		if !x.policy.Direction.Flows(side) {
			continue // a one-way target's moves are its own
		}
		recs := x.base.Records
		if rn := x.renamed; rn != nil && rn.revive[side] {
			// Renamed on the other side and deleted on this one after
			// the move: renames made the base the other side's only.
			recs = rn.orig.Records
		} else if x.base.A.Mailbox == "" || x.base.B.Mailbox == "" {
			continue
		}
		// Deleted on the other side since, x's records on this side only
		// may be mail new here after an earlier, failed run saw that
		// deletion (case 19), which goes to the other side once moved;
		// unless the other side holds it in a folder this side lacks,
		// where its user filed it away.
		deleted := x.listed[side.Other()] == nil
		gone := pl.goneOrDeleted(x, side)
		for i := range recs {
			r := &recs[i]
			if r.ID == "" || r.UID(side) == 0 || r.UID(side.Other()) != 0 || r.Away || !gone(r) ||
				deleted && !pl.heldAway(side.Other(), r.ID) {
				continue
			}
			pl.keepMovedAlone(side, x, r.ID, fresh)
		}
	}
}

// keepMovedAlone takes from fresh the first of side's new copies of
// identity id that side's user moved out of folder pair x into another
// one, and keeps it on side only (keptOn): the record it continues was
// side's only, and its move does not copy it to the other side. Where x
// is one way, only a move into a folder that is one way too counts:
// moved into a folder whose changes flow both ways, the message is new
// to that folder's pair, and copied.
func (pl *planner) keepMovedAlone(side Side, x *view, id Identity, fresh [2]map[Identity][]*cand) {
	oneWay := x.policy.Direction != Both
	cs := fresh[side][id]
	for k, c := range cs {
		if oneWay && c.v.policy.Direction.Flows(side.Other()) {
			continue
		}
		if c.v != x && !pl.knows(c.v.base, id) && !pl.leaving[side][c.m] {
			pl.keptOn[side][c.m] = true
			pl.keptAt[side][id] = append(pl.keptAt[side][id], c)
			pl.plan.links = append(pl.plan.links, [2]string{x.name, c.v.name})
			fresh[side][id] = append(cs[:k:k], cs[k+1:]...)
			return
		}
	}
}

// endsOn reports whether folder pair v is on side s once the plan is
// carried out: listed there, or new on the other side (its folder pair
// makes it on s), or renamed on the other side and deleted on s, and so
// made again there. A move into it can be followed on s.
func (v *view) endsOn(s Side) bool {
	return v.listed[s] != nil || v.base == nil || v.renamed != nil && v.renamed.revive[s]
}

// heldOnBoth returns a test of whether a base record of folder pair x
// was on both sides. Renamed on one side and deleted on the other, x is
// made again on the deleting side, and renames made its base the
// renaming side's only: there, what the state had on both sides was.
func heldOnBoth(x *view) func(r *Record) bool {
	rn := x.renamed
	if rn == nil || rn.revive[A] == rn.revive[B] {
		return func(r *Record) bool { return r.UIDA != 0 && r.UIDB != 0 }
	}
	kept := A
	if rn.revive[A] {
		kept = B
	}
	wasOn := map[UID]bool{}
	for _, r := range rn.orig.Records {
		if r.UIDA != 0 && r.UIDB != 0 {
			wasOn[r.UID(kept)] = true
		}
	}
	return func(r *Record) bool { return r.UID(kept) != 0 && wasOn[r.UID(kept)] }
}

// goneOrDeleted is goneFrom, where folder pair x may have been deleted on
// s since the base: then every message of it is gone from there. A user
// may have moved some out before deleting it.
func (pl *planner) goneOrDeleted(x *view, s Side) func(r *Record) bool {
	if x.listed[s] == nil {
		return func(*Record) bool { return true }
	}
	return pl.goneFrom(x, s)
}

// copiedAhead returns the other side's copy of the message with
// identity id, gone on side o from folder x and new on o in one other
// folder y (cs holds o's new messages with id), where that copy is new
// in y too (onOther holds the other side's new messages with id); nil
// if there is none. A run that moved it there copied it and was stopped
// before it expunged the original (a move of several messages goes as
// UID COPYs, then one UID EXPUNGE), or the user copied it there. Either
// way, following o's move leaves the other side's original to remove,
// and the two copies in y pair by identity.
func (pl *planner) copiedAhead(x *view, o Side, id Identity, cs, onOther []*cand) *cand {
	if len(cs) != 1 {
		return nil
	}
	y := cs[0].v
	s := o.Other()
	if y == x || y.listed[s] == nil || !y.policy.Direction.Flows(o) || pl.knows(y.base, id) {
		return nil
	}
	var found *cand
	for _, c := range onOther {
		if c.v == y {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

// rejoinedAhead finishes a join (ReasonRejoined) a run left half done:
// side o's one-sided copy msg, held by record there, was to move into
// folder y to join the other side's copy, new there; the run copied it
// (a UID COPY: its move took messages to several folders) and was
// stopped before it expunged the original. y holds on o a copy of its
// own, new since the base, with the original's flags (or with the ones
// the original has now): the two copies in y pair by identity, and the
// original is expunged, as for a half-done move (copiedAhead). Should
// that fail, Next keeps there's record and drops the pairing in y, so
// that the next run finds the same half-done join (aheadJoin).
// TestRandomEndToEnd -e2e.cuts 0.5, Dovecot seed 514: o held it twice.
func (pl *planner) rejoinedAhead(o Side, there held, msg *Message, id Identity, fresh [2]map[Identity][]*cand) {
	s := o.Other()
	cs := fresh[s][id]
	if len(cs) != 1 {
		return
	}
	y := cs[0].v
	if y == there.v || !y.endsOn(o) || y.listed[o] == nil || !y.policy.Direction.Flows(s) || pl.knows(y.base, id) || pl.leaving[s][cs[0].m] {
		return
	}
	var copied *cand
	for _, c := range fresh[o][id] {
		if c.v != y {
			continue
		}
		if copied != nil {
			return // two copies there: which one is the join's is not clear
		}
		copied = c
	}
	if copied == nil || pl.leaving[o][copied.m] || !msg.Flags.Equal(there.r.Flags) && !copied.m.Flags.Equal(msg.Flags) {
		return
	}
	fresh[s][id] = nil
	fresh[o][id] = slices.DeleteFunc(slices.Clone(fresh[o][id]), func(c *cand) bool { return c == copied })
	a := &Action{Op: Expunge, Side: o, Folder: there.v.name, Mailbox: there.v.listed[o].Mailbox, UID: msg.UID, ID: id, Reason: ReasonRejoinFinished}
	pl.acts = append(pl.acts, a)
	pl.leaving[o][msg] = true
	if pl.joinFinished == nil {
		pl.joinFinished = map[*Record]*Action{}
	}
	pl.joinFinished[there.r] = a
	if pl.aheadJoin == nil {
		pl.aheadJoin = map[*Message]*Action{}
	}
	pl.aheadJoin[copied.m] = a
	// Planned in full, so that the record leaves it; and the expunge
	// rests on the copies' pairing in y: a scoped run takes both.
	there.v.clean = false
	pl.plan.links = append(pl.plan.links, [2]string{there.v.name, y.name})
}

// moveConflicts settles messages of base folder x that both sides moved,
// to different folders: the pair's prefer side wins, the other side's
// copy is moved to the winner's folder, and the conflict is reported.
// Either side, or both, may have deleted x after moving them out.
func (pl *planner) moveConflicts(x *view, fresh [2]map[Identity][]*cand) {
	goneA, goneB := pl.goneOrDeleted(x, A), pl.goneOrDeleted(x, B)
	held := heldOnBoth(x)
	for i := range x.base.Records {
		r := &x.base.Records[i]
		if !held(r) || !goneA(r) || !goneB(r) {
			continue
		}
		// The prefer side wins, unless its folder cannot take the
		// other side's copy (that side deleted it): then the other
		// side's folder does, rather than keeping both.
		var y, z *cand
		var w, l Side
		// joined is the loser's copy in the winner's folder already,
		// where joinedAhead finds the conflict half done.
		var joined *cand
		for _, win := range []Side{pl.policy.Prefer, pl.policy.Prefer.Other()} {
			lose := win.Other()
			cw, cl := fresh[win][r.ID], fresh[lose][r.ID]
			if len(cw) == 0 || len(cl) == 0 {
				break
			}
			if cz, inY := pl.joinedAhead(x, r, win, cw, cl); cz != nil {
				y, z, w, l, joined = cw[0], cz, win, lose, inY
				break
			}
			cy, cz := cw[0], cl[0]
			if cy.v == cz.v || cy.v == x || cz.v == x || !cy.v.endsOn(lose) || cz.v.listed[lose] == nil ||
				!cy.v.policy.Direction.Flows(win) || pl.holds(cy.v.listed[lose], r.ID) || pl.knows(cy.v.base, r.ID) || pl.knows(cz.v.base, r.ID) {
				continue
			}
			y, z, w, l = cy, cz, win, lose
			break
		}
		if y == nil {
			continue
		}
		if joined != nil {
			// The loser's copy is in the winner's folder already, where
			// the two pair by identity: only the original is left to
			// remove. Should that fail, r stays, as for a failed Move.
			fresh[w][r.ID], fresh[l][r.ID] = nil, nil
			a := &Action{Op: Expunge, Side: l, Folder: z.v.name, Mailbox: z.v.listed[l].Mailbox, UID: z.m.UID, ID: r.ID, Reason: ReasonConflictFinished}
			pl.acts = append(pl.acts, a)
			pl.leaving[l][z.m] = true
			pl.conflictOf[r] = a
			if pl.aheadJoin == nil {
				pl.aheadJoin = map[*Message]*Action{}
			}
			pl.aheadJoin[joined.m] = a
			// The expunge rests on the copies' pairing in y: a scoped
			// run takes both folders.
			pl.plan.links = append(pl.plan.links, [2]string{z.v.name, y.v.name})
			pl.plan.Conflicts = append(pl.plan.Conflicts, fmt.Sprintf("%s moved from %q to %q on %s and to %q on %s: %s, in %q on %s already",
				shortID(r.ID), x.name, y.v.name, w, z.v.name, l, pl.winner(w, z.v, fmt.Sprintf("%q is gone on %s", z.v.name, w)), y.v.name, l))
			continue
		}
		fresh[w][r.ID], fresh[l][r.ID] = fresh[w][r.ID][1:], fresh[l][r.ID][1:]
		dest := pl.mailboxIn(l, y.v)
		a := &Action{Op: Move, Side: l, Folder: z.v.name, Mailbox: z.v.listed[l].Mailbox, UID: z.m.UID,
			Dest: dest, ID: r.ID, Reason: ReasonMoveConflict, rareFields: &actionRare{mergeBase: r.Flags, hasBase: true}}
		a.arrival = &slot{rec: Record{ID: r.ID, Flags: z.m.Flags}}
		a.arrival.waiting[l] = true
		// Should the Move fail, the state keeps r for the next run to
		// decide again; but where x's UIDVALIDITY changed on a side,
		// r's UID there names nothing, and r goes. Then the winner's
		// copy stays recorded, on its side only, so that the next run
		// joins the two again (see actionRare.keepTarget), rather than
		// copying each both ways. Not where the next run would not
		// join them (joinsAgain): r stays instead, on the side whose
		// UIDVALIDITY did not change (slot.targetLost), and the next
		// run joins the two as a crossed join. Where it changed on both
		// sides, r keeps no UID, and the winner's record is kept after
		// all: dropped, it would leave the winner's copy new to the
		// next run, copied to the loser's side beside the loser's own.
		// So too in a one-way pair where the loser's user renamed x,
		// which the pair does not follow (renamed.keptAt: x is made
		// again there, and the renamed folder is the loser's own, case
		// 147), where x's UIDVALIDITY changed, or r has the winner's
		// UID unknown: r's UID on the loser's side names the folder
		// split off, keepBase would keep r there, and a record at an
		// unknown UID has nothing to pair with. The source's copy
		// recorded on the source only keeps it off the target, which
		// holds its own where its user's rename took it
		// (TestNextFailedMoveConflictLeavesALoadableState;
		// TestModelMovesAndRenamesOneWay seeds 11566, 12256, 22229,
		// 35779 and 38115, known bug 16's). And where x reads as
		// deleted on the loser's side while the winner's user renamed
		// it (renamed.deleted: that user deleted it, or renamed it by
		// copy, to a mailbox no UIDVALIDITY ties to x): the folder pair
		// keeps no side there, and keepBase would keep nothing
		// (TestNextFailedMoveConflictOutOfAFolderRenamedByCopyOnBothSides).
		// Otherwise r stays, and the next run settles the same
		// conflict (TestSyncFailedMoveConflictOutOfAFolderTheTargetRenamed).
		split := x.renamed != nil && x.renamed.keptAt[l] != "" && x.policy.Direction != Both
		lostOnLoser := x.renamed != nil && x.renamed.deleted[l]
		if resetA, resetB := pl.resetOn(x, A), pl.resetOn(x, B); resetA || resetB || split && r.UID(w) == UnknownUID {
			if joinsAgain(l, y.v, z.v) || resetA && resetB || split || lostOnLoser {
				a.rareToSet().keepTarget = true
				if pl.resetOn(x, l) || split || lostOnLoser {
					// Nor can Next keep r on the loser's side (slot.targetLost):
					// should the winner's folder be new and its creation
					// fail too, the loser's copy stays recorded where it is
					// (actionRare.keepSource; TestModelMovesAndRenamesOneWay
					// seed 184812).
					a.keepSourceWith(z.m.Flags)
				}
			} else {
				a.rareToSet().keepBase = true
			}
		}
		if !a.rare().keepTarget && !a.rare().keepBase && joinsAgain(l, y.v, z.v) {
			// r stays, but Next may still drop it: where its UID on
			// one side is unknown and on the other names a mailbox this
			// plan makes again (its user deleted x there), it names
			// nothing. The loser's copy then stays recorded where it
			// is (TestModelMovesAndRenames seed 2845161).
			a.keepSourceWith(z.m.Flags)
		}
		pl.acts = append(pl.acts, a)
		pl.arrivals[l][y.v.name] = append(pl.arrivals[l][y.v.name], a)
		pl.leaving[l][z.m] = true
		pl.conflictOf[r] = a
		winner := pl.winner(w, z.v, fmt.Sprintf("%q is gone on %s", z.v.name, w))
		pl.plan.Conflicts = append(pl.plan.Conflicts, fmt.Sprintf("%s moved from %q to %q on %s and to %q on %s: %s, moved to %q on %s too",
			shortID(r.ID), x.name, y.v.name, w, z.v.name, l, winner, y.v.name, l))
	}
}

// recordsBy returns the indexes of records in the order of their UIDs
// on side s (a record not there first, one at a UID not known last), or
// nil where records are in that order already (most folders, most of
// all for side A, the state's own order).
// Records of one identity that compete
// for one copy on the other side go in that order, so which takes it
// does not depend on which side is A (TestModel -model.mirror seed
// 2220425: of two records of x:5 held on b, the one first by a's UIDs
// took a's copy moved out, and with the sides swapped the other did).
func recordsBy(records []Record, s Side) []int {
	sorted := true
	for i := 1; i < len(records) && sorted; i++ {
		sorted = records[i-1].UID(s) <= records[i].UID(s)
	}
	if sorted {
		return nil
	}
	idx := make([]int, len(records))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int { return cmp.Compare(records[i].UID(s), records[j].UID(s)) })
	return idx
}

// joinedAhead returns the loser's copy of base record r's message that
// a run settling the move conflict for winner w left behind: both
// users moved r out of x, to different folders, and a run moving the
// loser's copy into the winner's folder y copied it and was stopped
// before it expunged the original (a move of several messages goes as
// UID COPYs, then one UID EXPUNGE). The winner holds its one copy new
// in y (cw), the loser two (cl): inY, new in y, with the flags of z, new
// in another folder; both nil where that is not so. One run ends with
// the message in y on both sides; so does the next, removing the
// original in z (TestRandomEndToEnd -e2e.cuts 0.5, Dovecot seed 209).
func (pl *planner) joinedAhead(x *view, r *Record, w Side, cw, cl []*cand) (z, inY *cand) {
	if len(cw) != 1 || len(cl) != 2 {
		return nil, nil
	}
	l := w.Other()
	y := cw[0].v
	for _, c := range cl {
		switch c.v {
		case y:
			inY = c
		case x:
			return nil, nil
		default:
			z = c
		}
	}
	if inY == nil || z == nil || y == x || !y.endsOn(l) || z.v.listed[l] == nil || !y.policy.Direction.Flows(w) ||
		pl.knows(y.base, r.ID) || pl.knows(z.v.base, r.ID) || !inY.m.Flags.Equal(z.m.Flags) {
		return nil, nil
	}
	return z, inY
}

// winner says why side w won a conflict, for its report: where v, the
// folder that would take the other side's copy had the prefer side won
// (the other side's folder in a join; in a move conflict the prefer
// side's destination), is one-way from w, or takes nothing from the
// prefer side, that w is the source there (the source wins, whatever
// prefer says); else, the prefer side; else why (the prefer side's
// folder is gone, say).
func (pl *planner) winner(w Side, v *view, why string) string {
	switch p := pl.policy.Prefer; {
	case v.policy.Direction != Both && v.policy.Direction.Flows(w):
		return fmt.Sprintf("%s wins (the source: %s)", w, v.policy.Direction)
	case w == p:
		return fmt.Sprintf("%s wins (prefer)", w)
	case !v.policy.Direction.Flows(p):
		return fmt.Sprintf("%s wins (the source: %s)", w, v.policy.Direction)
	default:
		return fmt.Sprintf("%s wins (%s)", w, why)
	}
}

// onlyCopy returns the message with identity id in folder f, nil when
// there is none or more than one.
func onlyCopy(f *Folder, id Identity) *Message {
	var found *Message
	for i := range f.Messages {
		if f.Messages[i].ID == id {
			if found != nil {
				return nil
			}
			found = &f.Messages[i]
		}
	}
	return found
}

// holds reports whether folder f lists a message with identity id:
// moving another copy there would make two.
func (pl *planner) holds(f *Folder, id Identity) bool {
	if f == nil {
		return false
	}
	if set := pl.listedIDs.of(f, len(f.Messages), func(add func(Identity)) {
		for i := range f.Messages {
			add(f.Messages[i].ID)
		}
	}); set != nil {
		return set[id]
	}
	for i := range f.Messages {
		if f.Messages[i].ID == id {
			return true
		}
	}
	return false
}

// knows reports whether a base folder has a record with identity id: a
// new message there re-pairs with that record, so it is not a move.
func (pl *planner) knows(f *FolderState, id Identity) bool {
	if f == nil {
		return false
	}
	if set := pl.recordIDs.of(f, len(f.Records), func(add func(Identity)) {
		for _, r := range f.Records {
			add(r.ID)
		}
	}); set != nil {
		return set[id]
	}
	for _, r := range f.Records {
		if r.ID == id {
			return true
		}
	}
	return false
}

// idSets holds the identities of the folders (listed folders, or base
// folders) that holds and knows are asked about often: move detection
// asks once per candidate, and planning a bulk move of 10,000 messages
// into a folder of 50,000 scanned 10⁹ identities (3 s). A folder is
// scanned for its first idSetAfter questions, so a plan with a few moves
// per folder builds no sets.
type idSets[K comparable] struct {
	asked map[K]int
	sets  map[K]map[Identity]bool
}

const idSetAfter = 16

// of returns folder k's identity set, built by fill from its n
// identities, once k was asked about idSetAfter times; nil before.
func (c *idSets[K]) of(k K, n int, fill func(add func(Identity))) map[Identity]bool {
	if set, ok := c.sets[k]; ok {
		return set
	}
	if c.asked == nil {
		c.asked = map[K]int{}
	}
	c.asked[k]++
	if c.asked[k] < idSetAfter || n < idSetAfter {
		return nil
	}
	set := make(map[Identity]bool, n)
	fill(func(id Identity) { set[id] = true })
	if c.sets == nil {
		c.sets = map[K]map[Identity]bool{}
	}
	c.sets[k] = set
	return set
}

// unmatchedIn reports whether side s lists more copies of id new in
// folder pair w than the other side does: those two pair with each other
// there (new on both sides, one identity), so s's copy is the other
// side's, not one s's user moved in from elsewhere.
func unmatchedIn(fresh [2]map[Identity][]*cand, s Side, w *view, id Identity) bool {
	n := 0
	for _, c := range fresh[s][id] {
		if c.v == w {
			n++
		}
	}
	for _, c := range fresh[s.Other()][id] {
		if c.v == w {
			n--
		}
	}
	return n > 0
}
