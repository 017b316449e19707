package gitstate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
)

// packHistory is a state history to pack: the files of each commit,
// oldest first, each run changing a few lines of some files, adding
// and removing others, in two pairs.
func packHistory(runs, files, lines int) []map[string][]byte {
	var out []map[string][]byte
	cur := map[string][]byte{}
	for f := range files {
		var b []byte
		for i := range lines {
			b = fmt.Appendf(b, "%d %d \\Seen m:%024x\n", i+1, i+1, (f*lines+i)*2654435761)
		}
		cur[fmt.Sprintf("work/folder%02d.state", f)] = b
	}
	cur["home/INBOX.state"] = []byte("# home\n")
	for run := range runs {
		next := maps.Clone(cur)
		for f := run % 3; f < files; f += 3 {
			name := fmt.Sprintf("work/folder%02d.state", f)
			b := append([]byte(nil), next[name]...)
			at := (run * 7 % lines) * 10
			copy(b[at:], fmt.Sprintf("%d", run%10))
			next[name] = b
		}
		next["home/INBOX.state"] = fmt.Appendf(nil, "# home\nrun %d\n", run)
		if run%4 == 2 {
			next[fmt.Sprintf("work/new%d.state", run)] = fmt.Appendf(nil, "new in run %d\n", run)
		}
		if run%4 == 3 {
			delete(next, fmt.Sprintf("work/new%d.state", run-1))
		}
		out = append(out, next)
		cur = next
	}
	return out
}

// commitState stages the files of both pairs and commits them.
func commitState(t testing.TB, ctx context.Context, r *Repo, files map[string][]byte, msg string) Commit {
	t.Helper()
	for _, prefix := range []string{"work", "home"} {
		sub := map[string][]byte{}
		for name, data := range files {
			if rel, ok := strings.CutPrefix(name, prefix+"/"); ok {
				sub[rel] = data
			}
		}
		if err := r.Stage(ctx, prefix, sub); err != nil {
			t.Fatal(err)
		}
	}
	c, err := r.Commit(ctx, msg)
	if err != nil {
		t.Fatalf("commit %q: %v", msg, err)
	}
	return c
}

func fixedClock(r *Repo) {
	n := 0
	r.Clock = func() time.Time {
		n++
		return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(n) * time.Minute)
	}
}

func countLoose(t testing.TB, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "[0-9a-f][0-9a-f]", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func countPacks(t testing.TB, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "pack-*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// checkHistory reads every commit back: Log holds them all, newest
// first, and FilesAt of each gives its files.
func checkHistory(t *testing.T, ctx context.Context, r *Repo, commits []Commit, want []map[string][]byte, when string) {
	t.Helper()
	log, err := r.Log(ctx, 0)
	if err != nil {
		t.Fatalf("%s: Log: %v", when, err)
	}
	if len(log) != len(commits) {
		t.Fatalf("%s: Log has %d commits, want %d", when, len(log), len(commits))
	}
	for i, c := range commits {
		if log[len(log)-1-i].Hash != c.Hash {
			t.Errorf("%s: Log[%d] = %s, want %s", when, len(log)-1-i, log[len(log)-1-i].Short, c.Short)
		}
		got, err := r.FilesAt(ctx, c.Hash, "")
		if err != nil {
			t.Errorf("%s: FilesAt(%s): %v", when, c.Short, err)
			continue
		}
		if !maps.EqualFunc(got, want[i], bytesEqual) {
			t.Errorf("%s: FilesAt(%s) (commit %d) differs from what was committed", when, c.Short, i)
		}
	}
}

// TestPackKeepsHistory packs a history twice, first the loose objects
// of its first half, then everything, and reads every commit back
// each time, through go-git's readers and through the fast paths of
// Files and Commit (HEAD's commit and trees packed, the worktree gone).
// The packs must be smaller than the loose objects they replace, by
// deltas between versions of a file, and valid for git itself.
func TestPackKeepsHistory(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	r.NoAutoPack = true
	fixedClock(r)
	hist := packHistory(12, 20, 200)
	var commits []Commit
	for i, files := range hist[:6] {
		commits = append(commits, commitState(t, ctx, r, files, fmt.Sprintf("run %d", i)))
	}
	looseBytes := dirBytes(t, filepath.Join(dir, ".git", "objects"))
	st, err := r.Pack(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := countLoose(t, dir); n != 0 || st.LooseRemoved == 0 || countPacks(t, dir) != 1 {
		t.Fatalf("after Pack: %d loose objects, %d packs, stats %+v; want 0 loose, 1 pack", n, countPacks(t, dir), st)
	}
	if st.Deltas == 0 || st.Bytes*2 > looseBytes {
		t.Errorf("Pack made %d deltas, %d bytes for %d bytes of loose objects; want deltas and half at most", st.Deltas, st.Bytes, looseBytes)
	}
	checkHistory(t, ctx, r, commits, hist, "after packing the loose objects")
	for i, files := range hist[6:] {
		commits = append(commits, commitState(t, ctx, r, files, fmt.Sprintf("run %d", 6+i)))
	}
	checkHistory(t, ctx, r, commits, hist, "after more commits on the pack")

	st, err = r.Pack(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := countLoose(t, dir); n != 0 || countPacks(t, dir) != 1 || st.PacksRemoved != 1 {
		t.Fatalf("after Pack(all): %d loose objects, %d packs, stats %+v; want 0 loose, 1 pack, 1 removed", n, countPacks(t, dir), st)
	}
	checkHistory(t, ctx, r, commits, hist, "after packing everything")
	if git, err := exec.LookPath("git"); err == nil {
		out, err := exec.Command(git, "-C", dir, "fsck", "--full", "--strict").CombinedOutput()
		if err != nil {
			t.Errorf("git fsck: %v\n%s", err, out)
		}
	}

	// A new process, no worktree to read files from: HEAD's files come
	// from the pack, and a run that changes nothing still finds so.
	for _, p := range []string{"work", "home"} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	r, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	r.NoAutoPack = true
	fixedClock(r)
	got, err := r.Files(ctx, "")
	if err != nil || !maps.EqualFunc(got, hist[len(hist)-1], bytesEqual) {
		t.Fatalf("Files of the packed HEAD = %d files, %v; want the last commit's", len(got), err)
	}
	if _, err := r.Rollback(ctx, commits[0].Hash); err != nil {
		t.Fatalf("Rollback to the first commit: %v", err)
	}
	if got, err := r.Files(ctx, ""); err != nil || !maps.EqualFunc(got, hist[0], bytesEqual) {
		t.Fatalf("Files after Rollback = %d files, %v; want the first commit's", len(got), err)
	}
	commitState(t, ctx, r, hist[len(hist)-1], "after rollback")
	if _, err := r.Commit(ctx, "nothing"); !errors.Is(err, ErrNothingToCommit) {
		t.Fatalf("Commit with nothing staged = %v, want ErrNothingToCommit", err)
	}
	if _, err := r.Pack(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, "nothing"); !errors.Is(err, ErrNothingToCommit) {
		t.Fatalf("Commit with nothing staged on a packed HEAD = %v, want ErrNothingToCommit", err)
	}
	if got, err := r.Files(ctx, ""); err != nil || !maps.EqualFunc(got, hist[len(hist)-1], bytesEqual) {
		t.Fatalf("Files after the last Pack = %d files, %v; want the last commit's", len(got), err)
	}
}

func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAutoPack: commits pack their loose objects and run packs once
// they pass the threshold, so both stay bounded; they never merge other
// packs (a merge would take the commit past 2 s at 100,000 messages),
// so each pack step adds one, Packs counts them and not the run packs,
// and every commit reads back. With a low RunPackMin most runs write a
// run pack; with the default, the first run alone does.
func TestAutoPack(t *testing.T) {
	for _, runPackMin := range []int{0, 4} {
		t.Run(fmt.Sprintf("runPackMin=%d", runPackMin), func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "state")
			r, err := Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			r.autoPackLoose = 60
			r.runPackMin = runPackMin
			fixedClock(r)
			hist := packHistory(40, 30, 20)
			var commits []Commit
			packed, merged, runPacks, runPacksTaken := 0, false, 0, 0
			packs := func() []plumbing.Hash {
				hs, err := listPacks(osfs.New(filepath.Join(dir, ".git")))
				if err != nil {
					t.Fatal(err)
				}
				return hs
			}
			runs := func() map[plumbing.Hash]int {
				m, err := readRunPacks(osfs.New(filepath.Join(dir, ".git")))
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			for i, files := range hist {
				before, runsBefore := packs(), runs()
				commits = append(commits, commitState(t, ctx, r, files, fmt.Sprintf("run %d", i)))
				after, runsAfter := packs(), runs()
				for _, p := range after {
					if _, run := runsAfter[p]; !slices.Contains(before, p) {
						if run {
							runPacks++
						} else {
							packed++
						}
					}
				}
				for _, p := range before {
					if !slices.Contains(after, p) {
						if _, run := runsBefore[p]; run {
							runPacksTaken++
						} else {
							merged = true
						}
					}
				}
			}
			if packed < 2 || merged {
				t.Fatalf("40 commits of about 12 objects at a limit of 60 loose objects: %d pack steps, merged %v; want two or more, and no merge", packed, merged)
			}
			if runPacks == 0 || runPacksTaken == 0 {
				t.Errorf("%d run packs written, %d taken into a pack; want some of both", runPacks, runPacksTaken)
			}
			if n, err := r.Packs(); err != nil || n != packed {
				t.Errorf("Packs() = %d, %v; want %d, the run packs not counted", n, err, packed)
			}
			n := countLoose(t, dir)
			for _, objects := range runs() {
				n += objects
			}
			if n > 4*60 {
				t.Errorf("%d loose objects and objects in run packs left, far above the limit of 60", n)
			}
			checkHistory(t, ctx, r, commits, hist, "after automatic packing")
		})
	}
}

// TestCrashWhilePacking kills Pack at each of its writes in turn (and,
// for writes of data, halfway through the write), in a repository that
// holds loose objects and a pack, and checks what the next run finds:
// every commit readable with its files, and Pack and Commit work.
func TestCrashWhilePacking(t *testing.T) {
	for _, tc := range []struct {
		name       string
		runPackMin int  // of the commits; 1: every commit's blobs in a run pack
		all        bool // Pack(all), or the pack of the loose objects
	}{
		{"all, loose objects", 0, true},
		{"loose objects and run packs", 1, false},
		{"all, run packs", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) { crashWhilePacking(t, tc.runPackMin, tc.all) })
	}
}

func crashWhilePacking(t *testing.T, runPackMin int, all bool) {
	ctx := context.Background()
	hist := packHistory(5, 4, 30)
	template := t.TempDir()
	r, err := Open(ctx, template)
	if err != nil {
		t.Fatal(err)
	}
	r.NoAutoPack = true
	r.runPackMin = runPackMin
	fixedClock(r)
	var commits []Commit
	for i, files := range hist {
		commits = append(commits, commitState(t, ctx, r, files, fmt.Sprintf("run %d", i)))
		if i == 2 {
			if _, err := r.Pack(ctx, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if runs, err := readRunPacks(osfs.New(filepath.Join(template, ".git"))); err != nil || runPackMin > 0 && len(runs) < 2 {
		t.Fatalf("run packs before packing: %v, %v; want some", runs, err)
	}
	packRun := func(dir string, base billy.Filesystem) error {
		r, err := open(ctx, dir, base)
		if err != nil {
			return err
		}
		_, err = r.Pack(ctx, all)
		return err
	}
	count := &crashPoint{at: -1}
	dry := t.TempDir()
	copyDir(t, template, dry)
	if err := packRun(dry, crashFS{osfs.New(dry), count}); err != nil {
		t.Fatalf("Pack without a crash: %v", err)
	}
	if count.writes < 10 {
		t.Fatalf("Pack made only %d writes: the crash filesystem is not in the write path", count.writes)
	}
	for at := range count.writes {
		for _, torn := range []bool{false, true} {
			cp := &crashPoint{at: at, torn: torn}
			dir := t.TempDir()
			copyDir(t, template, dir)
			if err := packRun(dir, crashFS{osfs.New(dir), cp}); err == nil {
				t.Fatalf("crash at write %d (%s): Pack reported success", at, cp.what)
			}
			when := fmt.Sprintf("after a crash at write %d of %d (%s, torn %v)", at, count.writes, cp.what, torn)
			r, err := Open(ctx, dir)
			if err != nil {
				t.Fatalf("%s: Open: %v", when, err)
			}
			r.NoAutoPack = true
			checkHistory(t, ctx, r, commits, hist, when)
			if _, err := r.Pack(ctx, true); err != nil {
				t.Fatalf("%s: the next Pack: %v", when, err)
			}
			checkHistory(t, ctx, r, commits, hist, when+", then packed")
			if n := countPacks(t, dir); n != 1 {
				t.Errorf("%s, then packed: %d packs, want 1", when, n)
			}
			if runs, err := readRunPacks(osfs.New(filepath.Join(dir, ".git"))); err != nil || len(runs) != 0 {
				t.Errorf("%s, then packed: run packs listed %v, %v; want none", when, runs, err)
			}
			if t.Failed() {
				return
			}
		}
	}
	t.Logf("%d crash points, each clean and torn, all recovered", count.writes)
}

// TestMergeKeepsDeltas merges packs when the pack left alone (the
// largest) is not the oldest: the older, smaller pack's versions must
// still find their paths, by a walk through the whole history, and stay
// deltas, not come out whole.
func TestMergeKeepsDeltas(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	r.NoAutoPack = true
	// Loose objects only: the packs merged here are delta-compressed
	// ones (run packs are merged by the pack of the loose objects).
	r.runPackMin = 1 << 30
	fixedClock(r)
	small := packHistory(8, 3, 100)
	var commits []Commit
	var want []map[string][]byte
	for i, files := range small {
		commits = append(commits, commitState(t, ctx, r, files, fmt.Sprintf("small %d", i)))
		want = append(want, files)
	}
	old, err := r.Pack(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	// A larger pack on top: many new files.
	big := packHistory(4, 40, 200)
	for i, files := range big {
		commits = append(commits, commitState(t, ctx, r, files, fmt.Sprintf("big %d", i)))
		want = append(want, files)
	}
	if _, err := r.Pack(ctx, false); err != nil {
		t.Fatal(err)
	}
	commits = append(commits, commitState(t, ctx, r, big[0], "last"))
	want = append(want, big[0])
	r.mu.Lock()
	st, err := r.pack(ctx, packMerge)
	r.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if st.PacksRemoved != 1 || countPacks(t, dir) != 2 {
		t.Fatalf("merge removed %d packs, left %d; want the small one merged, 2 left", st.PacksRemoved, countPacks(t, dir))
	}
	if st.Deltas < old.Deltas {
		t.Errorf("the merged pack has %d deltas, the small pack it merged had %d: its versions came out whole", st.Deltas, old.Deltas)
	}
	checkHistory(t, ctx, r, commits, want, "after the merge")
}
