package gitstate

import (
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	gitstorage "github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// The commit of a run. go-git's Worktree.Commit builds every tree of the
// index and asks the object store whether it has each one, which loads
// the index of every pack in the repository; it reads the parent
// commit whole, and Commit read the new one back; and the check for
// nothing to commit walked HEAD's whole tree. In a state repository of
// 19 packs (a long-used one holds up to 30 between two packing steps)
// that made a run's commit 10 to 26 ms, where commitIndex takes 2 to 5
// (BENCHMARKS.md, "The commit without go-git's Worktree.Commit"), and a
// run's end is what nothing else overlaps. commitIndex does the same
// work from what it knows: the index's trees are hashed in memory,
// compared with HEAD's tree to tell whether anything changed, and only
// the trees that differ from HEAD's are written, HEAD's read where
// they differ to find which of their subtrees do.

// treeNode is one directory of the index: its files' entries and its
// subdirectories, then its hash and encoded object once hashed.
type treeNode struct {
	files []object.TreeEntry
	dirs  map[string]*treeNode
	hash  plumbing.Hash
	obj   *plumbing.MemoryObject
}

// indexTree builds the directory tree of the index's entries. As
// go-git's Worktree.Commit, it takes every entry as it is, whatever its
// stage: the state repository's index never holds a merge's.
func indexTree(idx *index.Index) *treeNode {
	root := &treeNode{}
	for _, e := range idx.Entries {
		parts := strings.Split(e.Name, "/")
		n := root
		for _, d := range parts[:len(parts)-1] {
			if n.dirs == nil {
				n.dirs = map[string]*treeNode{}
			}
			c := n.dirs[d]
			if c == nil {
				c = &treeNode{}
				n.dirs[d] = c
			}
			n = c
		}
		n.files = append(n.files, object.TreeEntry{Name: parts[len(parts)-1], Mode: e.Mode, Hash: e.Hash})
	}
	return root
}

// hashTree encodes n and its subtrees as Git tree objects, bottom up,
// and sets their hashes. Entries are in Git's order: by name, a
// directory's name compared as if it ended in "/".
func hashTree(n *treeNode) error {
	entries := slices.Clone(n.files)
	for name, c := range n.dirs {
		if err := hashTree(c); err != nil {
			return err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: c.hash})
	}
	sortKey := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(entries, func(x, y object.TreeEntry) int { return strings.Compare(sortKey(x), sortKey(y)) })
	n.obj = &plumbing.MemoryObject{}
	if err := (&object.Tree{Entries: entries}).Encode(n.obj); err != nil {
		return err
	}
	n.hash = n.obj.Hash()
	return nil
}

// commitIndex records the index as a commit whose parent is head (none
// when zero) and whose tree replaces headTree, moves HEAD's branch to
// it and returns it. It returns ErrNothingToCommit when the index holds
// headTree, or nothing with no head.
func (r *Repo) commitIndex(idx *index.Index, head, headTree plumbing.Hash, msg string) (*object.Commit, error) {
	if head.IsZero() && len(idx.Entries) == 0 {
		return nil, ErrNothingToCommit
	}
	root := indexTree(idx)
	if err := hashTree(root); err != nil {
		return nil, fmt.Errorf("build tree: %w", err)
	}
	if root.hash == headTree {
		return nil, ErrNothingToCommit
	}
	if err := r.storeTrees(root, "", headTree); err != nil {
		return nil, err
	}
	sig := r.signature()
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: root.hash}
	if !head.IsZero() {
		c.ParentHashes = []plumbing.Hash{head}
	}
	obj := &plumbing.MemoryObject{}
	if err := c.Encode(obj); err != nil {
		return nil, fmt.Errorf("encode commit: %w", err)
	}
	if err := r.storeObject(obj); err != nil {
		return nil, fmt.Errorf("write commit: %w", err)
	}
	// The commit as a reader of the repository will see it: its times
	// to the second, in the zone recorded.
	c, err := object.DecodeCommit(r.git.Storer, obj)
	if err != nil {
		return nil, fmt.Errorf("decode new commit: %w", err)
	}
	if err := r.moveHead(head, c.Hash); err != nil {
		return nil, err
	}
	return c, nil
}

// storeTrees writes the tree n (at dir, "" for the root) and those of
// its subtrees that differ from old, the tree at the same place in
// HEAD (zero where HEAD has none): a tree HEAD has is in the repository
// already, with all it holds.
func (r *Repo) storeTrees(n *treeNode, dir string, old plumbing.Hash) error {
	if n.hash == old {
		return nil
	}
	var oldDirs map[string]plumbing.Hash
	if !old.IsZero() && len(n.dirs) > 0 {
		t, err := r.git.TreeObject(old)
		if err != nil {
			return fmt.Errorf("read tree %s of HEAD: %w", old, err)
		}
		oldDirs = map[string]plumbing.Hash{}
		for _, e := range t.Entries {
			if e.Mode == filemode.Dir {
				oldDirs[e.Name] = e.Hash
			}
		}
	}
	for name, c := range n.dirs {
		if err := r.storeTrees(c, path.Join(dir, name), oldDirs[name]); err != nil {
			return err
		}
	}
	if err := r.storeObject(n.obj); err != nil {
		return fmt.Errorf("write tree %q: %w", dir, err)
	}
	return nil
}

// storeObject writes obj as a loose object, as writeLoose writes blobs,
// or through go-git for a repository not on disk.
func (r *Repo) storeObject(obj *plumbing.MemoryObject) error {
	st, ok := r.git.Storer.(*filesystem.Storage)
	if !ok {
		_, err := r.git.Storer.SetEncodedObject(obj)
		return err
	}
	rd, err := obj.Reader()
	if err != nil {
		return err
	}
	data := make([]byte, obj.Size())
	if _, err := io.ReadFull(rd, data); err != nil {
		return err
	}
	return r.writeLoose(st, obj.Hash(), obj.Type(), data)
}

// moveHead points HEAD's branch (or a detached HEAD) at commit h, if it
// still points at from (zero: nowhere yet). Compare and swap, as
// Rollback does: a commit made meanwhile by a process that ignored the
// run lock fails this one rather than being dropped from the history.
func (r *Repo) moveHead(from, h plumbing.Hash) error {
	head, err := r.git.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return fmt.Errorf("read HEAD: %w", err)
	}
	name := plumbing.HEAD
	if head.Type() == plumbing.SymbolicReference {
		name = head.Target()
	}
	var old *plumbing.Reference
	if !from.IsZero() {
		old = plumbing.NewHashReference(name, from)
	}
	if err := r.git.Storer.CheckAndSetReference(plumbing.NewHashReference(name, h), old); err != nil {
		if errors.Is(err, gitstorage.ErrReferenceHasChanged) {
			return fmt.Errorf("move %s from %s to %s: %w: another process committed to the state repository while this run held its lock, and this run's state was not recorded: see git log, then run again", name, from, h, err)
		}
		return fmt.Errorf("move %s from %s to %s: %w", name, from, h, err)
	}
	return nil
}
