package imapstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// BenchmarkScan scans a 5,000-message mailbox on the memory server.
func BenchmarkScan(b *testing.B) {
	const n = 5000
	srv := imaptest.StartMem(b)
	c := srv.Dial(b, "alice")
	for i := range n {
		m := imaptest.NewMessage("a@example.org", "b@example.org", fmt.Sprintf("m %d", i), fmt.Sprintf("bench-%d@example.org", i), "hello\n")
		var flags []imap.Flag
		if i%3 == 0 {
			flags = []imap.Flag{imap.FlagSeen}
		}
		cmd := c.Append("INBOX", int64(len(m)), &imap.AppendOptions{Flags: flags})
		cmd.Write(m)
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	st := open(b, srv, "alice")
	l, err := st.List(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f := l.Folders[0]
		if err := st.Scan(context.Background(), &f); err != nil {
			b.Fatal(err)
		}
		if len(f.Messages) != n {
			b.Fatalf("Scan() = %d messages, want %d", len(f.Messages), n)
		}
	}
}
