package reconcile

import (
	"sort"
	"strings"
)

// findRenames finds the base folders side s renamed: gone by name, and
// there under a new name. other is what the other side's search found
// (nil in the first round; see newRenamer). The search runs in three
// steps, each a method of renameSearch:
//
//   - matchEvidence: every claim of a missing folder on a new folder,
//     by UIDVALIDITY or by its messages, settled best first across all
//     folders, so a weak claim does not take a new folder from a strong
//     one;
//   - matchLate: the same for the folders under a missing parent that
//     the evidence did not place;
//   - place: folders visited parents first, so a child follows its
//     parent's new name unless it evidently went elsewhere; where a
//     folder's late claim goes unused so, matchLate and place run
//     again without it.
//
// It appends to the plan's links the folders whose best claims are as
// good as each other (see Plan.links).
func (pl *planner) findRenames(s Side, base State, byName map[string]*FolderState, listed map[string]*Folder, newNames []string, other map[string]found) map[string]found {
	rs := &renameSearch{
		pl: pl, s: s, base: base, byName: byName, listed: listed, newNames: newNames, other: other,
		along:     pl.movedWithParent(s, base),
		trash:     [2]string{pl.trashMailbox(A), pl.trashMailbox(B)},
		delim:     pl.lists[s].Delim,
		cands:     map[*FolderState][]renameClaim{},
		lateLeft:  map[*FolderState]bool{},
		renamedTo: map[*FolderState]string{},
	}
	rs.matchEvidence()
	// A folder whose late claim place leaves unused (it follows its
	// parent instead, or a folder that follows its parent took that
	// name) would keep a weaker claim from that new folder: matchLate
	// runs again without it, until every late claim is used. Each round
	// leaves out one folder more.
	links := len(pl.plan.links)
	for {
		rs.matchLate()
		out := rs.place()
		unused := false
		for f, m := range rs.late.took {
			if out[f.Name].to != m.n {
				rs.lateLeft[f] = true
				unused = true
			}
		}
		if !unused {
			return out
		}
		pl.plan.links = pl.plan.links[:links]
	}
}

// renameClaim is a missing base folder's claim on a new folder of the
// side searched.
type renameClaim struct {
	f     *FolderState
	n     string // the new folder's logical name
	score int    // sameMailbox's
	// inParent marks a claim that counts only under a renamed parent's
	// new name (see underRenamedParent).
	inParent bool
	// onOther marks f's mailbox as listed still on the other side, or
	// found renamed there (see onOther).
	onOther bool
	// first is the lowest UID in the new folder of a message f's records
	// on the side searched identify, 0 for none.
	first UID
}

// renameSearch is one side's search for renamed folders (findRenames):
// its inputs, and what each step found for the next.
type renameSearch struct {
	pl *planner
	s  Side
	// base is the state's folders; byName the same by logical name.
	base   State
	byName map[string]*FolderState
	// listed is side s's listed folders by logical name; newNames those
	// the base does not know, sorted.
	listed   map[string]*Folder
	newNames []string
	// other is what the other side's search found, nil in its first
	// round.
	other map[string]found
	along func(f *FolderState, l *Folder) bool // see movedWithParent
	trash [2]string                            // each side's trash mailbox
	delim rune                                 // side s's delimiter

	// cands holds each folder's claims (candidates), once worked out.
	cands map[*FolderState][]renameClaim
	// renamedTo is a missing folder's new name by UIDVALIDITY, "" for
	// none (strongly), once worked out.
	renamedTo map[*FolderState]string
	// weak is, in matchEvidence's second round, the missing folders its
	// first round found renamed by their messages alone, and where to.
	weak map[*FolderState]string

	// matched is what matchEvidence settled; late what matchLate did,
	// for the folders under a missing parent the evidence did not place.
	matched, late settlement
	// lateLeft holds the folders matchLate leaves out: place did not
	// give them the new folder they took there.
	lateLeft map[*FolderState]bool

	// byMailbox is the base folders by their mailbox on s, made by
	// impliedByMailbox when first needed.
	byMailbox map[string]*FolderState
}

// missing reports whether base folder f is gone by name from side s
// (or its name there is another mailbox's: nameTakenOver), and is one a
// rename could concern: on s in the base, not INBOX, and synced.
func (rs *renameSearch) missing(f *FolderState) bool {
	l := rs.listed[f.Name]
	return f.Side(rs.s).Mailbox != "" && (l == nil || rs.pl.nameTakenOver(rs.s, f, l)) && !strings.EqualFold(f.Name, "INBOX") &&
		rs.pl.policy.For(f.Name).Direction != None
}

// wasTrash reports whether base folder f is the pair's trash: named
// Trash, or either side's trash as trashMailbox finds it.
func (rs *renameSearch) wasTrash(f *FolderState) bool {
	return strings.EqualFold(f.Name, "Trash") ||
		f.A.Mailbox != "" && f.A.Mailbox == rs.trash[A] || f.B.Mailbox != "" && f.B.Mailbox == rs.trash[B]
}

// onOther reports whether the other side lists base folder f's mailbox
// there still, or its search found it renamed there.
func (rs *renameSearch) onOther(f *FolderState) bool {
	if _, ok := rs.other[f.Name]; ok {
		return true
	}
	mb := f.Side(rs.s.Other()).Mailbox
	_, ok := rs.pl.names.logical[rs.s.Other()][mb]
	return mb != "" && ok
}

// candidates returns base folder f's claims on the new folders, in the
// order of newNames. The caller must not change them.
func (rs *renameSearch) candidates(f *FolderState) []renameClaim {
	if out, ok := rs.cands[f]; ok {
		return out
	}
	var out []renameClaim
	// Nor is the trash renamed by copy: a new folder that holds most of
	// its messages is where its user took them out of the trash, wanted
	// again (new to the pair), not the trash under a new name; read as
	// one, the other side's trash, holding what that side deleted,
	// became that folder (seeds 101970 and 927828). Renamed as the very
	// mailbox, by its UIDVALIDITY, it is renamed.
	isTrash := rs.wasTrash(f)
	var ids map[Identity]bool // f's identities on s, once a claim needs them
	for _, n := range rs.newNames {
		// The trash is never a renamed folder: the messages a run moved
		// there whose state was lost would read as one.
		l := rs.listed[n]
		if strings.EqualFold(n, "INBOX") || !rs.pl.policy.For(n).Direction.Flows(rs.s) || l.Role == RoleTrash || strings.EqualFold(n, "Trash") {
			continue
		}
		if score, ok := sameMailbox(f, rs.s, l, rs.pl.knownToBase, rs.along(f, l)); ok && (!isTrash || score >= uidValidityScore) {
			if ids == nil {
				ids = recordIDs(f, rs.s)
			}
			out = append(out, renameClaim{f: f, n: n, score: score, onOther: rs.onOther(f), first: firstOf(l, ids)})
		}
	}
	rs.cands[f] = out
	return out
}

// underMissing reports whether a parent of base folder f is missing too,
// with f's mailbox on s under the parent's there: f most likely went
// with it, and is matched after it (place). Only there: a folder whose
// mailbox on s is elsewhere (renamed out from under it on s, the RENAME
// on the other side failing) did not go with the parent's mailbox, and
// its own messages are evidence as good as anyone's (move-model seed
// 1450448: a deleted parent's one message took the child's renamed
// mailbox, the child's five did not count).
func (rs *renameSearch) underMissing(f *FolderState) bool {
	mb := f.Side(rs.s).Mailbox
	for anc := parentName(f.Name); anc != ""; anc = parentName(anc) {
		if a := rs.byName[anc]; a != nil && rs.missing(a) && rs.delim != 0 && strings.HasPrefix(mb, a.Side(rs.s).Mailbox+string(rs.delim)) {
			return true
		}
	}
	return false
}

// strongly returns the new folder missing folder f claims by its
// UIDVALIDITY, the first of newNames, or "" if none.
func (rs *renameSearch) strongly(f *FolderState) string {
	n, ok := rs.renamedTo[f]
	if !ok {
		for _, m := range rs.candidates(f) {
			if m.score >= uidValidityScore {
				n = m.n
				break
			}
		}
		rs.renamedTo[f] = n
	}
	return n
}

// underRenamedParent reports whether new folder n lies under the new
// name of base folder f's nearest missing ancestor found renamed.
//
// A folder whose parent is gone too takes part in the match only with
// the strongest evidence, its own UIDVALIDITY: that mailbox is it, under
// whatever name, and no other folder's weaker claim may take it (seed
// 27123 of -movemodel.bugs 2: a deleted folder's stale record claimed a
// renamed child's mailbox by one message's identity).
//
// Its messages count too for a new folder under the new name its
// missing parent has by UIDVALIDITY (the parent renamed, and the folder
// with it, then renamed again by copy, a new UIDVALIDITY), and such a
// claim goes before another folder's as good: a folder renamed away from
// elsewhere is the less likely reading (move-model seed 1052206: a
// deleted folder's one message took the child's mailbox, renamed by copy
// under the parent's new name, from the child's one message, and the
// child was read as deleted).
//
// The parent is its nearest missing ancestor found renamed by
// UIDVALIDITY: a parent missing without such a rename (renamed by copy,
// or made anew by its server) says nothing of its own (but see weak),
// and the one above it decides (move-model -movemodel.resets seed 63194:
// the child was renamed by copy, then its grandparent's RENAME took it
// along; its four messages there did not count, its parent's one, which
// a user had moved in, took the mailbox, and the child read as deleted
// on that side, its copy on the other side left behind).
//
// A missing ancestor found renamed by its messages alone (by copy, or
// made anew) counts too, once matchEvidence's first round found it so
// (weak), where the folder is not listed under the ancestor's new name
// (there it went along, and place finds it so) (TestModelMovesAndRenames
// seed 3057293: b's user renamed F2 by copy to R5, F2/F3, whose mailbox
// on b was F2/R4, made anew under it as R5/R4 with its three messages;
// F1, deleted on b after its one message was moved into F2/F3, took
// R5/R4 with that one, and F2/F3 stayed on a alone. Seed 211: R12/F3,
// made anew as R14/F3 with its parent, would have taken R14/F3/R13 from
// R11 by the one message a's user had moved there).
func (rs *renameSearch) underRenamedParent(f *FolderState, n string) bool {
	for anc := parentName(f.Name); anc != ""; anc = parentName(anc) {
		if a := rs.byName[anc]; a != nil && rs.missing(a) {
			if p := rs.strongly(a); p != "" {
				return strings.HasPrefix(n, p+"/")
			}
			if p := rs.weak[a]; p != "" && strings.HasPrefix(n, p+"/") && rs.listed[p+f.Name[len(anc):]] == nil {
				return true
			}
		}
	}
	return false
}

// claims returns the claims matchEvidence weighs, best first: those of
// the missing folders, a folder under a missing parent only as
// underRenamedParent allows, or where its parent left it behind
// (leftBehind).
//
// As good as each other, a claim under a renamed parent's new name goes
// first (see underRenamedParent), then a folder the other side lists
// still goes before one gone from both sides: renamed here, and the
// other folder deleted on both sides, is the likelier reading than
// renamed here and deleted there (TestModelMovesIntoTheTrash seed 26041:
// a folder this side's run had deleted, kept in the state for a Move
// that failed, took the new name from the folder renamed by copy, and
// the other side's user's mail moved into that folder was read as filed
// away, its copies here expunged). A folder the other side renamed is
// there still too (other: TestModelMovesAndRenames -movemodel.alike seed
// 126671, where a folder this side's user deleted, after moving its one
// message into a folder renamed by copy on both sides, took the new name
// from that folder, and the other side's copy of the deleted folder was
// renamed to it).
//
// Still as good as each other, the claim whose first message comes first
// in the new folder goes first. A folder renamed by copy gets its
// messages in their old order (a UID COPY of the folder, or its server
// making it anew), and the messages the base recorded in a folder were
// there before any that a user moved in since: of two folders with a
// message each in it, the one whose message comes first is the one
// renamed (TestModelMovesAndRenames seed 3220240: a's user renamed R11
// to R13 by copy after moving into it a message recorded in F3/R6,
// which a's user deleted; F3/R6 came first by name and took R13, and
// R11 stayed on b only).
func (rs *renameSearch) claims(into []renameClaim) []renameClaim {
	into = into[:0]
	for i := range rs.base.Folders {
		f := &rs.base.Folders[i]
		switch {
		case !rs.missing(f):
		case !rs.underMissing(f):
			into = append(into, rs.candidates(f)...)
		default:
			behind := rs.leftBehind(f)
			for _, m := range rs.candidates(f) {
				switch {
				case m.score >= uidValidityScore || rs.underRenamedParent(f, m.n):
					m.inParent = m.score < uidValidityScore
					into = append(into, m)
				case behind:
					into = append(into, m)
				}
			}
		}
	}
	sort.SliceStable(into, func(i, j int) bool {
		if into[i].score != into[j].score {
			return into[i].score > into[j].score
		}
		if into[i].inParent != into[j].inParent {
			return into[i].inParent
		}
		if into[i].onOther != into[j].onOther {
			return into[i].onOther
		}
		return earlier(into[i].first, into[j].first)
	})
	return into
}

// matchEvidence settles which missing folder takes which new folder by
// the evidence, best first across all folders (claims), so a folder with
// a weak claim on a new folder does not take it from one with a strong
// claim (settle).
//
// Where the first round found folders renamed by their messages alone,
// it runs a second time with them as weak parents (underRenamedParent).
func (rs *renameSearch) matchEvidence() {
	links := len(rs.pl.plan.links)
	var matches []renameClaim
	for round := 0; ; round++ {
		matches = rs.claims(matches)
		rs.pl.plan.links = rs.pl.plan.links[:links]
		rs.matched = rs.settle(matches)
		if round > 0 {
			return
		}
		weak := map[*FolderState]string{}
		for f, m := range rs.matched.took {
			if m.score < uidValidityScore {
				weak[f] = m.n
			}
		}
		if len(weak) == 0 {
			return
		}
		rs.weak = weak
	}
}

// link records that base folder f's fate depends on new folders n1 and
// n2, as good a claim each (see Plan.links).
func (rs *renameSearch) link(f *FolderState, n1, n2 string) {
	rs.pl.plan.links = append(rs.pl.plan.links, [2]string{f.Name, n1}, [2]string{f.Name, n2})
}

// matchLate settles, for the missing folders under a missing parent that
// matchEvidence did not place, which takes which new folder not claimed
// yet: best first across them all, as matchEvidence does. In the order
// of their names a weaker claim took a new folder from a stronger one
// (TestModelMovesIntoTheTrash -movemodel.resets -movemodel.alike seed
// 425350: b's F3/R9, made anew under its parent's new name and renamed
// again, held both of F3/R9's messages and one that a failed Move had
// left recorded in F3/F4/F5, also gone; F3/F4/F5 came first by name and
// took it, F3/R9 read as deleted on b, and a's renamed F3/R9 as a new
// folder, each side ending with its own name).
func (rs *renameSearch) matchLate() {
	var late []renameClaim
	for i := range rs.base.Folders {
		f := &rs.base.Folders[i]
		if _, ok := rs.matched.took[f]; !ok && rs.missing(f) && !rs.lateLeft[f] && rs.underMissing(f) {
			for _, m := range rs.candidates(f) {
				if rs.matched.owner[m.n] == nil {
					late = append(late, m)
				}
			}
		}
	}
	sort.SliceStable(late, func(i, j int) bool { return late[i].score > late[j].score })
	rs.late = rs.settle(late)
}

// impliedByMailbox returns where base folder f went with the nearest
// folder whose mailbox on s holds f's, found renamed (out): f's mailbox
// there lies under another folder's without f's logical name doing so
// where a RENAME failed on the other side (the state keeps one side's
// name), and the server's RENAME of that mailbox took f's along. "" where
// no such folder was found renamed to a listed one, or f's mailbox under
// its new one is not listed.
func (rs *renameSearch) impliedByMailbox(f *FolderState, out map[string]found) string {
	mb := f.Side(rs.s).Mailbox
	if rs.delim == 0 || !strings.ContainsRune(mb, rs.delim) {
		return ""
	}
	if rs.byMailbox == nil {
		rs.byMailbox = map[string]*FolderState{}
		for i := range rs.base.Folders {
			if m := rs.base.Folders[i].Side(rs.s).Mailbox; m != "" {
				rs.byMailbox[m] = &rs.base.Folders[i]
			}
		}
	}
	d := string(rs.delim)
	for i := strings.LastIndex(mb, d); i > 0; i = strings.LastIndex(mb[:i], d) {
		p := rs.byMailbox[mb[:i]]
		if p == nil {
			continue
		}
		r, ok := out[p.Name]
		if !ok || rs.listed[r.to] == nil {
			return ""
		}
		return rs.pl.names.logicalOf(rs.s, rs.listed[r.to].Mailbox+mb[i:])
	}
	return ""
}

// bestLeft returns the new folder missing folder f, under a missing
// parent, takes where the steps before left it none (its new folder went
// to a folder before it by its parent's name, or it had two as good):
// the best one no other folder claims or took (used), if only one is;
// of several as good it takes none, and is linked to each.
func (rs *renameSearch) bestLeft(f *FolderState, used map[string]bool) (n string, sameUV bool) {
	best, ties := renameClaim{score: -1}, []string(nil)
	for _, m := range rs.candidates(f) {
		switch {
		case used[m.n] || rs.matched.owner[m.n] != nil || rs.late.owner[m.n] != nil && rs.late.owner[m.n] != f:
		case m.score > best.score:
			best, ties = m, ties[:0]
		case m.score == best.score:
			ties = append(ties, m.n)
		}
	}
	if !rs.late.tied[f] {
		for _, t := range ties {
			rs.link(f, best.n, t)
		}
	}
	if len(ties) > 0 {
		return "", false
	}
	return best.n, best.score >= uidValidityScore
}

// place gives each missing folder its new name, parents first, so a
// child follows its parent's new name (implied) unless it evidently went
// elsewhere, and returns the renames found by old logical name.
func (rs *renameSearch) place() map[string]found {
	out := map[string]found{}
	used := map[string]bool{}
	for i := range rs.base.Folders {
		f := &rs.base.Folders[i]
		if !rs.missing(f) {
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
		if implied == "" || rs.listed[implied] == nil {
			if n := rs.impliedByMailbox(f, out); n != "" && rs.listed[n] != nil {
				implied = n
			}
		}
		// The evidence's claim first, then the late pass's.
		byEvidence := rs.matched.took[f]
		n, sameUV := byEvidence.n, byEvidence.n != "" && byEvidence.score >= uidValidityScore
		if late, ok := rs.late.took[f]; ok && n == "" && !used[late.n] {
			n, sameUV = late.n, late.score >= uidValidityScore
		} else if n == "" && rs.underMissing(f) {
			n, sameUV = rs.bestLeft(f, used)
		}
		switch {
		case implied != "" && rs.listed[implied] != nil && rs.byName[implied] == nil && !used[implied]:
			score, _ := sameMailbox(f, rs.s, rs.listed[implied], rs.pl.knownToBase, false)
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

// recordIDs returns the identities of base folder f's messages on side s.
func recordIDs(f *FolderState, s Side) map[Identity]bool {
	ids := make(map[Identity]bool, len(f.Records))
	for _, r := range f.Records {
		if r.UID(s) != 0 && r.ID != "" {
			ids[r.ID] = true
		}
	}
	return ids
}

// firstOf returns the lowest UID in l of a message whose identity is in
// ids, 0 if none.
func firstOf(l *Folder, ids map[Identity]bool) UID {
	var first UID
	for _, m := range l.Messages {
		if ids[m.ID] && (first == 0 || m.UID < first) {
			first = m.UID
		}
	}
	return first
}

// earlier reports whether UID a comes before b, 0 (none) after all.
func earlier(a, b UID) bool {
	return a != 0 && (b == 0 || a < b)
}

// leftBehind reports whether base folder f, under a missing parent, is
// not listed where its nearest missing ancestor's rename would have
// taken it: the ancestor is found renamed, by its UIDVALIDITY or (in
// matchEvidence's second round) by its messages, and its new name with
// f's tail is not listed. f did not go along with it, and its messages
// are evidence as good as any other folder's (TestModelMovesAndRenames
// -movemodel.alike seed 80919: b's user renamed R7/R8 to R9 by copy, with
// a message a failed Move had left recorded in R5, and then R7 to R11;
// R5 took R9 by that one message, as R7/R8's one took part only in the
// late pass, and R7/R8 stayed on a as R11/R8).
func (rs *renameSearch) leftBehind(f *FolderState) bool {
	for anc := parentName(f.Name); anc != ""; anc = parentName(anc) {
		if a := rs.byName[anc]; a != nil && rs.missing(a) {
			p := rs.strongly(a)
			if p == "" {
				p = rs.weak[a]
			}
			return p != "" && rs.listed[p+f.Name[len(anc):]] == nil
		}
	}
	return false
}

// settlement is what settle decided for a list of claims.
type settlement struct {
	// took is the claim each folder took; owner the folder that took
	// each new folder.
	took  map[*FolderState]renameClaim
	owner map[string]*FolderState
	// tied holds the folders whose best claims left were as good as
	// each other: they took none.
	tied map[*FolderState]bool
}

// settle goes through claims, sorted best first, and gives each folder
// its best claim on a new folder no folder before took. A folder whose
// best claims left are as good as each other takes none, and is linked
// to each (Plan.links): its fate depends on both staying new, so a
// scoped run that makes one on the other side takes the folder along;
// left behind, it would read as renamed to the other next time.
func (rs *renameSearch) settle(claims []renameClaim) settlement {
	st := settlement{took: map[*FolderState]renameClaim{}, owner: map[string]*FolderState{}, tied: map[*FolderState]bool{}}
	for i, m := range claims {
		if _, ok := st.took[m.f]; ok || st.tied[m.f] || st.owner[m.n] != nil {
			continue
		}
		for _, x := range claims[i+1:] {
			if x.score == m.score && x.f == m.f && st.owner[x.n] == nil {
				st.tied[m.f] = true
				rs.link(m.f, m.n, x.n)
			}
		}
		if !st.tied[m.f] {
			st.took[m.f] = m
			st.owner[m.n] = m.f
		}
	}
	return st
}
