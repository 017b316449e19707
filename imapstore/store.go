package imapstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// Mode says how the connection is secured.
type Mode int

const (
	// Implicit is TLS from the first byte (IMAPS, port 993).
	Implicit Mode = iota
	// StartTLS is plain IMAP upgraded with STARTTLS (port 143).
	StartTLS
	// None is plain IMAP without TLS: loopback and tests only.
	None
)

func (m Mode) String() string {
	switch m {
	case Implicit:
		return "implicit"
	case StartTLS:
		return "starttls"
	case None:
		return "none"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// DefaultTimeout bounds each network step when Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Options configures Dial.
type Options struct {
	// Name is the account's name, used in errors and by Name.
	Name string
	// Addr is host:port. Without a port, 993 is used for Implicit and 143
	// otherwise.
	Addr string
	// TLS is how the connection is secured.
	TLS Mode
	// TLSConfig, if set, is used for TLS (cloned; ServerName defaults to
	// Addr's host). Nil means verified system roots. Set RootCAs to
	// trust a private CA, ServerName to check the certificate against
	// another name than Addr's host. A certificate that does not verify
	// fails Dial with a *CertificateError.
	TLSConfig *tls.Config
	// Username and Password are sent with LOGIN (or AUTHENTICATE PLAIN,
	// see Auth). The password appears in no error and no debug output.
	Username, Password string
	// Auth is how to log in; AuthDefault uses Password with LOGIN, or
	// AUTHENTICATE PLAIN where the server disables LOGIN. Every
	// connection of the Store (the pool's, MULTIAPPEND's) logs in the
	// same way.
	Auth Mechanism
	// Token returns the access token for AuthXOAuth2 and
	// AuthOAuthBearer. It is called before each connection is opened
	// (reconnections and extra connections included), so the caller
	// decides how long a token is reused; a cache that hands out one
	// token per run is typical. The token appears in no error and no
	// debug output.
	Token func(ctx context.Context) (string, error)
	// TokenRejected, when set, is told of an access token the server
	// refused (AUTHENTICATE failed): the Store then asks Token again
	// and, given another token, logs in once more with it. A provider
	// may end a token before the expiry it stated, and a cache that
	// kept it would fail every login until then (watch runs for days).
	TokenRejected func(token string)
	// ReadOnly opens every mailbox with EXAMINE and makes every method
	// that would change the account fail before sending anything.
	ReadOnly bool
	// Timeout bounds each network step: dialling, the TLS handshake, and
	// any wait for the server during an operation. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// DebugWriter, if set, receives the raw protocol, LOGIN excepted:
	// the LOGIN command and its reply are replaced by a placeholder, and
	// any LOGIN or AUTHENTICATE exchange before authentication (SASL-IR
	// initial responses and continuation lines included) by its tag,
	// command name and mechanism.
	DebugWriter io.Writer
	// OnChange, if set, is called for each change the server reports
	// on its own (an EXISTS, EXPUNGE or FETCH outside a command's
	// answer, as during Idle). It runs on the connection's reader: it
	// must not block, nor call the Store.
	OnChange func()
}

// ErrReadOnly is matched (errors.Is) by the error a mutating method
// returns on a Store opened with Options.ReadOnly.
var ErrReadOnly = errors.New("opened read-only")

// ErrAuthFailed is matched (errors.Is) by the error of a rejected login:
// wrong credentials, not a transient failure.
var ErrAuthFailed = errors.New("authentication failed")

var errClosed = errors.New("store is closed")

type readOnlyError struct {
	account, op string
}

func (e *readOnlyError) Error() string {
	return fmt.Sprintf("account %q is opened read-only: refusing to %s", e.account, e.op)
}

func (e *readOnlyError) Is(target error) bool { return target == ErrReadOnly }

// Store is one IMAP account. It implements reconcile.Mailstore.
//
// A Store is safe for use by several goroutines, but runs one operation
// at a time: calls wait for each other. The callback of Fetch must not
// call the Store it was given by (that would deadlock).
type Store struct {
	opts Options
	addr string // host:port
	host string

	// mu serialises operations and guards everything below.
	mu     sync.Mutex
	c      *imapclient.Client // nil: not connected (the next call dials)
	conn   *timeoutConn
	debug  *redactor   // nil without DebugWriter; writes to auth
	auth   *authFilter // under debug; nil without DebugWriter
	caps   imap.CapSet
	delim  rune
	hasDel bool // delim is known
	sel    selection
	closed bool
	// ops counts the operations run so far (run), so that one can tell
	// whether another went between two.
	ops uint64
	// expect is the check ExpectCheck announced when ops was expectOp,
	// for a ChangeMessages that is the next operation; ahead is what
	// that call read for it.
	expect   *reconcile.ScanPointRequest
	expectOp uint64
	ahead    *checkAhead
	// mech is the mechanism the first connection logged in with
	// (AuthDefault resolved); set in Dial before the Store is shared and
	// never changed after, so other connections read it freely.
	mech Mechanism
	// liveCaps is caps while connected, nil otherwise, for readers that
	// must not wait for an operation (Caps).
	liveCaps atomic.Pointer[imap.CapSet]

	// parkMu guards the MULTIAPPEND connections a Store keeps, apart
	// from mu: a copy's pipeline takes one up while another operation
	// of the Store runs on its connection. Taken after mu, never before.
	parkMu sync.Mutex
	// parked is a MULTIAPPEND connection an idle pipeline left for the
	// next one (see multiPipeline), and when; nil when none.
	parked   *multiConn
	parkedAt time.Time
	// warming is closed when the MULTIAPPEND connection WarmAppends is
	// opening has been parked (or failed); nil when none is on its way.
	warming chan struct{}
	// parkClosed is set by Close: a connection parked after is logged
	// out of.
	parkClosed bool
	// expunges counts the EXPUNGE responses of the connection, whoever
	// asked for them (see Move).
	expunges atomic.Int64
	// latency is the round-trip time the last connection measured (see
	// Latency), in nanoseconds.
	latency atomic.Int64
}

var _ reconcile.Mailstore = (*Store)(nil)

// selection is the mailbox the connection has selected, as the Store
// knows it from the answers to its own commands. go-imap's State and
// Mailbox are not asked: beta.8 updates them only after a command's Wait
// has returned, and not at all when a SELECT fails.
type selection struct {
	name     string // "" when none
	readOnly bool
	data     imap.SelectData
	// unsure is set, with no name, when a SELECT or EXAMINE failed while
	// a mailbox was selected. RFC 3501 has the server leave that mailbox
	// then, and Dovecot says so with an untagged [CLOSED], but a server
	// may keep it: unselect and selectAhead leave it anyway, and take
	// the server's refusal as its word that nothing is selected.
	unsure bool
}

// failing is the selection while a SELECT or EXAMINE is under way: what
// is left if it fails.
func (sel selection) failing() selection {
	return selection{unsure: sel.name != "" || sel.unsure}
}

// Dial connects to the account and logs in.
func Dial(ctx context.Context, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	addr := opts.Addr
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.Trim(addr, "[]")
		port := "993"
		if opts.TLS != Implicit {
			port = "143"
		}
		addr = net.JoinHostPort(host, port)
	}
	if opts.Name == "" {
		opts.Name = opts.Username + "@" + addr
	}
	s := &Store{opts: opts, addr: addr, host: host}
	if opts.DebugWriter != nil {
		s.auth = newAuthFilter(opts.DebugWriter)
		s.debug = &redactor{w: s.auth}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("account %q: connect to %s: %w", opts.Name, addr, err)
	}
	if err := s.connect(ctx); err != nil {
		return nil, fmt.Errorf("account %q: %w", opts.Name, err)
	}
	return s, nil
}

// Connect opens another connection to the account with the same
// options, for a run that works on several folders at once
// (reconcile.Connector). The caller closes it.
func (s *Store) Connect(ctx context.Context) (reconcile.Conn, error) {
	c, err := Dial(ctx, s.opts)
	if err != nil {
		return nil, err
	}
	return c, nil
}

var _ reconcile.Connector = (*Store)(nil)

// Name returns the account's name.
func (s *Store) Name() string { return s.opts.Name }

// Latency returns the network round-trip time to the server, as the
// Store's last connection measured it: the kernel's own measure where
// it tells one (Linux's TCP_INFO), else how long the TCP connect took.
// Both are answered by the server's kernel, so none of the server's own
// work is in them (Dovecot starts a process for each connection before
// it greets: 20 ms on the bench's machine), and the kernel's is not
// lengthened by this process waiting for the CPU, as a timed connect
// is on a busy machine. Over the Internet that is 10 ms or more; to a
// server on the same machine or LAN, a fraction of a millisecond. It
// implements reconcile.LatencyReporter.
func (s *Store) Latency() time.Duration { return time.Duration(s.latency.Load()) }

var _ reconcile.LatencyReporter = (*Store)(nil)

// Caps returns the capabilities the server advertised after login, or
// nil while not connected. The set must not be modified.
func (s *Store) Caps() imap.CapSet {
	if c := s.liveCaps.Load(); c != nil {
		return *c
	}
	return nil
}

// Close logs out and closes the connection. The Store cannot be used
// after.
func (s *Store) Close() error {
	s.parkMu.Lock()
	warming := s.warming
	s.parkMu.Unlock()
	if warming != nil {
		// Its connection is parked when it comes, and logged out below.
		<-warming
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.liveCaps.Store(nil)
	s.parkMu.Lock()
	mc := s.parked
	s.parked, s.parkClosed = nil, true
	s.parkMu.Unlock()
	if mc != nil {
		// Logged out of at the same time as the Store's connection.
		done := make(chan struct{})
		go func() {
			defer close(done)
			mc.logout()
		}()
		defer func() { <-done }()
	}
	if s.c == nil {
		return nil
	}
	if s.dead() {
		s.drop()
		return nil
	}
	c, conn := s.c, s.conn
	s.c, s.conn = nil, nil
	conn.begin()
	err := c.Logout().Wait()
	conn.end()
	c.Close()
	if err != nil && !isConnClosed(err) {
		return fmt.Errorf("account %q: logout: %w", s.opts.Name, err)
	}
	return nil
}

// connect dials, secures, reads the greeting and logs in. Its errors
// name the address but not the account (callers add it).
func (s *Store) connect(ctx context.Context) error {
	return s.withFreshToken(ctx, func(token string) error { return s.connectWith(ctx, token) })
}

// connectWith is connect with token, the access token of a token
// mechanism ("" for the others).
func (s *Store) connectWith(ctx context.Context, token string) error {
	d := net.Dialer{Timeout: s.opts.Timeout}
	start := time.Now()
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	dialed := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("connect to %s: %w", s.addr, err)
	}
	conn := newTimeoutConn(raw, s.opts.Timeout)
	conn.begin()
	stop := context.AfterFunc(ctx, conn.abort)
	c, caps, err := s.open(conn, token)
	aborted := !stop()
	conn.end()
	if aborted {
		if c != nil {
			go c.Close()
		}
		conn.abort()
		return fmt.Errorf("connect to %s: %w", s.addr, ctx.Err())
	}
	if err != nil {
		if c != nil {
			go c.Close()
		}
		conn.abort()
		if conn.hasTimedOut() {
			err = &timeoutError{d: s.opts.Timeout, err: err}
		}
		return err
	}
	s.c, s.conn, s.caps = c, conn, caps
	s.liveCaps.Store(&caps)
	if rtt, ok := kernelRTT(raw); ok {
		dialed = rtt
	}
	s.latency.Store(int64(dialed))
	s.sel = selection{}
	return nil
}

// open runs the protocol part of connect on an established connection;
// token is the access token of a token mechanism.
func (s *Store) open(conn *timeoutConn, token string) (*imapclient.Client, imap.CapSet, error) {
	cfg := &tls.Config{}
	if s.opts.TLSConfig != nil {
		cfg = s.opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	copts := &imapclient.Options{TLSConfig: cfg, UnilateralDataHandler: unilateralHandler(s.opts.OnChange, &s.expunges)}
	if s.debug != nil {
		copts.DebugWriter = s.debug
	}
	// Until this connection is authenticated, the trace hides any
	// LOGIN or AUTHENTICATE exchange it sees (see authFilter).
	s.auth.reset()

	var c *imapclient.Client
	switch s.opts.TLS {
	case Implicit:
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			if ce := certificateError(err, cfg.ServerName); ce != nil {
				return nil, nil, fmt.Errorf("tls handshake with %s: %w", s.addr, ce)
			}
			var rec tls.RecordHeaderError
			if errors.As(err, &rec) {
				return nil, nil, fmt.Errorf("tls handshake with %s: %w (a plain IMAP port? port 143 wants tls = starttls)", s.addr, err)
			}
			return nil, nil, fmt.Errorf("tls handshake with %s: %w", s.addr, err)
		}
		c = imapclient.New(tc, copts)
	case StartTLS:
		var err error
		c, err = imapclient.NewStartTLS(conn, copts)
		if ce := certificateError(err, cfg.ServerName); ce != nil {
			return nil, nil, fmt.Errorf("starttls with %s: tls handshake: %w", s.addr, ce)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("starttls with %s: %w (does the server offer STARTTLS? port 993 wants tls = implicit)", s.addr, err)
		}
	case None:
		c = imapclient.New(conn, copts)
	default:
		return nil, nil, fmt.Errorf("unknown TLS mode %v", s.opts.TLS)
	}

	if err := c.WaitGreeting(); err != nil {
		return c, nil, fmt.Errorf("greeting from %s: %w", s.addr, err)
	}
	var noop *imapclient.Command
	if c.State() == imap.ConnStateNotAuthenticated {
		m, err := s.mechanism(c.Caps())
		if err != nil {
			return c, nil, err
		}
		if noop, err = s.authenticate(c, m, token); err != nil {
			return c, nil, err
		}
		if s.mech == AuthDefault {
			s.mech = m // the first connection, in Dial
		}
	}
	// No credentials travel from here on; message contents do, and
	// must not be read as commands.
	s.auth.authenticated()
	// Dovecot can answer LOGIN with OK and then BYE when it cannot set up
	// the user's mail storage; Login().Wait() still returns nil. Only a
	// round trip tells (and Caps() is nil on a dead connection). After
	// LOGIN the NOOP went with it (authenticate).
	if noop == nil {
		noop = c.Noop()
	}
	if err := noop.Wait(); err != nil || c.State() != imap.ConnStateAuthenticated {
		if err == nil {
			err = errors.New("connection closed")
		}
		return c, nil, fmt.Errorf("login as %s at %s: the server accepted the login, then closed the connection (%v): its log says why", s.opts.Username, s.addr, err)
	}
	caps := c.Caps()
	if caps == nil {
		return c, nil, fmt.Errorf("login as %s at %s: the server accepted the login but sends no capabilities (connection lost?)", s.opts.Username, s.addr)
	}
	return c, caps, nil
}

func (s *Store) loginError(err error) error {
	prefix := fmt.Sprintf("login as %s at %s", s.opts.Username, s.addr)
	var ierr *imap.Error
	if !errors.As(err, &ierr) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	switch ierr.Code {
	case imap.ResponseCodeUnavailable, imap.ResponseCodeLimit, imap.ResponseCodeInUse:
		return fmt.Errorf("%s: the server is unavailable, try again later: %s", prefix, serverText(ierr))
	case imap.ResponseCodePrivacyRequired:
		return fmt.Errorf("%s: the server requires TLS: %s", prefix, serverText(ierr))
	}
	if ierr.Type == imap.StatusResponseTypeBad {
		return fmt.Errorf("%s: the server rejected the command: %s", prefix, serverText(ierr))
	}
	said := ""
	text := strings.TrimRight(strings.TrimSpace(ierr.Text), ".")
	if text != "" && !strings.EqualFold(text, "authentication failed") {
		said = fmt.Sprintf("; the server said %q", ierr.Text)
	}
	return fmt.Errorf("%s: %w (check username and password)%s", prefix, ErrAuthFailed, said)
}

func serverText(e *imap.Error) string {
	if e.Code != "" {
		return fmt.Sprintf("[%s] %s", e.Code, e.Text)
	}
	return e.Text
}

// dead reports whether the client's connection is gone.
func (s *Store) dead() bool {
	select {
	case <-s.c.Closed():
		return true
	default:
	}
	return s.c.State() == imap.ConnStateLogout
}

// drop forgets the connection; the next operation dials a new one.
func (s *Store) drop() {
	if s.c == nil {
		return
	}
	c := s.c
	s.conn.abort()
	s.c, s.conn, s.caps = nil, nil, nil
	s.liveCaps.Store(nil)
	s.sel = selection{}
	s.ahead = nil
	go c.Close() // returns once go-imap's reader has seen the close
}

// callbackError carries an error returned by a caller's callback through
// run unchanged.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// run runs fn as one operation: connected (reconnecting if the last
// connection was lost), with deadlines armed, cancelled by ctx. Errors
// come back as `account "a": OP: ...`.
func (s *Store) run(ctx context.Context, op string, fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	wrap := func(err error) error {
		return fmt.Errorf("account %q: %s: %w", s.opts.Name, op, err)
	}
	s.ops++
	if s.closed {
		return wrap(errClosed)
	}
	if err := ctx.Err(); err != nil {
		return wrap(err)
	}
	if s.c != nil && s.dead() {
		s.drop()
	}
	if s.c == nil {
		if err := s.connect(ctx); err != nil {
			return wrap(fmt.Errorf("reconnect: %w", err))
		}
	}
	conn := s.conn
	conn.begin()
	stop := context.AfterFunc(ctx, conn.abort)
	err := fn()
	aborted := !stop()
	conn.end()

	if aborted {
		// The connection was closed under fn: whatever fn (or a callback)
		// saw, the reason is the context.
		s.drop()
		return wrap(ctx.Err())
	}
	if err == nil {
		return nil
	}
	if cb, ok := err.(*callbackError); ok {
		if s.dead() {
			s.drop()
		}
		return cb.err
	}
	if s.dead() || conn.hasTimedOut() {
		timedOut := conn.hasTimedOut()
		s.drop()
		if timedOut {
			err = &timeoutError{d: s.opts.Timeout, err: err}
		}
	}
	return wrap(err)
}

// mutate is run for an operation that changes the account: refused up
// front on a read-only Store.
func (s *Store) mutate(ctx context.Context, op string, fn func() error) error {
	if s.opts.ReadOnly {
		return &readOnlyError{account: s.opts.Name, op: op}
	}
	return s.run(ctx, op, fn)
}

// selectMailbox makes mailbox the selected one, read-write if write is
// set, with EXAMINE otherwise. It keeps the current selection when that
// suffices (a read-write selection serves reads too), unless fresh is
// set: then it selects again, for up-to-date UIDNEXT and message count.
func (s *Store) selectMailbox(mailbox string, write, fresh bool) (*imap.SelectData, error) {
	if write && s.opts.ReadOnly {
		panic("imapstore: read-write SELECT on a read-only store")
	}
	if !fresh && s.isSelected(mailbox, write) {
		return &s.sel.data, nil
	}
	readOnly := !write
	s.sel = s.sel.failing()
	data, err := s.c.Select(mailbox, &imap.SelectOptions{
		ReadOnly:  readOnly,
		CondStore: s.caps.Has(imap.CapCondStore),
	}).Wait()
	if err != nil {
		verb := "examine"
		if write {
			verb = "select"
		}
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	s.sel = selection{name: mailbox, readOnly: readOnly, data: *data}
	return data, nil
}

// isSelected reports whether the connection has mailbox selected, and
// read-write if write is set (a read-write selection serves reads too).
func (s *Store) isSelected(mailbox string, write bool) bool {
	return mailbox != "" && s.sel.name == mailbox && !(write && s.sel.readOnly)
}

// unselect leaves the selected mailbox without expunging anything.
func (s *Store) unselect() error {
	if s.sel.name == "" && !s.sel.unsure {
		return nil
	}
	unsure := s.sel.unsure
	defer func() { s.sel = selection{} }()
	if s.caps.Has(imap.CapUnselect) {
		err := s.c.Unselect().Wait()
		if unsure && isRefusal(err) {
			return nil // the server had nothing selected
		}
		return err
	}
	// CLOSE expunges \Deleted messages, except in a mailbox opened with
	// EXAMINE: examine first.
	if !s.sel.readOnly || s.sel.name == "" {
		name := s.sel.name
		if name == "" {
			name = "INBOX"
		}
		if _, err := s.selectMailbox(name, false, true); err != nil {
			return err
		}
	}
	return s.c.UnselectAndExpunge().Wait()
}

// isConnClosed reports errors that only say the connection is gone.
func isConnClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// uidSet makes a UID set of uids (any order, duplicates allowed).
func uidSet(uids []reconcile.UID) imap.UIDSet {
	var set imap.UIDSet
	for _, u := range uids {
		if u != 0 {
			set.AddNum(imap.UID(u))
		}
	}
	return set
}

// imapFlags converts canonical flags to go-imap's.
func imapFlags(f reconcile.Flags) []imap.Flag {
	out := make([]imap.Flag, len(f))
	for i, x := range f {
		out[i] = imap.Flag(x)
	}
	return out
}

// pairUIDs maps source to destination UIDs of a COPYUID response code;
// nil when the server sent none or the sets do not line up.
func pairUIDs(src, dst imap.NumSet) map[reconcile.UID]reconcile.UID {
	s, ok1 := src.(imap.UIDSet)
	d, ok2 := dst.(imap.UIDSet)
	if !ok1 || !ok2 {
		return nil
	}
	sn, ok1 := s.Nums()
	dn, ok2 := d.Nums()
	if !ok1 || !ok2 || len(sn) != len(dn) || len(sn) == 0 {
		return nil
	}
	m := make(map[reconcile.UID]reconcile.UID, len(sn))
	for i := range sn {
		m[reconcile.UID(sn[i])] = reconcile.UID(dn[i])
	}
	return m
}
