package imapstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/reconcile"
)

// Expunge removes exactly uids from mailbox: STORE +FLAGS.SILENT
// \Deleted, then UID EXPUNGE of those UIDs. Without UIDPLUS there is only
// the plain EXPUNGE, which removes every \Deleted message: Expunge then
// first checks (UID SEARCH DELETED) that no other message carries
// \Deleted, and refuses if one does. (Another client setting \Deleted
// between that check and the EXPUNGE would still lose its message; IMAP
// without UIDPLUS offers nothing better.)
func (s *Store) Expunge(ctx context.Context, mailbox string, uids []reconcile.UID) error {
	set := uidSet(uids)
	if len(set) == 0 {
		return nil
	}
	return s.mutate(ctx, fmt.Sprintf("expunge from %q", mailbox), func() error {
		if _, err := s.selectMailbox(mailbox, true, false); err != nil {
			return err
		}
		if err := s.checkOtherDeleted(set); err != nil {
			return err
		}
		return s.deleteAndExpunge(set)
	})
}

// Move moves uids of mailbox to dest and returns the new UID of each
// moved message where the server reported it (COPYUID). With MOVE it is
// one UID MOVE. Without, it is UID COPY, STORE \Deleted and UID EXPUNGE,
// or, without UIDPLUS either, a plain EXPUNGE after the same check as
// Expunge makes (done before the COPY, so a refusal leaves no copy).
//
// go-imap's own fallback is not used: without UIDPLUS it sends a plain
// EXPUNGE unconditionally, which would remove other clients' \Deleted
// messages.
func (s *Store) Move(ctx context.Context, mailbox string, uids []reconcile.UID, dest string) (map[reconcile.UID]reconcile.UID, error) {
	set := uidSet(uids)
	if len(set) == 0 {
		return map[reconcile.UID]reconcile.UID{}, nil
	}
	var moved map[reconcile.UID]reconcile.UID
	err := s.mutate(ctx, fmt.Sprintf("move from %q to %q", mailbox, dest), func() error {
		if _, err := s.selectMailbox(mailbox, true, false); err != nil {
			return err
		}
		if s.caps.Has(imap.CapMove) {
			data, err := s.c.Move(set, dest).Wait()
			if err != nil {
				return err
			}
			moved = pairUIDs(data.SourceUIDs, data.DestUIDs)
			return nil
		}
		if err := s.checkOtherDeleted(set); err != nil {
			return err
		}
		data, err := s.c.Copy(set, dest).Wait()
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		moved = pairUIDs(data.SourceUIDs, data.DestUIDs)
		if err := s.deleteAndExpunge(set); err != nil {
			return fmt.Errorf("copied, but could not remove the originals: %w", err)
		}
		return nil
	})
	if moved == nil {
		moved = map[reconcile.UID]reconcile.UID{}
	}
	return moved, err
}

// checkOtherDeleted fails when the server has no UIDPLUS and a message
// outside set carries \Deleted, which a plain EXPUNGE would remove too.
func (s *Store) checkOtherDeleted(set imap.UIDSet) error {
	if s.caps.Has(imap.CapUIDPlus) {
		return nil
	}
	res, err := s.c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("search \\Deleted messages: %w", err)
	}
	var others []imap.UID
	for _, u := range res.AllUIDs() {
		if !set.Contains(u) {
			others = append(others, u)
		}
	}
	if len(others) == 0 {
		return nil
	}
	slices.Sort(others)
	return fmt.Errorf("the server has no UIDPLUS, so removing messages takes a plain EXPUNGE, "+
		"which would also remove %d other message(s) marked \\Deleted (UID %v); "+
		"expunge them or clear their \\Deleted flag in a mail client, then run again", len(others), imap.UIDSetNum(others...))
}

// deleteAndExpunge marks set \Deleted and expunges it: UID EXPUNGE with
// UIDPLUS, plain EXPUNGE otherwise (after checkOtherDeleted).
func (s *Store) deleteAndExpunge(set imap.UIDSet) error {
	err := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	if err != nil {
		return fmt.Errorf("store \\Deleted: %w", err)
	}
	if s.caps.Has(imap.CapUIDPlus) {
		err = s.c.UIDExpunge(set).Close()
	} else {
		err = s.c.Expunge().Close()
	}
	if err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return nil
}
