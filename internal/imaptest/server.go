package imaptest

import (
	"cmp"
	"crypto/tls"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/internal/dovecotd"
)

// Password is every test user's password.
const Password = "secret"

// Server is a running test IMAP server.
type Server struct {
	// Addr is host:port on loopback, plain IMAP (no TLS).
	Addr string
	// Kind is "mem" or "dovecot".
	Kind string
	// Delim is the hierarchy delimiter of the personal namespace.
	Delim rune
	// Users are the accounts, each with password Password.
	Users []string
	// TLS is how the server secures connections (TLSNone unless asked).
	TLS TLSMode
	// TLSConfig is a client configuration that trusts the server's
	// self-signed certificate; nil for TLSNone.
	TLSConfig *tls.Config

	dovecot *dovecotd.Server
	// idle keeps the helpers' connections between calls (see with).
	idle *idleClients
}

// idleClients are logged-in connections that no helper is using. A
// helper takes one of its user's, or dials when there is none, and
// gives it back when it is done: a Dovecot login costs tens of ms of the
// server's CPU (an imap-login and an imap process), and a test that
// seeds and checks accounts through the helpers makes hundreds. Only
// the maxIdle used last are kept, so a sweep with a thousand users does
// not hold a thousand server processes.
type idleClients struct {
	mu     sync.Mutex
	conns  []idleClient // the one given back last at the end
	closed bool
}

// idleClient is one idle connection, by the address it went to (a copy
// of a Server that points elsewhere, a proxy, shares its idleClients)
// and the user it logged in as.
type idleClient struct {
	addr, user string
	c          *imapclient.Client
}

// maxIdle bounds idleClients: two parallel tests, each with two users
// and a few connections, fit.
const maxIdle = 16

// serve finishes s, started by a StartFunc: its helpers' idle
// connections are logged out when the test ends, before the server
// stops (cleanups run last registered first).
func serve(t testing.TB, s *Server) *Server {
	s.idle = &idleClients{}
	t.Cleanup(func() {
		s.idle.mu.Lock()
		all := s.idle.conns
		s.idle.conns, s.idle.closed = nil, true
		s.idle.mu.Unlock()
		for _, ic := range all {
			closeClient(ic.c)
		}
	})
	return s
}

// StartFunc starts a test server; StartMem and StartDovecot are two.
type StartFunc func(t testing.TB, users ...string) *Server

// Both runs fn as two subtests, "mem" with StartMem and "dovecot" with
// StartDovecot, so one scenario body covers both servers.
func Both(t *testing.T, fn func(t *testing.T, start StartFunc)) {
	t.Helper()
	t.Run("mem", func(t *testing.T) { fn(t, StartMem) })
	t.Run("dovecot", func(t *testing.T) { fn(t, StartDovecot) })
}

// Log returns the server's log (Dovecot's dovecot.log), or "" for the
// memory server, whose log lines go to the test log.
func (s *Server) Log() string {
	if s.dovecot == nil {
		return ""
	}
	return s.dovecot.ReadLog()
}

// Dial returns a client logged in as user, logged out when the test
// ends.
func (s *Server) Dial(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	c := s.dial(t, user)
	t.Cleanup(func() { closeClient(c) })
	return c
}

func (s *Server) dial(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	var (
		c   *imapclient.Client
		err error
	)
	switch opts := (&imapclient.Options{TLSConfig: s.TLSConfig}); s.TLS {
	case TLSImplicit:
		c, err = imapclient.DialTLS(s.Addr, opts)
	case TLSStartTLS:
		c, err = imapclient.DialStartTLS(s.Addr, opts)
	default:
		c, err = imapclient.DialInsecure(s.Addr, opts)
	}
	if err != nil {
		t.Fatalf("imaptest: dial %s server at %s: %v", s.Kind, s.Addr, err)
	}
	if err := c.Login(user, Password).Wait(); err != nil {
		c.Close()
		t.Fatalf("imaptest: login as %s on %s server: %v%s", user, s.Kind, err, s.logHint())
	}
	// Dovecot may say OK and then BYE when the user's storage cannot be
	// set up; only the next command tells.
	if err := c.Noop().Wait(); err != nil {
		c.Close()
		t.Fatalf("imaptest: %s server dropped %s right after login: %v%s", s.Kind, user, err, s.logHint())
	}
	return c
}

func (s *Server) logHint() string {
	if s.dovecot == nil {
		return ""
	}
	return "\n--- " + s.dovecot.LogPath() + " ---\n" + s.dovecot.ReadLog()
}

func closeClient(c *imapclient.Client) {
	c.Logout().Wait()
	c.Close()
}

// with runs fn on a connection logged in as user, with no mailbox
// selected: an idle one of the helpers' where one answers a NOOP, or a
// new one. The connection goes back to the idle ones if fn returns and
// its mailbox can be unselected without expunging (UNSELECT), and is
// closed otherwise (fn failed the test, or the server lacks UNSELECT).
func (s *Server) with(t testing.TB, user string, fn func(c *imapclient.Client)) {
	t.Helper()
	c := s.takeIdle(user)
	if c == nil {
		c = s.dial(t, user)
	}
	done := false
	defer func() {
		if !done || !s.putIdle(user, c) {
			closeClient(c)
		}
	}()
	fn(c)
	done = true
}

// takeIdle returns an idle connection of user's that still answers, or
// nil.
func (s *Server) takeIdle(user string) *imapclient.Client {
	if s.idle == nil { // a Server a test made itself
		return nil
	}
	for {
		s.idle.mu.Lock()
		i := slices.IndexFunc(s.idle.conns, func(ic idleClient) bool { return ic.addr == s.Addr && ic.user == user })
		if i < 0 {
			s.idle.mu.Unlock()
			return nil
		}
		c := s.idle.conns[i].c
		s.idle.conns = slices.Delete(s.idle.conns, i, i+1)
		s.idle.mu.Unlock()
		// The server may have been restarted, or have dropped it.
		if c.Noop().Wait() == nil {
			return c
		}
		c.Close()
	}
}

// putIdle gives c back, with no mailbox selected, and reports whether
// it took it. It logs out the connection used least recently if that
// makes more than maxIdle.
func (s *Server) putIdle(user string, c *imapclient.Client) bool {
	if s.idle == nil { // a Server a test made itself
		return false
	}
	// go-imap beta.8 sets a connection's state (and Mailbox) only after
	// the command's Wait has returned: a SELECT answered a moment ago may
	// not show yet. The commands before a NOOP are settled once its
	// answer is in, as the client reads answers in order.
	if c.Noop().Wait() != nil {
		return false
	}
	switch c.State() {
	case imap.ConnStateAuthenticated:
	case imap.ConnStateSelected:
		if !c.Caps().Has(imap.CapUnselect) || c.Unselect().Wait() != nil {
			return false
		}
	default:
		return false
	}
	s.idle.mu.Lock()
	if s.idle.closed {
		s.idle.mu.Unlock()
		return false
	}
	s.idle.conns = append(s.idle.conns, idleClient{s.Addr, user, c})
	var oldest *imapclient.Client
	if len(s.idle.conns) > maxIdle {
		oldest = s.idle.conns[0].c
		s.idle.conns = slices.Delete(s.idle.conns, 0, 1)
	}
	s.idle.mu.Unlock()
	if oldest != nil {
		closeClient(oldest)
	}
	return true
}

// Create creates mailbox for user; it is not an error if it exists.
func (s *Server) Create(t testing.TB, user, mailbox string) {
	t.Helper()
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		ensureMailbox(t, c, mailbox)
	})
}

func ensureMailbox(t testing.TB, c *imapclient.Client, mailbox string) {
	t.Helper()
	if selectable(t, c, mailbox) {
		return
	}
	if err := c.Create(mailbox, nil).Wait(); err != nil {
		t.Fatalf("imaptest: create %q: %v", mailbox, err)
	}
}

func selectable(t testing.TB, c *imapclient.Client, mailbox string) bool {
	t.Helper()
	l, err := c.List("", mailbox, nil).Collect()
	if err != nil {
		t.Fatalf("imaptest: list %q: %v", mailbox, err)
	}
	for _, d := range l {
		if d.Mailbox == mailbox && !hasAttr(d.Attrs, imap.MailboxAttrNoSelect) && !hasAttr(d.Attrs, imap.MailboxAttrNonExistent) {
			return true
		}
	}
	return false
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

// Delete deletes mailbox of user.
func (s *Server) Delete(t testing.TB, user, mailbox string) {
	t.Helper()
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		if err := c.Delete(mailbox).Wait(); err != nil {
			t.Fatalf("imaptest: delete %q: %v", mailbox, err)
		}
	})
}

// Append appends msg to mailbox of user (creating the mailbox if needed)
// with the given flags and returns its UID.
func (s *Server) Append(t testing.TB, user, mailbox string, msg []byte, flags ...imap.Flag) uint32 {
	t.Helper()
	return s.AppendAt(t, user, mailbox, msg, time.Time{}, flags...)
}

// AppendAt is Append with an internal date (the zero time lets the server
// pick now).
func (s *Server) AppendAt(t testing.TB, user, mailbox string, msg []byte, date time.Time, flags ...imap.Flag) uint32 {
	t.Helper()
	var uid uint32
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		ensureMailbox(t, c, mailbox)
		cmd := c.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Flags: flags, Time: date})
		_, werr := cmd.Write(msg)
		cerr := cmd.Close()
		data, err := cmd.Wait()
		for _, e := range []error{err, werr, cerr} {
			if e != nil {
				t.Fatalf("imaptest: append to %q: %v", mailbox, e)
			}
		}
		if data.UID == 0 {
			t.Fatalf("imaptest: append to %q: no APPENDUID from the %s server", mailbox, s.Kind)
		}
		uid = uint32(data.UID)
	})
	return uid
}

// Msg is one message as Messages reports it.
type Msg struct {
	UID uint32
	// Flags are sorted, system flags spelled as in RFC 3501 ("\Seen",
	// "\Deleted"), keywords lower-cased; \Recent is left out.
	Flags []string
	// MessageID is the Message-ID without angle brackets, "" if none.
	MessageID    string
	Size         int64
	InternalDate time.Time
}

// Messages lists mailbox of user in UID order. It opens the mailbox
// read-only (EXAMINE), so it changes nothing.
func (s *Server) Messages(t testing.TB, user, mailbox string) []Msg {
	t.Helper()
	var out []Msg
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		sd, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("imaptest: examine %q: %v", mailbox, err)
		}
		if sd.NumMessages == 0 {
			return
		}
		bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, RFC822Size: true, Envelope: true, InternalDate: true,
		}).Collect()
		if err != nil {
			t.Fatalf("imaptest: fetch %q: %v", mailbox, err)
		}
		for _, b := range bufs {
			m := Msg{UID: uint32(b.UID), Size: b.RFC822Size, InternalDate: b.InternalDate, Flags: canonicalFlags(b.Flags)}
			if b.Envelope != nil {
				m.MessageID = b.Envelope.MessageID
			}
			out = append(out, m)
		}
	})
	slices.SortFunc(out, func(a, b Msg) int { return cmp.Compare(a.UID, b.UID) })
	return out
}

// Body returns the full content and internal date of message uid in
// mailbox of user (fetched with BODY.PEEK[], so \Seen is not set).
func (s *Server) Body(t testing.TB, user, mailbox string, uid uint32) ([]byte, time.Time) {
	t.Helper()
	var body []byte
	var date time.Time
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatalf("imaptest: examine %q: %v", mailbox, err)
		}
		section := &imap.FetchItemBodySection{Peek: true}
		bufs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{
			UID: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{section},
		}).Collect()
		if err != nil {
			t.Fatalf("imaptest: fetch uid %d of %q: %v", uid, mailbox, err)
		}
		if len(bufs) != 1 {
			t.Fatalf("imaptest: fetch uid %d of %q: %d messages", uid, mailbox, len(bufs))
		}
		body, date = bufs[0].FindBodySection(section), bufs[0].InternalDate
	})
	return body, date
}

// AddFlags adds flags to message uid of mailbox, as another client would.
func (s *Server) AddFlags(t testing.TB, user, mailbox string, uid uint32, flags ...imap.Flag) {
	t.Helper()
	s.store(t, user, mailbox, uid, imap.StoreFlagsAdd, flags)
}

// RemoveFlags removes flags from message uid of mailbox.
func (s *Server) RemoveFlags(t testing.TB, user, mailbox string, uid uint32, flags ...imap.Flag) {
	t.Helper()
	s.store(t, user, mailbox, uid, imap.StoreFlagsDel, flags)
}

func (s *Server) store(t testing.TB, user, mailbox string, uid uint32, op imap.StoreFlagsOp, flags []imap.Flag) {
	t.Helper()
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		if _, err := c.Select(mailbox, nil).Wait(); err != nil {
			t.Fatalf("imaptest: select %q: %v", mailbox, err)
		}
		err := c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close()
		if err != nil {
			t.Fatalf("imaptest: store flags on uid %d of %q: %v", uid, mailbox, err)
		}
		// The connection ends with LOGOUT, which (unlike CLOSE) expunges
		// nothing.
	})
}

// Expunge removes message uid of mailbox (STORE \Deleted, UID EXPUNGE),
// as a user's client would.
func (s *Server) Expunge(t testing.TB, user, mailbox string, uid uint32) {
	t.Helper()
	s.AddFlags(t, user, mailbox, uid, imap.FlagDeleted)
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		if _, err := c.Select(mailbox, nil).Wait(); err != nil {
			t.Fatalf("imaptest: select %q: %v", mailbox, err)
		}
		if _, err := c.UIDExpunge(imap.UIDSetNum(imap.UID(uid))).Collect(); err != nil {
			t.Fatalf("imaptest: expunge uid %d of %q: %v", uid, mailbox, err)
		}
	})
}

// Move moves message uid of mailbox to dest with UID MOVE, as a user's
// client would.
func (s *Server) Move(t testing.TB, user, mailbox string, uid uint32, dest string) {
	t.Helper()
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		if _, err := c.Select(mailbox, nil).Wait(); err != nil {
			t.Fatalf("imaptest: select %q: %v", mailbox, err)
		}
		if _, err := c.Move(imap.UIDSetNum(imap.UID(uid)), dest).Wait(); err != nil {
			t.Fatalf("imaptest: move uid %d of %q to %q: %v", uid, mailbox, dest, err)
		}
	})
}

// Mailboxes lists the selectable mailboxes of user, sorted.
func (s *Server) Mailboxes(t testing.TB, user string) []string {
	t.Helper()
	var out []string
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		l, err := c.List("", "*", nil).Collect()
		if err != nil {
			t.Fatalf("imaptest: list: %v", err)
		}
		for _, d := range l {
			if !hasAttr(d.Attrs, imap.MailboxAttrNoSelect) && !hasAttr(d.Attrs, imap.MailboxAttrNonExistent) {
				out = append(out, d.Mailbox)
			}
		}
	})
	slices.Sort(out)
	return out
}

// UIDValidity returns the UIDVALIDITY of mailbox of user.
func (s *Server) UIDValidity(t testing.TB, user, mailbox string) uint32 {
	t.Helper()
	var v uint32
	s.with(t, user, func(c *imapclient.Client) {
		t.Helper()
		sd, err := c.Status(mailbox, &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			t.Fatalf("imaptest: status %q: %v", mailbox, err)
		}
		v = sd.UIDValidity
	})
	return v
}

var systemFlags = map[string]string{
	`\seen`: `\Seen`, `\answered`: `\Answered`, `\flagged`: `\Flagged`,
	`\draft`: `\Draft`, `\deleted`: `\Deleted`,
}

// canonicalFlags spells system flags as RFC 3501 does, lower-cases
// keywords (memserver lower-cases everything, Dovecot keeps case), drops
// \Recent and sorts.
func canonicalFlags(flags []imap.Flag) []string {
	out := []string{}
	for _, f := range flags {
		l := strings.ToLower(string(f))
		if l == `\recent` {
			continue
		}
		if c, ok := systemFlags[l]; ok {
			l = c
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}
