package hclconfig_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestExcludeSpecialUse: exclude_special_use is read per account,
// canonical and without repeats, and each pair's policy gets its
// accounts' lists on the right sides.
func TestExcludeSpecialUse(t *testing.T) {
	for _, tt := range []struct {
		name  string
		line  string // after account "b"'s username
		wantB []string
	}{
		{"unset", ``, nil},
		{"empty", `  exclude_special_use = []`, []string{}},
		{"gmail", `  exclude_special_use = ["\\All", "\\Important"]`, []string{`\All`, `\Important`}},
		{"any case, repeated", `  exclude_special_use = ["\\all", "\\ALL", "\\flagged"]`, []string{`\All`, `\Flagged`}},
		// The gmail preset fills it in where the file does not set it.
		{"gmail preset", `  provider = "gmail"`, []string{`\All`, `\Important`}},
		{"gmail preset, turned off", "  provider = \"gmail\"\n  exclude_special_use = []", []string{}},
		{"gmail preset, set by hand", "  provider = \"gmail\"\n  exclude_special_use = [\"\\\\Junk\"]", []string{`\Junk`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, _ := hclconfig.Parse([]byte(after(9, tt.line)), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
			if cfg == nil || diags.HasErrors() {
				t.Fatalf("Parse() = %v", diags)
			}
			if got := cfg.Account("b").ExcludeSpecialUse; !reflect.DeepEqual(got, tt.wantB) {
				t.Errorf("account b: ExcludeSpecialUse = %#v, want %#v", got, tt.wantB)
			}
			if got := cfg.Account("a").ExcludeSpecialUse; got != nil {
				t.Errorf("account a: ExcludeSpecialUse = %#v, want nil", got)
			}
			var wantPol [2][]reconcile.Role
			for _, x := range tt.wantB {
				wantPol[reconcile.B] = append(wantPol[reconcile.B], reconcile.Role(x))
			}
			if got := cfg.Pair("p").Policy.ExcludeSpecialUse; !reflect.DeepEqual(got, wantPol) {
				t.Errorf("pair p: Policy.ExcludeSpecialUse = %#v, want %#v", got, wantPol)
			}
		})
	}
}

// TestExcludeSpecialUseErrors: a bad attribute is an error at its own
// element's line and column, with the attributes mailtwin knows, and a
// hint when only the backslash is missing.
func TestExcludeSpecialUseErrors(t *testing.T) {
	for _, tt := range []struct {
		name, line string
		col        int
		detail     string
	}{
		{"no backslash", `  exclude_special_use = ["\\All", "Important"]`, 35,
			`got "Important". Did you mean "\\Important"? In HCL a backslash is written twice: "\\Important".`},
		{"unknown attribute", `  exclude_special_use = ["\\Inbox"]`, 26,
			`exclude_special_use lists special-use attributes, "\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash" or "\\Important"; got "\\Inbox".`},
		{"a string, not a list", `  exclude_special_use = "\\All"`, 25,
			`Inappropriate value for attribute "exclude_special_use": list of string required`},
		{"null element", `  exclude_special_use = ["\\All", null]`, 35, `must not be null`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, files := hclconfig.Parse([]byte(after(3, tt.line)), "c.hcl", hclconfig.Options{LookupEnv: noEnv})
			if cfg != nil || errorCount(diags) != 1 {
				t.Fatalf("Parse() = %v, %v; want one error", cfg, diags)
			}
			d := diags[0]
			if d.Subject.Start.Line != 4 || d.Subject.Start.Column != tt.col {
				t.Errorf("error at %d:%d, want 4:%d: %s", d.Subject.Start.Line, d.Subject.Start.Column, tt.col, d.Detail)
			}
			if !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("detail %q lacks %q", d.Detail, tt.detail)
			}
			var buf bytes.Buffer
			hclconfig.WriteDiagnostics(&buf, diags, files)
			if want := "c.hcl:4:"; !strings.Contains(buf.String(), want) {
				t.Errorf("WriteDiagnostics() lacks %q:\n%s", want, buf.String())
			}
		})
	}
}
