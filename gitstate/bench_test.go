package gitstate_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
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
