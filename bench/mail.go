package main

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// folderNames returns the n folders that hold the seeded messages:
// a realistic mix of top-level folders and hierarchies, then
// Extra/NNN when more than 20 are asked for.
func folderNames(n int) []string {
	base := []string{
		"INBOX", "Sent",
		"Archive/2019", "Archive/2020", "Archive/2021", "Archive/2022", "Archive/2023", "Archive/2024",
		"Lists/golang", "Lists/dovecot", "Lists/debian-devel", "Lists/lkml",
		"Projects/alpha", "Projects/beta", "Projects/gamma",
		"Receipts", "Travel", "Family", "Newsletters", "Work/Reports",
	}
	var out []string
	for i := range n {
		if i < len(base) {
			out = append(out, base[i])
		} else {
			out = append(out, fmt.Sprintf("Extra/%03d", i))
		}
	}
	return out
}

// parents returns the parent folders of names that are not in names
// themselves ("Archive" for "Archive/2019"), so they can be created as
// real, empty folders: every tool then sees the same hierarchy.
func parents(names []string) []string {
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	var out []string
	for _, n := range names {
		for i := strings.LastIndexByte(n, '/'); i > 0; i = strings.LastIndexByte(n[:i], '/') {
			p := n[:i]
			if !have[p] {
				have[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// message is one generated message: its bytes, flags and date.
type message struct {
	body  []byte
	flags []imap.Flag
	date  time.Time
}

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has would when if
so no will more can out up into do any your what only its time about may then some them like other
than these two new could our over such also after most many before must through back years where
much your way well down should because each just those people how too little state good very make
world still own see men work long get here between both life being under never day same another
know while last might great old year off come since against go came right used take three server
mailbox folder message sync state commit plan apply release build test deploy review merge patch`)

// genMessage returns message i of a folder (or of a later change,
// kind "new"), the same for the same arguments on every run. About 1%
// are 200 KB-2 MB multipart messages with an attachment; the others are
// 2-20 KB of text, sizes log-uniform (mean about 8 KB). 10,000 messages
// make about 120 MB: the "a few percent" of large messages and
// "about 110 MB" do not both fit a 200 KB floor, and the total won.
func genMessage(seed uint64, kind string, folder, i int) message {
	h := uint64(0)
	for _, c := range kind {
		h = h*131 + uint64(c)
	}
	rng := rand.New(rand.NewPCG(seed^h, uint64(folder)<<32|uint64(i)))
	date := time.Date(2019, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(6 * 365 * 24 * time.Hour))))
	msgID := fmt.Sprintf("<%s.%d.%d.%d@bench.mailtwin.example>", kind, seed, folder, i)
	subject := fmt.Sprintf("%s %s %s (%d/%d)", words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], folder, i)
	var b strings.Builder
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\r\n", i%97, i%97)
	fmt.Fprintf(&b, "To: Bench User <user@example.net>\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: %s\r\n", msgID)
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\n")
	large := rng.Float64() < 0.01
	if !large {
		size := int(2048 * math.Pow(10, rng.Float64())) // 2-20 KB, log-uniform
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\n")
		writeText(&b, rng, size)
	} else {
		// 200 KB-2 MB, skewed to the small end as real attachments are
		// (mean about 430 KB)
		size := int(200 * 1024 * math.Pow(10, math.Pow(rng.Float64(), 4)))
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b-%d-%d\"\r\n\r\n", folder, i)
		fmt.Fprintf(&b, "--b-%d-%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", folder, i)
		writeText(&b, rng, b.Len()+1500)
		fmt.Fprintf(&b, "--b-%d-%d\r\nContent-Type: application/pdf; name=\"doc%d.pdf\"\r\n", folder, i, i)
		fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"doc%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", i)
		raw := make([]byte, (size-b.Len())*3/4)
		for j := 0; j+8 <= len(raw); j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				raw[j+k] = byte(v >> (8 * k))
			}
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteString("\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc)
		fmt.Fprintf(&b, "\r\n--b-%d-%d--\r\n", folder, i)
	}
	var flags []imap.Flag
	if rng.Float64() < 0.85 {
		flags = append(flags, imap.FlagSeen)
	}
	if rng.Float64() < 0.12 {
		flags = append(flags, imap.FlagAnswered)
	}
	if rng.Float64() < 0.04 {
		flags = append(flags, imap.FlagFlagged)
	}
	return message{body: []byte(b.String()), flags: flags, date: date}
}

// writeText appends lines of words until b holds size bytes.
func writeText(b *strings.Builder, rng *rand.Rand, size int) {
	line := 0
	for b.Len() < size {
		w := words[rng.IntN(len(words))]
		if line+len(w) > 72 {
			b.WriteString("\r\n")
			line = 0
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
}
