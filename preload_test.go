package main

import (
	"context"
	"errors"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// blockingStates is a StateRepo whose Load of a pair waits for release,
// after saying on started that it was called.
type blockingStates struct {
	reconcile.StateRepo
	started chan string
	release chan struct{}
}

func (c blockingStates) Load(ctx context.Context, pair string) (reconcile.State, error) {
	c.started <- pair
	<-c.release
	return reconcile.State{Folders: []reconcile.FolderState{{Name: "read for " + pair}}}, nil
}

// TestPreloadReadsAhead checks that preload starts reading the state at
// once, before anyone asks for it, that Load of that pair returns what
// it read without reading again, that other pairs are read as asked,
// and that a Load given up on returns the context's error.
func TestPreloadReadsAhead(t *testing.T) {
	states := blockingStates{StateRepo: noState{}, started: make(chan string, 4), release: make(chan struct{})}
	ctx := context.Background()
	p := preload(ctx, states, "work")
	if got := <-states.started; got != "work" {
		t.Fatalf("preload read %q, want work", got)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Load(cancelled, "work"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a cancelled context while the read goes on: %v, want context.Canceled", err)
	}
	close(states.release)
	st, err := p.Load(ctx, "work")
	if err != nil || len(st.Folders) != 1 || st.Folders[0].Name != "read for work" {
		t.Fatalf("Load(work) = %+v, %v; want what the preload read", st, err)
	}
	select {
	case pair := <-states.started:
		t.Fatalf("Load(work) read %q again", pair)
	default:
	}
	if st, err := p.Load(ctx, "home"); err != nil || st.Folders[0].Name != "read for home" || <-states.started != "home" {
		t.Fatalf("Load(home) = %+v, %v; want it read from the repository", st, err)
	}
}
