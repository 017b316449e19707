package gitstate_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/internal/sshtest"
)

// These tests reach the state remote through a real OpenSSH sshd on
// 127.0.0.1 (internal/sshtest), which runs git-upload-pack and
// git-receive-pack on a bare repository in the test's directory.

// remoteHead returns the bare repository's main branch, zero when it
// has none.
func remoteHead(t testing.TB, bare string) plumbing.Hash {
	t.Helper()
	g, err := git.PlainOpen(bare)
	if err != nil {
		t.Fatalf("PlainOpen(%s) = %v", bare, err)
	}
	ref, err := g.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// TestSSHPushPull: a clone pushes to a bare repository over ssh, with
// a key file and a known_hosts file; the commit lands in the bare
// repository, a second clone pulls it, commits on top and pushes, and
// the first clone pulls that.
func TestSSHPushPull(t *testing.T) {
	srv := sshtest.Start(t)
	bare := newBare(t)
	o := gitstate.Remote{URL: srv.URL(bare), SSHKeyFile: srv.KeyFile, SSHKnownHosts: srv.KnownHosts}

	a, b := newRepo(t), newRepo(t)
	if res := pull(t, a, o); res.Action != "remote empty" {
		t.Errorf("Pull of an empty remote over ssh: Action = %q, want remote empty", res.Action)
	}
	one := commit(t, a, "p1", map[string]string{"INBOX.state": "one\n"}, "sync: p1")
	if res := push(t, a, o); res.Action != "pushed" || res.Head != one.Hash {
		t.Errorf("Push over ssh = %+v, want pushed %s", res, one.Hash)
	}
	if got := remoteHead(t, bare); got.String() != one.Hash {
		t.Fatalf("bare repository's main = %s, want the pushed commit %s", got, one.Hash)
	}

	if res := pull(t, b, o); res.Action != "fast-forward" || res.Head != one.Hash {
		t.Fatalf("Pull of a second clone over ssh = %+v, want fast-forward to %s", res, one.Hash)
	}
	if got := files(t, b, "p1"); got["INBOX.state"] != "one\n" {
		t.Errorf("second clone's p1 = %v, want the pushed state", got)
	}
	two := commit(t, b, "p2", map[string]string{"INBOX.state": "two\n"}, "sync: p2")
	push(t, b, o)
	if res := pull(t, a, o); res.Action != "fast-forward" || res.Head != two.Hash {
		t.Errorf("first clone's Pull = %+v, want fast-forward to %s", res, two.Hash)
	}
	if got := commitSubjects(remoteLog(t, bare)); strings.Join(got, "|") != "sync: p2|sync: p1" {
		t.Errorf("remote history = %q, want p2 on p1", got)
	}
	cfg, err := os.ReadFile(filepath.Join(a.Dir(), ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), o.URL) || strings.Contains(string(cfg), srv.KeyFile) {
		t.Errorf(".git/config = %s, want the ssh URL and not the key's path", cfg)
	}
}

// TestSSHHostKeyChecked: a server whose host key is not the one in
// ssh_known_hosts (another key for its address, or no entry for it) is
// refused before anything is sent: the push fails with an error saying
// the key did not match or is unknown, naming the address and the
// known_hosts file, and the bare repository stays
// empty. The same key and URL with the right known_hosts push, so it is
// the host key that was refused.
func TestSSHHostKeyChecked(t *testing.T) {
	ctx := context.Background()
	srv := sshtest.Start(t)
	bare := newBare(t)
	dir := t.TempDir()
	_, otherKey := sshtest.KeyPair(t, dir, "other_host")
	otherKey = strings.Join(strings.Fields(otherKey)[:2], " ")
	wrong := filepath.Join(dir, "known_hosts_wrong")
	unknown := filepath.Join(dir, "known_hosts_unknown")
	if err := os.WriteFile(wrong, []byte(srv.KnownHostsLine(otherKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// the right key, for another port: not this server's entry
	if err := os.WriteFile(unknown, []byte("[127.0.0.1]:1 "+srv.HostKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newRepo(t)
	mine := commit(t, a, "p1", map[string]string{"INBOX.state": "one\n"}, "sync: p1")
	for _, c := range []struct{ name, file, want string }{
		{"mismatch", wrong, "key mismatch"},
		{"unknown", unknown, "key is unknown"},
	} {
		o := gitstate.Remote{URL: srv.URL(bare), SSHKeyFile: srv.KeyFile, SSHKnownHosts: c.file}
		_, err := a.Push(ctx, o)
		if err == nil {
			t.Fatalf("%s: Push to a server with another host key = nil, want refused", c.name)
		}
		t.Logf("%s: %v", c.name, err)
		if msg := err.Error(); !strings.Contains(msg, c.want) || !strings.Contains(msg, "host key of "+srv.Addr) || !strings.Contains(msg, c.file) {
			t.Errorf("%s: Push error = %v, want %q naming the host key of %s and %s", c.name, err, c.want, srv.Addr, c.file)
		}
		if got := remoteHead(t, bare); !got.IsZero() {
			t.Errorf("%s: bare repository's main = %s after a refused host key, want none", c.name, got)
		}
		if _, err := a.Pull(ctx, o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Pull = %v, want refused with %q", c.name, err, c.want)
		}
	}
	if log, _ := a.Log(ctx, 1); len(log) != 1 || log[0].Hash != mine.Hash {
		t.Errorf("local HEAD after refused pushes = %v, want %s kept", log, mine.Short)
	}
	push(t, a, gitstate.Remote{URL: srv.URL(bare), SSHKeyFile: srv.KeyFile, SSHKnownHosts: srv.KnownHosts})
	if got := remoteHead(t, bare); got.String() != mine.Hash {
		t.Errorf("bare repository's main = %s with the right known_hosts, want %s", got, mine.Hash)
	}
}

// TestSSHAgent: without ssh_key_file the keys come from the ssh-agent
// at SSH_AUTH_SOCK. An agent holding the authorized key pushes and
// pulls; an agent holding no key, or another key, is refused by the
// server and nothing lands. Not parallel: the agent is found through
// the process environment (go-git reads SSH_AUTH_SOCK).
func TestSSHAgent(t *testing.T) {
	ctx := context.Background()
	srv := sshtest.Start(t)
	bare := newBare(t)
	o := gitstate.Remote{URL: srv.URL(bare), SSHKnownHosts: srv.KnownHosts}
	other, _ := sshtest.KeyPair(t, t.TempDir(), "not_authorized")
	a, b := newRepo(t), newRepo(t)
	mine := commit(t, a, "p1", map[string]string{"INBOX.state": "one\n"}, "sync: p1")

	for _, c := range []struct {
		name string
		keys []string
	}{{"empty agent", nil}, {"other key", []string{other}}} {
		t.Setenv("SSH_AUTH_SOCK", sshtest.StartAgent(t, c.keys...))
		_, err := a.Push(ctx, o)
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("%s: Push = %v, want the server to refuse the login", c.name, err)
		}
		if got := remoteHead(t, bare); !got.IsZero() {
			t.Errorf("%s: bare repository's main = %s, want none", c.name, got)
		}
	}

	t.Setenv("SSH_AUTH_SOCK", sshtest.StartAgent(t, srv.KeyFile))
	if res := push(t, a, o); res.Action != "pushed" {
		t.Errorf("Push with the agent's key: Action = %q, want pushed", res.Action)
	}
	if got := remoteHead(t, bare); got.String() != mine.Hash {
		t.Fatalf("bare repository's main = %s, want %s", got, mine.Hash)
	}
	if res := pull(t, b, o); res.Head != mine.Hash {
		t.Errorf("second clone's Pull through the agent = %+v, want %s", res, mine.Hash)
	}

	t.Setenv("SSH_AUTH_SOCK", "")
	if _, err := a.Pull(ctx, o); err == nil || !strings.Contains(err.Error(), "ssh-agent") {
		t.Errorf("Pull with no key file and no agent = %v, want an error naming ssh-agent", err)
	}
}

// TestSSHServerWithSeveralHostKeys: a server offering ecdsa, rsa and
// ed25519 host keys, as most do, and an ssh_known_hosts holding only
// its ed25519 key (what `ssh-keyscan -t ed25519 HOST` writes). The
// client must ask for the key type it knows, not the ssh library's
// first preference (ecdsa), which known_hosts would call a mismatch. The
// same holds for the default files ($SSH_KNOWN_HOSTS here). Not
// parallel: it sets SSH_KNOWN_HOSTS.
func TestSSHServerWithSeveralHostKeys(t *testing.T) {
	srv := sshtest.StartWith(t, sshtest.Options{ExtraHostKeys: []string{"ecdsa", "rsa"}})
	bare := newBare(t)
	o := gitstate.Remote{URL: srv.URL(bare), SSHKeyFile: srv.KeyFile, SSHKnownHosts: srv.KnownHosts}
	a := newRepo(t)
	one := commit(t, a, "p1", map[string]string{"INBOX.state": "one\n"}, "sync: p1")
	push(t, a, o)
	if got := remoteHead(t, bare); got.String() != one.Hash {
		t.Errorf("bare repository's main = %s, want %s", got, one.Hash)
	}

	t.Setenv("SSH_KNOWN_HOSTS", srv.KnownHosts)
	o.SSHKnownHosts = ""
	two := commit(t, a, "p2", map[string]string{"INBOX.state": "two\n"}, "sync: p2")
	push(t, a, o)
	if got := remoteHead(t, bare); got.String() != two.Hash {
		t.Errorf("bare repository's main with $SSH_KNOWN_HOSTS = %s, want %s", got, two.Hash)
	}
}
