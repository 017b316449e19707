package imapstore

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// StoreFlags adds and removes flags on uids of mailbox (UID STORE
// +FLAGS.SILENT and -FLAGS.SILENT, pipelined). A UID that no longer
// exists is ignored by the server.
func (s *Store) StoreFlags(ctx context.Context, mailbox string, uids []reconcile.UID, add, remove reconcile.Flags) error {
	set := uidSet(uids)
	if len(set) == 0 || (len(add) == 0 && len(remove) == 0) {
		return nil
	}
	return s.mutate(ctx, fmt.Sprintf("store flags in %q", mailbox), func() error {
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
		var first error
		for _, c := range cmds {
			if err := c.Close(); err != nil && first == nil {
				first = err
			}
		}
		return first
	})
}
