package reconcile_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/mailtwin/mailtwin/reconcile"
)

// closure returns the folder pairs a run scoped to from must keep to:
// from, and every folder pair an action touching one of them touches,
// until nothing is added (as a saved plan's Folders are the union of
// its actions' footprints).
func closure(p *reconcile.Plan, from string) []string {
	fps := p.Footprints()
	in := map[string]bool{from: true}
	for grown := true; grown; {
		grown = false
		for _, fp := range fps {
			if !slices.ContainsFunc(fp.Folders, func(n string) bool { return in[n] }) {
				continue
			}
			for _, n := range fp.Folders {
				if !in[n] {
					in[n], grown = true, true
				}
			}
		}
	}
	var out []string
	for n := range in {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// TestScopedRun holds scoped runs (RunOptions.Approve's scope) to their
// promise, on every case of the planner's table and every folder pair
// its plan touches: carrying out only the actions in the scope and
// recording ScopeState's state leaves nothing to do in the scope, and
// everything else exactly as it was planned: planning again gives the
// plan's actions outside the scope, no more, no fewer. Nothing outside
// the scope was done, nor recorded as agreed.
func TestScopedRun(t *testing.T) {
	files, err := filepath.Glob("testdata/plan/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	tried := 0
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		sec := map[string]string{}
		for _, f := range ar.Files {
			sec[f.Name] = string(f.Data)
		}
		base := parseState(t, sec["base"])
		pol := parsePolicy(t, sec["policy"])
		pol.Force = true
		la, lb := parseListing(t, sec["a"]), parseListing(t, sec["b"])
		plan, err := reconcile.Build("p", base, la, lb, pol)
		if err != nil {
			continue
		}
		folders := map[string]bool{}
		for _, fp := range plan.Footprints() {
			for _, n := range fp.Folders {
				folders[n] = true
			}
		}
		for f := range folders {
			scope := closure(plan, f)
			name := strings.TrimSuffix(filepath.Base(file), ".txtar") + "/" + strings.Join(scope, ",")
			// Build again: Next marks the plan's slots, and each scope
			// needs a fresh plan.
			plan, _ := reconcile.Build("p", base, parseListing(t, sec["a"]), parseListing(t, sec["b"]), pol)
			accA, accB := accountFromListing(parseListing(t, sec["a"])), accountFromListing(parseListing(t, sec["b"]))
			sub, idx := plan.Scoped(scope)
			done := execute(sub, accA, accB)
			all := make([]reconcile.Outcome, len(plan.Actions))
			for i := range all {
				all[i] = reconcile.Outcome{Err: reconcile.ErrNotRun}
			}
			for j, i := range idx {
				all[i] = done[j]
			}
			next := reconcile.ScopeState(base, reconcile.Next(plan, all), scope)
			again, err := reconcile.Build("p", next, accA.listing(), accB.listing(), pol)
			if err != nil {
				t.Errorf("%s: Build after the scoped run = %v", name, err)
				continue
			}
			var want []string
			inScope := map[int]bool{}
			for _, i := range idx {
				inScope[i] = true
			}
			for i := range plan.Actions {
				if !inScope[i] {
					want = append(want, plan.Actions[i].String())
				}
			}
			var got []string
			for i := range again.Actions {
				got = append(got, again.Actions[i].String())
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: after the scoped run, planning again gives\n  %s\nwant the actions left out:\n  %s\nplan was:\n%s",
					name, strings.Join(got, "\n  "), strings.Join(want, "\n  "), plan)
			}
			tried++
		}
	}
	if tried < 20 {
		t.Errorf("only %d scoped runs tried", tried)
	}
}
