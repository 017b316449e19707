package reconcile

import (
	"slices"
	"strings"
)

// wildcardFlag is PERMANENTFLAGS' `\*`: the folder keeps keywords it
// has not seen yet too (RFC 3501, 7.1).
const wildcardFlag = `\*`

// Permanent is what a folder keeps of the flags mailtwin syncs, as the
// PERMANENTFLAGS of a read-write SELECT said, in Flags' canonical form:
// the system flags it lists, and the keywords it lists, where it lacks
// `\*` and so keeps no other keyword. nil stands for a folder that keeps
// them all, or one not known to refuse any. A folder with `\*` is taken
// to keep every flag, whatever system flags it lists: go-imap's memory
// server lists only the flags in use beside `\*`, and keeps any.
//
// A server drops a flag a folder does not keep without an error, from
// an APPEND or a STORE alike (RFC 3501 lets it; Dovecot does where an
// ACL withholds the right to write flags; servers without keywords do
// it to every keyword). Its copies then lack flags their records hold,
// which the next run would read as that side's user removing them, and
// remove them from the other side's copies too. So where a folder side
// refuses flags, its listing is read with the records' value for them
// (maskRefused): what that side cannot hold is neither taken from it
// nor retried on it.
type Permanent []string

// NewPermanent canonicalises a folder's PERMANENTFLAGS; nil where they
// keep every flag mailtwin syncs (they have `\*`).
func NewPermanent(raw ...string) Permanent {
	if slices.Contains(raw, wildcardFlag) {
		return nil
	}
	p := Permanent(NewFlags(raw...))
	if p == nil {
		p = Permanent{} // keeps nothing
	}
	return p
}

// Keeps reports whether the folder keeps flag (canonical, as in Flags).
func (p Permanent) Keeps(flag string) bool {
	return p == nil || slices.Contains(p, flag)
}

// Intersect returns what both p and q keep: a folder that once refused
// a flag is taken to refuse it still. The records of its copies hold
// that flag where they lack it, and a folder that began to keep it
// would have them read as its user's removals.
func (p Permanent) Intersect(q Permanent) Permanent {
	switch {
	case p == nil:
		return q
	case q == nil:
		return p
	}
	out := Permanent{}
	for _, f := range p {
		if q.Keeps(f) {
			out = append(out, f)
		}
	}
	return out
}

// Equal reports whether p and q keep the same flags.
func (p Permanent) Equal(q Permanent) bool {
	return (p == nil) == (q == nil) && slices.Equal(p, q)
}

// String renders p as a state file does: space-separated, "-" when it
// keeps nothing.
func (p Permanent) String() string {
	if len(p) == 0 {
		return "-"
	}
	return strings.Join(p, " ")
}

// filter returns the flags of f that p keeps.
func (p Permanent) filter(f Flags) Flags {
	var out Flags
	for _, x := range f {
		if p.Keeps(x) {
			out = append(out, x)
		}
	}
	return out
}

// mask returns listed, a copy's flags as its side lists them, with the
// flags its folder refuses taken from rec, the record's.
func (p Permanent) mask(listed, rec Flags) Flags {
	var out []string
	for _, f := range listed {
		if p.Keeps(f) {
			out = append(out, f)
		}
	}
	for _, f := range rec {
		if !p.Keeps(f) {
			out = append(out, f)
		}
	}
	m := NewFlags(out...)
	if m.Equal(listed) {
		return listed
	}
	return m
}

// maskRefused returns the listings with the flags each folder side
// refuses (its state's Permanent, and what this listing's scan saw)
// read as the records hold them, on the copies the records know there
// (see Permanent). The listings are not changed: a folder it masks is
// a copy. Folders a side lists in another UIDVALIDITY than the state's
// are left alone, as their UIDs name other messages.
//
// keeps holds, per side and mailbox, what each listed folder that
// refuses flags keeps: the planner stores no flag there that it refuses.
func maskRefused(base State, lists [2]Listing) (masked [2]Listing, keeps [2]map[string]Permanent) {
	for s := range 2 {
		side := Side(s)
		if !refusesAny(base, side, lists[s]) {
			continue
		}
		keeps[s] = map[string]Permanent{}
		copied := false
		for i := range lists[s].Folders {
			lf := &lists[s].Folders[i]
			fs := base.byMailbox(side, lf.Mailbox)
			perm := lf.Permanent
			if fs != nil {
				perm = fs.Side(side).Permanent.Intersect(perm)
			}
			if perm != nil {
				keeps[s][lf.Mailbox] = perm
			}
			if perm == nil || lf.Messages == nil || fs == nil || fs.Side(side).UIDValidity != lf.UIDValidity || fs.flagsVary(side) {
				continue
			}
			rec := make(map[UID]Flags, len(fs.Records))
			for _, r := range fs.Records {
				if r.On(side) {
					rec[r.UID(side)] = r.Flags
				}
			}
			var msgs []Message
			for j, m := range lf.Messages {
				r, ok := rec[m.UID]
				if !ok {
					continue
				}
				if fl := perm.mask(m.Flags, r); !fl.Equal(m.Flags) {
					if msgs == nil {
						msgs = slices.Clone(lf.Messages)
					}
					msgs[j].Flags = fl
				}
			}
			if msgs == nil {
				continue
			}
			if !copied {
				lists[s].Folders = slices.Clone(lists[s].Folders)
				copied = true
				lf = &lists[s].Folders[i]
			}
			lf.Messages = msgs
		}
	}
	return lists, keeps
}

// refusesAny reports whether a folder of side s refuses a flag, by the
// state or by l.
func refusesAny(base State, s Side, l Listing) bool {
	for i := range base.Folders {
		if base.Folders[i].Side(s).Permanent != nil {
			return true
		}
	}
	for i := range l.Folders {
		if l.Folders[i].Permanent != nil {
			return true
		}
	}
	return false
}

// byMailbox returns the folder pair whose side s is mailbox, or nil.
func (s *State) byMailbox(side Side, mailbox string) *FolderState {
	for i := range s.Folders {
		if s.Folders[i].Side(side).Mailbox == mailbox {
			return &s.Folders[i]
		}
	}
	return nil
}
