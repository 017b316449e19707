package reconcile

import (
	"context"
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
	// identity. It opens the mailbox read-only (EXAMINE).
	Scan(ctx context.Context, f *Folder) error

	// Fetch streams the messages uids of mailbox, in UID order, calling fn
	// once per message. fn must consume m.Body before it returns and must
	// not use this Mailstore. A UID that no longer exists is skipped (fn is
	// not called for it).
	Fetch(ctx context.Context, mailbox string, uids []UID, fn func(m FetchedMessage) error) error

	// Append stores a message with the given flags and internal date and
	// reports where it went. size is the exact length of body.
	Append(ctx context.Context, mailbox string, flags Flags, date time.Time, size int64, body io.Reader) (Appended, error)

	// StoreFlags adds and removes flags on uids of mailbox.
	StoreFlags(ctx context.Context, mailbox string, uids []UID, add, remove Flags) error

	// Expunge removes exactly uids from mailbox (UID EXPUNGE, or a
	// fallback that expunges nothing else).
	Expunge(ctx context.Context, mailbox string, uids []UID) error

	// Move moves uids of mailbox to dest (UID MOVE, or COPY, STORE
	// \Deleted and UID EXPUNGE) and returns the new UID of each moved
	// message where the server reported it (COPYUID).
	Move(ctx context.Context, mailbox string, uids []UID, dest string) (map[UID]UID, error)

	// CreateFolder creates mailbox; the server makes missing parents as it
	// sees fit. It succeeds if the mailbox exists already, so a retry after
	// a crash is safe.
	CreateFolder(ctx context.Context, mailbox string) error

	// DeleteFolder deletes mailbox.
	DeleteFolder(ctx context.Context, mailbox string) error

	// RenameFolder renames mailbox from to to, with the folders under it
	// (to's parents are made as the server sees fit). It succeeds if from
	// is gone and to exists already, so a retry after a crash is safe.
	// Messages keep their UIDs where the server keeps UIDVALIDITY, as
	// Dovecot does; a server that does not is handled by the next run.
	RenameFolder(ctx context.Context, from, to string) error
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
