package gitstate

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/go-git/go-billy/v5"
)

// privateFS is the filesystem of the state repository, its .git
// included. Whatever go-git creates through it (objects, refs, the
// index, worktree files, directories) is readable by the owner only:
// files 0600, directories 0700. The state names the user's mailboxes
// and what moved between them; it is nobody else's business.
//
// Files opened for writing are written whole or not at all (see
// atomicFile), so a run killed while go-git rewrites the index or a ref
// leaves the old content, not a truncated file.
type privateFS struct{ billy.Filesystem }

// private masks group and other permission bits off perm.
func private(perm os.FileMode) os.FileMode { return perm &^ 0o077 }

// parent creates the directory of name as private. osfs would create a
// missing one itself, but world-readable (0755).
func (f privateFS) parent(name string) error {
	return f.MkdirAll(path.Dir(filepath.ToSlash(name)), 0o700)
}

func (f privateFS) Create(name string) (billy.File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
}

func (f privateFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	if flag&os.O_CREATE != 0 {
		if err := f.parent(name); err != nil {
			return nil, err
		}
	}
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		return openAtomic(f.Filesystem, name, flag, private(perm))
	}
	return f.Filesystem.OpenFile(name, flag, private(perm))
}

func (f privateFS) TempFile(dir, prefix string) (billy.File, error) {
	if err := f.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return f.Filesystem.TempFile(dir, prefix)
}

func (f privateFS) Rename(from, to string) error {
	if err := f.parent(to); err != nil {
		return err
	}
	return f.Filesystem.Rename(from, to)
}

// MkdirAll creates the missing directories of name one by one and makes
// each private: osfs ignores perm and uses 0755.
func (f privateFS) MkdirAll(name string, perm os.FileMode) error {
	name = path.Clean(filepath.ToSlash(name))
	if name == "." || name == "/" {
		return nil
	}
	if _, err := f.Filesystem.Stat(name); err == nil {
		return nil
	}
	if err := f.MkdirAll(path.Dir(name), perm); err != nil {
		return err
	}
	if err := f.Filesystem.MkdirAll(name, 0o700); err != nil {
		return err
	}
	ch, ok := f.Filesystem.(billy.Chmod)
	if !ok {
		return fmt.Errorf("mkdir %s: cannot make it private: the filesystem has no chmod", name)
	}
	return ch.Chmod(name, private(perm).Perm()|0o700)
}

func (f privateFS) Chroot(path string) (billy.Filesystem, error) {
	c, err := f.Filesystem.Chroot(path)
	if err != nil {
		return nil, err
	}
	return privateFS{c}, nil
}
