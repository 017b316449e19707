package gitstate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/klauspost/compress/zlib"
)

// Packing. Every commit leaves its new blobs, trees and commit as loose
// objects, each compressed on its own: a run that changes a few records
// in a 30 KB folder file stores the whole file again. Pack puts loose
// objects into a Git packfile in which each version of a file is stored
// as a delta against the next newer version of the same path, which is
// what makes the history of a state small: a 1% run costs kilobytes
// instead of the megabyte its loose objects take (see BENCHMARKS.md,
// "State repository growth").
//
// go-git can write packs itself (Repository.RepackObjects), but it
// chooses delta bases by object size alone, so among hundreds of folder
// files of about the same size it seldom pairs a file with its own
// earlier version, and it repacks the whole history every time. Pack
// pairs versions by path, which it learns by walking the commits.
//
// A pack is written to a temporary file, then its index, and both are
// renamed into place (index first: readers find packs by their .pack
// file), before any loose object or old pack is removed. A crash at any
// point leaves every object readable, at worst twice.

// AutoPackLoose is the number of loose objects above which
// [Repo.Commit] packs them (unless [Repo.NoAutoPack]), as git gc --auto
// does with its gc.auto: estimated, as git does, from a sample of the
// object directories. A run that changes 1% of a 100,000-message state
// makes about 90 objects, so this packs about every 20 runs.
const AutoPackLoose = 2000

// GCHintPacks is the number of packs from which [Repo.Packs] callers
// should suggest mailtwin gc: automatic packing adds a pack every 20 or
// so runs and never merges them (a merge recomputes the deltas of every
// object it takes, seconds at 100,000 messages, and a commit must stay
// well under 2 s), so merging is left to an explicit gc.
const GCHintPacks = 20

// MaxDeltaDepth is the longest chain of deltas Pack makes: reading a
// version that deep applies that many deltas. git's default is 50.
const MaxDeltaDepth = 50

// PackStats says what [Repo.Pack] did.
type PackStats struct {
	// Objects is the number of objects in the new pack, Deltas how many
	// of them are stored as deltas; zero when there was nothing to pack.
	Objects, Deltas int
	// Bytes is the size of the new pack.
	Bytes int64
	// LooseRemoved and PacksRemoved count the loose objects and the old
	// packs removed because the new pack holds their objects.
	LooseRemoved, PacksRemoved int
}

// Pack puts the loose objects of the repository into a new pack and
// removes them; with all, it puts every object, packed or loose, into
// one pack and removes the old packs too, as git gc does. Objects no
// commit reaches are kept, in the pack: Pack never drops anything.
//
// Pack writes to the repository: take [Repo.Lock] first, as for a
// commit.
func (r *Repo) Pack(ctx context.Context, all bool) (PackStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mode := packLoose
	if all {
		mode = packAll
	}
	st, err := r.pack(ctx, mode)
	if err != nil {
		return st, fmt.Errorf("pack state repo %s: %w", r.dir, err)
	}
	return st, nil
}

// autoPack packs the loose objects when they have piled up past
// AutoPackLoose. It never merges packs: see GCHintPacks.
func (r *Repo) autoPack(ctx context.Context) (PackStats, error) {
	st, ok := r.git.Storer.(*filesystem.Storage)
	if r.NoAutoPack || !ok {
		return PackStats{}, nil
	}
	maxLoose := AutoPackLoose
	if r.autoPackLoose > 0 {
		maxLoose = r.autoPackLoose
	}
	// A run pack's objects count as loose: they are stored whole, and
	// the pack of the loose objects takes them in.
	fsys := st.Filesystem()
	runs, err := readRunPacks(fsys)
	if err != nil {
		return PackStats{}, err
	}
	n := estimateLoose(fsys)
	for _, objects := range runs {
		n += objects
	}
	if n <= maxLoose {
		return PackStats{}, nil
	}
	return r.pack(ctx, packLoose)
}

// Packs returns the number of packs in the repository, run packs not
// counted (the automatic packing merges those): from GCHintPacks on,
// mailtwin gc would merge them into one.
func (r *Repo) Packs() (int, error) {
	st, ok := r.git.Storer.(*filesystem.Storage)
	if !ok {
		return 0, nil
	}
	packs, err := listPacks(st.Filesystem())
	if err != nil {
		return 0, err
	}
	runs, err := readRunPacks(st.Filesystem())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range packs {
		if _, ok := runs[p]; !ok {
			n++
		}
	}
	return n, nil
}

// packMode says what pack puts into the new pack.
type packMode int

const (
	packLoose packMode = iota // the loose objects
	packMerge                 // and those of every pack but the largest
	packAll                   // and those of every pack
)

// estimateLoose estimates the number of loose objects from the first
// 16 of the 256 object directories, whose names are the first two hex
// digits of the objects' hashes.
func estimateLoose(fsys billy.Filesystem) int {
	n := 0
	for i := range 16 {
		ents, err := fsys.ReadDir(fsys.Join("objects", fmt.Sprintf("%02x", i)))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if len(e.Name()) == 38 {
				n++
			}
		}
	}
	return n * 16
}

// listPacks returns the hashes of the packs, by their .pack files.
func listPacks(fsys billy.Filesystem) ([]plumbing.Hash, error) {
	ents, err := fsys.ReadDir(fsys.Join("objects", "pack"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []plumbing.Hash
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pack")
		if hex, ok2 := strings.CutPrefix(name, "pack-"); ok && ok2 && len(hex) == 40 && isHex(hex) {
			out = append(out, plumbing.NewHash(hex))
		}
	}
	return out, nil
}

// withoutLargest returns packs without the largest pack: merging the
// smaller packs of the runs since the last full pack costs the same
// every time, where repacking everything costs more with every run, as
// git's geometric repacking has it.
func withoutLargest(fsys billy.Filesystem, packs []plumbing.Hash) []plumbing.Hash {
	largest, size := -1, int64(-1)
	for i, p := range packs {
		if fi, err := fsys.Stat(fsys.Join("objects", "pack", "pack-"+p.String()+".pack")); err == nil && fi.Size() > size {
			largest, size = i, fi.Size()
		}
	}
	if largest < 0 {
		return packs
	}
	return slices.Delete(slices.Clone(packs), largest, largest+1)
}

// looseObjects returns the hashes of the loose objects.
func looseObjects(ctx context.Context, fsys billy.Filesystem) ([]plumbing.Hash, error) {
	dirs, err := fsys.ReadDir("objects")
	if err != nil {
		return nil, err
	}
	var out []plumbing.Hash
	for _, d := range dirs {
		if len(d.Name()) != 2 || !isHex(d.Name()) || !d.IsDir() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ents, err := fsys.ReadDir(fsys.Join("objects", d.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if hex := d.Name() + e.Name(); len(hex) == 40 && isHex(hex) {
				out = append(out, plumbing.NewHash(hex))
			}
		}
	}
	return out, nil
}

// packedObjects returns the objects in the pack h: their hashes and
// offsets.
func packedObjects(fsys billy.Filesystem, h plumbing.Hash) ([]*idxfile.Entry, error) {
	f, err := fsys.Open(fsys.Join("objects", "pack", "pack-"+h.String()+".idx"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		return nil, fmt.Errorf("read index of pack %s: %w", h, err)
	}
	it, err := idx.Entries()
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*idxfile.Entry
	for {
		e, err := it.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read index of pack %s: %w", h, err)
		}
		out = append(out, e)
	}
}

func (r *Repo) pack(ctx context.Context, mode packMode) (PackStats, error) {
	var stats PackStats
	if err := ctx.Err(); err != nil {
		return stats, err
	}
	st, ok := r.git.Storer.(*filesystem.Storage)
	if !ok {
		return stats, nil // not on disk: nothing is loose
	}
	fsys := st.Filesystem()
	packDir := fsys.Join("objects", "pack")
	// Only the holder of the run lock packs: a temporary file left in
	// the pack directory is a killed Pack's.
	if ents, err := fsys.ReadDir(packDir); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "tmp_") {
				if err := fsys.Remove(fsys.Join(packDir, e.Name())); err != nil {
					return stats, fmt.Errorf("remove stale %s: %w", e.Name(), err)
				}
			}
		}
	}
	loose, err := looseObjects(ctx, fsys)
	if err != nil {
		return stats, fmt.Errorf("list loose objects: %w", err)
	}
	var oldPacks []plumbing.Hash
	want := make(map[plumbing.Hash]bool, len(loose))
	for _, h := range loose {
		want[h] = true
	}
	runs, err := readRunPacks(fsys)
	if err != nil {
		return stats, err
	}
	if mode == packLoose {
		// The run packs' objects are stored whole, as loose ones.
		oldPacks = sortedPacks(runs)
	} else {
		if oldPacks, err = listPacks(fsys); err != nil {
			return stats, fmt.Errorf("list packs: %w", err)
		}
		if mode == packMerge {
			oldPacks = withoutLargest(fsys, oldPacks)
		}
	}
	whole := newWholeReader(fsys)
	defer whole.close()
	for _, p := range oldPacks {
		es, err := packedObjects(fsys, p)
		if err != nil {
			return stats, err
		}
		_, run := runs[p]
		for _, e := range es {
			want[e.Hash] = true
			if run {
				whole.at[e.Hash] = packedAt{p, int64(e.Offset)}
			}
		}
	}
	if len(loose) == 0 && len(oldPacks) <= 1 && (mode != packLoose || len(oldPacks) == 0) {
		return stats, nil
	}
	chains, err := r.deltaChains(ctx, want, mode == packLoose)
	if err != nil {
		return stats, err
	}

	tmp, err := fsys.TempFile(packDir, "tmp_pack_")
	if err != nil {
		return stats, fmt.Errorf("create pack: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
			fsys.Remove(tmpName)
		}
	}()
	pw := newPackWriter(tmp, len(want))
	for _, chain := range chains {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		if err := pw.writeChain(r, chain, whole); err != nil {
			return stats, err
		}
	}
	sum, size, err := pw.finish()
	if err != nil {
		return stats, fmt.Errorf("write pack: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return stats, fmt.Errorf("write pack: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return stats, fmt.Errorf("write pack: %w", err)
	}
	name := fsys.Join(packDir, "pack-"+sum.String())
	if err := writeIndex(fsys, packDir, name+".idx", pw.idx, true); err != nil {
		return stats, err
	}
	if err := fsys.Rename(tmpName, name+".pack"); err != nil {
		return stats, fmt.Errorf("write pack: %w", err)
	}
	tmp = nil
	stats.Objects, stats.Deltas, stats.Bytes = pw.count, pw.deltas, size
	st.Reindex()

	// Every object is in the new pack now: remove what it replaces.
	for _, h := range loose {
		hex := h.String()
		if err := fsys.Remove(fsys.Join("objects", hex[:2], hex[2:])); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return stats, fmt.Errorf("remove loose object %s: %w", hex, err)
		}
		stats.LooseRemoved++
	}
	// The emptied object directories stay: the next commits write into
	// them, and making a directory costs a commit more than the file.
	for _, p := range oldPacks {
		if p == sum {
			continue
		}
		base := fsys.Join(packDir, "pack-"+p.String())
		if err := fsys.Remove(base + ".pack"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return stats, fmt.Errorf("remove old pack %s: %w", p, err)
		}
		if err := fsys.Remove(base + ".idx"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return stats, fmt.Errorf("remove old pack %s: %w", p, err)
		}
		stats.PacksRemoved++
	}
	st.Reindex()
	// The list of run packs loses those just removed.
	if len(runs) > 0 {
		if runs, err = readRunPacks(fsys); err == nil {
			err = writeRunPacks(fsys, runs)
		}
		if err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// deltaChains orders the objects of want for writing: one chain per
// path, newest version first, then the commits, then whatever no commit
// reaches (stored whole). Paths are learnt by walking the commits
// reachable from HEAD, newest first, through the trees of want: a tree
// outside want holds no object of want, as a commit's new trees and
// blobs are made, and packed, together. With recent, the walk stops at
// the commits outside want: the loose objects are the recent ones, and
// an incremental pack need not read the whole history. A merge must
// walk it all, as the pack it leaves alone need not be the oldest.
func (r *Repo) deltaChains(ctx context.Context, want map[plumbing.Hash]bool, recent bool) ([][]plumbing.Hash, error) {
	placed := make(map[plumbing.Hash]bool, len(want))
	byPath := map[string]int{} // path -> index in chains
	var chains [][]plumbing.Hash
	add := func(path string, h plumbing.Hash) {
		if !want[h] || placed[h] {
			return
		}
		placed[h] = true
		i, ok := byPath[path]
		if !ok {
			i = len(chains)
			byPath[path] = i
			chains = append(chains, nil)
		}
		chains[i] = append(chains[i], h)
	}
	var walkTree func(h plumbing.Hash, path string) error
	walkTree = func(h plumbing.Hash, path string) error {
		if !want[h] || placed[h] {
			return nil
		}
		add(path+"/", h)
		t, err := r.git.TreeObject(h)
		if err != nil {
			return fmt.Errorf("read tree %s: %w", h, err)
		}
		for _, e := range t.Entries {
			p := e.Name
			if path != "" {
				p = path + "/" + e.Name
			}
			switch e.Mode {
			case filemode.Dir:
				if err := walkTree(e.Hash, p); err != nil {
					return err
				}
			case filemode.Submodule:
			default:
				add(p, e.Hash)
			}
		}
		return nil
	}
	var commits []plumbing.Hash
	if head, err := r.git.Head(); err == nil {
		h := head.Hash()
		seen := map[plumbing.Hash]bool{}
		// Newest first along first parents, then any other parents.
		queue := []plumbing.Hash{h}
		for len(queue) > 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			h, queue = queue[0], queue[1:]
			if seen[h] {
				continue
			}
			seen[h] = true
			c, err := r.git.CommitObject(h)
			if err != nil {
				return nil, fmt.Errorf("read commit %s: %w", h, err)
			}
			if want[h] {
				commits = append(commits, h)
			}
			if err := walkTree(c.TreeHash, ""); err != nil {
				return nil, err
			}
			if recent && !want[h] && !want[c.TreeHash] {
				// An incremental pack stops at the first commit
				// packed before: older ones are packed too.
				continue
			}
			queue = append(queue, c.ParentHashes...)
		}
	} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, fmt.Errorf("read HEAD: %w", err)
	}
	// Commits are not delta'd against each other: one chain each.
	for _, h := range commits {
		if !placed[h] {
			placed[h] = true
			chains = append(chains, []plumbing.Hash{h})
		}
	}
	var rest []plumbing.Hash
	for h := range want {
		if !placed[h] {
			rest = append(rest, h)
		}
	}
	slices.SortFunc(rest, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	for _, h := range rest {
		chains = append(chains, []plumbing.Hash{h})
	}
	return chains, nil
}

// packWriter writes a version 2 packfile: objects whole or as OFS_DELTA
// against the object before them in their chain.
type packWriter struct {
	f      io.Writer
	bw     *bufio.Writer
	sum    hash.Hash
	crc    hash.Hash32
	off    int64
	zw     *zlib.Writer
	idx    *idxfile.Writer
	count  int
	deltas int
	buf    bytes.Buffer
}

func newPackWriter(f io.Writer, n int) *packWriter {
	w := &packWriter{f: f, sum: sha1.New(), crc: crc32.NewIEEE(), idx: new(idxfile.Writer)}
	w.bw = bufio.NewWriterSize(io.MultiWriter(f, w.sum), 256<<10)
	w.zw = zlib.NewWriter(io.Discard)
	var hdr [12]byte
	copy(hdr[:], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(n))
	w.bw.Write(hdr[:])
	w.off = 12
	w.idx.OnHeader(uint32(n))
	return w
}

// writeChain writes the versions of one path, newest first: each is a
// delta against the one before it where that is less than half its
// size, and whole at most every MaxDeltaDepth versions.
func (w *packWriter) writeChain(r *Repo, chain []plumbing.Hash, whole *wholeReader) error {
	var prev []byte
	var prevOff int64
	depth := 0
	for _, h := range chain {
		t, data, err := r.readLooseObject(h)
		if errors.Is(err, fs.ErrNotExist) { // in a run pack
			t, data, err = whole.read(h)
		}
		if errors.Is(err, fs.ErrNotExist) { // packed
			var obj plumbing.EncodedObject
			if obj, err = r.git.Storer.EncodedObject(plumbing.AnyObject, h); err == nil {
				t = obj.Type()
				data, err = readObject(obj)
			}
		}
		if err != nil {
			return fmt.Errorf("read object %s: %w", h, err)
		}
		off := w.off
		var delta []byte
		if prev != nil && depth < MaxDeltaDepth {
			delta = packfile.DiffDelta(prev, data)
			if len(delta) >= len(data)/2 {
				delta = nil
			}
		}
		if delta != nil {
			err = w.entry(h, plumbing.OFSDeltaObject, delta, off-prevOff)
			depth++
			w.deltas++
		} else {
			err = w.entry(h, t, data, 0)
			depth = 0
		}
		if err != nil {
			return err
		}
		prev, prevOff = data, off
	}
	return nil
}

// readLooseObject reads the loose object h, trusting its name for its
// content as readLoose does: go-git's reader hashes every object twice,
// half of a pack step's time. An error wrapping fs.ErrNotExist means
// there is no loose object.
func (r *Repo) readLooseObject(h plumbing.Hash) (_ plumbing.ObjectType, _ []byte, err error) {
	st, ok := r.git.Storer.(*filesystem.Storage)
	if !ok {
		return 0, nil, fs.ErrNotExist
	}
	fsys := st.Filesystem()
	hex := h.String()
	f, err := fsys.Open(fsys.Join("objects", hex[:2], hex[2:]))
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	zr, err := zlib.NewReader(bufio.NewReaderSize(f, 32<<10))
	if err != nil {
		return 0, nil, err
	}
	defer func() {
		if cerr := zr.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	br := bufio.NewReaderSize(zr, 64)
	hdr, err := br.ReadString(0)
	if err != nil || len(hdr) > 32 {
		return 0, nil, fmt.Errorf("bad header")
	}
	kind, size, _ := strings.Cut(strings.TrimSuffix(hdr, "\x00"), " ")
	t, err := plumbing.ParseObjectType(kind)
	if err != nil {
		return 0, nil, err
	}
	sz, err := strconv.ParseInt(size, 10, 64)
	if err != nil || sz < 0 {
		return 0, nil, fmt.Errorf("bad size in header %q", hdr)
	}
	data := make([]byte, sz)
	if _, err := io.ReadFull(br, data); err != nil {
		return 0, nil, err
	}
	if n, _ := br.Read(make([]byte, 1)); n != 0 {
		return 0, nil, fmt.Errorf("longer than its header says")
	}
	return t, data, nil
}

func readObject(obj plumbing.EncodedObject) (_ []byte, err error) {
	rd, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rd.Close(); err == nil {
			err = cerr
		}
	}()
	data := make([]byte, 0, obj.Size())
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(rd); err != nil {
		return nil, err
	}
	if int64(buf.Len()) != obj.Size() {
		return nil, fmt.Errorf("object is %d bytes, its header says %d", buf.Len(), obj.Size())
	}
	return buf.Bytes(), nil
}

// entry writes one object: its type and size header, for a delta the
// distance back to its base, then the zlib-compressed data.
func (w *packWriter) entry(h plumbing.Hash, t plumbing.ObjectType, data []byte, back int64) error {
	w.buf.Reset()
	size := len(data)
	b := byte(t)<<4 | byte(size&0x0f)
	size >>= 4
	for size != 0 {
		w.buf.WriteByte(b | 0x80)
		b = byte(size & 0x7f)
		size >>= 7
	}
	w.buf.WriteByte(b)
	if t == plumbing.OFSDeltaObject {
		// git's offset encoding: big-endian base-128, each continued
		// byte's value one less.
		var ofs [10]byte
		i := len(ofs) - 1
		ofs[i] = byte(back & 0x7f)
		for back >>= 7; back != 0; back >>= 7 {
			back--
			i--
			ofs[i] = 0x80 | byte(back&0x7f)
		}
		w.buf.Write(ofs[i:])
	}
	w.zw.Reset(&w.buf)
	if _, err := w.zw.Write(data); err != nil {
		return err
	}
	if err := w.zw.Close(); err != nil {
		return err
	}
	w.crc.Reset()
	w.crc.Write(w.buf.Bytes())
	w.idx.Add(h, uint64(w.off), w.crc.Sum32())
	if _, err := w.bw.Write(w.buf.Bytes()); err != nil {
		return err
	}
	w.off += int64(w.buf.Len())
	w.count++
	return nil
}

// finish writes the trailing checksum and returns it, which names the
// pack, and the pack's size.
func (w *packWriter) finish() (plumbing.Hash, int64, error) {
	var sum plumbing.Hash
	if err := w.bw.Flush(); err != nil {
		return sum, 0, err
	}
	copy(sum[:], w.sum.Sum(nil))
	if _, err := w.f.Write(sum[:]); err != nil {
		return sum, 0, err
	}
	if err := w.idx.OnFooter(sum); err != nil {
		return sum, 0, err
	}
	return sum, w.off + int64(len(sum)), nil
}

// writeIndex writes the pack index through a temporary file renamed to
// name, synced to the disk first where sync is set (a pack that
// replaces loose objects, which are removed right after).
func writeIndex(fsys billy.Filesystem, dir, name string, w *idxfile.Writer, sync bool) (err error) {
	idx, err := w.Index()
	if err != nil {
		return fmt.Errorf("index pack: %w", err)
	}
	tmp, err := fsys.TempFile(dir, "tmp_idx_")
	if err != nil {
		return fmt.Errorf("write pack index: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			fsys.Remove(tmp.Name())
			err = fmt.Errorf("write pack index: %w", err)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if _, err := idxfile.NewEncoder(bw).Encode(idx); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if sync {
		if err := syncFile(tmp); err != nil {
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return fsys.Rename(tmp.Name(), name)
}

// syncFile flushes f to the disk where f can: the loose objects a pack
// replaces are removed right after, so the pack must not be lost to a
// power cut that keeps the removals.
func syncFile(f billy.File) error {
	if s, ok := f.(interface{ Sync() error }); ok {
		return s.Sync()
	}
	return nil
}
