package gitstate

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/klauspost/compress/zlib"
)

// Run packs. A Stage that stores many new blobs puts them into one pack
// of its own, a run pack, rather than a loose object each: creating a
// file is what a state commit's time goes to on a slow file system (at
// 100,000 records, a run that changes every folder makes 200 blobs, and
// their 200 files took most of the commit's 200 ms; see BENCHMARKS.md).
// git itself does the same past a number of objects (fetch.unpackLimit).
// A run pack's objects are stored whole, compressed as loose objects
// are; the automatic packing counts them as loose, and puts them into
// its delta-compressed pack with the loose objects, then removes the
// run packs (see autoPack).
//
// The run packs are listed, with their number of objects, in
// .git/mailtwin-run-packs, which git ignores. A run killed after its
// pack is in place but before the list names it leaves an ordinary
// pack: every object is readable, and mailtwin gc merges it.

// RunPackMin is the fewest new blobs a Stage writes as a run pack; fewer
// are written as loose objects, a file each, which costs less than a
// pack's two files and its listing.
const RunPackMin = 16

// runPacksFile is the list of run packs, in the .git directory.
const runPacksFile = "mailtwin-run-packs"

// runPack is a run pack being built, in memory: its objects compressed
// as they come, the file written once their number is known.
type runPack struct {
	body bytes.Buffer // the header (its count filled in by write) and the entries
	pw   *packWriter
	seen map[plumbing.Hash]bool
}

// newRunPack starts a run pack whose entries are compressed with zw.
func newRunPack(zw *zlib.Writer) *runPack {
	p := &runPack{seen: map[plumbing.Hash]bool{}}
	// A packWriter without the running checksum: the count in the
	// header is known only at the end, and write sums the whole.
	p.pw = &packWriter{f: &p.body, crc: crc32.NewIEEE(), idx: new(idxfile.Writer), zw: zw}
	p.pw.bw = bufio.NewWriterSize(&p.body, 64<<10)
	p.pw.bw.Write([]byte("PACK\x00\x00\x00\x02\x00\x00\x00\x00"))
	p.pw.off = 12
	return p
}

// add puts the blob data, named h, into the pack, once.
func (p *runPack) add(h plumbing.Hash, data []byte) error {
	if p.seen[h] {
		return nil
	}
	p.seen[h] = true
	return p.pw.entry(h, plumbing.BlobObject, data, 0)
}

// write writes the pack and its index into the repository's pack
// directory, lists it as a run pack and makes go-git see it. As in
// pack, the index goes in first: readers find packs by their .pack
// file. Neither is synced to the disk, as loose objects are not: the
// commit that names them is written after them, and nothing is removed
// on the strength of them. (The index was synced at first, as a pack
// step's is: that one fsync took BenchmarkRun/1pct at 10,000 records
// from 14-16 ms to 21-36 ms, b3's state commit.)
func (p *runPack) write(st *filesystem.Storage) error {
	fsys := st.Filesystem()
	packDir := fsys.Join("objects", "pack")
	if err := p.pw.bw.Flush(); err != nil {
		return err
	}
	b := p.body.Bytes()
	binary.BigEndian.PutUint32(b[8:12], uint32(p.pw.count))
	var sum plumbing.Hash
	s := sha1.Sum(b)
	copy(sum[:], s[:])
	if err := p.pw.idx.OnFooter(sum); err != nil {
		return fmt.Errorf("index pack: %w", err)
	}
	tmp, err := fsys.TempFile(packDir, "tmp_pack_")
	if err != nil {
		return fmt.Errorf("create pack: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		_, err = tmp.Write(sum[:])
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	name := fsys.Join(packDir, "pack-"+sum.String())
	if err == nil {
		err = writeIndex(fsys, packDir, name+".idx", p.pw.idx, false)
	}
	if err == nil {
		err = fsys.Rename(tmp.Name(), name+".pack")
	}
	if err != nil {
		fsys.Remove(tmp.Name())
		return fmt.Errorf("write pack: %w", err)
	}
	st.Reindex()
	runs, err := readRunPacks(fsys)
	if err != nil {
		return err
	}
	runs[sum] = p.pw.count
	return writeRunPacks(fsys, runs)
}

// readRunPacks returns the run packs still in the repository, with
// their number of objects. A line that names no pack and number is
// skipped, and the next write of the list drops it: the list only
// tells the automatic packing which packs to take in, so a pack it
// does not name is an ordinary pack, merged by mailtwin gc, and a
// damaged list must not stop a commit.
func readRunPacks(fsys billy.Filesystem) (map[plumbing.Hash]int, error) {
	runs := map[plumbing.Hash]int{}
	b, err := util.ReadFile(fsys, runPacksFile)
	if errors.Is(err, fs.ErrNotExist) {
		return runs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", runPacksFile, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		hex, count, ok := strings.Cut(line, " ")
		n, err := strconv.Atoi(count)
		if !ok || len(hex) != 40 || !isHex(hex) || err != nil || n < 0 {
			continue
		}
		h := plumbing.NewHash(hex)
		if _, err := fsys.Stat(fsys.Join("objects", "pack", "pack-"+hex+".pack")); err == nil {
			runs[h] = n
		}
	}
	return runs, nil
}

// sortedPacks returns the run packs of runs in the order of their
// names.
func sortedPacks(runs map[plumbing.Hash]int) []plumbing.Hash {
	return slices.SortedFunc(maps.Keys(runs), func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
}

// writeRunPacks writes the list of run packs, whole or not at all (the
// repository's file system writes through a temporary file).
func writeRunPacks(fsys billy.Filesystem, runs map[plumbing.Hash]int) error {
	var b []byte
	for _, h := range sortedPacks(runs) {
		b = fmt.Appendf(b, "%s %d\n", h, runs[h])
	}
	if len(b) == 0 {
		if err := fsys.Remove(runPacksFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write %s: %w", runPacksFile, err)
		}
		return nil
	}
	if err := util.WriteFile(fsys, runPacksFile, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", runPacksFile, err)
	}
	return nil
}

// wholeReader reads the objects of run packs, which are stored whole,
// as readLooseObject reads loose ones: go-git's pack reader inflates
// with the standard library's zlib and copies each object twice, which
// made a pack step that takes in run packs a quarter slower than one of
// the same objects loose (BenchmarkPack).
type wholeReader struct {
	fsys  billy.Filesystem
	at    map[plumbing.Hash]packedAt
	packs map[plumbing.Hash]billy.File
	zr    io.ReadCloser
}

// packedAt is where an object starts in a pack.
type packedAt struct {
	pack plumbing.Hash
	off  int64
}

func newWholeReader(fsys billy.Filesystem) *wholeReader {
	return &wholeReader{fsys: fsys, at: map[plumbing.Hash]packedAt{}, packs: map[plumbing.Hash]billy.File{}}
}

// read reads the object h. An error wrapping fs.ErrNotExist means h is
// not in a run pack, or is stored there as a delta: go-git reads it.
func (w *wholeReader) read(h plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	loc, ok := w.at[h]
	if !ok {
		return 0, nil, fs.ErrNotExist
	}
	f := w.packs[loc.pack]
	if f == nil {
		var err error
		if f, err = w.fsys.Open(w.fsys.Join("objects", "pack", "pack-"+loc.pack.String()+".pack")); err != nil {
			return 0, nil, err
		}
		w.packs[loc.pack] = f
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, loc.off, 1<<62), 32<<10)
	b, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	t := plumbing.ObjectType(b >> 4 & 7)
	size := int64(b & 0x0f)
	for shift := 4; b&0x80 != 0; shift += 7 {
		if b, err = br.ReadByte(); err != nil {
			return 0, nil, err
		}
		size |= int64(b&0x7f) << shift
	}
	switch t {
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
	default:
		return 0, nil, fmt.Errorf("object %s in pack %s is a delta: %w", h, loc.pack, fs.ErrNotExist)
	}
	if w.zr == nil {
		w.zr, err = zlib.NewReader(br)
	} else {
		err = w.zr.(zlib.Resetter).Reset(br, nil)
	}
	if err != nil {
		return 0, nil, err
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(w.zr, data); err != nil {
		return 0, nil, fmt.Errorf("read object %s in pack %s: %w", h, loc.pack, err)
	}
	return t, data, nil
}

// close closes the packs read.
func (w *wholeReader) close() {
	for _, f := range w.packs {
		f.Close()
	}
}
