package imapstore

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// headerOf returns what a server sends for BODY[HEADER] of msg, as Scan
// keeps it: the lines up to and including the first empty one (all of
// msg when there is none), cut at maxHeader bytes.
func headerOf(msg []byte) []byte {
	n := 0
	for line := range bytes.Lines(msg) {
		n += len(line)
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	return msg[:min(n, maxHeader)]
}

// identityOf is the identity Scan gives msg.
func identityOf(msg []byte) reconcile.Identity {
	return headerIdentity(headerOf(msg), int64(len(msg)))
}

func bigHeader() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 1<<20; i++ {
		b.WriteString("X-Filler: " + strings.Repeat("abcdefgh", 12) + "\r\n")
	}
	return b.Bytes()
}

var identityCases = []struct {
	name string
	msg  string
	want string // the Message-ID the identity hashes; "" for an h: identity
}{
	{"plain", "Message-ID: <a@example.org>\r\nSubject: hi\r\n\r\nbody\r\n", "<a@example.org>"},
	{"no Message-ID", "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n", ""},
	{"empty Message-ID", "Message-ID:\r\nSubject: hi\r\n\r\nbody\r\n", ""},
	{"angle brackets only", "Message-ID: <>\r\n\r\nbody\r\n", ""},
	{"lower-case field name", "message-id: <a@example.org>\r\n\r\nbody\r\n", "<a@example.org>"},
	{"folded", "Subject: hi\r\nMessage-ID:\r\n  <a@example.org>\r\n\r\nbody\r\n", "<a@example.org>"},
	{"folded with tab", "Message-ID:\r\n\t<a@example.org>\r\nTo: b\r\n\r\n", "<a@example.org>"},
	{"comment after id", "Message-ID: <a@example.org> (sent by x)\r\n\r\n", "<a@example.org>"},
	{"no angle brackets", "Message-ID: a@example.org\r\n\r\n", "a@example.org"},
	{"LF line ends", "Subject: hi\nMessage-ID: <a@example.org>\n\nbody\n", "<a@example.org>"},
	{"two Message-ID fields: the first wins", "Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\n", "<first@x>"},
	{"empty first Message-ID field", "Message-ID:\r\nMessage-ID: <second@x>\r\n\r\n", "<second@x>"},
	{"Message-ID in the body only", "Subject: hi\r\n\r\nMessage-ID: <body@x>\r\n", ""},
	{"8-bit header", "Subject: Grüße \xff\xfe\r\nMessage-ID: <ä@exämple.org>\r\n\r\n", "<ä@exämple.org>"},
	{"8-bit header without id", "Subject: Grüße \xff\xfe\r\n\r\nbody\r\n", ""},
	{"0 bytes", "", ""},
	{"no header end", "Message-ID: <a@x>", "<a@x>"},
	{"only a blank line", "\r\n", ""},
	{"malformed: no colon", "Message-ID <a@x>\r\nGarbage\r\n\r\n", ""},
	{"malformed: leading continuation", " folded\r\nMessage-ID: <a@x>\r\n\r\n", "<a@x>"},
	{"malformed: NUL and lone CR", "Sub\x00ject: \r x\rMessage-ID: <a@x>\r\n\r\n", ""},
	{"malformed: unclosed bracket", "Message-ID: <a@x\r\n\r\n", "<a@x"},
	{"1 MB header, id first", "Message-ID: <big@x>\r\n" + string(bigHeader()) + "\r\nbody\r\n", "<big@x>"},
	{"1 MB header, id beyond the cap", string(bigHeader()) + "Message-ID: <late@x>\r\n\r\nbody\r\n", ""},
	{"1 MB header, no id", string(bigHeader()) + "\r\nbody\r\n", ""},
}

func TestIdentity(t *testing.T) {
	for _, tc := range identityCases {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(tc.msg)
			got := identityOf(msg)
			var want reconcile.Identity
			if tc.want != "" {
				want = reconcile.IdentityFromMessageID(tc.want, int64(len(msg)))
			} else {
				want = reconcile.IdentityFromHeader(headerOf(msg), int64(len(msg)))
			}
			if got != want {
				t.Errorf("identityOf(%.60q) = %q, want %q (Message-ID %q)", tc.msg, got, want, tc.want)
			}
			prefix := "h:"
			if tc.want != "" {
				prefix = "m:"
			}
			if !strings.HasPrefix(string(got), prefix) {
				t.Errorf("identityOf(%.60q) = %q, want an %s identity", tc.msg, got, prefix)
			}
		})
	}
}

func TestIdentitySameMessageID(t *testing.T) {
	a := []byte("Message-ID: <dup@x>\r\nSubject: one\r\n\r\nbody\r\n")
	b := []byte("Message-ID: <dup@x>\r\nSubject: two\r\n\r\nbody\r\n") // same size
	c := []byte("Message-ID: <dup@x>\r\nSubject: three\r\n\r\nbody\r\n")
	if identityOf(a) != identityOf(b) {
		t.Errorf("same Message-ID and size: identities %q and %q, want equal (pairing is by multiset)", identityOf(a), identityOf(b))
	}
	if identityOf(a) == identityOf(c) {
		t.Errorf("same Message-ID, sizes %d and %d: identities both %q, want different", len(a), len(c), identityOf(a))
	}
	// The same holds without a Message-ID, for the header hash: only the
	// header and size count, so the body may differ at equal size.
	d := []byte("Subject: one\r\n\r\nbody A\r\n")
	e := []byte("Subject: one\r\n\r\nbody B\r\n")
	f := []byte("Subject: one\r\n\r\nbody AB\r\n")
	if identityOf(d) != identityOf(e) || identityOf(d) == identityOf(f) {
		t.Errorf("header hashes: %q, %q (same header and size), %q (other size)", identityOf(d), identityOf(e), identityOf(f))
	}
	// The Message-ID's folding and angle brackets do not count (servers
	// render HEADER.FIELDS differently), the size does.
	g := []byte("Message-ID:\r\n <dup@x>\r\nSubject: one\r\n\r\nbody\r\n")
	if want := reconcile.IdentityFromMessageID("dup@x", int64(len(g))); identityOf(g) != want {
		t.Errorf("folded Message-ID: identity %q, want %q", identityOf(g), want)
	}
}

func FuzzIdentity(f *testing.F) {
	for _, tc := range identityCases {
		f.Add([]byte(tc.msg), "a@example.org")
	}
	f.Add([]byte{}, "")
	f.Add([]byte("Message-ID: <x@y>\r\n\r\n"), "<>")
	f.Add([]byte("X: \xc3\x28\r\n \r\n\r\n"), " spaced id ")
	f.Fuzz(func(t *testing.T, msg []byte, id string) {
		orig := bytes.Clone(msg)
		got := identityOf(msg)
		if !bytes.Equal(msg, orig) {
			t.Fatalf("identityOf changed its input")
		}
		if again := identityOf(bytes.Clone(msg)); again != got {
			t.Fatalf("identityOf(%q) = %q, then %q", msg, got, again)
		}
		size := int64(len(msg))
		hdr := headerOf(msg)
		if mid := reconcile.IdentityFromMessageID(messageID(hdr), size); mid != "" {
			if got != mid || !strings.HasPrefix(string(got), "m:") {
				t.Fatalf("identityOf(%q) = %q, want m: identity %q", msg, got, mid)
			}
		} else if want := reconcile.IdentityFromHeader(hdr, size); got != want || !strings.HasPrefix(string(got), "h:") {
			t.Fatalf("identityOf(%q) = %q, want h: identity %q", msg, got, want)
		}
		if len(got) != len("m:")+24 {
			t.Fatalf("identityOf(%q) = %q, want a scheme and 24 hex digits", msg, got)
		}
		// The Message-ID reads the same with LF line ends as with CRLF.
		if a, b := messageID(hdr), messageID(headerOf(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")))); a != b && len(msg) < maxHeader {
			t.Fatalf("messageID(%q) = %q, with LF line ends %q", msg, a, b)
		}

		// A message whose first field is a well-formed Message-ID gets the
		// m: identity of that id, whatever follows.
		if strings.ContainsAny(id, "<>\r\n") {
			return
		}
		m := append([]byte("Message-ID: <"+id+">\r\n"), msg...)
		want := reconcile.IdentityFromMessageID("<"+id+">", int64(len(m)))
		if got := identityOf(m); want != "" && got != want {
			t.Fatalf("identityOf(%q) = %q, want %q", m, got, want)
		} else if want == "" && !strings.HasPrefix(string(got), "h:") {
			t.Fatalf("identityOf(%q) = %q, want an h: identity", m, got)
		}
	})
}
