package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// renamed is what a folder pair of the plan knows of a rename: the base
// folder it continues under a new logical name.
type renamed struct {
	// from is the base folder's logical name before the rename.
	from string
	// orig is the base folder as the state had it.
	orig *FolderState
	// chain is, per side, the RenameFolder actions of this plan that
	// move the folder there, in order (an ancestor's, its own); when one
	// fails, the folder stays where the ones before it left it, and
	// under the name that gives it.
	chain [2][]*Action
	// oldMailbox and lname are, per side, the mailbox and its logical
	// name before this plan's renames.
	oldMailbox, lname [2]string
	// revive marks the side where the folder was deleted while the other
	// side renamed it: it is made again there under the new name, with
	// the other side's messages.
	revive [2]bool
	// deleted marks the side where the folder was deleted while the other
	// side renamed it, made again there or not (revive): the folder
	// pair's base has the renaming side's records only, and the deleting
	// side's are orig's.
	deleted [2]bool
	// keptAt is, per side revived, the mailbox that side lists the base
	// folder's as, under another name (its user's rename, which a one-way
	// pair does not follow: case 147): it is recorded apart, as that
	// side's new folder.
	keptAt [2]string
}

// movedAlong is a listed mailbox that this plan's RENAMEs move, as a
// folder under a renamed one, for Next: a folder no rename was found
// for (one new since the base) has no renamed, and where one of chain
// fails it stays where the ones before it left it.
type movedAlong struct {
	// oldMailbox and lname are the mailbox and its logical name before
	// this plan's renames.
	oldMailbox, lname string
	// chain is the RENAMEs that move it, in order.
	chain []*Action
}

// found is a rename the user made on one side.
type found struct {
	to string // the new logical name
	// implied marks a folder that followed its parent's rename.
	implied bool
	// sameUV marks a folder found by its own UIDVALIDITY: the very
	// mailbox, renamed, not one made since and filled with its messages.
	sameUV bool
	// own marks an implied rename whose new name is not the one its
	// logical parent's rename gives: its mailbox went with the parent,
	// but under a name of its own, the rename of it this side's user
	// made and a failed RENAME left undone on the other side.
	own bool
}

// renames finds the folders the user renamed on either side since the
// base, plans the RenameFolder actions that repeat them on the other
// side, and returns the base with those folders under their new names,
// so the folder pairs that follow see one folder, not a deleted one and
// a new one. The listings of the sides that rename are rewritten to the
// names their folders have once the renames ran (they run first).
//
// A rename is a base folder gone by name from a side, and a new folder
// on that side that is evidently the same mailbox: the same UIDVALIDITY
// with no UID that contradicts the base, or most of the base's messages
// by identity. Folders under a renamed folder follow it.
func (pl *planner) renames(base State) (State, error) {
	rr := newRenamer(pl, base)
	rr.decide()
	rr.settleNames()
	out, acts, err := rr.rekey()
	if err != nil {
		return base, err
	}
	acts = rr.sequence(acts)
	out = rr.carryAlong(out)
	for s := range 2 {
		for orig, chain := range rr.chain[s] {
			if len(chain) == 0 {
				continue
			}
			if pl.plan.along[s] == nil {
				pl.plan.along[s] = map[string]*movedAlong{}
			}
			pl.plan.along[s][rr.cur[s][orig]] = &movedAlong{oldMailbox: orig, lname: pl.names.logicalOf(Side(s), orig), chain: chain}
		}
	}
	pl.acts = append(pl.acts, acts...)
	sort.Slice(out.Folders, func(i, j int) bool { return out.Folders[i].Name < out.Folders[j].Name })
	if err := rr.rewriteListings(); err != nil {
		return base, err
	}
	return out, nil
}

// keptElsewhere returns the mailbox under which side s lists base folder
// f's mailbox by its UIDVALIDITY, under another name (s's user renamed
// it), or "" if it does not; of several, the first by name, so that the
// plan does not depend on the order of a map.
func (rr *renamer) keptElsewhere(f *FolderState, s Side) string {
	kept := ""
	for _, l := range rr.listed[s] {
		if score, ok := sameMailbox(f, s, l, rr.pl.knownToBase, false); ok && score >= uidValidityScore && (kept == "" || l.Mailbox < kept) {
			kept = l.Mailbox
		}
	}
	return kept
}

// decision is how a base folder was renamed.
type decision struct {
	f *FolderState
	// both: renamed on both sides; s is then the side whose name wins,
	// else the side that renamed.
	both bool
	s    Side
	raw  [2]string // the new name in each side's listing
	to   string    // the new name once this plan's renames ran
	// sameUV: side s's folder is the base's mailbox by its UIDVALIDITY
	// (found.sameUV).
	sameUV bool
}

// renamer holds the working data of planner.renames.
type renamer struct {
	pl     *planner
	base   State
	byName map[string]*FolderState
	// listed is each side's listed folders by logical name.
	listed [2]map[string]*Folder
	found  [2]map[string]found
	// newNames is, per side, the listed folders the base does not know.
	newNames [2][]string
	decs     []*decision
	// decided is the decision for each base folder renamed.
	decided map[*FolderState]*decision
	// cur is, per side, the name each listed mailbox has once this
	// plan's renames ran; chain the renames that move it, in order.
	cur   [2]map[string]string
	chain [2]map[string][]*Action
	// lren is, per side, the renames this plan makes there, by logical
	// name, in order (see follow).
	lren [2][][2]string
	// named holds the new names given.
	named map[string]bool
}

func newRenamer(pl *planner, base State) *renamer {
	rr := &renamer{pl: pl, base: base, byName: map[string]*FolderState{}, decided: map[*FolderState]*decision{}, named: map[string]bool{}}
	for i := range base.Folders {
		rr.byName[base.Folders[i].Name] = &base.Folders[i]
	}
	links := len(pl.plan.links)
	for s := range 2 {
		rr.listed[s] = map[string]*Folder{}
		rr.cur[s] = map[string]string{}
		rr.chain[s] = map[string][]*Action{}
		var newNames []string
		for i := range pl.lists[s].Folders {
			f := &pl.lists[s].Folders[i]
			rr.cur[s][f.Mailbox] = f.Mailbox
			if l := pl.names.logicalOf(Side(s), f.Mailbox); l != "" {
				rr.listed[s][l] = f
				if rr.byName[l] == nil {
					newNames = append(newNames, l)
				}
			}
		}
		sort.Strings(newNames)
		rr.newNames[s] = newNames
		rr.found[s] = pl.findRenames(Side(s), base, rr.byName, rr.listed[s], newNames, nil)
	}
	// Once more, each side knowing what the other's search found: a
	// folder the other side renamed is there still, as one it lists
	// (renameSearch.onOther). Both from the first round's findings, so
	// that neither side's search comes first.
	if len(rr.found[A]) > 0 || len(rr.found[B]) > 0 {
		pl.plan.links = pl.plan.links[:links]
		var again [2]map[string]found
		for s := range 2 {
			again[s] = pl.findRenames(Side(s), base, rr.byName, rr.listed[s], rr.newNames[s], rr.found[1-s])
		}
		rr.found = again
	}
	return rr
}

// follow gives a folder's logical name on side s once the renames this
// plan makes there ran.
func (rr *renamer) follow(s Side, name string) string {
	for _, r := range rr.lren[s] {
		if name == r[0] {
			name = r[1]
		} else if rest, ok := strings.CutPrefix(name, r[0]+"/"); ok {
			name = r[1] + "/" + rest
		}
	}
	return name
}

// decide settles which base folders were renamed, and how, from the
// renames found on each side.
func (rr *renamer) decide() {
	listed := rr.listed
	targets := map[string]bool{}
	dropped := map[string]bool{}
	for i := range rr.base.Folders {
		f := &rr.base.Folders[i]
		var r [2]found
		var ok [2]bool
		for s := range 2 {
			r[s], ok[s] = rr.found[s][f.Name]
		}
		// Renamed with its parent on one side and then deleted there,
		// renamed on its own on the other: a deletion against a rename,
		// and the rename wins (change beats delete). So does one that
		// went with its parent there under a name of its own, which a
		// failed RENAME left undone (found.own; TestModelMovesIntoTheTrash
		// seed 130803: read as renamed on both sides, the deleting side's
		// name won by prefer, and the other's messages were trashed).
		// Deleted after its parent's rename on both sides: gone.
		gone := func(s int) bool { return r[s].implied && listed[s][r[s].to] == nil }
		if ok[A] && ok[B] && gone(0) && gone(1) {
			ok[A], ok[B] = false, false
		}
		for s := range 2 {
			if ok[s] && ok[1-s] && gone(s) && (!r[1-s].implied || r[1-s].own) {
				ok[s] = false
			}
		}
		for s := range 2 {
			o := Side(s).Other()
			// A one-way target's renames are not looked for (they are
			// not followed), but where the target's user renamed the
			// folder to the very name the source's user did, it is there
			// already: renamed on both sides, the base's records carry
			// over, its one-sided ones too. Read as a folder new on both
			// sides instead, a message the target's user had expunged
			// was copied to it again.
			// So is a folder that went with its parent on s, where the
			// parent was renamed alike on both sides, and o lists the
			// folder under the parent's new name too: it went along there
			// as well, by RENAME or by copy, as a child follows its
			// parent's new name both ways (findRenames). An empty folder
			// has no messages to tell it by; read as another folder of
			// o's, the child was not a rename, nor anything under it,
			// and the base's one-sided records there were copied to the
			// target again (TestModelMovesAndRenamesOneWay -movemodel.resets
			// -movemodel.alike seed 119190).
			if ok[s] && !ok[o] && !rr.pl.policy.For(r[s].to).Direction.Flows(o) {
				if lf := listed[o][r[s].to]; lf != nil && rr.byName[r[s].to] == nil {
					score, same := sameMailbox(f, o, lf, rr.pl.knownToBase, false)
					if same || r[s].implied && rr.underRenamedAlike(f, o, r[s].to) {
						r[o], ok[o] = found{to: r[s].to, implied: !same, sameUV: score >= uidValidityScore}, true
					}
				}
			}
		}
		// A name two renames lead to, or a parent's rename dropped: not a
		// rename after all. Then the new name taken on the other side by
		// another folder (not this one renamed alike there): not a rename
		// either. In that order, so that which side is A does not matter:
		// checked together in one pass over A, then B, A's rename stood
		// where B's, to the same name, still did, and B's then went with
		// its dropped parent, leaving A's rename onto a name B lists as
		// another folder (testdata case 217).
		for s := range 2 {
			if ok[s] && (r[s].implied && dropped[parentName(f.Name)] || targets[r[s].to]) {
				ok[s] = false
			}
		}
		taken := [2]bool{}
		for s := range 2 {
			o := Side(s).Other()
			taken[s] = ok[s] && listed[o][r[s].to] != nil && !(ok[o] && r[o].to == r[s].to)
		}
		for s := range 2 {
			ok[s] = ok[s] && !taken[s]
		}
		if !ok[A] && !ok[B] {
			if rr.found[A][f.Name] != (found{}) || rr.found[B][f.Name] != (found{}) {
				dropped[f.Name] = true
			}
			continue
		}
		d := &decision{f: f, raw: [2]string{r[A].to, r[B].to}}
		switch {
		case ok[A] && ok[B]:
			d.both, d.s = true, rr.pl.policy.Prefer
		case ok[B]:
			d.s = B
		}
		d.to = d.raw[d.s]
		d.sameUV = r[d.s].sameUV
		targets[d.to] = true
		rr.decs = append(rr.decs, d)
		rr.decided[f] = d
	}
}

// underRenamedAlike reports whether base folder f's nearest base
// ancestor was found renamed on both sides, on side o to a name under
// which f's tail is name.
func (rr *renamer) underRenamedAlike(f *FolderState, o Side, name string) bool {
	for anc := parentName(f.Name); anc != ""; anc = parentName(anc) {
		a := rr.byName[anc]
		if a == nil {
			continue
		}
		d := rr.decided[a]
		return d != nil && d.both && d.raw[o] != "" && d.raw[o]+f.Name[len(anc):] == name
	}
	return false
}

// settleNames gives each rename its final name: a folder renamed on a
// side lands under the name it has there once the renames this plan
// makes on that side ran (its parent renamed there too, by another
// decision); those renames land under such names themselves, so it
// repeats until nothing moves. Renames that chase each other (A moved Q
// under P while B moved P under Q) have no names to settle on, and two
// renames may end on one name: those are not renames then, but folders
// deleted and made, which loses nothing.
func (rr *renamer) settleNames() {
	resolve := func() (moving []*decision) {
		for _, d := range rr.decs {
			d.to = d.raw[d.s]
		}
		for range 8 {
			rr.lren = [2][][2]string{}
			for _, d := range rr.decs {
				o := d.s.Other()
				switch {
				case d.both && d.raw[o] != d.to:
					rr.lren[o] = append(rr.lren[o], [2]string{rr.follow(o, d.raw[o]), d.to})
				case !d.both && rr.listed[o][d.f.Name] != nil:
					rr.lren[o] = append(rr.lren[o], [2]string{rr.follow(o, d.f.Name), d.to})
				}
			}
			moving = nil
			for _, d := range rr.decs {
				if t := rr.follow(d.s, d.raw[d.s]); t != d.to {
					d.to = t
					moving = append(moving, d)
				}
			}
			if moving == nil {
				return nil
			}
		}
		return moving
	}
	for {
		drop := map[*decision]bool{}
		for _, d := range resolve() {
			drop[d] = true
		}
		if len(drop) == 0 {
			count := map[string]int{}
			for _, d := range rr.decs {
				count[d.to]++
			}
			for _, d := range rr.decs {
				if count[d.to] > 1 || rr.carriedOnto(d) {
					drop[d] = true
				}
			}
		}
		if len(drop) == 0 {
			return
		}
		for d := range drop {
			delete(rr.decided, d.f)
		}
		rr.decs = slices.DeleteFunc(rr.decs, func(x *decision) bool { return drop[x] })
	}
}

// carriedOnto reports whether another folder listed on the side that
// repeats decision d's rename lands on d's new name there, carried by a
// rename of this plan above it (TestModelMovesAndRenames seed 2196914:
// b's user renamed R7 by copy, taking the empty R7/F9 to R13/F9, after
// moving into it the one message of F1/R8, which b's user then deleted;
// F1/R8 read as renamed to R13/F9 by that message, and its RENAME on a
// found R13/F9 there already, where the RENAME of R7 had taken a's
// R7/F9). Two folders on one name: not a rename after all.
func (rr *renamer) carriedOnto(d *decision) bool {
	o := d.s.Other()
	own := d.f.Name
	if d.both {
		own = d.raw[o]
	}
	for n := range rr.listed[o] {
		if n != own && n != d.to && rr.follow(o, n) == d.to {
			return true
		}
	}
	return false
}

// rekey returns the renamed base folders under their new names, and the
// RenameFolder actions that repeat the renames (sources as listed).
func (rr *renamer) rekey() (State, []*Action, error) {
	nm, listed := rr.pl.names, rr.listed
	var acts []*Action
	rr.pl.renamed = map[string]*renamed{}
	out := State{Folders: make([]FolderState, 0, len(rr.base.Folders))}
	for i := range rr.base.Folders {
		f := &rr.base.Folders[i]
		d := rr.decided[f]
		if d == nil {
			continue
		}
		rn := &renamed{from: f.Name, orig: f}
		nf := *f
		o := d.s.Other()
		switch {
		case d.both:
			// (A child deleted after its parent's rename on the losing
			// side has nothing to rename there.)
			if lf := listed[o][d.raw[o]]; d.raw[A] != d.raw[B] && lf != nil {
				dest, err := nm.mailboxFor(o, d.to)
				if err != nil {
					return rr.base, nil, err
				}
				acts = append(acts, &Action{Op: RenameFolder, Side: o, Folder: d.to, Mailbox: lf.Mailbox, Dest: dest, Reason: ReasonRenameConflict,
					rareFields: &actionRare{renFrom: d.raw[o], renTo: d.to}})
				rr.pl.plan.Conflicts = append(rr.pl.plan.Conflicts, fmt.Sprintf("folder %q renamed to %q on %s and to %q on %s: %s wins (prefer), renamed to %q on %s too",
					f.Name, d.raw[d.s], d.s, d.raw[o], o, d.s, d.to, o))
			}
		case listed[o][f.Name] != nil:
			dest, err := nm.mailboxFor(o, d.to)
			if err != nil {
				if ne, isNE := err.(*NamingError); isNE {
					ne.Side, ne.Mailbox = d.s, listed[d.s][d.raw[d.s]].Mailbox
				}
				return rr.base, nil, err
			}
			acts = append(acts, &Action{Op: RenameFolder, Side: o, Folder: d.to, Mailbox: listed[o][f.Name].Mailbox, Dest: dest, Reason: ReasonRenamed,
				rareFields: &actionRare{renFrom: f.Name, renTo: d.to}})
		case f.Side(o).Mailbox != "":
			// Renamed on s, deleted on o: made again on o under the new
			// name, with s's messages (change beats delete). Not where
			// o is the target of a one-way pair and s's folder is the
			// base's mailbox by its UIDVALIDITY: what the target's user
			// did stays (DESIGN.md), and no run deleted o's folder to
			// follow s (s did not delete it), so o's user did. The
			// folder stays deleted on o, under its new name. Found by
			// its messages only, s's folder may be one made since and
			// refilled, after s deleted the base's, which a run cut
			// short followed on o: then it is made again, as in a
			// two-way pair, and nothing is lost.
			// (Where o's user renamed it, which a one-way pair does not
			// follow, o's folder is there under another name: it is made
			// again, empty, for s's mail to come; case 147.)
			dir := rr.pl.policy.For(d.to).Direction
			rn.keptAt[o] = rr.keptElsewhere(f, o)
			rn.revive[o] = !(d.sameUV && dir.Flows(d.s) && !dir.Flows(o) && rn.keptAt[o] == "")
			rn.deleted[o] = true
			*nf.Side(o) = SideState{}
			nf.Records = nil
			for _, rec := range f.Records {
				rec.setUID(o, 0)
				if rec.UID(d.s) != 0 {
					nf.Records = append(nf.Records, rec)
				}
			}
		}
		for s := range 2 {
			// The folder as listed on s: under its new name where the
			// user renamed it there, else under the base's.
			lf := listed[s][f.Name]
			if d.both || Side(s) == d.s {
				lf = listed[s][d.raw[s]]
			}
			if lf != nil {
				rn.oldMailbox[s] = lf.Mailbox
				rn.lname[s] = nm.logicalOf(Side(s), lf.Mailbox)
			}
		}
		nf.Name = d.to
		rr.named[d.to] = true
		rr.pl.renamed[d.to] = rn
		out.Folders = append(out.Folders, nf)
	}
	return out, acts, nil
}

// sequence puts the RENAMEs in an order the servers can carry out and
// gives each the source its folder has once the ones before it ran;
// cur and chain follow every listed mailbox through them. A RENAME left
// with nothing to do (its folder moved there with a parent) goes.
func (rr *renamer) sequence(acts []*Action) []*Action {
	acts = orderRenames(acts, rr.pl.names.delim)
	kept := acts[:0]
	for _, a := range acts {
		sd := a.Side
		d := string(rr.pl.names.delim[sd])
		a.Mailbox = rr.cur[sd][a.Mailbox]
		for _, x := range kept {
			if x.Side == sd && strings.HasPrefix(a.rare().renFrom+"/", x.rare().renFrom+"/") {
				a.rareToSet().renFrom = x.rare().renTo + a.rare().renFrom[len(x.rare().renFrom):]
			}
		}
		if a.Mailbox == a.Dest {
			continue
		}
		for orig, c := range rr.cur[sd] {
			if c == a.Mailbox || (d != "" && strings.HasPrefix(c, a.Mailbox+d)) {
				rr.cur[sd][orig] = a.Dest + c[len(a.Mailbox):]
				rr.chain[sd][orig] = append(rr.chain[sd][orig], a)
			}
		}
		kept = append(kept, a)
	}
	for _, rn := range rr.pl.renamed {
		for s := range 2 {
			rn.chain[s] = rr.chain[s][rn.oldMailbox[s]]
		}
	}
	return kept
}

// carryAlong adds the base folders no rename was decided for to out: a
// folder under one renamed on a side (one the other side deleted, say)
// moves along there, the rest keep their names.
func (rr *renamer) carryAlong(out State) State {
	for i := range rr.base.Folders {
		f := &rr.base.Folders[i]
		if rr.decided[f] != nil {
			continue
		}
		nf := *f
		for s := range 2 {
			lf := rr.listed[s][f.Name]
			if lf == nil || rr.cur[s][lf.Mailbox] == lf.Mailbox {
				continue
			}
			if n := rr.follow(Side(s), f.Name); n != f.Name && !rr.named[n] && rr.listed[Side(s).Other()][n] == nil {
				rn := &renamed{from: f.Name, orig: f}
				rn.oldMailbox[s] = lf.Mailbox
				rn.lname[s] = f.Name
				rn.chain[s] = rr.chain[s][lf.Mailbox]
				nf.Name = n
				rr.named[n] = true
				rr.pl.renamed[n] = rn
			}
			break
		}
		out.Folders = append(out.Folders, nf)
	}
	return out
}

// rewriteListings shows the sides that rename their folders under the
// new names, and names them again.
func (rr *renamer) rewriteListings() error {
	pl := rr.pl
	changed := false
	for s := range 2 {
		if len(rr.chain[s]) == 0 {
			continue
		}
		changed = true
		l := *pl.lists[s]
		l.Folders = append([]Folder(nil), l.Folders...)
		for i := range l.Folders {
			l.Folders[i].Mailbox = rr.cur[s][l.Folders[i].Mailbox]
		}
		sort.Slice(l.Folders, func(i, j int) bool { return l.Folders[i].Mailbox < l.Folders[j].Mailbox })
		pl.lists[s] = &l
	}
	if !changed {
		return nil
	}
	var err error
	pl.names, err = newNamer(pl.policy.Naming, pl.lists)
	return err
}

// movedWithParent returns a test of whether listed folder l of side s is
// where the server's RENAME of a parent mailbox took base folder f's
// mailbox on s (RFC 3501: a RENAME moves the names under it too): f's
// mailbox there is P, its delimiter, and a tail; l's is Q, the delimiter
// and the same tail; and Q is listed with the UIDVALIDITY the base
// records for the folder whose mailbox on s is P, so Q is P renamed. A
// folder's mailbox sits under another folder's without its logical name
// doing so where a RENAME failed on that side (the state keeps the
// folder's old logical name with the mailbox it has there).
func (pl *planner) movedWithParent(s Side, base State) func(f *FolderState, l *Folder) bool {
	d := pl.lists[s].Delim
	if d == 0 {
		return func(*FolderState, *Folder) bool { return false }
	}
	var byMailbox map[string]*FolderState
	var listed map[string]*Folder
	return func(f *FolderState, l *Folder) bool {
		m := f.Side(s).Mailbox
		if l == nil || m == "" || l.Mailbox == m || !strings.ContainsRune(m, d) {
			return false
		}
		if byMailbox == nil {
			byMailbox, listed = map[string]*FolderState{}, map[string]*Folder{}
			for i := range base.Folders {
				if mb := base.Folders[i].Side(s).Mailbox; mb != "" {
					byMailbox[mb] = &base.Folders[i]
				}
			}
			for i := range pl.lists[s].Folders {
				listed[pl.lists[s].Folders[i].Mailbox] = &pl.lists[s].Folders[i]
			}
		}
		for i, c := range m {
			if c != d {
				continue
			}
			parent, tail := m[:i], m[i:]
			q, ok := strings.CutSuffix(l.Mailbox, tail)
			if !ok || q == "" || q == parent {
				continue
			}
			p, ql := byMailbox[parent], listed[q]
			if p != nil && ql != nil && p.Side(s).UIDValidity != 0 && ql.UIDValidity == p.Side(s).UIDValidity && listed[parent] == nil {
				return true
			}
		}
		return false
	}
}

// nameTakenOver reports whether listed folder l, under base folder f's
// logical name on side s, is another mailbox than f's: the state records
// f there in another mailbox (a RENAME of this folder failed, and the
// next run is to retry it), with a UIDVALIDITY l lacks and that mailbox
// is listed with. The user made l under the old name; f is at the
// mailbox the state records, and is found there as renamed, not taken
// for l with a new UIDVALIDITY, whose messages would be lost and copied
// again.
func (pl *planner) nameTakenOver(s Side, f *FolderState, l *Folder) bool {
	bs := f.Side(s)
	if bs.UIDValidity == 0 || l.Mailbox == bs.Mailbox || l.UIDValidity == bs.UIDValidity {
		return false
	}
	fs := pl.lists[s].Folders
	i, ok := slices.BinarySearchFunc(fs, bs.Mailbox, func(x Folder, mb string) int { return strings.Compare(x.Mailbox, mb) })
	return ok && fs[i].UIDValidity == bs.UIDValidity
}

// uidValidityScore is the least score sameMailbox gives a listed folder
// with the base folder's UIDVALIDITY: more than any count of messages.
const uidValidityScore = 1 << 20

// sameMailbox reports whether listed folder l of side s is evidently the
// base folder f under another name, and how many of f's messages say so.
func sameMailbox(f *FolderState, s Side, l *Folder, known func(Identity) bool, along bool) (score int, ok bool) {
	bs := f.Side(s)
	total := 0
	ids := map[Identity]int{}
	byUID := map[UID]Identity{}
	for _, m := range l.Messages {
		ids[m.ID]++
		byUID[m.UID] = m.ID
	}
	sameUV := bs.UIDValidity != 0 && bs.UIDValidity == l.UIDValidity
	uidScore, idScore := 0, 0
	for _, r := range f.Records {
		u := r.UID(s)
		if u == 0 {
			continue
		}
		total++
		if id, there := byUID[u]; sameUV && there {
			if id != r.ID {
				sameUV = false // another message under that UID
			} else {
				uidScore++
			}
		}
		if r.ID != "" && ids[r.ID] > 0 {
			ids[r.ID]--
			idScore++
		}
	}
	// The same UIDVALIDITY (the same mailbox, on a server that keeps it
	// across RENAME) beats any count of messages by identity. So does
	// the same UIDVALIDITY under the very mailbox name the state records
	// for that side, where the folder's logical name is another (a
	// RENAME that failed left it so), even with none of its records'
	// messages left there (seed 25001 of -movemodel.bugs 7,10). And so
	// does the same UIDVALIDITY where every message there arrived since
	// the base (at or above its UIDNEXT) or is one the base knows
	// elsewhere, which a user moved in (seed 53476). And so does the
	// same UIDVALIDITY where l is where the server's RENAME of a parent
	// took f's mailbox (along: see movedWithParent), with none of its
	// records' messages left and mail there the state never recorded (a
	// copy a failed RENAME left undone; TestModelMovesAndRenames seed
	// 141195).
	if sameUV && (uidScore > 0 || total == 0 || len(l.Messages) == 0 || l.Mailbox == bs.Mailbox || along || movedInOrArrived(l, bs.UIDNext, known)) {
		return uidValidityScore + uidScore, true
	}
	// Under the very mailbox name the state records for that side, with
	// another UIDVALIDITY, l is f's mailbox made anew by the server, as a
	// folder listed under its logical name would be read: its messages
	// are re-paired by identity. Only a folder with f's UIDVALIDITY
	// elsewhere says better (TestModelMovesAndRenames -movemodel.resets
	// seed 55172: a folder whose names differ by side after a failed
	// rename conflict, empty in the state, was read as deleted where its
	// server made it anew, and as new under its name).
	if bs.Mailbox != "" && (l.Mailbox == bs.Mailbox || along) {
		return uidValidityScore - 1, true
	}
	if total > 0 && 2*idScore > total {
		return idScore, true
	}
	return 0, false
}

// movedInOrArrived reports whether every message of l is one the base
// knows (known) or arrived since a point at uidNext (0: unknown): in a
// folder with a base folder's UIDVALIDITY none of whose records is
// left there, mail a user moved in or that was delivered since, and
// none the base folder should have had. Another mailbox with the same
// UIDVALIDITY (on a server that gives several one) would show mail
// the base does not know below that point.
func movedInOrArrived(l *Folder, uidNext UID, known func(Identity) bool) bool {
	for _, m := range l.Messages {
		if (uidNext == 0 || m.UID < uidNext) && !known(m.ID) {
			return false
		}
	}
	return true
}

// parentName returns the logical name of a folder's parent, "" at the
// top level.
func parentName(name string) string {
	i := strings.LastIndex(name, "/")
	if i < 0 {
		return ""
	}
	return name[:i]
}

// orderRenames puts renames in an order the servers can carry out: a
// rename whose source or destination lies under another rename's
// destination on the same side goes after it; otherwise the planned
// order (parents first) stays.
func orderRenames(acts []*Action, delim [2]rune) []*Action {
	under := func(name, parent string, d rune) bool {
		return name == parent || (d != 0 && strings.HasPrefix(name, parent+string(d)))
	}
	out := make([]*Action, 0, len(acts))
	done := make([]bool, len(acts))
	for len(out) < len(acts) {
		progress := false
		for i, y := range acts {
			if done[i] {
				continue
			}
			ready := true
			for j, x := range acts {
				if j != i && !done[j] && x.Side == y.Side && (under(y.Mailbox, x.Dest, delim[y.Side]) || under(y.Dest, x.Dest, delim[y.Side]) && x.Dest != y.Dest) {
					ready = false
					break
				}
			}
			if ready {
				out = append(out, y)
				done[i] = true
				progress = true
				break
			}
		}
		if !progress { // a cycle: keep the planned order
			for i, y := range acts {
				if !done[i] {
					out = append(out, y)
					done[i] = true
				}
			}
		}
	}
	return out
}
