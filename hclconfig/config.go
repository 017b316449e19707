// Package hclconfig owns mailtwin's configuration schema: it reads an HCL
// file into a validated Config, and reports every mistake as an HCL
// diagnostic with file, line, column and the source line.
//
// It may import reconcile for the policy types and nothing else of
// mailtwin's. It does no I/O beyond reading the config file and the files
// that file() names; password_command is run by the caller.
package hclconfig

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/mailtwin/mailtwin/reconcile"
)

// TLSMode is how an account's connection is secured.
type TLSMode int

const (
	// TLSImplicit is TLS from the first byte (port 993).
	TLSImplicit TLSMode = iota
	// TLSStartTLS upgrades a plain connection with STARTTLS (port 143).
	TLSStartTLS
	// TLSNone is plain text; refused for a non-loopback host unless
	// insecure_plaintext = true.
	TLSNone
)

var tlsNames = []string{"implicit", "starttls", "none"}

// String returns the configuration spelling of m.
func (m TLSMode) String() string { return tlsNames[m] }

// Config is a validated configuration.
type Config struct {
	// Filename is the file it was read from.
	Filename string
	State    State
	Accounts []Account
	Pairs    []Pair
}

// State says where the state repository is.
type State struct {
	// Path is the state repository's directory, resolved against the
	// config file's directory.
	Path   string
	Remote string
}

// Account is one IMAP account.
type Account struct {
	Name              string
	Host              string
	Port              int
	TLS               TLSMode
	InsecurePlaintext bool
	Username          string
	// Password is set unless PasswordCommand is.
	Password        string
	PasswordCommand []string
}

// Address returns "host:port".
func (a *Account) Address() string {
	return net.JoinHostPort(a.Host, fmt.Sprint(a.Port))
}

// Pair is two accounts kept in step.
type Pair struct {
	Name string
	// A and B name accounts of the Config.
	A, B   string
	Policy reconcile.Policy
	Maps   []Map
}

// Map pairs a folder name on A with one on B explicitly.
type Map struct{ A, B string }

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

// Options tune Load and Parse.
type Options struct {
	// LookupEnv is what env() reads; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// The raw schema, as gohcl decodes it. Enumerations are kept as
// expressions so their diagnostics point at the value.
type rawFile struct {
	State    *rawState    `hcl:"state,block"`
	Accounts []rawAccount `hcl:"account,block"`
	Pairs    []rawPair    `hcl:"pair,block"`
}

type rawState struct {
	Path   *string `hcl:"path,optional"`
	Remote *string `hcl:"remote,optional"`
}

type rawAccount struct {
	Name              string         `hcl:"name,label"`
	Host              string         `hcl:"host"`
	Port              hcl.Expression `hcl:"port,optional"`
	TLS               hcl.Expression `hcl:"tls,optional"`
	InsecurePlaintext *bool          `hcl:"insecure_plaintext,optional"`
	Username          string         `hcl:"username"`
	Password          hcl.Expression `hcl:"password,optional"`
	PasswordCommand   hcl.Expression `hcl:"password_command,optional"`
	DeclRange         hcl.Range      `hcl:",def_range"`
}

type rawPair struct {
	Name      string         `hcl:"name,label"`
	A         hcl.Expression `hcl:"a"`
	B         hcl.Expression `hcl:"b"`
	Prefer    hcl.Expression `hcl:"prefer,optional"`
	Defaults  *rawRule       `hcl:"defaults,block"`
	Folders   []rawFolder    `hcl:"folder,block"`
	Maps      []rawMap       `hcl:"map,block"`
	DeclRange hcl.Range      `hcl:",def_range"`
}

type rawRule struct {
	Direction  hcl.Expression `hcl:"direction,optional"`
	Deletion   hcl.Expression `hcl:"deletion,optional"`
	MaxDeletes hcl.Expression `hcl:"max_deletes,optional"`
}

type rawFolder struct {
	Pattern   string         `hcl:"pattern,label"`
	Direction hcl.Expression `hcl:"direction,optional"`
	Deletion  hcl.Expression `hcl:"deletion,optional"`
	DeclRange hcl.Range      `hcl:",def_range"`
}

type rawMap struct {
	A string `hcl:"a"`
	B string `hcl:"b"`
}

// Load reads and validates the config file filename. It returns every
// diagnostic it finds, and the parsed files for WriteDiagnostics. The
// Config is nil when there are errors.
func Load(filename string, opts Options) (*Config, hcl.Diagnostics, map[string]*hcl.File) {
	src, err := os.ReadFile(filename)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read the configuration file",
			Detail:   fmt.Sprintf("%v. Pass the file with -c/--config; the default is mailtwin.hcl in the current directory.", err),
		}}, nil
	}
	return Parse(src, filename, opts)
}

// Parse is Load from bytes; filename names the source in diagnostics and
// relative paths resolve against its directory.
func Parse(src []byte, filename string, opts Options) (*Config, hcl.Diagnostics, map[string]*hcl.File) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, diags, p.Files()
	}
	dir := filepath.Dir(filename)
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{
		"env":   envFunc(opts.LookupEnv),
		"file":  fileFunc(dir),
		"lower": stdlib.LowerFunc,
		"upper": stdlib.UpperFunc,
	}}
	var raw rawFile
	diags = append(diags, gohcl.DecodeBody(f.Body, ctx, &raw)...)
	d := &decoder{ctx: ctx}
	cfg := d.config(&raw, filename, dir)
	diags = dedupe(append(diags, d.diags...))
	if diags.HasErrors() {
		return nil, diags, p.Files()
	}
	return cfg, diags, p.Files()
}

type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: &r})
}

// present reports whether an optional expression was given.
func present(e hcl.Expression) bool {
	if e == nil {
		return false
	}
	v, diags := e.Value(nil)
	return diags.HasErrors() || !v.IsNull()
}

// str decodes an optional string expression; ok is false when absent or
// broken (the diagnostic is recorded).
func (d *decoder) str(e hcl.Expression) (string, bool) {
	if !present(e) {
		return "", false
	}
	var s string
	diags := gohcl.DecodeExpression(e, d.ctx, &s)
	d.diags = append(d.diags, diags...)
	return s, !diags.HasErrors()
}

// enum decodes an optional string that must be one of allowed.
func (d *decoder) enum(e hcl.Expression, what string, allowed []string) (string, bool) {
	s, ok := d.str(e)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	d.errorf(e.Range(), "Invalid "+what, "%s must be one of %s; got %q.", what, quoteList(allowed), s)
	return "", false
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

func (d *decoder) config(raw *rawFile, filename, dir string) *Config {
	cfg := &Config{Filename: filename, State: State{Path: filepath.Join(dir, "mailtwin-state")}}
	if raw.State != nil {
		if raw.State.Path != nil && *raw.State.Path != "" {
			p := *raw.State.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			cfg.State.Path = p
		}
		if raw.State.Remote != nil {
			cfg.State.Remote = *raw.State.Remote
		}
	}
	seen := map[string]hcl.Range{}
	for i := range raw.Accounts {
		ra := &raw.Accounts[i]
		if prev, dup := seen[ra.Name]; dup {
			d.errorf(ra.DeclRange, "Duplicate account", "An account named %q is already defined at %s.", ra.Name, prev)
			continue
		}
		seen[ra.Name] = ra.DeclRange
		cfg.Accounts = append(cfg.Accounts, d.account(ra))
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	seenPairs := map[string]hcl.Range{}
	for i := range raw.Pairs {
		rp := &raw.Pairs[i]
		if prev, dup := seenPairs[rp.Name]; dup {
			d.errorf(rp.DeclRange, "Duplicate pair", "A pair named %q is already defined at %s.", rp.Name, prev)
			continue
		}
		seenPairs[rp.Name] = rp.DeclRange
		cfg.Pairs = append(cfg.Pairs, d.pair(rp, seen, names))
	}
	if len(raw.Pairs) == 0 && len(raw.Accounts) > 0 {
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Nothing to sync",
			Detail:  `The configuration declares no pair. Add a block such as pair "name" { a = "account1"  b = "account2" }.`,
			Subject: &raw.Accounts[0].DeclRange})
	}
	return cfg
}

func (d *decoder) account(ra *rawAccount) Account {
	acc := Account{Name: ra.Name, Host: ra.Host, Username: ra.Username}
	if ra.Host == "" {
		d.errorf(ra.DeclRange, "Invalid host", "Account %q has an empty host.", ra.Name)
	}
	if s, ok := d.enum(ra.TLS, "tls", tlsNames); ok {
		for i, n := range tlsNames {
			if s == n {
				acc.TLS = TLSMode(i)
			}
		}
	}
	acc.Port = 993
	if acc.TLS != TLSImplicit {
		acc.Port = 143
	}
	if present(ra.Port) {
		var port int
		diags := gohcl.DecodeExpression(ra.Port, d.ctx, &port)
		d.diags = append(d.diags, diags...)
		if !diags.HasErrors() {
			if port < 1 || port > 65535 {
				d.errorf(ra.Port.Range(), "Invalid port", "port must be between 1 and 65535; got %d.", port)
			}
			acc.Port = port
		}
	}
	if ra.InsecurePlaintext != nil {
		acc.InsecurePlaintext = *ra.InsecurePlaintext
	}
	if acc.TLS == TLSNone && !acc.InsecurePlaintext && !isLoopback(ra.Host) {
		d.errorf(ra.TLS.Range(), "Plain-text IMAP to a remote host", "tls = \"none\" would send the password for %q in clear text to %s. Use \"implicit\" or \"starttls\", or set insecure_plaintext = true if you really mean it.", ra.Name, ra.Host)
	}
	hasPW, hasCmd := present(ra.Password), present(ra.PasswordCommand)
	switch {
	case hasPW && hasCmd:
		d.errorf(ra.PasswordCommand.Range(), "Conflicting password settings", "Account %q sets both password and password_command; keep one.", ra.Name)
	case !hasPW && !hasCmd:
		d.errorf(ra.DeclRange, "Missing password", "Account %q needs password (e.g. password = env(\"IMAP_PASSWORD\")) or password_command (e.g. [\"pass\", \"show\", \"imap\"]).", ra.Name)
	case hasPW:
		acc.Password, _ = d.str(ra.Password)
	default:
		var cmd []string
		diags := gohcl.DecodeExpression(ra.PasswordCommand, d.ctx, &cmd)
		d.diags = append(d.diags, diags...)
		if !diags.HasErrors() && len(cmd) == 0 {
			d.errorf(ra.PasswordCommand.Range(), "Invalid password_command", "password_command must name a program, e.g. [\"pass\", \"show\", \"imap\"].")
		}
		acc.PasswordCommand = cmd
	}
	return acc
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var (
	directionNames = []string{"both", "a-to-b", "b-to-a", "none"}
	deletionNames  = []string{"propagate", "trash", "keep"}
)

func (d *decoder) pair(rp *rawPair, accounts map[string]hcl.Range, names []string) Pair {
	p := Pair{Name: rp.Name}
	p.Policy.MaxDeletes = reconcile.DefaultMaxDeletes
	ref := func(e hcl.Expression) string {
		s, ok := d.str(e)
		if !ok {
			return ""
		}
		if _, known := accounts[s]; !known {
			d.errorf(e.Range(), "Unknown account", "No account named %q is defined; accounts: %s.", s, quoteList(names))
		}
		return s
	}
	p.A, p.B = ref(rp.A), ref(rp.B)
	if p.A != "" && p.A == p.B {
		d.errorf(rp.B.Range(), "Pair of one account", "a and b of pair %q are both %q; a pair needs two accounts.", rp.Name, p.A)
	}
	if s, ok := d.enum(rp.Prefer, "prefer", []string{"a", "b"}); ok && s == "b" {
		p.Policy.Prefer = reconcile.B
	}
	if rp.Defaults != nil {
		d.rule(rp.Defaults.Direction, rp.Defaults.Deletion, &p.Policy.Default)
		if present(rp.Defaults.MaxDeletes) {
			var v cty.Value
			v, diags := rp.Defaults.MaxDeletes.Value(d.ctx)
			d.diags = append(d.diags, diags...)
			if !diags.HasErrors() {
				s := ""
				switch v.Type() {
				case cty.String:
					s = v.AsString()
				case cty.Number:
					s = v.AsBigFloat().Text('f', -1)
				}
				l, err := reconcile.ParseLimit(s)
				if err != nil || s == "" {
					d.errorf(rp.Defaults.MaxDeletes.Range(), "Invalid max_deletes", "max_deletes must be a count such as 100 or a percentage such as \"5%%\"; got %s.", valueText(v))
				} else {
					p.Policy.MaxDeletes = l
				}
			}
		}
	}
	patterns := map[string]hcl.Range{}
	for i := range rp.Folders {
		rf := &rp.Folders[i]
		if prev, dup := patterns[rf.Pattern]; dup {
			d.errorf(rf.DeclRange, "Duplicate folder rule", "A folder rule for %q is already defined at %s; the first would always win.", rf.Pattern, prev)
			continue
		}
		patterns[rf.Pattern] = rf.DeclRange
		if err := reconcile.ValidGlob(rf.Pattern); err != nil || rf.Pattern == "" {
			d.errorf(rf.DeclRange, "Invalid folder pattern", "%v", err)
			continue
		}
		r := reconcile.Rule{Pattern: rf.Pattern, FolderPolicy: p.Policy.Default}
		d.rule(rf.Direction, rf.Deletion, &r.FolderPolicy)
		p.Policy.Rules = append(p.Policy.Rules, r)
	}
	for _, m := range rp.Maps {
		p.Maps = append(p.Maps, Map{A: m.A, B: m.B})
	}
	return p
}

func valueText(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	}
	return v.Type().FriendlyName()
}

func (d *decoder) rule(dirExpr, delExpr hcl.Expression, fp *reconcile.FolderPolicy) {
	if s, ok := d.enum(dirExpr, "direction", directionNames); ok {
		fp.Direction, _ = reconcile.ParseDirection(s)
	}
	if s, ok := d.enum(delExpr, "deletion", deletionNames); ok {
		fp.Deletion, _ = reconcile.ParseDeletion(s)
	}
}

// dedupe drops a diagnostic whose subject equals an earlier error's:
// a failing function call is followed by a noisy "unsuitable value".
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	seen := map[hcl.Range]bool{}
	for _, d := range diags {
		if d.Subject != nil && d.Severity == hcl.DiagError {
			if seen[*d.Subject] {
				continue
			}
			seen[*d.Subject] = true
		}
		out = append(out, d)
	}
	return out
}

func envFunc(lookup func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "name", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			v, ok := lookup(name)
			if !ok {
				return cty.NilVal, fmt.Errorf("environment variable %q is not set", name)
			}
			return cty.StringVal(v), nil
		},
	})
}

func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return cty.NilVal, fmt.Errorf("cannot read %s: %v", p, err)
			}
			return cty.StringVal(strings.TrimRight(string(b), "\r\n")), nil
		},
	})
}
