package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Reasons given to the actions of a revert plan.
const (
	ReasonUndoCopy   = "undo copy"
	ReasonUndoMove   = "undo move"
	ReasonUndoFlags  = "undo flag change"
	ReasonUndoRename = "undo folder rename"
	ReasonUndoCreate = "undo folder creation"
)

// LiveSide is what BuildRevert needs to know of one side as it is now.
type LiveSide struct {
	// Mailboxes holds, for each mailbox that exists and that the revert
	// may touch (see RevertMailboxes), the identity of every message by
	// UID. A mailbox absent from the map does not exist.
	Mailboxes map[string]map[UID]Identity
	// Trash is the side's trash mailbox, "" when it has none.
	Trash string
	// Delim is the side's hierarchy delimiter, 0 for a flat namespace.
	Delim rune
}

// RevertMailboxes returns, per side, the mailboxes a revert of j reads:
// those its actions name as source or destination, sorted.
func RevertMailboxes(j RunJournal) [2][]string {
	var out [2][]string
	for _, e := range j.Entries {
		for _, mb := range []string{e.Mailbox, e.Dest} {
			if mb != "" && !slices.Contains(out[e.Side], mb) {
				out[e.Side] = append(out[e.Side], mb)
			}
		}
	}
	for s := range out {
		sort.Strings(out[s])
	}
	return out
}

// RevertPlan is the inverse of a run, planned by BuildRevert.
type RevertPlan struct {
	// Plan holds the actions, in execution order; Execute carries it
	// out as any plan.
	Plan *Plan
	// Undoes[i] is the index in the journal's Entries of the action that
	// Plan.Actions[i] undoes.
	Undoes []int
	// Impossible lists, one line each, what the run did that cannot be
	// undone, and why.
	Impossible []string
}

// BuildRevert plans the inverse of the run j recorded for pair, against
// live, what each side holds now: a message copied by the run is
// removed under its folder's deletion policy (to the trash with trash,
// expunged with propagate, left with keep); a message the run moved
// (the trash moves too) is moved back; a flag change is undone; a folder
// rename is renamed back; a folder the run created is deleted where it
// will be empty. Each action is checked against live: the message must
// be where the journal says, with the same identity. What cannot be
// undone (an expunge, a folder deletion, a message no longer where the
// run left it) is listed in Impossible. Actions of the run that failed or
// were not run are skipped.
//
// The max_deletes guard of p is checked as for a sync, against the
// messages head (the pair's current state) holds: a revert that removes
// too many messages on a side returns the plan with a *GuardError
// unless p.Force. BuildRevert is a pure function.
func BuildRevert(pair string, j RunJournal, live [2]LiveSide, head State, p Policy) (*RevertPlan, error) {
	type loc struct {
		side    Side
		mailbox string
		uid     UID
	}
	// Where the run moved a message: a flag change before a move in the
	// same run is undone where the message is now.
	movedTo := map[loc]loc{}
	for _, e := range j.Entries {
		if e.Status == StatusOK && e.Op == Move && e.NewUID != 0 {
			movedTo[loc{e.Side, e.Mailbox, e.UID}] = loc{e.Side, e.Dest, e.NewUID}
		}
	}
	var acts []*Action
	undoes := map[*Action]int{}
	var impossible []string
	// change counts, per side and mailbox, the messages the plan adds
	// (+) and takes away (-).
	change := [2]map[string]int{{}, {}}
	cannot := func(e *JournalEntry, why string) {
		impossible = append(impossible, fmt.Sprintf("cannot undo %s: %s", entryLine(e), why))
	}
	add := func(i int, a Action) {
		acts = append(acts, &a)
		undoes[&a] = i
	}
	has := func(s Side, mb string, u UID, id Identity) string {
		msgs, ok := live[s].Mailboxes[mb]
		switch got, at := msgs[u]; {
		case !ok:
			return fmt.Sprintf("%s:%q no longer exists", s, mb)
		case !at:
			return fmt.Sprintf("uid %d is no longer in %s:%q", u, s, mb)
		case id != "" && got != id:
			return fmt.Sprintf("uid %d of %s:%q is another message now", u, s, mb)
		}
		return ""
	}
	// Folder renames are undone first, as the run did them first; the
	// other actions name the mailboxes as the run left them, so they
	// are renamed as the renames back rename them.
	back := [2]map[string]string{{}, {}}
	for i := range j.Entries {
		e := &j.Entries[i]
		if e.Status != StatusOK || e.Op != RenameFolder {
			continue
		}
		s := e.Side
		_, from := live[s].Mailboxes[e.Mailbox]
		_, to := live[s].Mailboxes[e.Dest]
		if from || !to {
			cannot(e, fmt.Sprintf("%s:%q is not where the rename left it", s, e.Dest))
			continue
		}
		add(i, Action{Op: RenameFolder, Side: s, Folder: e.Folder, Mailbox: e.Dest, Dest: e.Mailbox, Reason: ReasonUndoRename})
		back[s][e.Dest] = e.Mailbox
	}
	// after returns what mailbox mb of side s is called once the renames
	// back are done.
	after := func(s Side, mb string) string {
		if mb == "" {
			return mb
		}
		// The longest match: a child renamed on its own is renamed
		// from its own new name.
		best, out := -1, mb
		for from, to := range back[s] {
			d := live[s].Delim
			if len(from) > best && (mb == from || d != 0 && strings.HasPrefix(mb, from+string(d))) {
				best, out = len(from), to+mb[len(from):]
			}
		}
		return out
	}
	for i := range j.Entries {
		e := &j.Entries[i]
		if e.Status != StatusOK {
			continue
		}
		s := e.Side
		switch e.Op {
		case Copy:
			if e.NewUID == 0 {
				cannot(e, "the server did not say which uid the copy got")
				continue
			}
			if why := has(s, e.Mailbox, e.NewUID, e.ID); why != "" {
				cannot(e, why)
				continue
			}
			del := p.For(e.Folder).Deletion
			trash := live[s].Trash
			switch {
			case del == Keep:
				cannot(e, "the folder's deletion policy is keep: the copy stays")
			case del == Trash && trash != "" && trash != e.Mailbox:
				add(i, Action{Op: Move, Side: s, Folder: e.Folder, Mailbox: e.Mailbox, UID: e.NewUID, Dest: trash, ID: e.ID, Reason: ReasonUndoCopy})
				change[s][e.Mailbox]--
				change[s][trash]++
			case del == Trash && trash == "":
				cannot(e, fmt.Sprintf("the deletion policy is trash and %s has no trash folder", s))
			default: // propagate, or a copy into the trash itself
				add(i, Action{Op: Expunge, Side: s, Folder: e.Folder, Mailbox: e.Mailbox, UID: e.NewUID, ID: e.ID, Reason: ReasonUndoCopy})
				change[s][e.Mailbox]--
			}
		case Move:
			if e.NewUID == 0 {
				cannot(e, "the server did not say which uid the moved message got")
				continue
			}
			if why := has(s, e.Dest, e.NewUID, e.ID); why != "" {
				cannot(e, why)
				continue
			}
			if _, ok := live[s].Mailboxes[e.Mailbox]; !ok {
				cannot(e, fmt.Sprintf("%s:%q no longer exists", s, e.Mailbox))
				continue
			}
			add(i, Action{Op: Move, Side: s, Folder: e.Folder, Mailbox: e.Dest, UID: e.NewUID, Dest: e.Mailbox, ID: e.ID, Reason: ReasonUndoMove})
			change[s][e.Dest]--
			change[s][e.Mailbox]++
		case Store:
			at := loc{s, e.Mailbox, e.UID}
			if to, ok := movedTo[at]; ok {
				at = to
			}
			if why := has(s, at.mailbox, at.uid, e.ID); why != "" {
				cannot(e, why)
				continue
			}
			add(i, Action{Op: Store, Side: s, Folder: e.Folder, Mailbox: at.mailbox, UID: at.uid, Flags: e.Remove, Remove: e.Flags, ID: e.ID, Reason: ReasonUndoFlags})
		case Expunge:
			cannot(e, "the message was expunged")
		case DeleteFolder:
			cannot(e, "the folder was deleted")
		}
	}
	// Folders the run created go last, once their messages are gone.
	for i := range j.Entries {
		e := &j.Entries[i]
		if e.Status != StatusOK || e.Op != CreateFolder {
			continue
		}
		s := e.Side
		msgs, ok := live[s].Mailboxes[e.Mailbox]
		switch n := len(msgs) + change[s][e.Mailbox]; {
		case !ok:
			cannot(e, fmt.Sprintf("%s:%q no longer exists", s, e.Mailbox))
		case n > 0:
			cannot(e, fmt.Sprintf("%s:%q would still hold %d message(s)", s, e.Mailbox, n))
		default:
			add(i, Action{Op: DeleteFolder, Side: s, Folder: e.Folder, Mailbox: e.Mailbox, Reason: ReasonUndoCreate})
		}
	}
	for _, a := range acts {
		if a.Op != RenameFolder {
			a.Mailbox, a.Dest = after(a.Side, a.Mailbox), after(a.Side, a.Dest)
		}
	}
	sortActions(acts)
	rp := &RevertPlan{Plan: &Plan{Pair: pair, Actions: make([]Action, len(acts))}, Undoes: make([]int, len(acts)), Impossible: impossible}
	for i, a := range acts {
		rp.Plan.Actions[i] = *a
		rp.Undoes[i] = undoes[a]
		c := &rp.Plan.Counts[a.Side]
		switch {
		case a.Op == Move && a.Reason == ReasonUndoCopy:
			c.Trashed++
		case a.Op == Move:
			c.Moves++
		case a.Op == Store:
			c.Stores++
		case a.Op == Expunge:
			c.Expunges++
		case a.Op == RenameFolder:
			c.FoldersRenamed++
		case a.Op == DeleteFolder:
			c.FoldersDeleted++
		}
	}
	for _, s := range []Side{A, B} {
		n, total := rp.Plan.Counts[s].Deletions(), head.Messages(s)
		if n > 0 && !p.Force && !p.MaxDeletes.Allows(n, total) {
			return rp, &GuardError{Kind: ErrTooManyDeletes, Detail: fmt.Sprintf("pair %q: the revert deletes %d of %d messages on %s, over max_deletes %s", pair, n, total, s, p.MaxDeletes)}
		}
	}
	return rp, nil
}

// entryLine renders a journal entry as a plan line, with the new UID.
func entryLine(e *JournalEntry) string {
	s := e.Action.String()
	if e.NewUID != 0 {
		s += fmt.Sprintf(" => uid %d", e.NewUID)
	}
	return s
}

// EntryLine renders a journal entry as show prints it: the plan line of
// its action, the new UID, and the outcome.
func EntryLine(e *JournalEntry) string {
	switch e.Status {
	case StatusOK:
		return entryLine(e)
	case StatusFailed:
		return entryLine(e) + " FAILED: " + e.Error
	}
	return entryLine(e) + " (not run)"
}

// RevertCheckpoint is the state a revert commits before it undoes
// anything: base, the pair's state before the reverted run, with every
// scan point cleared, and each message the revert is to move back
// recorded at UnknownUID on the side it moves on. It reads right
// whatever part of the undo a revert killed on the way had done: a copy
// removed again is new mail on the side that has it, copied again as
// RevertState's state has it, and one not removed is new on both sides
// and paired by identity; a message moved back, or not yet, is found by
// identity, as the record's own (UnknownUID: not read as its user's
// undo of a deletion, which a copy back under a new UID would be, and
// would beat the other side's deletion); a folder renamed back, or not
// yet, likewise. Without it a killed revert left the reverted run's
// state over mailboxes partly reverted, and the next run read a copy
// the revert had removed as its user's deletion, and expunged the
// original.
func RevertCheckpoint(base State, j RunJournal, rp *RevertPlan) State {
	return revertState(base, j, rp, nil, true)
}

// RevertState is the state to commit after a revert: base (the pair's
// state before the reverted run) with the UIDs of the messages moved
// back set to where they are now, and the records of those whose move
// back failed or whose new UID is unknown dropped, so the next run
// pairs them by identity. Every scan point is cleared, so the next run
// reads every folder whole. outcomes has one entry per rp.Plan.Actions.
func RevertState(base State, j RunJournal, rp *RevertPlan, outcomes []Outcome) State {
	return revertState(base, j, rp, outcomes, false)
}

// revertState is RevertState, or with checkpoint RevertCheckpoint: each
// message moved back at UnknownUID, whatever outcomes say.
func revertState(base State, j RunJournal, rp *RevertPlan, outcomes []Outcome, checkpoint bool) State {
	st := State{Folders: make([]FolderState, len(base.Folders))}
	for i, f := range base.Folders {
		f.Records = slices.Clone(f.Records)
		f.A.HighestModSeq, f.B.HighestModSeq = 0, 0
		st.Folders[i] = f
	}
	for i := range rp.Plan.Actions {
		a := &rp.Plan.Actions[i]
		e := &j.Entries[rp.Undoes[i]]
		if a.Op != Move || e.Op != Move {
			continue
		}
		o := Outcome{Err: ErrNotRun}
		if i < len(outcomes) {
			o = outcomes[i]
		}
		for fi := range st.Folders {
			f := &st.Folders[fi]
			// a.Dest is e.Mailbox as the revert names it, after any
			// rename back: the name the base state knows.
			if f.Side(e.Side).Mailbox != a.Dest {
				continue
			}
			for ri := range f.Records {
				r := &f.Records[ri]
				if r.UID(e.Side) != e.UID {
					continue
				}
				switch {
				case checkpoint:
					r.setUID(e.Side, UnknownUID)
				case o.Err == nil && o.UID != 0:
					r.setUID(e.Side, o.UID)
				default:
					f.Records = slices.Delete(f.Records, ri, ri+1)
				}
				break
			}
			sort.Slice(f.Records, func(x, y int) bool {
				rx, ry := f.Records[x], f.Records[y]
				if rx.UIDA != ry.UIDA {
					return rx.UIDA < ry.UIDA
				}
				return rx.UIDB < ry.UIDB
			})
		}
	}
	return st
}
