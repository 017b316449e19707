package imapstore

import "github.com/mailtwin/mailtwin/reconcile"

// SingleAppendPipeline returns the pipeline of single APPENDs on the
// Store's connection, which AppendPipeline falls back to, so that its
// tests run on servers that have MULTIAPPEND too.
func SingleAppendPipeline(s *Store) reconcile.AppendPipeline { return &pipeline{s: s} }

// MultiAppendPipeline returns AppendPipeline's pipeline, made to open
// its MULTIAPPEND connection for the first message already rather than
// once two are in flight.
func MultiAppendPipeline(s *Store) reconcile.AppendPipeline {
	return &multiPipeline{s: s, old: &pipeline{s: s}, eager: true}
}
