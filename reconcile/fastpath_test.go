package reconcile_test

import (
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// fastPathCount holds the model tests' comparisons of Build's fast path
// for folder pairs nothing changed in against the full per-message walk
// (reconcile.FastPathDiff): the plans and the next states must be the
// same. A model test that compares and never sees the fast path taken
// proves nothing, so check fails then.
type fastPathCount struct {
	builds, clean int
	// settled counts the plans buildSettled made (SettledDiff).
	settled int
}

// compare builds the plan both ways and compares them and Next's state
// for outcomes (and more made-up outcomes).
func (c *fastPathCount) compare(pair string, base reconcile.State, a, b reconcile.Listing, p reconcile.Policy, outcomes []reconcile.Outcome) error {
	n, err := reconcile.FastPathDiff(pair, base, a, b, p, outcomes)
	c.builds++
	c.clean += n
	if err != nil {
		return err
	}
	taken, err := reconcile.SettledDiff(pair, base, a, b, p)
	if taken {
		c.settled++
	}
	return err
}

func (c *fastPathCount) check(t *testing.T) {
	t.Helper()
	if c.builds > 0 && c.clean == 0 {
		t.Errorf("%d plans compared with and without the fast path, and not one folder pair took it", c.builds)
	}
	if c.builds >= 1000 && c.settled == 0 {
		t.Errorf("%d plans compared, and buildSettled made none of them", c.builds)
	}
	t.Logf("fast path: %d folder pairs unchanged in %d plans; %d plans made without the base's messages", c.clean, c.builds, c.settled)
}
