package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// These tests run two "runners", two state clones with their own
// configuration file, against one bare remote on disk (file
// transport), as two CI jobs or two CronJob pods would. Runner 2 is
// paused after its pull, deterministically: one of its accounts reads
// its password with password_command = ["cat", FIFO], and its pull
// comes before it dials, so the test's open of the FIFO for writing
// returns only once runner 2 has pulled and is waiting for the
// password. Meanwhile runner 1 syncs and pushes.

// runner is one state clone and its configuration.
type runner struct {
	t      *testing.T
	config string
	state  string
}

// bareRemote creates an empty bare repository on branch main.
func bareRemote(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state.git")
	_, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{Bare: true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		t.Fatalf("init bare remote: %v", err)
	}
	return dir
}

// newRunner writes a configuration with the given accounts (user name =
// account name) and pairs ("name:a:b"), the state in its own directory,
// and remote as the state remote. Accounts in fifo read their password
// from that FIFO.
func newRunner(t *testing.T, srv *imaptest.Server, remote string, accounts, pairs []string, fifo map[string]string) *runner {
	t.Helper()
	dir := t.TempDir()
	host, port, _ := strings.Cut(srv.Addr, ":")
	var cfg strings.Builder
	r := &runner{t: t, config: filepath.Join(dir, "mailtwin.hcl"), state: filepath.Join(dir, "state")}
	fmt.Fprintf(&cfg, "state {\n  path = %q\n  remote = %q\n}\n", r.state, remote)
	for _, u := range accounts {
		pw := fmt.Sprintf("password = %q", imaptest.Password)
		if f, ok := fifo[u]; ok {
			pw = fmt.Sprintf("password_command = [\"cat\", %q]", f)
		}
		fmt.Fprintf(&cfg, "account %q {\n  host = %q\n  port = %s\n  tls = \"none\"\n  username = %q\n  %s\n}\n", u, host, port, u, pw)
	}
	for _, p := range pairs {
		f := strings.Split(p, ":")
		fmt.Fprintf(&cfg, "pair %q {\n  a = %q\n  b = %q\n}\n", f[0], f[1], f[2])
	}
	if err := os.WriteFile(r.config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// apply runs mailtwin apply in-process and returns its exit code and
// output.
func (r *runner) apply(args ...string) (int, string) {
	var out bytes.Buffer
	code := run(context.Background(), append([]string{"-c", r.config, "apply"}, args...), strings.NewReader(""), &out, &out)
	return code, out.String()
}

// newFIFO makes a named pipe in a fresh directory.
func newFIFO(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	return p
}

// waitReader opens fifo for writing, which returns once a reader (the
// paused runner's password_command) has opened it.
func waitReader(t *testing.T, fifo string) *os.File {
	t.Helper()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open FIFO: %v", err)
	}
	return w
}

// release gives the paused runner its password.
func release(t *testing.T, w *os.File) {
	t.Helper()
	if _, err := fmt.Fprintln(w, imaptest.Password); err != nil {
		t.Fatalf("write FIFO: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// remoteHistory returns the remote branch's commits, newest first,
// failing the test on a merge commit.
func remoteHistory(t *testing.T, bare string) []*object.Commit {
	t.Helper()
	g, err := git.PlainOpen(bare)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := g.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		t.Fatalf("remote main: %v", err)
	}
	var out []*object.Commit
	for h := ref.Hash(); ; {
		c, err := g.CommitObject(h)
		if err != nil {
			t.Fatal(err)
		}
		if c.NumParents() > 1 {
			t.Fatalf("remote commit %s is a merge: history is not linear", h)
		}
		out = append(out, c)
		if c.NumParents() == 0 {
			return out
		}
		h = c.ParentHashes[0]
	}
}

// remoteFiles returns the paths of the remote branch's tree.
func remoteFiles(t *testing.T, bare string) []string {
	t.Helper()
	c := remoteHistory(t, bare)[0]
	tree, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	tree.Files().ForEach(func(f *object.File) error { out = append(out, f.Name); return nil })
	return out
}

// headOf returns the commit the clone's HEAD is on.
func headOf(t *testing.T, state string) plumbing.Hash {
	t.Helper()
	g, err := git.PlainOpen(state)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := g.Head()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Hash()
}

// TestRemoteRunnersDisjointPairs: runner 2 pulls, pauses; runner 1
// syncs pair one and pushes; runner 2 syncs pair two, its push is
// refused, it rebases onto runner 1's commit and pushes again. Both
// land, history stays linear, and runner 1's next run pulls pair two.
func TestRemoteRunnersDisjointPairs(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, "a1", "b1", "a2", "b2")
		f := &syncFixture{t: t, srv: srv}
		bare := bareRemote(t)
		accounts := []string{"a1", "b1", "a2", "b2"}
		pairs := []string{"one:a1:b1", "two:a2:b2"}
		fifo := newFIFO(t)
		r1 := newRunner(t, srv, bare, accounts, pairs, nil)
		r2 := newRunner(t, srv, bare, accounts, pairs, map[string]string{"a2": fifo})
		f.put("a1", "INBOX", "one")
		f.put("a2", "INBOX", "two")

		type result struct {
			code int
			out  string
		}
		done := make(chan result, 1)
		go func() {
			code, out := r2.apply("--pair", "two")
			done <- result{code, out}
		}()
		w := waitReader(t, fifo)
		if code, out := r1.apply("--pair", "one"); code != 0 {
			release(t, w)
			<-done
			t.Fatalf("runner 1 exited %d:\n%s", code, out)
		}
		release(t, w)
		res := <-done
		if res.code != 0 {
			t.Fatalf("runner 2 exited %d:\n%s", res.code, res.out)
		}
		if !strings.Contains(res.out, "rebased and pushed") {
			t.Errorf("runner 2 did not rebase before pushing:\n%s", res.out)
		}
		f.want("b1", "INBOX", "one -")
		f.want("b2", "INBOX", "two -")
		hist := remoteHistory(t, bare)
		if len(hist) != 2 || !strings.Contains(hist[0].Message, `"two"`) || !strings.Contains(hist[1].Message, `"one"`) {
			var subs []string
			for _, c := range hist {
				subs = append(subs, strings.SplitN(c.Message, "\n", 2)[0])
			}
			t.Errorf("remote history = %q, want runner 2's pair two on runner 1's pair one", subs)
		}
		if got := strings.Join(remoteFiles(t, bare), " "); !strings.Contains(got, "one/") || !strings.Contains(got, "two/") {
			t.Errorf("remote tree = %s, want both pairs' state", got)
		}
		if code, out := r1.apply("--pair", "one"); code != 0 {
			t.Fatalf("runner 1 again exited %d:\n%s", code, out)
		}
		if _, err := os.Stat(filepath.Join(r1.state, "two", "INBOX.state")); err != nil {
			t.Errorf("runner 1 did not pull pair two's state: %v", err)
		}
	})
}

// TestRemoteRunnersSamePair: both runners sync pair p. Runner 2 pulls,
// pauses; runner 1 copies m1 to b and pushes; new mail m2 arrives on b;
// runner 2 copies m2 to a, and its push finds runner 1's commit to the
// same pair: exit 1, its commit kept on a rejected ref. The rerun starts
// from the remote's state, pairs m2 by identity, and lands: both
// accounts hold every message once.
func TestRemoteRunnersSamePair(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t, userA, userB)
		f := &syncFixture{t: t, srv: srv}
		bare := bareRemote(t)
		accounts := []string{userA, userB}
		pairs := []string{"p:" + userA + ":" + userB}
		fifo := newFIFO(t)
		r1 := newRunner(t, srv, bare, accounts, pairs, nil)
		r2 := newRunner(t, srv, bare, accounts, pairs, map[string]string{userA: fifo})
		f.put(userA, "INBOX", "m0")
		if code, out := r1.apply(); code != 0 {
			t.Fatalf("runner 1's first run exited %d:\n%s", code, out)
		}
		f.put(userA, "INBOX", "m1")

		type result struct {
			code int
			out  string
		}
		done := make(chan result, 1)
		go func() {
			code, out := r2.apply()
			done <- result{code, out}
		}()
		w := waitReader(t, fifo)
		if code, out := r1.apply(); code != 0 {
			release(t, w)
			<-done
			t.Fatalf("runner 1 exited %d:\n%s", code, out)
		}
		f.put(userB, "INBOX", "m2")
		release(t, w)
		res := <-done
		if res.code != 1 {
			t.Fatalf("runner 2 exited %d, want 1:\n%s", res.code, res.out)
		}
		t.Logf("runner 2:\n%s", res.out)
		for _, want := range []string{`another runner synced pair p meanwhile`, "nothing was lost", "refs/mailtwin/rejected/", "run again"} {
			if !strings.Contains(res.out, want) {
				t.Errorf("runner 2's message lacks %q:\n%s", want, res.out)
			}
		}
		g, err := git.PlainOpen(r2.state)
		if err != nil {
			t.Fatal(err)
		}
		refs, _ := g.References()
		kept := 0
		refs.ForEach(func(ref *plumbing.Reference) error {
			if strings.HasPrefix(ref.Name().String(), "refs/mailtwin/rejected/") {
				kept++
				if _, err := g.CommitObject(ref.Hash()); err != nil {
					t.Errorf("rejected ref %s: %v", ref.Name(), err)
				}
			}
			return nil
		})
		if kept != 1 {
			t.Errorf("runner 2 kept %d rejected refs, want 1", kept)
		}
		before := len(remoteHistory(t, bare))

		code, out := runWithPassword(t, r2, fifo)
		if code != 0 {
			t.Fatalf("runner 2's rerun exited %d:\n%s", code, out)
		}
		f.wantBoth("INBOX", "m0 -", "m1 -", "m2 -")
		if got := len(remoteHistory(t, bare)); got != before+1 {
			t.Errorf("remote has %d commits after the rerun, want %d", got, before+1)
		}
		if headOf(t, r2.state) != remoteHistory(t, bare)[0].Hash {
			t.Errorf("runner 2's clone is not on the remote's head after the rerun")
		}
		// Settled: runner 1 pulls and finds nothing to do.
		if code, out := r1.apply(); code != 0 || !strings.Contains(out, "no changes") {
			t.Errorf("runner 1 after the rerun (exit %d) still had work:\n%s", code, out)
		}
		f.wantBoth("INBOX", "m0 -", "m1 -", "m2 -")
	})
}

// runWithPassword runs r's apply while feeding the password to fifo.
func runWithPassword(t *testing.T, r *runner, fifo string) (int, string) {
	t.Helper()
	type result struct {
		code int
		out  string
	}
	done := make(chan result, 1)
	go func() {
		code, out := r.apply()
		done <- result{code, out}
	}()
	release(t, waitReader(t, fifo))
	res := <-done
	return res.code, res.out
}

// TestRemoteRunnersSamePairOverlap is the race the FIFO pause avoids:
// both runners list before either copies. Runner 2's APPEND of m1 is
// held at its proxy until runner 1 has copied m1 and pushed; then both
// copies exist on b. Runner 2 exits 1 as above. This test pins down
// what the rerun does with the duplicate (README, "When two runners
// race"): nothing is lost, and the second copy, unknown to the
// remote's state, is synced like any new message, so each account ends
// with m1 twice. Giving each pair to one runner avoids it.
func TestRemoteRunnersSamePairOverlap(t *testing.T) {
	srv := imaptest.StartMem(t, userA, userB)
	f := &syncFixture{t: t, srv: srv}
	rec := imaptest.Record(t, srv)
	bare := bareRemote(t)
	accounts := []string{userA, userB}
	pairs := []string{"p:" + userA + ":" + userB}
	r1 := newRunner(t, srv, bare, accounts, pairs, nil)
	r2 := newRunner(t, rec.Server(), bare, accounts, pairs, nil)
	f.put(userA, "INBOX", "m0")
	if code, out := r1.apply(); code != 0 {
		t.Fatalf("runner 1's first run exited %d:\n%s", code, out)
	}
	f.put(userA, "INBOX", "m1")

	held, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == "APPEND" {
			once.Do(func() { close(held); <-gate })
		}
		return imaptest.Action{}
	})
	type result struct {
		code int
		out  string
	}
	done := make(chan result, 1)
	go func() {
		code, out := r2.apply()
		done <- result{code, out}
	}()
	<-held
	code, out := r1.apply()
	close(gate)
	res := <-done
	rec.Intercept(nil)
	if code != 0 {
		t.Fatalf("runner 1 exited %d:\n%s", code, out)
	}
	if res.code != 1 || !strings.Contains(res.out, "another runner synced pair p meanwhile") {
		t.Fatalf("runner 2 exited %d, want 1 with the race message:\n%s", res.code, res.out)
	}
	f.want(userB, "INBOX", "m0 -", "m1 -", "m1 -")

	if code, out := r2.apply(); code != 0 {
		t.Fatalf("runner 2's rerun exited %d:\n%s", code, out)
	}
	f.wantBoth("INBOX", "m0 -", "m1 -", "m1 -")
	if code, out := r1.apply(); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("runner 1 after the rerun (exit %d) still had work:\n%s", code, out)
	}
}

// TestStateRemoteToken: the token of an https remote is read from the
// variable token_env names when the run starts; an unset variable is an
// error naming the variable.
func TestStateRemoteToken(t *testing.T) {
	cfg := &hclconfig.Config{State: hclconfig.State{
		Remote: "https://git.example.com/s.git", RemoteKind: hclconfig.RemoteHTTPS, Branch: "state", TokenEnv: "STATE_TOKEN",
	}}
	env := map[string]string{"STATE_TOKEN": "tok-123"}
	g := &globalOptions{lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	rem, err := stateRemote(g, cfg)
	if err != nil || rem.Token != "tok-123" || rem.Branch != "state" || rem.URL != cfg.State.Remote {
		t.Fatalf("stateRemote = %+v, %v; want the token from STATE_TOKEN", rem, err)
	}
	delete(env, "STATE_TOKEN")
	if _, err := stateRemote(g, cfg); err == nil || !strings.Contains(err.Error(), "STATE_TOKEN") {
		t.Errorf("stateRemote with the variable unset = %v, want an error naming it", err)
	}
	if rem, err := stateRemote(g, &hclconfig.Config{}); rem != nil || err != nil {
		t.Errorf("stateRemote without a remote = %v, %v; want nil, nil", rem, err)
	}
}

// TestRemotePushFailureKeepsCommit: the remote vanishes after the run
// pulled (runner paused on its password) and before it pushes. The run
// syncs, commits locally, fails its push with exit 1 and says the next
// run pushes the commit; once the remote is back, the next run does,
// and another clone then starts from that state with nothing to do.
func TestRemotePushFailureKeepsCommit(t *testing.T) {
	srv := imaptest.StartMem(t, userA, userB)
	f := &syncFixture{t: t, srv: srv}
	bare := bareRemote(t)
	accounts := []string{userA, userB}
	pairs := []string{"p:" + userA + ":" + userB}
	fifo := newFIFO(t)
	r1 := newRunner(t, srv, bare, accounts, pairs, map[string]string{userA: fifo})
	r2 := newRunner(t, srv, bare, accounts, pairs, nil)
	f.put(userA, "INBOX", "m1")

	done := make(chan struct {
		code int
		out  string
	}, 1)
	go func() {
		code, out := r1.apply()
		done <- struct {
			code int
			out  string
		}{code, out}
	}()
	w := waitReader(t, fifo)
	err := os.Rename(bare, bare+".away")
	release(t, w)
	if err != nil {
		<-done
		t.Fatal(err)
	}
	res := <-done
	if res.code != 1 || !strings.Contains(res.out, "state committed") || !strings.Contains(res.out, "the next run pushes it") {
		t.Fatalf("run with the remote gone exited %d, want 1, a local commit and the hint:\n%s", res.code, res.out)
	}
	f.want(userB, "INBOX", "m1 -")
	local := headOf(t, r1.state)
	if err := os.Rename(bare+".away", bare); err != nil {
		t.Fatal(err)
	}
	if code, out := runWithPassword(t, r1, fifo); code != 0 || !strings.Contains(out, "state pushed") {
		t.Fatalf("next run exited %d, want 0 and a push:\n%s", code, out)
	}
	if got := remoteHistory(t, bare)[0].Hash; got != local {
		t.Errorf("remote head = %s, want the kept commit %s", got, local)
	}
	if code, out := r2.apply(); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("a new clone (exit %d) did not start from the pushed state:\n%s", code, out)
	}
}

// TestRemoteCheckpointsArePushed: with a remote, a long run's
// checkpoint commits reach the remote while the run goes on, so a
// runner whose disk is lost mid-run leaves its progress there. The run
// copies three folders, one at a time, with a checkpoint after each
// action; its first APPEND into the third folder is held until the test
// has seen an incomplete run on the remote.
func TestRemoteCheckpointsArePushed(t *testing.T) {
	srv := imaptest.StartMem(t, userA, userB)
	f := &syncFixture{t: t, srv: srv}
	rec := imaptest.Record(t, srv)
	bare := bareRemote(t)
	r := newRunner(t, rec.Server(), bare, []string{userA, userB}, []string{"p:" + userA + ":" + userB}, nil)
	cfg, err := os.ReadFile(r.config)
	if err != nil {
		t.Fatal(err)
	}
	patched := strings.Replace(string(cfg), "state {\n", "state {\n  checkpoint_actions = 1\n", 1)
	patched = strings.ReplaceAll(patched, "tls = \"none\"", "tls = \"none\"\n  connections = 1")
	if err := os.WriteFile(r.config, []byte(patched), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mb := range []string{"F1", "F2", "F3"} {
		f.put(userA, mb, mb+"x")
	}
	held, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage == imaptest.Received && e.Verb == "APPEND" && mailboxArg(e.Line) == "F3" {
			once.Do(func() { close(held); <-gate })
		}
		return imaptest.Action{}
	})
	done := make(chan int, 1)
	var out string
	go func() {
		var code int
		code, out = r.apply()
		done <- code
	}()
	<-held
	mid := remoteSubject(bare) // no t.Fatal while apply waits on gate
	close(gate)
	if code := <-done; code != 0 {
		t.Fatalf("apply exited %d:\n%s", code, out)
	}
	rec.Intercept(nil)
	if !strings.HasPrefix(mid, "sync (incomplete)") {
		t.Errorf("remote head while the third folder was copied = %q, want a checkpoint", mid)
	}
	final := remoteHistory(t, bare)
	if !strings.HasPrefix(final[0].Message, "sync: ") || final[0].Hash != headOf(t, r.state) {
		t.Errorf("remote head after the run = %q, want the run's final commit", strings.SplitN(final[0].Message, "\n", 2)[0])
	}
}

// remoteSubject returns the subject of the remote branch's head, or
// what went wrong reading it.
func remoteSubject(bare string) string {
	g, err := git.PlainOpen(bare)
	if err != nil {
		return err.Error()
	}
	ref, err := g.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		return err.Error()
	}
	c, err := g.CommitObject(ref.Hash())
	if err != nil {
		return err.Error()
	}
	return strings.SplitN(c.Message, "\n", 2)[0]
}
