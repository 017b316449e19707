package gitstate

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
)

// LockFile is the name of the run lock file inside the repository's .git
// directory, where it is never committed.
const LockFile = "mailtwin.lock"

// DefaultLockMaxAge is the LockMaxAge used when a Repo's is zero.
const DefaultLockMaxAge = time.Hour

// ErrLocked is matched (with errors.Is) by the *LockedError that
// [Repo.Lock] returns when another live run holds the lock.
var ErrLocked = errors.New("state repo is locked")

// LockedError says who holds the run lock of a state repository.
type LockedError struct {
	// Dir is the state repository's directory.
	Dir string
	// PID is the holder's process id; 0 when the lock file is unreadable.
	PID int
	// Host is the holder's host name; "unknown" when the lock file is
	// unreadable.
	Host string
	// Since is when the holder took the lock.
	Since time.Time
}

// Error reads "state repo DIR is locked by pid P on host H since T".
func (e *LockedError) Error() string {
	return fmt.Sprintf("state repo %s is locked by pid %d on host %s since %s",
		e.Dir, e.PID, e.Host, e.Since.Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// LockPath returns the path of the run lock file, .git/mailtwin.lock.
func (r *Repo) LockPath() string {
	return filepath.Join(r.dir, git.GitDirName, LockFile)
}

func (r *Repo) lockMaxAge() time.Duration {
	if r.LockMaxAge > 0 {
		return r.LockMaxAge
	}
	return DefaultLockMaxAge
}

// lockInfo is the content of a lock file: lines of "key value".
//
//	pid 4242
//	host mail.example.org
//	since 2025-11-29T10:00:00Z
//	token 4MZ3J4QYTKX2XK6C4PTA5PZQHN
type lockInfo struct {
	PID   int
	Host  string
	Since time.Time
	Token string // tells two locks of the same pid, host and second apart
}

func (l lockInfo) format() []byte {
	return fmt.Appendf(nil, "pid %d\nhost %s\nsince %s\ntoken %s\n",
		l.PID, l.Host, l.Since.Format(time.RFC3339), l.Token)
}

func parseLock(b []byte) (lockInfo, error) {
	var l lockInfo
	var seen [3]bool
	for line := range strings.Lines(string(b)) {
		key, val, _ := strings.Cut(strings.TrimSpace(line), " ")
		var err error
		switch key {
		case "pid":
			l.PID, err = strconv.Atoi(val)
			seen[0] = true
		case "host":
			l.Host = val
			seen[1] = true
		case "since":
			l.Since, err = time.Parse(time.RFC3339, val)
			seen[2] = true
		case "token":
			l.Token = val
		}
		if err != nil {
			return l, fmt.Errorf("bad %s line: %w", key, err)
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return l, errors.New("pid, host or since line missing")
	}
	return l, nil
}

// errLockChanged: the lock file changed hands while being inspected.
var errLockChanged = errors.New("lock file changed while taking it over")

// Lock takes the run lock of the repository: the file LockPath, created
// atomically, holding this process's pid, the host name and the time
// (RFC 3339). The returned unlock removes the lock file if it is still
// this run's; call it exactly once (later calls return the first
// result).
//
// When another run holds the lock, Lock returns a *LockedError, which
// matches ErrLocked. A lock is stale, and is taken over, when its holder
// is a process on this host that no longer exists, or when the lock file
// was last refreshed more than LockMaxAge ago (a holder on another host,
// or after a reboot reused its pid). While held, the lock file's
// modification time is refreshed every LockMaxAge/4, so a long run keeps
// its lock.
//
// Having taken the lock, Lock discards whatever an earlier run staged
// but never committed (a run that died between Stage and Commit): the
// index and the worktree are reset to HEAD.
func (r *Repo) Lock(ctx context.Context) (unlock func() error, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	errf := func(err error) error { return fmt.Errorf("lock state repo %s: %w", r.dir, err) }
	if err := ctx.Err(); err != nil {
		return nil, errf(err)
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, errf(fmt.Errorf("host name: %w", err))
	}
	clock := r.Clock // read once: the refresher must not race with callers
	if clock == nil {
		clock = time.Now
	}
	maxAge := r.lockMaxAge()
	mine := lockInfo{PID: os.Getpid(), Host: host, Since: clock(), Token: rand.Text()}
	content := mine.format()
	lp := r.LockPath()

	for attempt := 0; ; attempt++ {
		err := createLock(lp, content)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, errf(err)
		}
		if attempt == 3 {
			return nil, errf(fmt.Errorf("%s keeps changing hands", lp))
		}
		data, mtime, err := readLock(lp)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, errf(err)
		}
		held, perr := parseLock(data)
		if perr != nil {
			held = lockInfo{Host: "unknown", Since: mtime}
		}
		stale := clock().Sub(mtime) > maxAge ||
			perr == nil && held.Host == host && held.PID > 0 && !processAlive(held.PID)
		if !stale {
			return nil, &LockedError{Dir: r.dir, PID: held.PID, Host: held.Host, Since: held.Since}
		}
		if err := breakLock(lp, data); err != nil && !errors.Is(err, errLockChanged) {
			return nil, errf(fmt.Errorf("take over stale lock of pid %d on host %s: %w", held.PID, held.Host, err))
		}
	}

	refresh := func() {
		if b, err := os.ReadFile(lp); err == nil && bytes.Equal(b, content) {
			now := clock()
			_ = os.Chtimes(lp, now, now) // best effort; a miss only ages the lock
		}
	}
	refresh() // the lock's age is measured on Clock, like everything else
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(maxAge/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				refresh()
			}
		}
	}()
	unlock = sync.OnceValue(func() error {
		close(stop)
		<-done
		b, err := os.ReadFile(lp)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unlock state repo %s: %s was removed by someone else", r.dir, lp)
		}
		if err != nil {
			return fmt.Errorf("unlock state repo %s: %w", r.dir, err)
		}
		if !bytes.Equal(b, content) {
			return fmt.Errorf("unlock state repo %s: the lock was taken over by another run", r.dir)
		}
		if err := os.Remove(lp); err != nil {
			return fmt.Errorf("unlock state repo %s: %w", r.dir, err)
		}
		return nil
	})

	if err := r.discardStaged(ctx); err != nil {
		unlock()
		return nil, errf(err)
	}
	return unlock, nil
}

// createLock creates the lock file at lp holding content, failing with an
// error matching fs.ErrExist when it exists. The content is written to a
// temporary file first and hard-linked into place, so nobody ever reads
// a half-written lock; where hard links are not supported it falls back
// to O_EXCL on lp itself.
func createLock(lp string, content []byte) error {
	tmp := lp + ".new-" + rand.Text()
	if err := writeExcl(tmp, content); err != nil {
		return err
	}
	err := os.Link(tmp, lp)
	os.Remove(tmp)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	return writeExcl(lp, content)
}

func writeExcl(name string, content []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

func readLock(lp string) ([]byte, time.Time, error) {
	f, err := os.Open(lp)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, time.Time{}, err
	}
	return buf.Bytes(), fi.ModTime(), nil
}

// breakLock removes the stale lock file at lp whose content was seen. It
// renames the file aside first and checks it is still the one seen, so
// that of two runs taking over the same stale lock, neither removes the
// fresh lock of the other.
func breakLock(lp string, seen []byte) error {
	aside := lp + ".stale-" + rand.Text()
	if err := os.Rename(lp, aside); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errLockChanged
		}
		return err
	}
	got, err := os.ReadFile(aside)
	if err == nil && bytes.Equal(got, seen) {
		return os.Remove(aside)
	}
	// Another run took the lock between our read and the rename: put its
	// lock back (unless a third run got in first) and let the caller
	// look again.
	_ = os.Link(aside, lp)
	os.Remove(aside)
	return errLockChanged
}
