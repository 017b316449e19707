package hclconfig

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics renders diagnostics for a person: a first line
// "FILE:LINE:COL: error: SUMMARY", the source line with the offending
// range underlined, then the detail.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) error {
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		var b strings.Builder
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, sev, d.Summary)
			if f := files[d.Subject.Filename]; f != nil {
				lines := strings.Split(string(f.Bytes), "\n")
				if n := d.Subject.Start.Line; n >= 1 && n <= len(lines) {
					src := strings.TrimRight(lines[n-1], "\r")
					fmt.Fprintf(&b, "  %4d | %s\n", n, src)
					start := d.Subject.Start.Column
					end := d.Subject.End.Column
					if d.Subject.End.Line != n || end <= start {
						end = len(src) + 1
					}
					if start >= 1 && start <= len(src)+1 {
						fmt.Fprintf(&b, "       | %s%s\n", strings.Repeat(" ", start-1), strings.Repeat("^", max(1, min(end, len(src)+1)-start)))
					}
				}
			}
		} else {
			fmt.Fprintf(&b, "%s: %s\n", sev, d.Summary)
		}
		if d.Detail != "" {
			fmt.Fprintf(&b, "  %s\n", d.Detail)
		}
		b.WriteString("\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}
