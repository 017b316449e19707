package imapstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/reconcile"
)

// ScanSince fills f, as listed by List, with what Scan would, reading
// only what changed since k (see reconcile.IncrementalScanner):
//
//   - nothing at all when the listing's UIDVALIDITY, UIDNEXT,
//     HIGHESTMODSEQ and MESSAGES say the folder is as k left it: no
//     EXAMINE, no FETCH;
//   - otherwise EXAMINE, then the messages from k.UIDNext on (as Scan
//     reads them), the flags of older messages changed since
//     k.HighestModSeq (FETCH CHANGEDSINCE), and, only when the count
//     says some of k's messages are gone, which are left (UID SEARCH).
//
// It reads the folder whole, as Scan, when the server has no CONDSTORE,
// k has no mod-sequence, UIDVALIDITY changed, HIGHESTMODSEQ went below
// k's, or the server shows a message below k.UIDNext that k does not
// know.
func (s *Store) ScanSince(ctx context.Context, f *reconcile.Folder, k reconcile.Known) error {
	// A HIGHESTMODSEQ below the point's breaks RFC 7162 (a server whose
	// index was rebuilt may do it): changes since would go unseen.
	usable := s.caps.Has(imap.CapCondStore) && k.HighestModSeq != 0 && k.UIDValidity != 0 && k.UIDNext > 0 &&
		f.UIDValidity == k.UIDValidity && f.HighestModSeq >= k.HighestModSeq
	if !usable {
		return s.Scan(ctx, f)
	}
	old := make([]reconcile.Message, 0, len(k.Messages))
	for _, m := range k.Messages {
		if m.UID < k.UIDNext {
			old = append(old, m)
		}
	}
	if f.HighestModSeq == k.HighestModSeq && f.UIDNext == k.UIDNext && f.NumMessages == len(old) {
		f.Messages = old
		return nil
	}
	return s.run(ctx, fmt.Sprintf("scan %q", f.Mailbox), func() error {
		data, err := s.selectMailbox(f.Mailbox, false, true)
		if err != nil {
			return err
		}
		f.UIDValidity, f.UIDNext, f.HighestModSeq = data.UIDValidity, reconcile.UID(data.UIDNext), data.HighestModSeq
		if data.UIDValidity != k.UIDValidity || data.HighestModSeq < k.HighestModSeq {
			return s.scanAll(f, data)
		}
		msgs, whole, err := s.scanChanges(data, k.UIDNext, k.HighestModSeq, old)
		if err != nil {
			return err
		}
		if whole {
			return s.scanAll(f, data)
		}
		setMessages(f, msgs)
		return nil
	})
}

// scanChanges reads what changed in the selected mailbox since old (the
// messages below next, with their flags at modseq): it returns the
// messages now, or whole when old does not describe the mailbox and it
// must be read whole.
func (s *Store) scanChanges(data *imap.SelectData, next reconcile.UID, modseq uint64, old []reconcile.Message) (msgs []reconcile.Message, whole bool, err error) {
	byUID := make(map[reconcile.UID]int, len(old))
	for i, m := range old {
		byUID[m.UID] = i
	}
	if data.HighestModSeq > modseq && next > 1 && len(old) > 0 {
		cmd := s.c.Fetch(imap.UIDSet{{Start: 1, Stop: imap.UID(next - 1)}}, &imap.FetchOptions{
			UID: true, Flags: true, ChangedSince: modseq,
		})
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
	if reconcile.UID(data.UIDNext) > next && data.NumMessages > 0 {
		fresh, err = s.scanMessages(nil, imap.UID(next))
		if err != nil {
			return nil, false, err
		}
	}
	kept := old
	if int(data.NumMessages)-len(fresh) != len(old) {
		if next <= 1 {
			return nil, true, nil
		}
		res, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 1, Stop: imap.UID(next - 1)}}}}, nil).Wait()
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
