package imaptest

import (
	"mime"
	"strings"
)

// MessageDate is the Date header NewMessage writes: fixed, so the same
// call gives the same bytes (and the same header-hash identity).
const MessageDate = "Mon, 02 Mar 2026 10:04:05 +0100"

// NewMessage returns a small RFC 5322 message with CRLF line endings:
// From, To, Subject (RFC 2047-encoded when not ASCII), Date, Message-ID
// (angle brackets added when missing; the header is left out when
// messageID is ""), MIME headers for UTF-8 plain text, and body with its
// line endings turned into CRLF.
func NewMessage(from, to, subject, messageID, body string) []byte {
	var b strings.Builder
	header := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	header("From", from)
	header("To", to)
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", MessageDate)
	if messageID != "" {
		if !strings.HasPrefix(messageID, "<") {
			messageID = "<" + messageID + ">"
		}
		header("Message-ID", messageID)
	}
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	cte := "7bit"
	for i := 0; i < len(body); i++ {
		if body[i] >= 0x80 {
			cte = "8bit"
			break
		}
	}
	header("Content-Transfer-Encoding", cte)
	b.WriteString("\r\n")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}
