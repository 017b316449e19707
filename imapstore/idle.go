package imapstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// ErrNoIdle is matched (errors.Is) by Idle's error when the server
// offers neither IDLE nor IMAP4rev2.
var ErrNoIdle = errors.New("the server does not offer IDLE")

// unilateralHandler is go-imap's handler for what the server says
// unasked: it counts EXPUNGE responses in expunges (read by Move), and
// calls fn, if not nil, for a change of the selected mailbox
// (Options.OnChange). A unilateral FETCH is drained (go-imap hands it
// over on a goroutine of its own and waits for nobody).
func unilateralHandler(fn func(), expunges *atomic.Int64) *imapclient.UnilateralDataHandler {
	if fn == nil {
		fn = func() {}
	}
	return &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				fn()
			}
		},
		Expunge: func(uint32) {
			expunges.Add(1)
			fn()
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			m.Collect()
			fn()
		},
	}
}

// IdleOptions configures Idle.
type IdleOptions struct {
	// Refresh is how often IDLE is ended and the mailbox examined again
	// (zero: DefaultIdleRefresh). That round trip must finish within
	// the Store's Timeout, so a connection that died without a word
	// (no RST, no FIN) is noticed within Refresh plus Timeout; go-imap
	// beta.8 alone would wait on it for ever (TCP keepalive, which Go
	// turns on, notices a dead peer host, not a hung server).
	Refresh time.Duration
	// Ready, if set, is called each time the server has acknowledged
	// IDLE: from then on Options.OnChange hears of changes.
	Ready func()
}

// DefaultIdleRefresh is IdleOptions.Refresh when zero: well inside the
// 30 minutes after which RFC 2177 lets a server drop an idle client.
const DefaultIdleRefresh = 5 * time.Minute

// Idle examines mailbox and waits in IDLE (RFC 2177), reporting the
// changes the server announces through Options.OnChange, until ctx is
// done (it then returns nil) or the connection fails (it returns the
// error). Each refresh, and at the start, a mailbox whose UIDNEXT or
// message count moved since the last look counts as a change too: mail
// that came while IDLE was being renewed is not missed. The Store must
// be used for nothing else meanwhile; after an error, the next call
// connects again.
func (s *Store) Idle(ctx context.Context, mailbox string, opts IdleOptions) error {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultIdleRefresh
	}
	var last *imap.SelectData
	for {
		var (
			cmd    *imapclient.IdleCommand
			closed <-chan struct{}
		)
		err := s.run(ctx, fmt.Sprintf("idle in %q", mailbox), func() error {
			if !s.caps.Has(imap.CapIdle) && !s.caps.Has(imap.CapIMAP4rev2) {
				return ErrNoIdle
			}
			data, err := s.selectMailbox(mailbox, false, true)
			if err != nil {
				return err
			}
			if last != nil && (data.UIDNext != last.UIDNext || data.NumMessages != last.NumMessages) && s.opts.OnChange != nil {
				s.opts.OnChange()
			}
			d := *data
			last = &d
			cmd, err = s.c.Idle()
			closed = s.c.Closed()
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if opts.Ready != nil {
			opts.Ready()
		}
		t := time.NewTimer(opts.Refresh)
		select {
		case <-ctx.Done():
			t.Stop()
			s.mu.Lock()
			// Leaving IDLE politely would wait on the server: the
			// caller is shutting down.
			s.drop()
			s.mu.Unlock()
			return nil
		case <-closed:
			t.Stop()
			// go-imap ends the IDLE command when its reader stops: Wait
			// returns why (io.ErrUnexpectedEOF for a closed connection).
			werr := cmd.Wait()
			if werr == nil {
				werr = errors.New("connection closed")
			}
			s.mu.Lock()
			s.drop()
			s.mu.Unlock()
			return fmt.Errorf("account %q: idle in %q: connection lost: %w", s.opts.Name, mailbox, werr)
		case <-t.C:
			err := s.run(ctx, fmt.Sprintf("end idle in %q", mailbox), func() error {
				if err := cmd.Close(); err != nil {
					return err
				}
				return cmd.Wait()
			})
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}
