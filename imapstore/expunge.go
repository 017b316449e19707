package imapstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

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
	return s.ExpungeUnchangedSince(ctx, mailbox, uids, 0)
}

// ExpungeUnchangedSince implements reconcile.GuardedExpunger: Expunge,
// but with CONDSTORE the STORE \Deleted goes with UNCHANGEDSINCE
// modseq (RFC 7162), so a message whose flags someone changed since is
// not marked, and stays. Those are returned as a
// *reconcile.ChangedError; the others are expunged. modseq 0, or a
// server without CONDSTORE, is Expunge.
func (s *Store) ExpungeUnchangedSince(ctx context.Context, mailbox string, uids []reconcile.UID, modseq uint64) error {
	set := uidSet(uids)
	if len(set) == 0 {
		return nil
	}
	var changed error
	err := s.mutate(ctx, fmt.Sprintf("expunge from %q", mailbox), func() error {
		if _, err := s.selectMailbox(mailbox, true, false); err != nil {
			return err
		}
		if err := s.checkOtherDeleted(set); err != nil {
			return err
		}
		var err error
		changed, err = s.deleteAndExpunge(set, s.guard(modseq), mailbox)
		return err
	})
	return cmp.Or(err, changed)
}

// guard is the UNCHANGEDSINCE of a STORE \Deleted: modseq where the
// server has CONDSTORE (a selection with CONDSTORE, as selectMailbox
// and selectAhead make), 0 for none.
func (s *Store) guard(modseq uint64) uint64 {
	if !s.caps.Has(imap.CapCondStore) {
		return 0
	}
	return modseq
}

// Move moves uids of mailbox to dest and returns the new UID of each
// moved message where the server reported it (COPYUID). Where the
// server's COPYUID says some were not moved, being gone already, the
// others were, and the error is a *reconcile.GoneError naming those
// (goneFromMove). With MOVE it is
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
	var gone error
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
				if len(moved) > 0 {
					gone = s.goneFromMove(mailbox, uids, moved, nil)
				}
				return nil
			}
			res, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
			if err != nil {
				return fmt.Errorf("moved, but could not check that the originals are gone: %w", err)
			}
			left := res.AllUIDs()
			if err := s.expungeLeftovers(mailbox, dest, left); err != nil {
				return err
			}
			if len(moved) > 0 || s.caps.Has(imap.CapUIDPlus) {
				gone = s.goneFromMove(mailbox, uids, moved, left)
			}
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
		if _, err := s.deleteAndExpunge(set, 0, mailbox); err != nil {
			return fmt.Errorf("copied, but could not remove the originals: %w", err)
		}
		if s.caps.Has(imap.CapUIDPlus) {
			gone = s.goneFromMove(mailbox, uids, moved, nil)
		}
		return nil
	})
	if moved == nil {
		moved = map[reconcile.UID]reconcile.UID{}
	}
	if err == nil {
		err = gone
	}
	return moved, err
}

// goneFromMove returns a *reconcile.GoneError for the UIDs of a move
// that were not moved, as the server's COPYUID (moved) tells, nor left
// in the source (left, where a search looked): gone before the move, as
// a user removed them meanwhile; nil where there are none. A server
// takes a UID MOVE or COPY of a UID that is gone without a word;
// recorded as moved, the message would read as deleted on this side by
// the next run, which would remove the other side's copy too. Only for
// a server with UIDPLUS, whose COPYUID names every message it copied.
func (s *Store) goneFromMove(mailbox string, uids []reconcile.UID, moved map[reconcile.UID]reconcile.UID, left []imap.UID) error {
	var missing []reconcile.UID
	for _, u := range uids {
		if _, ok := moved[u]; !ok && u != 0 && !slices.Contains(left, imap.UID(u)) {
			missing = append(missing, u)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return &reconcile.GoneError{Account: s.opts.Name, Mailbox: mailbox, UIDs: slices.Compact(missing)}
}

// MoveMessages implements reconcile.MoveBatcher: on one read-write
// selection of mailbox, one UID COPY per set, all sent before any
// answer is read (the SELECT's too where that is safe, see
// selectAhead); then, for the sets copied, one STORE \Deleted and one
// UID EXPUNGE, also sent together. A set whose COPY the server refuses
// stays where it was and fails alone.
//
// COPY and not MOVE, because the server may answer pipelined MOVEs
// with every COPYUID first and the tagged OKs after (Dovecot does):
// COPYUID comes untagged with MOVE, and go-imap beta.8 gives each
// untagged one to the oldest MOVE pending, so all but one set would
// lose their new UIDs. COPY's COPYUID comes with its tagged OK. A
// connection lost between the COPY and the EXPUNGE leaves a message in
// both folders; the next run finishes the move (reconcile expunges the
// original whatever the deletion policy, and pairs the copy).
//
// A single set, or a server without UIDPLUS (or not connected at the
// moment, as after a lost connection), goes as Move.
//
// Dovecot spends about 3 ms on a MOVE of a message or two, and a run
// that follows a user's filing moves a message or two from each folder
// to each of many: waiting for each answer before the next command
// added the round trip and mailtwin's turn to every one.
func (s *Store) MoveMessages(ctx context.Context, mailbox string, moves []reconcile.MoveSet) []reconcile.MoveResult {
	res := make([]reconcile.MoveResult, len(moves))
	if !s.Caps().Has(imap.CapUIDPlus) || len(moves) == 1 {
		for i, m := range moves {
			res[i].Moved, res[i].Err = s.Move(ctx, mailbox, m.UIDs, m.Dest)
		}
		return res
	}
	op := fmt.Sprintf("move from %q to %d folders", mailbox, len(moves))
	err := s.mutate(ctx, op, func() error {
		selected, err := s.selectAhead(mailbox)
		if err != nil {
			return err
		}
		cmds := make([]*imapclient.CopyCommand, len(moves))
		for i, m := range moves {
			if set := uidSet(m.UIDs); len(set) > 0 {
				cmds[i] = s.c.Copy(set, m.Dest)
			}
		}
		if err := selected(); err != nil {
			// Nothing was selected: the COPYs behind fail, unread.
			for _, c := range cmds {
				if c != nil {
					c.Wait()
				}
			}
			return err
		}
		var done imap.UIDSet
		for i, c := range cmds {
			if c == nil {
				continue
			}
			data, err := c.Wait()
			if err != nil {
				res[i].Err = fmt.Errorf("account %q: move from %q to %q: copy: %w", s.opts.Name, mailbox, moves[i].Dest, err)
				continue
			}
			res[i].Moved = pairUIDs(data.SourceUIDs, data.DestUIDs)
			if gone := s.goneFromMove(mailbox, moves[i].UIDs, res[i].Moved, nil); gone != nil {
				res[i].Err = gone
			}
			done = append(done, uidSet(moves[i].UIDs)...)
		}
		if len(done) == 0 {
			return nil
		}
		// Checked as every UID EXPUNGE is (expungeVerified): an
		// original a server keeps would be taken by the next run for a
		// copy its user made.
		ex := s.sendExpunge(done, 0)
		err = ex.wait()
		if err == nil {
			_, err = s.expungeVerified(ex, mailbox)
		}
		if err != nil {
			return fmt.Errorf("copied, but could not remove the originals: %w", err)
		}
		return nil
	})
	for i := range res {
		var gone *reconcile.GoneError
		if err != nil && (res[i].Err == nil || errors.As(res[i].Err, &gone)) {
			// The SELECT, the connection or the context, or the
			// originals of the sets copied could not be removed.
			res[i].Err = err
		}
		if res[i].Moved == nil || res[i].Err != nil && !errors.As(res[i].Err, &gone) {
			res[i].Moved = map[reconcile.UID]reconcile.UID{}
		}
	}
	return res
}

var _ reconcile.MoveBatcher = (*Store)(nil)

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
	if _, err := s.deleteAndExpunge(set, 0, mailbox); err != nil {
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
// UIDPLUS (verified, see expungeVerified), plain EXPUNGE otherwise
// (after checkOtherDeleted). With since (see guard), the mark is
// conditional, and changed is a *reconcile.ChangedError for the
// messages of mailbox it left unmarked, and so not expunged.
func (s *Store) deleteAndExpunge(set imap.UIDSet, since uint64, mailbox string) (changed, err error) {
	if s.caps.Has(imap.CapUIDPlus) {
		ex := s.sendExpunge(set, since)
		if err := ex.wait(); err != nil {
			return nil, err
		}
		return s.expungeVerified(ex, mailbox)
	}
	err = s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, storeSince(since)).Close()
	if err != nil {
		return nil, fmt.Errorf("store \\Deleted: %w", err)
	}
	if err := s.c.Expunge().Close(); err != nil {
		return nil, fmt.Errorf("expunge: %w", err)
	}
	if since == 0 {
		return nil, nil
	}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search what the expunge left: %w", err)
	}
	return s.changedError(mailbox, data.AllUIDs()), nil
}

// storeSince is the options of a STORE with UNCHANGEDSINCE since, nil
// for 0.
func storeSince(since uint64) *imap.StoreOptions {
	if since == 0 {
		return nil
	}
	return &imap.StoreOptions{UnchangedSince: since}
}

// changedError is a *reconcile.ChangedError for uids of mailbox, nil for
// none.
func (s *Store) changedError(mailbox string, uids []imap.UID) error {
	if len(uids) == 0 {
		return nil
	}
	out := make([]reconcile.UID, len(uids))
	for i, u := range uids {
		out[i] = reconcile.UID(u)
	}
	slices.Sort(out)
	return &reconcile.ChangedError{Account: s.opts.Name, Mailbox: mailbox, UIDs: slices.Compact(out)}
}

// expungeSent is a UID EXPUNGE of set, sent with the STORE \Deleted
// before it, before either answer.
type expungeSent struct {
	set   imap.UIDSet
	want  int    // messages in set
	since uint64 // the STORE's UNCHANGEDSINCE, 0 for none
	mark  *imapclient.FetchCommand
	exp   *imapclient.ExpungeCommand
	// got is the number of EXPUNGE responses to the UID EXPUNGE, after
	// wait.
	got int
}

// sendExpunge sends the STORE \Deleted and the UID EXPUNGE of set (the
// server has UIDPLUS), the STORE with UNCHANGEDSINCE since unless it is
// 0 (see guard); wait reads their answers.
func (s *Store) sendExpunge(set imap.UIDSet, since uint64) *expungeSent {
	want := 0
	for _, r := range set {
		want += int(r.Stop-r.Start) + 1
	}
	return &expungeSent{
		set:   set,
		want:  want,
		since: since,
		mark:  s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, storeSince(since)),
		exp:   s.c.UIDExpunge(set),
	}
}

// wait reads the answers and returns the STORE's or the UID EXPUNGE's
// error. The UID EXPUNGE went even where the STORE failed: it removes
// only those of set that carry \Deleted.
func (e *expungeSent) wait() error {
	var err error
	if e2 := e.mark.Close(); e2 != nil {
		err = fmt.Errorf("store \\Deleted: %w", e2)
	}
	seqs, e2 := e.exp.Collect()
	e.got = len(seqs)
	if e2 != nil && err == nil {
		err = fmt.Errorf("expunge: %w", e2)
	}
	return err
}

// discard reads the answers of commands that cannot have done anything
// (the SELECT before them failed).
func (e *expungeSent) discard() {
	e.mark.Close()
	e.exp.Close()
}

// expungeVerified makes sure the expunge e sent removed its messages. A
// server may answer a UID EXPUNGE with OK and keep them: Dovecot 2.3.19
// does, for a UID EXPUNGE sent in one go behind a STORE that adds a
// keyword the mailbox has not had (the STORE \Deleted takes; the
// EXPUNGE removes nothing). Recorded as gone, such a message would be
// taken for new mail by the next run and copied back to the side whose
// user deleted it. So where the server sent fewer EXPUNGE responses
// than e asked to remove, a UID SEARCH tells which are still there
// (some may have gone before, by another client's hand); those are
// marked and expunged once more, apart from anything else, and what the
// server keeps even then fails the expunge: the state keeps the
// messages, and the next run tries again.
//
// The search is not sent along with the UID EXPUNGE, to save its round
// trip: Dovecot runs a UID SEARCH sent so beside the EXPUNGE and
// answers it first, from before the expunge.
//
// Where the STORE \Deleted was conditional (e.since), a message left
// without \Deleted is one someone changed since: not a server's slip,
// but the guard at work. It is not marked again; changed is a
// *reconcile.ChangedError naming those of mailbox.
func (s *Store) expungeVerified(e *expungeSent, mailbox string) (changed, err error) {
	if e.got >= e.want {
		return nil, nil
	}
	remaining := func(c imap.SearchCriteria) ([]imap.UID, error) {
		data, err := s.c.UIDSearch(&c, nil).Wait()
		if err != nil {
			return nil, fmt.Errorf("search what the expunge left: %w", err)
		}
		return data.AllUIDs(), nil
	}
	left, err := remaining(imap.SearchCriteria{UID: []imap.UIDSet{e.set}})
	if err != nil || len(left) == 0 {
		return nil, err
	}
	if e.since != 0 {
		unmarked, err := remaining(imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(left...)}, NotFlag: []imap.Flag{imap.FlagDeleted}})
		if err != nil {
			return nil, err
		}
		changed = s.changedError(mailbox, unmarked)
		left = slices.DeleteFunc(left, func(u imap.UID) bool { return slices.Contains(unmarked, u) })
		if len(left) == 0 {
			return changed, nil
		}
	}
	again := s.sendExpunge(imap.UIDSetNum(left...), 0)
	if err := again.wait(); err != nil || again.got >= again.want {
		return changed, err
	}
	if left, err = remaining(imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(left...)}}); err != nil || len(left) == 0 {
		return changed, err
	}
	return changed, fmt.Errorf("the server answered UID EXPUNGE with OK but kept %d message(s), UID %v: the next run tries again; if they stay, delete them with a mail client: the run meant to remove them", len(left), imap.UIDSetNum(left...))
}
