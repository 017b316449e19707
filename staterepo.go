package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/reconcile"
)

// stateRepo adapts a gitstate.Repo to reconcile.StateRepo: one directory
// per pair, one file per folder pair.
type stateRepo struct{ repo *gitstate.Repo }

func (s stateRepo) Load(ctx context.Context, pair string) (reconcile.State, error) {
	files, err := s.repo.Files(ctx, pair)
	if err != nil {
		return reconcile.State{}, err
	}
	st, err := reconcile.DecodeState(pair, files)
	if err != nil {
		return st, fmt.Errorf("%w\nthe state file is damaged: fix it, or restore an earlier state with 'mailtwin rollback REV' (see 'mailtwin log')", err)
	}
	return st, nil
}

func (s stateRepo) Save(ctx context.Context, pair string, st reconcile.State) error {
	return s.repo.Stage(ctx, pair, reconcile.EncodeState(st))
}

// noState is the state of a pair never synced, for a plan made before
// the state repository exists.
type noState struct{}

func (noState) Load(context.Context, string) (reconcile.State, error) { return reconcile.State{}, nil }
func (noState) Save(context.Context, string, reconcile.State) error {
	return errors.New("internal error: no state repository to save to")
}
