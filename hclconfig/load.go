package hclconfig

import (
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/mailtwin/mailtwin/reconcile"
)

// Load reads and validates the configuration file filename.
//
// It returns every diagnostic it can find, errors and warnings, sorted by
// position, and the parsed files that WriteDiagnostics needs to show the
// source lines. The Config is nil exactly when the diagnostics hold an
// error. Relative paths in the file (state.path, tls_ca_file, file())
// resolve against filename's directory.
func Load(filename string, opts Options) (*Config, hcl.Diagnostics, map[string]*hcl.File) {
	src, err := os.ReadFile(filename)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read the configuration file",
			Detail:   fmt.Sprintf("%v. Pass the file with -c/--config.", err),
		}}, map[string]*hcl.File{}
	}
	return Parse(src, filename, opts)
}

// Parse is Load of the contents src; filename names the source in
// diagnostics, and relative paths resolve against its directory.
func Parse(src []byte, filename string, opts Options) (*Config, hcl.Diagnostics, map[string]*hcl.File) {
	lookupEnv := opts.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, filename)
	if diags.HasErrors() || f == nil {
		// The body of a file that does not parse is partial: decoding it
		// would report arguments that are there as missing.
		return nil, tidy(diags), p.Files()
	}
	if nd := checkNumbers(f.Body); nd.HasErrors() {
		// Evaluating such a number could take forever: go-cty spells
		// every digit of it when converting it to a string.
		return nil, tidy(append(diags, nd...)), p.Files()
	}
	dir := filepath.Dir(filename)
	d := &decoder{ctx: evalContext(lookupEnv, dir)}
	cfg := d.file(f.Body, filename, dir)
	diags = tidy(append(diags, d.diags...))
	if diags.HasErrors() {
		return nil, diags, p.Files()
	}
	return cfg, diags, p.Files()
}

// The schema. These tables are read-only.
var (
	fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "state"},
		{Type: "account", LabelNames: []string{"name"}},
		{Type: "pair", LabelNames: []string{"name"}},
	}}
	stateSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "path"},
		{Name: "remote"},
		{Name: "branch"},
		{Name: "ssh_key_file"},
		{Name: "ssh_known_hosts"},
		{Name: "token_env"},
		{Name: "lock_max_age"},
		{Name: "checkpoint_actions"},
		{Name: "checkpoint_interval"},
	}}
	accountSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "provider"},
		{Name: "host"}, // required without a provider
		{Name: "auth"},
		{Name: "token_command"},
		{Name: "port"},
		{Name: "tls"},
		{Name: "insecure_plaintext"},
		{Name: "username", Required: true},
		{Name: "password"},
		{Name: "password_command"},
		{Name: "timeout"},
		{Name: "connections"},
		{Name: "tls_ca_file"},
		{Name: "tls_server_name"},
		{Name: "exclude_special_use"},
	}, Blocks: []hcl.BlockHeaderSchema{
		{Type: "oauth2"},
	}}
	pairSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "a", Required: true},
			{Name: "b", Required: true},
			{Name: "prefer"},
			{Name: "a_prefix"},
			{Name: "b_prefix"},
			{Name: "match_special_use"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "defaults"},
			{Type: "folder", LabelNames: []string{"pattern"}},
			{Type: "map"},
		},
	}
	defaultsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "direction"},
		{Name: "deletion"},
		{Name: "max_deletes"},
	}}
	folderSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "direction"},
		{Name: "deletion"},
	}}
	mapSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "a", Required: true},
		{Name: "b", Required: true},
	}}
)

// decoder turns a parsed body into a Config, collecting diagnostics.
type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

// add records diags and reports whether they are free of errors.
func (d *decoder) add(diags hcl.Diagnostics) bool {
	d.diags = append(d.diags, diags...)
	return !diags.HasErrors()
}

func (d *decoder) report(sev hcl.DiagnosticSeverity, subject hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: sev,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

func (d *decoder) errorf(subject hcl.Range, summary, format string, args ...any) {
	d.report(hcl.DiagError, subject, summary, format, args...)
}

func (d *decoder) warnf(subject hcl.Range, summary, format string, args ...any) {
	d.report(hcl.DiagWarning, subject, summary, format, args...)
}

// content checks body against schema: unknown arguments and blocks
// (with a "Did you mean" when one is close), missing required arguments
// and wrongly labelled blocks are reported here.
func (d *decoder) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, diags := body.Content(schema)
	d.add(diags)
	if c == nil {
		c = &hcl.BodyContent{}
	}
	if c.Attributes == nil {
		c.Attributes = hcl.Attributes{}
	}
	return c
}

// single returns the one block of type typ in blocks, or nil, and
// reports any further one.
func (d *decoder) single(blocks hcl.Blocks, typ string) *hcl.Block {
	bs := blocks.OfType(typ)
	if len(bs) == 0 {
		return nil
	}
	for _, b := range bs[1:] {
		d.errorf(b.DefRange, "Duplicate "+typ+" block", "Only one %s block is allowed here; the first one is at %s.", typ, pos(bs[0].DefRange))
	}
	return bs[0]
}

// pos renders the start of r as "FILE:LINE:COL".
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// outcome is what became of an optional argument.
type outcome int

const (
	unset outcome = iota // absent, or null
	bad                  // a diagnostic was recorded
	good                 // the value is usable
)

// value evaluates the argument a (nil when absent) and converts it to ty
// (cty.DynamicPseudoType: no conversion). A null value means unset; for a
// required argument that is an error.
func (d *decoder) value(a *hcl.Attribute, ty cty.Type, required bool) (cty.Value, outcome) {
	if a == nil {
		return cty.NilVal, unset // a missing required one is reported by content
	}
	v, diags := a.Expr.Value(d.ctx)
	if !d.add(diags) {
		return cty.NilVal, bad
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		if required {
			d.errorf(a.Expr.Range(), "Missing required argument", "The argument %q is required; it must not be null.", a.Name)
			return cty.NilVal, bad
		}
		return cty.NilVal, unset
	}
	if !v.IsWhollyKnown() {
		d.errorf(a.Expr.Range(), "Unknown value", "The value of %q cannot be known when the configuration is read.", a.Name)
		return cty.NilVal, bad
	}
	if ty == cty.DynamicPseudoType {
		return v, good
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(a.Expr.Range(), "Incorrect attribute value type", "Inappropriate value for attribute %q: %s.", a.Name, err)
		return cty.NilVal, bad
	}
	return cv, good
}

func (d *decoder) str(a *hcl.Attribute, required bool) (string, outcome) {
	v, o := d.value(a, cty.String, required)
	if o != good {
		return "", o
	}
	return v.AsString(), good
}

func (d *decoder) boolean(a *hcl.Attribute) (bool, outcome) {
	v, o := d.value(a, cty.Bool, false)
	if o != good {
		return false, o
	}
	return v.True(), good
}

func (d *decoder) strList(a *hcl.Attribute) ([]string, outcome) {
	v, o := d.value(a, cty.List(cty.String), false)
	if o != good {
		return nil, o
	}
	out := make([]string, 0, v.LengthInt())
	for _, e := range v.AsValueSlice() {
		if e.IsNull() {
			d.errorf(a.Expr.Range(), "Invalid "+a.Name, "The elements of %s must not be null.", a.Name)
			return nil, bad
		}
		out = append(out, e.AsString())
	}
	return out, good
}

// enum decodes a string that must be one of allowed, and returns its
// index there.
func (d *decoder) enum(a *hcl.Attribute, allowed []string) (int, outcome) {
	s, o := d.str(a, false)
	if o != good {
		return 0, o
	}
	for i, n := range allowed {
		if s == n {
			return i, good
		}
	}
	hint := ""
	norm := strings.NewReplacer("_", "-", " ", "-").Replace(strings.ToLower(strings.TrimSpace(s)))
	for _, n := range allowed {
		if norm == n {
			hint = fmt.Sprintf(" Did you mean %q?", n)
		}
	}
	d.errorf(a.Expr.Range(), "Invalid "+a.Name, "%s must be one of %s; got %q.%s", a.Name, quoteList(allowed, "or"), s, hint)
	return 0, bad
}

// quoteList renders `"a", "b" or "c"` (conj "or") or `"a", "b" and "c"`.
func quoteList(xs []string, conj string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}

func (d *decoder) file(body hcl.Body, filename, dir string) *Config {
	c := d.content(body, fileSchema)
	cfg := &Config{Filename: filename, State: State{Path: filepath.Join(dir, "mailtwin-state")}}
	if b := d.single(c.Blocks, "state"); b != nil {
		d.state(b, dir, &cfg.State)
	}

	accounts := map[string]hcl.Range{}
	accountBlocks := c.Blocks.OfType("account")
	for _, b := range accountBlocks {
		acc := d.account(b, dir) // a duplicate is checked too, for its own mistakes
		if prev, dup := accounts[acc.Name]; dup {
			d.errorf(b.LabelRanges[0], "Duplicate account", "An account named %q is already defined at %s.", acc.Name, pos(prev))
			continue
		}
		accounts[acc.Name] = b.LabelRanges[0]
		cfg.Accounts = append(cfg.Accounts, acc)
	}
	names := make([]string, 0, len(accounts))
	for n := range accounts {
		names = append(names, n)
	}
	sort.Strings(names)

	pairBlocks := c.Blocks.OfType("pair")
	pairs := map[string]hcl.Range{}
	for _, b := range pairBlocks {
		p := d.pair(b, accounts, names)
		if prev, dup := pairs[p.Name]; dup {
			d.errorf(b.LabelRanges[0], "Duplicate pair", "A pair named %q is already defined at %s.", p.Name, pos(prev))
			continue
		}
		pairs[p.Name] = b.LabelRanges[0]
		cfg.Pairs = append(cfg.Pairs, p)
	}
	excludePolicies(cfg)
	if len(pairBlocks) == 0 {
		subject := body.MissingItemRange()
		if len(accountBlocks) > 0 {
			subject = accountBlocks[0].DefRange
		}
		d.errorf(subject, "Nothing to sync", "The configuration defines no pair. Add one, such as:\n\n  pair \"name\" {\n    a = \"account1\"\n    b = \"account2\"\n  }")
	}
	return cfg
}

func (d *decoder) state(b *hcl.Block, dir string, st *State) {
	c := d.content(b.Body, stateSchema)
	if p, o := d.str(c.Attributes["path"], false); o == good {
		if p == "" {
			d.errorf(c.Attributes["path"].Expr.Range(), "Invalid state path", "path must not be empty; leave it out for the default, mailtwin-state beside the configuration file.")
		} else {
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			st.Path = filepath.Clean(p)
		}
	}
	d.remote(c.Attributes, dir, st)
	if a := c.Attributes["lock_max_age"]; a != nil {
		if t, o := d.duration(a); o == good {
			st.LockMaxAge = t
		}
	}
	if a := c.Attributes["checkpoint_interval"]; a != nil {
		if t, o := d.duration(a); o == good {
			st.CheckpointInterval = t
		}
	}
	if v, o := d.value(c.Attributes["checkpoint_actions"], cty.Number, false); o == good {
		bf := v.AsBigFloat()
		if i, acc64 := bf.Int64(); !bf.IsInt() || acc64 != big.Exact || i < 1 {
			d.errorf(c.Attributes["checkpoint_actions"].Expr.Range(), "Invalid checkpoint_actions", "checkpoint_actions must be a whole number of actions, 1 or more; got %s.", numText(bf))
		} else {
			st.CheckpointActions = int(i)
		}
	}
}

func (d *decoder) account(b *hcl.Block, dir string) Account {
	c := d.content(b.Body, accountSchema)
	at := c.Attributes
	acc := Account{Name: b.Labels[0]}
	if acc.Name == "" {
		d.errorf(b.LabelRanges[0], "Invalid account name", "An account name must not be empty.")
	}

	preset, presetOK := d.provider(at["provider"])
	if preset != nil {
		acc.Provider = preset.Name
	}
	host, hostOK := d.str(at["host"], preset == nil)
	switch {
	case hostOK == unset && preset != nil:
		host, hostOK = preset.Host, good
	case at["host"] == nil && presetOK != bad:
		d.errorf(b.Body.MissingItemRange(), "Missing required argument", `The argument "host" is required, but no definition was found. Set it, or provider = "gmail" (or another known provider) for its server.`)
	}
	if hostOK == good {
		if msg := checkHost(host); msg != "" {
			d.errorf(at["host"].Expr.Range(), "Invalid host", "%s", msg)
			hostOK = bad
		}
		acc.Host = host
	}

	tls, tlsOK := d.enum(at["tls"], tlsNames)
	acc.TLS = TLSMode(tls)
	if tlsOK == unset && preset != nil {
		acc.TLS = preset.TLS
	}
	acc.Port = 993
	if acc.TLS != TLSImplicit {
		acc.Port = 143
	}
	if preset != nil && acc.TLS == preset.TLS {
		acc.Port = preset.Port
	}
	if v, o := d.value(at["port"], cty.Number, false); o == good {
		bf := v.AsBigFloat()
		if i, acc64 := bf.Int64(); !bf.IsInt() || acc64 != big.Exact || i < 1 || i > 65535 {
			d.errorf(at["port"].Expr.Range(), "Invalid port", "port must be a whole number between 1 and 65535; got %s.", numText(bf))
		} else {
			acc.Port = int(i)
		}
	}

	insecure, insecureOK := d.boolean(at["insecure_plaintext"])
	acc.InsecurePlaintext = insecure
	switch {
	case tlsOK == good && acc.TLS == TLSNone && !insecure && insecureOK != bad && hostOK == good && !isLoopback(acc.Host):
		d.errorf(at["tls"].Expr.Range(), "Plain-text IMAP to a remote host",
			`tls = "none" would send the password of account %q in clear text to %s. Use "implicit" or "starttls", or set insecure_plaintext = true if that is really what you want.`, acc.Name, acc.Host)
	case insecure && tlsOK != bad && acc.TLS != TLSNone:
		d.warnf(at["insecure_plaintext"].Range, "insecure_plaintext has no effect",
			`insecure_plaintext only permits tls = "none"; account %q uses tls = %q.`, acc.Name, acc.TLS)
	}

	d.tlsTrust(at, &acc, dir, tlsOK == good && acc.TLS == TLSNone)

	user, userOK := d.str(at["username"], true)
	if userOK == good && user == "" {
		d.errorf(at["username"].Expr.Range(), "Invalid username", "username must not be empty.")
	}
	acc.Username = user

	d.credentials(b, c, &acc, preset)

	if t, o := d.duration(at["timeout"]); o == good {
		acc.Timeout = t
	}
	if v, o := d.value(at["connections"], cty.Number, false); o == good {
		bf := v.AsBigFloat()
		if i, acc64 := bf.Int64(); !bf.IsInt() || acc64 != big.Exact || i < 1 || i > MaxConnections {
			d.errorf(at["connections"].Expr.Range(), "Invalid connections", "connections must be a whole number between 1 and %d; got %s.", MaxConnections, numText(bf))
		} else {
			acc.Connections = int(i)
		}
	}
	if x, o := d.excludeSpecialUse(at["exclude_special_use"]); o == good {
		acc.ExcludeSpecialUse = x
	}
	// After exclude_special_use is decoded: nil means the file left it
	// out, and the preset's applies.
	if preset != nil && acc.ExcludeSpecialUse == nil {
		acc.ExcludeSpecialUse = preset.ExcludeSpecialUse
	}
	return acc
}

// duration decodes a positive duration written as time.ParseDuration
// reads it: "30s", "2m", "1m30s".
func (d *decoder) duration(a *hcl.Attribute) (time.Duration, outcome) {
	v, o := d.value(a, cty.DynamicPseudoType, false)
	if o != good {
		return 0, o
	}
	var got, hint string
	if v.Type() == cty.Number {
		// A bare number has no unit: say so rather than quote it.
		bf := v.AsBigFloat()
		got = numText(bf)
		if bf.IsInt() && bf.Sign() > 0 && !outOfRange(bf) {
			hint = fmt.Sprintf(" Did you mean %q?", got+"s")
		}
	} else {
		sv, err := convert.Convert(v, cty.String)
		if err != nil {
			d.errorf(a.Expr.Range(), "Incorrect attribute value type", "Inappropriate value for attribute %q: %s.", a.Name, err)
			return 0, bad
		}
		s := sv.AsString()
		t, err := time.ParseDuration(s)
		if err == nil && t > 0 {
			return t, good
		}
		got = fmt.Sprintf("%q", s)
		if s != "" && isDigits(s) {
			hint = fmt.Sprintf(" Did you mean %q?", s+"s")
		}
	}
	d.errorf(a.Expr.Range(), "Invalid "+a.Name, `%s must be a duration greater than zero with its unit, such as "30s", "2m" or "1m30s"; got %s.%s`, a.Name, got, hint)
	return 0, bad
}

// inFile reports whether e is a value written out in the file: no
// function call, no variable.
func inFile(e hcl.Expression) bool {
	if len(e.Variables()) > 0 {
		return false
	}
	se, ok := e.(hclsyntax.Expression)
	if !ok {
		return true
	}
	calls := false
	hclsyntax.VisitAll(se, func(n hclsyntax.Node) hcl.Diagnostics {
		if _, ok := n.(*hclsyntax.FunctionCallExpr); ok {
			calls = true
		}
		return nil
	})
	return !calls
}

// checkHost returns what is wrong with host, or "".
func checkHost(host string) string {
	if host == "" {
		return "host must not be empty."
	}
	ip := host
	if i := strings.IndexByte(ip, '%'); i >= 0 { // an IPv6 zone
		ip = ip[:i]
	}
	if net.ParseIP(ip) != nil {
		return ""
	}
	if strings.ContainsFunc(host, func(r rune) bool {
		return strings.ContainsRune(":/@[]", r) || unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		return fmt.Sprintf("host must be a DNS name or an IP address, without a scheme or a port; got %q. Set the port with port = 993.", host)
	}
	return ""
}

// isLoopback reports whether host is localhost or a loopback address
// (127.0.0.0/8, ::1): plain text never leaves the machine.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// The configuration spellings of the policy enums, from reconcile.
func directionNames() []string {
	var out []string
	for v := reconcile.Both; v <= reconcile.None; v++ {
		out = append(out, v.String())
	}
	return out
}

func deletionNames() []string {
	var out []string
	for v := reconcile.Propagate; v <= reconcile.Keep; v++ {
		out = append(out, v.String())
	}
	return out
}

func (d *decoder) pair(b *hcl.Block, accounts map[string]hcl.Range, names []string) Pair {
	c := d.content(b.Body, pairSchema)
	at := c.Attributes
	p := Pair{Name: b.Labels[0]}
	if msg := checkPairName(p.Name); msg != "" {
		d.errorf(b.LabelRanges[0], "Invalid pair name", "%s", msg)
	}
	pol := &p.Policy
	pol.Default = reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}
	pol.MaxDeletes = reconcile.DefaultMaxDeletes

	p.A = d.accountRef(at["a"], accounts, names)
	p.B = d.accountRef(at["b"], accounts, names)
	if p.A != "" && p.A == p.B {
		d.errorf(at["b"].Expr.Range(), "Pair of one account", "a and b of pair %q are both %q; a pair needs two different accounts.", p.Name, p.A)
	}
	if i, o := d.enum(at["prefer"], []string{"a", "b"}); o == good {
		pol.Prefer = reconcile.Side(i)
	}
	for i, name := range []string{"a_prefix", "b_prefix"} {
		a := at[name]
		s, o := d.str(a, false)
		if o != good {
			continue
		}
		if msg := checkPrefix(name, s); msg != "" {
			d.errorf(a.Expr.Range(), "Invalid "+name, "%s", msg)
			continue
		}
		pol.Naming.Prefix[i] = s
	}
	if v, o := d.boolean(at["match_special_use"]); o == good {
		pol.Naming.IgnoreRoles = !v
	}

	if db := d.single(c.Blocks, "defaults"); db != nil {
		dc := d.content(db.Body, defaultsSchema)
		d.folderPolicy(dc.Attributes, &pol.Default)
		if l, o := d.limit(dc.Attributes["max_deletes"]); o == good {
			pol.MaxDeletes = l
		}
	}

	patterns := map[string]hcl.Range{}
	for _, fb := range c.Blocks.OfType("folder") {
		pat, label := fb.Labels[0], fb.LabelRanges[0]
		fc := d.content(fb.Body, folderSchema)
		r := reconcile.Rule{Pattern: pat, FolderPolicy: pol.Default}
		d.folderPolicy(fc.Attributes, &r.FolderPolicy)
		if prev, dup := patterns[pat]; dup {
			d.errorf(label, "Duplicate folder rule", "A folder rule for %q is already defined at %s; this one would never apply, as the first match wins.", pat, pos(prev))
			continue
		}
		patterns[pat] = label
		if msg := checkPattern(pat); msg != "" {
			d.errorf(label, "Invalid folder pattern", "%s", msg)
			continue
		}
		pol.Rules = append(pol.Rules, r)
	}

	seen := [2]map[string]hcl.Range{{}, {}}
	for _, mb := range c.Blocks.OfType("map") {
		mc := d.content(mb.Body, mapSchema)
		var m [2]string
		ok := true
		for i, side := range []string{"a", "b"} {
			a := mc.Attributes[side]
			s, o := d.str(a, true)
			switch {
			case o != good:
				ok = false
			case s == "":
				d.errorf(a.Expr.Range(), "Invalid folder name", "%s must name a folder of account %s; it is empty.", side, side)
				ok = false
			default:
				if prev, dup := seen[i][s]; dup {
					d.errorf(a.Expr.Range(), "Duplicate folder mapping", "Folder %q of account %s is already mapped at %s.", s, side, pos(prev))
					ok = false
				} else {
					seen[i][s] = a.Expr.Range()
				}
			}
			m[i] = s
		}
		if ok {
			pol.Naming.Maps = append(pol.Naming.Maps, reconcile.NameMap{A: m[0], B: m[1]})
		}
	}
	return p
}

// accountRef decodes a or b of a pair: the name of a defined account, or
// "" after a diagnostic.
func (d *decoder) accountRef(a *hcl.Attribute, accounts map[string]hcl.Range, names []string) string {
	s, o := d.str(a, true)
	if o != good {
		return ""
	}
	if _, ok := accounts[s]; ok {
		return s
	}
	var detail string
	switch {
	case len(names) == 0:
		detail = fmt.Sprintf("No account named %q is defined; the file defines no account at all.", s)
	default:
		detail = fmt.Sprintf("No account named %q is defined; the accounts are %s.", s, quoteList(names, "and"))
		for _, n := range names {
			if strings.EqualFold(n, s) {
				detail += fmt.Sprintf(" Did you mean %q?", n)
				break
			}
		}
	}
	d.errorf(a.Expr.Range(), "Unknown account", "%s", detail)
	return ""
}

// folderPolicy reads direction and deletion over the defaults in fp.
func (d *decoder) folderPolicy(at hcl.Attributes, fp *reconcile.FolderPolicy) {
	if i, o := d.enum(at["direction"], directionNames()); o == good {
		fp.Direction = reconcile.Direction(i)
	}
	if i, o := d.enum(at["deletion"], deletionNames()); o == good {
		fp.Deletion = reconcile.Deletion(i)
	}
}

// limit decodes max_deletes: a count (a whole number or a string of
// digits) or a percentage ("5%", "12.5%").
func (d *decoder) limit(a *hcl.Attribute) (reconcile.Limit, outcome) {
	v, o := d.value(a, cty.DynamicPseudoType, false)
	if o != good {
		return reconcile.Limit{}, o
	}
	var s, got string
	switch v.Type() {
	case cty.String:
		s = v.AsString()
		got = fmt.Sprintf("%q", s)
	case cty.Number:
		bf := v.AsBigFloat()
		if i, acc := bf.Int64(); bf.IsInt() && acc == big.Exact {
			s = strconv.FormatInt(i, 10)
		} else {
			s = numText(bf)
		}
		got = s
	default:
		got = "a " + v.Type().FriendlyName()
	}
	if s != "" && limitSyntax(s) {
		if l, err := reconcile.ParseLimit(s); err == nil && !math.IsNaN(l.Value) {
			return l, good
		}
	}
	d.errorf(a.Expr.Range(), "Invalid max_deletes", `max_deletes must be a count such as 100 or a percentage between 0%% and 100%% such as "5%%"; got %s.`, got)
	return reconcile.Limit{}, bad
}

// limitSyntax accepts digits, or digits with an optional fraction and a
// "%": what ParseLimit means, without the float syntax it lets through
// (NaN, Inf, hex, exponents).
func limitSyntax(s string) bool {
	s = strings.TrimSpace(s)
	num, pct := strings.CutSuffix(s, "%")
	whole, frac, dot := strings.Cut(num, ".")
	if whole == "" || !isDigits(whole) || (dot && (!pct || frac == "" || !isDigits(frac))) {
		return false
	}
	return true
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkPattern returns what is wrong with a folder pattern, or "".
func checkPattern(pat string) string {
	const syntax = `Folder names are written with "/" between levels; * matches any run of characters within one level, ** any number of levels, ? one character and [...] a character class.`
	switch {
	case pat == "":
		return `A folder pattern must not be empty; "**" matches every folder.`
	case strings.Contains("/"+pat+"/", "//"):
		return fmt.Sprintf("%q has an empty level: no folder name matches it. %s", pat, syntax)
	}
	if err := reconcile.ValidGlob(pat); err != nil {
		return fmt.Sprintf("%q is not a valid pattern: a [...] class is unclosed or malformed, or a \\ ends a level. %s", pat, syntax)
	}
	return ""
}

// checkPrefix returns what is wrong with the value s of a_prefix or
// b_prefix (named attr), or "". "" is the top level.
func checkPrefix(attr, s string) string {
	const syntax = `A prefix is the folder under which the pair's folders live on that side, written with "/" between levels whatever the server's separator ("Backup/Work"); leave it out for the top level.`
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Sprintf("%s %q holds the control character %U, which no folder name may contain. %s", attr, s, r, syntax)
		}
	}
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/"):
		return fmt.Sprintf("%s %q starts or ends with \"/\". %s", attr, s, syntax)
	case strings.Contains(s, "//"):
		return fmt.Sprintf("%s %q has an empty level. %s", attr, s, syntax)
	case strings.ContainsAny(s, "*%"):
		return fmt.Sprintf("%s %q holds %q, an IMAP LIST wildcard: a prefix names one folder, it is not a pattern (folder rules select folders). %s", attr, s, s[strings.IndexAny(s, "*%"):][:1], syntax)
	}
	return ""
}

// checkPairName returns what is wrong with a pair name, or "". The name
// is a directory of the state repository.
func checkPairName(name string) string {
	const rule = `A pair name is also its directory in the state repository: use letters, digits, "-", "_" and ".", starting with a letter or a digit.`
	if name == "" {
		return "A pair name must not be empty. " + rule
	}
	for i, r := range name {
		alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
		if !alnum && (i == 0 || !strings.ContainsRune("-_.", r)) {
			return fmt.Sprintf("%q cannot name a pair. %s", name, rule)
		}
	}
	return ""
}

// maxExp bounds the binary exponent of the numbers the file may hold:
// 2^200 is about 1e60, more than any port or count needs.
const maxExp = 200

// outOfRange reports a number whose decimal spelling would be huge.
func outOfRange(bf *big.Float) bool {
	if bf.IsInf() {
		return true
	}
	exp := bf.MantExp(nil)
	return bf.Sign() != 0 && (exp > maxExp || exp < -maxExp)
}

// numText spells a number for a message.
func numText(bf *big.Float) string {
	if outOfRange(bf) {
		return "a number out of range"
	}
	return bf.Text('g', -1)
}

// checkNumbers reports the number literals that are out of range.
func checkNumbers(body hcl.Body) hcl.Diagnostics {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(sb, func(n hclsyntax.Node) hcl.Diagnostics {
		lit, ok := n.(*hclsyntax.LiteralValueExpr)
		if ok && lit.Val.Type() == cty.Number && !lit.Val.IsNull() && lit.Val.IsKnown() && outOfRange(lit.Val.AsBigFloat()) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Number out of range",
				Detail:   "This number is too large or too small for anything in a mailtwin configuration.",
				Subject:  lit.SrcRange.Ptr(),
			})
		}
		return nil
	})
	return diags
}

// tidy drops repeated diagnostics, among them the noisy one that can
// follow a failing function call on the same range, and sorts the rest
// by position (those without one first).
func tidy(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		rng             hcl.Range
		summary, detail string
	}
	seen := map[key]bool{}
	calls := map[hcl.Range]bool{} // subjects of failed function calls
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Subject != nil {
			k := key{*d.Subject, d.Summary, d.Detail}
			if seen[k] || calls[*d.Subject] {
				continue
			}
			seen[k] = true
			if isCallError(d) {
				calls[*d.Subject] = true
				if d.Context != nil {
					calls[*d.Context] = true
				}
			}
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Subject, out[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	return out
}

// isCallError reports a diagnostic of a function call that failed.
func isCallError(d *hcl.Diagnostic) bool {
	if d.Severity != hcl.DiagError {
		return false
	}
	_, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](d)
	return ok
}
