package gitstate

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/klauspost/compress/zlib"
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
// as given, without line-ending conversion, as files of mode 0644. The
// objects are written whole or not at all. A run killed midway may
// leave a worktree file half-written, but it is never read back (see
// writeWorktree), and the next Stage writes it again.
//
// prefix must not be empty. Paths must be clean and relative, without
// "." or ".." elements or a ".git" element, and no path may be a parent
// directory of another.
func (r *Repo) Stage(ctx context.Context, prefix string, files map[string][]byte) error {
	return r.stage(ctx, prefix, files, nil, false)
}

// StageKeeping is Stage, except that the files under prefix named in
// keep (relative paths, as files' keys) are left as they are staged:
// neither removed nor read. A pair's state is staged this way when the
// run leaves its journal as it was.
func (r *Repo) StageKeeping(ctx context.Context, prefix string, files map[string][]byte, keep ...string) error {
	k := make(map[string]bool, len(keep))
	for _, p := range keep {
		k[p] = true
	}
	return r.stage(ctx, prefix, files, k, false)
}

// StageOnly is Stage for the files given alone: every other file under
// prefix is left as it is staged. A run stages its journal this way
// once its state is staged, without encoding and comparing the state's
// files again.
func (r *Repo) StageOnly(ctx context.Context, prefix string, files map[string][]byte) error {
	return r.stage(ctx, prefix, files, nil, true)
}

// stage is Stage; keep names files left as staged, and only leaves
// every file not in files so.
func (r *Repo) stage(ctx context.Context, prefix string, files map[string][]byte, keep map[string]bool, only bool) error {
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
	// StageOnly removes nothing.
	dirty := false
	if !only {
		if err := removeExtra(r.worktreePath(prefix), files, keep); err != nil {
			return errf(err)
		}
		for rel := range staged {
			if _, ok := files[rel]; !ok && !keep[rel] {
				if _, err := idx.Remove(pre + rel); err != nil {
					return errf(fmt.Errorf("unstage %s: %w", pre+rel, err))
				}
				dirty = true
			}
		}
	}

	// The changed files are written and their blobs stored by
	// stageFiles, and the index entries are updated and the index
	// written once at the end, here: go-git's Add reads and rewrites
	// the whole index for every file, which at a few hundred changed
	// files cost more than the files themselves.
	written := make([]staged1, len(names))
	if err := r.stageFiles(ctx, pre, names, files, staged, written); err != nil {
		return errf(err)
	}
	for i, name := range names {
		w := written[i]
		if !w.changed {
			continue
		}
		e, ok := staged[name]
		if !ok {
			e = idx.Add(pre + name)
		}
		e.Hash, e.Mode, e.Size, e.ModifiedAt = w.hash, filemode.Regular, uint32(len(files[name])), w.modTime
		dirty = true
	}
	if dirty {
		if err := r.git.Storer.SetIndex(idx); err != nil {
			return errf(fmt.Errorf("write index: %w", err))
		}
	}
	return nil
}

// worktreeWriters is how many goroutines of Stage compare and write
// worktree files.
const worktreeWriters = 4

// staged1 is what Stage wrote for one file: whether it changed, and if
// so its blob's hash and the worktree file's modification time, for its
// index entry.
type staged1 struct {
	changed bool
	hash    plumbing.Hash
	modTime time.Time
}

// stageFiles writes, for each of names whose content differs from its
// staged entry (if any), the worktree file and the blob, and records in
// written[i] what the index entry of names[i] needs. The first error
// stops the work.
//
// A changed file costs the worktree file's write and its blob's hashing
// and compression. The worktree files are compared and written by
// worktreeWriters goroutines, and the blobs stored by one more (a
// blobSink), with the Repo's compressor (about a megabyte each, and the
// peak RSS of a first sync is close to its 40 MB target): the
// compression then runs while the kernel writes files. On a VM where
// creating a file costs about half a millisecond, BenchmarkRun/1pct at
// 100,000 records (every one of 200 files changed) took 125-290 ms with
// each blob a loose object and each worktree file a temporary file
// renamed into place; 140-185 ms with the blobs in a run pack (see
// runpack.go); 85-100 ms with the worktree files also written in place
// (see writeWorktree). Issue #5's target for one commit is 200 ms.
func (r *Repo) stageFiles(ctx context.Context, pre string, names []string, files map[string][]byte, staged map[string]*index.Entry, written []staged1) error {
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		failed   atomic.Bool
		writers  sync.WaitGroup
		blobs    = make(chan int, len(names))
		blobDone = make(chan struct{})
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	go func() {
		defer close(blobDone)
		sink := r.newBlobSink()
		for i := range blobs {
			if failed.Load() {
				continue
			}
			h, err := sink.add(files[names[i]])
			if err != nil {
				fail(fmt.Errorf("add %s: %w", pre+names[i], err))
				continue
			}
			written[i].hash = h
		}
		if !failed.Load() {
			if err := sink.finish(); err != nil {
				fail(fmt.Errorf("store the changed files: %w", err))
			}
		}
	}()
	for range min(worktreeWriters, len(names)) {
		writers.Go(func() {
			var buf []byte
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return
				}
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				name := names[i]
				p := pre + name
				data := files[name]
				if e, ok := staged[name]; ok && r.upToDate(e, p, data, &buf) {
					continue
				}
				blobs <- i
				wp := r.worktreePath(p)
				if err := writeWorktree(wp, data); err != nil {
					fail(err)
					return
				}
				fi, err := os.Lstat(wp)
				if err != nil {
					fail(fmt.Errorf("add %s: %w", p, err))
					return
				}
				written[i].changed, written[i].modTime = true, fi.ModTime()
			}
		})
	}
	writers.Wait()
	close(blobs)
	<-blobDone
	return firstErr
}

// blobSink stores the new blobs of one Stage: as loose objects while
// they are fewer than RunPackMin, in one run pack (see runpack.go) once
// there are that many.
type blobSink struct {
	r       *Repo
	st      *filesystem.Storage // nil: not on disk, go-git stores each blob
	min     int
	pending []pendingBlob // before the run pack: at most min-1
	pack    *runPack
}

type pendingBlob struct {
	h    plumbing.Hash
	data []byte
}

func (r *Repo) newBlobSink() *blobSink {
	s := &blobSink{r: r, min: RunPackMin}
	if r.runPackMin > 0 {
		s.min = r.runPackMin
	}
	s.st, _ = r.git.Storer.(*filesystem.Storage)
	return s
}

// add stores data as a blob, unless the repository has it as a loose
// object already, and returns its hash. A blob that is packed already
// (a file changed back to an earlier version, or whose worktree copy is
// gone) is stored again: looking it up reads the index of every pack,
// whose number grows with the history (in bench/stategrowth's runs 901
// to 1,000, with about 50 packs, the commit's median was 130 ms with
// the lookup and 71 ms without), where a copy costs a few kilobytes
// until the next pack step.
func (s *blobSink) add(data []byte) (plumbing.Hash, error) {
	if s.st == nil {
		return s.r.storeBlob(data)
	}
	h := blobHash(data)
	fsys := s.st.Filesystem()
	hex := h.String()
	if _, err := fsys.Lstat(fsys.Join("objects", hex[:2], hex[2:])); err == nil {
		return h, nil
	}
	if s.pack != nil {
		return h, s.pack.add(h, data)
	}
	s.pending = append(s.pending, pendingBlob{h, data})
	if len(s.pending) < s.min {
		return h, nil
	}
	if s.r.zw == nil {
		zw, err := zlib.NewWriterLevel(io.Discard, zlib.BestSpeed)
		if err != nil {
			return h, err
		}
		s.r.zw = zw
	}
	s.pack = newRunPack(s.r.zw)
	for _, b := range s.pending {
		if err := s.pack.add(b.h, b.data); err != nil {
			return h, err
		}
	}
	s.pending = nil
	return h, nil
}

// finish writes the run pack, or the loose objects.
func (s *blobSink) finish() error {
	if s.pack != nil {
		return s.pack.write(s.st)
	}
	for _, b := range s.pending {
		if err := s.r.writeLoose(s.st, b.h, plumbing.BlobObject, b.data); err != nil {
			return err
		}
	}
	return nil
}

// blobHash returns the hash of the blob data.
func blobHash(data []byte) plumbing.Hash {
	sum := sha1.New()
	sum.Write(objectHeader(plumbing.BlobObject, len(data)))
	sum.Write(data)
	var h plumbing.Hash
	copy(h[:], sum.Sum(nil))
	return h
}

// objectHeader is what an object of type typ and n bytes starts with,
// before zlib: the header its hash covers.
func objectHeader(typ plumbing.ObjectType, n int) []byte {
	return fmt.Appendf(nil, "%s %d\x00", typ, n)
}

// storeBlob stores data through go-git, for a repository not on disk.
func (r *Repo) storeBlob(data []byte) (plumbing.Hash, error) {
	obj := r.git.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.git.Storer.SetEncodedObject(obj)
}

// writeLoose stores data as the loose object h of type typ (a blob, or
// a commit's tree or the commit itself), unless the repository has it. It writes what go-git would, but compressed at
// zlib's best speed rather than its default level: a state file
// compresses about as well either way, in a third of the time, and any
// zlib level is a valid loose object. The compressor is
// klauspost/compress's zlib, not the standard library's: on a 42 KB
// state file (a folder of 500 messages) it took 175 µs against 480 µs
// at best speed, and wrote 5% less. The object goes to a temporary file
// and is renamed into place, so a crash leaves it whole or absent. The
// Repo's compressor (about a megabyte) is kept for the next blob.
func (r *Repo) writeLoose(st *filesystem.Storage, h plumbing.Hash, typ plumbing.ObjectType, data []byte) error {
	fsys := st.Filesystem()
	hex := h.String()
	dir := fsys.Join("objects", hex[:2])
	name := fsys.Join(dir, hex[2:])
	if _, err := fsys.Lstat(name); err == nil {
		return nil
	}
	hdr := objectHeader(typ, len(data))
	tmp, err := fsys.TempFile(dir, "tmp_obj_") // makes dir, private
	if err != nil {
		return err
	}
	zw := r.zw
	if zw == nil {
		zw, err = zlib.NewWriterLevel(tmp, zlib.BestSpeed)
		r.zw = zw
	} else {
		zw.Reset(tmp)
	}
	if err == nil {
		_, err = zw.Write(hdr)
	}
	if err == nil {
		_, err = zw.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp.Name(), name)
	}
	if err != nil {
		fsys.Remove(tmp.Name())
		return fmt.Errorf("write object %s: %w", hex, err)
	}
	return nil
}

// upToDate reports whether the index entry e already holds data: the
// worktree file at p is the one e was staged from (same size and
// modification time, as git itself judges) and holds data. Comparing
// the bytes is cheaper than hashing them.
//
// *buf is reused to read the file into.
func (r *Repo) upToDate(e *index.Entry, p string, data []byte, buf *[]byte) bool {
	if e.Mode != filemode.Regular || int64(e.Size) != int64(len(data)) {
		return false
	}
	f, err := os.Open(r.worktreePath(p))
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(len(data)) || !fi.ModTime().Equal(e.ModifiedAt) {
		return false
	}
	if cap(*buf) < len(data)+1 {
		*buf = make([]byte, len(data)+1)
	}
	b := (*buf)[:len(data)+1] // one more, to see the end
	n, err := io.ReadFull(f, b)
	return err == io.ErrUnexpectedEOF && n == len(data) && bytes.Equal(b[:n], data) ||
		err == io.EOF && len(data) == 0
}

// removeExtra removes every file under root whose path relative to root
// is not a key of keep, including temporary files a killed run left,
// then the directories that became empty.
func removeExtra(root string, files map[string][]byte, keep map[string]bool) error {
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
		rel = filepath.ToSlash(rel)
		if _, ok := files[rel]; (ok || keep[rel]) && d.Type().IsRegular() {
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

// writeWorktree writes data to the worktree file name. It does not
// fsync: the worktree is a mirror of the committed objects, which are
// what is read back.
//
// An existing regular file is overwritten in place. A run killed in the
// middle of that write leaves the file torn, but nothing reads it: the
// index keeps the size and modification time the file was staged with,
// which the torn file no longer has, so Files reads the committed
// object instead and the next Stage writes the file again. On a file
// system where creating a file costs half a millisecond, a temporary
// file and a rename for each of 200 changed folders took half of a state
// commit at 100,000 records (BENCHMARKS.md); a write in place costs a
// third of that.
//
// A new file, or anything not a regular file in the way (a symbolic
// link is replaced, not followed), is written to a temporary file in the
// same directory and renamed into place.
func writeWorktree(name string, data []byte) (err error) {
	if fi, err := os.Lstat(name); err == nil && fi.Mode().IsRegular() {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			_, err = f.Write(data)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	}
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
	if _, err := f.Write(data); err != nil { // CreateTemp made it 0600
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
	head, tree, err := r.headTree()
	if err != nil {
		return err
	}
	if head.IsZero() {
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
	same, added, err := r.compareIndex(idx, tree)
	if err != nil || same {
		return err
	}
	if err := r.wt.Reset(&git.ResetOptions{Commit: head, Mode: git.HardReset}); err != nil {
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

// compareIndex reports whether the index holds exactly the tree th
// (paths, modes and blob hashes; no blob is read), and which indexed
// paths the tree lacks.
func (r *Repo) compareIndex(idx *index.Index, th plumbing.Hash) (same bool, added []string, err error) {
	tree, err := r.git.TreeObject(th)
	if err != nil {
		return false, nil, fmt.Errorf("read tree %s: %w", th, err)
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
			return false, nil, fmt.Errorf("walk tree %s: %w", th, err)
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
