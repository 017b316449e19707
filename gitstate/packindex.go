package gitstate

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5"
)

// Open opens name for reading. A pack's index is read whole into memory
// first, with a few large reads: go-git decodes it from the file as it
// comes, with one read per 4-byte entry of its fan-out table (256 of
// them), each a system call on an os.File, and it reads the index of
// every pack before a commit's first object lookup. With the 40 packs a
// long-used state repository holds between pack steps that was about
// 10,000 system calls per commit.
func (f privateFS) Open(name string) (billy.File, error) {
	file, err := f.Filesystem.Open(name)
	if err != nil || !isPackIndex(name) {
		return file, err
	}
	defer file.Close()
	var buf bytes.Buffer
	if fi, err := f.Filesystem.Stat(name); err == nil {
		buf.Grow(int(fi.Size()) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(file); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return &memFile{name: file.Name(), Reader: bytes.NewReader(buf.Bytes())}, nil
}

// isPackIndex tells whether name, relative to the .git directory, is a
// pack's index.
func isPackIndex(name string) bool {
	name = path.Clean(filepath.ToSlash(name))
	return path.Dir(name) == "objects/pack" && strings.HasSuffix(name, ".idx")
}

// memFile is a file read whole into memory, opened for reading only.
type memFile struct {
	name string
	*bytes.Reader
}

var errReadOnly = errors.New("opened for reading only")

func (m *memFile) Name() string { return m.name }
func (m *memFile) Write(p []byte) (int, error) {
	return 0, fmt.Errorf("write %s: %w", m.name, errReadOnly)
}
func (m *memFile) Truncate(int64) error { return fmt.Errorf("truncate %s: %w", m.name, errReadOnly) }
func (m *memFile) Close() error         { return nil }
func (m *memFile) Lock() error          { return nil }
func (m *memFile) Unlock() error        { return nil }
