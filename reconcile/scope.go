package reconcile

import (
	"slices"
	"sort"
	"strings"
)

// Footprint is what one action of a plan reads or changes: the folder
// pairs, by logical name (the action's own, a Move's destination, a
// rename's old and new names), and the mailboxes, by side (the ones it
// names, and both sides' mailboxes of those folder pairs, as listed and
// as the base had them). A saved plan (mailtwin plan --out) fingerprints
// these mailboxes, and a scoped run (RunOptions.Approve) keeps to these
// folder pairs.
type Footprint struct {
	Folders   []string
	Mailboxes [2][]string
}

// Listed returns the listing of side s that the plan was built from, or
// nil for a plan that Build did not make.
func (p *Plan) Listed(s Side) *Listing { return p.lists[s] }

// Footprints returns one Footprint per action of p, each sorted. It is a
// pure function of the plan.
//
// A message its keeper moved out of a folder pair where the state has it
// on one side only ties that folder pair to the destination (Plan.links).
// Folder hierarchies tie folder pairs together: a rename takes the
// folders under it along, and a folder made or deleted under another
// changes how that one is seen. So a mailbox under one that the plan
// renames brings the rename's folder pairs into the footprint (and a
// rename every folder pair under it), and a folder made, renamed or
// deleted brings in the folder pairs of the mailboxes above it.
func (p *Plan) Footprints() []Footprint {
	byName := map[string][]*draftFolder{}
	home := map[*slot]*draftFolder{}
	// nameOf holds, per side, the logical names a mailbox has in the
	// plan: as listed, as agreed, as the plan makes or renames it.
	nameOf := [2]map[string][]string{{}, {}}
	named := func(s Side, mb, name string) {
		if mb != "" && name != "" && !slices.Contains(nameOf[s][mb], name) {
			nameOf[s][mb] = append(nameOf[s][mb], name)
		}
	}
	draftNames := func(d *draftFolder) []string {
		names := []string{d.name}
		if rn := d.renamed; rn != nil {
			names = append(names, rn.from, rn.orig.Name)
		}
		return names
	}
	for _, d := range p.drafts {
		for _, n := range draftNames(d) {
			byName[n] = append(byName[n], d)
			for s := range 2 {
				named(Side(s), d.listed[s].Mailbox, n)
				named(Side(s), d.side[s].Mailbox, n)
				if d.base != nil {
					named(Side(s), d.base.Side(Side(s)).Mailbox, n)
				}
			}
		}
		for _, sl := range d.slots {
			home[sl] = d
		}
	}
	baseOf := map[string]*FolderState{}
	for i := range p.base.Folders {
		f := &p.base.Folders[i]
		baseOf[f.Name] = f
		named(A, f.A.Mailbox, f.Name)
		named(B, f.B.Mailbox, f.Name)
	}
	var renames [2][]*Action
	for i := range p.Actions {
		a := &p.Actions[i]
		switch a.Op {
		case CreateFolder, DeleteFolder:
			named(a.Side, a.Mailbox, a.Folder)
		case RenameFolder:
			named(a.Side, a.Mailbox, a.rare().renFrom)
			named(a.Side, a.Dest, a.rare().renTo)
			renames[a.Side] = append(renames[a.Side], a)
		}
	}
	var delim [2]string
	for s := range 2 {
		if l := p.lists[s]; l != nil && l.Delim != 0 {
			delim[s] = string(l.Delim)
		}
	}
	// within reports whether mailbox mb on side s is top or under it.
	within := func(s Side, mb, top string) bool {
		return mb == top || delim[s] != "" && strings.HasPrefix(mb, top+delim[s])
	}
	out := make([]Footprint, len(p.Actions))
	for i := range p.Actions {
		a := &p.Actions[i]
		names := map[string]bool{}
		boxes := [2]map[string]bool{{}, {}}
		box := func(s Side, mb string) {
			if mb != "" {
				boxes[s][mb] = true
			}
		}
		names[a.Folder] = true
		if a.Op == RenameFolder {
			names[a.rare().renFrom], names[a.rare().renTo] = true, true
		}
		box(a.Side, a.Mailbox)
		box(a.Side, a.Dest)
		box(a.Side.Other(), a.SrcMailbox)
		if a.Op == RenameFolder {
			for mb := range nameOf[a.Side] {
				if within(a.Side, mb, a.Mailbox) || within(a.Side, mb, a.Dest) {
					box(a.Side, mb)
				}
			}
		}
		if a.Op == CreateFolder || a.Op == DeleteFolder || a.Op == RenameFolder {
			for _, mb := range []string{a.Mailbox, a.Dest} {
				for j := 0; delim[a.Side] != "" && j < len(mb); j++ {
					if strings.HasPrefix(mb[j:], delim[a.Side]) {
						box(a.Side, mb[:j])
					}
				}
			}
		}
		// The mailboxes' names, and the renames above them.
		for s := range 2 {
			for mb := range boxes[s] {
				for _, n := range nameOf[s][mb] {
					names[n] = true
				}
				for _, r := range renames[s] {
					if within(Side(s), mb, r.Mailbox) || within(Side(s), mb, r.Dest) {
						names[r.Folder], names[r.rare().renFrom], names[r.rare().renTo] = true, true, true
						box(Side(s), r.Mailbox)
						box(Side(s), r.Dest)
					}
				}
			}
		}
		for grown := true; grown; {
			grown = false
			for _, l := range p.links {
				if names[l[0]] != names[l[1]] {
					names[l[0]], names[l[1]], grown = true, true, true
				}
			}
		}
		drafts := []*draftFolder{a.folder, home[a.arrival]}
		for n := range names {
			drafts = append(drafts, byName[n]...)
		}
		for _, d := range drafts {
			if d == nil {
				continue
			}
			for _, n := range draftNames(d) {
				names[n] = true
			}
			for s := range 2 {
				box(Side(s), d.listed[s].Mailbox)
				box(Side(s), d.side[s].Mailbox)
				if d.base != nil {
					box(Side(s), d.base.Side(Side(s)).Mailbox)
				}
				if rn := d.renamed; rn != nil {
					box(Side(s), rn.oldMailbox[s])
					box(Side(s), rn.orig.Side(Side(s)).Mailbox)
				}
			}
		}
		for n := range names {
			if f := baseOf[n]; f != nil {
				box(A, f.A.Mailbox)
				box(B, f.B.Mailbox)
			}
		}
		delete(names, "")
		fp := Footprint{Folders: sortedKeys(names)}
		for s := range 2 {
			fp.Mailboxes[s] = sortedKeys(boxes[s])
		}
		out[i] = fp
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// InScope returns the indexes of p's actions whose footprint names a
// folder pair in scope, in plan order.
func (p *Plan) InScope(scope []string) []int {
	in := map[string]bool{}
	for _, n := range scope {
		in[n] = true
	}
	var out []int
	for i, fp := range p.Footprints() {
		if slices.ContainsFunc(fp.Folders, func(n string) bool { return in[n] }) {
			out = append(out, i)
		}
	}
	return out
}

// scoped returns the part of p that a run limited to the folder pairs in
// scope carries out: the actions InScope keeps, sharing p's drafts, so
// that journals and scan points read them as p's. idx maps its actions
// to p's.
func (p *Plan) scoped(scope []string) (sub *Plan, idx []int) {
	idx = p.InScope(scope)
	sub = &Plan{Pair: p.Pair, Conflicts: p.Conflicts, base: p.base, drafts: p.drafts, lists: p.lists, policy: p.policy}
	sub.Actions = make([]Action, len(idx))
	for j, i := range idx {
		sub.Actions[j] = p.Actions[i]
	}
	sub.Recount()
	return sub, idx
}

// Recount sets p.Counts from p.Actions, as Build counts them: for a
// plan read back from its JSON form, whose Counts are not in it.
func (p *Plan) Recount() {
	p.Counts = [2]Counts{}
	(&planner{plan: p}).count()
}

// ScopeState returns the state a run limited to the folder pairs in
// scope records: next's folder pairs in scope, and every other folder
// pair as base had it, so that whatever changed outside the scope is
// neither done nor agreed, and the next run finds it again. It is a pure
// function.
func ScopeState(base, next State, scope []string) State {
	in := map[string]bool{}
	for _, n := range scope {
		in[n] = true
	}
	var out State
	for _, f := range next.Folders {
		if in[f.Name] {
			out.Folders = append(out.Folders, f)
		}
	}
	for _, f := range base.Folders {
		if !in[f.Name] {
			out.Folders = append(out.Folders, f)
		}
	}
	sort.Slice(out.Folders, func(i, j int) bool { return out.Folders[i].Name < out.Folders[j].Name })
	return out
}
