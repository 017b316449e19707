package imapstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// bigMessage returns a reader of a size-byte message (a short header,
// then numbered CRLF lines) made as it is read, never held in memory.
func bigMessage(size int64) io.Reader {
	hdr := "From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n\r\n"
	var chunk bytes.Buffer
	for i := 0; chunk.Len() < 64<<10; i++ {
		fmt.Fprintf(&chunk, "line %06d 0123456789abcdefghijklmnopqrstuvwxyz\r\n", i)
	}
	body := io.LimitReader(&repeat{b: chunk.Bytes()}, size-int64(len(hdr)))
	return io.MultiReader(bytes.NewReader([]byte(hdr)), body)
}

type repeat struct {
	b []byte
	i int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.i:])
	r.i = (r.i + n) % len(r.b)
	return n, nil
}

// heapSampler wraps a reader and reads the heap's size (live and
// not-yet-collected objects) at every Read, keeping the peak.
type heapSampler struct {
	r       io.Reader
	samples []metrics.Sample
	peak    uint64
	reads   int
}

func newHeapSampler(r io.Reader) *heapSampler {
	return &heapSampler{r: r, samples: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
}

func (h *heapSampler) sample() {
	metrics.Read(h.samples)
	h.peak = max(h.peak, h.samples[0].Value.Uint64())
}

func (h *heapSampler) Read(p []byte) (int, error) {
	h.reads++
	h.sample()
	return h.r.Read(p)
}

// heapNow returns the heap's size after a collection.
func heapNow() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestStream50MB copies a 50 MB message from one Dovecot to another the
// way reconcile.Execute does (Fetch streams the body into Append) and
// checks that the heap does not grow with the message: imapstore must
// not hold a body in memory. Dovecot runs out of process, so only the
// client's memory is measured (imapmemserver keeps messages in the
// test's own heap). Not parallel: other tests' allocations would count.
func TestStream50MB(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB copy skipped in -short mode")
	}
	const (
		size      = 50 << 20
		maxGrowth = 16 << 20
	)
	src, dst := imaptest.StartDovecot(t), imaptest.StartDovecot(t)
	a, b := open(t, src, "alice"), open(t, dst, "alice")
	ctx := context.Background()
	date := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)

	// Seed the source through Append too, from a generated stream.
	want := sha256.New()
	base := heapNow()
	seed := newHeapSampler(io.TeeReader(bigMessage(size), want))
	ap, err := a.Append(ctx, "INBOX", reconcile.NewFlags(`\Seen`), date, size, seed)
	if err != nil {
		t.Fatalf("Append(50 MB) = %v", err)
	}
	t.Logf("Append of %d MB from a stream: peak heap growth %.1f MB over %d reads", size>>20, mb(seed.peak, base), seed.reads)
	if seed.peak-base > maxGrowth {
		t.Errorf("Append(50 MB): heap grew by %.1f MB, want < %d MB", mb(seed.peak, base), maxGrowth>>20)
	}

	// The copy, as reconcile.Execute makes it.
	base = heapNow()
	var copied *heapSampler
	var out reconcile.Appended
	err = a.Fetch(ctx, "INBOX", []reconcile.UID{ap.UID}, func(m reconcile.FetchedMessage) error {
		if m.Size != size {
			return fmt.Errorf("fetched Size = %d, want %d", m.Size, size)
		}
		copied = newHeapSampler(m.Body)
		var err error
		out, err = b.Append(ctx, "INBOX", nil, m.InternalDate, m.Size, copied)
		return err
	})
	if err != nil {
		t.Fatalf("Fetch into Append = %v", err)
	}
	if copied == nil {
		t.Fatalf("Fetch(uid %d) called back for nothing", ap.UID)
	}
	growth := mb(copied.peak, base)
	t.Logf("Fetch -> Append of %d MB: peak heap growth %.1f MB over %d reads (heap %.1f MB before, peak %.1f MB)", size>>20, growth, copied.reads, mb(base, 0), mb(copied.peak, 0))
	if copied.peak-base > maxGrowth {
		t.Errorf("Fetch -> Append of 50 MB: heap grew by %.1f MB, want < %d MB", growth, maxGrowth>>20)
	}

	// The measurement would notice a body held in memory.
	base = heapNow()
	held, err := io.ReadAll(bigMessage(size))
	if err != nil {
		t.Fatal(err)
	}
	control := newHeapSampler(bytes.NewReader(held))
	if _, err := io.Copy(io.Discard, control); err != nil {
		t.Fatal(err)
	}
	if control.peak-base < size {
		t.Errorf("a 50 MB body held in memory measured as %.1f MB of heap growth, want >= 50 MB", mb(control.peak, base))
	}

	// The copy is byte-identical, read back through Fetch, streaming.
	got := sha256.New()
	err = b.Fetch(ctx, "INBOX", []reconcile.UID{out.UID}, func(m reconcile.FetchedMessage) error {
		if !m.InternalDate.Equal(date) {
			t.Errorf("copy's InternalDate = %v, want %v", m.InternalDate, date)
		}
		n, err := io.Copy(got, m.Body)
		if n != size {
			t.Errorf("copy has %d bytes, want %d", n, size)
		}
		return err
	})
	if err != nil {
		t.Fatalf("Fetch(copy) = %v", err)
	}
	if g, w := got.Sum(nil), want.Sum(nil); !bytes.Equal(g, w) {
		t.Errorf("copy's SHA-256 = %x, want the original's %x", g, w)
	}
}

func mb(peak, base uint64) float64 {
	if peak < base {
		return 0
	}
	return float64(peak-base) / (1 << 20)
}
