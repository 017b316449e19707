package gitstate_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/mailtwin/mailtwin/gitstate"
)

// BenchmarkCommit measures one run's cost of recording a one-line change:
// Stage of the whole state (every file compared, the changed one written
// and added) and Commit. The state has 100k lines (about 6.6 MB), held in
// one file or sharded over 100 files. It also reports how much .git
// grows per commit: go-git stores every version as a loose object.
func BenchmarkCommit(b *testing.B) {
	const lines = 100_000
	for _, nfiles := range []int{1, 100} {
		b.Run(fmt.Sprintf("files=%d", nfiles), func(b *testing.B) {
			ctx := context.Background()
			r := newRepo(b)
			files := map[string][]byte{}
			per := lines / nfiles
			for f := range nfiles {
				var data []byte
				for i := range per {
					uid := f*per + i + 1
					data = fmt.Appendf(data, "%8d %8d \\Flagged,\\Seen m:%032x\n", uid, uid+1_000_000, uid*2654435761)
				}
				files[fmt.Sprintf("folder%03d.state", f)] = data
			}
			if err := r.Stage(ctx, "bench", files); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Commit(ctx, "initial"); err != nil {
				b.Fatal(err)
			}
			before := dirSize(b, filepath.Join(r.Dir(), ".git"))
			lineLen := len(files["folder000.state"]) / per
			n := 0
			for b.Loop() {
				// Rewrite the uid of one line of the first file.
				data := files["folder000.state"]
				at := (n % per) * lineLen
				copy(data[at:at+8], fmt.Sprintf("%8d", n))
				n++
				if err := r.Stage(ctx, "bench", files); err != nil {
					b.Fatal(err)
				}
				if _, err := r.Commit(ctx, fmt.Sprintf("run %d", n)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(dirSize(b, filepath.Join(r.Dir(), ".git"))-before)/float64(n), "git-bytes/op")
		})
	}
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkRun measures the state repository's share of one run at the
// scales of issue #5: 20 and 200 files of 500 lines (10,000 and 100,000
// records, about 0.66 and 6.6 MB), as reconcile writes them, after a
// first sync whose commit message holds a journal line per record. Each iteration is what a run does:
// open the repository, read the pair's files (Files), stage the new
// state and commit. The cases: nothing changed (b2: the run stages the
// same bytes, and there is nothing to commit); one line changed in one
// file; and 1% of the lines changed, spread over every file (b3 at this
// scale touches most folders), also with HEAD's objects packed, as the
// automatic packing leaves them (packing itself is BenchmarkPack's).
func BenchmarkRun(b *testing.B) {
	for _, nfiles := range []int{20, 200} {
		benchmarkRun(b, nfiles)
	}
}

func benchmarkRun(b *testing.B, nfiles int) {
	const per = 500
	for _, c := range []struct {
		name   string
		every  int  // change every every-th line; 0: none
		files  int  // in this many files
		packed bool // HEAD packed (Repo.Pack) before the first run
	}{
		{"unchanged", 0, 0, false},
		{"one-line", per, 1, false},
		{"1pct", 100, nfiles, false},
		{"1pct-packed", 100, nfiles, true},
	} {
		b.Run(fmt.Sprintf("%s/records=%d", c.name, nfiles*per), func(b *testing.B) {
			ctx := context.Background()
			r := newRepo(b)
			files := map[string][]byte{}
			for f := range nfiles {
				var data []byte
				for i := range per {
					uid := f*per + i + 1
					data = fmt.Appendf(data, "%8d %8d \\Flagged,\\Seen m:%032x\n", uid, uid+1_000_000, uid*2654435761)
				}
				files[fmt.Sprintf("folder%03d.state", f)] = data
			}
			if err := r.Stage(ctx, "bench", files); err != nil {
				b.Fatal(err)
			}
			// The first sync's commit carries its journal, a line per
			// message copied, and is HEAD when the next run starts.
			journal := []byte("sync: first\n\n")
			for i := range nfiles * per {
				journal = fmt.Appendf(journal, "+ b:\"Archive/%03d\" <- a:\"Archive/%03d\" uid %d flags \\Seen m:%032x (new)\n", i/per, i/per, i%per+1, i)
			}
			if _, err := r.Commit(ctx, string(journal)); err != nil {
				b.Fatal(err)
			}
			if c.packed {
				if _, err := r.Pack(ctx, true); err != nil {
					b.Fatal(err)
				}
			}
			lineLen := len(files["folder000.state"]) / per
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				n++
				next := make(map[string][]byte, len(files))
				for name, data := range files {
					next[name] = data
				}
				for f := range c.files {
					name := fmt.Sprintf("folder%03d.state", f)
					data := append([]byte(nil), files[name]...)
					for i := n % c.every; i < per; i += c.every {
						copy(data[i*lineLen:i*lineLen+8], fmt.Sprintf("%8d", n))
					}
					next[name] = data
				}
				repo, err := gitstate.Open(ctx, r.Dir())
				if err != nil {
					b.Fatal(err)
				}
				repo.NoAutoPack = true // BenchmarkPack measures packing
				got, err := repo.Files(ctx, "bench")
				if err != nil || len(got) != nfiles {
					b.Fatalf("Files = %d files, %v", len(got), err)
				}
				if err := repo.Stage(ctx, "bench", next); err != nil {
					b.Fatal(err)
				}
				_, err = repo.Commit(ctx, fmt.Sprintf("run %d", n))
				if c.files == 0 && !errors.Is(err, gitstate.ErrNothingToCommit) || c.files > 0 && err != nil {
					b.Fatalf("Commit = %v", err)
				}
				files = next
			}
		})
	}
}

// BenchmarkPack measures the automatic packing's work at 100,000
// records (200 files of 500 lines): packing the loose objects of 20
// runs that each changed 1% of the lines in a fifth of the files, about
// what piles up before Commit packs, as loose objects and run packs. It
// reports the pack's size and the size of the loose objects and run
// packs it replaces.
func BenchmarkPack(b *testing.B) {
	const nfiles, per, runs = 200, 500, 20
	ctx := context.Background()
	r := newRepo(b)
	r.NoAutoPack = true
	files := map[string][]byte{}
	for f := range nfiles {
		var data []byte
		for i := range per {
			uid := f*per + i + 1
			data = fmt.Appendf(data, "%8d %8d \\Flagged,\\Seen m:%032x\n", uid, uid+1_000_000, uid*2654435761)
		}
		files[fmt.Sprintf("folder%03d.state", f)] = data
	}
	lineLen := len(files["folder000.state"]) / per
	n := 0
	commit := func() {
		n++
		next := make(map[string][]byte, len(files))
		for name, data := range files {
			next[name] = data
		}
		for f := n % 5; f < nfiles; f += 5 {
			name := fmt.Sprintf("folder%03d.state", f)
			data := append([]byte(nil), files[name]...)
			for i := n % 20; i < per; i += 20 {
				copy(data[i*lineLen:i*lineLen+8], fmt.Sprintf("%8d", n))
			}
			next[name] = data
		}
		if err := r.Stage(ctx, "bench", next); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Commit(ctx, fmt.Sprintf("run %d", n)); err != nil {
			b.Fatal(err)
		}
		files = next
	}
	commit()
	if _, err := r.Pack(ctx, true); err != nil {
		b.Fatal(err)
	}
	var packBytes, looseBytes int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		before := dirSize(b, filepath.Join(r.Dir(), ".git", "objects"))
		for range runs {
			commit()
		}
		looseBytes += dirSize(b, filepath.Join(r.Dir(), ".git", "objects")) - before
		b.StartTimer()
		st, err := r.Pack(ctx, false)
		if err != nil {
			b.Fatal(err)
		}
		packBytes += st.Bytes
	}
	b.ReportMetric(float64(packBytes)/float64(b.N), "pack-bytes/op")
	b.ReportMetric(float64(looseBytes)/float64(b.N), "replaced-bytes/op")
}
