// Package gitstate owns the Git history of mailtwin's state: a versioned
// directory of text files in a Git repository, read and written with
// go-git (no git binary is needed).
//
// Bytes go in, commits come out. A run reads a directory of files as of
// HEAD ([Repo.Files]), writes the directory's new contents
// ([Repo.Stage]) and records them as one commit ([Repo.Commit]). History
// is inspected with [Repo.Log], [Repo.Resolve] and [Repo.FilesAt], and
// [Repo.Rollback] restores an earlier revision with a new commit: history
// is never rewritten. [Repo.Lock] takes the run lock, so two runs never
// write the same repository at once.
//
// Reads always come from committed objects, never from the worktree, so a
// run killed halfway through writing is never read back. The worktree is
// kept equal to what was staged so that plain git tools show the same
// files.
//
// The package knows nothing about mail or the state file format, and it
// must not import any other mailtwin package: it depends only on the
// standard library and go-git.
package gitstate
