package reconcile

import (
	"fmt"
	"strings"
)

// Journal renders what a run did, one line per action with its outcome,
// for the run's commit message: which message (by folder, UID and
// identity hash) went where. It holds no subjects, addresses or bodies.
func Journal(p *Plan, outcomes []Outcome) string {
	var b strings.Builder
	for i := range p.Actions {
		a := &p.Actions[i]
		o := Outcome{Err: ErrNotRun}
		if i < len(outcomes) {
			o = outcomes[i]
		}
		switch {
		case o.Err != nil:
			fmt.Fprintf(&b, "failed %s: %v\n", a, oneLine(o.Err.Error()))
		case (a.Op == Copy || a.Op == Move) && o.UID != 0:
			fmt.Fprintf(&b, "ok %s => uid %d\n", a, o.UID)
		default:
			fmt.Fprintf(&b, "ok %s\n", a)
		}
	}
	for _, c := range p.Conflicts {
		fmt.Fprintf(&b, "conflict %s\n", c)
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", " ")
}
