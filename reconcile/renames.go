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
	// (findRenames' onOther). Both from the first round's findings, so
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

// findRenames finds the base folders side s renamed: gone by name, and
// there under a new name. Folders are visited parents first, so a child
// follows its parent's new name unless it evidently went elsewhere.
func (pl *planner) findRenames(s Side, base State, byName map[string]*FolderState, listed map[string]*Folder, newNames []string, other map[string]found) map[string]found {
	missing := func(f *FolderState) bool {
		return f.Side(s).Mailbox != "" && (listed[f.Name] == nil || pl.nameTakenOver(s, f, listed[f.Name])) && !strings.EqualFold(f.Name, "INBOX") &&
			pl.policy.For(f.Name).Direction != None
	}
	// First the evidence, matched best first across all folders, so a
	// folder with a weak claim on a new folder does not take it from one
	// with a strong claim.
	type match struct {
		f        *FolderState
		n        string
		score    int
		inParent bool // a claim under a renamed parent's new name
		onOther  bool // f's mailbox on the other side is listed still
	}
	along := pl.movedWithParent(s, base)
	// wasTrash reports whether base folder f is the pair's trash: named
	// Trash, or either side's trash as trashMailbox finds it.
	trash := [2]string{pl.trashMailbox(A), pl.trashMailbox(B)}
	wasTrash := func(f *FolderState) bool {
		return strings.EqualFold(f.Name, "Trash") ||
			f.A.Mailbox != "" && f.A.Mailbox == trash[A] || f.B.Mailbox != "" && f.B.Mailbox == trash[B]
	}
	// onOther reports whether the other side lists base folder f's
	// mailbox there still, or other, that side's search, found it
	// renamed there.
	onOther := func(f *FolderState) bool {
		if _, ok := other[f.Name]; ok {
			return true
		}
		mb := f.Side(s.Other()).Mailbox
		_, ok := pl.names.logical[s.Other()][mb]
		return mb != "" && ok
	}
	candidates := func(f *FolderState) []match {
		var out []match
		// Nor is the trash renamed by copy: a new folder that holds
		// most of its messages is where its user took them out of the
		// trash, wanted again (new to the pair), not the trash under a
		// new name; read as one, the other side's trash, holding what
		// that side deleted, became that folder (seeds 101970 and
		// 927828). Renamed as the very mailbox, by its UIDVALIDITY, it
		// is renamed.
		isTrash := wasTrash(f)
		for _, n := range newNames {
			// The trash is never a renamed folder: the messages a run
			// moved there whose state was lost would read as one.
			if strings.EqualFold(n, "INBOX") || !pl.policy.For(n).Direction.Flows(s) || listed[n].Role == RoleTrash || strings.EqualFold(n, "Trash") {
				continue
			}
			if score, ok := sameMailbox(f, s, listed[n], pl.knownToBase, along(f, listed[n])); ok && (!isTrash || score >= uidValidityScore) {
				out = append(out, match{f: f, n: n, score: score, onOther: onOther(f)})
			}
		}
		return out
	}
	// A folder whose parent is gone too most likely went with it: it is
	// matched after its parent, below. Only where its mailbox on s lies
	// under the parent's there: a folder whose mailbox on s is elsewhere
	// (renamed out from under it on s, the RENAME on the other side
	// failing) did not go with the parent's mailbox, and its own
	// messages are evidence as good as anyone's (move-model seed
	// 1450448: a deleted parent's one message took the child's renamed
	// mailbox, the child's five did not count).
	delim := pl.lists[s].Delim
	underMissing := func(f *FolderState) bool {
		mb := f.Side(s).Mailbox
		for anc := parentName(f.Name); anc != ""; anc = parentName(anc) {
			if a := byName[anc]; a != nil && missing(a) && delim != 0 && strings.HasPrefix(mb, a.Side(s).Mailbox+string(delim)) {
				return true
			}
		}
		return false
	}
	// A folder whose parent is gone too takes part only with the
	// strongest evidence, its own UIDVALIDITY: that mailbox is it, under
	// whatever name, and no other folder's weaker claim may take it
	// (seed 27123 of -movemodel.bugs 2: a deleted folder's stale record
	// claimed a renamed child's mailbox by one message's identity).
	//
	// Its messages count too for a new folder under the new name its
	// missing parent has by UIDVALIDITY (the parent renamed, and the
	// folder with it, then renamed again by copy, a new UIDVALIDITY),
	// and such a claim goes before another folder's as good: a folder
	// renamed away from elsewhere is the less likely reading
	// (move-model seed 1052206: a deleted folder's one message took the
	// child's mailbox, renamed by copy under the parent's new name, from
	// the child's one message, and the child was read as deleted).
	//
	// The parent is its nearest missing ancestor found renamed by
	// UIDVALIDITY: a parent missing without such a rename (renamed by
	// copy, or made anew by its server) says nothing of its own (but
	// see weak below), and the one above it decides (move-model -movemodel.resets seed 63194: the child was
	// renamed by copy, then its grandparent's RENAME took it along; its
	// four messages there did not count, its parent's one, which a user
	// had moved in, took the mailbox, and the child read as deleted on
	// that side, its copy on the other side left behind).
	renamedTo := map[*FolderState]string{} // a missing folder's new name by UIDVALIDITY, "" for none
	strongly := func(f *FolderState) string {
		n, ok := renamedTo[f]
		if !ok {
			for _, m := range candidates(f) {
				if m.score >= uidValidityScore {
					n = m.n
					break
				}
			}
			renamedTo[f] = n
		}
		return n
	}
	// A missing ancestor found renamed by its messages alone (by copy,
	// or made anew) counts too, once the match below has found it so,
	// where the folder is not listed under the ancestor's new name
	// (there it went along, and is found so below): the match runs
	// again with it (weak), where that lets a folder under it claim a
	// new folder under its new name (TestModelMovesAndRenames seed
	// 3057293: b's user renamed F2 by copy to R5, F2/F3, whose mailbox
	// on b was F2/R4, made anew under it as R5/R4 with its three
	// messages; F1, deleted on b after its one message was moved into
	// F2/F3, took R5/R4 with that one, and F2/F3 stayed on a alone.
	// Seed 211: R12/F3, made anew as R14/F3 with its parent, would have
	// taken R14/F3/R13 from R11 by the one message a's user had moved
	// there).
	var weak map[*FolderState]string
	underRenamedParent := func(f *FolderState, n string) bool {
		for anc := parentName(f.Name); anc != ""; anc = parentName(anc) {
			if a := byName[anc]; a != nil && missing(a) {
				if p := strongly(a); p != "" {
					return strings.HasPrefix(n, p+"/")
				}
				if p := weak[a]; p != "" && strings.HasPrefix(n, p+"/") && listed[p+f.Name[len(anc):]] == nil {
					return true
				}
			}
		}
		return false
	}
	links := len(pl.plan.links)
	var (
		matches   []match
		evidence  map[*FolderState]string
		strong    map[*FolderState]bool // evidence by UIDVALIDITY
		claimed   map[string]bool
		ambiguous map[*FolderState]bool
	)
	for round := 0; ; round++ {
		matches = matches[:0]
		for i := range base.Folders {
			f := &base.Folders[i]
			switch {
			case !missing(f):
			case !underMissing(f):
				matches = append(matches, candidates(f)...)
			default:
				for _, m := range candidates(f) {
					if m.score >= uidValidityScore || underRenamedParent(f, m.n) {
						m.inParent = m.score < uidValidityScore
						matches = append(matches, m)
					}
				}
			}
		}
		// As good as each other, a folder the other side lists still goes
		// before one gone from both sides: renamed here, and the other
		// folder deleted on both sides, is the likelier reading than renamed
		// here and deleted there (TestModelMovesIntoTheTrash seed 26041: a
		// folder this side's run had deleted, kept in the state for a Move
		// that failed, took the new name from the folder renamed by copy,
		// and the other side's user's mail moved into that folder was read
		// as filed away, its copies here expunged). A folder the other side
		// renamed is there still too (other: TestModelMovesAndRenames
		// -movemodel.alike seed 126671, where a folder this side's user
		// deleted, after moving its one message into a folder renamed by
		// copy on both sides, took the new name from that folder, and the
		// other side's copy of the deleted folder was renamed to it).
		sort.SliceStable(matches, func(i, j int) bool {
			if matches[i].score != matches[j].score {
				return matches[i].score > matches[j].score
			}
			if matches[i].inParent != matches[j].inParent {
				return matches[i].inParent
			}
			return matches[i].onOther && !matches[j].onOther
		})
		pl.plan.links = pl.plan.links[:links]
		evidence = map[*FolderState]string{}
		strong = map[*FolderState]bool{}
		claimed = map[string]bool{}
		ambiguous = map[*FolderState]bool{}
		for i, m := range matches {
			if evidence[m.f] != "" || ambiguous[m.f] || claimed[m.n] {
				continue
			}
			// Two new folders as good as each other: neither. The folder's
			// fate depends on both staying new, so a scoped run that makes
			// one on the other side takes the folder along (Plan.links):
			// left behind, it would read as renamed to the other next time.
			for _, x := range matches[i+1:] {
				if x.score == m.score && x.f == m.f && !claimed[x.n] {
					ambiguous[m.f] = true
					pl.plan.links = append(pl.plan.links, [2]string{m.f.Name, m.n}, [2]string{m.f.Name, x.n})
				}
			}
			if !ambiguous[m.f] {
				evidence[m.f] = m.n
				strong[m.f] = m.score >= uidValidityScore
				claimed[m.n] = true
			}
		}
		if round > 0 {
			break
		}
		more := map[*FolderState]string{}
		for f, n := range evidence {
			if !strong[f] {
				more[f] = n
			}
		}
		if len(more) == 0 {
			break
		}
		weak = more
	}

	// A folder whose parent is gone too and that the evidence above did
	// not place takes the best new folder no other has taken (below).
	// Which folder takes a new folder is settled here, best first across
	// them all, as above: in the order of their names a weaker claim
	// took a new folder from a stronger one
	// (TestModelMovesIntoTheTrash -movemodel.resets -movemodel.alike
	// seed 425350: b's F3/R9, made anew under its parent's new name and
	// renamed again, held both of F3/R9's messages and one that a failed
	// Move had left recorded in F3/F4/F5, also gone; F3/F4/F5 came
	// first by name and took it, F3/R9 read as deleted on b, and a's
	// renamed F3/R9 as a new folder, each side ending with its own
	// name). A folder whose best claims are as good as each other takes
	// none, linked to each, as above.
	var late []match
	for i := range base.Folders {
		f := &base.Folders[i]
		if missing(f) && evidence[f] == "" && underMissing(f) {
			for _, m := range candidates(f) {
				if !claimed[m.n] {
					late = append(late, m)
				}
			}
		}
	}
	sort.SliceStable(late, func(i, j int) bool { return late[i].score > late[j].score })
	lateBest := map[*FolderState]match{}
	lateOwner := map[string]*FolderState{}
	lateTied := map[*FolderState]bool{}
	for i, m := range late {
		if _, ok := lateBest[m.f]; ok || lateTied[m.f] || lateOwner[m.n] != nil {
			continue
		}
		for _, x := range late[i+1:] {
			if x.score == m.score && x.f == m.f && lateOwner[x.n] == nil {
				lateTied[m.f] = true
				pl.plan.links = append(pl.plan.links, [2]string{m.f.Name, m.n}, [2]string{m.f.Name, x.n})
			}
		}
		if !lateTied[m.f] {
			lateBest[m.f] = m
			lateOwner[m.n] = m.f
		}
	}

	// Then parents first, so a child follows its parent's new name
	// unless it evidently went elsewhere.
	out := map[string]found{}
	used := map[string]bool{}
	// impliedByMailbox is where folder f went with the nearest folder
	// whose mailbox on s holds f's, found renamed: f's mailbox there
	// lies under another folder's without f's logical name doing so
	// where a RENAME failed on the other side (the state keeps one
	// side's name), and the server's RENAME of that mailbox took f's
	// along. "" where no such folder was found renamed to a listed one,
	// or f's mailbox under its new one is not listed.
	var byMailbox map[string]*FolderState
	impliedByMailbox := func(f *FolderState) string {
		mb := f.Side(s).Mailbox
		if delim == 0 || !strings.ContainsRune(mb, delim) {
			return ""
		}
		if byMailbox == nil {
			byMailbox = map[string]*FolderState{}
			for i := range base.Folders {
				if m := base.Folders[i].Side(s).Mailbox; m != "" {
					byMailbox[m] = &base.Folders[i]
				}
			}
		}
		for i := strings.LastIndex(mb, string(delim)); i > 0; i = strings.LastIndex(mb[:i], string(delim)) {
			p := byMailbox[mb[:i]]
			if p == nil {
				continue
			}
			r, ok := out[p.Name]
			if !ok || listed[r.to] == nil {
				return ""
			}
			return pl.names.logicalOf(s, listed[r.to].Mailbox+mb[i:])
		}
		return ""
	}
	for i := range base.Folders {
		f := &base.Folders[i]
		if !missing(f) {
			continue
		}
		implied := ""
		for anc := parentName(f.Name); anc != ""; anc = parentName(anc) {
			if r, ok := out[anc]; ok {
				implied = r.to + f.Name[len(anc):]
				break
			}
		}
		byParent := implied
		// Its mailbox's parent renamed, where its logical parent is
		// another folder (move-model seed 2084535: the parent by logical
		// name was renamed by copy, and the mailbox's parent, renamed
		// again from there, took the empty folder along).
		if implied == "" || listed[implied] == nil {
			if n := impliedByMailbox(f); n != "" && listed[n] != nil {
				implied = n
			}
		}
		n, sameUV := evidence[f], strong[f]
		if m, ok := lateBest[f]; ok && n == "" && !used[m.n] {
			n, sameUV = m.n, m.score >= uidValidityScore
		} else if n == "" && underMissing(f) {
			// Its new folder went to a folder before it by its parent's
			// name, or it had two as good: the best one left that no
			// other claims, if only one is (linked to each as good, as
			// above).
			best, ties := match{score: -1}, []string(nil)
			for _, m := range candidates(f) {
				switch {
				case used[m.n] || claimed[m.n] || lateOwner[m.n] != nil && lateOwner[m.n] != f:
				case m.score > best.score:
					best, ties = m, ties[:0]
				case m.score == best.score:
					ties = append(ties, m.n)
				}
			}
			if len(ties) == 0 {
				n, sameUV = best.n, best.score >= uidValidityScore
			}
			for _, t := range ties {
				if !lateTied[f] {
					pl.plan.links = append(pl.plan.links, [2]string{f.Name, best.n}, [2]string{f.Name, t})
				}
			}
		}
		switch {
		case implied != "" && listed[implied] != nil && byName[implied] == nil && !used[implied]:
			score, _ := sameMailbox(f, s, listed[implied], pl.knownToBase, false)
			out[f.Name] = found{to: implied, implied: true, sameUV: score >= uidValidityScore, own: implied != byParent}
			used[implied] = true
		case n != "" && !used[n]:
			out[f.Name] = found{to: n, sameUV: sameUV}
			used[n] = true
		case implied != "":
			// Renamed with its parent, then deleted or moved out of
			// sight: it follows the parent, and is deleted there.
			out[f.Name] = found{to: implied, implied: true}
			used[implied] = true
		}
	}
	return out
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
