package imapstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// StoreFlags adds and removes flags on uids of mailbox (UID STORE
// +FLAGS.SILENT and -FLAGS.SILENT, pipelined). A UID that no longer
// exists is ignored by the server; a UID SEARCH after the STOREs tells
// which those are, and they are returned as a *reconcile.GoneError.
func (s *Store) StoreFlags(ctx context.Context, mailbox string, uids []reconcile.UID, add, remove reconcile.Flags) error {
	set := uidSet(uids)
	if len(set) == 0 || (len(add) == 0 && len(remove) == 0) {
		return nil
	}
	var gone error
	err := s.mutate(ctx, fmt.Sprintf("store flags in %q", mailbox), func() error {
		if _, err := s.selectMailbox(mailbox, true, false); err != nil {
			return err
		}
		var cmds []*imapclient.FetchCommand
		if len(add) > 0 {
			cmds = append(cmds, s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: imapFlags(add)}, nil))
		}
		if len(remove) > 0 {
			cmds = append(cmds, s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: imapFlags(remove)}, nil))
		}
		noop := s.c.Noop()
		var first error
		for _, c := range cmds {
			if err := c.Close(); err != nil && first == nil {
				first = err
			}
		}
		if first != nil {
			noop.Wait()
			return lasting(first)
		}
		gone, _, first = s.goneAfterStore(noop, mailbox, set, nil)
		return first
	})
	return cmp.Or(err, gone)
}

// goneAfterStore tells which UIDs of set, a change's, are no longer in
// the selected mailbox once its STOREs were answered, with a UID SEARCH
// sent once noop, sent behind the STOREs, is answered: the NOOP has the
// server bring the selection up to date with what other sessions
// expunged, which Dovecot's SEARCH does not see before; and Dovecot
// runs a SEARCH sent behind other commands beside them, not after. It
// returns a *reconcile.GoneError naming the UIDs not found (nil if
// none), or the NOOP's or the SEARCH's error. (A SEARCH, not a FETCH:
// go-imap hands an untagged FETCH to the first pending command whose
// UIDs it names, and Dovecot sends a STORE's MODSEQ update late, so a
// FETCH's answer may go to a STORE.)
//
// Where check is not nil, the check after the run of the mailbox goes
// with the SEARCH (checkOnSelection), and obs is what it read, nil
// where that was not enough or failed.
func (s *Store) goneAfterStore(noop *imapclient.Command, mailbox string, set imap.UIDSet, check *reconcile.ScanPointRequest) (gone error, obs *reconcile.ScanPointObservation, err error) {
	if err := noop.Wait(); err != nil {
		return nil, nil, fmt.Errorf("noop after the store: %w", err)
	}
	search := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil)
	var read func() (*reconcile.ScanPointObservation, error)
	if check != nil {
		read = s.checkOnSelection(*check)
	}
	data, err := search.Wait()
	if read != nil {
		// A check that failed is not the changes' failure: the check
		// after the run reads the folder again (and finds the
		// connection lost, if it was).
		if o, rerr := read(); rerr == nil {
			obs = o
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("search the changed messages' UIDs: %w", err)
	}
	held := make(map[imap.UID]bool)
	for _, u := range data.AllUIDs() {
		held[u] = true
	}
	var missing []reconcile.UID
	for _, r := range set {
		for u := r.Start; ; u++ {
			if !held[u] {
				missing = append(missing, reconcile.UID(u))
			}
			if u == r.Stop {
				break
			}
		}
	}
	if len(missing) == 0 {
		return nil, obs, nil
	}
	slices.Sort(missing)
	return &reconcile.GoneError{Account: s.opts.Name, Mailbox: mailbox, UIDs: missing}, nil, nil
}

// ChangeMessages implements reconcile.ChangeBatcher: on one read-write
// selection of mailbox, the flag changes go as one UID STORE
// +FLAGS.SILENT or -FLAGS.SILENT per flag, over every UID that flag is
// added to or removed from (flags are independent of each other, so
// setting one at a time is the same as setting them together), and the
// expunge as Expunge's STORE \Deleted and UID EXPUNGE; all of them are
// sent before any answer is read, one round trip where they used to
// take four, the SELECT's included where that is safe (see
// selectAhead).
//
// Without UIDPLUS the expunge waits for the flags, and goes as Expunge
// does (a plain EXPUNGE, after checking that no other message is
// \Deleted). With unchangedSince the expunge is guarded as
// ExpungeUnchangedSince's: expungeErr is then a *reconcile.ChangedError
// where only messages changed since were left.
func (s *Store) ChangeMessages(ctx context.Context, mailbox string, changes []reconcile.FlagChange, expunge []reconcile.UID, unchangedSince uint64) (flagsErr, expungeErr error) {
	order, sets := flagSets(changes)
	del := uidSet(expunge)
	if len(order) == 0 && len(del) == 0 {
		return nil, nil
	}
	op := fmt.Sprintf("store flags in %q", mailbox)
	switch {
	case len(order) == 0:
		op = fmt.Sprintf("expunge from %q", mailbox)
	case len(del) > 0:
		op = fmt.Sprintf("store flags in and expunge from %q", mailbox)
	}
	var changed imap.UIDSet
	for _, k := range order {
		changed.AddSet(*sets[k])
	}
	var fe, ee, gone, kept error
	err := s.mutate(ctx, op, func() error {
		check := s.expect
		s.expect = nil
		if check != nil && (check.Mailbox != mailbox || s.expectOp+1 != s.ops || !s.caps.Has(imap.CapCondStore)) {
			check = nil
		}
		since := s.guard(unchangedSince)
		selected, err := s.selectAhead(mailbox)
		if err != nil {
			return err
		}
		// The expunge goes first: Dovecot 2.3 answers a UID EXPUNGE sent
		// right behind a STORE that adds a keyword new to the mailbox
		// with OK and expunges nothing (see expungeVerified).
		var ex *expungeSent
		if len(del) > 0 && s.caps.Has(imap.CapUIDPlus) {
			ex = s.sendExpunge(del, since)
		}
		cmds := make([]*imapclient.FetchCommand, 0, len(order))
		for _, k := range order {
			op := imap.StoreFlagsDel
			if k.add {
				op = imap.StoreFlagsAdd
			}
			cmds = append(cmds, s.c.Store(*sets[k], &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.Flag(k.flag)}}, nil))
		}
		// Behind the STOREs, a NOOP, and once it is answered a SEARCH
		// of which messages are still there: a STORE on a UID gone
		// meanwhile is taken without a word (goneAfterStore).
		var noop *imapclient.Command
		if len(changed) > 0 {
			noop = s.c.Noop()
		}
		if err := selected(); err != nil {
			// Nothing was selected: the commands behind fail, unread.
			if ex != nil {
				ex.discard()
			}
			for _, c := range cmds {
				c.Close()
			}
			if noop != nil {
				noop.Wait()
			}
			return err
		}
		if ex != nil {
			ee = ex.wait()
		}
		for _, c := range cmds {
			if err := c.Close(); err != nil && fe == nil {
				fe = lasting(err)
			}
		}
		var obs *reconcile.ScanPointObservation
		if noop != nil {
			if fe == nil {
				gone, obs, fe = s.goneAfterStore(noop, mailbox, changed, check)
			} else {
				noop.Wait()
			}
		}
		if obs != nil && ee == nil && (len(del) == 0 || ex != nil && ex.got >= ex.want) {
			// Nothing is sent after it: no expunge, or one that went
			// before it and took every message (expungeVerified then
			// sends nothing). Without UIDPLUS the expunge goes after
			// (deleteAndExpunge), and the check read before it is
			// stale.
			s.ahead = &checkAhead{op: s.ops, req: *check, obs: *obs}
		}
		switch {
		case ex != nil:
			if ee == nil {
				kept, ee = s.expungeVerified(ex, mailbox)
			}
		case len(del) > 0:
			ee = s.checkOtherDeleted(del)
			if ee == nil {
				kept, ee = s.deleteAndExpunge(del, since, mailbox)
			}
		}
		return cmp.Or(fe, ee)
	})
	if err == nil {
		return gone, kept
	}
	if fe == nil && ee == nil || ctx.Err() != nil {
		// The SELECT, the connection or the context: both failed.
		return err, err
	}
	wrap := func(e error, op string) error {
		if e == nil {
			return nil
		}
		return fmt.Errorf("account %q: %s %q: %w", s.opts.Name, op, mailbox, e)
	}
	return cmp.Or(wrap(fe, "store flags in"), gone), cmp.Or(wrap(ee, "expunge from"), kept)
}

// flagKey is one flag, to add or to remove.
type flagKey struct {
	flag string
	add  bool
}

// flagSets regroups changes by flag: the UIDs each flag is added to or
// removed from, in the order the flags first appear.
func flagSets(changes []reconcile.FlagChange) ([]flagKey, map[flagKey]*imap.UIDSet) {
	sets := map[flagKey]*imap.UIDSet{}
	var order []flagKey
	for _, c := range changes {
		for _, side := range []struct {
			flags reconcile.Flags
			add   bool
		}{{c.Add, true}, {c.Remove, false}} {
			for _, f := range side.flags {
				k := flagKey{f, side.add}
				set, ok := sets[k]
				if !ok {
					set = &imap.UIDSet{}
					sets[k] = set
					order = append(order, k)
				}
				for _, u := range c.UIDs {
					if u != 0 {
						set.AddNum(imap.UID(u))
					}
				}
			}
		}
	}
	return order, sets
}

var _ reconcile.ChangeBatcher = (*Store)(nil)

// selectAhead makes mailbox the selected one, read-write, for commands
// that change it, and returns the wait for the SELECT's answer: the
// commands may be sent before it comes. That is safe only where a
// SELECT that fails leaves nothing selected, which RFC 3501 asks of a
// server but one may not do (and keep the mailbox selected before):
// so where another mailbox is selected (or may be: see selection), an
// UNSELECT goes first, and
// without UNSELECT the SELECT is answered before selectAhead returns.
// Where mailbox is selected already nothing is sent.
func (s *Store) selectAhead(mailbox string) (wait func() error, err error) {
	done := func() error { return nil }
	if s.isSelected(mailbox, true) {
		return done, nil
	}
	if s.sel.name != "" || s.sel.unsure {
		if !s.caps.Has(imap.CapUnselect) {
			_, err := s.selectMailbox(mailbox, true, true)
			return done, err
		}
		// Its answer does not matter: the SELECT's does.
		s.c.Unselect()
	}
	s.sel = selection{}
	cmd := s.c.Select(mailbox, &imap.SelectOptions{CondStore: s.caps.Has(imap.CapCondStore)})
	return func() error {
		data, err := cmd.Wait()
		if err != nil {
			return fmt.Errorf("select: %w", err)
		}
		s.sel = selection{name: mailbox, data: *data}
		return nil
	}, nil
}
