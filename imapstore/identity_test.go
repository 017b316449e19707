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

// tuidCopy is msg as mbsync appends it: with an X-TUID field, of 12
// characters, at the end of the header (as isync 1.4 writes it).
func tuidCopy(msg string) string {
	head, body, ok := strings.Cut(msg, "\r\n\r\n")
	if !ok {
		return msg + "X-TUID: ppAEME12NFZL\r\n"
	}
	return head + "\r\nX-TUID: ppAEME12NFZL\r\n\r\n" + body
}

func TestIdentityLeavesOutOtherToolsMarkers(t *testing.T) {
	const (
		withID    = "From: a@example.org\r\nMessage-ID: <m@example.org>\r\nSubject: hi\r\n\r\nbody\r\n"
		withoutID = "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
	)
	same := []struct{ name, orig, copy string }{
		{"mbsync copy", withID, tuidCopy(withID)},
		{"mbsync copy without Message-ID", withoutID, tuidCopy(withoutID)},
		{"marker first", withID, "X-TUID: ppAEME12NFZL\r\n" + withID},
		{"marker folded", withoutID, "X-TUID:\r\n\tppAEME12NFZL\r\n" + withoutID},
		{"lower-case name, space before the colon", withID, "x-tuid : abc\r\n" + withID},
		{"OfflineIMAP copy", withID, "X-OfflineIMAP: 1406291958-0123456789\r\n" + withID},
		{"both markers", withoutID, "X-OfflineIMAP: 1-2\r\n" + tuidCopy(withoutID)},
		{"LF line ends", strings.ReplaceAll(withID, "\r\n", "\n"), strings.ReplaceAll(tuidCopy(withID), "\r\n", "\n")},
	}
	for _, tc := range same {
		if a, b := identityOf([]byte(tc.orig)), identityOf([]byte(tc.copy)); a != b {
			t.Errorf("%s: identity %q, of the copy %q (%q), want the same", tc.name, a, b, tc.copy)
		}
	}
	// Only the markers are left out: another field, one whose name
	// merely starts like a marker's, or a marker in the body, counts.
	differ := []struct{ name, orig, other string }{
		{"another field", withoutID, "X-Mailer: x\r\n" + withoutID},
		{"a name that starts like X-TUID", withoutID, "X-TUIDS: ppAEME12NFZL\r\n" + withoutID},
		{"marker in the body", withID, withID + "X-TUID: ppAEME12NFZL\r\n"},
		{"marker in the body, no Message-ID", withoutID, withoutID + "X-TUID: ppAEME12NFZL\r\n"},
	}
	for _, tc := range differ {
		if a, b := identityOf([]byte(tc.orig)), identityOf([]byte(tc.other)); a == b {
			t.Errorf("%s: identity %q for both %q and %q, want different", tc.name, a, tc.orig, tc.other)
		}
	}
	// A header without markers is returned as it is, not copied: the
	// scan reads 10,000 of them in a first sync.
	h := []byte(withID)
	if got, n := withoutMarkers(h); n != 0 || &got[0] != &h[0] {
		t.Errorf("withoutMarkers of a header without markers: %d bytes left out, or a copy made", n)
	}
	if got, n := withoutMarkers([]byte(tuidCopy(withID))); n != int64(len("X-TUID: ppAEME12NFZL\r\n")) || string(got) != withID {
		t.Errorf("withoutMarkers(mbsync copy) = %q, %d bytes left out; want the original, 22", got, n)
	}
}

func FuzzIdentity(f *testing.F) {
	for _, tc := range identityCases {
		f.Add([]byte(tc.msg), "a@example.org")
	}
	f.Add([]byte{}, "")
	f.Add([]byte("Message-ID: <x@y>\r\n\r\n"), "<>")
	f.Add([]byte("X: \xc3\x28\r\n \r\n\r\n"), " spaced id ")
	f.Add([]byte("X-TUID: abc\r\n folded\r\nMessage-ID: <x@y>\r\n\r\nX-TUID: body\r\n"), "x@y")
	f.Fuzz(func(t *testing.T, msg []byte, id string) {
		orig := bytes.Clone(msg)
		got := identityOf(msg)
		if !bytes.Equal(msg, orig) {
			t.Fatalf("identityOf changed its input")
		}
		if again := identityOf(bytes.Clone(msg)); again != got {
			t.Fatalf("identityOf(%q) = %q, then %q", msg, got, again)
		}
		hdr, marks := withoutMarkers(headerOf(msg))
		size := int64(len(msg)) - marks
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

		// mbsync's marker as the first field changes nothing (unless the
		// message starts with a continuation line, which would become
		// the marker's, or its header is cut at maxHeader).
		if len(msg) < maxHeader/2 && (len(msg) == 0 || msg[0] != ' ' && msg[0] != '\t') {
			if got2 := identityOf(append([]byte("X-TUID: fuzzfuzzfuzz\r\n"), msg...)); got2 != got {
				t.Fatalf("identityOf(%q) = %q, with an X-TUID field first %q", msg, got, got2)
			}
		}

		// A message whose first field is a well-formed Message-ID gets the
		// m: identity of that id, whatever follows.
		if strings.ContainsAny(id, "<>\r\n") {
			return
		}
		m := append([]byte("Message-ID: <"+id+">\r\n"), msg...)
		_, mk := withoutMarkers(headerOf(m))
		want := reconcile.IdentityFromMessageID("<"+id+">", int64(len(m))-mk)
		if got := identityOf(m); want != "" && got != want {
			t.Fatalf("identityOf(%q) = %q, want %q", m, got, want)
		} else if want == "" && !strings.HasPrefix(string(got), "h:") {
			t.Fatalf("identityOf(%q) = %q, want an h: identity", m, got)
		}
	})
}
