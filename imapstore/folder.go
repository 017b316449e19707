package imapstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// CreateFolder creates mailbox; the server creates missing parent levels
// as placeholders. A mailbox that already exists is fine: a folder
// someone else created in the meantime is what the caller wanted.
func (s *Store) CreateFolder(ctx context.Context, mailbox string) error {
	return s.mutate(ctx, fmt.Sprintf("create folder %q", mailbox), func() error {
		// Only the leaf: servers create missing parents themselves (RFC
		// 3501 6.3.3), as placeholders that are not folders of their own.
		// Creating them as real folders would make the next run sync a
		// folder the user never made.
		if err := s.c.Create(mailbox, nil).Wait(); err != nil {
			if _, selectable, lerr := s.lookup(mailbox); lerr == nil && selectable {
				return nil
			}
			return err
		}
		return nil
	})
}

// lookup reports whether mailbox exists (in any form, a \Noselect parent
// included) and whether it can be selected.
func (s *Store) lookup(mailbox string) (exists, selectable bool, err error) {
	l, err := s.c.List("", mailbox, nil).Collect()
	if err != nil {
		return false, false, fmt.Errorf("list %q: %w", mailbox, err)
	}
	for _, d := range l {
		// The name is a pattern: % and * in it match more than itself.
		if d.Mailbox != mailbox || hasAttr(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		return true, !hasAttr(d.Attrs, imap.MailboxAttrNoSelect), nil
	}
	return false, false, nil
}

// ErrFolderNotEmpty is DeleteFolder refusing a mailbox that holds mail.
var ErrFolderNotEmpty = errors.New("folder is not empty")

// DeleteFolder deletes mailbox (leaving it first if it is selected). It
// refuses with ErrFolderNotEmpty when the mailbox still holds messages.
func (s *Store) DeleteFolder(ctx context.Context, mailbox string) error {
	return s.mutate(ctx, fmt.Sprintf("delete folder %q", mailbox), func() error {
		if s.sel.name == mailbox {
			if err := s.unselect(); err != nil {
				return fmt.Errorf("leave the mailbox: %w", err)
			}
		}
		// IMAP DELETE takes the messages with it. The plan deletes a
		// folder only once its messages are gone, but an earlier action
		// may have failed or new mail may have arrived: refuse then.
		st, err := s.c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return fmt.Errorf("count messages: %w", err)
		}
		if st.NumMessages != nil && *st.NumMessages > 0 {
			return fmt.Errorf("%w: it still holds %d message(s)", ErrFolderNotEmpty, *st.NumMessages)
		}
		return s.c.Delete(mailbox).Wait()
	})
}

// RenameFolder renames mailbox from to to, children included.
func (s *Store) RenameFolder(ctx context.Context, from, to string) error {
	return s.mutate(ctx, fmt.Sprintf("rename folder %q to %q", from, to), func() error {
		if s.sel.name == from {
			if err := s.unselect(); err != nil {
				return fmt.Errorf("leave the mailbox: %w", err)
			}
		}
		if err := s.c.Rename(from, to, nil).Wait(); err != nil {
			// A retry after a crash: the rename happened already.
			fromExists, _, ferr := s.lookup(from)
			_, toSelectable, terr := s.lookup(to)
			if ferr == nil && terr == nil && !fromExists && toSelectable {
				return nil
			}
			return err
		}
		return nil
	})
}
