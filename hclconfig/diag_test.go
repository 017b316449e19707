package hclconfig_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/mailtwin/mailtwin/hclconfig"
)

func ExampleWriteDiagnostics() {
	src := `account "work" {
  host     = "imap.example.com"
  tls      = "ssl"
  username = "alice"
  password = env("WORK_PW")
}
pair "p" {
  a = "work"
  b = "backup"
}
`
	_, diags, files := hclconfig.Parse([]byte(src), "mailtwin.hcl", hclconfig.Options{
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	hclconfig.WriteDiagnostics(os.Stdout, diags, files)
	// Output:
	// mailtwin.hcl:3:14: error: Invalid tls
	//      3 |   tls      = "ssl"
	//        |              ^^^^^
	//   tls must be one of "implicit", "starttls" or "none"; got "ssl".
	//
	// mailtwin.hcl:5:14: error: Error in function call
	//      5 |   password = env("WORK_PW")
	//        |              ^^^^
	//   Call to function "env" failed: environment variable "WORK_PW" is not set.
	//
	// mailtwin.hcl:9:7: error: Unknown account
	//      9 |   b = "backup"
	//        |       ^^^^^^^^
	//   No account named "backup" is defined; the accounts are "work".
}

func rng(file string, l1, c1, b1, l2, c2, b2 int) *hcl.Range {
	return &hcl.Range{Filename: file, Start: hcl.Pos{Line: l1, Column: c1, Byte: b1}, End: hcl.Pos{Line: l2, Column: c2, Byte: b2}}
}

func TestWriteDiagnostics(t *testing.T) {
	src := "a = 1\n\tb = \"héllo\"\r\nc = [\n  1,\n]\n"
	files := map[string]*hcl.File{"x.hcl": {Bytes: []byte(src)}}
	tests := []struct {
		name string
		diag *hcl.Diagnostic
		want string
	}{
		{"tab before the range, multibyte inside",
			&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Bad b", Detail: "Why.", Subject: rng("x.hcl", 2, 6, 11, 2, 13, 19)},
			"x.hcl:2:6: error: Bad b\n     2 | \tb = \"héllo\"\n       | \t    ^^^^^^^\n  Why.\n\n"},
		{"range over several lines",
			&hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Long", Subject: rng("x.hcl", 3, 5, 25, 5, 2, 34)},
			"x.hcl:3:5: warning: Long\n     3 | c = [\n       |     ^\n\n"},
		{"range without byte offsets",
			&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cols", Subject: rng("x.hcl", 2, 6, 0, 2, 6, 0)},
			"x.hcl:2:6: error: Cols\n     2 | \tb = \"héllo\"\n       | \t    ^\n\n"},
		{"no range",
			&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read", Detail: "Line one.\n\nLine two."},
			"error: Cannot read\n  Line one.\n\n  Line two.\n\n"},
		{"context when there is no subject",
			&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Ctx", Context: rng("x.hcl", 1, 1, 0, 1, 6, 5)},
			"x.hcl:1:1: error: Ctx\n     1 | a = 1\n       | ^^^^^\n\n"},
		{"unknown file",
			&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Elsewhere", Subject: rng("y.hcl", 1, 1, 0, 1, 2, 1)},
			"y.hcl:1:1: error: Elsewhere\n\n"},
		{"line past the end",
			&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Far", Subject: rng("x.hcl", 99, 1, 500, 99, 2, 501)},
			"x.hcl:99:1: error: Far\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := hclconfig.WriteDiagnostics(&b, hcl.Diagnostics{tt.diag}, files); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("WriteDiagnostics() =\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteDiagnosticsError(t *testing.T) {
	diags := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "x"}}
	if err := hclconfig.WriteDiagnostics(failWriter{}, diags, nil); err == nil || err.Error() != "disk full" {
		t.Errorf("WriteDiagnostics() = %v, want the writer's error", err)
	}
}
