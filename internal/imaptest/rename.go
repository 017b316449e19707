package imaptest

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Rename renames mailbox from of user to to with one IMAP RENAME, as the
// user's mail client would. What happens to from's children is the
// server's business: Dovecot renames them along, imapmemserver leaves
// them under the old name.
func (s *Server) Rename(t testing.TB, user, from, to string) {
	t.Helper()
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		if err := c.Rename(from, to, nil).Wait(); err != nil {
			t.Fatalf("imaptest: rename %q to %q: %v", from, to, err)
		}
	})
}

// RenameByCopy renames mailbox from of user to to the way a server that
// gives a renamed folder a new UIDVALIDITY leaves it (or a client that
// renames by copying): it creates to, copies every message there with
// UID COPY (which keeps flags and internal dates), and deletes from. The
// selectable folders under from go the same way, to the same place under
// to. The test fails if to exists already, or if to ends up with from's
// UIDVALIDITY.
func (s *Server) RenameByCopy(t testing.TB, user, from, to string) {
	t.Helper()
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		if selectable(t, c, to) {
			t.Fatalf("imaptest: rename %q to %q by copy: %q exists already", from, to, to)
		}
		sources := []string{from}
		prefix := from + string(s.Delim)
		l, err := c.List("", prefix+"*", nil).Collect()
		if err != nil {
			t.Fatalf("imaptest: list %q: %v", prefix+"*", err)
		}
		for _, d := range l {
			if strings.HasPrefix(d.Mailbox, prefix) && !hasAttr(d.Attrs, imap.MailboxAttrNoSelect) && !hasAttr(d.Attrs, imap.MailboxAttrNonExistent) {
				sources = append(sources, d.Mailbox)
			}
		}
		// Parents before children, so every child is made inside its
		// renamed parent; deleted the other way round.
		depth := func(name string) int { return strings.Count(name, string(s.Delim)) }
		slices.SortFunc(sources[1:], func(a, b string) int {
			return cmp.Or(cmp.Compare(depth(a), depth(b)), strings.Compare(a, b))
		})
		for _, src := range sources {
			dst := to + strings.TrimPrefix(src, from)
			sd, err := c.Status(src, &imap.StatusOptions{UIDValidity: true}).Wait()
			if err != nil {
				t.Fatalf("imaptest: status %q: %v", src, err)
			}
			if err := c.Create(dst, nil).Wait(); err != nil {
				t.Fatalf("imaptest: rename by copy: create %q: %v", dst, err)
			}
			sel, err := c.Select(src, &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				t.Fatalf("imaptest: examine %q: %v", src, err)
			}
			if sel.NumMessages > 0 {
				if _, err := c.Copy(imap.UIDSet{{Start: 1, Stop: 0}}, dst).Wait(); err != nil {
					t.Fatalf("imaptest: rename by copy: copy %q to %q: %v", src, dst, err)
				}
			}
			if err := c.Unselect().Wait(); err != nil {
				t.Fatalf("imaptest: unselect %q: %v", src, err)
			}
			nd, err := c.Status(dst, &imap.StatusOptions{UIDValidity: true, NumMessages: true}).Wait()
			if err != nil {
				t.Fatalf("imaptest: status %q: %v", dst, err)
			}
			if nd.UIDValidity == sd.UIDValidity {
				t.Fatalf("imaptest: rename by copy: %q got the UIDVALIDITY %d of %q", dst, nd.UIDValidity, src)
			}
			if nd.NumMessages == nil || *nd.NumMessages != sel.NumMessages {
				t.Fatalf("imaptest: rename by copy: %q holds %v messages, %q %d", dst, nd.NumMessages, src, sel.NumMessages)
			}
		}
		for _, src := range slices.Backward(sources) {
			if err := c.Delete(src).Wait(); err != nil {
				t.Fatalf("imaptest: rename by copy: delete %q: %v", src, err)
			}
		}
	})
}

// MakeAnew has mailbox of user made anew under its own name, as a
// server restored from a backup leaves it: a new UIDVALIDITY, its
// messages (with their flags and internal dates) under new UIDs, the
// folders under it likewise. It renames the mailbox by copy to a sibling
// name and back (RenameByCopy), so the test fails if that name exists,
// or if the UIDVALIDITY is the one the mailbox had.
func (s *Server) MakeAnew(t testing.TB, user, mailbox string) {
	t.Helper()
	before := s.UIDValidity(t, user, mailbox)
	tmp := mailbox + "-made-anew"
	s.RenameByCopy(t, user, mailbox, tmp)
	s.RenameByCopy(t, user, tmp, mailbox)
	if after := s.UIDValidity(t, user, mailbox); after == before {
		t.Fatalf("imaptest: %q made anew kept its UIDVALIDITY %d", mailbox, before)
	}
}
