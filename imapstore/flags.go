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

// StoreFlagChanges implements reconcile.FlagBatcher: the changes are
// regrouped into one UID STORE +FLAGS.SILENT or -FLAGS.SILENT per flag,
// over every UID that flag is added to or removed from, and the
// commands are pipelined on one selection of mailbox. Setting one flag
// at a time is the same as setting them together: flags are
// independent of each other.
func (s *Store) StoreFlagChanges(ctx context.Context, mailbox string, changes []reconcile.FlagChange) error {
	type key struct {
		flag string
		add  bool
	}
	sets := map[key]*imap.UIDSet{}
	var order []key
	for _, c := range changes {
		for _, side := range []struct {
			flags reconcile.Flags
			add   bool
		}{{c.Add, true}, {c.Remove, false}} {
			for _, f := range side.flags {
				k := key{f, side.add}
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
	if len(order) == 0 {
		return nil
	}
	return s.mutate(ctx, fmt.Sprintf("store flags in %q", mailbox), func() error {
		if _, err := s.selectMailbox(mailbox, true, false); err != nil {
			return err
		}
		cmds := make([]*imapclient.FetchCommand, 0, len(order))
		for _, k := range order {
			op := imap.StoreFlagsDel
			if k.add {
				op = imap.StoreFlagsAdd
			}
			cmds = append(cmds, s.c.Store(*sets[k], &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.Flag(k.flag)}}, nil))
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

var _ reconcile.FlagBatcher = (*Store)(nil)
