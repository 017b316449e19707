package imapstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// ObserveScanPoints implements reconcile.ScanPointAdvancer: for each
// request, one EXAMINE of its mailbox and one UID FETCH of the flags
// changed since its point (of every message when it has none). All of
// them are sent before any answer is read, one round trip for every
// folder: the server answers commands in order, so each FETCH reads
// the mailbox the EXAMINE before it opened, and a FETCH behind an
// EXAMINE that failed finds no mailbox selected and fails too (its
// answer is not used). Without CONDSTORE nothing is sent and no
// observation is Usable.
//
// It leaves the last mailbox selected read-only.
func (s *Store) ObserveScanPoints(ctx context.Context, reqs []reconcile.ScanPointRequest) ([]reconcile.ScanPointObservation, error) {
	obs := make([]reconcile.ScanPointObservation, len(reqs))
	for i, r := range reqs {
		obs[i].Since = reconcile.Known{UIDValidity: r.Since.UIDValidity, UIDNext: r.Since.UIDNext, HighestModSeq: r.Since.HighestModSeq}
	}
	if len(reqs) == 0 {
		return obs, nil
	}
	op := fmt.Sprintf("check %q after the run", reqs[0].Mailbox)
	if len(reqs) > 1 {
		op = fmt.Sprintf("check %d folders after the run", len(reqs))
	}
	err := s.run(ctx, op, func() error {
		if !s.caps.Has(imap.CapCondStore) {
			return nil
		}
		type sent struct {
			sel   *imapclient.SelectCommand
			fetch *imapclient.FetchCommand
		}
		cmds := make([]sent, len(reqs))
		s.sel = selection{}
		for i, r := range reqs {
			// ChangedSince 0 is left out: every message.
			cmds[i] = sent{
				sel:   s.c.Select(r.Mailbox, &imap.SelectOptions{ReadOnly: true, CondStore: true}),
				fetch: s.c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: r.Since.HighestModSeq}),
			}
		}
		var connErr error
		for i, c := range cmds {
			data, err := c.sel.Wait()
			if err != nil {
				c.fetch.Close()
				if !isRefusal(err) && connErr == nil {
					connErr = fmt.Errorf("examine %q: %w", reqs[i].Mailbox, err)
				}
				continue
			}
			if i == len(cmds)-1 {
				s.sel = selection{name: reqs[i].Mailbox, readOnly: true, data: *data}
			}
			o := &obs[i]
			o.UIDValidity, o.UIDNext, o.HighestModSeq = data.UIDValidity, reconcile.UID(data.UIDNext), data.HighestModSeq
			o.NumMessages = int(data.NumMessages)
			usable := true
			for m := c.fetch.Next(); m != nil; m = c.fetch.Next() {
				r, err := readScanItems(m)
				if err != nil {
					usable = false
					continue
				}
				if r.uid == 0 {
					continue
				}
				if !r.hasFlags {
					usable = false
				}
				o.Changed = append(o.Changed, reconcile.Message{UID: reconcile.UID(r.uid), Flags: reconcile.NewFlags(r.flags...)})
			}
			if err := c.fetch.Close(); err != nil {
				if data.NumMessages != 0 {
					usable = false
					if !isRefusal(err) && connErr == nil {
						connErr = fmt.Errorf("fetch from %q: %w", reqs[i].Mailbox, err)
					}
				}
				// An empty folder has no message 1: a server may refuse
				// the FETCH of 1:*, and there is nothing to read.
				o.Changed = nil
			}
			o.Usable = usable
		}
		return connErr
	})
	if err != nil {
		return nil, err
	}
	return obs, nil
}

// isRefusal reports whether err is the server's NO or BAD for one
// command, which leaves the connection usable.
func isRefusal(err error) bool {
	var ierr *imap.Error
	return errors.As(err, &ierr)
}
