package gitstate

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5"
)

// atomicFile is a file opened for writing whose new content replaces the
// old one whole, or not at all: writes go to memory, and Close writes
// them to a temporary file beside the target and renames it into place.
//
// go-git rewrites the index and refs/heads/main in place: it truncates
// the file, then writes it. A run killed between the two leaves an empty
// or half-written file, and the next run either cannot read the
// repository (a truncated index) or, worse, reads an empty branch as "no
// state yet" and syncs as if the two accounts had never met.
// TestCrashAtEveryWrite finds both. Through atomicFile those files hold
// the old content or the new, never anything between.
//
// Lock and Unlock do nothing: only the holder of the run lock
// ([Repo.Lock]) writes to the repository.
type atomicFile struct {
	fs     billy.Filesystem
	name   string
	perm   os.FileMode
	buf    []byte
	off    int64
	closed bool
}

// openAtomic opens name in fsys for writing through an atomicFile,
// following flag's O_CREATE, O_EXCL and O_TRUNC.
func openAtomic(fsys billy.Filesystem, name string, flag int, perm os.FileMode) (billy.File, error) {
	f := &atomicFile{fs: fsys, name: name, perm: perm}
	old, err := readAll(fsys, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if flag&os.O_CREATE == 0 {
			return nil, err
		}
	case err != nil:
		return nil, err
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case flag&os.O_TRUNC == 0:
		f.buf = old
	}
	if flag&os.O_APPEND != 0 {
		f.off = int64(len(f.buf))
	}
	return f, nil
}

func readAll(fsys billy.Filesystem, name string) ([]byte, error) {
	r, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (f *atomicFile) Name() string { return f.name }

func (f *atomicFile) Write(p []byte) (int, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	if end := f.off + int64(len(p)); end > int64(len(f.buf)) {
		f.buf = append(f.buf, make([]byte, end-int64(len(f.buf)))...)
	}
	n := copy(f.buf[f.off:], p)
	f.off += int64(n)
	return n, nil
}

func (f *atomicFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *atomicFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	if off >= int64(len(f.buf)) {
		return 0, io.EOF
	}
	n := copy(p, f.buf[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *atomicFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += int64(len(f.buf))
	}
	if offset < 0 {
		return f.off, fmt.Errorf("seek %s: negative offset", f.name)
	}
	f.off = offset
	return offset, nil
}

func (f *atomicFile) Truncate(size int64) error {
	if size < 0 {
		return fmt.Errorf("truncate %s: negative size", f.name)
	}
	if size <= int64(len(f.buf)) {
		f.buf = f.buf[:size]
	} else {
		f.buf = append(f.buf, make([]byte, size-int64(len(f.buf)))...)
	}
	return nil
}

func (f *atomicFile) Lock() error   { return nil }
func (f *atomicFile) Unlock() error { return nil }

// Close writes the content to a temporary file in the target's
// directory, with the target's mode, and renames it over the target.
func (f *atomicFile) Close() (err error) {
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	tmp, err := f.fs.TempFile(filepath.Dir(f.name), "."+filepath.Base(f.name)+".tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			f.fs.Remove(tmp.Name())
			err = fmt.Errorf("write %s: %w", f.name, err)
		}
	}()
	if _, err := tmp.Write(f.buf); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if ch, ok := f.fs.(billy.Chmod); ok {
		if err := ch.Chmod(tmp.Name(), f.perm); err != nil {
			return err
		}
	}
	return f.fs.Rename(tmp.Name(), f.name)
}
