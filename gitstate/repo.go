package gitstate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/klauspost/compress/zlib"
)

// Branch is the branch a new state repository is created on.
const Branch = "main"

// AuthorName and AuthorEmail are recorded as author and committer of
// every commit.
const (
	AuthorName  = "mailtwin"
	AuthorEmail = "mailtwin@localhost"
)

// ShortLen is the number of hex digits in [Commit.Short].
const ShortLen = 7

// ErrNothingToCommit is returned by [Repo.Commit] and [Repo.Rollback] when
// the new commit's tree would equal HEAD's: nothing changed.
var ErrNothingToCommit = errors.New("nothing to commit")

// ErrUnknownRevision is wrapped by the errors of [Repo.Resolve] (and of
// the methods taking a revision) when the revision names no commit.
var ErrUnknownRevision = errors.New("unknown revision")

// ErrAmbiguousRevision is wrapped by the errors of [Repo.Resolve] when an
// abbreviated hash matches more than one commit.
var ErrAmbiguousRevision = errors.New("ambiguous revision")

// Repo is a state repository: a Git repository with a worktree whose
// files are mailtwin's agreed state.
//
// A Repo serialises its own methods, so it may be shared between
// goroutines; Clock and LockMaxAge must be set before the first call and
// not changed afterwards. Two processes must not write the same
// repository at once: take [Repo.Lock] first.
type Repo struct {
	// Clock returns the time recorded in commits and in the run lock.
	// Nil means time.Now. Tests set it to get reproducible commits.
	Clock func() time.Time

	// LockMaxAge is how long a run lock may go without being refreshed
	// before another run takes it over as stale. Zero means
	// DefaultLockMaxAge. A held lock is refreshed every LockMaxAge/4, so
	// a long run keeps its lock.
	LockMaxAge time.Duration

	// NoAutoPack turns off the packing [Repo.Commit] does when loose
	// objects pile up (see [Repo.Pack]); the benchmark of the state's
	// growth sets it to measure the repository without it.
	NoAutoPack bool
	// autoPackLoose replaces AutoPackLoose where not zero, for tests.
	autoPackLoose int
	// runPackMin replaces RunPackMin where not zero, for tests.
	runPackMin int

	dir string
	git *git.Repository
	wt  *git.Worktree
	mu  sync.Mutex
	// zw is the zlib writer Stage compresses blobs with, kept for the
	// next Stage (under mu).
	zw *zlib.Writer
}

// Commit describes one commit of the state repository.
type Commit struct {
	// Hash is the full hex object name.
	Hash string
	// Short is the first ShortLen hex digits of Hash, as git log
	// --oneline prints them.
	Short string
	// Time is the committer time, to the second, in the zone it was
	// recorded in.
	Time time.Time
	// Subject is the first line of Message.
	Subject string
	// Message is the whole commit message, without its final newline.
	Message string
}

// Open opens the state repository at dir, creating dir and an empty
// repository on branch main when there is none yet. A repository that
// exists is opened as it is, whatever branch it is on.
func Open(ctx context.Context, dir string) (*Repo, error) {
	return open(ctx, dir, osfs.New(dir))
}

// open is Open on base, the filesystem rooted at dir: tests put a
// filesystem that fails at a chosen write under the repository to play
// a run that dies there.
func open(ctx context.Context, dir string, base billy.Filesystem) (*Repo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open state repo %s: %w", dir, err)
	}
	g, err := openGit(dir, base)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create state repo %s: %w", dir, err)
		}
		g, err = initGit(dir, base)
		if err != nil {
			return nil, fmt.Errorf("create state repo %s: %w", dir, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("open state repo %s: %w", dir, err)
	}
	wt, err := g.Worktree()
	if err != nil {
		return nil, fmt.Errorf("open state repo %s: %w", dir, err)
	}
	return &Repo{dir: dir, git: g, wt: wt}, nil
}

// storage returns the worktree and .git filesystems of the repository
// whose worktree is base, both private (see privateFS).
func storage(base billy.Filesystem) (billy.Filesystem, *filesystem.Storage, error) {
	wt := privateFS{base}
	dot, err := wt.Chroot(git.GitDirName)
	if err != nil {
		return nil, nil, err
	}
	return wt, filesystem.NewStorage(dot, cache.NewObjectLRUDefault()), nil
}

// openGit opens the repository at dir, which must hold a .git directory.
func openGit(dir string, base billy.Filesystem) (*git.Repository, error) {
	if _, err := os.Stat(filepath.Join(dir, git.GitDirName)); errors.Is(err, fs.ErrNotExist) {
		return nil, git.ErrRepositoryNotExists
	}
	wt, st, err := storage(base)
	if err != nil {
		return nil, err
	}
	return git.Open(st, wt)
}

// initGit creates a repository on Branch at dir.
func initGit(dir string, base billy.Filesystem) (*git.Repository, error) {
	if err := os.Mkdir(filepath.Join(dir, git.GitDirName), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	wt, st, err := storage(base)
	if err != nil {
		return nil, err
	}
	return git.InitWithOptions(st, wt, git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(Branch)})
}

// Dir returns the directory the repository was opened at.
func (r *Repo) Dir() string { return r.dir }

func (r *Repo) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

func (r *Repo) signature() object.Signature {
	return object.Signature{Name: AuthorName, Email: AuthorEmail, When: r.now()}
}

// head returns HEAD's commit, or nil when HEAD does not exist yet.
func (r *Repo) head() (*object.Commit, error) {
	ref, err := r.git.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read HEAD: %w", err)
	}
	c, err := r.git.CommitObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("read HEAD commit %s: %w", ref.Hash(), err)
	}
	return c, nil
}

// Files returns the files under the directory prefix (e.g. "work") as of
// HEAD, keyed by their slash-separated path relative to prefix. The
// empty prefix means the whole tree. The map is empty, not an error,
// when HEAD does not exist yet or prefix is absent. Files reads
// committed objects only: what is staged or in the worktree is ignored.
func (r *Repo) Files(ctx context.Context, prefix string) (map[string][]byte, error) {
	return r.files(ctx, prefix, true)
}

// FilesFlat is Files without the subdirectories of prefix: only the
// files directly in it. A pair's folder state files are; its journal,
// which can be megabytes after a first sync, is not read with them.
func (r *Repo) FilesFlat(ctx context.Context, prefix string) (map[string][]byte, error) {
	return r.files(ctx, prefix, false)
}

func (r *Repo) files(ctx context.Context, prefix string, recursive bool) (map[string][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s in state repo %s: %w", prefix, r.dir, err)
	}
	if err := checkPrefix(prefix, true); err != nil {
		return nil, fmt.Errorf("read state repo %s: %w", r.dir, err)
	}
	c, tree, err := r.headTree()
	if err != nil {
		return nil, fmt.Errorf("read %s in state repo %s: %w", prefix, r.dir, err)
	}
	if c.IsZero() {
		return map[string][]byte{}, nil
	}
	files, err := r.filesIn(ctx, tree, prefix, recursive)
	if err != nil {
		return nil, fmt.Errorf("read %s in state repo %s: %w", prefix, r.dir, err)
	}
	return files, nil
}

// headTree returns HEAD's commit and its tree, zero hashes when HEAD
// does not exist yet. It reads only the commit's first line where the
// commit is a loose object: a commit's message holds its run's journal,
// megabytes after a first sync of a large account, and decoding it
// (as go-git does for any commit it reads) cost a no-op run more than
// everything else it does with the repository.
func (r *Repo) headTree() (commit, tree plumbing.Hash, err error) {
	ref, err := r.git.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, plumbing.ZeroHash, nil
	}
	if err != nil {
		return commit, tree, fmt.Errorf("read HEAD: %w", err)
	}
	commit = ref.Hash()
	tree, err = r.looseCommitTree(commit)
	if errors.Is(err, fs.ErrNotExist) {
		tree, err = r.packedCommitTree(commit)
	}
	if err != nil {
		return commit, tree, fmt.Errorf("read HEAD commit %s: %w", commit, err)
	}
	return commit, tree, nil
}

// looseCommitTree reads the tree of commit h from the first line of its
// loose object ("tree <hex>"), inflating no more than that. An error
// wrapping fs.ErrNotExist means there is no loose object.
func (r *Repo) looseCommitTree(h plumbing.Hash) (plumbing.Hash, error) {
	st, ok := r.git.Storer.(*filesystem.Storage)
	if !ok {
		return plumbing.ZeroHash, fs.ErrNotExist
	}
	fsys := st.Filesystem()
	hex := h.String()
	f, err := fsys.Open(fsys.Join("objects", hex[:2], hex[2:]))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer f.Close()
	zr, err := zlib.NewReader(bufio.NewReaderSize(f, 512))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("object %s: %w", hex, err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 128)
	hdr, err := br.ReadString(0)
	if err != nil || !strings.HasPrefix(hdr, "commit ") {
		return plumbing.ZeroHash, fmt.Errorf("object %s: not a commit", hex)
	}
	line, err := br.ReadString('\n')
	treeHex, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "tree ")
	if err != nil || !ok || len(treeHex) != 2*len(plumbing.ZeroHash) || !isHex(treeHex) {
		return plumbing.ZeroHash, fmt.Errorf("object %s: no tree line", hex)
	}
	return plumbing.NewHash(treeHex), nil
}

// packedCommitTree reads the tree of commit h from the first line of
// the object as go-git reads it (from a pack, as Pack leaves it),
// without decoding the message.
func (r *Repo) packedCommitTree(h plumbing.Hash) (_ plumbing.Hash, err error) {
	obj, err := r.git.Storer.EncodedObject(plumbing.CommitObject, h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	rd, err := obj.Reader()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer rd.Close()
	line, err := bufio.NewReaderSize(rd, 128).ReadString('\n')
	treeHex, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "tree ")
	if err != nil || !ok || len(treeHex) != 2*len(plumbing.ZeroHash) || !isHex(treeHex) {
		return plumbing.ZeroHash, fmt.Errorf("object %s: no tree line", h)
	}
	return plumbing.NewHash(treeHex), nil
}

// FilesAt is [Repo.Files] as of the revision rev (see [Repo.Resolve]).
func (r *Repo) FilesAt(ctx context.Context, rev, prefix string) (map[string][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s at %s in state repo %s: %w", prefix, rev, r.dir, err)
	}
	if err := checkPrefix(prefix, true); err != nil {
		return nil, fmt.Errorf("read state repo %s: %w", r.dir, err)
	}
	c, err := r.resolve(ctx, rev)
	if err != nil {
		return nil, fmt.Errorf("state repo %s: %w", r.dir, err)
	}
	files, err := r.filesIn(ctx, c.TreeHash, prefix, true)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s in state repo %s: %w", prefix, rev, r.dir, err)
	}
	return files, nil
}

// filesIn reads the regular files under prefix in the tree th.
func (r *Repo) filesIn(ctx context.Context, th plumbing.Hash, prefix string, recursive bool) (map[string][]byte, error) {
	files := map[string][]byte{}
	tree, err := r.git.TreeObject(th)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", th, err)
	}
	if prefix != "" {
		e, err := tree.FindEntry(prefix)
		if errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", prefix, err)
		}
		if e.Mode != filemode.Dir {
			return nil, fmt.Errorf("%s is not a directory", prefix)
		}
		if tree, err = r.git.TreeObject(e.Hash); err != nil {
			return nil, fmt.Errorf("read tree %s: %w", prefix, err)
		}
	}
	// The worktree holds most blobs uncompressed: where the index says
	// a file was staged from exactly this blob and the file is still the
	// one it was staged from, it is read instead of the object.
	staged := map[string]*index.Entry{}
	if idx, err := r.git.Storer.Index(); err == nil {
		for _, e := range idx.Entries {
			staged[e.Name] = e
		}
	}
	w := object.NewTreeWalker(tree, recursive, nil)
	defer w.Close()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name, e, err := w.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("walk tree: %w", err)
		}
		if e.Mode != filemode.Regular && e.Mode != filemode.Executable {
			continue
		}
		full := name
		if prefix != "" {
			full = prefix + "/" + name
		}
		if ie := staged[full]; ie != nil && ie.Hash == e.Hash && ie.Mode == e.Mode {
			if data, ok := r.readStaged(ie); ok {
				files[name] = data
				continue
			}
		}
		data, err := r.readLoose(e.Hash)
		if errors.Is(err, fs.ErrNotExist) { // packed, or not on disk
			var b *object.Blob
			if b, err = r.git.BlobObject(e.Hash); err == nil {
				data, err = readBlob(b)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		files[name] = data
	}
}

// readStaged reads the worktree file of index entry e, if it is still
// the file e was staged from: same size and modification time, as git
// itself judges (a file written since has another modification time).
func (r *Repo) readStaged(e *index.Entry) ([]byte, bool) {
	f, err := os.Open(r.worktreePath(e.Name))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(e.Size) || !fi.ModTime().Equal(e.ModifiedAt) {
		return nil, false
	}
	data := make([]byte, e.Size+1) // one more, to see the end
	n, err := io.ReadFull(f, data)
	if n != int(e.Size) || err != io.ErrUnexpectedEOF && !(err == io.EOF && n == 0) {
		return nil, false
	}
	return data[:n:n], true
}

// readLoose reads the blob h from its loose object file, as mailtwin's
// commits leave every blob. go-git's reader hashes each object as it
// reads it, twice, which at a few megabytes of state cost more than the
// inflating; like git, this trusts the object's name for its content.
// An error wrapping fs.ErrNotExist means there is no loose object (the
// repository was packed, or is not on disk): read it through go-git.
func (r *Repo) readLoose(h plumbing.Hash) (_ []byte, err error) {
	st, ok := r.git.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fs.ErrNotExist
	}
	fsys := st.Filesystem()
	hex := h.String()
	f, err := fsys.Open(fsys.Join("objects", hex[:2], hex[2:]))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := zlib.NewReader(bufio.NewReaderSize(f, 32<<10))
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", hex, err)
	}
	defer func() {
		if cerr := zr.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("object %s: %w", hex, cerr)
		}
	}()
	var hdr [32]byte
	n := 0
	for {
		if n == len(hdr) {
			return nil, fmt.Errorf("object %s: bad header", hex)
		}
		if _, err := io.ReadFull(zr, hdr[n:n+1]); err != nil {
			return nil, fmt.Errorf("object %s: header: %w", hex, err)
		}
		if hdr[n] == 0 {
			break
		}
		n++
	}
	kind, size, ok := strings.Cut(string(hdr[:n]), " ")
	sz, err := strconv.ParseInt(size, 10, 64)
	if !ok || kind != "blob" || err != nil || sz < 0 {
		return nil, fmt.Errorf("object %s: not a blob (%q)", hex, hdr[:n])
	}
	data := make([]byte, sz)
	if _, err := io.ReadFull(zr, data); err != nil {
		return nil, fmt.Errorf("object %s: %w", hex, err)
	}
	var one [1]byte
	if k, _ := zr.Read(one[:]); k != 0 {
		return nil, fmt.Errorf("object %s: longer than its header says", hex)
	}
	return data, nil
}

func readBlob(b *object.Blob) (_ []byte, err error) {
	rd, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rd.Close(); err == nil {
			err = cerr
		}
	}()
	var buf bytes.Buffer
	buf.Grow(int(b.Size) + bytes.MinRead) // one allocation
	if _, err := buf.ReadFrom(rd); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Commit records what [Repo.Stage] staged as a new commit on HEAD, with
// message as its message and "mailtwin <mailtwin@localhost>" as author
// and committer at Clock's time. Leading and trailing blank space is
// dropped from message and one newline added, as git does; an empty
// message is an error. It returns
// ErrNothingToCommit, and makes no commit, when the staged tree equals
// HEAD's (or nothing was ever staged).
//
// Unless NoAutoPack is set, a commit that finds more than AutoPackLoose
// loose objects then packs them (see [Repo.Pack]; that commit takes a
// second or two more). Should packing fail, Commit returns the commit
// it made together with the error: the commit stands, every object is
// still readable, and the next commit tries again.
func (r *Repo) Commit(ctx context.Context, message string) (Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Commit{}, fmt.Errorf("commit to state repo %s: %w", r.dir, err)
	}
	msg := cleanMessage(message)
	if msg == "" {
		return Commit{}, fmt.Errorf("commit to state repo %s: empty commit message", r.dir)
	}
	// HEAD's tree is read from the first line of its commit (see
	// headTree), not from the commit whole; commitIndex tells from it
	// whether the run changed anything (see commit.go).
	head, tree, err := r.headTree()
	if err != nil {
		return Commit{}, fmt.Errorf("commit to state repo %s: %w", r.dir, err)
	}
	idx, err := r.git.Storer.Index()
	if err != nil {
		return Commit{}, fmt.Errorf("commit to state repo %s: read index: %w", r.dir, err)
	}
	c, err := r.commitIndex(idx, head, tree, msg+"\n")
	if errors.Is(err, ErrNothingToCommit) {
		return Commit{}, err
	}
	if err != nil {
		return Commit{}, fmt.Errorf("commit to state repo %s: %w", r.dir, err)
	}
	h := c.Hash
	// Pack when loose objects have piled up (see pack.go). The commit
	// stands whether or not that works: a failed pack leaves every
	// object loose, and the next commit tries again.
	if _, err := r.autoPack(ctx); err != nil {
		return commitOf(c), fmt.Errorf("state committed as %s, but packing state repo %s failed: %w", h.String()[:ShortLen], r.dir, err)
	}
	return commitOf(c), nil
}

func cleanMessage(m string) string {
	m = strings.ReplaceAll(m, "\r\n", "\n")
	return strings.Trim(m, " \t\r\n")
}

func commitOf(c *object.Commit) Commit {
	msg := strings.TrimRight(c.Message, "\n")
	subject, _, _ := strings.Cut(msg, "\n")
	h := c.Hash.String()
	return Commit{
		Hash:    h,
		Short:   h[:ShortLen],
		Time:    c.Committer.When,
		Subject: subject,
		Message: msg,
	}
}

// Log returns the commits reachable from HEAD, newest first: at most n
// of them, or all when n <= 0. It returns no commits, and no error, when
// HEAD does not exist yet.
func (r *Repo) Log(ctx context.Context, n int) ([]Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("log of state repo %s: %w", r.dir, err)
	}
	out := []Commit{}
	err := r.walk(ctx, func(c *object.Commit) bool {
		out = append(out, commitOf(c))
		return n <= 0 || len(out) < n
	})
	if err != nil {
		return nil, fmt.Errorf("log of state repo %s: %w", r.dir, err)
	}
	return out, nil
}

// walk calls fn for the commits reachable from HEAD, newest first, until
// fn returns false.
func (r *Repo) walk(ctx context.Context, fn func(*object.Commit) bool) error {
	head, err := r.head()
	if err != nil || head == nil {
		return err
	}
	it, err := r.git.Log(&git.LogOptions{From: head.Hash})
	if err != nil {
		return err
	}
	defer it.Close()
	return it.ForEach(func(c *object.Commit) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !fn(c) {
			return storer.ErrStop
		}
		return nil
	})
}

// Resolve turns the revision rev into a commit. rev is "HEAD" (or "@"),
// a branch name, or a full or abbreviated (at least 4 hex digits) commit
// hash, optionally followed by ancestry suffixes such as "~2" or "^"
// ("HEAD~1", "3fa9c1d~2"). Abbreviated hashes are looked up among the
// commits reachable from HEAD. The error wraps ErrUnknownRevision or
// ErrAmbiguousRevision and names rev.
func (r *Repo) Resolve(ctx context.Context, rev string) (Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Commit{}, fmt.Errorf("resolve %q in state repo %s: %w", rev, r.dir, err)
	}
	c, err := r.resolve(ctx, rev)
	if err != nil {
		return Commit{}, fmt.Errorf("state repo %s: %w", r.dir, err)
	}
	return commitOf(c), nil
}

// MinAbbrev is the fewest hex digits [Repo.Resolve] accepts as an
// abbreviated hash.
const MinAbbrev = 4

func (r *Repo) resolve(ctx context.Context, rev string) (*object.Commit, error) {
	unknown := fmt.Errorf("revision %q: %w", rev, ErrUnknownRevision)
	base, suffix := rev, ""
	if i := strings.IndexAny(rev, "~^"); i >= 0 {
		base, suffix = rev[:i], rev[i:]
	}
	if base == "" || base != "@" && strings.ContainsAny(base, ":@{}\\ ") || !ancestry(suffix) {
		return nil, unknown
	}
	var start plumbing.Hash
	switch {
	case base == "HEAD" || base == "@":
		head, err := r.head()
		if err != nil {
			return nil, fmt.Errorf("revision %q: %w", rev, err)
		}
		if head == nil {
			return nil, fmt.Errorf("revision %q: %w (no commit yet)", rev, ErrUnknownRevision)
		}
		start = head.Hash
	case isHex(base) && len(base) == 2*len(plumbing.ZeroHash):
		start = plumbing.NewHash(base)
	case isHex(base) && len(base) >= MinAbbrev:
		var matches []plumbing.Hash
		abbrev := strings.ToLower(base)
		err := r.walk(ctx, func(c *object.Commit) bool {
			if strings.HasPrefix(c.Hash.String(), abbrev) {
				matches = append(matches, c.Hash)
			}
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("revision %q: %w", rev, err)
		}
		switch len(matches) {
		case 0:
			// maybe a branch whose name looks like hex
		case 1:
			start = matches[0]
		default:
			shorts := make([]string, len(matches))
			for i, m := range matches {
				shorts[i] = m.String()[:ShortLen+2]
			}
			return nil, fmt.Errorf("revision %q: %w: matches %d commits (%s); give more digits",
				rev, ErrAmbiguousRevision, len(matches), strings.Join(shorts, ", "))
		}
	}
	if start.IsZero() {
		ref, err := r.git.Reference(plumbing.NewBranchReferenceName(base), true)
		if err != nil {
			ref, err = r.git.Reference(plumbing.ReferenceName(base), true)
		}
		if err != nil || !strings.HasPrefix(string(ref.Name()), "refs/") {
			if isHex(base) && len(base) < MinAbbrev {
				return nil, fmt.Errorf("%w (an abbreviated hash needs at least %d digits)", unknown, MinAbbrev)
			}
			return nil, unknown
		}
		start = ref.Hash()
	}
	if suffix == "" {
		c, err := r.git.CommitObject(start)
		if err != nil {
			return nil, unknown
		}
		return c, nil
	}
	// go-git's revision parser handles the ancestry suffixes; hand it a
	// full hash so that it does not guess at abbreviations itself.
	h, err := r.git.ResolveRevision(plumbing.Revision(start.String() + suffix))
	if err != nil {
		return nil, unknown
	}
	c, err := r.git.CommitObject(*h)
	if err != nil {
		return nil, unknown
	}
	return c, nil
}

// ancestry reports whether s is a run of "~N" and "^N" steps (N
// optional), the only suffixes Resolve hands on to go-git.
func ancestry(s string) bool {
	for i, c := range s {
		if c != '~' && c != '^' && (c < '0' || c > '9' || i == 0) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// Rollback makes a new commit on top of HEAD whose tree equals the tree
// of the revision rev (see [Repo.Resolve]), with the message
// "rollback to <short>: <subject of rev>", and resets the index and the
// worktree to it, discarding anything staged. History is never
// rewritten: the commits after rev stay in the log. It returns
// ErrNothingToCommit, and makes no commit, when HEAD's tree already
// equals rev's.
func (r *Repo) Rollback(ctx context.Context, rev string) (Commit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Commit{}, fmt.Errorf("roll back state repo %s: %w", r.dir, err)
	}
	target, err := r.resolve(ctx, rev)
	if err != nil {
		return Commit{}, fmt.Errorf("roll back state repo %s: %w", r.dir, err)
	}
	headRef, err := r.git.Head()
	if err != nil {
		return Commit{}, fmt.Errorf("roll back state repo %s: read HEAD: %w", r.dir, err)
	}
	head, err := r.git.CommitObject(headRef.Hash())
	if err != nil {
		return Commit{}, fmt.Errorf("roll back state repo %s: read HEAD: %w", r.dir, err)
	}
	if head.TreeHash == target.TreeHash {
		return Commit{}, ErrNothingToCommit
	}
	t := commitOf(target)
	sig := r.signature()
	c := &object.Commit{
		Author:    sig,
		Committer: sig,
		Message: fmt.Sprintf("rollback to %s: %s\n\nRestores the state of commit %s (%s).\n",
			t.Short, t.Subject, t.Hash, t.Time.Format(time.RFC3339)),
		TreeHash:     target.TreeHash,
		ParentHashes: []plumbing.Hash{head.Hash},
	}
	obj := r.git.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return Commit{}, fmt.Errorf("roll back state repo %s: encode commit: %w", r.dir, err)
	}
	h, err := r.git.Storer.SetEncodedObject(obj)
	if err != nil {
		return Commit{}, fmt.Errorf("roll back state repo %s: write commit: %w", r.dir, err)
	}
	// Compare and swap: fail rather than drop a commit made meanwhile.
	if err := r.git.Storer.CheckAndSetReference(plumbing.NewHashReference(headRef.Name(), h), headRef); err != nil {
		return Commit{}, fmt.Errorf("roll back state repo %s: move %s: %w", r.dir, headRef.Name().Short(), err)
	}
	if err := r.wt.Reset(&git.ResetOptions{Commit: h, Mode: git.HardReset}); err != nil {
		return Commit{}, fmt.Errorf("roll back state repo %s: reset worktree: %w", r.dir, err)
	}
	nc, err := r.git.CommitObject(h)
	if err != nil {
		return Commit{}, fmt.Errorf("roll back state repo %s: read new commit: %w", r.dir, err)
	}
	return commitOf(nc), nil
}

// worktreePath turns a slash-separated repository path into an OS path.
func (r *Repo) worktreePath(p string) string {
	return filepath.Join(r.dir, filepath.FromSlash(p))
}
