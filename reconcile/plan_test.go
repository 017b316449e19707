package reconcile_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/mailtwin/mailtwin/reconcile"
)

var update = flag.Bool("update", false, "rewrite the plan, next and error sections of testdata/plan/*.txtar")

// TestPlan runs the planner's table: one txtar file per case of the sync
// semantics, with sections
//
//	base    the agreed state (parseState syntax)
//	a, b    what each side lists (parseListing syntax)
//	policy  direction, deletion, max_deletes, rule lines
//	plan    the expected Plan.String()
//	next    the expected state after the plan was carried out in full
//	error   the expected guard or naming error, if any
//
// Every case that plans successfully is also carried out on a model of
// the two accounts, and planning again must then give an empty plan:
// runs are level-based.
func TestPlan(t *testing.T) {
	files, err := filepath.Glob("testdata/plan/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sec := map[string]string{}
			for _, f := range ar.Files {
				sec[f.Name] = string(f.Data)
			}
			base := parseState(t, sec["base"])
			la, lb := parseListing(t, sec["a"]), parseListing(t, sec["b"])
			pol := parsePolicy(t, sec["policy"])

			plan, perr := reconcile.Build("p", base, la, lb, pol)
			got := map[string]string{"plan": plan.String()}
			if perr != nil {
				got["error"] = perr.Error() + "\n"
				var ge *reconcile.GuardError
				var ne *reconcile.NamingError
				if !errors.As(perr, &ge) && !errors.As(perr, &ne) {
					t.Fatalf("Build error %v is neither a *GuardError nor a *NamingError", perr)
				}
			} else {
				// The same pair with its sides swapped plans the same.
				if d := mirrorDiff(plan, base, la, lb, pol); d != "" {
					t.Errorf("%s  this pair's plan:\n%s", d, plan)
				}
				accA, accB := accountFromListing(la), accountFromListing(lb)
				next := reconcile.Next(plan, execute(plan, accA, accB))
				got["next"] = formatState(next)
				// And agrees on the state after it.
				if mp, err := reconcile.Build("p", mirrorState(base), lb, la, mirrorPolicy(pol)); err == nil {
					mb, ma := accountFromListing(lb), accountFromListing(la)
					mnext := reconcile.Next(mp, execute(mp, mb, ma))
					if g, w := mailboxState(mirrorState(mnext)), mailboxState(next); g != w {
						t.Errorf("the pair with its sides swapped ends in another state (its sides swapped back):\n%s\nwant\n%s", g, w)
					}
				}
				pol.Force = true
				again, err := reconcile.Build("p", next, accA.listing(), accB.listing(), pol)
				if err != nil || !again.Empty() {
					t.Errorf("second Build after carrying out the plan = %v, %v; want an empty plan", again, err)
				}
			}
			if *update {
				for i, f := range ar.Files {
					if v, ok := got[f.Name]; ok {
						ar.Files[i].Data = []byte(v)
						delete(got, f.Name)
					}
				}
				for _, name := range []string{"plan", "next", "error"} {
					if v, ok := got[name]; ok {
						ar.Files = append(ar.Files, txtar.File{Name: name, Data: []byte(v)})
					}
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, name := range []string{"plan", "next", "error"} {
				want, has := sec[name]
				g, ok := got[name]
				if !has && !ok {
					continue
				}
				if !has {
					t.Errorf("%s: no %q section in the file; got:\n%s(run go test -update)", file, name, g)
					continue
				}
				if g != want {
					t.Errorf("%s:\n got:\n%s\nwant:\n%s", name, g, want)
				}
			}
		})
	}
}

// TestPlanDeterministic checks the same inputs give a byte-identical plan.
func TestPlanDeterministic(t *testing.T) {
	base := parseState(t, "folder INBOX\n1 1 - x:1\n2 2 - x:2\nfolder Work\n1 1 - x:3")
	la := parseListing(t, "folder INBOX\n2 \\Seen x:2\n5 - x:5\nfolder Work\n1 - x:3\nfolder New\n1 - x:9")
	lb := parseListing(t, "folder INBOX\n1 - x:1\n3 - x:6\nfolder Work\nfolder Other\n4 $x x:7")
	pol := parsePolicy(t, "direction both\ndeletion trash")
	first, _ := reconcile.Build("p", base, la, lb, pol)
	for range 20 {
		p, _ := reconcile.Build("p", base, la, lb, pol)
		if p.String() != first.String() {
			t.Fatalf("Build is not deterministic:\n%s\nvs\n%s", p, first)
		}
	}
}
