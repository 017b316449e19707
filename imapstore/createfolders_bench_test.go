package imapstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// BenchmarkCreateFolders makes 20 folders on a Dovecot, as a first sync
// of the bench's account does (a parent and the folders under it): one
// CreateFolder after the other, and in one CreateFolders exchange. Each
// iteration deletes the folders again, untimed: Dovecot answers a CREATE
// of a folder that exists sooner than one it makes.
func BenchmarkCreateFolders(b *testing.B) {
	srv := imaptest.StartDovecot(b, "alice")
	st := open(b, srv, "alice")
	ctx := context.Background()
	names := make([]string, 20)
	names[0] = "Top"
	for j := 1; j < len(names); j++ {
		names[j] = fmt.Sprintf("Top%cFolder%d", srv.Delim, j)
	}
	clean := func(b *testing.B) {
		b.StopTimer()
		for j := len(names) - 1; j >= 0; j-- {
			if err := st.DeleteFolder(ctx, names[j]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.Run("one by one", func(b *testing.B) {
		for b.Loop() {
			for _, mb := range names {
				if _, err := st.CreateFolder(ctx, mb); err != nil {
					b.Fatal(err)
				}
			}
			clean(b)
		}
	})
	b.Run("one exchange", func(b *testing.B) {
		for b.Loop() {
			for _, r := range st.CreateFolders(ctx, names) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
			clean(b)
		}
	})
}
