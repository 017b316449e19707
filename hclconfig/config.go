package hclconfig

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"time"

	"github.com/mailtwin/mailtwin/reconcile"
)

// Config is a validated configuration. Load and Parse return one only
// when the file has no errors; then every invariant documented on its
// fields holds.
type Config struct {
	// Filename is the file the configuration was read from, as given to
	// Load or Parse.
	Filename string
	State    State
	// Accounts are in file order; their names are unique.
	Accounts []Account
	// Pairs are in file order; their names are unique, and there is at
	// least one.
	Pairs []Pair
}

// Account returns the account named name, or nil.
func (c *Config) Account(name string) *Account {
	for i := range c.Accounts {
		if c.Accounts[i].Name == name {
			return &c.Accounts[i]
		}
	}
	return nil
}

// Pair returns the pair named name, or nil.
func (c *Config) Pair(name string) *Pair {
	for i := range c.Pairs {
		if c.Pairs[i].Name == name {
			return &c.Pairs[i]
		}
	}
	return nil
}

// State says where the state repository lives.
type State struct {
	// Path is the state repository's directory: absolute when the file
	// gave an absolute path, otherwise joined to the directory of the
	// config file (so it is relative to the working directory exactly
	// when the config file name was). Never empty; the default is
	// "mailtwin-state" beside the config file.
	Path string
	// Remote is the Git remote of the state repository, empty for none:
	// an ssh://, https:// (or http:// to a loopback host) or file:// URL,
	// an scp-like user@host:path, or a local path (absolute, or joined to
	// the directory of the config file as Path is). It never holds a
	// password. RemoteKind says which; RemoteNone exactly when Remote is
	// empty.
	Remote     string
	RemoteKind RemoteKind
	// Branch is the remote branch of the state when there is a remote:
	// DefaultBranch unless the file says otherwise. Empty without one.
	Branch string
	// SSHKeyFile is the private key for an ssh remote (joined to the
	// config file's directory when relative); empty means ssh-agent.
	// SSHKnownHosts is the known_hosts file the server's host key is
	// checked against; empty means the usual ones ($SSH_KNOWN_HOSTS,
	// ~/.ssh/known_hosts). Both are set only for an ssh remote.
	SSHKeyFile    string
	SSHKnownHosts string
	// TokenEnv is the name of the environment variable that holds the
	// token for an https remote, read at run time; empty for none. Set
	// only for an https remote. The token itself is never part of the
	// Config.
	TokenEnv string
	// LockMaxAge is how long a run lock may go unrefreshed before another
	// run takes it over as stale (a run on another host that died, whose
	// pid cannot be checked). Zero means gitstate.DefaultLockMaxAge.
	LockMaxAge time.Duration
	// CheckpointActions and CheckpointInterval: a run commits its
	// progress, as an incomplete run, once this many actions are done
	// (or a quarter of those done at the last commit, where that is
	// more) or this long has passed since the last commit, whichever
	// comes first. Zero means DefaultCheckpointActions and
	// DefaultCheckpointInterval.
	CheckpointActions  int
	CheckpointInterval time.Duration
}

// The checkpoint defaults: a long first sync commits its progress every
// 1,000 actions (spaced wider as it goes: see CheckpointActions) or 5
// minutes.
const (
	DefaultCheckpointActions  = 1000
	DefaultCheckpointInterval = 5 * time.Minute
)

// TLSMode is how an account's connection is secured.
type TLSMode int

const (
	// TLSImplicit is TLS from the first byte; the default port is 993.
	TLSImplicit TLSMode = iota
	// TLSStartTLS upgrades a plain connection with STARTTLS; the default
	// port is 143.
	TLSStartTLS
	// TLSNone is plain text; the default port is 143. The configuration
	// refuses it for a host that is not loopback unless
	// insecure_plaintext = true.
	TLSNone
)

var tlsNames = []string{"implicit", "starttls", "none"}

// String returns the configuration spelling of m: "implicit", "starttls"
// or "none".
func (m TLSMode) String() string { return tlsNames[m] }

// Account is one IMAP account.
type Account struct {
	// Name is the account's label, unique and not empty.
	Name string
	// Provider is the preset named by provider = "...", "" for none; Host,
	// Port, TLS, Auth and ExcludeSpecialUse hold its values where the
	// file did not set them (see Presets).
	Provider string
	// Host is a DNS name or an IP address, without port or scheme.
	Host string
	// Port is between 1 and 65535.
	Port int
	TLS  TLSMode
	// InsecurePlaintext is the user's consent to TLSNone with a host that
	// is not loopback.
	InsecurePlaintext bool
	// Username is not empty.
	Username string
	// Password is the password when PasswordCommand is empty. Exactly one
	// of the two was configured, unless Auth is AuthXOAuth2 or
	// AuthOAuthBearer: then neither was.
	Password string
	// PasswordInFile is true when Password is written out in the
	// configuration file itself: its expression calls no function (such
	// as env or file) and refers to no variable.
	PasswordInFile bool
	// PasswordCommand is a program and its arguments whose output is the
	// password; empty, or with a non-empty program name. hclconfig never
	// runs it.
	PasswordCommand []string
	// Auth is how the account logs in: AuthDefault (""), AuthPlain,
	// AuthLogin, AuthXOAuth2 or AuthOAuthBearer. It is AuthXOAuth2 or
	// AuthOAuthBearer exactly when an access token source (TokenCommand
	// or OAuth2) is set, and then Password and PasswordCommand are
	// empty; otherwise exactly one of those two was configured.
	Auth string
	// TokenCommand is a program and its arguments whose first output
	// line is an OAuth2 access token (like oama access ADDRESS); empty,
	// or with a non-empty program name. hclconfig never runs it. At most
	// one of TokenCommand and OAuth2 is set.
	TokenCommand []string
	// OAuth2 is the account's oauth2 block: how to trade a refresh
	// token for an access token; nil when none.
	OAuth2 *OAuth2
	// TLSCAFile is the PEM file of the certificates this account trusts
	// instead of the system roots: absolute when the file gave an
	// absolute path, otherwise joined to the directory of the config
	// file (as State.Path). Empty means the system roots. Set only when
	// TLS is not TLSNone.
	TLSCAFile string
	// TLSCAs are the certificates of TLSCAFile, read when the
	// configuration was loaded: not empty exactly when TLSCAFile is set.
	TLSCAs []*x509.Certificate
	// TLSServerName is the name the server's certificate must carry, a
	// DNS name or an IP address; empty means Host. Set only when TLS is
	// not TLSNone.
	TLSServerName string
	// Timeout is how long the server may stay silent during a network
	// step (connecting, the TLS handshake, waiting for an answer) before
	// the step fails. It is positive, or zero when the file does not set
	// it: then the caller's default applies.
	Timeout time.Duration
	// Connections is how many connections a run may open to the account
	// at once, to work on several folders in parallel: between 1 and
	// MaxConnections, or zero when the file does not set it (then
	// DefaultConnections applies).
	Connections int
	// ExcludeSpecialUse are special-use attributes (`\All`, `\Important`:
	// any of reconcile.SpecialUseAttributes, in that canonical spelling,
	// no repeats) whose folders on this account the pairing leaves out:
	// not synced, never made on the other side, never deleted for being
	// missing. nil when the file does not set exclude_special_use (a
	// provider preset may then fill it in); an empty list when it sets
	// it to []. Each pair's Policy.ExcludeSpecialUse holds its accounts'.
	ExcludeSpecialUse []string
}

// DefaultConnections is the number of connections per account a run
// uses when the account does not set connections.
const DefaultConnections = 4

// MaxConnections is the most connections an account may set; providers
// limit connections per account (Gmail to 15, for all clients together).
const MaxConnections = 16

// Address returns "host:port", with brackets around an IPv6 host.
func (a *Account) Address() string {
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// TLSConfig returns the client TLS configuration of tls_ca_file and
// tls_server_name: RootCAs holds TLSCAs (nil: the system roots) and
// ServerName is TLSServerName (empty: the host dialled). It is nil when
// neither is set. Each call returns a new value.
func (a *Account) TLSConfig() *tls.Config {
	if len(a.TLSCAs) == 0 && a.TLSServerName == "" {
		return nil
	}
	cfg := &tls.Config{ServerName: a.TLSServerName}
	if len(a.TLSCAs) > 0 {
		cfg.RootCAs = x509.NewCertPool()
		for _, c := range a.TLSCAs {
			cfg.RootCAs.AddCert(c)
		}
	}
	return cfg
}

// Pair is two accounts kept in step.
type Pair struct {
	// Name is unique, and usable as a directory name in the state
	// repository: letters, digits, '-', '_' and '.', starting with a
	// letter or a digit.
	Name string
	// A and B name two different accounts of the Config.
	A, B string
	// Policy holds the folder rules in file order (the first match
	// wins), the defaults for folders no rule matches, the max_deletes
	// limit, the preferred side and the naming. Force is always false:
	// it is a command-line decision.
	//
	// In Policy.Naming, each Prefix is "" or "/"-separated levels, none
	// of them empty, with no "*", "%" or control character; Maps are the
	// map blocks in file order, every name not empty and no two sharing
	// an A name or a B name; IgnoreRoles is the negation of
	// match_special_use (default true).
	Policy reconcile.Policy
}

// Options tune Load and Parse. The zero value is ready to use.
type Options struct {
	// LookupEnv is what env() reads; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}
