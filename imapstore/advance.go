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
// A single request for the mailbox selected already (the folder the
// run has just changed on this connection) does not open it again: a
// NOOP brings the selection up to date with what other sessions did,
// and a STATUS of it then gives its point, as the EXAMINE would, with
// the FETCH sent together with the STATUS, so that the point is never
// later than what the FETCH reads. Dovecot answers both from the open
// mailbox, where an EXAMINE reads the Maildir and its indexes anew.
// Where the server refuses the STATUS, or leaves a part of the point
// out, the mailbox is EXAMINEd after all. (With several requests the
// NOOP's round trip would cost more than the EXAMINE saves on a far
// server, and every mailbox is EXAMINEd.)
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
		s.expect = nil
		if len(reqs) == 1 {
			if o, ok := s.takeAhead(reqs[0]); ok {
				obs[0] = o
				return nil
			}
		}
		s.ahead = nil
		if !s.caps.Has(imap.CapCondStore) {
			return nil
		}
		if len(reqs) == 1 && s.isSelected(reqs[0].Mailbox, false) {
			done, err := s.observeOnSelection(reqs[0], &obs[0])
			if done || err != nil {
				return err
			}
		}
		return s.observeExamined(reqs, obs)
	})
	if err != nil {
		return nil, err
	}
	return obs, nil
}

// observeOnSelection is ObserveScanPoints for r's mailbox, the one
// selected, on its selection; done is false where the server refused
// the STATUS or left a part of the point out, and o is as it was.
func (s *Store) observeOnSelection(r reconcile.ScanPointRequest, o *reconcile.ScanPointObservation) (done bool, err error) {
	// The NOOP brings the selection up to date first: Dovecot answers
	// a STATUS of the selected mailbox from the session's view of it,
	// which has not seen what other sessions did since its last
	// command. Its answer is waited for because Dovecot runs a NOOP
	// and a STATUS sent together at once, and brings the view up to
	// date only after both.
	if err := s.c.Noop().Wait(); err != nil {
		return false, fmt.Errorf("noop in %q: %w", r.Mailbox, err)
	}
	read, err := s.checkOnSelection(r)()
	if err != nil || read == nil {
		return false, err
	}
	*o = *read
	return true, nil
}

// checkOnSelection sends the STATUS of r's mailbox, the one selected,
// and the UID FETCH of the flags changed since r's point, and returns
// the wait for their answers: the observation, nil where the server
// refused the STATUS or left a part of the point out, or the
// connection's error. The selection must be up to date with what the
// check is to see (observeOnSelection).
func (s *Store) checkOnSelection(r reconcile.ScanPointRequest) func() (*reconcile.ScanPointObservation, error) {
	status := s.c.Status(r.Mailbox, &imap.StatusOptions{UIDValidity: true, UIDNext: true, NumMessages: true, HighestModSeq: true})
	fetch := s.c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: r.Since.HighestModSeq})
	return func() (*reconcile.ScanPointObservation, error) {
		data, err := status.Wait()
		if err != nil || data.NumMessages == nil || data.UIDValidity == 0 || data.UIDNext == 0 || data.HighestModSeq == 0 {
			fetch.Close()
			if err != nil && !isRefusal(err) {
				return nil, fmt.Errorf("status of %q: %w", r.Mailbox, err)
			}
			return nil, nil
		}
		o := &reconcile.ScanPointObservation{
			Since:         reconcile.Known{UIDValidity: r.Since.UIDValidity, UIDNext: r.Since.UIDNext, HighestModSeq: r.Since.HighestModSeq},
			UIDValidity:   data.UIDValidity,
			UIDNext:       reconcile.UID(data.UIDNext),
			HighestModSeq: data.HighestModSeq,
			NumMessages:   int(*data.NumMessages),
		}
		if err := readChanged(fetch, r.Mailbox, o); err != nil {
			return nil, err
		}
		return o, nil
	}
}

// checkAhead is the check of a mailbox ChangeMessages read with its
// changes' last answers, where ExpectCheck announced it, in operation
// op of the Store.
type checkAhead struct {
	op  uint64
	req reconcile.ScanPointRequest
	obs reconcile.ScanPointObservation
}

// ExpectCheck implements reconcile.CheckAheadAdvancer. A
// ChangeMessages on r's mailbox that is the Store's next operation,
// where it changes flags, sends the check's STATUS and UID FETCH
// (checkOnSelection) with the UID SEARCH it sends once the NOOP behind
// its STOREs is answered: that NOOP
// brought the selection up to date, after every change the run made
// to the mailbox (as announced), and the SEARCH leaves it as it was.
// ObserveScanPoints of r alone, as the Store's next operation, then
// answers with what was read, and sends nothing. So the check costs
// no round trip of its own, where it took two (a NOOP, then the STATUS
// and the FETCH).
func (s *Store) ExpectCheck(r reconcile.ScanPointRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expect, s.expectOp = &r, s.ops
	s.ahead = nil
}

var _ reconcile.CheckAheadAdvancer = (*Store)(nil)

// takeAhead returns the check read ahead for r, where the operation
// before the current one read it and r's mailbox is still selected.
func (s *Store) takeAhead(r reconcile.ScanPointRequest) (reconcile.ScanPointObservation, bool) {
	a := s.ahead
	s.ahead = nil
	if a == nil || a.op != s.ops-1 || a.req.Mailbox != r.Mailbox || !sameKnown(a.req.Since, r.Since) || !s.isSelected(r.Mailbox, false) {
		return reconcile.ScanPointObservation{}, false
	}
	return a.obs, true
}

// sameKnown reports whether a and b are the same point.
func sameKnown(a, b reconcile.Known) bool {
	return a.UIDValidity == b.UIDValidity && a.UIDNext == b.UIDNext && a.HighestModSeq == b.HighestModSeq
}

// observeExamined is ObserveScanPoints with an EXAMINE of every
// mailbox.
func (s *Store) observeExamined(reqs []reconcile.ScanPointRequest, obs []reconcile.ScanPointObservation) error {
	type sent struct {
		sel   *imapclient.SelectCommand
		fetch *imapclient.FetchCommand
	}
	cmds := make([]sent, len(reqs))
	s.sel = s.sel.failing()
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
		if err := readChanged(c.fetch, reqs[i].Mailbox, o); err != nil && connErr == nil {
			connErr = err
		}
	}
	return connErr
}

// readChanged reads fetch, the flags of o's mailbox changed since its
// point, into o, and sets o.Usable where every message came with its
// flags. The error is the connection's; a refused FETCH leaves o not
// Usable, except in an empty mailbox, which has no message 1 for the
// server to refuse.
func readChanged(fetch *imapclient.FetchCommand, mailbox string, o *reconcile.ScanPointObservation) error {
	usable := true
	for m := fetch.Next(); m != nil; m = fetch.Next() {
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
	var connErr error
	if err := fetch.Close(); err != nil {
		if o.NumMessages != 0 {
			usable = false
			if !isRefusal(err) {
				connErr = fmt.Errorf("fetch from %q: %w", mailbox, err)
			}
		}
		// An empty folder has no message 1: a server may refuse the
		// FETCH of 1:*, and there is nothing to read.
		o.Changed = nil
	}
	o.Usable = usable
	return connErr
}

// isRefusal reports whether err is the server's NO or BAD for one
// command, which leaves the connection usable.
func isRefusal(err error) bool {
	var ierr *imap.Error
	return errors.As(err, &ierr)
}
