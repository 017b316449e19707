package imapstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/reconcile"
)

// roles maps special-use attributes (RFC 6154) to roles, in the order
// that wins when a mailbox has several.
var roles = []struct {
	attr imap.MailboxAttr
	role reconcile.Role
}{
	{imap.MailboxAttrTrash, reconcile.RoleTrash},
	{imap.MailboxAttrSent, reconcile.RoleSent},
	{imap.MailboxAttrDrafts, reconcile.RoleDrafts},
	{imap.MailboxAttrJunk, reconcile.RoleJunk},
	{imap.MailboxAttrArchive, reconcile.RoleArchive},
	{imap.MailboxAttrAll, reconcile.RoleAll},
}

// List returns the selectable folders (LIST "" "*"), sorted by name, with
// special-use roles and attributes, and UIDVALIDITY, UIDNEXT and (with
// CONDSTORE) HIGHESTMODSEQ: from LIST-STATUS in the same command where
// the server has it, else from one STATUS per folder (pipelined).
func (s *Store) List(ctx context.Context) (reconcile.Listing, error) {
	var out reconcile.Listing
	err := s.run(ctx, "list folders", func() error {
		// A server may answer STATUS of the mailbox a session has
		// selected from what the session last saw (Dovecot does): leave
		// it first, so the counts are today's.
		if err := s.unselect(); err != nil {
			return err
		}
		statusOpts := &imap.StatusOptions{
			UIDValidity:   true,
			UIDNext:       true,
			NumMessages:   true,
			HighestModSeq: s.caps.Has(imap.CapCondStore),
		}
		var opts *imap.ListOptions
		if s.caps.Has(imap.CapListExtended) {
			opts = &imap.ListOptions{ReturnSpecialUse: s.caps.Has(imap.CapSpecialUse)}
			if s.caps.Has(imap.CapListStatus) {
				opts.ReturnStatus = statusOpts
			}
			if !opts.ReturnSpecialUse && opts.ReturnStatus == nil {
				opts = nil
			}
		}
		cmd := s.c.List("", "*", opts)
		var boxes []*imap.ListData
		seen := map[string]bool{}
		for d := cmd.Next(); d != nil; d = cmd.Next() {
			if !s.hasDel {
				s.delim, s.hasDel = d.Delim, true
			}
			if hasAttr(d.Attrs, imap.MailboxAttrNoSelect) || hasAttr(d.Attrs, imap.MailboxAttrNonExistent) || seen[d.Mailbox] {
				continue
			}
			seen[d.Mailbox] = true
			boxes = append(boxes, d)
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		if !s.hasDel {
			if _, err := s.hierarchyDelim(); err != nil {
				return err
			}
		}

		// STATUS for every folder LIST-STATUS did not cover, pipelined:
		// responses are matched to commands by mailbox name.
		type pending struct {
			d   *imap.ListData
			cmd interface {
				Wait() (*imap.StatusData, error)
			}
		}
		var todo []pending
		for _, d := range boxes {
			if d.Status == nil {
				todo = append(todo, pending{d, s.c.Status(d.Mailbox, statusOpts)})
			}
		}
		var firstErr error
		for _, p := range todo {
			st, err := p.cmd.Wait()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("status %q: %w", p.d.Mailbox, err)
					if isRefusal(err) && hasFolderUnder(boxes, p.d.Mailbox, s.delim) {
						// Dovecot lists a folder deleted while folders
						// under it remained, then says it does not
						// exist. Read as gone, it would be taken for
						// deleted here, and the other side's mail in
						// it would get the deletion policy.
						firstErr = fmt.Errorf("%w\nthe server lists %q as a folder but will not open it, as Dovecot does for a folder deleted while folders under it remained: create %q again (it may stay empty), or delete or move the folders under it, then run again", firstErr, p.d.Mailbox, p.d.Mailbox)
					}
				}
				continue
			}
			p.d.Status = st
		}
		if firstErr != nil {
			return firstErr
		}

		out.Delim = s.delim
		out.Folders = make([]reconcile.Folder, 0, len(boxes))
		for _, d := range boxes {
			f := reconcile.Folder{Mailbox: d.Mailbox, Role: roleOf(d.Attrs), SpecialUse: specialUseOf(d.Attrs)}
			f.UIDValidity = d.Status.UIDValidity
			f.UIDNext = reconcile.UID(d.Status.UIDNext)
			f.HighestModSeq = d.Status.HighestModSeq
			f.NumMessages = -1
			if n := d.Status.NumMessages; n != nil {
				f.NumMessages = int(*n)
			}
			out.Folders = append(out.Folders, f)
		}
		slices.SortFunc(out.Folders, func(a, b reconcile.Folder) int { return strings.Compare(a.Mailbox, b.Mailbox) })
		return nil
	})
	if err != nil {
		return reconcile.Listing{}, err
	}
	return out, nil
}

// hierarchyDelim returns the hierarchy delimiter (LIST "" "", asked once
// per Store), 0 for a flat namespace.
func (s *Store) hierarchyDelim() (rune, error) {
	if s.hasDel {
		return s.delim, nil
	}
	l, err := s.c.List("", "", nil).Collect()
	if err != nil {
		return 0, fmt.Errorf("ask the hierarchy delimiter: %w", err)
	}
	if len(l) > 0 {
		s.delim = l[0].Delim
	}
	s.hasDel = true
	return s.delim, nil
}

func roleOf(attrs []imap.MailboxAttr) reconcile.Role {
	for _, r := range roles {
		if hasAttr(attrs, r.attr) {
			return r.role
		}
	}
	return ""
}

// specialUseOf returns the special-use attributes among attrs that
// mailtwin knows, canonical, sorted and without repeats.
func specialUseOf(attrs []imap.MailboxAttr) []reconcile.Role {
	var out []reconcile.Role
	for _, a := range attrs {
		if r, ok := reconcile.ParseSpecialUse(string(a)); ok && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

// hasFolderUnder reports whether boxes hold a folder under mailbox.
func hasFolderUnder(boxes []*imap.ListData, mailbox string, delim rune) bool {
	if delim == 0 {
		return false
	}
	prefix := mailbox + string(delim)
	return slices.ContainsFunc(boxes, func(d *imap.ListData) bool { return strings.HasPrefix(d.Mailbox, prefix) })
}
