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
// The first request's mailbox, where it is the one selected already
// (the folder the run has just changed on this connection), is not
// opened again: a NOOP brings the selection up to date with what other
// sessions did, and a STATUS of it then gives its point, as the
// EXAMINE would. Dovecot answers both from the open mailbox, where an
// EXAMINE would read the Maildir and its indexes anew. The STATUS is
// sent before the FETCH, so the point is never later than what the
// FETCH reads, as with the EXAMINE.
//
// RFC 3501 and RFC 9051 say a client SHOULD NOT ask the STATUS of the
// selected mailbox, because the server may open it again to answer and
// because the selection tells the same by other means; RFC 9051 adds
// that a server MUST answer it. Neither reason holds here: Dovecot does
// not open it again, and with CONDSTORE but not QRESYNC nothing else
// tells a client the HIGHESTMODSEQ after an expunge or the UIDNEXT
// after another session's APPEND. Dovecot answers it with OK
// [CLIENTBUG], which a -vv trace shows.
//
// It leaves the last mailbox it EXAMINEs selected read-only, or the
// selection as it was where it EXAMINEs none.
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
			sel    *imapclient.SelectCommand // or
			status *imapclient.StatusCommand // on the selection
			fetch  *imapclient.FetchCommand
		}
		cmds := make([]sent, len(reqs))
		onSelection := s.isSelected(reqs[0].Mailbox, false)
		if onSelection {
			// The NOOP brings the selection up to date first:
			// Dovecot answers a STATUS of the selected mailbox from
			// the session's view of it, which has not seen what other
			// sessions did since its last command. Its answer is
			// waited for because Dovecot runs a NOOP and a STATUS
			// sent together at once, and brings the view up to date
			// only after both.
			if err := s.c.Noop().Wait(); err != nil {
				return fmt.Errorf("noop in %q: %w", reqs[0].Mailbox, err)
			}
		}
		if !onSelection || len(reqs) > 1 {
			s.sel = selection{}
		}
		for i, r := range reqs {
			if i == 0 && onSelection {
				cmds[i].status = s.c.Status(r.Mailbox, &imap.StatusOptions{UIDValidity: true, UIDNext: true, NumMessages: true, HighestModSeq: true})
			} else {
				cmds[i].sel = s.c.Select(r.Mailbox, &imap.SelectOptions{ReadOnly: true, CondStore: true})
			}
			// ChangedSince 0 is left out: every message.
			cmds[i].fetch = s.c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: r.Since.HighestModSeq})
		}
		var connErr error
		for i, c := range cmds {
			o := &obs[i]
			var numMessages uint32
			var err error
			if c.status != nil {
				var data *imap.StatusData
				if data, err = c.status.Wait(); err == nil {
					if data.NumMessages == nil || data.UIDValidity == 0 || data.UIDNext == 0 {
						// A point with a part missing is no point:
						// not Usable, and nothing wrong with the
						// connection.
						c.fetch.Close()
						continue
					}
					o.UIDValidity, o.UIDNext, o.HighestModSeq = data.UIDValidity, reconcile.UID(data.UIDNext), data.HighestModSeq
					numMessages = *data.NumMessages
				}
			} else {
				var data *imap.SelectData
				if data, err = c.sel.Wait(); err == nil {
					if i == len(cmds)-1 {
						s.sel = selection{name: reqs[i].Mailbox, readOnly: true, data: *data}
					}
					o.UIDValidity, o.UIDNext, o.HighestModSeq = data.UIDValidity, reconcile.UID(data.UIDNext), data.HighestModSeq
					numMessages = data.NumMessages
				}
			}
			if err != nil {
				c.fetch.Close()
				if !isRefusal(err) && connErr == nil {
					verb := "examine"
					if c.status != nil {
						verb = "status of"
					}
					connErr = fmt.Errorf("%s %q: %w", verb, reqs[i].Mailbox, err)
				}
				continue
			}
			o.NumMessages = int(numMessages)
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
				if numMessages != 0 {
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
