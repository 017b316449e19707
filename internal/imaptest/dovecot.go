package imaptest

import (
	"errors"
	"os"
	"testing"

	"github.com/mailtwin/mailtwin/internal/dovecotd"
)

// RequireDovecotEnv is the environment variable that turns a missing
// dovecot binary from a skip into a failure.
const RequireDovecotEnv = "MAILTWIN_REQUIRE_DOVECOT"

// DovecotOptions tunes StartDovecotWith.
type DovecotOptions struct {
	// Separator is the hierarchy delimiter of the namespace: "/" (the
	// default) or "." (Dovecot's own default for Maildir).
	Separator string
	// SpecialUse names the special-use folders, by role (`\Sent`,
	// `\Trash`, `\Drafts`, `\Junk`): {`\Sent`: "Sent Items"} makes the
	// account's \Sent folder "Sent Items". Roles not given keep their
	// default names (Drafts, Sent, Trash, Junk).
	SpecialUse map[string]string
	// ExtraSpecialUse gives more mailboxes a special-use attribute, by
	// name: {"All Mail": `\All`}. They are not created; a user's
	// mailbox of that name, once Create made it, lists the attribute.
	ExtraSpecialUse map[string]string
	// Quota, if set, is the quota_rule of every user (quota plugin,
	// Maildir++ backend): "*:messages=6", "*:storage=10K". An APPEND
	// past it is refused with NO [OVERQUOTA].
	Quota string
	// Capability, if set, replaces the capabilities the server announces
	// after login: "IMAP4rev1 LITERAL+ UIDPLUS MOVE CONDSTORE" is a
	// Dovecot without UNSELECT (see dovecotd.Config.Capability).
	Capability string
	// OAuth2, if set, makes the server take OAuth2 access tokens too,
	// checked at a TokenServer's introspection endpoint (see
	// StartDovecotOAuth2).
	OAuth2 *dovecotd.OAuth2
	// ACL, if set, is the server's global ACL (see dovecotd.Config.ACL):
	// "Shared user=bob lrsteikx" makes bob's Shared refuse every flag
	// but \Seen and \Deleted.
	ACL string
}

// StartDovecot starts a Dovecot IMAP server on 127.0.0.1 with the given
// users (default "alice"), password Password, Maildir storage in a
// temporary directory, hierarchy delimiter "/" and special-use folders
// Drafts, Sent, Trash and Junk (auto-created). It has CONDSTORE, MOVE,
// UIDPLUS, LIST-STATUS and SPECIAL-USE. The server is stopped when the
// test ends.
//
// Without a dovecot binary the test is skipped, or fails when
// MAILTWIN_REQUIRE_DOVECOT=1.
func StartDovecot(t testing.TB, users ...string) *Server {
	t.Helper()
	return StartDovecotWith(t, DovecotOptions{}, users...)
}

// StartDovecotWith is StartDovecot with options.
func StartDovecotWith(t testing.TB, opts DovecotOptions, users ...string) *Server {
	t.Helper()
	if len(users) == 0 {
		users = []string{"alice"}
	}
	if opts.Separator == "" {
		opts.Separator = "/"
	}
	if _, _, err := dovecotd.Find(); err != nil {
		if os.Getenv(RequireDovecotEnv) == "1" || !errors.Is(err, dovecotd.ErrNotInstalled) {
			t.Fatalf("imaptest: %v (%s=%s)", err, RequireDovecotEnv, os.Getenv(RequireDovecotEnv))
		}
		t.Skip("dovecot not installed: apt-get install dovecot-imapd, or set MAILTWIN_REQUIRE_DOVECOT=1 to make this a failure")
	}
	// Dovecot's unix socket paths must fit in ~108 bytes, and t.TempDir
	// paths (named after the test) can be longer: use a short directory
	// of our own for everything. It is claimed for this process: a test
	// binary ended by go test's -timeout runs no cleanup, and its
	// Dovecot, a daemon, would run on; the next start reaps it.
	dovecotd.ReapOrphans(os.TempDir(), "dc")
	dir, err := os.MkdirTemp("", "dc")
	if err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := dovecotd.Claim(dir); err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	d, err := dovecotd.New(dir, dovecotd.Config{
		Users: users, Password: Password,
		Separator: opts.Separator, SpecialUse: opts.SpecialUse, ExtraSpecialUse: opts.ExtraSpecialUse, Quota: opts.Quota,
		Capability: opts.Capability, OAuth2: opts.OAuth2, ACL: opts.ACL,
	})
	if err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("imaptest: stop dovecot: %v", err)
		}
	})
	return serve(t, &Server{Addr: d.Addr, Kind: "dovecot", Delim: rune(opts.Separator[0]), Users: users, dovecot: d})
}
