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

// manyPacks makes a state repository of several run packs (automatic
// packing off) and returns its directory, the number of packs and the
// files of one more run, not committed.
func manyPacks(t *testing.T, ctx context.Context) (dir string, packs int, next map[string][]byte) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "state")
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
	packs = countPacks(t, dir)
	if packs < 4 {
		t.Fatalf("%d packs after %d runs; want several", packs, len(hist)-1)
	}
	return dir, packs, hist[len(hist)-1]
}

// packIndexReads returns the reads of each pack index counted.
func packIndexReads(counted readCountFS) map[string]int {
	out := map[string]int{}
	for name, n := range counted.reads {
		if filepath.Dir(name) == filepath.Join(".git", "objects", "pack") && filepath.Ext(name) == ".idx" {
			out[name] = n
		}
	}
	return out
}

// TestCommitReadsNoPackIndex stages and commits a run in a repository
// of many packs and counts the reads of their indexes: none. go-git's
// Worktree.Commit asked the object store whether it had each tree it
// built, and the store reads every pack's index before its first
// lookup; the commit now hashes the trees itself and compares them with
// HEAD's (see commit.go).
func TestCommitReadsNoPackIndex(t *testing.T) {
	ctx := context.Background()
	dir, _, next := manyPacks(t, ctx)
	counted := readCountFS{osfs.New(dir), "", &sync.Mutex{}, map[string]int{}}
	r, err := open(ctx, dir, counted)
	if err != nil {
		t.Fatal(err)
	}
	r.NoAutoPack = true
	fixedClock(r)
	commitState(t, ctx, r, next, "the last run")
	if reads := packIndexReads(counted); len(reads) > 0 {
		t.Errorf("the commit read %d pack indexes (%v); want none", len(reads), reads)
	}
}

// TestPackIndexesReadWhole reads a blob through go-git in a repository
// of many packs and counts the reads of their indexes: go-git reads every
// pack's index before its first object lookup, and decoding one from
// the file costs a read per entry of its fan-out table (256), each a
// system call. Through privateFS an index is read whole, in a few.
func TestPackIndexesReadWhole(t *testing.T) {
	ctx := context.Background()
	dir, packs, _ := manyPacks(t, ctx)
	counted := readCountFS{osfs.New(dir), "", &sync.Mutex{}, map[string]int{}}
	r, err := open(ctx, dir, counted)
	if err != nil {
		t.Fatal(err)
	}
	// A blob of a run pack, read through go-git (as the commands that
	// read history do), which looks it up in the packs.
	idx, err := r.git.Storer.Index()
	if err != nil {
		t.Fatal(err)
	}
	looked := false
	for _, e := range idx.Entries {
		hex := e.Hash.String()
		if _, err := os.Stat(filepath.Join(dir, ".git", "objects", hex[:2], hex[2:])); err == nil {
			continue // loose
		}
		if _, err := r.git.BlobObject(e.Hash); err != nil {
			t.Fatal(err)
		}
		looked = true
		break
	}
	if !looked {
		t.Fatal("every staged blob is loose; want one in a run pack")
	}
	reads := packIndexReads(counted)
	for name, n := range reads {
		if n > 2 {
			t.Errorf("%s read in %d reads; want it read whole, in a few", name, n)
		}
	}
	if len(reads) < packs {
		t.Errorf("%d pack indexes read through the filesystem, of %d packs: the read did not look objects up in the packs, or the count misses them", len(reads), packs)
	}
}
