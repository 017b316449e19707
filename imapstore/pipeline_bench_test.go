package imapstore_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// BenchmarkAppend appends 2 KB and 8 KB messages to Dovecot, one at a
// time (Append) and through a pipeline of up to 32 (AppendPipeline).
// An 8 KB message is a synchronizing literal, so the pipeline waits
// for the answers in flight before it.
func BenchmarkAppend(b *testing.B) {
	srv := imaptest.StartDovecot(b, "alice")
	st := open(b, srv, "alice")
	for _, size := range []int{2 << 10, 8 << 10} {
		body := imaptest.NewMessage("a@example.org", "b@example.org", "bench", "bench@example.org", strings.Repeat("x", size-200))
		b.Run(fmt.Sprintf("one-by-one/size=%d", size), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := st.Append(context.Background(), "INBOX", nil, time.Time{}, int64(len(body)), bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("pipelined/size=%d", size), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			p := st.AppendPipeline()
			var waits []func() (reconcile.Appended, error)
			for b.Loop() {
				if len(waits) == 32 {
					if _, err := waits[0](); err != nil {
						b.Fatal(err)
					}
					waits = waits[1:]
				}
				waits = append(waits, p.Send(context.Background(), "INBOX", nil, time.Time{}, int64(len(body)), bytes.NewReader(body)))
			}
			for _, w := range waits {
				if _, err := w(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
