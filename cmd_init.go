package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"unicode"

	"github.com/spf13/pflag"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/reconcile"
)

// initOptions are the flags of `mailtwin init`.
type initOptions struct {
	// a and b are the accounts' URLs: imaps://user@host[:port] (TLS),
	// imap://user@host[:port] (STARTTLS) or imap+plain://user@host[:port]
	// (no TLS, loopback only).
	a, b string
	// providerA and providerB, if set, are written as the accounts'
	// provider attribute.
	providerA, providerB string
	// tlsCAFile is a PEM file of the certificates both accounts trust
	// instead of the system roots; written as their tls_ca_file.
	tlsCAFile string
}

// The environment variables init reads the passwords from, and that the
// config it writes reads them from.
const (
	envPasswordA = "MAILTWIN_A_PASSWORD"
	envPasswordB = "MAILTWIN_B_PASSWORD"
)

// initAccount is one account as init found it.
type initAccount struct {
	side     reconcile.Side
	name     string // the account's label in the config
	url      accountURL
	provider string
	env      string // the password's variable
	caFile   string // tls_ca_file as written, "" for none
	listing  reconcile.Listing
	// exclude are the special-use attributes written as
	// exclude_special_use.
	exclude []reconcile.Role
}

// initOnlyFlags refuses init's own flags on another command, and --out
// on a command that writes no file, where they would be ignored without
// a word.
func initOnlyFlags(fs *pflag.FlagSet, cmd string) error {
	if cmd == "init" {
		return nil
	}
	// --out means a file to write for plan and init alone (apply says
	// where it belongs); anywhere else it would be silently ignored,
	// and a script relying on the file it names would find none.
	if fs.Changed("out") && cmd != "plan" && cmd != "apply" {
		return usageError{fmt.Sprintf("--out is a flag of plan (mailtwin plan --out FILE, then mailtwin apply FILE) and init, not of %s", cmd)}
	}
	for _, f := range []string{"a", "b", "provider-a", "provider-b", "tls-ca-file"} {
		if fs.Changed(f) {
			return usageError{fmt.Sprintf("--%s is a flag of init only, not of %s", f, cmd)}
		}
	}
	return nil
}

// checkInitProvider refuses a --provider-a or --provider-b that is not a
// preset, or whose server takes no password: init logs in with one, and
// writes a config that reads it.
func checkInitProvider(side reconcile.Side, name string) error {
	if name == "" {
		return nil
	}
	p, ok := hclconfig.LookupPreset(name)
	if !ok {
		var known []string
		for _, q := range hclconfig.Presets() {
			known = append(known, q.Name)
		}
		return usageError{fmt.Sprintf("--provider-%s %q: want one of %s", side, name, strings.Join(known, ", "))}
	}
	if p.PasswordRefused != "" {
		return usageError{fmt.Sprintf("--provider-%s %s: init logs in with a password, which this provider refuses. %s Start from examples/%s.hcl instead", side, name, p.PasswordRefused, name)}
	}
	return nil
}

// accountURL is an account as --a and --b give it.
type accountURL struct {
	user, host string
	port       int
	tls        hclconfig.TLSMode
}

// addr is host:port.
func (u accountURL) addr() string { return net.JoinHostPort(u.host, strconv.Itoa(u.port)) }

// parseAccountURL reads imaps://user@host[:port], imap://user@host[:port]
// or imap+plain://user@host[:port]. The user may hold an "@"
// (alice@example.com@imap.example.com), or spell it %40.
func parseAccountURL(flag, s string) (accountURL, error) {
	// The URL is quoted in errors with any password taken out; one that
	// does not parse is not quoted at all.
	shown := ""
	bad := func(format string, args ...any) (accountURL, error) {
		return accountURL{}, usageError{fmt.Sprintf("--%s%s: ", flag, shown) + fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return bad("missing: give both accounts, e.g. init --a imaps://alice@imap.example.com --b imaps://alice@mail.example.org")
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return bad("not a URL such as imaps://alice@imap.example.com")
	}
	shown = fmt.Sprintf(" %q", u.Redacted())
	var out accountURL
	switch strings.ToLower(u.Scheme) {
	case "imaps":
		out.tls, out.port = hclconfig.TLSImplicit, 993
	case "imap":
		out.tls, out.port = hclconfig.TLSStartTLS, 143
	case "imap+plain":
		out.tls, out.port = hclconfig.TLSNone, 143
	default:
		return bad("the scheme must be imaps:// (TLS), imap:// (STARTTLS) or imap+plain:// (no TLS, loopback only)")
	}
	if _, has := u.User.Password(); has {
		return bad("the URL holds a password: leave it out and set %s instead", map[string]string{"a": envPasswordA, "b": envPasswordB}[flag])
	}
	if u.User == nil || u.User.Username() == "" {
		return bad("no user: write it before the host, as in imaps://alice@imap.example.com")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return bad("only user, host and port are read; leave out the path, query and fragment")
	}
	out.user, out.host = u.User.Username(), u.Hostname()
	if out.host == "" {
		return bad("no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port %s is not between 1 and 65535", p)
		}
		out.port = n
	}
	if out.tls == hclconfig.TLSNone && !loopback(out.host) {
		return bad("imap+plain:// would send the password in clear text to %s; it is for loopback hosts only: use imaps:// or imap://", out.host)
	}
	return out, nil
}

// loopback reports localhost and loopback addresses.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// cmdInit is `mailtwin init`: it connects to two accounts, lists their
// folders and writes a commented starting configuration to out. It
// never overwrites a file and never writes a password.
func cmdInit(ctx context.Context, g *globalOptions, opts initOptions, out string) error {
	if out == "" {
		out = g.config
	}
	var accs [2]*initAccount
	for s, f := range []struct{ flag, url, provider, env string }{
		{"a", opts.a, opts.providerA, envPasswordA},
		{"b", opts.b, opts.providerB, envPasswordB},
	} {
		u, err := parseAccountURL(f.flag, f.url)
		if err != nil {
			return err
		}
		accs[s] = &initAccount{side: reconcile.Side(s), url: u, provider: f.provider, env: f.env}
	}
	if accs[0].url == accs[1].url {
		return usageError{"--a and --b are the same account: init pairs two different accounts"}
	}
	for _, a := range accs {
		if err := checkInitProvider(a.side, a.provider); err != nil {
			return err
		}
	}
	if _, err := os.Lstat(out); err == nil {
		return usageError{fmt.Sprintf("%s exists already; init never overwrites a file: remove it, or pass --out to write elsewhere", out)}
	}
	var caPool *x509.CertPool
	if opts.tlsCAFile != "" {
		var err error
		if caPool, err = readCAPool(opts.tlsCAFile); err != nil {
			return usageError{fmt.Sprintf("--tls-ca-file: %v", err)}
		}
	}
	var pw [2]string
	for s, a := range accs {
		v, _ := g.lookupEnv(a.env)
		if v == "" {
			return usageError{fmt.Sprintf("set %s to the password of %s@%s: init logs in with it, and the configuration it writes reads it from there too", a.env, a.url.user, a.url.host)}
		}
		pw[s] = v
		if opts.tlsCAFile != "" && a.url.tls != hclconfig.TLSNone {
			a.caFile = configRelative(out, opts.tlsCAFile)
		}
	}

	// List both accounts at once, read-only.
	var errs [2]error
	var traceMu sync.Mutex
	var wg sync.WaitGroup
	for s, a := range accs {
		var debug io.Writer
		if g.verbose >= 2 {
			debug = &traceWriter{mu: &traceMu, log: g.log, account: reconcile.Side(s).String()}
		}
		wg.Go(func() { a.listing, errs[s] = listURL(ctx, reconcile.Side(s), a.url, pw[s], caPool, debug) })
	}
	wg.Wait()
	if err := errors.Join(errs[0], errs[1]); err != nil {
		return err
	}

	accs[0].name, accs[1].name = accountNames(accs[0].url, accs[1].url)
	for _, a := range accs {
		for _, r := range []reconcile.Role{reconcile.RoleAll, reconcile.RoleImportant} {
			for _, f := range a.listing.Folders {
				if reconcile.ExcludedBy(&f, []reconcile.Role{r}) != "" {
					a.exclude = append(a.exclude, r)
					break
				}
			}
		}
	}
	text, err := initConfig(accs)
	if err != nil {
		return err
	}
	// O_EXCL: a file made since the check above is not overwritten either.
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return usageError{fmt.Sprintf("%s exists already; init never overwrites a file: remove it, or pass --out to write elsewhere", out)}
	}
	if err != nil {
		return fmt.Errorf("write the configuration: %w", err)
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// A partial file would stop the next init: it is ours to remove.
		os.Remove(out)
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Fprintf(g.stdout, "wrote %s: account %q (%s@%s, %s), account %q (%s@%s, %s), pair %q\n",
		out, accs[0].name, accs[0].url.user, accs[0].url.host, countOf(len(accs[0].listing.Folders), "folder"),
		accs[1].name, accs[1].url.user, accs[1].url.host, countOf(len(accs[1].listing.Folders), "folder"), pairName(accs))
	cflag := ""
	if out != "mailtwin.hcl" {
		cflag = " -c " + out
	}
	fmt.Fprintf(g.stdout, "next: read it, then run mailtwin%s folders to see how the folders pair, and mailtwin%s plan\n", cflag, cflag)
	return nil
}

func roleStrings(rs []reconcile.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// listURL logs in to an account read-only and lists its folders.
func listURL(ctx context.Context, side reconcile.Side, u accountURL, password string, cas *x509.CertPool, debug io.Writer) (reconcile.Listing, error) {
	mode := tlsMode(u.tls)
	var tc *tls.Config
	if cas != nil {
		tc = &tls.Config{RootCAs: cas}
	}
	st, err := imapstore.Dial(ctx, imapstore.Options{
		Name: side.String(), Addr: u.addr(), TLS: mode, TLSConfig: tc,
		Username: u.user, Password: password, ReadOnly: true, DebugWriter: debug,
	})
	var ce *imapstore.CertificateError
	if errors.As(err, &ce) && ce.Problem == imapstore.CertUntrusted && cas == nil {
		err = fmt.Errorf("%w; if the server's certificate is self-signed or from a private CA, pass --tls-ca-file with a PEM file of it", err)
	}
	if err != nil {
		return reconcile.Listing{}, fmt.Errorf("--%s %s@%s: %w", side, u.user, u.addr(), err)
	}
	defer st.Close()
	l, err := st.List(ctx)
	if err != nil {
		return reconcile.Listing{}, fmt.Errorf("--%s %s@%s: %w", side, u.user, u.addr(), err)
	}
	return l, nil
}

// readCAPool reads the certificates of a PEM file.
func readCAPool(p string) (*x509.CertPool, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %v", p, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", p)
	}
	return pool, nil
}

// configRelative returns path p as the config file out should name it:
// relative to out's directory (as tls_ca_file is read) when p is below
// it, else absolute.
func configRelative(out, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	dir, err := filepath.Abs(filepath.Dir(out))
	if err != nil {
		return abs
	}
	if rel, err := filepath.Rel(dir, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return abs
}

// accountNames picks the accounts' labels: a word of each host
// ("gmail" for imap.gmail.com), or "a" and "b" when the hosts give none
// or the same.
func accountNames(a, b accountURL) (string, string) {
	na, nb := hostWord(a.host), hostWord(b.host)
	// A host word that names the other side's letter would confuse.
	if na == "" || nb == "" || na == nb || na == "b" || nb == "a" {
		return "a", "b"
	}
	return na, nb
}

// hostWord is the first label of host that is not a generic prefix
// (imap, mail, ...), lower-cased, if it makes a label; "" for an IP
// address.
func hostWord(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	labels := strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".")
	if len(labels) > 1 {
		labels = labels[:len(labels)-1] // the top-level domain
	}
	for _, l := range labels {
		switch l {
		case "imap", "imaps", "imap4", "mail", "mx", "secure", "ssl", "www":
			continue
		}
		ok := l != ""
		for i, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0) {
				ok = false
			}
		}
		if ok {
			return l
		}
	}
	return ""
}

func pairName(accs [2]*initAccount) string { return accs[0].name + "-" + accs[1].name }

// initConfig writes the configuration text for two listed accounts.
func initConfig(accs [2]*initAccount) (string, error) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# mailtwin configuration, written by 'mailtwin init' from the two accounts'\n")
	w("# folders. Read it and adjust it; then 'mailtwin validate' checks it,\n")
	w("# 'mailtwin folders' shows how the folders pair up, 'mailtwin plan' what a\n")
	w("# sync would do, and 'mailtwin apply' does it.\n#\n")
	w("# No password is written here: mailtwin reads them when it runs from the\n")
	w("# environment variables %s and %s (or use\n", envPasswordA, envPasswordB)
	w("# password_command = [\"pass\", \"show\", \"...\"] instead).\n\n")
	w("state {\n  path = \"mailtwin-state\" # the Git repository of the agreed state, beside this file\n}\n")

	for _, a := range accs {
		w("\n# %s: %s@%s, %s", a.side, a.url.user, a.url.addr(), countOf(len(a.listing.Folders), "folder"))
		if a.listing.Delim != 0 {
			w(", hierarchy delimiter %q", a.listing.Delim)
		}
		w(":\n")
		folderComments(&b, a)
		w("account %s {\n", hclQuote(a.name))
		if a.provider != "" {
			w("  provider = %s\n", hclQuote(a.provider))
		}
		w("  host     = %s\n", hclQuote(a.url.host))
		w("  port     = %d\n", a.url.port)
		w("  tls      = %s\n", hclQuote(a.url.tls.String()))
		if a.caFile != "" {
			w("  tls_ca_file = %s\n", hclQuote(a.caFile))
		}
		w("  username = %s\n", hclQuote(a.url.user))
		w("  password = env(%s)\n", hclQuote(a.env))
		if len(a.exclude) > 0 {
			q := make([]string, len(a.exclude))
			for i, r := range a.exclude {
				q[i] = hclQuote(string(r))
			}
			w("  # Folders with these attributes hold copies of messages that live in\n")
			w("  # other folders (Gmail's All Mail and Important): syncing them would\n")
			w("  # copy each message again. They are left out of every pair.\n")
			w("  exclude_special_use = [%s]\n", strings.Join(q, ", "))
		}
		w("}\n")
	}

	lu, err := reconcile.LineUp(accs[0].listing, accs[1].listing, reconcile.Policy{})
	if err != nil && lu == nil {
		return "", fmt.Errorf("pair the folders: %w", err)
	}
	w("\npair %s {\n", hclQuote(pairName(accs)))
	w("  a      = %s\n  b      = %s\n", hclQuote(accs[0].name), hclQuote(accs[1].name))
	w("  prefer = \"a\" # who wins a true conflict (the same message moved to two folders)\n\n")
	w("  defaults {\n")
	w("    direction   = \"both\"  # both | a-to-b | b-to-a | none\n")
	w("    deletion    = \"trash\" # a message deleted on one side: propagate | trash | keep its copy\n")
	w("    max_deletes = \"10%%\"   # stop before deleting more than this on either side\n")
	w("  }\n")
	rules := specialRules(lu, accs)
	if len(rules) > 0 {
		w("\n  # Special-use folders pair by role (match_special_use), whatever their\n")
		w("  # names; a rule names the folder as a does where both sides have it.\n")
		for _, r := range rules {
			w("\n%s", r)
		}
	}
	if err != nil {
		// A folder whose name the other side cannot hold: say so, and
		// leave the remedy to the user.
		w("\n  # %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  # "))
		w("  # Pair it by hand with a map { a = \"...\"  b = \"...\" } block, or leave\n")
		w("  # it out with a folder rule with direction = \"none\".\n")
	}
	w("}\n")
	return b.String(), nil
}

// folderComments lists an account's folders as comments, in columns:
// name, special-use attributes, message count and what becomes of it.
func folderComments(b *strings.Builder, a *initAccount) {
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, f := range a.listing.Folders {
		n := ""
		if f.NumMessages >= 0 {
			n = countOf(f.NumMessages, "message")
		}
		note := ""
		if x := reconcile.ExcludedBy(&f, a.exclude); x != "" {
			note = fmt.Sprintf("left out: exclude_special_use %s", x)
		}
		fmt.Fprintf(tw, "#   %s\t%s\t%s\t%s\n", f.Mailbox, strings.Join(roleStrings(f.SpecialUse), ","), n, note)
	}
	tw.Flush()
	b.WriteString(trimLines(buf.String()))
}

// specialRules returns the folder rules for special-use folders, each a
// block with comments. A folder excluded by exclude_special_use needs
// none.
func specialRules(lu *reconcile.Lineup, accs [2]*initAccount) []string {
	var out []string
	for _, f := range lu.Folders {
		var use []reconcile.Role
		excluded := false
		for s := range 2 {
			use = append(use, f.SpecialUse[s]...)
			fo := reconcile.Folder{SpecialUse: f.SpecialUse[s]}
			if reconcile.ExcludedBy(&fo, accs[s].exclude) != "" {
				excluded = true
			}
		}
		if len(use) == 0 || excluded {
			continue
		}
		var body, why string
		switch {
		case slices.Contains(use, reconcile.RoleJunk):
			body, why = `direction = "none"`, "spam is not synced; remove this rule to sync it"
		case slices.Contains(use, reconcile.RoleFlagged):
			body, why = `direction = "none"`, "a view of the flagged messages of other folders: syncing it would copy them again"
		case slices.Contains(use, reconcile.RoleDrafts):
			body, why = `deletion = "propagate"`, "clients replace a draft on every save: the old versions need not fill the trash"
		case slices.Contains(use, reconcile.RoleTrash):
			body, why = `deletion = "propagate"`, "emptying one trash empties the other"
		default:
			body, why = `direction = "both"`, "as the defaults; change it here for this folder only"
		}
		var sides []string
		for s := range 2 {
			if f.Mailbox[s] != "" {
				sides = append(sides, fmt.Sprintf("%q on %s (%s)", f.Mailbox[s], reconcile.Side(s), strings.Join(roleStrings(f.SpecialUse[s]), ",")))
			} else {
				sides = append(sides, fmt.Sprintf("none on %s", reconcile.Side(s)))
			}
		}
		out = append(out, fmt.Sprintf("  # %s\n  folder %s {\n    %s # %s\n  }\n", strings.Join(sides, ", "), hclQuote(escapeGlob(f.Name)), body, why))
	}
	return out
}

// escapeGlob makes a folder name a pattern that matches only itself.
func escapeGlob(name string) string {
	var b strings.Builder
	for _, r := range name {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hclQuote writes s as an HCL string literal: quoted, with backslashes,
// quotes and control characters escaped, and "${" and "%{" (template
// sequences) doubled.
func hclQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// countOf is "1 folder", "2 folders".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
