package reconcile

import (
	"cmp"
	"context"
	"slices"
	"strings"
)

// ScanPointAdvancer is a Mailstore that can move a folder's scan point
// past a run's own changes: a run that appended to a folder would
// otherwise read those messages again on its next run, since they came
// after the listing's point.
//
// It reads the folders the run changed (ObserveScanPoints); whether a
// point may move is the observation's Advance, decided by the run.
type ScanPointAdvancer interface {
	// ObserveScanPoints reads each folder of reqs as it is now: its
	// UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and message count, and every
	// message changed since the request's Since (every message when
	// its HighestModSeq is 0), with its flags. The reads go together,
	// one round trip for them all. An observation comes back for each
	// request, in order; one the server could not give (no CONDSTORE,
	// a folder it refused to open) is not Usable. The error is the
	// connection's, for all of them.
	ObserveScanPoints(ctx context.Context, reqs []ScanPointRequest) ([]ScanPointObservation, error)
}

// CheckAheadAdvancer is a ScanPointAdvancer that can read a folder's
// point in the round trip that ends a ChangeBatcher call's changes,
// instead of in round trips of its own after them: on a near server,
// where the check of each folder follows its changes, that is two
// round trips less per folder.
type CheckAheadAdvancer interface {
	ScanPointAdvancer
	// ExpectCheck announces that ObserveScanPoints of r alone follows
	// the next ChangeMessages on r.Mailbox, with nothing else sent on
	// the store between them, and that the run changes the mailbox on
	// no other connection from the moment that call starts: whatever
	// else the run does there is done before. The store may then read
	// the point with the changes' last answers, and answer the
	// ObserveScanPoints from what it read. Where any of that does not
	// hold as announced, ObserveScanPoints reads the folder as it
	// would without.
	ExpectCheck(r ScanPointRequest)
}

// ScanPointRequest asks ObserveScanPoints for Mailbox, read from Since's
// point.
type ScanPointRequest struct {
	Mailbox string
	Since   Known
}

// ScanPointObservation is a folder as ObserveScanPoint read it after a
// run's changes.
type ScanPointObservation struct {
	// Usable is false where the folder could not be read as needed
	// (no CONDSTORE, a message answered without its flags): no point
	// then moves.
	Usable bool
	// Since is the point changes were read from: only its
	// HighestModSeq counts.
	Since         Known
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq uint64
	NumMessages   int
	// Changed holds every message changed since Since's HighestModSeq
	// (every message when that is 0), with its flags.
	Changed []Message
}

// Advance decides, for a folder side whose records after the run are
// k.Messages (every message the run left there, with its flags) and
// whose point is k's, whether the run's own changes are all that
// changed it since k's point; ok reports that they are, with the
// folder's UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ as observed as the
// new point (its Messages left nil). A k with no UIDVALIDITY (a folder
// the run created and put nothing in) takes the folder's; a k without
// a point must hold exactly the folder's messages.
//
// That is so when the folder holds as many messages as k, and every
// message changed since k's point is one of k's with k's flags (with
// any flags, where k.FlagsVary); a
// message the run added has a mod-sequence above k's point, so it must
// be among them (without a point, every message must be).
func (o *ScanPointObservation) Advance(k Known) (point Known, ok bool) {
	switch {
	case !o.Usable,
		k.UIDValidity == 0 && k.HighestModSeq != 0,
		o.Since.HighestModSeq != 0 && o.Since.HighestModSeq != k.HighestModSeq,
		k.UIDValidity != 0 && o.UIDValidity != k.UIDValidity,
		o.HighestModSeq == 0,
		o.NumMessages != len(k.Messages):
		return Known{}, false
	}
	// The maps are as large as what changed, not as the folder: a run's
	// end makes one Advance per folder side it changed, each over all
	// of the side's messages.
	changed := make(map[UID]bool, len(o.Changed))
	for _, m := range o.Changed {
		changed[m.UID] = true
	}
	want := make(map[UID]Flags, len(o.Changed))
	for _, m := range k.Messages {
		switch {
		case changed[m.UID]:
			want[m.UID] = m.Flags
		case k.HighestModSeq == 0 || m.UID >= k.UIDNext:
			return Known{}, false // should have changed, and did not
		}
	}
	for _, m := range o.Changed {
		fl, known := want[m.UID]
		if !known || !k.FlagsVary && !fl.Equal(k.Permanent.mask(m.Flags, fl)) {
			return Known{}, false // changed by someone else
		}
	}
	return Known{UIDValidity: o.UIDValidity, UIDNext: o.UIDNext, HighestModSeq: o.HighestModSeq}, true
}

// setScanPoints decides, for each folder of st and each side, whether the
// next run may scan it from this run's listing on (SideState's
// HighestModSeq and UIDNext; see Known), and sets or clears the point.
//
// The next run takes the records as that side's messages below UIDNext,
// with the records' flags, and reads only what changed after the
// listing's mod-sequence. That is right only where this run leaves every
// message it listed there either removed by a successful action, or
// recorded under its UID with the flags it was listed with (on the
// target of a folder kept one way, with any flags: the records hold the
// source's, and the target's own only ever meet the source's changes,
// which a Store adds or removes over whatever the target has; see
// FolderState.Direction); a message
// whose flags a successful STORE changed is read again anyway (the STORE
// gave it a newer mod-sequence), and so are the messages this run added
// (their UIDs are at or above the listed UIDNEXT). A record under a listed
// UID the listing did not have, a failed action on the folder, a folder
// renamed or created by this run, or one not scanned: no point, and the
// next run reads the folder whole.
//
// exact holds, by name, the folder pairs of st that Next carried over as
// they are with nothing added (see planner.unchanged): their records are
// exactly the messages each side listed, with the listed flags, so where
// no action touched them the condition holds without a walk over the
// messages.
func setScanPoints(p *Plan, outcomes []Outcome, st *State, exact map[string]*draftFolder) {
	type key struct {
		side    Side
		mailbox string
	}
	failed := map[key]bool{}
	removed := map[key]map[UID]bool{}
	stored := map[key]map[UID]bool{}
	mark := func(m map[key]map[UID]bool, k key, u UID) {
		if m[k] == nil {
			m[k] = map[UID]bool{}
		}
		m[k][u] = true
	}
	for i := range p.Actions {
		a := &p.Actions[i]
		var err error = ErrNotRun
		if i < len(outcomes) {
			err = outcomes[i].Err
		}
		k := key{a.Side, a.Mailbox}
		if err != nil {
			failed[k] = true
			if a.Dest != "" {
				failed[key{a.Side, a.Dest}] = true
			}
			continue
		}
		switch a.Op {
		case Expunge, Move:
			mark(removed, k, a.UID)
		case Store:
			mark(stored, k, a.UID)
		}
	}
	var scratch []uidRecord
	for i := range st.Folders {
		f := &st.Folders[i]
		for s := range 2 {
			side := Side(s)
			ss := f.Side(side)
			if ss.Mailbox == "" {
				continue
			}
			k := key{side, ss.Mailbox}
			l := listed(p.lists[s], ss.Mailbox)
			holds := false
			if d := exact[f.Name]; d != nil && l != nil && l == d.from[s] && removed[k] == nil && stored[k] == nil {
				holds = scanPointUsable(f, side, l)
			} else if l != nil {
				holds = scanPointHolds(f, side, l, removed[k], stored[k], &scratch)
			}
			if failed[k] || !holds || unknownOn(f, side) {
				ss.HighestModSeq = 0
				continue
			}
			ss.UIDNext, ss.HighestModSeq = l.UIDNext, l.HighestModSeq
		}
	}
}

// listed returns the folder l lists as mailbox, or nil.
func listed(l *Listing, mailbox string) *Folder {
	if l == nil {
		return nil
	}
	// Listing.Folders is sorted by Mailbox; search a listing that is
	// not through.
	if i, ok := slices.BinarySearchFunc(l.Folders, mailbox, func(f Folder, mb string) int { return strings.Compare(f.Mailbox, mb) }); ok {
		return &l.Folders[i]
	}
	for i := range l.Folders {
		if l.Folders[i].Mailbox == mailbox {
			return &l.Folders[i]
		}
	}
	return nil
}

// scanPointHolds checks setScanPoints' condition for folder f on side s,
// which listed as l. scratch is reused between calls.
//
// A listing sorted by UID, as Mailstore.List and Scan give it, is walked
// beside the records sorted by UID: no map, and no sort where the
// records come in UID order, as they do on side A and mostly on B.
// Any other listing goes through scanPointHoldsMaps, the reference.
func scanPointHolds(f *FolderState, s Side, l *Folder, removed, stored map[UID]bool, scratch *[]uidRecord) bool {
	if !scanPointUsable(f, s, l) {
		return false
	}
	vary := f.flagsVary(s)
	msgs := l.Messages
	for i := 1; i < len(msgs); i++ {
		if msgs[i].UID <= msgs[i-1].UID {
			return scanPointHoldsMaps(f, s, l, removed, stored)
		}
	}
	rs := (*scratch)[:0]
	for i := range f.Records {
		if u := f.Records[i].UID(s); u != 0 {
			rs = append(rs, uidRecord{u, &f.Records[i]})
		}
	}
	*scratch = rs
	byUID := func(x, y uidRecord) int { return cmp.Compare(x.uid, y.uid) }
	if !slices.IsSortedFunc(rs, byUID) {
		// Stable: of records under one UID the last counts, as in a map
		// filled in record order.
		slices.SortStableFunc(rs, byUID)
	}
	i := 0
	for _, m := range msgs {
		for i < len(rs) && rs[i].uid < m.UID {
			if rs[i].uid < l.UIDNext {
				return false // recorded below UIDNEXT, and not listed
			}
			i++
		}
		var r *Record
		for i < len(rs) && rs[i].uid == m.UID {
			r = rs[i].rec
			i++
		}
		if removed[m.UID] {
			continue
		}
		if r == nil || !stored[m.UID] && !vary && !r.Flags.Equal(m.Flags) {
			return false
		}
	}
	for ; i < len(rs); i++ {
		if rs[i].uid < l.UIDNext {
			return false
		}
	}
	return true
}

// unknownOn reports whether a record of f has UnknownUID on side s: a
// copy the next run must look for by identity, so the folder is read
// whole even where nothing changes in it meanwhile.
func unknownOn(f *FolderState, s Side) bool {
	for i := range f.Records {
		if f.Records[i].UID(s) == UnknownUID {
			return true
		}
	}
	return false
}

// scanPointUsable checks the part of setScanPoints' condition that does
// not look at the messages: the listing of side s has a point to scan
// from, under the UIDVALIDITY f records, and was scanned.
func scanPointUsable(f *FolderState, s Side, l *Folder) bool {
	if l.HighestModSeq == 0 || l.UIDNext == 0 || l.UIDValidity == 0 || l.UIDValidity != f.Side(s).UIDValidity {
		return false
	}
	return l.Messages != nil || l.NumMessages <= 0 // else not scanned
}

// uidRecord is a record under its UID on one side.
type uidRecord struct {
	uid UID
	rec *Record
}

// scanPointHoldsMaps is scanPointHolds by maps, for a listing in any
// order.
func scanPointHoldsMaps(f *FolderState, s Side, l *Folder, removed, stored map[UID]bool) bool {
	if !scanPointUsable(f, s, l) {
		return false
	}
	vary := f.flagsVary(s)
	recs := make(map[UID]*Record, len(f.Records))
	for i := range f.Records {
		if u := f.Records[i].UID(s); u != 0 {
			recs[u] = &f.Records[i]
		}
	}
	inListing := make(map[UID]bool, len(l.Messages))
	for _, m := range l.Messages {
		inListing[m.UID] = true
		if removed[m.UID] {
			continue
		}
		r := recs[m.UID]
		if r == nil || !stored[m.UID] && !vary && !r.Flags.Equal(m.Flags) {
			return false
		}
	}
	for u := range recs {
		if u < l.UIDNext && !inListing[u] {
			return false
		}
	}
	return true
}
