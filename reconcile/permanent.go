package reconcile

import (
	"slices"
	"sort"
	"strings"
)

// wildcardFlag is PERMANENTFLAGS' `\*`: the folder keeps keywords it
// has not seen yet too (RFC 3501, 7.1).
const wildcardFlag = `\*`

// Permanent is what a folder keeps of the flags mailtwin syncs, in
// Flags' canonical form. The zero value keeps them all (or is not known
// to refuse any). Two kinds of refusal make a folder keep less:
//
//   - Its PERMANENTFLAGS, from a read-write SELECT (NewPermanent): the
//     system flags it lists, and the keywords it lists where it lacks
//     `\*` and so keeps no other keyword. A folder with `\*` is taken to
//     keep every flag, whatever system flags it lists: go-imap's memory
//     server lists only the flags in use beside `\*`, and keeps any.
//   - Flags the server refused outright (Refusing): Dovecot answers an
//     APPEND or a STORE of a keyword longer than 50 characters with NO,
//     though its PERMANENTFLAGS has `\*`. The copy then goes without
//     it (see Outcome.Refused).
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
type Permanent struct {
	// limited marks a folder that keeps the flags in keeps and no
	// other (PERMANENTFLAGS without `\*`); refused is then empty.
	limited bool
	keeps   []string
	// refused, where not limited, holds the flags the folder does not
	// keep of all: those the server refused outright.
	refused []string
}

// NewPermanent canonicalises a folder's PERMANENTFLAGS: the zero
// Permanent where they keep every flag mailtwin syncs (they have `\*`).
func NewPermanent(raw ...string) Permanent {
	if slices.Contains(raw, wildcardFlag) {
		return Permanent{}
	}
	return Permanent{limited: true, keeps: NewFlags(raw...)}
}

// Refusing returns a Permanent that keeps every flag but flags: those
// the server refused outright.
func Refusing(flags ...string) Permanent {
	return Permanent{refused: NewFlags(flags...)}
}

// All reports whether p keeps every flag.
func (p Permanent) All() bool { return !p.limited && len(p.refused) == 0 }

// Limited reports whether p keeps only the flags Kept lists (a folder
// whose PERMANENTFLAGS lack `\*`), as against every flag but those
// Refused lists.
func (p Permanent) Limited() bool { return p.limited }

// Kept is what a limited p keeps.
func (p Permanent) Kept() []string { return p.keeps }

// Refused is what a p that is not limited refuses.
func (p Permanent) Refused() []string { return p.refused }

// Keeps reports whether the folder keeps flag (canonical, as in Flags).
func (p Permanent) Keeps(flag string) bool {
	if p.limited {
		return slices.Contains(p.keeps, flag)
	}
	return !slices.Contains(p.refused, flag)
}

// Intersect returns what both p and q keep: a folder that once refused
// a flag is taken to refuse it still. The records of its copies hold
// that flag where they lack it, and a folder that began to keep it
// would have them read as its user's removals.
func (p Permanent) Intersect(q Permanent) Permanent {
	switch {
	case p.All():
		return q
	case q.All():
		return p
	case !p.limited && !q.limited:
		return Refusing(append(slices.Clone(p.refused), q.refused...)...)
	case !p.limited:
		p, q = q, p
	}
	out := Permanent{limited: true, keeps: []string{}}
	for _, f := range p.keeps {
		if q.Keeps(f) {
			out.keeps = append(out.keeps, f)
		}
	}
	return out
}

// Equal reports whether p and q keep the same flags.
func (p Permanent) Equal(q Permanent) bool {
	return p.limited == q.limited && slices.Equal(p.keeps, q.keeps) && slices.Equal(p.refused, q.refused)
}

// String renders p: a limited p as a state file's permanentflags line
// does (space-separated, "-" when it keeps nothing), one that refuses
// flags outright as "every flag but" them, and "(every flag)" for one
// that keeps all.
func (p Permanent) String() string {
	switch {
	case p.limited && len(p.keeps) == 0:
		return "-"
	case p.limited:
		return strings.Join(p.keeps, " ")
	case len(p.refused) > 0:
		return "every flag but " + strings.Join(p.refused, " ")
	}
	return "(every flag)"
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
// flags of rec, the record's, that p refuses: the copy lacks those
// because a folder dropped them, not because its user removed them. A
// flag the copy lists stays, even one p refuses: it is there, so its
// user set it (where it was moved out of a folder that refused it, say).
func (p Permanent) mask(listed, rec Flags) Flags {
	out := slices.Clone(listed)
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

// maskRefused returns the listings with the flags a copy's folder
// refuses (the state's Permanent of that folder side, and what this
// listing's scan saw) read as a record holds them (see Permanent): the
// record at the copy's UID in its folder, or else a record of that side
// with its identity (the copy was moved in by that side's user, or
// listed after a UIDVALIDITY change): in a folder that refuses flags,
// the first such record, for what either folder refuses; in one that
// keeps them all, the first such record in a folder that refuses some,
// for what that folder refuses: moved out of it, the copy lacks those
// flags for that reason, not its user's. A flag the copy lists stays
// (see mask). A copy no record knows keeps what it lists. The listings
// are not changed: a folder it masks is a copy.
//
// In a folder that keeps every flag only the copies new since the state
// (at or above its UIDNEXT) are looked at: a side none of whose folders
// refuses a flag costs a walk over its folders, and one that has such a
// folder the new copies' lookups, not one per message it holds.
//
// keeps holds, per side and mailbox, what each listed folder that
// refuses flags keeps: the planner stores no flag there that it
// refuses. listed holds, per side, the flags each masked copy listed:
// the planner stores what the merge wants and the copy lacks, where
// its folder keeps it.
func maskRefused(base State, lists [2]Listing) (masked [2]Listing, keeps [2]map[string]Permanent, listed [2]map[copyAt]Flags) {
	for s := range 2 {
		side := Side(s)
		if !refusesAny(base, side, lists[s]) {
			continue
		}
		byMailbox := map[string]*FolderState{}
		for i := range base.Folders {
			if mb := base.Folders[i].Side(side).Mailbox; mb != "" {
				if _, dup := byMailbox[mb]; !dup {
					byMailbox[mb] = &base.Folders[i]
				}
			}
		}
		keeps[s] = map[string]Permanent{}
		listed[s] = map[copyAt]Flags{}
		wide := refusedOutright(base, side)
		for i := range lists[s].Folders {
			lf := &lists[s].Folders[i]
			perm := lf.Permanent.Intersect(wide)
			if fs := byMailbox[lf.Mailbox]; fs != nil {
				perm = fs.Side(side).Permanent.Intersect(perm)
			}
			if !perm.All() {
				keeps[s][lf.Mailbox] = perm
			}
		}
		// By identity, built on first need: every record of the side,
		// and those that hold a flag their folder refuses (the only
		// ones that mask anything in a folder that refuses no more).
		var all, refusing map[Identity]recordFlags
		copied := false
		for i := range lists[s].Folders {
			lf := &lists[s].Folders[i]
			fs := byMailbox[lf.Mailbox]
			perm := keeps[s][lf.Mailbox]
			if len(lf.Messages) == 0 || fs != nil && fs.flagsVary(side) {
				continue
			}
			usable := fs != nil && fs.Side(side).UIDValidity == lf.UIDValidity
			// A folder that refuses only what the side refuses outright,
			// and none of whose records holds such a flag, is read as
			// one that keeps every flag: only its new copies are looked
			// at. Once a side refuses a keyword outright, every folder
			// of it refuses it (refusedOutright), and a walk of every
			// record of each cost a run as much as planning it.
			cheap := usable && !perm.Limited() && !holdsRefused(fs, side, perm)
			var rec map[UID]Flags
			from := 0
			switch {
			case cheap:
				next := fs.Side(side).UIDNext
				from = sort.Search(len(lf.Messages), func(j int) bool { return lf.Messages[j].UID >= next })
			case usable:
				rec = make(map[UID]Flags, len(fs.Records))
				for _, r := range fs.Records {
					if r.On(side) {
						rec[r.UID(side)] = r.Flags
					}
				}
			}
			var msgs []Message
			for j := from; j < len(lf.Messages); j++ {
				m := lf.Messages[j]
				r, ok := rec[m.UID]
				refuses := perm
				if !ok && m.ID != "" {
					var rf recordFlags
					if !perm.All() && !cheap {
						if all == nil {
							all = recordFlagsByID(base, side, keeps[s], wide, false)
						}
						rf, ok = all[m.ID]
					} else {
						if refusing == nil {
							refusing = recordFlagsByID(base, side, keeps[s], wide, true)
						}
						rf, ok = refusing[m.ID]
					}
					r, refuses = rf.flags, perm.Intersect(rf.keeps)
				}
				if !ok || refuses.All() {
					continue
				}
				if fl := refuses.mask(m.Flags, r); !fl.Equal(m.Flags) {
					if msgs == nil {
						msgs = slices.Clone(lf.Messages)
					}
					msgs[j].Flags = fl
					listed[s][copyAt{lf.Mailbox, m.UID}] = m.Flags
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
	return lists, keeps, listed
}

// copyAt is a copy of a message, by mailbox and UID, on a side known
// from context.
type copyAt struct {
	mailbox string
	uid     UID
}

// recordFlags is a record's flags, and what its folder keeps on the
// side it was looked up for.
type recordFlags struct {
	flags Flags
	keeps Permanent
}

// recordFlagsByID returns, by identity, the first record of base (in
// folder order, then record order) with a copy on side s, with what its
// folder keeps there: keeps's, by mailbox, for a folder listed now (the
// state's and the listing's together), else the state's with wide, what
// the side refuses outright. With onlyRefusing, only the records that
// hold a flag their folder refuses: looked up from a folder that
// refuses nothing but what those folders refuse, no other record
// masks a flag.
func recordFlagsByID(base State, s Side, keeps map[string]Permanent, wide Permanent, onlyRefusing bool) map[Identity]recordFlags {
	out := map[Identity]recordFlags{}
	for i := range base.Folders {
		f := &base.Folders[i]
		perm, ok := keeps[f.Side(s).Mailbox]
		if !ok {
			perm = f.Side(s).Permanent.Intersect(wide)
		}
		if onlyRefusing && perm.All() {
			continue
		}
		for _, r := range f.Records {
			if onlyRefusing && !holdsAnyRefused(r.Flags, perm) {
				continue
			}
			if _, seen := out[r.ID]; !seen && r.UID(s) != 0 {
				out[r.ID] = recordFlags{r.Flags, perm}
			}
		}
	}
	return out
}

// holdsRefused reports whether a record of f with a copy on side s
// holds a flag p refuses.
func holdsRefused(f *FolderState, s Side, p Permanent) bool {
	if p.All() {
		return false
	}
	for _, r := range f.Records {
		if r.On(s) && holdsAnyRefused(r.Flags, p) {
			return true
		}
	}
	return false
}

// holdsAnyRefused reports whether fl holds a flag p refuses.
func holdsAnyRefused(fl Flags, p Permanent) bool {
	for _, f := range fl {
		if !p.Keeps(f) {
			return true
		}
	}
	return false
}

// refusedOutright returns what side s refuses outright (Refusing), in
// any folder of base: a server that refuses a keyword outright does so
// in every folder (Dovecot's limit on its length is the server's), and
// each folder learns it only where a copy or a STORE carried it there.
// A copy the side's user, or the run, moves into a folder that has not
// learned it lacks it all the same; read as a removal, the record would
// lose a keyword that the other side may not hold either.
func refusedOutright(base State, s Side) Permanent {
	var out Permanent
	for i := range base.Folders {
		if p := base.Folders[i].Side(s).Permanent; !p.Limited() && !p.All() {
			out = out.Intersect(p)
		}
	}
	return out
}

// refusesAny reports whether a folder of side s refuses a flag, by the
// state or by l.
func refusesAny(base State, s Side, l Listing) bool {
	for i := range base.Folders {
		if !base.Folders[i].Side(s).Permanent.All() {
			return true
		}
	}
	for i := range l.Folders {
		if !l.Folders[i].Permanent.All() {
			return true
		}
	}
	return false
}
