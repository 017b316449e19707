package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// BenchmarkWatchLatency measures, against Dovecot on loopback, how long
// watch takes from a message's arrival on a (its APPEND answered) to
// the message being in b's INBOX, as a poll of STATUS on b every 2 ms
// sees it. Each iteration waits for the run that follows the copy (the
// echo of the copy on b's IDLE) before the next message, so runs do
// not overlap. Run it with -benchtime 20x; it reports the median and
// the slowest.
//
//	go test -run '^$' -bench BenchmarkWatchLatency -benchtime 20x .
func BenchmarkWatchLatency(b *testing.B) {
	srv := imaptest.StartDovecot(b, userA, userB)
	dir := b.TempDir()
	config := filepath.Join(dir, "mailtwin.hcl")
	host, port, _ := strings.Cut(srv.Addr, ":")
	cfg := fmt.Sprintf(`state { path = %q }
account "a" {
  host = %[2]q
  port = %[3]s
  tls = "none"
  username = %[4]q
  password = %[6]q
}
account "b" {
  host = %[2]q
  port = %[3]s
  tls = "none"
  username = %[5]q
  password = %[6]q
}
pair "p" {
  a = "a"
  b = "b"
}
`, filepath.Join(dir, "state"), host, port, userA, userB, imaptest.Password)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-c", config, "-v", "watch", "--interval", "1h"}, strings.NewReader(""), out, out)
	}()
	defer func() {
		cancel()
		if c := <-code; c != 0 {
			b.Errorf("watch exited %d:\n%s", c, out)
		}
	}()
	// Runs that started, counted by their lines.
	runs := func() int { return strings.Count(out.String(), "pair p (") }
	waitRuns := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for runs() < n {
			if time.Now().After(deadline) {
				b.Fatalf("watch did not reach %d runs:\n%s", n, out)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitRuns(1)
	c := srv.Dial(b, userB)
	count := func() uint32 {
		d, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			b.Fatal(err)
		}
		return *d.NumMessages
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		msg := imaptest.NewMessage("sender@example.org", "team@example.org", "latency", fmt.Sprintf("lat%d@example.org", i), "body\r\n")
		srv.Append(b, userA, "INBOX", msg)
		t0 := time.Now()
		for count() < uint32(i+1) {
			if time.Since(t0) > 30*time.Second {
				b.Fatalf("message %d not on b after 30 s:\n%s", i, out)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
		// The copy's run, then its echo on b's IDLE.
		waitRuns(1 + 2*(i+1))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "ms-median")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "ms-max")
	b.Logf("latencies: %v", lat)
}
