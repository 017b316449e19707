package reconcile_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/mailtwin/mailtwin/reconcile"
)

// FuzzNaming throws mailbox names at the planner's name mapping: two
// sides with different delimiters (and a prefix on one), each listing a
// fuzzed mailbox. Build must never panic; it either plans or refuses
// with a *NamingError that names a listed folder; and whatever it plans
// to create on a side maps back to the logical name it came from, so the
// next run joins the two folders instead of making them again.
func FuzzNaming(f *testing.F) {
	for _, seed := range []struct {
		a, b  string
		delim string
		pfx   string
	}{
		{"Work/Sub", "Work.Sub", ".", ""},
		{"Q1.2025", "INBOX", ".", ""},
		{"a/b", "x.y/z", ".", ""},
		{"Entwürfe", "Sent Items", "/", "Backup/Work"},
		{"INBOX/Receipts", "inbox.Receipts", ".", ""},
		{"//", "..", ".", ""},
		{strings.Repeat("x", 255), strings.Repeat("y/", 60), "/", "P"},
		{"Trash", "Deleted Items", "\\", ""},
		{"", "", ".", ""},
	} {
		f.Add(seed.a, seed.b, seed.delim, seed.pfx)
	}
	f.Fuzz(func(t *testing.T, a, b, delim, pfx string) {
		if a == "" || b == "" || !utf8.ValidString(a+b+delim+pfx) {
			return
		}
		d, _ := utf8.DecodeRuneInString(delim)
		if d == utf8.RuneError || len(delim) != utf8.RuneLen(d) || !unicode.IsPrint(d) {
			return
		}
		// Prefixes as the configuration accepts them (hclconfig).
		pfx = strings.Trim(pfx, "/")
		if strings.Contains(pfx, "//") || strings.ContainsAny(pfx, "*%") || strings.IndexFunc(pfx, unicode.IsControl) >= 0 {
			return
		}
		la := reconcile.Listing{Delim: '/', Folders: []reconcile.Folder{{Mailbox: "INBOX", UIDValidity: 1}}}
		lb := reconcile.Listing{Delim: d, Folders: []reconcile.Folder{{Mailbox: "INBOX", UIDValidity: 1}}}
		if a != "INBOX" {
			la.Folders = append(la.Folders, reconcile.Folder{Mailbox: a, UIDValidity: 2, UIDNext: 2, Messages: []reconcile.Message{{UID: 1, ID: "x:1"}}})
		}
		if b != "INBOX" {
			lb.Folders = append(lb.Folders, reconcile.Folder{Mailbox: b, UIDValidity: 3, UIDNext: 2, Messages: []reconcile.Message{{UID: 1, ID: "x:2"}}})
		}
		pol := reconcile.Policy{MaxDeletes: reconcile.Limit{Percent: true, Value: 100}}
		pol.Naming.Prefix[reconcile.B] = pfx
		plan, err := reconcile.Build("p", reconcile.State{}, la, lb, pol)
		if err != nil {
			var ne *reconcile.NamingError
			if !errors.As(err, &ne) {
				t.Fatalf("Build(%q, %q) = %v, want a *NamingError or a plan", a, b, err)
			}
			if ne.Mailbox != a && ne.Mailbox != b && ne.Mailbox != "INBOX" {
				t.Fatalf("NamingError %v names none of the listed folders %q, %q and INBOX", err, a, b)
			}
			return
		}
		// Every folder the plan makes on a side is the logical name of
		// its folder pair there.
		for _, act := range plan.Actions {
			if act.Op != reconcile.CreateFolder {
				continue
			}
			l := lb
			if act.Side == reconcile.A {
				l = la
			}
			got := reconcile.LogicalName(act.Mailbox, l.Delim)
			// The prefix as b's server sees it: its delimiter separates
			// levels there.
			prefix := pol.Naming.Prefix[reconcile.B]
			if d != '/' {
				prefix = strings.ReplaceAll(prefix, string(d), "/")
			}
			if act.Side == reconcile.B && prefix != "" {
				rest, ok := strings.CutPrefix(got, prefix+"/")
				if !ok {
					t.Fatalf("plan creates %q on b, outside its prefix %q", act.Mailbox, prefix)
				}
				got = reconcile.LogicalName(rest, '/')
			}
			if got != act.Folder {
				t.Fatalf("plan creates %q on %s for folder %q, which maps back to %q:\n%s", act.Mailbox, act.Side, act.Folder, got, plan)
			}
		}
	})
}
