package hclconfig

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics renders diags for a person, one after the other:
//
//	c.hcl:14:7: error: Unknown account
//	    14 |   b = "nosuch"
//	       |       ^^^^^^^^
//	  No account named "nosuch" is defined; the accounts are "a" and "b".
//
// The first line is "FILE:LINE:COL: error: SUMMARY" (or "warning"), then
// the source line with the diagnostic's range underlined (when files holds
// the file), then the detail, then an empty line. A diagnostic without a
// range is just "error: SUMMARY" and its detail. files is what Load and
// Parse return; nil is allowed.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) error {
	var b strings.Builder
	for _, d := range diags {
		writeDiagnostic(&b, d, files)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeDiagnostic(b *strings.Builder, d *hcl.Diagnostic, files map[string]*hcl.File) {
	sev := "error"
	if d.Severity == hcl.DiagWarning {
		sev = "warning"
	}
	rng := d.Subject
	if rng == nil {
		rng = d.Context
	}
	if rng == nil {
		fmt.Fprintf(b, "%s: %s\n", sev, d.Summary)
	} else {
		fmt.Fprintf(b, "%s:%d:%d: %s: %s\n", rng.Filename, rng.Start.Line, rng.Start.Column, sev, d.Summary)
		if f := files[rng.Filename]; f != nil {
			writeSnippet(b, f.Bytes, *rng)
		}
	}
	if d.Detail != "" {
		for _, line := range strings.Split(d.Detail, "\n") {
			if line == "" {
				b.WriteString("\n")
			} else {
				fmt.Fprintf(b, "  %s\n", line)
			}
		}
	}
	b.WriteString("\n")
}

// writeSnippet writes the line where rng starts and underlines rng on it
// (to the end of the line when rng goes on). Tabs before the range are
// kept so that the carets line up.
func writeSnippet(b *strings.Builder, src []byte, rng hcl.Range) {
	if rng.Start.Line < 1 {
		return
	}
	start := 0 // of the line
	for n := 1; n < rng.Start.Line; n++ {
		i := bytes.IndexByte(src[start:], '\n')
		if i < 0 {
			return
		}
		start += i + 1
	}
	end := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		end = start + i
	}
	if end > start && src[end-1] == '\r' {
		end--
	}
	line := src[start:end]
	fmt.Fprintf(b, "  %4d | %s\n", rng.Start.Line, line)

	from := rng.Start.Byte
	if from < start || from > end {
		// A range made without byte offsets: count columns instead.
		from = start
		for col := 1; col < rng.Start.Column && from < end; col++ {
			_, size := utf8.DecodeRune(src[from:end])
			from += size
		}
	}
	to := rng.End.Byte
	if rng.End.Line != rng.Start.Line || to > end {
		to = end
	}
	if to < from {
		to = from
	}
	var pad strings.Builder
	for _, r := range string(src[start:from]) {
		if r == '\t' {
			pad.WriteRune('\t')
		} else {
			pad.WriteRune(' ')
		}
	}
	width := max(1, utf8.RuneCount(src[from:to]))
	fmt.Fprintf(b, "       | %s%s\n", pad.String(), strings.Repeat("^", width))
}
