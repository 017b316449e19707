package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"text/tabwriter"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/reconcile"
)

// errNoState is a state repository that does not exist yet.
var errNoState = errors.New("no state repository yet (the first 'mailtwin apply' creates it)")

// openState loads the config and opens its state repository without
// creating it: status, log and rollback read history, they never start
// one.
func openState(ctx context.Context, g *globalOptions) (*hclconfig.Config, *gitstate.Repo, error) {
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(cfg.State.Path); errors.Is(err, fs.ErrNotExist) {
		return cfg, nil, fmt.Errorf("%s: %w", cfg.State.Path, errNoState)
	}
	repo, err := gitstate.Open(ctx, cfg.State.Path)
	if err != nil {
		return cfg, nil, err
	}
	repo.LockMaxAge = cfg.State.LockMaxAge
	return cfg, repo, nil
}

// cmdStatus prints, per pair and folder, what the state agrees on, and
// the last run. It makes no network connection.
func cmdStatus(ctx context.Context, g *globalOptions) error {
	cfg, repo, err := openState(ctx, g)
	if errors.Is(err, errNoState) {
		fmt.Fprintf(g.stdout, "state repo %s: no run yet (run 'mailtwin apply')\n", cfg.State.Path)
		return nil
	}
	if err != nil {
		return err
	}
	pairs, err := selectPairs(cfg, g.pairs)
	if err != nil {
		return err
	}
	log, err := repo.Log(ctx, 1)
	if err != nil {
		return err
	}
	if len(log) == 0 {
		fmt.Fprintf(g.stdout, "state repo %s: no run yet (run 'mailtwin apply')\n", cfg.State.Path)
	} else {
		fmt.Fprintf(g.stdout, "state repo %s: last run %s %s %s\n", cfg.State.Path, log[0].Short, log[0].Time.Format("2006-01-02 15:04:05 -0700"), log[0].Subject)
	}
	for _, p := range pairs {
		st, err := stateRepo{repo}.Load(ctx, p.Name)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "\npair %q (a = %s, b = %s): %d folders, %d messages on a, %d on b\n", p.Name, p.A, p.B, len(st.Folders), st.Messages(reconcile.A), st.Messages(reconcile.B))
		if len(st.Folders) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(g.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "  FOLDER\tA\tB\tDIRECTION\tDELETION")
		for _, f := range st.Folders {
			pol := p.Policy.For(f.Name)
			var n [2]int
			for _, r := range f.Records {
				for s := range 2 {
					if r.On(reconcile.Side(s)) {
						n[s]++
					}
				}
			}
			count := func(s reconcile.Side) string {
				if f.Side(s).Mailbox == "" {
					return "(absent)"
				}
				return fmt.Sprint(n[s])
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.Name, count(reconcile.A), count(reconcile.B), pol.Direction, pol.Deletion)
		}
		tw.Flush()
	}
	return nil
}

// cmdLog lists the runs in the state repository, newest first.
func cmdLog(ctx context.Context, g *globalOptions) error {
	_, repo, err := openState(ctx, g)
	if errors.Is(err, errNoState) {
		fmt.Fprintln(g.stdout, "no runs recorded yet")
		return nil
	}
	if err != nil {
		return err
	}
	commits, err := repo.Log(ctx, 0)
	if err != nil {
		return err
	}
	if len(commits) == 0 {
		fmt.Fprintln(g.stdout, "no runs recorded yet")
		return nil
	}
	for _, c := range commits {
		fmt.Fprintf(g.stdout, "%s  %s  %s\n", c.Short, c.Time.Format("2006-01-02 15:04:05 -0700"), c.Subject)
		if g.verbose > 0 {
			fmt.Fprintf(g.stdout, "%s\n", indent(c.Message))
		}
	}
	return nil
}

func indent(s string) string {
	out := ""
	for _, ln := range splitLines(s) {
		out += "    " + ln + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// cmdRollback adds a commit that restores the agreed state as of rev.
func cmdRollback(ctx context.Context, g *globalOptions, rev string) error {
	_, repo, err := openState(ctx, g)
	if err != nil {
		return err
	}
	unlock, err := repo.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := repo.Rollback(ctx, rev)
	if err != nil {
		return fmt.Errorf("rollback to %s: %w", rev, err)
	}
	fmt.Fprintf(g.stdout, "state rolled back: new commit %s %s\nthe mailboxes are unchanged; the next apply syncs against the restored state\n", c.Short, c.Subject)
	return nil
}
