package reconcile

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Mailstore is one account as a run needs it. imapstore implements it over
// IMAP. Every method names the mailbox by its server name (Folder.Mailbox).
// Implementations wrap errors with the account, mailbox and operation.
type Mailstore interface {
	// Name is the account's name, for messages.
	Name() string

	// List returns the account's selectable folders, sorted by Mailbox,
	// with UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ (where the server has
	// CONDSTORE) filled in and Messages left nil, plus the hierarchy
	// delimiter.
	List(ctx context.Context) (Listing, error)

	// Scan fills f.Messages: every message's UID, flags, size and
	// identity, and f.Permanent where the server says what the folder
	// keeps. It changes nothing in the mailbox (no \Seen set; an IMAP
	// store opens it with SELECT where it may change the account, for
	// the PERMANENTFLAGS only a read-write SELECT reports, else with
	// EXAMINE).
	Scan(ctx context.Context, f *Folder) error

	// Fetch streams the messages uids of mailbox, in UID order, calling fn
	// once per message. fn must consume m.Body before it returns and must
	// not use this Mailstore. A UID that no longer exists is skipped (fn is
	// not called for it).
	Fetch(ctx context.Context, mailbox string, uids []UID, fn func(m FetchedMessage) error) error

	// Append stores a message with the given flags and internal date and
	// reports where it went. size is the exact length of body.
	Append(ctx context.Context, mailbox string, flags Flags, date time.Time, size int64, body io.Reader) (Appended, error)

	// StoreFlags adds and removes flags on uids of mailbox. Where some
	// of uids are no longer there, it changes the others and returns a
	// *GoneError naming those.
	StoreFlags(ctx context.Context, mailbox string, uids []UID, add, remove Flags) error

	// Expunge removes exactly uids from mailbox (UID EXPUNGE, or a
	// fallback that expunges nothing else).
	Expunge(ctx context.Context, mailbox string, uids []UID) error

	// Move moves uids of mailbox to dest (UID MOVE, or COPY, STORE
	// \Deleted and UID EXPUNGE) and returns the new UID of each moved
	// message where the server reported it (COPYUID). Where it can tell
	// that some of uids were no longer there, it moves the others and
	// returns a *GoneError naming those.
	Move(ctx context.Context, mailbox string, uids []UID, dest string) (map[UID]UID, error)

	// CreateFolder creates mailbox; the server makes missing parents as it
	// sees fit. It succeeds if the mailbox exists already, so a retry after
	// a crash is safe. It returns the mailbox's UIDVALIDITY where the
	// server tells it, 0 where not.
	CreateFolder(ctx context.Context, mailbox string) (uidValidity uint32, err error)

	// DeleteFolder deletes mailbox.
	DeleteFolder(ctx context.Context, mailbox string) error

	// RenameFolder renames mailbox from to to, with the folders under it
	// (to's parents are made as the server sees fit). It succeeds if from
	// is gone and to exists already, so a retry after a crash is safe.
	// Messages keep their UIDs where the server keeps UIDVALIDITY, as
	// Dovecot does; a server that does not is handled by the next run.
	RenameFolder(ctx context.Context, from, to string) error
}

// IncrementalScanner is a Mailstore that can read only what changed in
// a folder since a point the state recorded. Run uses it where a Mailstore
// has it and the state has such a point, except for a folder whose
// listing already says it is as k left it: Run gives it k's messages
// itself, as ScanSince would, where the plan needs them.
type IncrementalScanner interface {
	// ScanSince fills f (as listed by List) with what Scan would: every
	// message's UID, flags and identity, and refreshed UIDVALIDITY,
	// UIDNEXT and HIGHESTMODSEQ. It reads only what changed since k:
	// nothing, when the listing's counts equal k's; otherwise the
	// messages from k.UIDNext on, the flags changed since
	// k.HighestModSeq, and which of k's messages are gone. A message of
	// k keeps k's identity. Where k cannot be used (another UIDVALIDITY,
	// no CONDSTORE, a message k does not know below k.UIDNext) it reads
	// the folder whole, as Scan. k.Messages is the scanner's: it may
	// become, or be changed into, f.Messages.
	ScanSince(ctx context.Context, f *Folder, k Known) error
}

// ReadAheadScanner is an IncrementalScanner that can read bodies from the
// folder it scanned last in the same exchange as the next folder's
// scan: the read goes out first, the next folder's commands right behind
// it, so that a connection scanning folders after one another, reading
// each one's new mail, spends one round trip per folder and not two.
type ReadAheadScanner interface {
	IncrementalScanner
	// ReadThenScanSince reads r (as Fetch would, bodies streamed to
	// r.Fn, a UID no longer there skipped), then scans f as ScanSince
	// does. It returns the read's error and the scan's apart; a failed
	// read does not keep f from being scanned. Bodies the server
	// answers without what Fetch needs to hand them on (see Fetch) may
	// be left out: r is a read ahead, its caller reads what it lacks
	// later.
	ReadThenScanSince(ctx context.Context, r BodyRead, f *Folder, k Known) (readErr, scanErr error)
}

// BodyRead is a read of the bodies of UIDs in Mailbox for
// ReadAheadScanner, each handed to Fn as Fetch hands it.
type BodyRead struct {
	Mailbox string
	UIDs    []UID
	Fn      func(FetchedMessage) error
}

// PipelinedAppender is a Mailstore that can have several APPENDs in
// flight at once, so that a copy does not wait for the server's answer
// to one message before it sends the next. Execute copies through it
// where the target Mailstore has it, and with Append otherwise.
type PipelinedAppender interface {
	// AppendPipeline starts a pipeline of appends. Until every wait
	// function its Send returned has been called, the Mailstore must
	// not be used otherwise.
	AppendPipeline() AppendPipeline
}

// AppendPipeline sends messages as Mailstore.Append does, without
// waiting for the answer to one before sending the next.
type AppendPipeline interface {
	// Send sends a message as Append would and returns without waiting
	// for the server's answer (it may wait for earlier answers where the
	// protocol needs them). It is done with body when it returns. wait
	// waits for the answer and returns what Append would have: where the
	// message went, or why this message failed (refused by the server,
	// or the connection broke before the answer came; then the message
	// may or may not be stored, and the next run tells by its identity).
	// Each wait must be called once; the waits may block, so call them
	// in the order of the sends.
	Send(ctx context.Context, mailbox string, flags Flags, date time.Time, size int64, body io.Reader) (wait func() (Appended, error))
}

// Known is what the state knows of a folder on one side: the messages
// with a UID below UIDNext, each with the flags it had at HighestModSeq.
type Known struct {
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq uint64
	// Messages is sorted by UID; Size is not known (0).
	Messages []Message
	// FlagsVary marks the target side of a folder kept one way: the
	// Messages' flags are the source's, and the side's own may differ
	// (FolderState.Direction). ScanPointObservation.Advance then does
	// not compare them.
	FlagsVary bool
	// Permanent is what the folder keeps (SideState.Permanent):
	// ScanPointObservation.Advance reads the flags it refuses as the
	// Messages have them.
	Permanent Permanent
}

// FetchedMessage is one message body being streamed by Mailstore.Fetch.
type FetchedMessage struct {
	UID          UID
	InternalDate time.Time
	Size         int64
	Body         io.Reader
}

// Appended reports where Append stored a message. UID is 0 when the
// server did not say (no UIDPLUS and no unambiguous fallback); the next
// run then pairs the message by identity.
type Appended struct {
	UIDValidity uint32
	UID         UID
}

// StateRepo stores the agreed state of pairs. It is satisfied by an
// adapter over gitstate in main.
type StateRepo interface {
	// Load returns the agreed state of pair as of the last commit; an
	// empty State for a pair never synced.
	Load(ctx context.Context, pair string) (State, error)
	// Save records the state of pair; it is committed by Commit.
	Save(ctx context.Context, pair string, st State) error
}

// FlagChange is one Store action's flags: Add and Remove on UIDs.
type FlagChange struct {
	UIDs        []UID
	Add, Remove Flags
}

// GoneError is a flag change's error for the messages of a mailbox
// that were no longer there when it was made: expunged, or moved away,
// by someone else since the run listed the mailbox. A server takes a
// UID STORE on them without a word, so a store that did not look would
// record a change made that was not, and the next run would read the
// message as deleted after the change was agreed. The other messages
// of the change were changed. Errors may wrap it.
type GoneError struct {
	Account string // the account's name, for the message
	Mailbox string
	UIDs    []UID // sorted
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("account %q: %s no longer in %q (uid %s): expunged or moved meanwhile; the next run finds where they went",
		e.Account, messages(len(e.UIDs)), e.Mailbox, UIDRanges(e.UIDs, 8))
}

// RefusedError is an Append's or a StoreFlags' error where the server
// refused the command for good: it answered NO with no response code,
// or with CANNOT or LIMIT (RFC 5530), not with one that says to try
// again later (a full quota, a mailbox in use, a server fault). The
// same command will be refused again. Copying then tries a message
// refused so without its keywords, which some servers refuse outright
// (Dovecot: one longer than 50 characters), and learns which ones the
// folder refuses (Outcome.Refused). Err is the server's answer.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }

func (e *RefusedError) Unwrap() error { return e.Err }

// BatchRefusedError is an appended message's error where the server
// refused the command that carried it with others (a MULTIAPPEND, RFC
// 3502): the command is atomic, so none of them was stored, and the
// cause may be any one of them: a keyword the server will not take, a
// message too big, a quota. Copying sends each such message again in
// an APPEND of its own, so that one message a server refuses does not
// keep the others of its command from being copied, on this run or any
// later one. Err is the server's answer.
type BatchRefusedError struct {
	Messages int // how many messages the refused command carried
	Err      error
}

func (e *BatchRefusedError) Error() string {
	return fmt.Sprintf("refused with the %d messages of its MULTIAPPEND: %v", e.Messages, e.Err)
}

func (e *BatchRefusedError) Unwrap() error { return e.Err }

// messages is "1 message" or "n messages".
func messages(n int) string {
	if n == 1 {
		return "1 message"
	}
	return fmt.Sprintf("%d messages", n)
}

// ChangeBatcher is a Mailstore that carries out a mailbox's flag
// changes and its expunge at once: IMAP's UID STORE sets or clears the
// same flags on a UID set, so changes that differ per message are
// regrouped by flag, a command per flag and direction, and the
// expunge's commands follow them, all sent before any answer is
// awaited. flagsErr is the outcome of every change (a *GoneError,
// maybe wrapped, where some of their messages were no longer there),
// expungeErr that of the expunge; neither waits for the other to
// succeed.
//
// unchangedSince, where not 0, guards the expunge as GuardedExpunger's
// does.
type ChangeBatcher interface {
	ChangeMessages(ctx context.Context, mailbox string, changes []FlagChange, expunge []UID, unchangedSince uint64) (flagsErr, expungeErr error)
}

// GuardedExpunger is a Mailstore that can expunge only the messages
// whose flags nobody changed since a modification sequence (CONDSTORE's
// UNCHANGEDSINCE, RFC 7162): Expunge, but a message a user changed
// after the run listed its mailbox stays, and its change reaches the
// next run, where a change beats a deletion. Those are returned as a
// *ChangedError; the others are expunged.
type GuardedExpunger interface {
	ExpungeUnchangedSince(ctx context.Context, mailbox string, uids []UID, modseq uint64) error
}

// ChangedError is an expunge's error for the messages of a mailbox whose
// flags someone changed after the run listed it (GuardedExpunger): they
// were not expunged. The others were. Errors may wrap it.
type ChangedError struct {
	Account string // the account's name, for the message
	Mailbox string
	UIDs    []UID // sorted
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("account %q: %s in %q (uid %s) changed since the run listed them: not expunged; the next run sees the change",
		e.Account, messages(len(e.UIDs)), e.Mailbox, UIDRanges(e.UIDs, 8))
}

// MoveSet is one Move batch's messages: UIDs of a mailbox, to Dest.
type MoveSet struct {
	UIDs []UID
	Dest string
}

// MoveResult is what Move returned for one MoveSet.
type MoveResult struct {
	Moved map[UID]UID
	Err   error
}

// MoveBatcher is a Mailstore that moves messages of one mailbox to
// several others at once: one UID MOVE per destination, all sent
// before any answer is awaited, where Move waits for each. Each result
// is what Move would have returned for its set, and a set that fails
// does not stop the others.
type MoveBatcher interface {
	MoveMessages(ctx context.Context, mailbox string, moves []MoveSet) []MoveResult
}

// CreateResult is what CreateFolder returned for one mailbox of a
// FolderBatchCreator's batch.
type CreateResult struct {
	UIDValidity uint32
	Err         error
}

// FolderBatchCreator is a Mailstore that creates several mailboxes in
// one exchange: every CREATE sent before any answer is awaited, where
// CreateFolder waits for each. The mailboxes are created in the order
// given (a parent before the folders under it), each result is what
// CreateFolder would have returned for its mailbox, and a mailbox that
// fails does not stop the others.
type FolderBatchCreator interface {
	CreateFolders(ctx context.Context, mailboxes []string) []CreateResult
}
