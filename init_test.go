package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

func TestParseAccountURL(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want accountURL
		err  string // a part of the error; "" for none
	}{
		{"imaps://alice@imap.example.com", accountURL{"alice", "imap.example.com", 993, hclconfig.TLSImplicit}, ""},
		{"imap://alice@imap.example.com", accountURL{"alice", "imap.example.com", 143, hclconfig.TLSStartTLS}, ""},
		{"IMAPS://alice@imap.example.com:10993/", accountURL{"alice", "imap.example.com", 10993, hclconfig.TLSImplicit}, ""},
		{"imap+plain://bob@127.0.0.1:1143", accountURL{"bob", "127.0.0.1", 1143, hclconfig.TLSNone}, ""},
		{"imap+plain://bob@[::1]:1143", accountURL{"bob", "::1", 1143, hclconfig.TLSNone}, ""},
		{"imaps://alice@example.com@imap.example.com", accountURL{"alice@example.com", "imap.example.com", 993, hclconfig.TLSImplicit}, ""},
		{"imaps://alice%40example.com@imap.example.com", accountURL{"alice@example.com", "imap.example.com", 993, hclconfig.TLSImplicit}, ""},
		{"", accountURL{}, "missing"},
		{"imap+plain://bob@imap.example.com", accountURL{}, "clear text to imap.example.com"},
		{"imaps://alice:hunter2@imap.example.com", accountURL{}, "holds a password: leave it out and set MAILTWIN_A_PASSWORD"},
		{"imaps://imap.example.com", accountURL{}, "no user"},
		{"https://alice@imap.example.com", accountURL{}, "the scheme must be imaps://"},
		{"imaps://alice@imap.example.com:99999", accountURL{}, "port 99999"},
		{"imaps://alice@imap.example.com/INBOX", accountURL{}, "leave out the path"},
		{"alice@imap.example.com", accountURL{}, "the scheme must be"},
	} {
		got, err := parseAccountURL("a", tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("parseAccountURL(%q) = %v", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("parseAccountURL(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.err)
		case tt.err != "" && !errors.As(err, new(usageError)):
			t.Errorf("parseAccountURL(%q) = %v, a %T; want a usage error (exit 4)", tt.in, err, err)
		case got != tt.want:
			t.Errorf("parseAccountURL(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parseAccountURL(%q) = %v: the error shows the password", tt.in, err)
		}
	}
}

func TestAccountNames(t *testing.T) {
	for _, tt := range []struct{ a, b, wantA, wantB string }{
		{"imap.gmail.com", "outlook.office365.com", "gmail", "outlook"},
		{"imap.fastmail.com", "mail.example.org", "fastmail", "example"},
		{"imap.gmail.com", "imap.gmail.com", "a", "b"},
		{"127.0.0.1", "imap.example.com", "a", "b"},
		{"localhost", "imap.example.com", "localhost", "example"},
		{"imap.b.example", "imap.a.example", "a", "b"},
	} {
		ga, gb := accountNames(accountURL{host: tt.a}, accountURL{host: tt.b})
		if ga != tt.wantA || gb != tt.wantB {
			t.Errorf("accountNames(%q, %q) = %q, %q; want %q, %q", tt.a, tt.b, ga, gb, tt.wantA, tt.wantB)
		}
	}
}

// TestInitConfigAwkwardNames: the configuration init writes for
// folders whose names HCL or a folder pattern would read otherwise
// (quotes, backslashes, "${", glob characters) validates, and each rule
// it writes matches its own folder and no other.
func TestInitConfigAwkwardNames(t *testing.T) {
	folder := func(mb string, use ...reconcile.Role) reconcile.Folder {
		f := reconcile.Folder{Mailbox: mb, SpecialUse: use, NumMessages: 2}
		for _, r := range use {
			if r != reconcile.RoleImportant && r != reconcile.RoleFlagged && f.Role == "" {
				f.Role = r
			}
		}
		return f
	}
	a := reconcile.Listing{Delim: '/', Folders: []reconcile.Folder{
		folder("INBOX"),
		folder(`Junk "mail" ${x} %{y}`, reconcile.RoleJunk),
		folder(`Drafts*[1]\`, reconcile.RoleDrafts),
		folder(`Drafts*[1]\x`),
		folder("[Gmail]/All Mail", reconcile.RoleAll),
		folder("[Gmail]/Starred", reconcile.RoleFlagged),
		folder("[Gmail]/Sent Mail", reconcile.RoleSent),
	}}
	b := reconcile.Listing{Delim: '.', Folders: []reconcile.Folder{
		folder("INBOX"),
		folder("Sent", reconcile.RoleSent),
		folder("Junk", reconcile.RoleJunk),
	}}
	accs := [2]*initAccount{
		{side: reconcile.A, name: "gmail", url: accountURL{`al"ice`, "imap.gmail.com", 993, hclconfig.TLSImplicit}, env: envPasswordA, listing: a,
			exclude: []reconcile.Role{reconcile.RoleAll}, caFile: `ca "dir"/ca.pem`},
		{side: reconcile.B, name: "home", url: accountURL{"bob", "imap.home.example", 143, hclconfig.TLSStartTLS}, env: envPasswordB, listing: b},
	}
	text, err := initConfig(accs)
	if err != nil {
		t.Fatalf("initConfig() = %v", err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, `ca "dir"`), 0o755)
	imaptest.NewCA(t).WriteFile(t, filepath.Join(dir, `ca "dir"`, "ca.pem"))
	env := func(n string) (string, bool) { return "pw", n == envPasswordA || n == envPasswordB }
	cfg, diags, _ := hclconfig.Parse([]byte(text), filepath.Join(dir, "mailtwin.hcl"), hclconfig.Options{LookupEnv: env})
	if diags.HasErrors() || cfg == nil {
		t.Fatalf("the config init wrote does not validate: %v\n%s", diags, text)
	}
	if got := cfg.Account("gmail").Username; got != `al"ice` {
		t.Errorf("username = %q", got)
	}
	if got := cfg.Account("gmail").ExcludeSpecialUse; len(got) != 1 || got[0] != `\All` {
		t.Errorf("exclude_special_use = %q, want [\\All]", got)
	}
	p := cfg.Pair("gmail-home")
	want := map[string]reconcile.FolderPolicy{
		`Junk "mail" ${x} %{y}`: {Direction: reconcile.None, Deletion: reconcile.Trash},
		`Drafts*[1]\`:           {Direction: reconcile.Both, Deletion: reconcile.Propagate},
		"[Gmail]/Starred":       {Direction: reconcile.None, Deletion: reconcile.Trash},
		"[Gmail]/Sent Mail":     {Direction: reconcile.Both, Deletion: reconcile.Trash},
	}
	if len(p.Policy.Rules) != len(want) {
		t.Errorf("rules = %+v, want one for each of %v\n%s", p.Policy.Rules, want, text)
	}
	for _, f := range a.Folders {
		i, got := p.Policy.Rule(f.Mailbox)
		w, ruled := want[f.Mailbox]
		switch {
		case ruled && (i < 0 || got != w):
			t.Errorf("folder %q: rule %d, policy %+v; want a rule giving %+v\n%s", f.Mailbox, i, got, w, text)
		case !ruled && i >= 0:
			t.Errorf("folder %q matches rule %q, want none", f.Mailbox, p.Policy.Rules[i].Pattern)
		}
	}
	if strings.Contains(text, "pw") {
		t.Errorf("the config holds the password:\n%s", text)
	}
}

// TestInitTLS: init reaches accounts over TLS and STARTTLS with a
// private CA given by --tls-ca-file, writes it as tls_ca_file relative
// to the config file, and the config then validates and plans; without
// the CA, init fails and points at --tls-ca-file.
func TestInitTLS(t *testing.T) {
	t.Parallel()
	ca := imaptest.NewCA(t)
	_, portA := startTLSServer(t, imaptest.TLSImplicit, ca.ServerTLS(t, "127.0.0.1"))
	_, portB := startTLSServer(t, imaptest.TLSStartTLS, ca.ServerTLS(t, "127.0.0.1"))
	dir := t.TempDir()
	caFile := filepath.Join(dir, "certs", "ca.pem")
	os.MkdirAll(filepath.Dir(caFile), 0o755)
	ca.WriteFile(t, caFile)
	env := func(n string) (string, bool) {
		if n == envPasswordA || n == envPasswordB {
			return imaptest.Password, true
		}
		return "", false
	}
	var stdout, stderr bytes.Buffer
	g := &globalOptions{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, log: textLog(&stderr), lookupEnv: env, parallel: 1}
	out := filepath.Join(dir, "mailtwin.hcl")
	opts := initOptions{a: "imaps://alice@127.0.0.1:" + portA, b: "imap://bob@127.0.0.1:" + portB}

	err := cmdInit(context.Background(), g, opts, out)
	if err == nil || !strings.Contains(err.Error(), "certificate is not trusted") || !strings.Contains(err.Error(), "pass --tls-ca-file") {
		t.Errorf("init without the CA = %v; want the certificate not trusted and a hint at --tls-ca-file", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a failed init left %s: %v", out, err)
	}

	opts.tlsCAFile = caFile
	if err := cmdInit(context.Background(), g, opts, out); err != nil {
		t.Fatalf("init --tls-ca-file = %v\n%s", err, stderr.String())
	}
	text, _ := os.ReadFile(out)
	for _, want := range []string{"  tls      = \"implicit\"\n  tls_ca_file = \"certs/ca.pem\"\n", "  tls      = \"starttls\"\n  tls_ca_file = \"certs/ca.pem\"\n"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("config lacks %q:\n%s", want, text)
		}
	}
	g.config = out
	g.stdout = io.Discard
	if err := cmdValidate(context.Background(), g); err != nil {
		t.Fatalf("validate = %v\n%s\n%s", err, stderr.String(), text)
	}
	if err := cmdSync(context.Background(), g, true); err != nil {
		t.Fatalf("plan = %v\n%s\n%s", err, stderr.String(), text)
	}
}

// TestInitProvider: --provider-a writes the provider into the account,
// and the config validates with the preset applied (the host, port and
// TLS init wrote win over the preset's); an unknown provider, or one that
// takes no password (Microsoft 365), is refused before anything is
// dialled or written.
func TestInitProvider(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartMem(t, userA, userB)
	_, port, _ := net.SplitHostPort(srv.Addr)
	dir := t.TempDir()
	env := func(n string) (string, bool) {
		if n == envPasswordA || n == envPasswordB {
			return imaptest.Password, true
		}
		return "", false
	}
	var stdout, stderr bytes.Buffer
	g := &globalOptions{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, log: textLog(&stderr), lookupEnv: env, parallel: 1}
	out := filepath.Join(dir, "mailtwin.hcl")
	opts := initOptions{a: "imap+plain://" + userA + "@127.0.0.1:" + port, b: "imap+plain://" + userB + "@127.0.0.1:" + port}
	for _, tt := range []struct{ provider, want string }{
		{"hotmail", `--provider-a "hotmail": want one of gmail, outlook`},
		{"outlook", "needs OAuth2"},
	} {
		opts.providerA = tt.provider
		var ue usageError
		if err := cmdInit(context.Background(), g, opts, out); !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("init --provider-a %s = %v; want a usage error saying %q", tt.provider, err, tt.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("a refused init left %s: %v", out, err)
		}
	}
	opts.providerA = "gmail"
	if err := cmdInit(context.Background(), g, opts, out); err != nil {
		t.Fatalf("init --provider-a gmail = %v\n%s", err, stderr.String())
	}
	text, _ := os.ReadFile(out)
	if !bytes.Contains(text, []byte("  provider = \"gmail\"\n")) {
		t.Errorf("config lacks provider = \"gmail\":\n%s", text)
	}
	cfg, diags, _ := hclconfig.Parse(text, out, hclconfig.Options{LookupEnv: env})
	if diags.HasErrors() {
		t.Fatalf("the written config does not validate: %v\n%s", diags, text)
	}
	a := cfg.Accounts[0]
	if a.Host != "127.0.0.1" || a.TLS != hclconfig.TLSNone || !slices.Equal(a.ExcludeSpecialUse, []string{`\All`, `\Important`}) {
		t.Errorf("account a = host %q, tls %v, exclude %v; want init's host and TLS, and gmail's exclusions", a.Host, a.TLS, a.ExcludeSpecialUse)
	}
}
