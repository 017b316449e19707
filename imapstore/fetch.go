package imapstore

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// Fetch streams the messages uids of mailbox, in the server's order (UID
// order in practice), calling fn once per message with the body as it
// comes off the connection: nothing is held in memory. Body yields
// exactly Size bytes (the literal's size). Whatever fn leaves unread is
// discarded after it returns. A UID that no longer exists is skipped.
//
// The mailbox is opened read-only unless it is already selected, and
// bodies are read with BODY.PEEK, so \Seen does not change. An error
// returned by fn stops Fetch and is returned as it is.
func (s *Store) Fetch(ctx context.Context, mailbox string, uids []reconcile.UID, fn func(m reconcile.FetchedMessage) error) error {
	set := uidSet(uids)
	if len(set) == 0 {
		return nil
	}
	return s.run(ctx, fmt.Sprintf("fetch from %q", mailbox), func() error {
		return s.fetchIn(ctx, mailbox, set, fn)
	})
}

// fetchIn is Fetch on the Store's connection, which the caller holds.
func (s *Store) fetchIn(ctx context.Context, mailbox string, set imap.UIDSet, fn func(m reconcile.FetchedMessage) error) error {
	if _, err := s.selectMailbox(mailbox, false, false); err != nil {
		return err
	}
	delivered := map[imap.UID]bool{}
	answered, err := s.fetchBodies(ctx, set, nil, delivered, fn)
	if err != nil {
		return err
	}
	// Messages that answered without a body we could hand on (the body
	// came before INTERNALDATE, or a unilateral FETCH was taken for
	// ours): dates first, then bodies.
	var again imap.UIDSet
	for uid := range answered {
		if !delivered[uid] {
			again.AddNum(uid)
		}
	}
	if len(again) == 0 {
		return nil
	}
	dates, err := s.fetchDates(again)
	if err != nil {
		return err
	}
	_, err = s.fetchBodies(ctx, again, dates, delivered, fn)
	return err
}

// fetchBodies runs one UID FETCH of set for bodies, with INTERNALDATE
// unless dates already has them. It returns the UIDs the server answered
// for. It stops before a callback once ctx is done.
func (s *Store) fetchBodies(ctx context.Context, set imap.UIDSet, dates map[imap.UID]time.Time, delivered map[imap.UID]bool, fn func(reconcile.FetchedMessage) error) (map[imap.UID]bool, error) {
	return s.readBodies(ctx, s.sendBodyFetch(set, dates == nil), dates, delivered, fn)
}

// sendBodyFetch sends the UID FETCH of fetchBodies, for readBodies to
// read: apart, so that it can go out before other commands.
func (s *Store) sendBodyFetch(set imap.UIDSet, withDates bool) *imapclient.FetchCommand {
	return s.c.Fetch(set, &imap.FetchOptions{
		UID:          true,
		InternalDate: withDates,
		RFC822Size:   true,
		BodySection:  []*imap.FetchItemBodySection{{Peek: true}},
	})
}

// readBodies reads the answer to sendBodyFetch, as fetchBodies.
func (s *Store) readBodies(ctx context.Context, cmd *imapclient.FetchCommand, dates map[imap.UID]time.Time, delivered map[imap.UID]bool, fn func(reconcile.FetchedMessage) error) (map[imap.UID]bool, error) {
	answered := map[imap.UID]bool{}
	// A body that fails half-way leaves the connection dead, and go-imap
	// beta.8's reader goroutine still decoding from it: reading that
	// literal again (our drain, or cmd.Close) would race with it on one
	// bufio.Reader. So the first read error of a literal is the last
	// read of it (onceFailing), and closeFetch drops the connection
	// instead of closing the command.
	broken := false
	defer func() { s.closeFetch(cmd, broken) }()
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		var (
			uid      imap.UID
			date     time.Time
			haveDate bool
		)
		for it := m.Next(); it != nil; it = m.Next() {
			switch it := it.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
				answered[uid] = true
				if dates != nil {
					date, haveDate = dates[uid]
				}
			case imapclient.FetchItemDataInternalDate:
				date, haveDate = it.Time, true
			case imapclient.FetchItemDataBodySection:
				if uid == 0 || delivered[uid] || !haveDate || it.Literal == nil {
					continue // go-imap discards the literal
				}
				if err := ctx.Err(); err != nil {
					// Cancelled (by an earlier callback, say): no further
					// callbacks, even if the connection is not closed yet.
					return answered, err
				}
				delivered[uid] = true
				body := &onceFailing{r: it.Literal, size: it.Literal.Size()}
				err := fn(reconcile.FetchedMessage{
					UID:          reconcile.UID(uid),
					InternalDate: date,
					Size:         it.Literal.Size(),
					Body:         body,
				})
				// Drain what fn left, so the connection can go on.
				if _, derr := io.Copy(io.Discard, body); derr != nil || body.err != nil {
					broken = true
					if err == nil {
						if derr == nil {
							derr = body.err
						}
						return answered, fmt.Errorf("read body of uid %d: %w", uid, derr)
					}
				}
				if err != nil {
					return answered, &callbackError{err}
				}
			}
		}
	}
	return answered, cmd.Close()
}

func (s *Store) fetchDates(set imap.UIDSet) (map[imap.UID]time.Time, error) {
	bufs, err := s.c.Fetch(set, &imap.FetchOptions{UID: true, InternalDate: true}).Collect()
	if err != nil {
		return nil, err
	}
	dates := make(map[imap.UID]time.Time, len(bufs))
	for _, b := range bufs {
		if b.UID != 0 && !b.InternalDate.IsZero() {
			dates[b.UID] = b.InternalDate
		}
	}
	return dates, nil
}

// closeFetch ends a FETCH: it closes cmd, or, when reading one of its
// literals failed (broken), drops the connection instead. After such a
// failure go-imap beta.8's reader goroutine goes on decoding from the
// dead connection, and cmd.Close, which discards what is left of the
// literal, would read the same bufio.Reader at the same time.
func (s *Store) closeFetch(cmd *imapclient.FetchCommand, broken bool) {
	if broken {
		s.conn.abort()
		return
	}
	cmd.Close()
}

// onceFailing reads a literal of size bytes from r until r fails or
// ends, and never reads r after that: a later Read returns io.EOF once
// all size bytes came, else the error (io.ErrUnexpectedEOF for an early
// end), which err keeps.
type onceFailing struct {
	r    io.Reader
	size int64
	n    int64
	done bool
	err  error
}

func (o *onceFailing) Read(p []byte) (int, error) {
	if o.done {
		if o.err != nil {
			return 0, o.err
		}
		return 0, io.EOF
	}
	n, err := o.r.Read(p)
	o.n += int64(n)
	switch {
	case err == io.EOF && o.n < o.size:
		o.done, o.err = true, io.ErrUnexpectedEOF
		return n, o.err
	case err != nil:
		o.done = true
		if err != io.EOF {
			o.err = err
		}
	}
	return n, err
}
