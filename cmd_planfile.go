package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/planfile"
	"github.com/mailtwin/mailtwin/reconcile"
)

// Saved plans, as Terraform's: "plan --out FILE" writes the plan with
// what it was made from (the configuration's digest, the state's HEAD,
// a fingerprint of every mailbox it touches); "apply FILE" checks all of
// it and carries out exactly that plan, or refuses a stale one and
// changes nothing; "show FILE" prints it. The file's format and the
// staleness check are package planfile's.

// runHooks let plan --out and apply FILE see and steer the run cmdSync
// makes. Every field is optional.
type runHooks struct {
	// pairs replaces the pairs --pair and --shard select.
	pairs func(cfg *hclconfig.Config) ([]*hclconfig.Pair, error)
	// ready is called once the state repository is open (nil for a plan
	// made before it exists), locked and pulled, before any pair runs.
	ready func(ctx context.Context, cfg *hclconfig.Config, repo *gitstate.Repo) error
	// options adjusts a pair's RunOptions before its run.
	options func(p *hclconfig.Pair, opts *reconcile.RunOptions)
	// result sees a pair's run, as reconcile.Run returned it.
	result func(p *hclconfig.Pair, res *reconcile.Result, err error)
	// done is called after every pair ran without an error (and, for
	// apply, the state was committed).
	done func(ctx context.Context) error
}

// configDigest is the hex SHA-256 of the configuration file's bytes:
// what a saved plan records of the configuration. Values the file reads
// from elsewhere (env(), file(), password_command) are not in it.
func configDigest(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read config: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// stateHead returns the full hash of the state repository's HEAD, or
// planfile.NoState when it has no commit (or repo is nil: no repository
// yet).
func stateHead(ctx context.Context, repo *gitstate.Repo) (string, error) {
	if repo == nil {
		return planfile.NoState, nil
	}
	log, err := repo.Log(ctx, 1)
	if err != nil {
		return "", err
	}
	if len(log) == 0 {
		return planfile.NoState, nil
	}
	return log[0].Hash, nil
}

func shortHash(h string) string {
	if len(h) > gitstate.ShortLen {
		return h[:gitstate.ShortLen]
	}
	return h
}

// cmdPlanOut is plan --out FILE: the plan as plan makes it, printed as
// plan prints it, and saved to FILE. A plan stopped by a safety guard
// or an error is not saved; an empty plan is.
func cmdPlanOut(ctx context.Context, g *globalOptions, path string) error {
	digest, err := configDigest(g.config)
	if err != nil {
		return err
	}
	f := &planfile.File{
		Created: time.Now().UTC().Format(time.RFC3339),
		Config:  planfile.Config{Path: g.config, SHA256: digest},
		Force:   g.force,
		Pairs:   []planfile.Pair{},
	}
	var mu sync.Mutex
	byPair := map[string]planfile.Pair{}
	var order []string
	g.hooks = &runHooks{
		ready: func(ctx context.Context, _ *hclconfig.Config, repo *gitstate.Repo) error {
			head, err := stateHead(ctx, repo)
			f.State = head
			return err
		},
		pairs: func(cfg *hclconfig.Config) ([]*hclconfig.Pair, error) {
			ps, err := selectPairs(cfg, g.pairs)
			for _, p := range ps {
				order = append(order, p.Name)
			}
			return ps, err
		},
		result: func(p *hclconfig.Pair, res *reconcile.Result, err error) {
			if err != nil || res == nil || res.Plan == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			byPair[p.Name] = savedPair(res.Plan)
		},
		done: func(context.Context) error {
			// In the configuration's order; the pairs --shard left out
			// have none.
			for _, name := range order {
				if sp, ok := byPair[name]; ok {
					f.Pairs = append(f.Pairs, sp)
				}
			}
			b, err := planfile.Encode(f)
			if err != nil {
				return err
			}
			if err := writeFileAtomic(path, b, 0o600); err != nil {
				return fmt.Errorf("save plan: %w", err)
			}
			if !g.json {
				fmt.Fprintf(g.stdout, "plan saved to %s: review it with 'mailtwin show %s', carry it out with 'mailtwin apply %s'\n", path, path, path)
			}
			return nil
		},
	}
	return cmdSync(ctx, g, true)
}

// savedPair is a plan's part of a plan file: its actions, the folder
// pairs and mailboxes they touch, and those mailboxes' fingerprints.
func savedPair(p *reconcile.Plan) planfile.Pair {
	sp := planfile.Pair{Pair: p.Pair, Summary: p.Summary(), Actions: p.Actions, Conflicts: p.Conflicts, Folders: []string{}}
	if sp.Actions == nil {
		sp.Actions = []reconcile.Action{}
	}
	folders := map[string]bool{}
	var boxes [2][]string
	for _, fp := range p.Footprints() {
		for _, n := range fp.Folders {
			if !folders[n] {
				folders[n] = true
				sp.Folders = append(sp.Folders, n)
			}
		}
		for s := range 2 {
			boxes[s] = append(boxes[s], fp.Mailboxes[s]...)
		}
	}
	slices.Sort(sp.Folders)
	sp.Fingerprints = planfile.Fingerprints(p, boxes)
	return sp
}

// writeFileAtomic writes b to path through a temporary file in the same
// directory, synced and renamed over path: a reader sees the old file
// or the new one, never a part.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readPlanFile reads and decodes a plan file; a file that cannot be
// read, is corrupt or of another version is a usage error (exit 4).
func readPlanFile(path string) (*planfile.File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Sprintf("read plan file: %v", err)}
	}
	f, err := planfile.Decode(b)
	if err != nil {
		return nil, usageError{fmt.Sprintf("plan file %s: %v", path, err)}
	}
	return f, nil
}

// isPlanFile reports whether arg names a file that starts like a plan
// file: show takes it as one rather than as a revision.
func isPlanFile(arg string) bool {
	fh, err := os.Open(arg)
	if err != nil {
		return false
	}
	defer fh.Close()
	buf := make([]byte, 256)
	n, _ := io.ReadFull(fh, buf)
	return planfile.Sniff(buf[:n])
}

// cmdApplyFile is apply FILE. It refuses a stale plan before it changes
// anything: first the configuration's digest, then, with the state
// repository locked (and pulled), its HEAD; then, per pair, reconcile.Run
// lists and scans both accounts and builds the plan again from the state
// and the accounts as they are, and its Approve hook
// (planfile.Check) compares every fingerprinted mailbox and the
// actions that touch the saved plan's folder pairs with the saved ones.
// The run then carries out those actions only (RunOptions.Approve's
// scope): what changed in other folders since the plan is neither done
// nor recorded as agreed, and the next plan finds it. Where the plan
// has several pairs with actions, all are checked (as plan does: nothing
// changed) before the first one is carried out, so a stale pair stops
// them all. The safety guards were judged when the plan was made (plan
// --out does not save a plan a guard stopped, unless --force), so they
// are not judged again.
func cmdApplyFile(ctx context.Context, g *globalOptions, path string) error {
	if len(g.pairs) > 0 || g.shard != "" {
		return usageError{"apply FILE takes the pairs the plan holds: --pair and --shard belong to plan --out"}
	}
	f, err := readPlanFile(path)
	if err != nil {
		return err
	}
	digest, err := configDigest(g.config)
	if err != nil {
		return err
	}
	if digest != f.Config.SHA256 {
		return &planfile.StaleError{Reasons: []string{fmt.Sprintf("the configuration changed since the plan (%s; run plan --out again)", g.config)}}
	}
	byName := map[string]*planfile.Pair{}
	for i := range f.Pairs {
		byName[f.Pairs[i].Pair] = &f.Pairs[i]
	}
	pairs := func(cfg *hclconfig.Config) ([]*hclconfig.Pair, error) {
		var out []*hclconfig.Pair
		for _, sp := range f.Pairs {
			p := cfg.Pair(sp.Pair)
			if p == nil {
				return nil, &planfile.StaleError{Reasons: []string{fmt.Sprintf("pair %q is not in the configuration (run plan --out again)", sp.Pair)}}
			}
			// A pair with nothing to do is not even connected to:
			// there is nothing to check or carry out.
			if len(sp.Actions) > 0 {
				out = append(out, p)
			}
		}
		return out, nil
	}
	ready := func(ctx context.Context, _ *hclconfig.Config, repo *gitstate.Repo) error {
		head, err := stateHead(ctx, repo)
		if err != nil {
			return err
		}
		if head != f.State {
			return &planfile.StaleError{Reasons: []string{fmt.Sprintf("the state repository moved from %s to %s (run plan --out again)", shortHash(f.State), shortHash(head))}}
		}
		return nil
	}
	options := func(p *hclconfig.Pair, opts *reconcile.RunOptions) {
		opts.Policy.Force = true
		sp := byName[p.Name]
		opts.Approve = func(plan *reconcile.Plan) ([]string, error) {
			if err := planfile.Check(sp, plan); err != nil {
				return nil, err
			}
			return sp.Folders, nil
		}
	}
	busy := 0
	for _, sp := range f.Pairs {
		if len(sp.Actions) > 0 {
			busy++
		}
	}
	if busy > 1 {
		// Check every pair before any is carried out: a plan of the
		// accounts as they are now, read-only, held to the saved one.
		var mu sync.Mutex
		var stale []string
		pre := *g
		pre.stdout, pre.json, pre.verbose = io.Discard, false, 0
		pre.hooks = &runHooks{pairs: pairs, ready: ready, options: options, result: func(p *hclconfig.Pair, res *reconcile.Result, err error) {
			if err != nil || res == nil {
				return
			}
			var se *planfile.StaleError
			if errors.As(planfile.Check(byName[p.Name], res.Plan), &se) {
				mu.Lock()
				stale = append(stale, se.Reasons...)
				mu.Unlock()
			}
		}}
		if err := cmdSync(ctx, &pre, true); err != nil {
			return err
		}
		if len(stale) > 0 {
			return &planfile.StaleError{Reasons: stale}
		}
	}
	g.hooks = &runHooks{pairs: pairs, ready: ready, options: options}
	if err := cmdSync(ctx, g, false); err != nil {
		return err
	}
	if busy == 0 && !g.json {
		fmt.Fprintln(g.stdout, "the saved plan has nothing to do, and nothing it was made from changed")
	}
	return nil
}

// cmdShowPlan is show FILE: the saved plan as plan printed it (text), or
// the file itself (--json).
func cmdShowPlan(ctx context.Context, g *globalOptions, path string) error {
	f, err := readPlanFile(path)
	if err != nil {
		return err
	}
	if g.json {
		return writeJSON(g.stdout, f)
	}
	w := g.stdout
	fmt.Fprintf(w, "saved plan %s, made %s\n", path, f.Created)
	fmt.Fprintf(w, "  config %s (sha256 %s)\n", f.Config.Path, f.Config.SHA256)
	fmt.Fprintf(w, "  state  %s\n", f.State)
	if f.Force {
		fmt.Fprintln(w, "  made with --force: the safety guards were overridden")
	}
	for _, sp := range f.Pairs {
		p := &reconcile.Plan{Pair: sp.Pair, Actions: sp.Actions, Conflicts: sp.Conflicts}
		p.Recount()
		fmt.Fprintln(w)
		fmt.Fprint(w, renderPlan(p, renderOptions{Color: g.color, Verbose: g.verbose > 0}))
		if len(sp.Fingerprints) > 0 {
			var boxes []string
			for _, fp := range sp.Fingerprints {
				boxes = append(boxes, fmt.Sprintf("%s:%q", fp.Side, fp.Mailbox))
			}
			fmt.Fprintf(w, "  checked at apply: %s\n", strings.Join(boxes, " "))
		}
	}
	return nil
}
