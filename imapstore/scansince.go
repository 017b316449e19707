package imapstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// ScanSince fills f, as listed by List, with what Scan would, reading
// only what changed since k (see reconcile.IncrementalScanner):
//
//   - nothing at all when the listing's UIDVALIDITY, UIDNEXT,
//     HIGHESTMODSEQ and MESSAGES say the folder is as k left it: no
//     SELECT, no FETCH;
//   - otherwise SELECT (EXAMINE on a read-only Store; see permanent),
//     then the messages from k.UIDNext on (as Scan reads them), the
//     flags of older messages changed since
//     k.HighestModSeq (FETCH CHANGEDSINCE), and, only when the count
//     says some of k's messages are gone, which are left (UID SEARCH).
//
// It reads the folder whole, as Scan, when the server has no CONDSTORE,
// k has no mod-sequence, UIDVALIDITY changed, HIGHESTMODSEQ went below
// k's, or the server shows a message below k.UIDNext that k does not
// know.
func (s *Store) ScanSince(ctx context.Context, f *reconcile.Folder, k reconcile.Known) error {
	_, err := s.scanSince(ctx, f, k, nil)
	return err
}

// ReadThenScanSince implements reconcile.ReadAheadScanner. Where r's
// mailbox is the one selected (the folder scanned last), its UID FETCH
// goes out right before the SELECT of f and the commands that go with
// it, and its answer is read first: one round trip for both. Bodies the
// server answers without their INTERNALDATE first are left out, as a
// second FETCH would go to f. Otherwise r is read first, as Fetch would.
func (s *Store) ReadThenScanSince(ctx context.Context, r reconcile.BodyRead, f *reconcile.Folder, k reconcile.Known) (readErr, scanErr error) {
	return s.scanSince(ctx, f, k, &r)
}

var _ reconcile.ReadAheadScanner = (*Store)(nil)

// scanSince is ScanSince, after reading r where r is not nil (see
// ReadThenScanSince).
func (s *Store) scanSince(ctx context.Context, f *reconcile.Folder, k reconcile.Known, r *reconcile.BodyRead) (readErr, scanErr error) {
	// readFirst reads r on its own, before a scan that does not go
	// through the SELECT below.
	readFirst := func() error {
		if r == nil || len(r.UIDs) == 0 {
			return nil
		}
		rr := r
		r = nil
		return s.Fetch(ctx, rr.Mailbox, rr.UIDs, rr.Fn)
	}
	// A HIGHESTMODSEQ below the point's breaks RFC 7162 (a server whose
	// index was rebuilt may do it): changes since would go unseen.
	usable := s.caps.Has(imap.CapCondStore) && k.HighestModSeq != 0 && k.UIDValidity != 0 && k.UIDNext > 0 &&
		f.UIDValidity == k.UIDValidity && f.HighestModSeq >= k.HighestModSeq
	if !usable {
		readErr = readFirst()
		return readErr, s.Scan(ctx, f)
	}
	// k.Messages is ours (see reconcile.IncrementalScanner), sorted by
	// UID, and normally all below k.UIDNext: it is used as it is, not
	// copied (100,000 messages in a no-op run at scale).
	old := k.Messages
	if n := len(old); n > 0 && old[n-1].UID >= k.UIDNext {
		old = make([]reconcile.Message, 0, len(k.Messages))
		for _, m := range k.Messages {
			if m.UID < k.UIDNext {
				old = append(old, m)
			}
		}
	}
	if f.HighestModSeq == k.HighestModSeq && f.UIDNext == k.UIDNext && f.NumMessages == len(old) {
		f.Messages = old
		return readFirst(), nil
	}
	scanErr = s.run(ctx, fmt.Sprintf("scan %q", f.Mailbox), func() error {
		var ahead *imapclient.FetchCommand
		if r != nil {
			if set := uidSet(r.UIDs); len(set) > 0 && s.sel.name == r.Mailbox {
				ahead = s.sendBodyFetch(set, true)
			} else if len(set) > 0 {
				// A read that fails leaves the scan to find out whether
				// the connection still works.
				readErr = s.readError(r.Mailbox, s.fetchIn(ctx, r.Mailbox, set, r.Fn))
			}
		}
		next, modseq := k.UIDNext, k.HighestModSeq
		// What the listing says changed is asked for with the SELECT,
		// before its answer: one round trip, not four. If the SELECT
		// fails no mailbox is selected, the other commands fail with it,
		// and their answers are not used.
		var pre scanCmds
		s.sel = s.sel.failing()
		sel := s.c.Select(f.Mailbox, &imap.SelectOptions{ReadOnly: s.opts.ReadOnly, CondStore: true})
		if f.HighestModSeq > modseq && next > 1 && len(old) > 0 {
			pre.changed = s.fetchChanged(next, modseq)
		}
		if f.UIDNext > next && f.NumMessages > 0 {
			pre.fresh = s.sendScanFetch(imap.UID(next))
		}
		if next > 1 && f.UIDNext >= next && int(f.NumMessages) < len(old)+int(f.UIDNext-next) {
			pre.search = s.searchBelow(next)
		}
		if ahead != nil {
			// Its answer comes first, and go-imap's reader hands it
			// over before it reads on.
			_, err := s.readBodies(ctx, ahead, nil, map[imap.UID]bool{}, r.Fn)
			readErr = s.readError(r.Mailbox, err)
		}
		data, err := sel.Wait()
		if err != nil {
			pre.drain()
			return fmt.Errorf("%s: %w", map[bool]string{true: "examine", false: "select"}[s.opts.ReadOnly], err)
		}
		s.sel = selection{name: f.Mailbox, readOnly: s.opts.ReadOnly, data: *data}
		f.Permanent = s.permanent(data)
		f.UIDValidity, f.UIDNext, f.HighestModSeq = data.UIDValidity, reconcile.UID(data.UIDNext), data.HighestModSeq
		if data.UIDValidity != k.UIDValidity || data.HighestModSeq < k.HighestModSeq {
			pre.drain()
			return s.scanAll(f, data)
		}
		msgs, whole, err := s.scanChanges(data, next, modseq, old, &pre)
		if err != nil {
			return err
		}
		if whole {
			return s.scanAll(f, data)
		}
		setMessages(f, msgs)
		return nil
	})
	return readErr, scanErr
}

// readError is err of a read of mailbox's bodies within a scan, as
// Fetch would return it: an error of the callback as it is, any other
// with the account and the mailbox.
func (s *Store) readError(mailbox string, err error) error {
	var cb *callbackError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cb):
		return cb.err
	}
	return fmt.Errorf("account %q: fetch from %q: %w", s.opts.Name, mailbox, err)
}

// scanCmds are the commands ScanSince sends with its EXAMINE, on the
// listing's word; nil where it sent none. Their answers come in the
// order they were sent, and are read in that order.
type scanCmds struct {
	changed, fresh *imapclient.FetchCommand
	search         *imapclient.SearchCommand
}

// drain reads and drops the answers not read yet. The two FETCHes are
// read at once: Dovecot may interleave their answers (see scanChanges).
func (c *scanCmds) drain() {
	var wg sync.WaitGroup
	if f := c.fresh; f != nil {
		wg.Go(func() { f.Close() })
	}
	if c.changed != nil {
		c.changed.Close()
	}
	wg.Wait()
	if c.search != nil {
		c.search.Wait()
	}
	*c = scanCmds{}
}

// fetchChanged sends a FETCH of the flags of the messages below next
// changed since modseq.
func (s *Store) fetchChanged(next reconcile.UID, modseq uint64) *imapclient.FetchCommand {
	return s.c.Fetch(imap.UIDSet{{Start: 1, Stop: imap.UID(next - 1)}}, &imap.FetchOptions{
		UID: true, Flags: true, ChangedSince: modseq,
	})
}

// searchBelow sends a UID SEARCH for the messages below next.
func (s *Store) searchBelow(next reconcile.UID) *imapclient.SearchCommand {
	return s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 1, Stop: imap.UID(next - 1)}}}}, nil)
}

// scanChanges reads what changed in the selected mailbox since old (the
// messages below next, with their flags at modseq): it returns the
// messages now, or whole when old does not describe the mailbox and it
// must be read whole. It reads the answers of pre, and sends what the
// EXAMINE's answer says is needed and pre lacks.
func (s *Store) scanChanges(data *imap.SelectData, next reconcile.UID, modseq uint64, old []reconcile.Message, pre *scanCmds) (msgs []reconcile.Message, whole bool, err error) {
	defer pre.drain()
	needChanged := data.HighestModSeq > modseq && next > 1 && len(old) > 0
	needFresh := reconcile.UID(data.UIDNext) > next && data.NumMessages > 0
	if needChanged != (pre.changed != nil) || needFresh != (pre.fresh != nil) {
		// The folder changed after it was listed: what went with the
		// EXAMINE is not what is needed. Ask again.
		pre.drain()
	}
	byUID := make(map[reconcile.UID]int, len(old))
	for i, m := range old {
		byUID[m.UID] = i
	}
	// Dovecot runs pipelined FETCHes at once and may interleave their
	// answers: a new message's header (a literal, which the reader hands
	// over only when it is read) can come before the last changed flags.
	// With both sent, the new messages are read at the same time.
	type freshResult struct {
		msgs []reconcile.Message
		err  error
	}
	var freshDone chan freshResult
	if needChanged && needFresh && pre.changed != nil && pre.fresh != nil {
		cmd := pre.fresh
		pre.fresh = nil
		freshDone = make(chan freshResult, 1)
		go func() {
			m, err := s.readScanFetch(cmd, nil, imap.UID(next))
			freshDone <- freshResult{m, err}
		}()
		defer func() {
			if freshDone != nil {
				<-freshDone
			}
		}()
	}
	if cmd := pre.changed; needChanged {
		pre.changed = nil
		if cmd == nil {
			cmd = s.fetchChanged(next, modseq)
		}
		for m := cmd.Next(); m != nil; m = cmd.Next() {
			r, err := readScanItems(m)
			if err != nil {
				cmd.Close()
				return nil, false, err
			}
			if r.uid == 0 || reconcile.UID(r.uid) >= next || !r.hasFlags {
				continue
			}
			i, ok := byUID[reconcile.UID(r.uid)]
			if !ok {
				whole = true
				continue
			}
			old[i].Flags = reconcile.NewFlags(r.flags...)
		}
		if err := cmd.Close(); err != nil {
			return nil, false, err
		}
		if whole {
			return nil, true, nil
		}
	}
	var fresh []reconcile.Message
	if freshDone != nil {
		r := <-freshDone
		freshDone = nil
		if r.err != nil {
			return nil, false, r.err
		}
		fresh = r.msgs
	} else if needFresh {
		cmd := pre.fresh
		pre.fresh = nil
		if cmd == nil {
			cmd = s.sendScanFetch(imap.UID(next))
		}
		fresh, err = s.readScanFetch(cmd, nil, imap.UID(next))
		if err != nil {
			return nil, false, err
		}
	}
	kept := old
	search := pre.search
	pre.search = nil
	if int(data.NumMessages)-len(fresh) == len(old) {
		if search != nil {
			search.Wait()
		}
	} else {
		if next <= 1 {
			if search != nil {
				search.Wait()
			}
			return nil, true, nil
		}
		if search == nil {
			search = s.searchBelow(next)
		}
		res, err := search.Wait()
		if err != nil {
			return nil, false, fmt.Errorf("search: %w", err)
		}
		there := map[reconcile.UID]bool{}
		for _, u := range res.AllUIDs() {
			if _, ok := byUID[reconcile.UID(u)]; !ok {
				return nil, true, nil
			}
			there[reconcile.UID(u)] = true
		}
		kept = slices.DeleteFunc(slices.Clone(old), func(m reconcile.Message) bool { return !there[m.UID] })
		if len(kept)+len(fresh) != int(data.NumMessages) {
			// Changed while we looked: read it whole.
			return nil, true, nil
		}
	}
	return append(kept, fresh...), false, nil
}
