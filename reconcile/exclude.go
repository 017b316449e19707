package reconcile

import (
	"slices"
	"sort"
)

// Exclusion is why a folder is left out of a pair: side Side lists
// Mailbox with the special-use attribute Attr, which that side's
// Policy.ExcludeSpecialUse names.
type Exclusion struct {
	Side    Side
	Mailbox string
	Attr    Role
}

// ExcludedBy returns the first attribute of exclude that folder f
// carries, or "" when it carries none of them. Both are in canonical
// spelling (ParseSpecialUse).
func ExcludedBy(f *Folder, exclude []Role) Role {
	for _, x := range exclude {
		if slices.Contains(f.SpecialUse, x) {
			return x
		}
	}
	return ""
}

// exclusions returns, by logical name, the folders of the pair that
// p.ExcludeSpecialUse leaves out: a folder either side lists with an
// attribute that side excludes. The name is left out on both sides, so
// the other side's folder of that name is neither synced into the
// excluded one nor made there. A folder outside a side's prefix is not
// part of the pair anyway. When both sides exclude a name, A's reason
// is kept.
func exclusions(p Policy, nm *namer, lists [2]*Listing) map[string]Exclusion {
	var out map[string]Exclusion
	for s := range 2 {
		if len(p.ExcludeSpecialUse[s]) == 0 {
			continue
		}
		for i := range lists[s].Folders {
			f := &lists[s].Folders[i]
			attr := ExcludedBy(f, p.ExcludeSpecialUse[s])
			name := nm.logicalOf(Side(s), f.Mailbox)
			if attr == "" || name == "" {
				continue
			}
			if out == nil {
				out = map[string]Exclusion{}
			}
			if _, ok := out[name]; !ok {
				out[name] = Exclusion{Side: Side(s), Mailbox: f.Mailbox, Attr: attr}
			}
		}
	}
	return out
}

// withExclusions returns p, whose For gives direction none to the
// folders p.ExcludeSpecialUse leaves out of the pair, as the namer nm
// names the listings.
func (p Policy) withExclusions(nm *namer, lists [2]*Listing) Policy {
	p.excluded = exclusions(p, nm, lists)
	return p
}

// FolderLine is one folder pair of a Lineup: how a folder of one side
// lines up with a folder of the other, and what the pair's policy does
// with them.
type FolderLine struct {
	// Name is the logical name, "/"-separated, as folder rules see it.
	Name string
	// Mailbox is each side's folder, "" where that side lists none (a
	// run makes it there when changes flow that way).
	Mailbox [2]string
	// SpecialUse is each side's folder's special-use attributes.
	SpecialUse [2][]Role
	// Messages is each side's message count as listed, -1 where the
	// server did not say or the side lists no such folder.
	Messages [2]int
	// Match says how B's folder was paired with A's: "name" (the same
	// name, modulo delimiter and prefix), "map" (a map block) or
	// "special-use" (the same role); "" unless both sides list it.
	Match string
	// Rule is the index in Policy.Rules of the rule that matched the
	// name, -1 for the defaults.
	Rule int
	// Policy is what a run applies to the folder pair: the matching
	// rule's or the defaults, with direction none when excluded.
	Policy FolderPolicy
	// Excluded is set when Policy.ExcludeSpecialUse leaves the folder
	// pair out.
	Excluded *Exclusion
}

// Lineup is how the folders of a pair's two sides line up.
type Lineup struct {
	// Folders are the folder pairs, sorted by Name.
	Folders []FolderLine
	// Outside holds, per side, the mailboxes outside that side's prefix:
	// not part of the pair at all. Sorted.
	Outside [2][]string
}

// LineUp pairs the folders of two listings as a run would, before it
// looks at any message or at the state: names, prefixes, map blocks,
// special-use roles, folder rules and ExcludeSpecialUse. It is a pure
// function. A folder name that cannot be carried to the other side is a
// *NamingError, returned with the lineup when the folders could be
// paired, without one when they could not.
func LineUp(a, b Listing, p Policy) (*Lineup, error) {
	lists := [2]*Listing{&a, &b}
	nm, err := newNamer(p.Naming, lists)
	if err != nil {
		return nil, err
	}
	p = p.withExclusions(nm, lists)
	byName := map[string]*FolderLine{}
	lu := &Lineup{}
	for s := range 2 {
		for i := range lists[s].Folders {
			f := &lists[s].Folders[i]
			name := nm.logicalOf(Side(s), f.Mailbox)
			if name == "" {
				lu.Outside[s] = append(lu.Outside[s], f.Mailbox)
				continue
			}
			fl := byName[name]
			if fl == nil {
				fl = &FolderLine{Name: name, Messages: [2]int{-1, -1}}
				fl.Rule, _ = p.Rule(name)
				fl.Policy = p.For(name)
				if x, ok := p.excluded[name]; ok {
					fl.Excluded = &x
				}
				byName[name] = fl
			}
			fl.Mailbox[s] = f.Mailbox
			fl.SpecialUse[s] = f.SpecialUse
			fl.Messages[s] = f.NumMessages
		}
	}
	for _, fl := range byName {
		if fl.Mailbox[A] == "" || fl.Mailbox[B] == "" {
			continue
		}
		fl.Match = "name"
		if slices.Contains(p.Naming.Maps, NameMap{A: fl.Mailbox[A], B: fl.Mailbox[B]}) {
			fl.Match = "map"
		} else if nm.pathName(B, fl.Mailbox[B]) != fl.Name {
			fl.Match = "special-use"
		}
		lu.Folders = append(lu.Folders, *fl)
	}
	for _, fl := range byName {
		if fl.Mailbox[A] == "" || fl.Mailbox[B] == "" {
			lu.Folders = append(lu.Folders, *fl)
		}
	}
	sort.Slice(lu.Folders, func(i, j int) bool { return lu.Folders[i].Name < lu.Folders[j].Name })
	for s := range 2 {
		sort.Strings(lu.Outside[s])
	}
	return lu, nm.checkNames(p)
}
