package imapstore

import "github.com/mailtwin/mailtwin/reconcile"

// SingleAppendPipeline returns the pipeline of single APPENDs on the
// Store's connection, which AppendPipeline falls back to, so that its
// tests run on servers that have MULTIAPPEND too.
func SingleAppendPipeline(s *Store) reconcile.AppendPipeline { return &pipeline{s: s} }
