package imapstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// attachmentMessage returns a reader of a multipart/mixed message with
// a short text part and a base64 attachment of pseudo-random bytes, as
// a mail client sends a large file, and its exact size, about size
// bytes. The message is made as it is read, never held in memory.
func attachmentMessage(size int64) (io.Reader, int64) {
	const boundary = "b-attachment"
	head := "From: Sender <sender@example.org>\r\n" +
		"To: User <user@example.net>\r\n" +
		"Subject: the scans\r\n" +
		"Date: Sat, 01 Jun 2024 09:30:00 +0000\r\n" +
		"Message-ID: <attachment@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n" +
		"--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Here are all of them in one archive.\r\n\r\n" +
		"--" + boundary + "\r\nContent-Type: application/zip; name=\"scans.zip\"\r\n" +
		"Content-Disposition: attachment; filename=\"scans.zip\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n"
	tail := "--" + boundary + "--\r\n"
	lines := (size - int64(len(head)+len(tail))) / base64Line
	body := &base64Lines{rng: rand.New(rand.NewPCG(1, 2)), left: lines}
	return io.MultiReader(strings.NewReader(head), body, strings.NewReader(tail)),
		int64(len(head)+len(tail)) + lines*base64Line
}

// base64Line is one line of a base64 attachment: 57 bytes encoded in 76
// characters, and CRLF.
const base64Line = 78

// base64Lines reads left lines of base64 of random bytes.
type base64Lines struct {
	rng  *rand.Rand
	left int64
	line [base64Line]byte
	pos  int // in line; base64Line when it is used up
}

func (b *base64Lines) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if b.pos == 0 || b.pos == base64Line {
			if b.left == 0 {
				break
			}
			var raw [57]byte
			for i := range raw {
				raw[i] = byte(b.rng.Uint32())
			}
			base64.StdEncoding.Encode(b.line[:76], raw[:])
			b.line[76], b.line[77] = '\r', '\n'
			b.left--
			b.pos = 0
		}
		c := copy(p[n:], b.line[b.pos:])
		b.pos += c
		n += c
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// allocatedDuring returns the bytes the whole process allocated while f
// ran (runtime.MemStats.TotalAlloc, which counts garbage too, so it
// does not depend on when the collector runs).
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestBigMessageCopyAllocatesLittle copies a 50 MB message with an
// attachment from one Dovecot to another as reconcile.Run does, Fetch
// streaming the body into an APPEND, and checks that the copy
// allocated far less than the message: issue #5 wants one 50 MB
// message to raise mailtwin's peak RSS by less than 5 MB, so no layer
// may read a body into memory whole, nor allocate as it goes. Both
// ways to APPEND are covered: Append, and AppendPipeline (what
// reconcile uses when the target has it). TotalAlloc counts every
// allocation, live or garbage, of the whole process; Dovecot runs out
// of process, so what is counted is the client's. Not parallel: other
// tests' allocations would count.
func TestBigMessageCopyAllocatesLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB copies skipped in -short mode")
	}
	const (
		want     = 50_000_000
		maxAlloc = 5 << 20 // the figure; the copy allocates under 100 KB today
	)
	src, dst := imaptest.StartDovecot(t), imaptest.StartDovecot(t)
	a, b := open(t, src, "alice"), open(t, dst, "alice")
	ctx := context.Background()
	date := time.Date(2024, 6, 1, 9, 30, 0, 0, time.UTC)

	r, size := attachmentMessage(want)
	sum := sha256.New()
	ap, err := a.Append(ctx, "INBOX", reconcile.NewFlags(`\Seen`), date, size, io.TeeReader(r, sum))
	if err != nil {
		t.Fatalf("Append(%d bytes) = %v", size, err)
	}
	wantSum := sum.Sum(nil)

	ways := []struct {
		name    string
		mailbox string
		append  func(m reconcile.FetchedMessage) (wait func() (reconcile.Appended, error))
	}{
		{"Append", "Copy1", func(m reconcile.FetchedMessage) func() (reconcile.Appended, error) {
			out, err := b.Append(ctx, "Copy1", nil, m.InternalDate, m.Size, m.Body)
			return func() (reconcile.Appended, error) { return out, err }
		}},
		{"AppendPipeline", "Copy2", func(m reconcile.FetchedMessage) func() (reconcile.Appended, error) {
			return b.AppendPipeline().Send(ctx, "Copy2", nil, m.InternalDate, m.Size, m.Body)
		}},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			if _, err := b.CreateFolder(ctx, w.mailbox); err != nil {
				t.Fatalf("CreateFolder(%q) = %v", w.mailbox, err)
			}
			runtime.GC()
			var (
				out  reconcile.Appended
				werr error
				got  int64
			)
			alloc := allocatedDuring(func() {
				var wait func() (reconcile.Appended, error)
				err = a.Fetch(ctx, "INBOX", []reconcile.UID{ap.UID}, func(m reconcile.FetchedMessage) error {
					got = m.Size
					wait = w.append(m)
					return nil
				})
				if wait != nil {
					// As reconcile does: the answer is collected after
					// the body went out.
					out, werr = wait()
				}
			})
			if err != nil {
				t.Fatalf("Fetch into %s = %v", w.name, err)
			}
			if got != size {
				t.Fatalf("Fetch(uid %d): Size = %d, want %d", ap.UID, got, size)
			}
			if werr != nil {
				t.Fatalf("%s(%d bytes) = %v", w.name, size, werr)
			}
			t.Logf("Fetch -> %s of %.1f MB allocated %.1f KB", w.name, float64(size)/1e6, float64(alloc)/1024)
			if alloc > maxAlloc {
				t.Errorf("Fetch -> %s of a %.1f MB message allocated %.1f MB, want < %d MB: a body is held in memory, or copied through fresh buffers",
					w.name, float64(size)/1e6, float64(alloc)/(1<<20), maxAlloc>>20)
			}

			// The copy is the original, byte for byte.
			h := sha256.New()
			err = b.Fetch(ctx, w.mailbox, []reconcile.UID{out.UID}, func(m reconcile.FetchedMessage) error {
				if !m.InternalDate.Equal(date) {
					t.Errorf("copy's InternalDate = %v, want %v", m.InternalDate, date)
				}
				_, err := io.Copy(h, m.Body)
				return err
			})
			if err != nil {
				t.Fatalf("Fetch(copy uid %d) = %v", out.UID, err)
			}
			if g := h.Sum(nil); !bytes.Equal(g, wantSum) {
				t.Errorf("copy's SHA-256 = %x, want the original's %x", g, wantSum)
			}
		})
	}
}
