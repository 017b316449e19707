package reconcile_test

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/mailtwin/mailtwin/reconcile"
)

// The planner has no favourite side: the same pair with A and B swapped
// (the state's sides, the listings, the policy's directions, prefer,
// prefixes and name maps) must plan the same actions with their sides
// swapped. mirrorDiff checks that for one Build; the models run it on
// every plan with -movemodel.mirror.

// mirrorDirection swaps a direction's sides.
func mirrorDirection(d reconcile.Direction) reconcile.Direction {
	switch d {
	case reconcile.AToB:
		return reconcile.BToA
	case reconcile.BToA:
		return reconcile.AToB
	}
	return d
}

// mirrorState returns st with its sides swapped.
func mirrorState(st reconcile.State) reconcile.State {
	out := reconcile.State{Folders: make([]reconcile.FolderState, len(st.Folders))}
	for i, f := range st.Folders {
		g := f
		g.A, g.B = f.B, f.A
		g.Direction = mirrorDirection(f.Direction)
		g.Records = make([]reconcile.Record, len(f.Records))
		for j, r := range f.Records {
			r.UIDA, r.UIDB = r.UIDB, r.UIDA
			g.Records[j] = r
		}
		slices.SortStableFunc(g.Records, func(x, y reconcile.Record) int {
			return cmp.Or(cmp.Compare(x.UIDA, y.UIDA), cmp.Compare(x.UIDB, y.UIDB))
		})
		out.Folders[i] = g
	}
	return out
}

// mirrorPolicy returns p with its sides swapped.
func mirrorPolicy(p reconcile.Policy) reconcile.Policy {
	q := p
	q.Rules = make([]reconcile.Rule, len(p.Rules))
	for i, r := range p.Rules {
		r.Direction = mirrorDirection(r.Direction)
		q.Rules[i] = r
	}
	q.Default.Direction = mirrorDirection(p.Default.Direction)
	q.Prefer = p.Prefer.Other()
	q.Naming.Prefix = [2]string{p.Naming.Prefix[1], p.Naming.Prefix[0]}
	q.Naming.Maps = make([]reconcile.NameMap, len(p.Naming.Maps))
	for i, m := range p.Naming.Maps {
		q.Naming.Maps[i] = reconcile.NameMap{A: m.B, B: m.A}
	}
	q.ExcludeSpecialUse = [2][]reconcile.Role{p.ExcludeSpecialUse[1], p.ExcludeSpecialUse[0]}
	return q
}

// actionLines returns plan's actions, one line each, sorted; with
// mirrored, each with its side swapped. A line is what the action does,
// without its reason: two readings that do the same are the same plan.
func actionLines(plan *reconcile.Plan, mirrored bool) []string {
	var out []string
	for _, a := range plan.Actions {
		if mirrored {
			a.Side = a.Side.Other()
		}
		a.Reason = ""
		out = append(out, strings.TrimSuffix(a.String(), " ()"))
	}
	slices.Sort(out)
	return out
}

// mirrorDiff builds the plan of the pair with its sides swapped and
// returns "" if its actions are plan's with their sides swapped, or what
// differs.
func mirrorDiff(plan *reconcile.Plan, base reconcile.State, a, b reconcile.Listing, p reconcile.Policy) string {
	mp, err := reconcile.Build("p", mirrorState(base), b, a, mirrorPolicy(p))
	if err != nil {
		return "the mirrored pair: " + err.Error()
	}
	want, got := actionLines(plan, false), actionLines(mp, true)
	if slices.Equal(want, got) {
		return ""
	}
	var b2 strings.Builder
	b2.WriteString("the pair with A and B swapped plans otherwise (its actions with their sides swapped back):\n")
	for _, l := range got {
		b2.WriteString("    " + l + "\n")
	}
	return b2.String()
}

// mailboxState renders st as formatState does, but each folder by its
// mailboxes on the two sides, not its logical name, and the folders in
// the order of those: a folder paired by special-use role or a name map
// takes its logical name from A's mailbox, which is a convention, not a
// favourite side.
func mailboxState(st reconcile.State) string {
	var blocks []string
	for _, f := range st.Folders {
		var b strings.Builder
		fmt.Fprintf(&b, "folder a=%s b=%s", dash(f.A.Mailbox), dash(f.B.Mailbox))
		if f.A.Mailbox == "" && f.B.Mailbox == "" {
			fmt.Fprintf(&b, " (%s)", f.Name)
		}
		one := formatState(reconcile.State{Folders: []reconcile.FolderState{f}})
		head, records, _ := strings.Cut(one, "\n")
		for _, w := range strings.Fields(head) {
			if strings.HasPrefix(w, "keeps-") || strings.HasPrefix(w, "refuses-") {
				b.WriteString(" " + w)
			}
		}
		b.WriteString("\n" + records)
		blocks = append(blocks, b.String())
	}
	slices.Sort(blocks)
	return strings.Join(blocks, "")
}
