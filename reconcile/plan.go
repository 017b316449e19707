package reconcile

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// slot is one record of the next state, still waiting for the outcome of
// the actions that complete it.
type slot struct {
	rec Record
	// base is the record as it was agreed before; it is restored when an
	// action on this slot fails, so the next run decides again. nil means
	// the slot is dropped on failure (the next run pairs by identity),
	// but for a pairing whose flag Store failed on one side only, which
	// Next keeps (pairedKept).
	base   *Record
	failed bool
	// storeFailed marks the sides where a flag Store of this slot failed
	// (see Next).
	storeFailed [2]bool
	// paired is set for a slot with no base record whose flags
	// mergeFlags merged (see Next).
	paired *pairing
	// waiting marks the sides whose UID comes from an action's outcome.
	waiting [2]bool
	// failKeeps marks the side whose UID the record keeps, on that side
	// only, when the action it waits for fails (actionRare.keepTarget).
	failKeeps [2]bool
	// movedOff marks the side whose user moved the base record's
	// message out of this folder after its UIDVALIDITY changed there:
	// the slot waits for the Move of the other side's copy. Should that
	// fail, Next records the mover's side as UnknownUID, as the base's UID
	// names nothing in the new mailbox: the next run follows the move
	// again, or the deletion of the moved copy.
	movedOff [2]bool
	// targetLost marks a base record whose message both users moved out
	// of this folder after its UIDVALIDITY changed on a side, where the
	// Move that settles the conflict (moveConflicts) failed with the
	// creation of its target folder: the record keepTarget keeps goes
	// with that folder; or failed where keepTarget's record would read
	// as a deletion (actionRare.keepBase). Next keeps this one instead, on
	// the sides whose UID still names the moved copy's old place, for
	// the next run to settle the same again (crossedJoin).
	targetLost bool
	// backAgain marks a base record of a one-way pair whose copy on the
	// source is back under a new UID where the target's copy is gone:
	// that change beat the target's delete. Should the copy fail, or
	// the Move that takes the target's copy back out of its trash, Next
	// keeps the base's UID on the source, so that the next run finds it
	// under a new UID again and copies (or moves) it again: at the UID
	// the state has, it would be read as deleted by the target's user,
	// which a one-way pair does not revert.
	backAgain bool
	// now is the UID a base record's message has on each side as listed
	// (0 where it is not there). After a UIDVALIDITY change the base's
	// UIDs on that side are the old mailbox's; Next uses these instead
	// when it falls back to the base record.
	now [2]UID
}

// pairing is what Next needs of a pairing the plan made, should a flag
// Store of it fail: the flags each side was listed with, the flags the
// merge started from, and whether only one side's changes flow.
type pairing struct {
	listed [2]Flags
	base   Flags
	oneWay bool
}

// draftFolder is one folder pair of the next state.
type draftFolder struct {
	name  string
	base  *FolderState
	side  [2]SideState
	slots []*slot
	// carried are records that go to the next state as they are, before
	// the slots: a folder pair nothing changed in (planner.carry), as
	// each side listed it in from.
	carried []Record
	from    [2]*Folder
	// listed is each side as listed before the run (Mailbox "" when not).
	listed [2]SideState
	// reset marks a side whose UIDVALIDITY changed since the base.
	reset [2]bool
	// renamed is set when the folder pair continues a base folder under a
	// new name.
	renamed *renamed
}

// view is one folder pair as the planner sees it.
type view struct {
	name   string
	base   *FolderState
	listed [2]*Folder
	policy FolderPolicy
	// renamed is set when base is a base folder under a new name.
	renamed *renamed
	// clean marks a folder pair that both sides list exactly as the base
	// records it (see unchanged): the plan carries it over as it is.
	clean bool
	// uids indexes each side's listed messages by UID (byUID).
	uids [2]*uidIndex
	// recUIDs holds the UIDs the base's records have on each side
	// (recordUIDs).
	recUIDs [2]*uidSet
}

// recordUIDs returns the UIDs the base's records of v have on side s
// (0 too, for a record not on s), built once per view and shared by the
// planner's steps, which only read it.
func (v *view) recordUIDs(s Side) *uidSet {
	if v.recUIDs[s] == nil {
		if v.base != nil {
			v.recUIDs[s] = recordUIDSet(v.base.Records, s)
		} else {
			v.recUIDs[s] = &uidSet{}
		}
	}
	return v.recUIDs[s]
}

// byUID returns side s's listed messages of v by UID (the last one, for
// a UID listed twice), built once per view and shared by the planner's
// steps, which only read it. It is nil when s does not list v.
func (v *view) byUID(s Side) *uidIndex {
	f := v.listed[s]
	if f == nil {
		return nil
	}
	if v.uids[s] == nil {
		v.uids[s] = newUIDIndex(f.Messages)
	}
	return v.uids[s]
}

// planner holds the working data of one Build call.
type planner struct {
	// listedIDs and recordIDs are the identities of a listed folder's
	// messages and of a base folder's records, for holds and knows.
	listedIDs idSets[*Folder]
	recordIDs idSets[*FolderState]

	pair   string
	policy Policy
	lists  [2]*Listing
	names  *namer
	plan   *Plan
	acts   []*Action
	// baseIDs holds the identities of every message the base knows,
	// once knownToBase needed them.
	baseIDs map[Identity]bool
	// moveOf holds the Move that carries out a user's move of a base
	// record's message on the other side (detectMoves).
	moveOf map[*Record]*Action
	// finished holds the base records a user moved on one side whose
	// message the other side holds in the destination already, and in
	// its folder still (see copiedAhead): only the original is left to
	// remove there.
	finished map[*Record]bool
	// filedAwayFrom holds the base records a user moved on one side into a
	// folder the other side does not have (it deleted it, or never took
	// it): that side's copy cannot follow, and the mover still holds
	// the message, so change beats delete keeps the copy where it is
	// rather than copying it back (detectMoves). The mover's copy is new
	// in that folder since the base (filedAway).
	filedAwayFrom map[*Record]bool
	// rejoinAt holds the Move that brings the other side's one-sided
	// copy of a base record's message into the record's folder, made
	// again on that side (rejoins): in place of a copy.
	rejoinAt map[*Record]*Action
	// heldFor holds the join Move (crossedJoin) whose failure, with the
	// creation of the folder it joins into, keeps a base record as the
	// base had it: the record of the copy the Move takes, whose user
	// moved it out of its folder (actionRare.holds).
	heldFor map[*Record]*Action
	// heldAway reports whether a side holds an identity in a folder the
	// other side does not have, not paired there at the base
	// (detectMoves).
	heldAway func(s Side, id Identity) bool
	// keptAlone reports whether a side holds an identity in a folder
	// pair whose base records it on that side only (detectMoves).
	keptAlone func(s Side, id Identity) bool
	// filedAway is heldAway for copies put there since the base
	// (detectMoves).
	filedAway func(o Side, id Identity) bool
	// keptAloneElsewhere is keptAlone in folder pairs other than v
	// (detectMoves).
	keptAloneElsewhere func(s Side, v *view, id Identity) bool
	// movedAlone reports whether a base record that had an identity on
	// one side only is gone from its folder there (detectMoves).
	movedAlone func(s Side, id Identity) bool
	// filedAlone is keptAlone for base records marked Away only
	// (detectMoves).
	filedAlone func(s Side, id Identity) bool
	// newElsewhere reports whether a side lists an identity at a UID no
	// base record knows, in a folder pair other than v, its trash
	// included where trash is set, more times than the other side does
	// there (detectMoves): where a direction does not follow that side's
	// moves, its user's move out of v looks like a deletion there, and
	// the message is still held. A copy new in a folder on both sides
	// pairs there, and was not moved in by that side's user.
	newElsewhere func(s Side, v *view, id Identity, trash bool) bool
	// movedBoth holds the agreed flags of base records whose message
	// left its folder on both sides, by identity (detectMoves).
	movedBoth map[Identity]Flags
	// conflictOf holds the Move that settles a base record's message
	// moved to different folders on both sides (moveConflicts), or the
	// Expunge that finishes it where a run copied the loser's copy into
	// the winner's folder already (joinedAhead).
	conflictOf map[*Record]*Action
	// aheadJoin holds, by the loser's copy in the winner's folder, the
	// Expunge that finishes a move conflict a run left half done
	// (joinedAhead). The folder pass makes the slot that pairs that copy
	// the Expunge's arrival, so that Next drops the pairing should the
	// Expunge fail, and the next run finds the same conflict again.
	aheadJoin map[*Message]*Action
	// joinFinished holds, by the one-sided record of the copy a join
	// (ReasonRejoined) was to move, the Expunge that finishes the join a
	// run left half done (rejoinedAhead): its slot is that record's.
	joinFinished map[*Record]*Action
	// leaving holds the new messages a conflict's Move takes out of their
	// folder (detectMoves); their folder does not copy them.
	leaving [2]map[*Message]bool
	// joinedBy holds the new messages a join Move of crossedJoin brings
	// the other side's copy to: new in their folder, where the folder
	// pass pairs them with that Move's arrival, and not taken by identity
	// for a record whose copy on the other side left the folder.
	joinedBy [2]map[*Message]bool
	// keptOn holds, per side, the new messages that continue a record
	// the state has on that side only (keptMoves): moved there by that
	// side's user, they stay on that side only, as the record did.
	keptOn [2]map[*Message]bool
	// keptAt holds the same messages by identity, with their folders.
	keptAt [2]map[Identity][]*cand
	// trashedAhead holds, per side, the copies in that side's trash,
	// new there since the base, that a removal of this plan took for
	// its message's trashed copy (removeOn's ReasonInTrash): a run
	// moving the message there copied it and was stopped before it
	// expunged the original (a move into several folders goes as UID
	// COPYs and one UID EXPUNGE), or its user copied it there. They stay
	// in that side's trash only (trashedOn).
	trashedAhead [2]map[*Message]bool
	trash        [2]string // mailbox of each side's trash folder, "" when none
	trashOK      [2]bool   // the trash folder exists or its creation is planned
	// trashHas counts the identities each side's trash folder holds.
	trashHas [2]map[Identity]int
	// trashNew holds, per side, the messages in that side's trash that
	// no base record has there, by identity (trashCopy); trashOwn says
	// that the trash is that side's own (one the other side does not
	// list).
	trashNew [2]map[Identity][]*Message
	trashOwn [2]bool
	// arrivals are messages that Move actions bring into a folder on a
	// side, by logical folder name; a new message with the same identity
	// on the other side pairs with them instead of being copied.
	arrivals [2]map[string][]*Action
	created  [2]map[string]*Action // folders this plan creates, by mailbox
	// renamed holds the folders renamed since the base, by new name.
	renamed map[string]*renamed
	// fast lets folder pairs nothing changed in skip the per-message
	// work (see unchanged); build without it is the reference the tests
	// hold the fast path to.
	fast bool
	// seen is scratch space for unchanged.
	seen []bool
	// asBase holds, per side, the mailboxes listed without their
	// messages (see buildSettled); nil for Build.
	asBase [2]map[string]bool
	// uids is scratch space for settledSide.
	uids []UID
	// keeps holds, per side and mailbox, what the folders that refuse
	// flags keep (maskRefused); nil on a side where none does.
	keeps [2]map[string]Permanent
	// unmasked holds, per side, the flags each copy maskRefused read
	// otherwise listed: what a Store changes.
	unmasked [2]map[copyAt]Flags
	// wide holds, per side, the keywords its server refuses outright
	// (refusedOutright): no copy carries them there, as the server
	// would refuse it and the run send it again without them.
	wide [2]Permanent
}

// Build plans what a run does to make the two sides of pair agree, given
// the last agreed state and what each side lists now. It is a pure
// function. A tripped safety guard returns the plan together with a
// *GuardError; a folder name that cannot be carried to the other side
// returns an empty plan and a *NamingError.
func Build(pair string, base State, a, b Listing, p Policy) (*Plan, error) {
	return build(pair, base, a, b, p, true, [2]map[string]bool{})
}

// errUnsettled stops buildSettled where it cannot vouch for its plan.
var errUnsettled = errors.New("not every folder is as the base left it")

// buildSettled is Build for a run that found every folder as the base
// left it, on both sides, where the folders of asBase (per side, by
// mailbox) were listed without their messages (Messages nil): each
// stands for the base's messages on that side, as ScanSince would have
// given them. It returns the plan Build gives for the listings with
// those messages, or nil where it cannot vouch for that: unless every
// base folder is listed under its own name on both sides, in asBase,
// under a direction other than none, with records that pass the fast
// path as they are (settledSide), and the plan has no action.
// TestSettledSameAsBuild holds it to Build.
//
// At 100,000 messages, copying every record into the listings and
// walking them again cost a fifth of a no-op run.
func buildSettled(pair string, base State, a, b Listing, p Policy, asBase [2]map[string]bool) *Plan {
	if asBase[A] == nil || asBase[B] == nil {
		return nil
	}
	plan, err := build(pair, base, a, b, p, true, asBase)
	if err != nil || len(plan.Actions) > 0 || len(plan.Conflicts) > 0 {
		return nil
	}
	return plan
}

// build is Build; fast enables the fast path for folder pairs that
// nothing changed in; asBase is buildSettled's (nil maps for Build).
func build(pair string, base State, a, b Listing, p Policy, fast bool, asBase [2]map[string]bool) (*Plan, error) {
	masked, keeps, unmasked := maskRefused(base, [2]Listing{a, b})
	a, b = masked[A], masked[B]
	pl := &planner{
		keeps:    keeps,
		unmasked: unmasked,
		wide:     [2]Permanent{refusedOutright(base, A), refusedOutright(base, B)},
		pair:     pair,
		policy:   p,
		lists:    [2]*Listing{&a, &b},
		plan:     &Plan{Pair: pair, base: base, lists: [2]*Listing{&a, &b}},
		fast:     fast,
		asBase:   asBase,
	}
	var err error
	if pl.names, err = newNamer(p.Naming, pl.lists); err != nil {
		return &Plan{Pair: pair}, err
	}
	// Folders left out by special-use attribute are under direction
	// none from here on, renames included.
	pl.policy = p.withExclusions(pl.names, pl.lists)
	pl.plan.policy = pl.policy
	if pl.settling() && !pl.asListedByName(base) {
		return &Plan{Pair: pair}, errUnsettled
	}
	if base, err = pl.renames(base); err != nil {
		return &Plan{Pair: pair}, err
	}
	if pl.settling() && len(pl.renamed) > 0 {
		return &Plan{Pair: pair}, errUnsettled
	}
	if err := pl.names.checkNames(pl.policy); err != nil {
		return &Plan{Pair: pair}, err
	}
	for s := range 2 {
		pl.arrivals[s] = map[string][]*Action{}
		pl.created[s] = map[string]*Action{}
		pl.trash[s] = pl.trashMailbox(Side(s))
		pl.trashOK[s] = pl.trash[s] != ""
	}

	views := pl.views(base)
	pl.ownTrash(views)
	if pl.fast {
		for _, v := range views {
			v.clean = pl.unchanged(v)
			// buildSettled vouches only for a plan of folder pairs
			// carried over as they are, beside folders under direction
			// none that the base does not know (not scanned, as in
			// Build).
			if pl.settling() && !v.clean && (v.base != nil || v.policy.Direction != None) {
				return &Plan{Pair: pair}, errUnsettled
			}
		}
	}
	// Trash folders go last, so the messages moved into them by this plan
	// are known when their new messages are paired.
	sort.SliceStable(views, func(i, j int) bool {
		return !pl.isTrash(views[i]) && pl.isTrash(views[j])
	})
	pl.detectMoves(views)
	for _, v := range views {
		pl.folder(v)
	}
	pl.keepParents()
	pl.leftoverArrivals()
	pl.movedOutOfRefusal()
	sort.Slice(pl.plan.drafts, func(i, j int) bool { return pl.plan.drafts[i].name < pl.plan.drafts[j].name })
	sortActions(pl.acts)
	pl.plan.Actions = make([]Action, len(pl.acts))
	for i, a := range pl.acts {
		pl.plan.Actions[i] = *a
	}
	pl.count()
	return pl.plan, pl.guard(base, views)
}

// views joins base folders and listed folders by logical name.
func (pl *planner) views(base State) []*view {
	byName := map[string]*view{}
	get := func(name string) *view {
		v := byName[name]
		if v == nil {
			v = &view{name: name, policy: pl.policy.For(name)}
			byName[name] = v
		}
		return v
	}
	for i := range base.Folders {
		f := &base.Folders[i]
		v := get(f.Name)
		v.base = f
		v.renamed = pl.renamed[f.Name]
	}
	for s := range 2 {
		l := pl.lists[s]
		for i := range l.Folders {
			f := &l.Folders[i]
			if name := pl.names.logicalOf(Side(s), f.Mailbox); name != "" {
				get(name).listed[s] = f
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*view, len(names))
	for i, n := range names {
		out[i] = byName[n]
	}
	return out
}

// LogicalName turns a mailbox name on a side into the "/"-separated name
// that policy rules and the state use. INBOX is always "INBOX".
func LogicalName(mailbox string, delim rune) string {
	name := mailbox
	if delim != 0 && delim != '/' {
		name = strings.ReplaceAll(name, string(delim), "/")
	}
	if first, rest, _ := strings.Cut(name, "/"); strings.EqualFold(first, "INBOX") {
		if rest == "" && !strings.Contains(name, "/") {
			return "INBOX"
		}
		return "INBOX/" + rest
	}
	return name
}

// MailboxName turns a logical name into a mailbox name for a side with
// hierarchy delimiter delim.
func MailboxName(logical string, delim rune) string {
	if delim == 0 || delim == '/' {
		return logical
	}
	return strings.ReplaceAll(logical, "/", string(delim))
}

// trashMailbox finds side s's trash among the pair's folders: the one
// with the \Trash role, else the one named Trash.
func (pl *planner) trashMailbox(s Side) string {
	for _, f := range pl.lists[s].Folders {
		if f.Role == RoleTrash && pl.names.logicalOf(s, f.Mailbox) != "" {
			return f.Mailbox
		}
	}
	for _, f := range pl.lists[s].Folders {
		if strings.EqualFold(pl.names.logicalOf(s, f.Mailbox), "Trash") {
			return f.Mailbox
		}
	}
	return ""
}

// ownTrash makes a trash folder that one side lists, the other side
// has no folder of that name, and the state does not know yet, that
// side's own: it is not made on the other side, as the trash a plan
// creates is not (case 09). Where deletions go to the trash, copying
// a side's trash to the other side would bring the messages deleted
// there back into a trash of their own. A run killed between creating
// the trash and committing leaves exactly this (case 93); so does a
// first sync where only one side has a trash. Only pairs that delete to
// the trash somewhere are concerned.
func (pl *planner) ownTrash(views []*view) {
	if !pl.policy.usesTrash() {
		return
	}
	for _, v := range views {
		if v.base != nil {
			continue
		}
		for s := range 2 {
			f := v.listed[s]
			if f == nil || v.listed[1-s] != nil || pl.trash[s] == "" || f.Mailbox != pl.trash[s] {
				continue
			}
			v.base = &FolderState{Name: v.name}
			*v.base.Side(Side(s)) = SideState{Mailbox: f.Mailbox, UIDValidity: f.UIDValidity}
		}
	}
}

// trashedOn reports whether m, new in folder v on side s, is a message
// deleted on both sides: gone from its base folder on both, and now in
// s's trash, in a pair that deletes to the trash. It stays in s's trash
// only; copying it would bring a message deleted on the other side back
// there. A run that moved it into the trash itself, for a deletion on
// the other side, and was killed before it committed leaves exactly this
// (case 95). So does one that copied it there and was killed before it
// expunged the original, which this plan expunges (trashedAhead; case
// 233).
func (pl *planner) trashedOn(s Side, v *view, m *Message) bool {
	if !pl.policy.usesTrash() || v.listed[s] == nil || v.listed[s].Mailbox != pl.trash[s] || m.ID == "" {
		return false
	}
	_, gone := pl.movedBoth[m.ID]
	return gone || pl.trashedAhead[s][m]
}

func (pl *planner) isTrash(v *view) bool {
	for s := range 2 {
		if v.listed[s] != nil && v.listed[s].Mailbox == pl.trash[s] && pl.trash[s] != "" {
			return true
		}
	}
	return strings.EqualFold(v.name, "Trash")
}

// sideStatus is what became of a base record's message on one side.
type sideStatus uint8

const (
	absent   sideStatus = iota // not on this side by agreement
	present                    // still there
	vanished                   // gone since the base: deleted by the user
	lost                       // the folder's UIDVALIDITY changed and no message with its identity is left
)

// unchanged reports whether folder pair v is as the base left it: known
// to the base and listed on both sides under the same UIDVALIDITY, not
// renamed, not ignored, and each side lists exactly the messages the
// base's records put there, by UID, each with the record's flags (in
// canonical form). Such a folder has nothing to plan: every record is
// present on its sides with unchanged flags, no message in it is new, so
// none is moved in or out of it by the user, and the records go to the
// next state as they are (folder's fast path). Plan and next state are
// exactly what the full per-message walk gives; TestFastPathSameAsFull
// holds it to that.
//
// The check is a linear walk with no allocation beyond a reused scratch
// slice: much cheaper than the maps the full walk builds.
func (pl *planner) unchanged(v *view) bool {
	if v.base == nil || v.renamed != nil || v.policy.Direction == None || v.listed[A] == nil || v.listed[B] == nil {
		return false
	}
	for s := range 2 {
		side := Side(s)
		if v.base.Side(side).Mailbox == "" || pl.resetOn(v, side) {
			return false
		}
		if pl.asBase[s][v.listed[s].Mailbox] {
			// Listed as the base's messages (buildSettled): the walk
			// below would compare the records with themselves.
			if !pl.settledSide(v.base, side) {
				return false
			}
			continue
		}
		msgs := v.listed[s].Messages
		if v.listed[s].Messages == nil && v.listed[s].NumMessages > 0 {
			return false // not scanned
		}
		for i := 1; i < len(msgs); i++ {
			if msgs[i].UID <= msgs[i-1].UID {
				return false
			}
		}
		if cap(pl.seen) < len(msgs) {
			pl.seen = make([]bool, len(msgs))
		}
		seen := pl.seen[:len(msgs)]
		clear(seen)
		n, next := 0, 0
		for i := range v.base.Records {
			r := &v.base.Records[i]
			u := r.UID(side)
			if u == 0 {
				if r.UID(side.Other()) == 0 {
					return false // on neither side: the full walk drops it
				}
				continue
			}
			// Records are sorted by UID A, and mostly by UID B too:
			// try the message after the last one matched first.
			j := next
			if j >= len(msgs) || msgs[j].UID != u {
				var ok bool
				if j, ok = slices.BinarySearchFunc(msgs, u, func(m Message, u UID) int { return cmp.Compare(m.UID, u) }); !ok {
					return false
				}
			}
			if seen[j] || !msgs[j].Flags.Equal(r.Flags) || !canonical(r.Flags) {
				return false
			}
			seen[j] = true
			n++
			next = j + 1
		}
		if n != len(msgs) {
			return false
		}
	}
	return true
}

// settling reports whether this is buildSettled's planner.
func (pl *planner) settling() bool { return pl.asBase[A] != nil }

// asListedByName reports whether every base folder is listed on both
// sides under its own name, in asBase, under a direction other than
// none, and every folder of asBase is one of them: then no base folder
// is missing, renames finds none, and each view of a base folder joins
// two folders of asBase.
func (pl *planner) asListedByName(base State) bool {
	for i := range base.Folders {
		f := &base.Folders[i]
		if pl.policy.For(f.Name).Direction == None {
			return false
		}
		for s := range 2 {
			mb := f.Side(Side(s)).Mailbox
			if mb == "" || !pl.asBase[s][mb] || pl.names.logicalOf(Side(s), mb) != f.Name {
				return false
			}
		}
	}
	return len(pl.asBase[A]) == len(base.Folders) && len(pl.asBase[B]) == len(base.Folders)
}

// settledSide reports whether unchanged's walk would pass side s of f's
// records against a listing of the base's messages on s (the records'
// messages with a UID on s below its UIDNEXT, by UID): every record
// is on a side, every one on s is below UIDNEXT, under a UID no other
// has, with flags in canonical form.
func (pl *planner) settledSide(f *FolderState, s Side) bool {
	next := f.Side(s).UIDNext
	sorted := true
	var last UID
	for i := range f.Records {
		r := &f.Records[i]
		u := r.UID(s)
		if u == 0 {
			if r.UID(s.Other()) == 0 {
				return false
			}
			continue
		}
		if u >= next || !canonical(r.Flags) {
			return false
		}
		if u <= last {
			sorted = false
		}
		last = u
	}
	if sorted {
		return true
	}
	uids := pl.uids[:0]
	for i := range f.Records {
		if u := f.Records[i].UID(s); u != 0 {
			uids = append(uids, u)
		}
	}
	slices.Sort(uids)
	pl.uids = uids
	for i := 1; i < len(uids); i++ {
		if uids[i] == uids[i-1] {
			return false
		}
	}
	return true
}

// listedCount is how many messages listed folder f of side s holds: its
// listed messages, or for a folder of asBase the count its listing gave
// (which is the base's there).
func (pl *planner) listedCount(s Side, f *Folder) int {
	if pl.asBase[s][f.Mailbox] {
		return f.NumMessages
	}
	return len(f.Messages)
}

// canonical reports whether f is as NewFlags makes it: sorted, no
// duplicates, system flags spelled as RFC 3501 does and not \Recent or
// \Deleted, keywords lower-case. NewFlags(f...) equals f then.
func canonical(f Flags) bool {
	for i, x := range f {
		if i > 0 && f[i-1] >= x {
			return false
		}
		if x == "" {
			return false
		}
		if x[0] == '\\' {
			switch x {
			case `\Seen`, `\Answered`, `\Flagged`, `\Draft`:
				continue
			}
			return false
		}
		for j := 0; j < len(x); j++ {
			if 'A' <= x[j] && x[j] <= 'Z' || x[j] >= 0x80 {
				return false
			}
		}
	}
	return true
}

// carry is folder's fast path for a folder pair unchanged (see
// unchanged): the base's records go to the next state as they are,
// beside what this plan's moves bring into the folder.
func (pl *planner) carry(v *view) {
	d := &draftFolder{name: v.name, base: v.base, carried: v.base.Records, from: v.listed}
	for s := range 2 {
		f := v.listed[s]
		d.side[s] = SideState{Mailbox: f.Mailbox, UIDValidity: f.UIDValidity, UIDNext: f.UIDNext, HighestModSeq: f.HighestModSeq,
			Permanent: v.base.Side(Side(s)).Permanent.Intersect(f.Permanent)}
	}
	d.listed = d.side
	pl.plan.drafts = append(pl.plan.drafts, d)
	for s := range 2 {
		for _, a := range pl.arrivals[s][v.name] {
			d.slots = append(d.slots, a.arrival)
		}
		delete(pl.arrivals[s], v.name)
	}
}

// folder plans one folder pair.
func (pl *planner) folder(v *view) {
	if v.clean {
		pl.carry(v)
		return
	}
	if v.policy.Direction == None {
		if v.base != nil { // ignored now: keep what was agreed, untouched
			d := &draftFolder{name: v.name, base: v.base, side: [2]SideState{v.base.A, v.base.B}, renamed: v.renamed}
			d.listed = d.side
			for i := range v.base.Records {
				d.slots = append(d.slots, &slot{rec: v.base.Records[i], base: &v.base.Records[i]})
			}
			pl.plan.drafts = append(pl.plan.drafts, d)
		}
		return
	}
	d := &draftFolder{name: v.name, base: v.base, renamed: v.renamed}
	pl.plan.drafts = append(pl.plan.drafts, d)
	var revive [2]bool
	if v.renamed != nil {
		revive = v.renamed.revive
	}
	var baseSide [2]SideState
	if v.base != nil {
		baseSide = [2]SideState{v.base.A, v.base.B}
	}
	var reset, detached [2]bool
	for s := range 2 {
		if f := v.listed[s]; f != nil {
			d.side[s] = SideState{Mailbox: f.Mailbox, UIDValidity: f.UIDValidity, UIDNext: f.UIDNext, HighestModSeq: f.HighestModSeq,
				Permanent: baseSide[s].Permanent.Intersect(f.Permanent)}
			reset[s] = baseSide[s].Mailbox != "" && baseSide[s].UIDValidity != 0 && baseSide[s].UIDValidity != f.UIDValidity
		}
		// A folder the state knows but a side no longer lists was deleted
		// there (now, or before and kept on the other side): nothing new
		// flows into it, so it is not resurrected.
		detached[s] = v.base != nil && v.listed[s] == nil && !revive[s]
	}
	d.listed = d.side
	d.reset = reset

	// Claim listed messages with base records.
	byUID := [2]*uidIndex{v.byUID(A), v.byUID(B)}
	var claimed [2]*uidSet
	for s := range 2 {
		claimed[s] = &uidSet{}
		if f := v.listed[s]; f != nil {
			claimed[s] = uidSetFor(f.Messages)
		}
	}
	type baseRec struct {
		rec    *Record
		status [2]sideStatus
		msg    [2]*Message
		// held is whether msg was set before copies were taken by
		// identity (it is not changed after, where it was).
		held [2]bool
	}
	var recs []*baseRec
	if v.base != nil {
		// One allocation for all, rather than one per record.
		brs := make([]baseRec, len(v.base.Records))
		recs = make([]*baseRec, 0, len(v.base.Records))
		for i := range v.base.Records {
			r := &v.base.Records[i]
			br := &brs[i]
			br.rec = r
			for s := range 2 {
				u := r.UID(Side(s))
				switch {
				case u == 0:
					br.status[s] = absent
				case v.listed[s] == nil:
					br.status[s] = vanished
				case reset[s]:
					br.status[s] = lost // unless re-paired by identity below
				case baseSide[s].Mailbox == "":
					// A UID on a side the state no longer knows the
					// folder on (a record kept when a run that followed
					// the folder's deletion failed) is the deleted
					// mailbox's: in the folder listed now it may be
					// another message. Gone, unless re-paired by identity.
					br.status[s] = vanished
				case byUID[s].get(u) != nil && !claimed[s].has(u):
					br.status[s] = present
					br.msg[s] = byUID[s].get(u)
					claimed[s].add(u)
				default:
					br.status[s] = vanished
				}
			}
			recs = append(recs, br)
		}
	}
	// fresh is, per side, the listed messages no record claimed, in
	// listing order. They are taken by identity through an index built
	// on the first take (a take scans only the copies of its identity,
	// and marks one taken, where a scan and a copy of the list made
	// re-pairing a folder of n messages after a UIDVALIDITY change cost
	// n² steps); compact drops the taken ones before the list is read
	// as a whole.
	var fresh [2][]*Message
	var freshTaken [2][]bool
	var freshByID [2]map[Identity][]int
	var freshLeft [2]int
	for s := range 2 {
		if f := v.listed[s]; f != nil {
			for i := range f.Messages {
				if m := &f.Messages[i]; !claimed[s].has(m.UID) && !pl.leaving[s][m] {
					fresh[s] = append(fresh[s], m)
				}
			}
		}
		freshLeft[s] = len(fresh[s])
	}
	// copiesOf returns the indexes in fresh[s] of the messages id, taken
	// or not.
	copiesOf := func(s int, id Identity) []int {
		if id == "" || freshLeft[s] == 0 {
			return nil
		}
		if freshByID[s] == nil {
			freshByID[s] = make(map[Identity][]int, len(fresh[s]))
			freshTaken[s] = make([]bool, len(fresh[s]))
			for i, m := range fresh[s] {
				freshByID[s][m.ID] = append(freshByID[s][m.ID], i)
			}
		}
		return freshByID[s][id]
	}
	takeAt := func(s, i int) *Message {
		freshTaken[s][i] = true
		freshLeft[s]--
		return fresh[s][i]
	}
	compact := func(s int) {
		if freshByID[s] == nil {
			return
		}
		left := make([]*Message, 0, freshLeft[s])
		for i, m := range fresh[s] {
			if !freshTaken[s][i] {
				left = append(left, m)
			}
		}
		fresh[s], freshTaken[s], freshByID[s] = left, nil, nil
	}
	// take takes fresh message id off side s's list; with flags, only a
	// message with those flags; with joins false, not a message a join
	// Move comes to (joinedBy).
	take := func(s int, id Identity, flags *Flags, joins bool) *Message {
		for _, i := range copiesOf(s, id) {
			if m := fresh[s][i]; !freshTaken[s][i] && (flags == nil || m.Flags.Equal(*flags)) && (joins || !pl.joinedBy[s][m]) {
				return takeAt(s, i)
			}
		}
		return nil
	}
	// closest returns the index in fresh[s] of the message id whose flags
	// differ least from flags (the first of those as close), as take
	// would accept it, and how many flags differ; -1 if there is none.
	closest := func(s int, id Identity, flags Flags, joins bool) (at, dist int) {
		at = -1
		for _, i := range copiesOf(s, id) {
			m := fresh[s][i]
			if freshTaken[s][i] || !joins && pl.joinedBy[s][m] {
				continue
			}
			add, remove := m.Flags.Diff(flags)
			if d := len(add) + len(remove); at < 0 || d < dist {
				at, dist = i, d
			}
		}
		return at, dist
	}
	// A base record whose message is no longer at its UID may still be
	// there under another one: after a UIDVALIDITY change, a client's
	// re-upload, a crash right after an append, or a user's undo. Same
	// identity, same message.
	//
	// First, a record whose copy this plan moves out of the folder (the
	// other side's user moved it, or it joins a copy elsewhere) takes
	// that very copy: the Move chose it, by identity too where the
	// UIDVALIDITY changed (TestModel seed 442491: of two copies, the
	// Move took one and the record the other, so the state paired
	// another record with the copy gone, and left one unrecorded).
	if len(pl.moveOf) > 0 {
		for _, br := range recs {
			a := pl.moveOf[br.rec]
			if a == nil || a.Op != Move || v.listed[a.Side] == nil || a.Mailbox != v.listed[a.Side].Mailbox || br.status[a.Side] == present {
				continue
			}
			s := int(a.Side)
			for _, i := range copiesOf(s, br.rec.ID) {
				if !freshTaken[s][i] && fresh[s][i].UID == a.UID {
					br.status[s] = present
					br.msg[s] = takeAt(s, i)
					break
				}
			}
		}
	}
	// Then, where several records have one identity, each takes a copy
	// with its own flags before the others are paired: of two copies
	// after a UIDVALIDITY change, the one a user expunged is the one the
	// state agreed other flags for, and the other is not taken for a
	// change (TestModel seed 392126: a change beats a delete, and its
	// folder, deleted on the other side, came back).
	//
	// In each pass a record at UnknownUID on a side goes first there:
	// its copy is in the folder under a UID the state never knew, where
	// a record's copy gone from its known UID was more likely deleted
	// (TestModel seed 3682564: of two records of x:1, the one whose
	// copy the other side's run had expunged took the copy whose UID
	// was not reported, and that copy's own record was read as
	// deleted).
	//
	// And in each, a record that held a copy on a side goes before one
	// that never did there: the copy is more likely its own, under a new
	// UID, than another copy come back to a record the state has on the
	// other side only (TestModel -model.mirror seed 910: after B's
	// UIDVALIDITY changed, B's one copy of x:1 went to the record of the
	// copy B's user had expunged, the other record's copy was restored
	// to B, and the deleted copy came back).
	//
	// A record whose copy on the other side is still there goes before
	// one whose copy there is gone, and in the first pass it takes a copy
	// with that copy's flags as well as one with its own: the two agree,
	// as a run cut short after storing the other side's change leaves
	// them. A copy given to a record deleted on the other side is deleted
	// too, and the held record, left without one, reads as deleted here,
	// which an a-to-b pair does not undo (TestModel seed 1126560: of two
	// records of x:3 after B's UIDVALIDITY changed, B's one copy went to
	// the record of the copy A's user had expunged, whose flags it had,
	// and was expunged; A's other copy, flagged as B's was, had none on
	// B from then on).
	//
	// Then on each side the records go in the order of their UIDs there
	// (then on the other side), so that which copy a record takes does
	// not depend on which side is A: in the state's order, by the UID
	// on A, a record held on B only came first on B, and of two records
	// that held copies on B the one with the lower UID on A. In the
	// second pass, where no copy has a record's flags, the record whose
	// flags are closest to a copy's goes first (TestModel -model.mirror
	// seed 8169: of two records of x:6 after A's UIDVALIDITY changed,
	// the one whose copy A's user had expunged took the copy whose flags
	// that user had changed, and A's flags went onto B's copy of it).
	order := []bool{false}
	for _, br := range recs {
		if br.rec.UIDA == UnknownUID || br.rec.UIDB == UnknownUID {
			order = []bool{true, false}
			break
		}
	}
	// Which records hold a copy at its UID on each side, before either
	// side's copies are taken by identity: what the order and the first
	// pass below go by on the other side, the same whichever side is A.
	if freshLeft[A] > 0 || freshLeft[B] > 0 {
		for _, br := range recs {
			br.held = [2]bool{br.msg[A] != nil, br.msg[B] != nil}
		}
	}
	for s := range 2 {
		if freshLeft[s] == 0 {
			continue
		}
		// The records not paired on s yet, in the order of their UIDs
		// there; most folders have none.
		var open []*baseRec
		for _, br := range recs {
			if br.status[s] != present {
				open = append(open, br)
			}
		}
		if len(open) == 0 {
			continue
		}
		o := Side(s).Other()
		heldFirst := func(br *baseRec) int {
			if br.held[o] {
				return 0
			}
			return 1
		}
		slices.SortStableFunc(open, func(x, y *baseRec) int {
			return cmp.Or(cmp.Compare(heldFirst(x), heldFirst(y)), cmp.Compare(x.rec.UID(Side(s)), y.rec.UID(Side(s))), cmp.Compare(x.rec.UID(o), y.rec.UID(o)))
		})
		// A record whose copy on o is gone, whose copy on s is in s's
		// trash already (new there since the base, with the record's
		// flags; s's own trash or the pair's), takes none here while
		// another record of its identity held on o is open: the copy
		// here is that one's, whatever its flags, and the trash's copy
		// this record's, moved there by a run whose state was lost
		// (TestModel seed 1808354: under b-to-a, a run whose state
		// was lost moved a's copy of the record b's user had expunged to
		// a's trash; a's one copy left, its \Seen set by a's user since,
		// had that record's very flags, went to it, and was expunged as
		// already in the trash, and b's other copy, held, had none on a
		// from then on).
		var trashed map[*baseRec]bool
		var heldOpen map[Identity]bool // the identities of open records held on o
		for _, br := range open {
			if br.held[o] || br.status[o] != vanished || br.rec.ID == "" {
				continue
			}
			if m := pl.trashCopy(Side(s), br.rec.ID, true); m == nil || !m.Flags.Equal(br.rec.Flags) {
				continue
			}
			if heldOpen == nil {
				heldOpen = map[Identity]bool{}
				for _, other := range open {
					if other.held[o] {
						heldOpen[other.rec.ID] = true
					}
				}
				trashed = map[*baseRec]bool{}
			}
			if heldOpen[br.rec.ID] {
				trashed[br] = true
			}
		}
		for pass := range 2 {
			tier := open
			if pass == 1 {
				// Where no copy has a record's very flags, the record
				// closest to a copy's flags takes it first: the copy is
				// that record's, its flags changed by its user since.
				tier = tier[:0:0]
				dist := map[*baseRec]int{}
				for _, br := range open {
					if br.status[s] == present {
						continue
					}
					tier = append(tier, br)
					dist[br] = math.MaxInt
					if at, d := closest(s, br.rec.ID, br.rec.Flags, br.status[s] != absent); at >= 0 {
						dist[br] = d
					}
				}
				slices.SortStableFunc(tier, func(x, y *baseRec) int { return cmp.Compare(dist[x], dist[y]) })
			}
			for _, unknownOnly := range order {
				for _, absentToo := range []bool{false, true} {
					for _, br := range tier {
						if br.status[s] == present || trashed[br] || unknownOnly != (len(order) > 1 && br.rec.UID(Side(s)) == UnknownUID) || (br.status[s] == absent) != absentToo {
							continue
						}
						// A record s never held here does not take the
						// copy another's join Move comes to: s's user
						// moved it here from where the state has it on s
						// only, and the other side's copy, which left
						// this folder, joins it (crossedJoin;
						// TestModelMovesAndRenames seed 519625).
						joins := br.status[s] != absent
						var m *Message
						if pass == 0 {
							m = take(s, br.rec.ID, &br.rec.Flags, joins)
							if other := br.msg[o]; m == nil && br.held[o] && !other.Flags.Equal(br.rec.Flags) {
								m = take(s, br.rec.ID, &other.Flags, joins)
							}
						} else if at, _ := closest(s, br.rec.ID, br.rec.Flags, joins); at >= 0 {
							m = takeAt(s, at)
						}
						if m != nil {
							br.status[s] = present
							br.msg[s] = m
						}
					}
				}
			}
		}
	}

	dir, del := v.policy.Direction, v.policy.Deletion
	add := func(a Action) *Action {
		a.Folder = v.name
		p := &a
		p.folder = d
		pl.acts = append(pl.acts, p)
		return p
	}
	mailboxOn := func(s Side) string {
		if d.side[s].Mailbox != "" {
			return d.side[s].Mailbox
		}
		return pl.names.mustMailbox(s, v.name)
	}
	ensureFolder := func(s Side) {
		if v.listed[s] != nil {
			return
		}
		mb := mailboxOn(s)
		d.side[s].Mailbox = mb
		if pl.created[s][mb] == nil {
			pl.created[s][mb] = add(Action{Op: CreateFolder, Side: s, Mailbox: mb, Reason: ReasonFolderNew})
		}
	}
	copyTo := func(to Side, m *Message, sl *slot, reason string) {
		ensureFolder(to)
		flags := m.Flags
		if !pl.wide[to].All() {
			flags = pl.wide[to].filter(flags)
		}
		a := add(Action{Op: Copy, Side: to, Mailbox: mailboxOn(to), SrcMailbox: v.listed[to.Other()].Mailbox,
			SrcUID: m.UID, Flags: flags, ID: m.ID, Size: m.Size, Reason: reason})
		a.slot = sl
		sl.rec.setUID(to, 0)
		sl.waiting[to] = true
	}
	removeOn := func(s Side, m *Message, sl *slot) *Action {
		mb := v.listed[s].Mailbox
		sl.rec = Record{} // gone from this folder once done
		// A copy already in the trash need not be moved there again:
		// that would leave two.
		if del == Trash && mb != pl.trash[s] && pl.inTrash(s, m.ID) {
			if tm := pl.trashCopy(s, m.ID, true); tm != nil {
				if pl.trashedAhead[s] == nil {
					pl.trashedAhead[s] = map[*Message]bool{}
				}
				pl.trashedAhead[s][tm] = true
				// What the trash's pair records of it rests on this
				// folder's expunge: a scoped run takes both.
				pl.plan.links = append(pl.plan.links, [2]string{v.name, pl.trashName(s)})
			}
			a := add(Action{Op: Expunge, Side: s, Mailbox: mb, UID: m.UID, ID: m.ID, Reason: ReasonInTrash})
			a.slot = sl
			return a
		}
		if del == Trash && mb != pl.trash[s] {
			dest := pl.ensureTrash(s, add)
			a := add(Action{Op: Move, Side: s, Mailbox: mb, UID: m.UID, Dest: dest, ID: m.ID, Reason: ReasonTrash})
			a.slot = sl
			a.arrival = &slot{rec: Record{ID: m.ID, Flags: m.Flags}}
			a.arrival.waiting[s] = true
			dl := pl.trashName(s)
			pl.arrivals[s][dl] = append(pl.arrivals[s][dl], a)
			return a
		}
		a := add(Action{Op: Expunge, Side: s, Mailbox: mb, UID: m.UID, ID: m.ID, Reason: ReasonDeleted})
		a.slot = sl
		return a
	}

	// arrived notes a message a Move of this plan brings into this folder
	// on side s. When the plan creates that side's folder (its trash; the
	// state knew the folder on the other side only), the folder pair
	// records its mailbox, or the state would hold UIDs on a side it
	// says the folder is not on; its creation failing undoes that, as
	// for any folder this plan creates.
	arrived := func(s Side, a *Action) {
		if v.listed[s] == nil {
			d.side[s].Mailbox = a.Dest
			if c := pl.created[s][a.Dest]; c != nil && c.folder == nil {
				c.folder = d
			}
		}
	}

	// joined pairs side's message m, in slot sl, with the other side's
	// copy that Move a brings into this folder: the moved message keeps
	// its flags, merged with m's before the move (flag stores run
	// before moves).
	joined := func(side Side, m *Message, sl *slot, a *Action) {
		o := side.Other()
		moved := &Message{UID: a.UID, Flags: a.arrival.rec.Flags, ID: m.ID}
		pair, names := [2]*Message{}, [2]string{}
		pair[side], pair[o] = m, moved
		names[side], names[o] = v.listed[side].Mailbox, a.Mailbox
		a.arrival = sl
		sl.waiting[o] = true
		sl.failKeeps[side] = a.rare().keepTarget
		arrived(o, a)
		base := intersect(m.Flags, moved.Flags)
		if a.rare().hasBase {
			base = a.rare().mergeBase
		}
		pl.mergeFlags(add, sl, dir, base, pair, names)
	}

	// outOfTrash moves the other side's copy of side's message m, which
	// that side's trash holds (trashCopy), back into this folder, where
	// it joins m (slot sl, record r): not a second one copied; the
	// flags merge from r's as for a move.
	outOfTrash := func(side Side, m *Message, sl *slot, r *Record) {
		o := side.Other()
		tm := pl.trashCopy(o, m.ID, !dir.Flows(o))
		a := &Action{Op: Move, Side: o, Folder: pl.trashName(o), Mailbox: pl.trash[o], UID: tm.UID,
			Dest: v.listed[o].Mailbox, ID: m.ID, Reason: ReasonOutOfTrash, rareFields: &actionRare{mergeBase: r.Flags, hasBase: true}}
		a.arrival = &slot{rec: Record{ID: m.ID, Flags: tm.Flags}}
		pl.acts = append(pl.acts, a)
		pl.leaving[o][tm] = true
		joined(side, m, sl, a)
	}

	wasOnBoth := heldOnBoth(v)
	slab := make([]slot, len(recs))
	for i, br := range recs {
		st, msg, r := br.status, br.msg, br.rec
		sl := &slab[i]
		*sl = slot{base: r, rec: Record{UIDA: r.UIDA, UIDB: r.UIDB, ID: r.ID, Flags: r.Flags, Away: r.Away}}
		if a := pl.heldFor[r]; a != nil {
			join := a.rareToSet()
			join.holds = append(join.holds, sl)
		}
		for s := range 2 {
			if st[s] == present {
				sl.now[s] = msg[s].UID
			}
		}
		switch {
		case st[A] == present && st[B] == present:
			sl.rec.UIDA, sl.rec.UIDB = msg[A].UID, msg[B].UID
			pl.mergeFlags(add, sl, dir, r.Flags, msg, listedNames(v))
		case st[A] == present || st[B] == present:
			s := A
			if st[B] == present {
				s = B
			}
			o := s.Other()
			m := msg[s]
			sl.rec.setUID(s, m.UID)
			sl.rec.setUID(o, 0)
			sl.rec.Flags = m.Flags
			if (st[o] == lost || st[o] == absent && revive[o]) && pl.filedAwayFrom[r] {
				// o's user moved it into a folder s lacks: not lost
				// with o's new UIDVALIDITY, nor to be made again on o
				// with its folder, but gone from there.
				st[o] = vanished
			}
			if st[o] == lost && pl.moveOf[r] == nil && pl.keptAlone(o, r.ID) {
				// Not lost by the server: o holds the message in
				// another folder, where the state has it on o only.
				// o's user filed it away there, and the run that
				// was to carry that out here failed. A copy restored
				// to o would be its second.
				st[o] = vanished
			}
			if st[o] == lost && r.UID(s) == 0 && pl.moveOf[r] == nil && pl.filedAway(o, r.ID) {
				// A record on o only, whose copy o's user filed away
				// into a folder s lacks before the folder's UIDVALIDITY
				// changed on o (a rename by copy): s's copy, re-paired
				// here by identity, is s's own, not the record's to
				// restore (TestModelMovesAndRenames seed 1745338: o
				// held it twice).
				st[o] = vanished
			}
			switch st[o] {
			case absent:
				if a := pl.joinFinished[r]; a != nil {
					// The join of this one-sided copy was done but for
					// the original's removal: the Expunge finishes it.
					a.slot, a.folder = sl, d
					sl.rec = Record{}
					break
				}
				// The folder was renamed on s and deleted on o: its
				// messages go to o again, under the new name. A failed
				// copy is dropped from the state, so the next run pairs
				// or copies the message afresh.
				if a := pl.moveOf[r]; a != nil {
					// Moved out on o before o deleted the folder
					// (revive[o]): move s's copy the same way. Or o's
					// user moved its own one-sided copy back into
					// the pair, and s's joins it (rejoins).
					a.slot, a.folder = sl, d
					sl.rec = Record{}
					break
				}
				if a := pl.rejoinAt[r]; a != nil && v.listed[o] != nil {
					// s's user filed it away here while o lacked the
					// folder, and o's user moved o's copy since: it
					// joins s's here (filedConflict).
					joined(s, m, sl, a)
					break
				}
				// A record on s only already at the base, whose message
				// o holds in a folder s lacks, stays so: o's user filed
				// it away before. (Other such records go: mail new on s
				// after o deleted the folder, case 19.)
				if revive[o] && dir.Flows(s) && (wasOnBoth(r) || !pl.heldAway(o, r.ID)) && (dir.Flows(o) || !pl.newElsewhere(o, v, r.ID, true)) {
					sl.base = nil
					if a := pl.rejoinAt[r]; a != nil {
						// o holds a copy of its own, one-sided, in
						// another folder or its trash (s's user filed
						// this one away into the folder o deleted):
						// moved here to join it, not copied again.
						ensureFolder(o)
						a.Dest = mailboxOn(o)
						joined(s, m, sl, a)
						break
					}
					copyTo(o, m, sl, ReasonRevived)
				}
			case lost:
				if a := pl.moveOf[r]; a != nil {
					// Moved on o out of a folder whose UIDVALIDITY
					// changed there: move s's copy the same way.
					a.slot, a.folder = sl, d
					sl.rec = Record{}
					sl.movedOff[o] = true
					break
				}
				// The server lost it, the user did not delete it. Unless
				// o is a one-way pair's target that lists it new in
				// another folder, or in its trash: o's user moved it
				// out, or deleted it into the trash, before the
				// folder's UIDVALIDITY changed on o (a rename by copy,
				// or the server made it anew), which a one-way pair
				// does not follow, and a copy restored here would be
				// o's second. The record stays s's only, as for such a
				// move out of a folder o kept (vanished, below).
				// Not where s's copy is back under a new UID and o
				// holds its copy in its trash: a run cut short may
				// have put it there, following s's deletion under
				// trash, before s's user undid the deletion (or
				// delivered it again), and o's server then made the
				// folder anew. That beats the deletion, as where o's
				// folder kept its UIDVALIDITY (vanished, below): o's
				// copy is moved back out of the trash, not a second
				// one copied (TestModel seed 191883).
				backNew := m.UID != r.UID(s) && r.UID(s) != UnknownUID && !reset[s] && v.listed[o] != nil
				switch {
				case !dir.Flows(s):
				case !dir.Flows(o) && backNew && pl.trashCopy(o, m.ID, true) != nil:
					outOfTrash(s, m, sl, r)
				case dir.Flows(o) || !pl.newElsewhere(o, v, r.ID, true):
					copyTo(o, m, sl, ReasonRestore)
				}
			case vanished:
				// Back under a new UID (not after a UIDVALIDITY change),
				// s's copy left the folder and came back: its user
				// undid a deletion, say, that a run cut short had
				// followed on o already. That is a change too, and it
				// beats o's apparent delete of the message: copied
				// back, not removed. (Not o's deletion of the folder: a
				// folder is not made again for that.)
				// A copy the state knew at no UID (UnknownUID), found
				// by identity, is the record's own: not back again.
				backNew := m.UID != r.UID(s) && r.UID(s) != UnknownUID && !reset[s] && v.listed[o] != nil
				changed := !m.Flags.Equal(r.Flags) || backNew
				if a := pl.moveOf[r]; a != nil {
					// Moved on o: move s's copy the same way. A flag
					// change on s is merged in the destination.
					a.slot, a.folder = sl, d
					sl.rec = Record{}
					break
				}
				if pl.finished[r] {
					// Moved on o, and s's copy is in the destination
					// already: a move is not a deletion, so the
					// original goes whatever the deletion policy.
					a := add(Action{Op: Expunge, Side: s, Mailbox: v.listed[s].Mailbox, UID: m.UID, ID: m.ID, Reason: ReasonMoveFinished})
					a.slot = sl
					sl.rec = Record{}
					break
				}
				switch {
				case changed && dir.Flows(s) && (pl.filedAwayFrom[r] || r.UID(s) == 0 && pl.heldAway(o, r.ID) || pl.filedAlone(o, r.ID)):
					// Moved on o into a folder s lacks: o holds it
					// still, so s's changed copy stays, one-sided, and
					// is not copied back to o, which would hold two.
					// So too where the record was o's only (s's copy
					// was filed away, and s's user brought it back
					// here, where the folder pass re-paired it by
					// identity), and where o holds it one-sided, Away,
					// in a folder s has again (filed away there while s
					// lacked it, and the run that was to give s's copy
					// the deletion policy failed). A one-sided copy
					// that is not Away (kept by a deletion policy, or
					// a second copy) is another message: this one is
					// copied. So is o's copy in a folder s lacks where
					// the record was on both sides: o's own mail there,
					// not this one filed away (moved there, it is new
					// in that folder: filedAwayFrom, or newElsewhere
					// below in a one-way pair), and a run
					// cut short may have removed o's copy here (case
					// 196; TestModel seed 5204719).
				case changed && dir.Flows(s) && !dir.Flows(o) && pl.newElsewhere(o, v, r.ID, !backNew):
					// Moved by o's user, which a one-way pair does not
					// follow: o holds it still, where its user put it,
					// and a copy back here would be its second. The
					// record stays s's only, as o's move stays o's.
					// Not o's copy in o's trash where s's copy is back
					// under a new UID: a run cut short may have put it
					// there, following s's deletion under trash, before
					// s's user undid the deletion. That beats the
					// delete, as in a two-way pair, as it does where
					// such a run expunged o's copy (below; TestModel
					// seed 734674).
				case changed && dir.Flows(s) && !dir.Flows(o) && !backNew:
					// Expunged by the target's user of a one-way pair:
					// what the target does on its own stays there, not
					// reverted, so a change on the source does not
					// bring it back. The record stays the source's only.
					// (Only while the source's copy is where the state
					// has it: a run removes the target's copy only to
					// follow the source's copy leaving, so no run cut
					// short removed this one. Back under a new UID
					// (backNew), it beats the delete, as in a two-way
					// pair.)
				case changed && dir.Flows(s) && dir.Flows(o) != backNew && v.listed[o] != nil && pl.trashCopy(o, m.ID, !dir.Flows(o)) != nil:
					// o's user deleted it into o's own trash, where o
					// holds it still: that copy is moved back here,
					// not a second one copied, and the flags merge as
					// for a move (seed 291 of TestRandomEndToEnd: o
					// held it here and in its trash). So too in a
					// one-way pair whose source's copy is back under
					// a new UID (which beats the deletion, above),
					// where the target holds its copy in its trash,
					// its own or the pair's, moved there by its user
					// or by a run cut short (case 204;
					// TestModelMovesIntoTheTrash seed 399: the target
					// held it twice).
					sl.backAgain = backNew && !dir.Flows(o)
					outOfTrash(s, m, sl, r)
				case changed && dir.Flows(s):
					sl.backAgain = backNew && !dir.Flows(o)
					copyTo(o, m, sl, ReasonChangeBeats)
				case dir.Flows(o) && del != Keep:
					if a := removeOn(s, m, sl); pl.filedAwayFrom[r] {
						a.rareToSet().filedAway = true
					}
				}
			}
		default:
			a := pl.conflictOf[r]
			if m := pl.moveOf[r]; a == nil && m != nil && m.Reason == ReasonRejoined {
				// A copy on one side only, in a folder whose UIDVALIDITY
				// changed there, joins its other side's copy (rejoins):
				// the Move takes it by the UID it has now.
				a = m
				sl.now[a.Side] = a.UID
			}
			if a == nil {
				if pl.heldFor[r] != nil {
					// Its copy is the one a join takes (crossedJoin):
					// gone from here, unless that fails (actionRare.holds).
					sl.rec = Record{}
					d.slots = append(d.slots, sl)
				}
				continue // gone from both sides: forget it
			}
			// Moved to different folders on both sides: gone from here
			// once the loser's copy follows the winner's; if that move
			// fails, the record stays, and the next run decides again.
			a.slot, a.folder = sl, d
			sl.rec = Record{}
		}
		d.slots = append(d.slots, sl)
	}

	// New on both sides with one identity: the same message, paired.
	compact(int(A))
	var unpaired []*Message
	for _, ma := range fresh[A] {
		mb := take(int(B), ma.ID, nil, true)
		if mb == nil {
			unpaired = append(unpaired, ma)
			continue
		}
		sl := &slot{rec: Record{UIDA: ma.UID, UIDB: mb.UID, ID: ma.ID}}
		for _, m := range []*Message{ma, mb} {
			if a := pl.aheadJoin[m]; a != nil {
				a.arrival = sl
			}
		}
		// Moved here on both sides from one folder: the flags agreed on
		// there are the base of the merge, so a change on either side
		// on the way wins.
		mergeBase, ok := pl.movedBoth[ma.ID]
		if !ok {
			mergeBase = intersect(ma.Flags, mb.Flags)
		}
		pl.mergeFlags(add, sl, dir, mergeBase, [2]*Message{ma, mb}, listedNames(v))
		d.slots = append(d.slots, sl)
	}
	fresh[A] = unpaired
	compact(int(B))
	// New on one side: copy where the direction allows, unless a move in
	// this plan brings the same message to the other side already.
	for s := range 2 {
		side, o := Side(s), Side(s).Other()
		for _, m := range fresh[s] {
			sl := &slot{rec: Record{ID: m.ID, Flags: m.Flags}}
			sl.rec.setUID(side, m.UID)
			if a := pl.takeArrival(o, v.name, m.ID); a != nil {
				joined(side, m, sl, a)
			} else if dir.Flows(side) && (!detached[o] || d.side[o].Mailbox != "" && !pl.knownToBase(m.ID)) && !pl.trashedOn(side, v, m) && !pl.keptOn[side][m] && !pl.filedByOther(o, m.ID) &&
				(dir.Flows(o) || !pl.movedAlone(side, m.ID) || !pl.keptAloneElsewhere(o, v, m.ID)) {
				// (Deleted on o, nothing new goes there, unless this
				// plan makes the folder again on o: a change beat the
				// delete, and the folder is on both sides again. Mail
				// the base knows elsewhere was moved in, and stays on
				// this side: see filedAwayFrom. In a one-way pair, a
				// message this side's record held alone, because the
				// target's user moved the target's copy away, which
				// the pair does not follow, and which this side's user
				// has now moved here, gets no second copy on the
				// target: it holds its own, where its user put it.)
				copyTo(o, m, sl, ReasonNew)
			} else if dir.Flows(side) && detached[o] && !pl.isTrash(v) && !pl.trashedOn(side, v, m) && !pl.keptOn[side][m] {
				// Came in while o lacks the folder: this side's only,
				// until its user moves it into a folder of the pair.
				sl.rec.Away = true
				if pl.knownToBase(m.ID) {
					// Filed away here by this side's user: Next drops
					// it should the removal of o's copy fail
					// (actionRare.filedAway).
					if pl.plan.filedCopies == nil {
						pl.plan.filedCopies = map[Identity][]*slot{}
					}
					pl.plan.filedCopies[m.ID] = append(pl.plan.filedCopies[m.ID], sl)
				}
			}
			d.slots = append(d.slots, sl)
		}
	}
	// Moved here with no counterpart: on that side only, by agreement.
	for s := range 2 {
		for _, a := range pl.arrivals[s][v.name] {
			arrived(Side(s), a)
			d.slots = append(d.slots, a.arrival)
		}
		delete(pl.arrivals[s], v.name)
	}

	keeps := [2]bool{}
	for _, sl := range d.slots {
		for s := range 2 {
			if sl.rec.UID(Side(s)) != 0 || sl.waiting[s] {
				keeps[s] = true
			}
		}
	}
	for s := range 2 {
		side, o := Side(s), Side(s).Other()
		// An empty new folder appears on the other side too.
		if (v.base == nil || revive[o]) && v.listed[s] != nil && v.listed[o] == nil && dir.Flows(side) {
			ensureFolder(o)
		}
		// A folder deleted on one side goes on the other too, once
		// nothing of the other side's is left in it.
		if baseSide[s].Mailbox == "" || v.listed[s] != nil || v.listed[o] == nil || keeps[s] {
			continue
		}
		d.side[s] = SideState{}
		if dir.Flows(side) && del != Keep && !keeps[o] && !pl.special(o, v.listed[o].Mailbox) {
			add(Action{Op: DeleteFolder, Side: o, Mailbox: v.listed[o].Mailbox, Reason: ReasonFolderDeleted})
		}
	}
}

// keepParents drops the deletion of a folder on a side that lists a
// folder under it which the plan does not delete there (one made there
// since, one the other side has too, one that keeps mail): the folder
// stays on that side, as a folder the other side deleted stays where it
// kept mail. Deleting a folder with folders under it leaves, per RFC
// 3501, a \Noselect name, and on Dovecot a name LIST gives as a folder
// and STATUS says does not exist, which fails every later listing.
func (pl *planner) keepParents() {
	deleting := [2]map[string]bool{{}, {}}
	for _, a := range pl.acts {
		if a.Op == DeleteFolder {
			deleting[a.Side][a.Mailbox] = true
		}
	}
	// A folder kept keeps the folders above it: repeat until none is.
	for changed := true; changed; {
		changed = false
		for _, a := range pl.acts {
			if a.Op != DeleteFolder || !deleting[a.Side][a.Mailbox] {
				continue
			}
			l := pl.lists[a.Side]
			if l.Delim == 0 {
				continue
			}
			prefix := a.Mailbox + string(l.Delim)
			for _, f := range l.Folders {
				if strings.HasPrefix(f.Mailbox, prefix) && !deleting[a.Side][f.Mailbox] {
					deleting[a.Side][a.Mailbox] = false
					changed = true
					break
				}
			}
		}
	}
	pl.acts = slices.DeleteFunc(pl.acts, func(a *Action) bool {
		return a.Op == DeleteFolder && !deleting[a.Side][a.Mailbox]
	})
}

// filedByOther reports whether side o's user filed away the message
// with identity id that this side's user moved too: a base record of id
// left its folder on both sides, and o's user put id into a folder this
// side lacks since the base (filedAway). A copy to o would be its
// second; each side keeps its own. A copy the base already had there, on
// o only, is another one: o's user deleted the moved message, and this
// side's copy is new to the folder it was moved into (TestModel seed
// 688800).
func (pl *planner) filedByOther(o Side, id Identity) bool {
	_, both := pl.movedBoth[id]
	return both && pl.filedAway(o, id)
}

// knownToBase reports whether the base has a record of identity id, in
// any folder.
func (pl *planner) knownToBase(id Identity) bool {
	if pl.baseIDs == nil {
		pl.baseIDs = identitiesOf(pl.plan.base)
	}
	return pl.baseIDs[id]
}

// trashCopy returns a message with identity id in side s's trash, its
// own, or with paired also a folder of the pair, that is not yet claimed
// by this plan, or nil; not under direction none. s's own trash is one
// the other side lists no folder of its name for (its user's move there
// is a deletion to the pair, not a move). The message is at a UID
// no base record has there (put there since the base). The trash folder
// pair is planned last, so a message taken here (leaving) is not also
// paired or recorded there.
func (pl *planner) trashCopy(s Side, id Identity, paired bool) *Message {
	if pl.trashNew[s] == nil {
		pl.trashNew[s] = map[Identity][]*Message{}
		tn := pl.trashName(s)
		// (A trash under direction none is not the pair's to touch.)
		if pl.trash[s] == "" || pl.policy.For(tn).Direction == None {
			return nil
		}
		pl.trashOwn[s] = pl.names.mailbox[s.Other()][tn] == ""
		recorded := map[UID]bool{}
		for i := range pl.plan.base.Folders {
			if f := &pl.plan.base.Folders[i]; f.Side(s).Mailbox == pl.trash[s] {
				for _, r := range f.Records {
					recorded[r.UID(s)] = true
				}
			}
		}
		for _, f := range pl.lists[s].Folders {
			if f.Mailbox != pl.trash[s] {
				continue
			}
			for i := range f.Messages {
				if m := &f.Messages[i]; m.ID != "" && !recorded[m.UID] {
					pl.trashNew[s][m.ID] = append(pl.trashNew[s][m.ID], m)
				}
			}
		}
	}
	if !pl.trashOwn[s] && !paired {
		return nil
	}
	for _, m := range pl.trashNew[s][id] {
		if !pl.leaving[s][m] && !pl.joinedBy[s][m] && !pl.keptOn[s][m] && !pl.trashedAhead[s][m] {
			return m
		}
	}
	return nil
}

// inTrash reports whether side s's trash folder already holds a message
// with identity id that no earlier decision of this plan has claimed.
func (pl *planner) inTrash(s Side, id Identity) bool {
	if pl.trashHas[s] == nil {
		pl.trashHas[s] = map[Identity]int{}
		for _, f := range pl.lists[s].Folders {
			if f.Mailbox == pl.trash[s] && f.Mailbox != "" {
				for _, m := range f.Messages {
					pl.trashHas[s][m.ID]++
				}
			}
		}
	}
	if id == "" || pl.trashHas[s][id] == 0 {
		return false
	}
	pl.trashHas[s][id]--
	return true
}

// resetOn reports whether v's UIDVALIDITY changed on side s since the
// base.
func (pl *planner) resetOn(v *view, s Side) bool {
	if v.base == nil || v.listed[s] == nil {
		return false
	}
	b := v.base.Side(s)
	return b.Mailbox != "" && b.UIDValidity != 0 && b.UIDValidity != v.listed[s].UIDValidity
}

// leftoverArrivals records the messages moved into a trash folder that
// no folder pair of this plan covers (a trash folder the plan creates, or
// one the other side lacks): the folder is remembered as that side's
// only, so it is not copied to the other side on the next run.
func (pl *planner) leftoverArrivals() {
	for s := range 2 {
		names := make([]string, 0, len(pl.arrivals[s]))
		for n := range pl.arrivals[s] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			list := pl.arrivals[s][n]
			// A trash folder under direction none is still the side's
			// trash, but ignored: what is moved there is not recorded,
			// and its base is kept untouched, as for any ignored
			// folder. (Recording it beside that base mixed the UIDs of
			// a trash deleted and created again.)
			if pl.policy.For(n).Direction == None {
				continue
			}
			// Join the other side's leftovers under the same name, if
			// any: a second draft would put the folder in the state
			// twice.
			var d *draftFolder
			for _, x := range pl.plan.drafts {
				if x.name == n {
					d = x
				}
			}
			if d == nil {
				d = &draftFolder{name: n}
				pl.plan.drafts = append(pl.plan.drafts, d)
			}
			if d.side[s].Mailbox == "" {
				d.side[s] = SideState{Mailbox: list[0].Dest}
			}
			for _, a := range list {
				d.slots = append(d.slots, a.arrival)
			}
		}
	}
}

// listedNames returns the listed mailbox of each side of v.
func listedNames(v *view) [2]string {
	var out [2]string
	for s := range 2 {
		if v.listed[s] != nil {
			out[s] = v.listed[s].Mailbox
		}
	}
	return out
}

// special reports folders mailtwin never deletes: INBOX and the trash.
func (pl *planner) special(s Side, mailbox string) bool {
	return strings.EqualFold(mailbox, "INBOX") || mailbox == pl.trash[s]
}

// mergeFlags decides the flags of a message present on both sides and
// plans the stores that carry them over: per flag, the side that changed
// it since base wins; under a one-way direction only the source's changes
// flow and the record keeps the source's flags.
func (pl *planner) mergeFlags(add func(Action) *Action, sl *slot, dir Direction, base Flags, msg [2]*Message, mailbox [2]string) {
	fa, fb := msg[A].Flags, msg[B].Flags
	if sl.base == nil {
		sl.paired = &pairing{listed: [2]Flags{fa, fb}, base: base, oneWay: dir != Both}
	}
	// Unchanged on both sides, as most messages are: the merge below
	// would give base back and store nothing (the fast path; see
	// unchanged).
	if pl.fast && fa.Equal(base) && fb.Equal(base) && canonical(base) && !pl.isMasked(msg, mailbox) {
		switch dir {
		case Both:
			sl.rec.Flags = base
			return
		case AToB:
			sl.rec.Flags = fa
			return
		case BToA:
			sl.rec.Flags = fb
			return
		}
	}
	target := [2]Flags{fa, fb}
	pick := func(from Side, cur Flags) Flags {
		src := msg[from].Flags
		var out []string
		for _, f := range union(union(fa, fb), base) {
			changed := src.Has(f) != base.Has(f)
			if (changed && src.Has(f)) || (!changed && cur.Has(f)) {
				out = append(out, f)
			}
		}
		return NewFlags(out...)
	}
	switch dir {
	case Both:
		var out []string
		for _, f := range union(union(fa, fb), base) {
			ca, cb := fa.Has(f) != base.Has(f), fb.Has(f) != base.Has(f)
			val := base.Has(f)
			if ca {
				val = fa.Has(f)
			} else if cb {
				val = fb.Has(f)
			}
			if val {
				out = append(out, f)
			}
		}
		m := NewFlags(out...)
		target = [2]Flags{m, m}
		sl.rec.Flags = m
	case AToB:
		target[B] = pick(A, fb)
		sl.rec.Flags = fa
	case BToA:
		target[A] = pick(B, fa)
		sl.rec.Flags = fb
	}
	for s := range 2 {
		side := Side(s)
		cur := msg[s].Flags
		if fl, ok := pl.unmasked[s][copyAt{mailbox[s], msg[s].UID}]; ok {
			cur = fl // what the copy holds, not what its side's user meant
		}
		if cur.Equal(target[s]) {
			continue
		}
		plus, minus := cur.Diff(target[s])
		if keep, ok := pl.keeps[s][mailbox[s]]; ok {
			// What the folder refuses is not sent: the server would
			// drop it, and the record holds it (maskRefused).
			plus, minus = keep.filter(plus), keep.filter(minus)
			if len(plus) == 0 && len(minus) == 0 {
				continue
			}
		}
		a := add(Action{Op: Store, Side: side, Mailbox: mailbox[s], UID: msg[s].UID, Flags: plus, Remove: minus, ID: msg[s].ID, Reason: ReasonFlags})
		a.slot = sl
	}
}

// movedOutOfRefusal gives a Move out of a folder that refused flags the
// flags its record holds that the source folder refused (and so the
// copy never held) where the destination keeps them, as the Move's
// Flags: the run stores them on the moved copy once it is there
// (restoreMoved). The record the merge gave says the copy holds them;
// without the store, the next run, finding it without them where
// nothing masks them, would read their removal by that side's user.
// Where the store is not made, Next takes them out of the record
// (Outcome.NotRestored): the other side's copy then holds a flag the
// record lacks, which the next run reads as that side's change, and
// stores: the flag comes back, a run later, where the other side holds
// it.
func (pl *planner) movedOutOfRefusal() {
	for _, a := range pl.acts {
		if a.Op != Move || a.arrival == nil {
			continue
		}
		src, ok := pl.keeps[a.Side][a.Mailbox]
		if !ok {
			continue
		}
		dst := pl.keeps[a.Side][a.Dest]
		var restore []string
		for _, f := range a.arrival.rec.Flags {
			if !src.Keeps(f) && dst.Keeps(f) {
				restore = append(restore, f)
			}
		}
		if len(restore) > 0 {
			a.Flags = NewFlags(restore...)
		}
	}
}

// isMasked reports whether maskRefused changed the flags of either copy:
// it may lack a flag its folder keeps, which a Store must bring back.
func (pl *planner) isMasked(msg [2]*Message, mailbox [2]string) bool {
	for s := range 2 {
		if pl.unmasked[s] == nil || msg[s] == nil {
			continue
		}
		if _, ok := pl.unmasked[s][copyAt{mailbox[s], msg[s].UID}]; ok {
			return true
		}
	}
	return false
}

// ensureTrash returns side s's trash mailbox, planning its creation when
// the account has none.
func (pl *planner) ensureTrash(s Side, add func(Action) *Action) string {
	if pl.trash[s] == "" {
		pl.trash[s] = pl.names.mustMailbox(s, "Trash")
	}
	if !pl.trashOK[s] {
		pl.trashOK[s] = true
		if pl.created[s][pl.trash[s]] == nil {
			a := add(Action{Op: CreateFolder, Side: s, Mailbox: pl.trash[s], Reason: ReasonTrashFolder})
			a.Folder = pl.trashName(s)
			a.folder = nil // belongs to no folder pair of this plan
			pl.created[s][pl.trash[s]] = a
		}
	}
	return pl.trash[s]
}

func (pl *planner) takeArrival(s Side, folder string, id Identity) *Action {
	list := pl.arrivals[s][folder]
	for i, a := range list {
		if a.arrival != nil && a.ID == id && id != "" {
			if i == 0 {
				// Taken in the order they came, as a move of many
				// messages mostly is: no copy of the rest each time.
				pl.arrivals[s][folder] = list[1:]
			} else {
				pl.arrivals[s][folder] = append(list[:i:i], list[i+1:]...)
			}
			return a
		}
	}
	return nil
}

// count fills Plan.Counts.
func (pl *planner) count() {
	p := pl.plan
	for i := range p.Actions {
		a := &p.Actions[i]
		c := &p.Counts[a.Side]
		switch a.Op {
		case CreateFolder:
			c.FoldersCreated++
		case RenameFolder:
			c.FoldersRenamed++
		case DeleteFolder:
			c.FoldersDeleted++
		case Copy:
			c.Copies++
		case Move:
			if a.Reason == ReasonTrash {
				c.Trashed++
			} else {
				c.Moves++
			}
		case Store:
			c.Stores++
		case Expunge:
			c.Expunges++
		}
	}
}

// minSuspicious is the number of messages a folder must have held for an
// empty listing of it to look like a glitch rather than a clean-up.
const minSuspicious = 10

// guard checks the safety brakes.
func (pl *planner) guard(base State, views []*view) error {
	if pl.policy.Force {
		return nil
	}
	for s := range 2 {
		side := Side(s)
		hadFolders := false
		for _, f := range base.Folders {
			if f.Side(side).Mailbox != "" {
				hadFolders = true
			}
		}
		if hadFolders && len(pl.lists[s].Folders) == 0 {
			return &GuardError{Kind: ErrSuspiciousListing, Detail: fmt.Sprintf("pair %q: side %s lists no folders at all, but the state knows some", pl.pair, side)}
		}
		// A whole account that lists no messages: a server always lists
		// INBOX, so "no folders" above never catches a server restored
		// empty, or a login that lands in a new, empty mailbox.
		// Folders under direction none (by rule, or left out by
		// special-use attribute) are not scanned: their listing says
		// nothing of their messages.
		listed := 0
		for _, v := range views {
			if v.policy.Direction != None && v.listed[s] != nil {
				listed += pl.listedCount(side, v.listed[s])
			}
		}
		// What the state knows there is counted only when nothing is
		// listed: the walk over every record took about 2 of the 9 ms
		// of a no-op plan of 100,000 messages.
		known := 0
		if listed == 0 {
			for _, v := range views {
				if v.policy.Direction == None || v.base == nil {
					continue
				}
				for _, r := range v.base.Records {
					if r.On(side) {
						known++
					}
				}
			}
		}
		if listed == 0 && known >= minSuspicious {
			return &GuardError{Kind: ErrSuspiciousListing, Detail: fmt.Sprintf("pair %q: side %s suddenly lists no messages in any folder; the state knows %d there", pl.pair, side, known)}
		}
		for _, v := range views {
			if v.base == nil || v.listed[s] == nil || pl.listedCount(side, v.listed[s]) > 0 || v.policy.Direction == None {
				continue
			}
			n := 0
			for _, r := range v.base.Records {
				if r.On(side) {
					n++
				}
			}
			if n >= minSuspicious {
				return &GuardError{Kind: ErrSuspiciousListing, Detail: fmt.Sprintf("pair %q: folder %q on %s suddenly lists no messages; the state knows %d", pl.pair, v.listed[s].Mailbox, side, n)}
			}
		}
	}
	for s := range 2 {
		side := Side(s)
		n := pl.plan.Counts[side].Deletions()
		total := 0
		for i := range pl.lists[s].Folders {
			total += pl.listedCount(side, &pl.lists[s].Folders[i])
		}
		if n > 0 && !pl.policy.MaxDeletes.Allows(n, total) {
			return &GuardError{Kind: ErrTooManyDeletes, Detail: fmt.Sprintf("pair %q: the plan deletes %d of %d messages on %s, over max_deletes %s", pl.pair, n, total, side, pl.policy.MaxDeletes)}
		}
	}
	return nil
}

func union(a, b Flags) Flags {
	return NewFlags(append(append([]string{}, a...), b...)...)
}

func intersect(a, b Flags) Flags {
	var out []string
	for _, f := range a {
		if b.Has(f) {
			out = append(out, f)
		}
	}
	return NewFlags(out...)
}

// trashName returns the logical name of side s's trash folder: as
// listed, or "Trash" for the one this plan creates.
func (pl *planner) trashName(s Side) string {
	if l := pl.names.logicalOf(s, pl.trash[s]); l != "" {
		return l
	}
	return "Trash"
}
