package reconcile

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Op is the kind of an Action. Its symbol is what plans print, in the
// manner of Terraform's plans.
type Op int

const (
	// CreateFolder creates Action.Mailbox on Action.Side.
	CreateFolder Op = iota
	// Copy appends the message SrcUID of SrcMailbox on the other side to
	// Mailbox on Side, with Flags.
	Copy
	// Move moves UID of Mailbox on Side to Dest, without re-uploading it
	// (a trash policy, or a move the user made on the other side).
	Move
	// Store adds Flags and removes Remove on UID of Mailbox on Side.
	Store
	// Expunge removes UID of Mailbox on Side.
	Expunge
	// DeleteFolder deletes Mailbox on Side.
	DeleteFolder
	// RenameFolder renames Mailbox on Side to Dest, with its children.
	RenameFolder
)

var opNames = []string{"create-folder", "copy", "move", "store", "expunge", "delete-folder", "rename-folder"}

// String returns the op's name as used in JSON output.
func (o Op) String() string { return opNames[o] }

// Symbol returns the one-character symbol plans print for o.
func (o Op) Symbol() string {
	switch o {
	case CreateFolder, Copy:
		return "+"
	case Move, RenameFolder:
		return ">"
	case Store:
		return "~"
	}
	return "-"
}

// MarshalText makes Op a string in JSON.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// MarshalText makes Side a string in JSON.
func (s Side) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// phase orders execution: folders first, then copies, flags, moves and
// deletions, and folder deletions last, so that a run cut at any point
// has lost nothing. Moves come after flag stores, so a message carries
// its merged flags with it.
func (a *Action) phase() int {
	switch a.Op {
	case CreateFolder, RenameFolder:
		return 0
	case Copy:
		return 1
	case Move:
		return 3
	case Store:
		return 2
	case Expunge:
		return 3
	}
	return 4
}

// Reasons given for actions in plans and the run's journal.
const (
	ReasonNew          = "new"
	ReasonFlags        = "flags changed"
	ReasonDeleted      = "deleted on other side"
	ReasonTrash        = "trash"
	ReasonMoved        = "moved on other side"
	ReasonMoveConflict = "moved elsewhere on both sides: prefer side wins"
	ReasonMoveFinished = "moved on other side, already in its folder"
	// ReasonConflictFinished removes the loser's original of a move
	// conflict whose copy is in the winner's folder already.
	ReasonConflictFinished = "moved elsewhere on both sides, already in the winner's folder"
	ReasonRejoined         = "back in the pair on other side: this copy joins it"
	ReasonRejoinFinished   = "back in the pair on other side, this copy already joined it" // the join's original, its copy there already
	ReasonInTrash          = "deleted on other side, already in trash"
	ReasonChangeBeats      = "changed here, deleted there: kept"
	ReasonOutOfTrash       = "changed on other side, deleted here: back out of the trash"
	ReasonRestore          = "restored after UIDVALIDITY change"
	ReasonFolderNew        = "new folder"
	ReasonFolderDeleted    = "folder deleted on other side"
	ReasonTrashFolder      = "trash folder needed"
	ReasonRenamed          = "renamed on other side"
	ReasonRenameConflict   = "renamed differently on both sides: prefer side wins"
	ReasonRevived          = "folder renamed on other side, deleted here: made again"
)

// Action is one step of a Plan. Fields not used by an Op are zero.
type Action struct {
	Op     Op     `json:"op"`
	Side   Side   `json:"side"`
	Folder string `json:"folder"` // logical folder name
	// Mailbox is the mailbox acted on, on Side.
	Mailbox string `json:"mailbox"`
	UID     UID    `json:"uid,omitempty"`
	// SrcMailbox and SrcUID name the source of a Copy, on the other side.
	SrcMailbox string `json:"src_mailbox,omitempty"`
	SrcUID     UID    `json:"src_uid,omitempty"`
	// Dest is the destination mailbox of a Move, on Side.
	Dest string `json:"dest,omitempty"`
	// Flags are the flags a Copy appends with, the flags a Store adds,
	// or those a Move stores on the moved copy at Dest: what its source
	// folder refused, and Dest keeps (movedOutOfRefusal).
	Flags  Flags    `json:"flags,omitempty"`
	Remove Flags    `json:"remove,omitempty"`
	ID     Identity `json:"id,omitempty"`
	// Size is the RFC822.SIZE of the message a Copy uploads, as its
	// source listed it; 0 when the listing did not say (a message the
	// state knew already). Progress reports bytes with it.
	Size   int64  `json:"size,omitempty"`
	Reason string `json:"reason"`

	// Where the outcome of this action lands in the next state.
	slot *slot
	// arrival is the record a Move creates in its destination folder.
	arrival *slot
	// folder is the folder pair of the next state the action belongs to.
	folder *draftFolder
	// unchangedSince, for an Expunge, is the HIGHESTMODSEQ its mailbox
	// had when the run listed it (guardExpunges), 0 for none.
	unchangedSince uint64
	// rareFields holds the fields few actions set (a Move's bookkeeping
	// should it fail, a removal's filedAway, a RenameFolder's names);
	// nil where an action sets none of them. A first sync plans a Copy
	// for every message, and they would be a third of each Copy's
	// memory. Read them with rare, set them with rareToSet.
	rareFields *actionRare
}

// actionRare is the part of an Action few actions set
// (Action.rareFields).
type actionRare struct {
	// mergeBase, for a Move that carries out a move the user made on the
	// other side, is the flags the state agreed on before it.
	mergeBase Flags
	hasBase   bool
	// keepTarget, for a Move that joins two copies of a message that
	// both users moved back into the pair (rejoins), or that settles a
	// move conflict out of a folder whose UIDVALIDITY changed
	// (moveConflicts), keeps the record of the copy it joins, on that
	// copy's side only, if it fails: the next run joins them again,
	// rather than copying each to the other side.
	keepTarget bool
	// holds, for such a Move that joins two copies both users moved
	// back into the pair (crossedJoin), are the slots Next keeps as the
	// base had them should the Move fail and the creation of its target
	// folder by this plan fail too (planner.heldFor): the record
	// keepTarget keeps is then lost with the folder.
	holds []*slot
	// holdsAlways, for such a join into a folder pair the loser's side
	// takes nothing from, has Next keep the slots in holds as the base
	// had them whenever the Move fails, in place of keepTarget: there,
	// the winner's copy recorded on its side only would read to the
	// next run as deleted by the loser's user (crossedJoin).
	holdsAlways bool
	// keepBase, for a Move that settles a move conflict out of a folder
	// whose UIDVALIDITY changed (moveConflicts) into a folder pair the
	// loser's side takes nothing from, has Next keep the base record on
	// the side whose UIDVALIDITY did not change should the Move fail
	// (slot.targetLost), in place of keepTarget.
	keepBase bool
	// keepSource, for a Move that settles a move conflict, has Next keep the loser's
	// copy recorded on its side only, where it is (in the folder pair of
	// Mailbox, at UID, with sourceFlags), should the Move fail where no
	// other record links the two copies: with keepTarget (the folder's
	// UIDVALIDITY changed on both sides), where the creation of the
	// target folder failed too, as keepTarget's record goes with the
	// folder the state forgets (TestModelMovesAndRenames
	// -movemodel.alike seed 178238); without it, where Next drops the
	// base record (its UID unknown on one side and let go of on the
	// other: TestModelMovesAndRenames seed 2845161). With no record,
	// both copies were new to the next run, and each was copied to the
	// other side. Kept, the next run joins the winner's copy, new to it,
	// with the loser's (rejoins), as it would have been. In a one-way
	// pair too: moveConflicts sets it with keepTarget wherever the base
	// record cannot stay on the loser's side
	// (TestNextFailedMoveConflictIntoANewFolderOutOfAFolderRenamedByCopy),
	// and crossedJoin where the loser's one-sided record cannot be kept
	// as the base had it (TestNextFailedCrossedJoinOutOfAFolderMadeAnew).
	keepSource  bool
	sourceFlags Flags
	// filedAway, for the removal of a copy whose other side's user
	// filed the message away into a folder this side lacks
	// (planner.filedAwayFrom), has Next drop the record of that filed
	// copy (Plan.filedCopies) should the removal fail where the base
	// record stays as the base had it (no new UIDVALIDITY on either
	// side), naming the filed copy's old place: the next run finds the
	// same move again. Both kept, the one copy was recorded twice, and
	// a move of each copy by its user before the next run read as a
	// change against a deletion, twice: each side got the other's copy
	// (TestModelMovesAndRenames seed 2782957).
	filedAway bool
	// renFrom and renTo are the logical names a RenameFolder takes its
	// folder from and to.
	renFrom, renTo string
}

// rare returns a's rare fields: a copy, zero where a sets none. Set
// them with rareToSet.
func (a *Action) rare() actionRare {
	if a.rareFields == nil {
		return actionRare{}
	}
	return *a.rareFields
}

// keepSourceWith has Next keep the loser's copy of a move conflict's
// Move where it is, with flags, should the Move fail (actionRare.keepSource).
func (a *Action) keepSourceWith(flags Flags) {
	r := a.rareToSet()
	r.keepSource, r.sourceFlags = true, flags
}

// rareToSet returns a's rare fields to be set, making them where a had
// none.
func (a *Action) rareToSet() *actionRare {
	if a.rareFields == nil {
		a.rareFields = &actionRare{}
	}
	return a.rareFields
}

// String renders the action as one plan line.
func (a *Action) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s:%q", a.Op.Symbol(), a.Side, a.Mailbox)
	switch a.Op {
	case CreateFolder:
		b.WriteString(" create folder")
	case DeleteFolder:
		b.WriteString(" delete folder")
	case RenameFolder:
		fmt.Fprintf(&b, " rename folder -> %q", a.Dest)
	case Copy:
		fmt.Fprintf(&b, " <- %s:%q uid %d flags %s", a.Side.Other(), a.SrcMailbox, a.SrcUID, a.Flags)
	case Move:
		fmt.Fprintf(&b, " uid %d -> %q", a.UID, a.Dest)
		for _, f := range a.Flags {
			b.WriteString(" +" + f)
		}
	case Store:
		fmt.Fprintf(&b, " uid %d", a.UID)
		for _, f := range a.Flags {
			b.WriteString(" +" + f)
		}
		for _, f := range a.Remove {
			b.WriteString(" -" + f)
		}
	case Expunge:
		fmt.Fprintf(&b, " uid %d expunge", a.UID)
	}
	if a.ID != "" {
		fmt.Fprintf(&b, " %s", shortID(a.ID))
	}
	if a.Reason != "" {
		fmt.Fprintf(&b, " (%s)", a.Reason)
	}
	return b.String()
}

func shortID(id Identity) string {
	s := string(id)
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// Counts summarises a plan, per side that is changed.
type Counts struct {
	Copies, Moves, Stores, Expunges, Trashed, FoldersCreated, FoldersRenamed, FoldersDeleted int
}

// Deletions is the number of messages removed from a side's folders,
// whether expunged or moved to trash.
func (c Counts) Deletions() int { return c.Expunges + c.Trashed }

// Plan is what a run will do to a pair. It is a value: Execute carries it
// out exactly, and Next computes the state to commit from it and the
// outcomes. A Plan is used at most once.
type Plan struct {
	Pair string `json:"pair"`
	// Actions in execution order.
	Actions []Action `json:"actions"`
	// Conflicts that the planner decided, one line each.
	Conflicts []string `json:"conflicts,omitempty"`
	// Counts per side: Counts[A] is what happens on A.
	Counts [2]Counts `json:"-"`

	base   State
	drafts []*draftFolder
	// along holds, per side, the listed mailboxes this plan's RENAMEs of
	// a folder above them move, by the name they have once those ran
	// (see movedAlong).
	along [2]map[string]*movedAlong
	// lists is what each side listed, for Next's scan points.
	lists [2]*Listing
	// policy is the policy the plan was made under (its exclusions
	// included), for the direction Next records per folder pair.
	policy Policy
	// links are pairs of folder pairs, by logical name, where what the
	// plan records in one depends on the other's base with no action
	// between them (keptMoves): a footprint that has one has both.
	links [][2]string
	// filedCopies holds, by identity, the slots of copies a user filed
	// away into a folder the other side lacks, recorded on that user's
	// side only (Record.Away); see actionRare.filedAway.
	filedCopies map[Identity][]*slot
}

// Empty reports whether the plan changes nothing on either side.
func (p *Plan) Empty() bool { return len(p.Actions) == 0 }

// String renders the plan as text, one action per line after a header,
// byte-identical for identical inputs.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pair %q: %s\n", p.Pair, p.Summary())
	for i := 0; i < len(p.Actions); {
		n := moveRun(p.Actions[i:])
		if n > 1 {
			b.WriteString("  " + movesLine(p.Actions[i:i+n]) + "\n")
		} else {
			b.WriteString("  " + p.Actions[i].String() + "\n")
			n = 1
		}
		i += n
	}
	for _, c := range p.Conflicts {
		b.WriteString("  ! " + c + "\n")
	}
	return b.String()
}

// Summary is a one-line account of the plan, for commit subjects and
// output: "a: +2 ~1; b: +3 -1" or "no changes".
func (p *Plan) Summary() string {
	if p.Empty() {
		return "no changes"
	}
	var parts []string
	for _, s := range []Side{A, B} {
		c := p.Counts[s]
		var items []string
		add := func(n int, what string) {
			if n > 0 {
				items = append(items, fmt.Sprintf("%d %s", n, what))
			}
		}
		add(c.FoldersCreated, "folders created")
		add(c.FoldersRenamed, "folders renamed")
		add(c.Copies, "copied")
		add(c.Moves, "moved")
		add(c.Stores, "flag updates")
		add(c.Expunges, "expunged")
		add(c.Trashed, "trashed")
		add(c.FoldersDeleted, "folders deleted")
		if len(items) > 0 {
			parts = append(parts, s.String()+": "+strings.Join(items, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// sortActions puts actions in execution order, deterministically.
func sortActions(as []*Action) {
	sort.SliceStable(as, func(i, j int) bool {
		x, y := as[i], as[j]
		if x.phase() != y.phase() {
			return x.phase() < y.phase()
		}
		// Renames before creations, in the order planned (parents
		// first): a folder made under a renamed one needs the new name.
		if x.Op == RenameFolder || y.Op == RenameFolder {
			return x.Op == RenameFolder && y.Op != RenameFolder
		}
		// Folder creation: parents first; folder deletion: children first.
		if x.Op == DeleteFolder && y.Op == DeleteFolder && x.Mailbox != y.Mailbox {
			return x.Mailbox > y.Mailbox
		}
		if x.Side != y.Side {
			return x.Side < y.Side
		}
		if x.Mailbox != y.Mailbox {
			return x.Mailbox < y.Mailbox
		}
		if x.Op != y.Op {
			return x.Op < y.Op
		}
		if x.Dest != y.Dest {
			return x.Dest < y.Dest
		}
		if x.UID != y.UID {
			return x.UID < y.UID
		}
		return x.SrcUID < y.SrcUID
	})
}

// Errors the planner returns for a human to decide on. The plan is still
// returned with them, so it can be shown.
var (
	// ErrTooManyDeletes: the plan deletes more than max_deletes allows.
	ErrTooManyDeletes = errors.New("too many deletions")
	// ErrSuspiciousListing: a side suddenly lists no folders, or a folder
	// suddenly lists no messages where it had many; more likely a server
	// glitch than the user's intent.
	ErrSuspiciousListing = errors.New("suspicious listing")
)

// GuardError is a tripped safety guard. errors.Is matches its Kind.
type GuardError struct {
	Kind   error
	Detail string
}

func (e *GuardError) Error() string {
	return fmt.Sprintf("%s: %s (rerun with --force if this is intended)", e.Kind, e.Detail)
}

// Unwrap returns the guard's kind (ErrTooManyDeletes or
// ErrSuspiciousListing).
func (e *GuardError) Unwrap() error { return e.Kind }

// moveRun returns how many actions from the start of as are moves of
// one batch: same side, mailbox, destination and reason.
func moveRun(as []Action) int {
	n := 0
	for n < len(as) && as[n].Op == Move && as[n].Side == as[0].Side && as[n].Mailbox == as[0].Mailbox &&
		as[n].Dest == as[0].Dest && as[n].Reason == as[0].Reason {
		n++
	}
	return n
}

// movesLine renders a run of moves as one plan line:
//
//	> b:"INBOX" -> "Archive/2024" (3 messages: uid 4:6,9; moved on other side)
func movesLine(as []Action) string {
	uids := make([]UID, len(as))
	for i := range as {
		uids[i] = as[i].UID
	}
	slices.Sort(uids)
	return fmt.Sprintf("%s %s:%q -> %q (%d messages: uid %s; %s)", Move.Symbol(), as[0].Side, as[0].Mailbox, as[0].Dest, len(as), UIDRanges(uids, 8), as[0].Reason)
}

// UIDRanges writes sorted UIDs as an IMAP sequence set, "4:6,9", with at
// most max ranges before an ellipsis.
func UIDRanges(uids []UID, max int) string {
	var parts []string
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if len(parts) == max {
			parts = append(parts, "...")
			break
		}
		if i == j {
			parts = append(parts, fmt.Sprint(uids[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d:%d", uids[i], uids[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
