// Package planfile is mailtwin's saved plan: the file that
// "mailtwin plan --out FILE" writes and "mailtwin apply FILE" carries
// out, as Terraform's saved plans. It owns the file's format (versioned
// JSON), the fingerprints of the mailboxes a plan touches, and the check
// that a plan is not stale: the pure part. Reading and writing the file,
// the configuration's digest and the state repository's HEAD are the
// caller's. It imports reconcile for its types only, and nothing that
// does I/O; main is its only importer.
package planfile
