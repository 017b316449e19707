package imapstore_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// BenchmarkAppendParallel appends 8 KB messages to Dovecot over 1, 2, 4
// and 8 connections at once, each into its own folder through a
// pipeline: how much copying several folders at once gains over one
// connection (Dovecot's cost per APPEND is mostly its own transaction,
// so more connections overlap it).
func BenchmarkAppendParallel(b *testing.B) {
	srv := imaptest.StartDovecot(b, "alice")
	body := imaptest.NewMessage("a@example.org", "b@example.org", "bench", "bench@example.org", strings.Repeat("x", 8<<10))
	for _, conns := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			stores := make([]interface {
				AppendPipeline() reconcile.AppendPipeline
				CreateFolder(context.Context, string) (uint32, error)
			}, conns)
			for i := range stores {
				st := open(b, srv, "alice")
				stores[i] = st
				if _, err := st.CreateFolder(context.Background(), fmt.Sprintf("P%d-%d", conns, i)); err != nil {
					b.Fatal(err)
				}
			}
			const per = 200
			b.ResetTimer()
			for b.Loop() {
				var wg sync.WaitGroup
				for i, st := range stores {
					wg.Go(func() {
						p := st.AppendPipeline()
						var waits []func() (reconcile.Appended, error)
						for range per / conns {
							if len(waits) == 32 {
								if _, err := waits[0](); err != nil {
									b.Error(err)
								}
								waits = waits[1:]
							}
							waits = append(waits, p.Send(context.Background(), fmt.Sprintf("P%d-%d", conns, i), nil, time.Time{}, int64(len(body)), bytes.NewReader(body)))
						}
						for _, w := range waits {
							if _, err := w(); err != nil {
								b.Error(err)
							}
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*per), "us/msg")
		})
	}
}
