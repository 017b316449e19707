package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/internal/sshtest"
)

// TestSSHStateRemoteApply: mailtwin apply with the state on an ssh
// remote, a bare repository behind a real sshd (internal/sshtest), the
// key and the known_hosts named in the state block relative to the
// configuration file, as the README shows. The run syncs, pushes its
// commit over ssh, and the bare repository then holds the pair's state;
// a runner with a fresh clone pulls it over ssh and has nothing to do.
func TestSSHStateRemoteApply(t *testing.T) {
	sshd := sshtest.Start(t)
	srv := imaptest.StartMem(t, userA, userB)
	f := &syncFixture{t: t, srv: srv}
	bare := bareRemote(t)
	url := sshd.URL(bare)
	accounts := []string{userA, userB}
	pairs := []string{"p:" + userA + ":" + userB}
	withSSH := func(r *runner) *runner {
		t.Helper()
		dir := filepath.Dir(r.config)
		for src, dst := range map[string]string{sshd.KeyFile: "id_ed25519", sshd.KnownHosts: "known_hosts"} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg, err := os.ReadFile(r.config)
		if err != nil {
			t.Fatal(err)
		}
		patched := strings.Replace(string(cfg), "state {\n", "state {\n  ssh_key_file = \"id_ed25519\"\n  ssh_known_hosts = \"known_hosts\"\n", 1)
		if err := os.WriteFile(r.config, []byte(patched), 0o600); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := withSSH(newRunner(t, srv, url, accounts, pairs, nil))
	r2 := withSSH(newRunner(t, srv, url, accounts, pairs, nil))
	f.put(userA, "INBOX", "m1")
	f.put(userB, "INBOX", "m2")

	code, out := r1.apply()
	if code != 0 || !strings.Contains(out, "state pushed") {
		t.Fatalf("apply with an ssh state remote exited %d, want 0 and a push:\n%s", code, out)
	}
	f.wantBoth("INBOX", "m1 -", "m2 -")
	hist := remoteHistory(t, bare)
	if hist[0].Hash != headOf(t, r1.state) || !strings.HasPrefix(hist[0].Message, "sync: ") {
		t.Errorf("remote head = %s %q, want the run's commit %s", hist[0].Hash, strings.SplitN(hist[0].Message, "\n", 2)[0], headOf(t, r1.state))
	}
	if got := strings.Join(remoteFiles(t, bare), " "); !strings.Contains(got, "p/INBOX.state") {
		t.Errorf("remote tree = %s, want the pair's state p/INBOX.state", got)
	}
	if !strings.Contains(sshd.Log(), "Accepted publickey for "+sshd.User) {
		t.Errorf("sshd logged no key login; the push did not go through it:\n%s", sshd.Log())
	}

	if code, out := r2.apply(); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("a fresh clone (exit %d) did not start from the state pulled over ssh:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(r2.state, "p", "INBOX.state")); err != nil {
		t.Errorf("the fresh clone has no pair state after its pull: %v", err)
	}
}
