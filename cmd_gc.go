package main

import (
	"context"
	"fmt"
)

// cmdGC packs the whole state repository into one pack, with each
// version of a state file stored as a delta against the next, and
// removes the loose objects and older packs it replaces. apply packs
// loose objects on its own as they pile up, a pack at a time, but never
// merges packs (that would take a commit past 2 s): gc does, now and
// then (apply suggests it from gitstate.GCHintPacks packs on), or
// before a repository is copied away.
func cmdGC(ctx context.Context, g *globalOptions) error {
	_, repo, err := openState(ctx, g)
	if err != nil {
		return err
	}
	unlock, err := repo.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := repo.Pack(ctx, true)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if st.Objects == 0 {
		fmt.Fprintln(g.stdout, "state repository already packed: nothing to do")
		return nil
	}
	fmt.Fprintf(g.stdout, "state repository packed: %d objects (%d as deltas) in one pack of %s; %d loose objects and %d older packs removed\n",
		st.Objects, st.Deltas, humanBytes(st.Bytes), st.LooseRemoved, st.PacksRemoved)
	return nil
}

// humanBytes renders n as "512 B", "3.4 KB", "12.0 MB".
func humanBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
}
