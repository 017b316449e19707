package gitstate

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
)

// TestRunPack: a Stage of RunPackMin or more new blobs writes them into
// one run pack, no loose blob, each once; git and go-git read every
// file of it back; Packs does not count it; a Stage of fewer blobs
// writes loose objects; and the automatic packing takes the run pack
// into its pack and forgets it.
func TestRunPack(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed to check the packs Stage writes: %v", err)
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	fixedClock(r)
	gitFS := osfs.New(filepath.Join(dir, ".git"))

	noise := make([]byte, 300<<10)
	x := uint64(1)
	for i := range noise {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		noise[i] = byte(x)
	}
	files := map[string][]byte{
		"Empty.state":    {},
		"attachment.bin": noise,
	}
	for f := range RunPackMin {
		var b []byte
		for i := range 300 {
			b = fmt.Appendf(b, "%d %d \\Seen m:%032x\n", i+1, i+1_000_001, uint64(f*300+i)*2654435761)
		}
		files[fmt.Sprintf("dir/folder%02d.state", f)] = b
	}
	files["Copy.state"] = files["dir/folder00.state"] // the same blob twice
	blobs := map[plumbing.Hash]bool{}
	for _, data := range files {
		blobs[plumbing.ComputeHash(plumbing.BlobObject, data)] = true
	}
	loose := func(h plumbing.Hash) bool {
		_, err := os.Stat(filepath.Join(dir, ".git", "objects", h.String()[:2], h.String()[2:]))
		return err == nil
	}

	if err := r.Stage(ctx, "work", files); err != nil {
		t.Fatal(err)
	}
	first, err := r.Commit(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}
	for h := range blobs {
		if loose(h) {
			t.Errorf("blob %s is a loose object; want it in the run pack", h)
		}
	}
	runs, err := readRunPacks(gitFS)
	if err != nil {
		t.Fatal(err)
	}
	if n := countPacks(t, dir); n != 1 || len(runs) != 1 {
		t.Fatalf("%d packs, %d run packs listed; want the one run pack", n, len(runs))
	}
	for p, n := range runs {
		if n != len(blobs) {
			t.Errorf("the run pack is listed with %d objects; want the %d distinct blobs", n, len(blobs))
		}
		hs, err := packedObjects(gitFS, p)
		if err != nil || len(hs) != len(blobs) {
			t.Errorf("the run pack's index has %d objects (%v); want %d", len(hs), err, len(blobs))
		}
	}
	if n, err := r.Packs(); err != nil || n != 0 {
		t.Errorf("Packs() = %d, %v; want 0: a run pack is not counted", n, err)
	}
	if out, err := exec.Command(gitBin, "-C", dir, "fsck", "--full", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
	for name, content := range files {
		out, err := exec.Command(gitBin, "-C", dir, "cat-file", "blob", first.Hash+":work/"+name).Output()
		if err != nil || string(out) != string(content) {
			t.Errorf("git cat-file reads work/%s as %d bytes (%v), want the %d staged", name, len(out), err, len(content))
		}
	}
	// go-git, in a new process, with no worktree to read from (in a
	// copy, so that the next Stage finds its worktree).
	bare := t.TempDir()
	copyDir(t, dir, bare)
	if err := os.RemoveAll(filepath.Join(bare, "work")); err != nil {
		t.Fatal(err)
	}
	rb, err := Open(ctx, bare)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rb.Files(ctx, "work"); err != nil || !maps.EqualFunc(got, files, bytesEqual) {
		t.Fatalf("Files after the run pack = %d files, %v; want the %d staged", len(got), err, len(files))
	}
	r2, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}

	// Fewer new blobs than RunPackMin: loose objects, no new pack.
	few := maps.Clone(files)
	for _, name := range []string{"dir/folder01.state", "dir/folder02.state"} {
		few[name] = append(append([]byte(nil), files[name]...), "1 2 - m:ff\n"...)
	}
	if err := r2.Stage(ctx, "work", few); err != nil {
		t.Fatal(err)
	}
	second, err := r2.Commit(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dir/folder01.state", "dir/folder02.state"} {
		if h := plumbing.ComputeHash(plumbing.BlobObject, few[name]); !loose(h) {
			t.Errorf("%s's new blob is not a loose object", name)
		}
	}
	if n := countPacks(t, dir); n != 1 {
		t.Errorf("%d packs after a run of two new blobs; want still the one run pack", n)
	}

	// The automatic packing takes the run pack with the loose objects.
	r2.autoPackLoose = 1
	fixedClock(r2)
	many := maps.Clone(few)
	for name, data := range few {
		if filepath.Dir(name) == "dir" {
			many[name] = append(append([]byte(nil), data...), "3 4 - m:ee\n"...)
		}
	}
	if err := r2.Stage(ctx, "work", many); err != nil {
		t.Fatal(err)
	}
	third, err := r2.Commit(ctx, "third")
	if err != nil {
		t.Fatal(err)
	}
	if runs, err := readRunPacks(gitFS); err != nil || len(runs) != 0 {
		t.Errorf("after the automatic packing, run packs listed: %v, %v; want none", runs, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", runPacksFile)); !os.IsNotExist(err) {
		t.Errorf("%s left after its last run pack went: %v", runPacksFile, err)
	}
	if n, err := r2.Packs(); err != nil || n != 1 || countPacks(t, dir) != 1 || countLoose(t, dir) != 0 {
		t.Errorf("after the automatic packing: Packs() = %d (%v), %d packs, %d loose objects; want 1, 1, 0", n, err, countPacks(t, dir), countLoose(t, dir))
	}
	for _, c := range []struct {
		commit Commit
		files  map[string][]byte
	}{{first, files}, {second, few}, {third, many}} {
		if got, err := r2.FilesAt(ctx, c.commit.Hash, "work"); err != nil || !maps.EqualFunc(got, c.files, bytesEqual) {
			t.Errorf("FilesAt(%s) = %d files, %v; want its %d", c.commit.Subject, len(got), err, len(c.files))
		}
	}
	if out, err := exec.Command(gitBin, "-C", dir, "fsck", "--full", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck after packing: %v\n%s", err, out)
	}
}

// TestRunPacksFile: the list of run packs names only packs that are
// there, and a damaged line is skipped, not an error: the list only
// tells the automatic packing which packs to take in.
func TestRunPacksFile(t *testing.T) {
	fsys := osfs.New(t.TempDir())
	if err := fsys.MkdirAll("objects/pack", 0o700); err != nil {
		t.Fatal(err)
	}
	here := plumbing.NewHash("1111111111111111111111111111111111111111")
	gone := plumbing.NewHash("2222222222222222222222222222222222222222")
	f, err := fsys.Create("objects/pack/pack-" + here.String() + ".pack")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := writeRunPacks(fsys, map[plumbing.Hash]int{here: 20, gone: 30}); err != nil {
		t.Fatal(err)
	}
	runs, err := readRunPacks(fsys)
	if err != nil || len(runs) != 1 || runs[here] != 20 {
		t.Errorf("readRunPacks = %v, %v; want only the pack that is there, with its 20 objects", runs, err)
	}
	if err := writeRunPacks(fsys, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(runPacksFile); !os.IsNotExist(err) {
		t.Errorf("an empty list left %s: %v", runPacksFile, err)
	}
	f, err = fsys.Create(runPacksFile)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("not a pack\n" + here.String() + " 20\n" + here.String()[:20] + "\x00"))
	f.Close()
	if runs, err := readRunPacks(fsys); err != nil || len(runs) != 1 || runs[here] != 20 {
		t.Errorf("readRunPacks of a damaged list = %v, %v; want the one good line", runs, err)
	}
}
