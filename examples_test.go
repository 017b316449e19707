package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/mailtwin/mailtwin/hclconfig"
)

// TestExamplesParse decodes every file in examples/ with all environment
// variables set, so an example never rots.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("examples/*.hcl")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples/*.hcl = %v, %v; want at least three examples", files, err)
	}
	env := func(name string) (string, bool) { return "value-of-" + name, true }
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, diags, files := hclconfig.Load(f, hclconfig.Options{LookupEnv: env})
			// file() of an absolute secret path is allowed to fail here:
			// the secret does not exist on a test machine. Nothing else is.
			var real []string
			for _, d := range diags {
				if d.Severity == hcl.DiagError && !strings.Contains(d.Detail+d.Summary, "/run/secrets/") {
					var b bytes.Buffer
					hclconfig.WriteDiagnostics(&b, hcl.Diagnostics{d}, files)
					real = append(real, b.String())
				}
			}
			if len(real) > 0 {
				t.Fatalf("%s does not validate:\n%s", f, strings.Join(real, "\n"))
			}
			if cfg != nil && len(cfg.Pairs) == 0 {
				t.Errorf("%s has no pair", f)
			}
		})
	}
}

// TestDemo runs the demo and checks it tells the whole story: a first
// sync, changes on both sides, their plan, the apply, a settled plan and
// the log.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"demo"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("demo exited %d:\n%s\n%s", code, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{
		"=== mailtwin apply  (first sync",
		`+ b:"Work" create folder`,
		"=== mailtwin plan  (read-only",
		`+ b:"INBOX" <- a:"INBOX"`,                               // new mail on a
		`+ a:"Invoices" <- b:"Invoices"`,                         // new mail on b
		`~ b:"Work" uid`,                                         // the flag set on a
		`> a:"Invoices" uid 1 -> "Trash"`,                        // the deletion on b, trash policy
		`> a:"Receipts" rename folder -> "Invoices"`,             // the rename on b
		`> b:"INBOX" -> "Work" (2 messages: uid 6:7; moved on o`, // the moves on a
		"=== mailtwin plan  (nothing left to do",
		`pair "work-backup": no changes`,
		"=== mailtwin log",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", text)
	}
}
