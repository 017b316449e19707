package gitstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Stage makes the directory prefix (e.g. "work") hold exactly files,
// keyed by slash-separated path relative to prefix, and stages the
// result for [Repo.Commit]. Files under prefix that are not in the map
// are removed from the worktree and the index; files elsewhere in the
// repository are left alone.
//
// Only files whose content differs from what is staged (which is HEAD's
// content unless Stage ran before without a Commit) are written and
// added: staging hashes and compresses a whole file, which is the
// expensive part of a run with large state files. The bytes are stored
// as given, without line-ending conversion, in files of mode 0644, each
// written to a temporary file and renamed into place, so a run killed
// midway never leaves a half-written file.
//
// prefix must not be empty. Paths must be clean and relative, without
// "." or ".." elements or a ".git" element, and no path may be a parent
// directory of another.
func (r *Repo) Stage(ctx context.Context, prefix string, files map[string][]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	errf := func(err error) error {
		return fmt.Errorf("stage %s in state repo %s: %w", prefix, r.dir, err)
	}
	if err := ctx.Err(); err != nil {
		return errf(err)
	}
	if err := checkPrefix(prefix, false); err != nil {
		return fmt.Errorf("stage in state repo %s: %w", r.dir, err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if err := checkPath(name); err != nil {
			return errf(err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := files[d]; ok {
				return errf(fmt.Errorf("%s is both a file and the directory of %s", d, name))
			}
		}
	}

	idx, err := r.git.Storer.Index()
	if err != nil {
		return errf(fmt.Errorf("read index: %w", err))
	}
	pre := prefix + "/"
	staged := map[string]*index.Entry{}
	for _, e := range idx.Entries {
		if rel, ok := strings.CutPrefix(e.Name, pre); ok {
			staged[rel] = e
		}
	}

	// Remove first, so that a file may turn into a directory and back.
	root := r.worktreePath(prefix)
	if err := removeExtra(root, files); err != nil {
		return errf(err)
	}
	dropped := false
	for rel := range staged {
		if _, ok := files[rel]; !ok {
			if _, err := idx.Remove(pre + rel); err != nil {
				return errf(fmt.Errorf("unstage %s: %w", pre+rel, err))
			}
			dropped = true
		}
	}
	if dropped {
		if err := r.git.Storer.SetIndex(idx); err != nil {
			return errf(fmt.Errorf("write index: %w", err))
		}
	}

	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return errf(err)
		}
		p := pre + name
		data := files[name]
		if e, ok := staged[name]; ok && r.upToDate(e, p, data) {
			continue
		}
		if err := writeAtomic(r.worktreePath(p), data); err != nil {
			return errf(err)
		}
		// SkipStatus: without it, Add runs a Status of the whole
		// worktree, which hashes every file. It is only honoured for a
		// path that exists, which this one does now.
		if err := r.wt.AddWithOptions(&git.AddOptions{Path: p, SkipStatus: true}); err != nil {
			return errf(fmt.Errorf("add %s: %w", p, err))
		}
	}
	return nil
}

// upToDate reports whether the index entry e already holds data and the
// worktree file at p is the one e was staged from (same size and
// modification time, as git itself judges).
func (r *Repo) upToDate(e *index.Entry, p string, data []byte) bool {
	if e.Mode != filemode.Regular || int64(e.Size) != int64(len(data)) {
		return false
	}
	fi, err := os.Lstat(r.worktreePath(p))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(len(data)) || !fi.ModTime().Equal(e.ModifiedAt) {
		return false
	}
	return e.Hash == plumbing.ComputeHash(plumbing.BlobObject, data)
}

// removeExtra removes every file under root whose path relative to root
// is not a key of keep, including temporary files a killed run left,
// then the directories that became empty.
func removeExtra(root string, keep map[string][]byte) error {
	fi, err := os.Lstat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", root)
	}
	var dirs []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if _, ok := keep[filepath.ToSlash(rel)]; ok && d.Type().IsRegular() {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clean %s: %w", root, err)
	}
	for _, d := range slices.Backward(dirs) {
		ents, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("clean %s: %w", root, err)
		}
		if len(ents) == 0 {
			if err := os.Remove(d); err != nil {
				return fmt.Errorf("clean %s: %w", root, err)
			}
		}
	}
	return nil
}

// writeAtomic writes data to name through a temporary file in the same
// directory and a rename, so name holds either its old or its new
// content. It does not fsync: the worktree is a mirror of the committed
// objects, which are what is read back.
func writeAtomic(name string, data []byte) (err error) {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", name, err)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// checkPrefix checks a directory argument; the empty prefix, the whole
// tree, only where allowEmpty.
func checkPrefix(prefix string, allowEmpty bool) error {
	if prefix == "" && allowEmpty {
		return nil
	}
	if err := checkPath(prefix); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// checkPath accepts a clean, relative, slash-separated path that stays
// inside the repository and out of .git.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("invalid path %q: backslash or NUL", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("invalid path %q: not relative", p)
	case path.Clean(p) != p:
		return fmt.Errorf("invalid path %q: not clean", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "." || el == ".." || strings.EqualFold(el, ".git") {
			return fmt.Errorf("invalid path %q: %q element", p, el)
		}
	}
	return nil
}

// discardStaged makes the index and the worktree equal HEAD again when
// the index holds changes that were never committed: those of a run
// that died between Stage and Commit. Such a run's state was never
// agreed, so it must not slip into the next run's commit.
func (r *Repo) discardStaged(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	idx, err := r.git.Storer.Index()
	if err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	head, err := r.head()
	if err != nil {
		return err
	}
	if head == nil {
		if len(idx.Entries) == 0 {
			return nil
		}
		for _, e := range idx.Entries {
			if err := os.Remove(r.worktreePath(e.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("discard staged %s: %w", e.Name, err)
			}
		}
		idx.Entries = nil
		if err := r.git.Storer.SetIndex(idx); err != nil {
			return fmt.Errorf("write index: %w", err)
		}
		return nil
	}
	same, added, err := compareIndex(idx, head)
	if err != nil || same {
		return err
	}
	if err := r.wt.Reset(&git.ResetOptions{Commit: head.Hash, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("discard staged changes: %w", err)
	}
	// A hard reset leaves files that were staged but are not in HEAD
	// behind as untracked files.
	for _, p := range added {
		if err := os.Remove(r.worktreePath(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("discard staged %s: %w", p, err)
		}
	}
	return nil
}

// compareIndex reports whether the index holds exactly c's tree
// (paths, modes and blob hashes; no blob is read), and which indexed
// paths c's tree lacks.
func compareIndex(idx *index.Index, c *object.Commit) (same bool, added []string, err error) {
	tree, err := c.Tree()
	if err != nil {
		return false, nil, fmt.Errorf("read tree of %s: %w", c.Hash, err)
	}
	staged := make(map[string]*index.Entry, len(idx.Entries))
	for _, e := range idx.Entries {
		staged[e.Name] = e
	}
	same = true
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	for {
		name, te, err := w.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, nil, fmt.Errorf("walk tree of %s: %w", c.Hash, err)
		}
		if te.Mode == filemode.Dir {
			continue
		}
		e, ok := staged[name]
		if !ok || e.Hash != te.Hash || e.Mode != te.Mode {
			same = false
		}
		delete(staged, name)
	}
	for name := range staged {
		added = append(added, name)
	}
	return same && len(added) == 0, added, nil
}
