package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/emersion/go-imap/v2"
)

// bigFolder is where b5's large message arrives on A.
const bigFolder = "INBOX"

// genBig returns b5's message: size bytes (to within a line) of a
// multipart/mixed message, a short text part and one base64 attachment
// of random bytes, as a mail client sends a large file. The same for
// the same seed.
func genBig(seed uint64, size int) message {
	rng := rand.New(rand.NewPCG(seed, 5))
	date := time.Date(2024, 6, 1, 9, 30, 0, 0, time.UTC)
	var b bytes.Buffer
	b.Grow(size + 4096)
	const boundary = "b-big-attachment"
	fmt.Fprintf(&b, "From: Sender 1 <sender1@example.org>\r\n")
	fmt.Fprintf(&b, "To: Bench User <user@example.net>\r\n")
	fmt.Fprintf(&b, "Subject: the scans you asked for (%d MB)\r\n", size/1e6)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <big.%d.%d@bench.mailtwin.example>\r\n", seed, size)
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
	b.WriteString("Here are all of them in one archive.\r\n\r\n")
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/zip; name=\"scans.zip\"\r\n", boundary)
	fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"scans.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	// 57 raw bytes make one 76-character line plus CRLF: 78 bytes.
	tail := len(boundary) + 8
	raw := make([]byte, 57)
	line := make([]byte, 76)
	for b.Len()+78+tail <= size {
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		base64.StdEncoding.Encode(line, raw)
		b.Write(line)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return message{body: b.Bytes(), flags: []imap.Flag{imap.FlagSeen}, date: date}
}

// changeB5 makes b5's change on A: one message of size bytes arrives in
// bigFolder.
func changeB5(addr, user string, s uint64, size int) (changeSummary, error) {
	c, err := dial(addr, user)
	if err != nil {
		return changeSummary{}, err
	}
	defer logout(c)
	m := genBig(s, size)
	if err := appendAll(c, bigFolder, []message{m}); err != nil {
		return changeSummary{}, err
	}
	return changeSummary{added: 1, bigBytes: int64(len(m.body))}, nil
}
