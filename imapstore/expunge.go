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
// one UID MOVE, and a UID SEARCH for what the server left behind when it
// sent fewer EXPUNGEs than it moved messages (expungeLeftovers). Without, it is UID COPY, STORE \Deleted and UID EXPUNGE,
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
			before := s.expunges.Load()
			data, err := s.c.Move(set, dest).Wait()
			if err != nil {
				return err
			}
			moved = pairUIDs(data.SourceUIDs, data.DestUIDs)
			// RFC 6851: the server expunges each moved message and says
			// so before the MOVE's OK. Fewer EXPUNGEs than messages
			// moved (COPYUID's count, or the UIDs asked when there is
			// none): see what the MOVE left.
			want := len(uids)
			if len(moved) > 0 {
				want = len(moved)
			}
			if int(s.expunges.Load()-before) >= want {
				return nil
			}
			res, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
			if err != nil {
				return fmt.Errorf("moved, but could not check that the originals are gone: %w", err)
			}
			return s.expungeLeftovers(mailbox, dest, res.AllUIDs())
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

// expungeLeftovers removes the messages a MOVE answered OK left in the
// source (left, UIDs of the selected mailbox). RFC 6851 has the server
// expunge every moved message; Dovecot with Maildir, rarely and under
// concurrent moves, has been seen to copy a message and leave it in the
// source with its UID, which the next run would take for a copy made by
// the user and copy to the other account. The MOVE's OK says the copy is
// in dest, so the leftover is a second copy of the same message: it is
// expunged as Expunge would, and checked once more.
func (s *Store) expungeLeftovers(mailbox, dest string, left []imap.UID) error {
	if len(left) == 0 {
		return nil
	}
	set := imap.UIDSetNum(left...)
	if err := s.checkOtherDeleted(set); err != nil {
		return fmt.Errorf("the server moved to %q but left UID %v in %q: %w", dest, set, mailbox, err)
	}
	if err := s.deleteAndExpunge(set); err != nil {
		return fmt.Errorf("the server moved to %q but left UID %v in %q, and removing them failed: %w", dest, set, mailbox, err)
	}
	res, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("the server moved to %q but left UID %v in %q; check after removing them: %w", dest, set, mailbox, err)
	}
	if still := res.AllUIDs(); len(still) > 0 {
		return fmt.Errorf("the server moved to %q but left UID %v in %q, and they are still there after UID EXPUNGE: "+
			"they are now in both folders; delete them from %q in a mail client", dest, imap.UIDSetNum(still...), mailbox, mailbox)
	}
	return nil
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
