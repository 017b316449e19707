package imapstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// CreateFolder creates mailbox; the server creates missing parent levels
// as placeholders. A mailbox that already exists is fine: a folder
// someone else created in the meantime is what the caller wanted. It
// returns the mailbox's UIDVALIDITY, asked for with a STATUS sent right
// behind the CREATE (one round trip for both), or 0 where the STATUS
// gave none: the folder is made all the same.
func (s *Store) CreateFolder(ctx context.Context, mailbox string) (uint32, error) {
	var uidValidity uint32
	err := s.mutate(ctx, fmt.Sprintf("create folder %q", mailbox), func() error {
		// Only the leaf: servers create missing parents themselves (RFC
		// 3501 6.3.3), as placeholders that are not folders of their own.
		// Creating them as real folders would make the next run sync a
		// folder the user never made.
		create := s.c.Create(mailbox, nil)
		status := s.c.Status(mailbox, &imap.StatusOptions{UIDValidity: true})
		cerr := create.Wait()
		if data, err := status.Wait(); err == nil && data != nil {
			uidValidity = data.UIDValidity
		}
		if cerr != nil {
			if _, selectable, lerr := s.lookup(mailbox); lerr == nil && selectable {
				return nil
			}
			uidValidity = 0
			return cerr
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return uidValidity, nil
}

// CreateFolders creates mailboxes in order, each as CreateFolder does,
// in one exchange: every CREATE and its STATUS go out before the first
// answer is read, so that the folders of a first sync cost the server's
// work and one round trip, not a round trip each (at 20 ms a round trip,
// 200 folders are 4 s one by one). The server runs them in the order
// sent (RFC 9051 5.5 lets it run commands at once only where their order
// cannot matter), so a parent given before the folders under it is made
// first. A mailbox whose CREATE fails but which exists
// and can be selected (someone made it meanwhile) is no failure, as
// with CreateFolder; that check is a LIST of its own, after the batch.
// If the connection is lost, every mailbox of the batch counts as
// failed: the next run creates again what was made (a mailbox that
// exists is no error).
func (s *Store) CreateFolders(ctx context.Context, mailboxes []string) []reconcile.CreateResult {
	out := make([]reconcile.CreateResult, len(mailboxes))
	if len(mailboxes) == 0 {
		return out
	}
	op := fmt.Sprintf("create %d folders from %q", len(mailboxes), mailboxes[0])
	err := s.mutate(ctx, op, func() error {
		type sent struct {
			create *imapclient.Command
			status *imapclient.StatusCommand
		}
		cmds := make([]sent, len(mailboxes))
		for i, m := range mailboxes {
			cmds[i] = sent{s.c.Create(m, nil), s.c.Status(m, &imap.StatusOptions{UIDValidity: true})}
		}
		var first error
		for i := range mailboxes {
			cerr := cmds[i].create.Wait()
			if data, err := cmds[i].status.Wait(); err == nil && data != nil {
				out[i].UIDValidity = data.UIDValidity
			}
			out[i].Err = cerr
			if first == nil {
				first = cerr
			}
		}
		if first != nil && s.dead() {
			return first // run drops the connection and says why
		}
		for i, m := range mailboxes {
			if out[i].Err == nil {
				continue
			}
			_, selectable, lerr := s.lookup(m)
			if lerr != nil {
				return lerr // the connection, most likely: all count as failed
			}
			if selectable {
				out[i].Err = nil
				continue
			}
			out[i] = reconcile.CreateResult{Err: fmt.Errorf("account %q: create folder %q: %w", s.opts.Name, m, out[i].Err)}
		}
		return nil
	})
	if err != nil {
		for i := range out {
			out[i] = reconcile.CreateResult{Err: err}
		}
	}
	return out
}

// lookup reports whether mailbox exists (in any form, a \Noselect parent
// included) and whether it can be selected.
func (s *Store) lookup(mailbox string) (exists, selectable bool, err error) {
	l, err := s.c.List("", mailbox, nil).Collect()
	if err != nil {
		return false, false, fmt.Errorf("list %q: %w", mailbox, err)
	}
	for _, d := range l {
		// The name is a pattern: % and * in it match more than itself.
		if d.Mailbox != mailbox || hasAttr(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		return true, !hasAttr(d.Attrs, imap.MailboxAttrNoSelect), nil
	}
	return false, false, nil
}

// ErrFolderNotEmpty is DeleteFolder refusing a mailbox that holds mail,
// or has folders under it.
var ErrFolderNotEmpty = errors.New("folder is not empty")

// DeleteFolder deletes mailbox (leaving it first if it is selected). It
// refuses with ErrFolderNotEmpty when the mailbox still holds messages,
// or has folders under it.
func (s *Store) DeleteFolder(ctx context.Context, mailbox string) error {
	return s.mutate(ctx, fmt.Sprintf("delete folder %q", mailbox), func() error {
		if s.sel.name == mailbox {
			if err := s.unselect(); err != nil {
				return fmt.Errorf("leave the mailbox: %w", err)
			}
		}
		d, err := s.hierarchyDelim()
		if err != nil {
			return err
		}
		// IMAP DELETE takes the messages with it. The plan deletes a
		// folder only once its messages are gone, but an earlier action
		// may have failed or new mail may have arrived: refuse then.
		// It refuses a folder with folders under it too: RFC 3501 leaves
		// its name as \Noselect, and Dovecot lists it as a folder that
		// STATUS then says does not exist, which fails the next listing.
		status := s.c.Status(mailbox, &imap.StatusOptions{NumMessages: true})
		var under *imapclient.ListCommand
		if d != 0 {
			under = s.c.List("", mailbox+string(d)+"*", nil)
		}
		st, err := status.Wait()
		var kids []string
		var lerr error
		if under != nil {
			var l []*imap.ListData
			l, lerr = under.Collect()
			// The name is a pattern: % and * in it match other
			// folders' children too.
			prefix := mailbox + string(d)
			for _, k := range l {
				if strings.HasPrefix(k.Mailbox, prefix) && !hasAttr(k.Attrs, imap.MailboxAttrNonExistent) {
					kids = append(kids, k.Mailbox)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("count messages: %w", err)
		}
		if lerr != nil {
			return fmt.Errorf("list the folders under it: %w", lerr)
		}
		if st.NumMessages != nil && *st.NumMessages > 0 {
			return fmt.Errorf("%w: it still holds %d message(s)", ErrFolderNotEmpty, *st.NumMessages)
		}
		if len(kids) > 0 {
			return fmt.Errorf("%w: it has %d folder(s) under it, such as %q", ErrFolderNotEmpty, len(kids), kids[0])
		}
		return s.c.Delete(mailbox).Wait()
	})
}

// LeaveMailbox implements reconcile.SelectionLeaver: where the
// connection has mailbox, or a mailbox under it, selected, it unselects
// (UNSELECT, or CLOSE of an EXAMINEd mailbox without it), so that
// another connection may rename or delete it. It does not connect.
func (s *Store) LeaveMailbox(ctx context.Context, mailbox string) error {
	s.mu.Lock()
	idle := s.c == nil || s.closed || s.sel.name == ""
	s.mu.Unlock()
	if idle {
		return nil
	}
	return s.run(ctx, fmt.Sprintf("leave %q", mailbox), func() error {
		if s.sel.name == "" {
			return nil
		}
		d, err := s.hierarchyDelim()
		if err != nil {
			return err
		}
		if s.sel.name == mailbox || d != 0 && strings.HasPrefix(s.sel.name, mailbox+string(d)) {
			return s.unselect()
		}
		return nil
	})
}

var _ reconcile.SelectionLeaver = (*Store)(nil)

// ErrFolderExists is matched (errors.Is) by the error of a RenameFolder
// whose target is a folder of its own while the source still exists:
// renaming onto it would merge two folders, which is never done.
var ErrFolderExists = errors.New("folder exists already")

// RenameFolder renames mailbox from to to, with the folders under it.
//
// It is safe to call again after a crash: when from is gone and to
// exists, the rename happened already, and only the children the server
// may have left under from are renamed. Servers differ on children:
// Dovecot renames them with the parent (keeping every UIDVALIDITY),
// others (imapmemserver) rename the one mailbox and leave its children
// under the old name. RenameFolder renames what was left, parents first,
// so the hierarchy always moves as a whole.
//
// It refuses, before changing anything, with ErrFolderExists when to (or
// a child's new name) is a folder and from (or that child) still exists:
// IMAP cannot merge folders, and mailtwin does not try. It refuses to
// rename INBOX (RENAME INBOX moves its messages and leaves INBOX) and to
// move a folder under itself.
//
// Where the connection is lost before the RENAME's answer arrives, the
// server may have renamed or not. RenameFolder looks on a new connection,
// as a run after a crash would: from gone and to there, the rename is
// done (the children left behind are renamed too) and it returns nil.
// Reported failed, a RENAME the server did would have the next run read
// it as this side's user's own, and decide differently than this run did
// (RELIABILITY.md, "A RENAME whose answer is lost").
func (s *Store) RenameFolder(ctx context.Context, from, to string) error {
	op := fmt.Sprintf("rename folder %q to %q", from, to)
	// answerLost: the RENAME was sent and its connection lost before the
	// answer came; children is how many folders from had under it then.
	var answerLost bool
	var children int
	err := s.mutate(ctx, op, func() error {
		if from == to {
			return errors.New("from and to are the same name")
		}
		if strings.EqualFold(from, "INBOX") {
			return errors.New("INBOX cannot be renamed (IMAP RENAME of INBOX moves its messages to a new folder and keeps INBOX)")
		}
		d, err := s.hierarchyDelim()
		if err != nil {
			return err
		}
		sub := func(name string) string { return name + string(d) }
		if d != 0 && strings.HasPrefix(to, sub(from)) {
			return fmt.Errorf("%q is inside %q: a folder cannot be moved under itself", to, from)
		}
		if s.sel.name == from || d != 0 && strings.HasPrefix(s.sel.name, sub(from)) {
			if err := s.unselect(); err != nil {
				return fmt.Errorf("leave the mailbox: %w", err)
			}
		}

		// One look at the whole account, before anything changes: is it
		// a fresh rename, a retry, or a merge to refuse?
		boxes, err := s.listMailboxes("*")
		if err != nil {
			return err
		}
		fromSel, toSel := boxes[from], boxes[to]
		if fromSel && toSel {
			return fmt.Errorf("%w: %q is a folder of its own; refusing to merge %q into it", ErrFolderExists, to, from)
		}
		children = 0
		if d != 0 {
			for name, sel := range boxes {
				if !sel || !strings.HasPrefix(name, sub(from)) {
					continue
				}
				children++
				if dest := sub(to) + name[len(sub(from)):]; boxes[dest] {
					return fmt.Errorf("%w: %q is a folder of its own; refusing to merge %q into it", ErrFolderExists, dest, name)
				}
			}
		}

		if !toSel || fromSel {
			if err := s.c.Rename(from, to, nil).Wait(); err != nil {
				// Someone else may have renamed it meanwhile.
				now, lerr := s.listMailboxes("*")
				if lerr != nil {
					answerLost = s.dead()
					return err
				}
				if now[from] || !now[to] {
					return err
				}
			}
		}
		if d == 0 {
			return nil
		}
		return s.renameLeftChildren(from, to, d, children)
	})
	if err == nil || !answerLost || ctx.Err() != nil {
		return err
	}
	done := false
	lerr := s.mutate(ctx, op+": look whether the server renamed it", func() error {
		boxes, err := s.listMailboxes("*")
		if err != nil {
			return err
		}
		if boxes[from] || !boxes[to] {
			return nil
		}
		done = true
		d, err := s.hierarchyDelim()
		if err != nil || d == 0 {
			return err
		}
		return s.renameLeftChildren(from, to, d, children)
	})
	if lerr == nil && done {
		return nil
	}
	return err
}

// renameLeftChildren renames the folders a RENAME of from to to left
// under from, parents first, each to the same place under to. It lists
// again after each RENAME, so it works whether or not the server takes a
// child's own children along. expected is how many children from had.
func (s *Store) renameLeftChildren(from, to string, d rune, expected int) error {
	prefix := from + string(d)
	for round := 0; ; round++ {
		boxes, err := s.listMailboxes(prefix + "*")
		if err != nil {
			return fmt.Errorf("look for folders left under %q: %w", from, err)
		}
		var left []string
		for name, sel := range boxes {
			if sel && strings.HasPrefix(name, prefix) {
				left = append(left, name)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if round > expected {
			slices.Sort(left)
			return fmt.Errorf("the server keeps folders under %q after renaming them: %q", from, left)
		}
		// The shallowest first: a parent before its children.
		child := slices.MinFunc(left, func(a, b string) int {
			if c := cmp.Compare(strings.Count(a, string(d)), strings.Count(b, string(d))); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		dest := to + string(d) + child[len(prefix):]
		if err := s.c.Rename(child, dest, nil).Wait(); err != nil {
			if boxes, lerr := s.listMailboxes(dest); lerr == nil && boxes[dest] {
				err = fmt.Errorf("%w: %q is a folder of its own; refusing to merge %q into it", ErrFolderExists, dest, child)
			}
			return fmt.Errorf("rename %q, which the server left behind, to %q: %w", child, dest, err)
		}
	}
}

// listMailboxes runs LIST "" pattern and returns the mailboxes it names
// (placeholders included, \NonExistent ones not), each with whether it
// can be selected.
func (s *Store) listMailboxes(pattern string) (map[string]bool, error) {
	l, err := s.c.List("", pattern, nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", pattern, err)
	}
	out := make(map[string]bool, len(l))
	for _, d := range l {
		if hasAttr(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		out[d.Mailbox] = out[d.Mailbox] || !hasAttr(d.Attrs, imap.MailboxAttrNoSelect)
	}
	return out, nil
}
