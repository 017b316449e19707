package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/hclconfig"
)

// stateRemote returns the remote of the state repository, nil when the
// configuration names none. The token of an https remote is read from
// its environment variable now, and lives only in the returned value.
func stateRemote(g *globalOptions, cfg *hclconfig.Config) (*gitstate.Remote, error) {
	st := cfg.State
	if st.Remote == "" {
		return nil, nil
	}
	rem := &gitstate.Remote{
		URL: st.Remote, Branch: st.Branch,
		SSHKeyFile: st.SSHKeyFile, SSHKnownHosts: st.SSHKnownHosts,
	}
	if st.TokenEnv != "" {
		lookup := g.lookupEnv
		if lookup == nil {
			return nil, errors.New("internal error: no environment lookup")
		}
		tok, _ := lookup(st.TokenEnv)
		if tok == "" {
			return nil, fmt.Errorf("state remote %s: environment variable %s (token_env) is not set or empty", st.Remote, st.TokenEnv)
		}
		rem.Token = tok
	}
	return rem, nil
}

// remoteConflictError is a run stopped because another runner synced
// one of its pairs meanwhile (see gitstate.ConflictError).
type remoteConflictError struct{ c *gitstate.ConflictError }

func (e *remoteConflictError) Error() string {
	what := "pair " + e.c.Dirs[0]
	if len(e.c.Dirs) > 1 {
		what = "pairs " + strings.Join(e.c.Dirs, ", ")
	}
	return fmt.Sprintf("another runner synced %s meanwhile (commit %s on %s, branch %s); nothing was lost: your run's commit is kept as %s; run again to sync from the remote's state",
		what, e.c.RemoteCommit[:gitstate.ShortLen], e.c.URL, e.c.Branch, e.c.Ref)
}

func (e *remoteConflictError) Unwrap() error { return e.c }

// remoteError turns a gitstate.ConflictError into the run's message.
func remoteError(err error) error {
	var ce *gitstate.ConflictError
	if errors.As(err, &ce) {
		return &remoteConflictError{ce}
	}
	return err
}

// pullState brings the state repository up to its remote before a run
// plans anything: it takes the commits other runners pushed, and
// rebases what an earlier run of this clone could not push.
func pullState(ctx context.Context, g *globalOptions, repo *gitstate.Repo, rem *gitstate.Remote) error {
	if rem == nil {
		return nil
	}
	res, err := repo.Pull(ctx, *rem)
	if err != nil {
		return remoteError(err)
	}
	if g.verbose > 0 {
		g.log.Info(fmt.Sprintf("state pulled from %s: %s", rem.URL, res.Action))
	}
	return nil
}

// pushState sends the run's commits to the remote, rebasing onto other
// runners' commits to other pairs. A failure keeps the commits locally
// for the next run to push.
func pushState(ctx context.Context, g *globalOptions, repo *gitstate.Repo, rem *gitstate.Remote) error {
	if rem == nil {
		return nil
	}
	res, err := repo.Push(ctx, *rem)
	if err != nil {
		var ce *gitstate.ConflictError
		if errors.As(err, &ce) {
			return remoteError(err)
		}
		return fmt.Errorf("%w; the state is committed locally and the next run pushes it", err)
	}
	if !g.json && res.Head != "" && res.Action != "up to date" {
		fmt.Fprintf(g.stdout, "state pushed: %s (%s)\n", res.Head[:gitstate.ShortLen], res.Action)
	}
	return nil
}

// pushCheckpoint pushes a checkpoint commit, once and without
// rebasing, so that a runner whose disk is lost keeps its progress on
// the remote. A refused push is normal (another runner pushed first)
// and only reported with -v: the run's final push rebases.
func pushCheckpoint(ctx context.Context, g *globalOptions, repo *gitstate.Repo, rem *gitstate.Remote) {
	if rem == nil {
		return
	}
	if err := repo.TryPush(ctx, *rem); err != nil && g.verbose > 0 {
		g.log.Warn(fmt.Sprintf("checkpoint not pushed (the final push will): %v", err), fieldError, err.Error())
	}
}
