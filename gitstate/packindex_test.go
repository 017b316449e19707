package gitstate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
)

// readCountFS counts the reads of each file opened through it.
type readCountFS struct {
	billy.Filesystem
	prefix string
	mu     *sync.Mutex
	reads  map[string]int
}

func (f readCountFS) Open(name string) (billy.File, error) {
	file, err := f.Filesystem.Open(name)
	if err != nil {
		return nil, err
	}
	return readCountFile{file, f, filepath.Join(f.prefix, name)}, nil
}

func (f readCountFS) Chroot(path string) (billy.Filesystem, error) {
	c, err := f.Filesystem.Chroot(path)
	if err != nil {
		return nil, err
	}
	return readCountFS{c, filepath.Join(f.prefix, path), f.mu, f.reads}, nil
}

func (f readCountFS) Chmod(name string, mode os.FileMode) error {
	return f.Filesystem.(billy.Chmod).Chmod(name, mode)
}

type readCountFile struct {
	billy.File
	fs   readCountFS
	name string
}

func (f readCountFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	f.fs.reads[f.name]++
	f.fs.mu.Unlock()
	return f.File.Read(p)
}

// TestCommitReadsPackIndexesWhole commits in a repository of many packs
// and counts the reads of their indexes: go-git reads every pack's
// index before a commit's first object lookup, and decoding one from
// the file costs a read per entry of its fan-out table (256), each a
// system call. Through privateFS an index is read whole, in a few.
func TestCommitReadsPackIndexesWhole(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	r.NoAutoPack = true
	r.runPackMin = 4
	fixedClock(r)
	hist := packHistory(12, 10, 20)
	for i, files := range hist[:len(hist)-1] {
		commitState(t, ctx, r, files, fmt.Sprintf("run %d", i))
	}
	packs := countPacks(t, dir)
	if packs < 4 {
		t.Fatalf("%d packs after %d runs; want several", packs, len(hist)-1)
	}

	counted := readCountFS{osfs.New(dir), "", &sync.Mutex{}, map[string]int{}}
	r, err = open(ctx, dir, counted)
	if err != nil {
		t.Fatal(err)
	}
	r.NoAutoPack = true
	fixedClock(r)
	commitState(t, ctx, r, hist[len(hist)-1], "the last run")

	indexes := 0
	for name, n := range counted.reads {
		if filepath.Dir(name) != filepath.Join(".git", "objects", "pack") || filepath.Ext(name) != ".idx" {
			continue
		}
		indexes++
		if n > 2 {
			t.Errorf("%s read in %d reads; want it read whole, in a few", name, n)
		}
	}
	if indexes < packs {
		t.Errorf("%d pack indexes read through the filesystem, of %d packs: the commit did not look objects up in the packs, or the count misses them", indexes, packs)
	}
}
