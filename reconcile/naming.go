package reconcile

import (
	"fmt"
	"sort"
	"strings"
)

// NamingError is a folder name that cannot be carried across a pair: it
// holds the other side's hierarchy delimiter, or two folders of one side
// claim the same counterpart. The remedy is a map block or a folder rule
// with direction none.
type NamingError struct {
	Side    Side
	Mailbox string
	Detail  string
}

func (e *NamingError) Error() string {
	return fmt.Sprintf("folder %q on %s: %s", e.Mailbox, e.Side, e.Detail)
}

// roles are the special-use roles matched across sides.
var roles = []Role{RoleSent, RoleTrash, RoleDrafts, RoleJunk, RoleArchive}

// namer maps the mailboxes of both sides of a pair to logical names (the
// "/"-separated names the state and the folder rules use) and back:
// explicit maps first, then special-use roles, then the name itself
// under each side's prefix, with the side's hierarchy delimiter.
type namer struct {
	n     Naming
	delim [2]rune
	// prefix is Naming.Prefix with each side's delimiter read as a level
	// separator too: a prefix written "Backup.Work" for a "." server is
	// Backup/Work (no level there can hold a ".").
	prefix [2]string
	// logical maps a listed mailbox to its logical name; a mailbox that
	// is not part of the pair (outside the prefix) is absent.
	logical [2]map[string]string
	// mailbox maps a logical name to the listed or mapped mailbox.
	mailbox [2]map[string]string
}

// newNamer names the folders of both listings.
func newNamer(n Naming, lists [2]*Listing) (*namer, error) {
	nm := &namer{n: n}
	for s := range 2 {
		nm.delim[s] = lists[s].Delim
		nm.prefix[s] = n.Prefix[s]
		if d := nm.delim[s]; d != 0 && d != '/' {
			nm.prefix[s] = strings.ReplaceAll(nm.prefix[s], string(d), "/")
		}
		nm.logical[s] = map[string]string{}
		nm.mailbox[s] = map[string]string{}
	}
	mapped := [2]map[string]bool{{}, {}}
	for _, m := range n.Maps {
		l := nm.pathName(A, m.A)
		if l == "" {
			l = LogicalName(m.A, nm.delim[A])
		}
		for s, mb := range [2]string{m.A, m.B} {
			nm.logical[s][mb] = l
			nm.mailbox[s][l] = mb
			mapped[s][mb] = true
		}
	}
	// The default names, and the folders each side has per role.
	byRole := [2]map[Role][]string{{}, {}}
	for s := range 2 {
		for _, f := range lists[s].Folders {
			if mapped[s][f.Mailbox] {
				continue
			}
			if nm.delim[s] != 0 && nm.delim[s] != '/' && strings.Contains(f.Mailbox, "/") {
				return nil, &NamingError{Side: Side(s), Mailbox: f.Mailbox,
					Detail: fmt.Sprintf(`its name holds "/", which separates levels in mailtwin's folder names, while this server separates them with %q; pair it by hand with a map block`, nm.delim[s])}
			}
			l := nm.pathName(Side(s), f.Mailbox)
			if l == "" {
				continue
			}
			nm.logical[s][f.Mailbox] = l
			if f.Role != "" {
				byRole[s][f.Role] = append(byRole[s][f.Role], f.Mailbox)
			}
		}
	}
	// A folder of B with a role A has too takes A's folder's name, when
	// each side has exactly one folder with that role and the name is
	// not another folder's already.
	if !n.IgnoreRoles {
		taken := map[string]bool{}
		for _, l := range nm.logical[B] {
			taken[l] = true
		}
		for _, r := range roles {
			fa, fb := byRole[A][r], byRole[B][r]
			if len(fa) != 1 || len(fb) != 1 {
				continue
			}
			la, lb := nm.logical[A][fa[0]], nm.logical[B][fb[0]]
			if la == lb || taken[la] {
				continue
			}
			nm.logical[B][fb[0]] = la
			taken[la] = true
		}
	}
	for s := range 2 {
		owner := map[string]string{}
		mbs := make([]string, 0, len(nm.logical[s]))
		for mb := range nm.logical[s] {
			mbs = append(mbs, mb)
		}
		sort.Strings(mbs)
		for _, mb := range mbs {
			l := nm.logical[s][mb]
			if prev, dup := owner[l]; dup && (!mapped[s][mb] || !mapped[s][prev]) {
				// Name the folder the map does not cover.
				if mapped[s][mb] {
					mb, prev = prev, mb
				}
				return nil, &NamingError{Side: Side(s), Mailbox: mb,
					Detail: fmt.Sprintf("it and %q both pair with the folder %q of the other side; pair one of them by hand with a map block", prev, l)}
			}
			owner[l] = mb
			nm.mailbox[s][l] = mb
		}
	}
	return nm, nil
}

// pathName is the logical name of mailbox on side s by its name alone:
// the delimiter made "/", the side's prefix taken off. "" means the
// mailbox is not under the prefix, so not part of the pair.
func (nm *namer) pathName(s Side, mailbox string) string {
	l := LogicalName(mailbox, nm.delim[s])
	p := nm.prefix[s]
	if p == "" {
		return l
	}
	rest, ok := strings.CutPrefix(l, p+"/")
	if !ok || rest == "" {
		return ""
	}
	return LogicalName(rest, '/')
}

// logicalOf returns the logical name of a listed mailbox of side s, or ""
// when it is not part of the pair.
func (nm *namer) logicalOf(s Side, mailbox string) string {
	return nm.logical[s][mailbox]
}

// mailboxFor returns the mailbox on side s for logical name l: the
// listed or mapped one, or the name made from l under the side's prefix.
func (nm *namer) mailboxFor(s Side, l string) (string, error) {
	if mb, ok := nm.mailbox[s][l]; ok {
		return mb, nil
	}
	d := nm.delim[s]
	for _, level := range strings.Split(l, "/") {
		switch {
		case d == 0 && strings.Contains(l, "/"):
			return "", &NamingError{Side: s.Other(), Mailbox: l,
				Detail: fmt.Sprintf("it is a subfolder, and %s has no folder hierarchy; pair it by hand with a map block, or exclude it with a folder rule with direction none", s)}
		case d != '/' && d != 0 && strings.ContainsRune(level, d):
			return "", &NamingError{Side: s.Other(), Mailbox: l,
				Detail: fmt.Sprintf("it cannot be made on %s, whose hierarchy delimiter %q is part of its name; pair it by hand with a map block, or exclude it with a folder rule with direction none", s, d)}
		}
	}
	if p := nm.prefix[s]; p != "" {
		l = p + "/" + l
	}
	return MailboxName(l, d), nil
}

// mustMailbox is mailboxFor for names checked by checkNames.
func (nm *namer) mustMailbox(s Side, l string) string {
	mb, err := nm.mailboxFor(s, l)
	if err != nil {
		return MailboxName(l, nm.delim[s])
	}
	return mb
}

// checkNames reports the first folder of either side that would have to
// be made on the other side and cannot be named there.
func (nm *namer) checkNames(p Policy) error {
	for s := range 2 {
		side := Side(s)
		ls := make([]string, 0, len(nm.mailbox[s]))
		for l := range nm.mailbox[s] {
			ls = append(ls, l)
		}
		sort.Strings(ls)
		for _, l := range ls {
			if !p.For(l).Direction.Flows(side) {
				continue
			}
			if _, err := nm.mailboxFor(side.Other(), l); err != nil {
				if ne, ok := err.(*NamingError); ok {
					ne.Side, ne.Mailbox = side, nm.mailbox[s][l]
				}
				return err
			}
		}
	}
	return nil
}
