package main

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/reconcile"
)

// stateRepo adapts a gitstate.Repo to reconcile.StateRepo: one directory
// per pair, one file per folder pair, and the journal of the pair's last
// run that acted in reconcile.JournalFile beside them.
type stateRepo struct{ repo *gitstate.Repo }

func (s stateRepo) Load(ctx context.Context, pair string) (reconcile.State, error) {
	// The folder state files are directly in the pair's directory; the
	// journal, in a directory of its own, is not read.
	files, err := s.repo.FilesFlat(ctx, pair)
	if err != nil {
		return reconcile.State{}, err
	}
	// What is decoded now stays live to the end of the run.
	var n int64
	for _, data := range files {
		n += int64(len(data))
	}
	gcPolicyFrom(ctx).reserve(n * gcStateFactor)
	st, err := reconcile.DecodeState(pair, files)
	if err != nil {
		return st, fmt.Errorf("%w\nthe state file is damaged: fix it, or restore an earlier state with 'mailtwin rollback REV' (see 'mailtwin log')", err)
	}
	return st, nil
}

// Save stages st and keeps the pair's journal as HEAD has it: a commit
// where the pair did nothing leaves its journal unchanged, which is how
// show tells the pairs that acted.
func (s stateRepo) Save(ctx context.Context, pair string, st reconcile.State) error {
	return s.SaveRun(ctx, pair, st, nil)
}

// SaveRun stages st with journal as the pair's journal file; with a nil
// journal, the one staged is kept, unread (it can be megabytes).
func (s stateRepo) SaveRun(ctx context.Context, pair string, st reconcile.State, journal []byte) error {
	files := reconcile.EncodeState(st)
	if journal == nil {
		return s.repo.StageKeeping(ctx, pair, files, reconcile.JournalFile)
	}
	files[reconcile.JournalFile] = journal
	return s.repo.Stage(ctx, pair, files)
}

// SaveJournal stages journal as pair's journal file and leaves the
// pair's state files as they are staged: for a run whose state Save
// staged already.
func (s stateRepo) SaveJournal(ctx context.Context, pair string, journal []byte) error {
	return s.repo.StageOnly(ctx, pair, map[string][]byte{reconcile.JournalFile: journal})
}

// readJournal returns the journal file of pair at rev ("" for HEAD), nil
// when there is none.
func readJournal(ctx context.Context, repo *gitstate.Repo, rev, pair string) ([]byte, error) {
	full := pair + "/" + reconcile.JournalFile
	dir, name := path.Dir(full), path.Base(full)
	var files map[string][]byte
	var err error
	if rev == "" {
		files, err = repo.Files(ctx, dir)
	} else {
		files, err = repo.FilesAt(ctx, rev, dir)
	}
	if err != nil {
		return nil, err
	}
	return files[name], nil
}

// noState is the state of a pair never synced, for a plan made before
// the state repository exists.
type noState struct{}

func (noState) Load(context.Context, string) (reconcile.State, error) { return reconcile.State{}, nil }
func (noState) Save(context.Context, string, reconcile.State) error {
	return errors.New("internal error: no state repository to save to")
}
