package reconcile

import "sort"

// FolderDiff is how one folder pair's agreed state differs between two
// states, as diff prints it.
type FolderDiff struct {
	// Folder is the logical name in the newer state (in the older one
	// for a folder removed).
	Folder string `json:"folder"`
	// Change is "added", "removed", "renamed" or "" (changed in place).
	Change string `json:"change,omitempty"`
	// RenamedFrom is the older name of a folder renamed.
	RenamedFrom string `json:"renamed_from,omitempty"`
	// Added and Removed count records (agreed messages, by their UIDs on
	// both sides) only in the newer or only in the older state;
	// FlagsChanged those in both whose flags differ.
	Added        int `json:"added"`
	Removed      int `json:"removed"`
	FlagsChanged int `json:"flags_changed"`
}

// DiffStates compares two states of one pair, folder by folder, and
// returns the folders that differ, sorted by name. A folder missing by
// name in new, and one new in it with the same UIDVALIDITY on both
// sides, is a rename. DiffStates is a pure function.
func DiffStates(old, new State) []FolderDiff {
	oldBy := map[string]*FolderState{}
	for i := range old.Folders {
		oldBy[old.Folders[i].Name] = &old.Folders[i]
	}
	newBy := map[string]*FolderState{}
	for i := range new.Folders {
		newBy[new.Folders[i].Name] = &new.Folders[i]
	}
	var gone []*FolderState
	for i := range old.Folders {
		if newBy[old.Folders[i].Name] == nil {
			gone = append(gone, &old.Folders[i])
		}
	}
	var out []FolderDiff
	for i := range new.Folders {
		nf := &new.Folders[i]
		d := FolderDiff{Folder: nf.Name}
		of := oldBy[nf.Name]
		if of == nil {
			for gi, g := range gone {
				if g != nil && sameUIDValidity(g, nf) {
					of, gone[gi] = g, nil
					d.Change, d.RenamedFrom = "renamed", g.Name
					break
				}
			}
		}
		if of == nil {
			d.Change = "added"
			d.Added = len(nf.Records)
		} else {
			d.Added, d.Removed, d.FlagsChanged = diffRecords(of.Records, nf.Records)
		}
		if d.Change != "" || d.Added+d.Removed+d.FlagsChanged > 0 {
			out = append(out, d)
		}
	}
	for _, g := range gone {
		if g != nil {
			out = append(out, FolderDiff{Folder: g.Name, Change: "removed", Removed: len(g.Records)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Folder < out[j].Folder })
	return out
}

func sameUIDValidity(x, y *FolderState) bool {
	return x.A.UIDValidity != 0 && x.B.UIDValidity != 0 &&
		x.A.UIDValidity == y.A.UIDValidity && x.B.UIDValidity == y.B.UIDValidity
}

func diffRecords(old, new []Record) (added, removed, flags int) {
	type key struct{ a, b UID }
	oldBy := make(map[key]Flags, len(old))
	for _, r := range old {
		oldBy[key{r.UIDA, r.UIDB}] = r.Flags
	}
	for _, r := range new {
		k := key{r.UIDA, r.UIDB}
		f, ok := oldBy[k]
		switch {
		case !ok:
			added++
		case !f.Equal(r.Flags):
			flags++
		}
		delete(oldBy, k)
	}
	return added, len(oldBy), flags
}
