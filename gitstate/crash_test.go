package gitstate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
)

// errCrashed is what every write returns once the simulated process has
// died.
var errCrashed = errors.New("simulated crash: the process is dead")

// crashPoint plays a process that dies at its write number at (0-based):
// that write and every later one never reach the disk. With torn, the
// fatal write, if it is a Write of data, gets half its bytes to disk
// first, as a kill in the middle of a write(2) of a large buffer would.
// Stage writes several files at once, so the writes are counted under
// a lock, in the order they happen: the trials of one test see the
// same writes, not always in the same order.
type crashPoint struct {
	mu     sync.Mutex
	at     int
	torn   bool
	writes int    // writes seen so far, the fatal one included
	what   string // the fatal write, for the test's messages
}

// step counts one write described by what and reports whether it
// happens (ok) and, for the fatal write when torn, that half of it does.
func (c *crashPoint) step(what string) (ok, half bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.writes
	c.writes++
	if c.at < 0 || n < c.at {
		return true, false
	}
	if n == c.at {
		c.what = what
		return false, c.torn
	}
	return false, false
}

// crashFS is a filesystem whose writes stop at a crashPoint: creating,
// opening for writing, writing, truncating, renaming, removing,
// making directories and changing modes each count as one write.
type crashFS struct {
	billy.Filesystem
	c *crashPoint
}

func (f crashFS) Create(name string) (billy.File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (f crashFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC) != 0 {
		if ok, _ := f.c.step("open " + name); !ok {
			return nil, errCrashed
		}
	}
	file, err := f.Filesystem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return crashFile{file, f.c}, nil
}

func (f crashFS) TempFile(dir, prefix string) (billy.File, error) {
	if ok, _ := f.c.step("tempfile in " + dir); !ok {
		return nil, errCrashed
	}
	file, err := f.Filesystem.TempFile(dir, prefix)
	if err != nil {
		return nil, err
	}
	return crashFile{file, f.c}, nil
}

func (f crashFS) Rename(from, to string) error {
	if ok, _ := f.c.step("rename " + from + " to " + to); !ok {
		return errCrashed
	}
	return f.Filesystem.Rename(from, to)
}

func (f crashFS) Remove(name string) error {
	if ok, _ := f.c.step("remove " + name); !ok {
		return errCrashed
	}
	return f.Filesystem.Remove(name)
}

func (f crashFS) MkdirAll(name string, perm os.FileMode) error {
	if ok, _ := f.c.step("mkdir " + name); !ok {
		return errCrashed
	}
	return f.Filesystem.MkdirAll(name, perm)
}

func (f crashFS) Symlink(target, link string) error {
	if ok, _ := f.c.step("symlink " + link); !ok {
		return errCrashed
	}
	return f.Filesystem.Symlink(target, link)
}

func (f crashFS) Chmod(name string, mode os.FileMode) error {
	if ok, _ := f.c.step("chmod " + name); !ok {
		return errCrashed
	}
	return f.Filesystem.(billy.Chmod).Chmod(name, mode)
}

func (f crashFS) Chroot(path string) (billy.Filesystem, error) {
	fs, err := f.Filesystem.Chroot(path)
	if err != nil {
		return nil, err
	}
	return crashFS{fs, f.c}, nil
}

type crashFile struct {
	billy.File
	c *crashPoint
}

func (f crashFile) Write(p []byte) (int, error) {
	ok, half := f.c.step(fmt.Sprintf("write %d bytes to %s", len(p), f.Name()))
	if ok {
		return f.File.Write(p)
	}
	if half && len(p) > 1 {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, errCrashed
	}
	return 0, errCrashed
}

func (f crashFile) Truncate(size int64) error {
	if ok, _ := f.c.step("truncate " + f.Name()); !ok {
		return errCrashed
	}
	return f.File.Truncate(size)
}

// copyDir copies the tree at src to dst, modes included.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// commitRun is one run's write to the state repository, as mailtwin
// makes it: open (creating the repository the first time), stage the
// pair's files, commit. It stops at the first error, as a run does.
// runPackMin, where not zero, replaces RunPackMin.
func commitRun(ctx context.Context, dir string, base billy.Filesystem, files map[string][]byte, msg string, runPackMin int) error {
	r, err := open(ctx, dir, base)
	if err != nil {
		return err
	}
	r.runPackMin = runPackMin
	// A fixed time makes the commit the same object in every trial, so
	// that every trial makes the same writes: with the clock's time, a
	// commit whose hash shares its first two digits with an object
	// already there finds its objects directory made, one write fewer
	// than the dry run counted.
	r.Clock = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	if err := r.Stage(ctx, "pair", files); err != nil {
		return err
	}
	_, err = r.Commit(ctx, msg)
	return err
}

// TestCrashAtEveryWrite kills a state commit at each of its writes in
// turn (and, for writes of data, halfway through the write) and checks
// what the next run finds: the repository opens, the run lock can be
// taken, the state is exactly the old one or exactly the new one, and
// the next commit works. This is the state commit's share of the
// kill-point sweep: a SIGKILL from outside cannot aim at a single
// write, this can, and it reaches every one.
//
// Three commits are played: the very first one, which creates the
// repository, and a later one that changes, adds and removes files,
// once with its new blobs loose and once with them in a run pack.
func TestCrashAtEveryWrite(t *testing.T) {
	ctx := context.Background()
	old := map[string][]byte{
		"INBOX":        []byte("uidvalidity 1\n1 a 1 \\Seen\n2 b 2\n"),
		"Archive/2024": []byte("uidvalidity 7\n1 c 1\n"),
		"Gone":         []byte("uidvalidity 9\n"),
	}
	next := map[string][]byte{
		"INBOX":        []byte("uidvalidity 1\n1 a 1 \\Seen \\Answered\n2 b 2\n3 d 3\n"),
		"Archive/2024": old["Archive/2024"],
		"Archive/2025": []byte("uidvalidity 8\n1 e 1\n"),
	}
	third := map[string][]byte{"INBOX": []byte("uidvalidity 1\n")}

	for _, tc := range []struct {
		name       string
		before     map[string][]byte // committed before the crashed run; nil: no repository yet
		crashed    map[string][]byte // what the crashed run commits
		runPackMin int               // of the crashed run
	}{
		{"first commit", nil, old, 0},
		{"later commit", old, next, 0},
		{"later commit, run pack", old, next, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			template := t.TempDir()
			if tc.before != nil {
				if err := commitRun(ctx, template, osfs.New(template), tc.before, "before", 0); err != nil {
					t.Fatal(err)
				}
			}
			// An uncrashed run counts the writes.
			count := &crashPoint{at: -1}
			dry := t.TempDir()
			copyDir(t, template, dry)
			if err := commitRun(ctx, dry, crashFS{osfs.New(dry), count}, tc.crashed, "crashed run", tc.runPackMin); err != nil {
				t.Fatalf("run without a crash: %v", err)
			}
			if count.writes < 5 {
				t.Fatalf("a commit made only %d writes: the crash filesystem is not in the write path", count.writes)
			}
			if tc.runPackMin > 0 && countPacks(t, dry) != 1 {
				t.Fatalf("the run made %d packs; want its run pack", countPacks(t, dry))
			}
			trials := 0
			for at := range count.writes {
				for _, torn := range []bool{false, true} {
					cp := &crashPoint{at: at, torn: torn}
					dir := t.TempDir()
					copyDir(t, template, dir)
					err := commitRun(ctx, dir, crashFS{osfs.New(dir), cp}, tc.crashed, "crashed run", tc.runPackMin)
					if err == nil {
						t.Fatalf("crash at write %d (%s): the run reported success", at, cp.what)
					}
					trials++
					checkRecovery(t, ctx, dir, fmt.Sprintf("after a crash at write %d of %d (%s, torn %v)", at, count.writes, cp.what, torn), tc.before, tc.crashed, third)
				}
			}
			if !t.Failed() {
				t.Logf("%d crash points (%d writes, each clean and torn), all recovered", trials, count.writes)
			}
		})
	}
}

// checkRecovery is the next run after a crash: it must find the old or
// the new state whole, and be able to commit.
func checkRecovery(t *testing.T, ctx context.Context, dir, when string, before, crashed, third map[string][]byte) {
	t.Helper()
	r, err := Open(ctx, dir)
	if err != nil {
		t.Errorf("%s: the next run cannot open the state repo: %v", when, err)
		return
	}
	unlock, err := r.Lock(ctx)
	if err != nil {
		t.Errorf("%s: the next run cannot take the lock: %v", when, err)
		return
	}
	defer unlock()
	got, err := r.Files(ctx, "pair")
	if err != nil {
		t.Errorf("%s: the next run cannot read the state: %v", when, err)
		return
	}
	if before == nil {
		before = map[string][]byte{}
	}
	if !maps.EqualFunc(got, before, bytesEqual) && !maps.EqualFunc(got, crashed, bytesEqual) {
		t.Errorf("%s: the state is neither the old nor the new one:\n%s", when, dump(got))
		return
	}
	if err := r.Stage(ctx, "pair", third); err != nil {
		t.Errorf("%s: the next run cannot stage: %v", when, err)
		return
	}
	if _, err := r.Commit(ctx, "next run"); err != nil {
		t.Errorf("%s: the next run cannot commit: %v", when, err)
		return
	}
	got, err = r.Files(ctx, "pair")
	if err != nil || !maps.EqualFunc(got, third, bytesEqual) {
		t.Errorf("%s: after the next run's commit the state is %v, %v; want its files", when, dump(got), err)
	}
	if _, err := r.Log(ctx, 0); err != nil {
		t.Errorf("%s: the history cannot be read: %v", when, err)
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func dump(m map[string][]byte) string {
	s := ""
	for k, v := range m {
		s += fmt.Sprintf("  %s: %q\n", k, v)
	}
	return s
}
