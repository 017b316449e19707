package imapstore

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// AdvanceScanPoint checks, after a run changed mailbox, that the run's
// own changes are all that changed it since k's point, and if so returns
// the mailbox's UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ now (point's
// Messages are left nil): the next run's scan point,
// past the run's own APPENDs, MOVEs and STOREs (see
// reconcile.ScanPointAdvancer). k.Messages are every message the run
// left there, with its flags.
//
// One EXAMINE and one FETCH of the flags changed since k's point, sent
// together: the count must equal k's, and every message changed since
// must be one of k's with k's flags. With no point in k (a folder the run created, or
// one the state did not trust), the FETCH reads every message's flags,
// which must be exactly k's. Anything else, or no CONDSTORE: ok is
// false, and k's point (if any) stays the one to scan from.
//
// A k with no UIDVALIDITY (a folder the run created and copied nothing
// into) takes the folder's.
func (s *Store) AdvanceScanPoint(ctx context.Context, mailbox string, k reconcile.Known) (point reconcile.Known, ok bool, err error) {
	if !s.caps.Has(imap.CapCondStore) || k.UIDValidity == 0 && k.HighestModSeq != 0 {
		return reconcile.Known{}, false, nil
	}
	err = s.run(ctx, fmt.Sprintf("check %q after the run", mailbox), func() error {
		want := make(map[imap.UID]reconcile.Flags, len(k.Messages))
		for _, m := range k.Messages {
			want[imap.UID(m.UID)] = m.Flags
		}
		// The EXAMINE and the FETCH go out together, one round trip: the
		// FETCH does not depend on the EXAMINE's answer (a FETCH
		// CHANGEDSINCE of a folder nobody changed answers nothing), and
		// if the EXAMINE fails no mailbox is selected, so the FETCH
		// fails too and its answer is not used.
		s.sel = selection{}
		sel := s.c.Select(mailbox, &imap.SelectOptions{ReadOnly: true, CondStore: true})
		var cmd *imapclient.FetchCommand
		if len(want) > 0 {
			// ChangedSince 0 is left out: every message.
			cmd = s.c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: k.HighestModSeq})
		}
		data, err := sel.Wait()
		if err != nil {
			if cmd != nil {
				cmd.Close()
			}
			return fmt.Errorf("examine: %w", err)
		}
		s.sel = selection{name: mailbox, readOnly: true, data: *data}
		if k.UIDValidity != 0 && data.UIDValidity != k.UIDValidity || data.HighestModSeq == 0 || int(data.NumMessages) != len(k.Messages) {
			if cmd != nil {
				return cmd.Close()
			}
			return nil
		}
		seen := map[imap.UID]bool{}
		if cmd != nil {
			for m := cmd.Next(); m != nil; m = cmd.Next() {
				r, err := readScanItems(m)
				if err != nil {
					cmd.Close()
					return err
				}
				if r.uid == 0 {
					continue
				}
				fl, known := want[r.uid]
				if !known || !r.hasFlags || !fl.Equal(reconcile.NewFlags(r.flags...)) {
					seen = nil // changed by someone else: keep k's point
				} else if seen != nil {
					seen[r.uid] = true
				}
			}
			if err := cmd.Close(); err != nil {
				return err
			}
			if seen == nil {
				return nil
			}
		}
		// A message the run added has a mod-sequence above k's point, so
		// it was in the FETCH; one missing is not there. Without a
		// point, the FETCH had them all.
		for u := range want {
			if (k.HighestModSeq == 0 || reconcile.UID(u) >= k.UIDNext) && !seen[u] {
				return nil
			}
		}
		point = reconcile.Known{UIDValidity: data.UIDValidity, UIDNext: reconcile.UID(data.UIDNext), HighestModSeq: data.HighestModSeq}
		ok = true
		return nil
	})
	if err != nil {
		return reconcile.Known{}, false, err
	}
	return point, ok, nil
}
