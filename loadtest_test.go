package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestRemoteLoadFourShards: 200 pairs on four in-memory IMAP servers,
// synced by four mailtwin processes at once, one per shard (apply
// --shard I/4), each with its own clone, all pushing to one bare
// remote. Every pair converges both ways, every shard's final commit
// is on the remote branch (none lost to a race), every pair's state and
// run journal is there, and the history is linear.
func TestRemoteLoadFourShards(t *testing.T) {
	bin, err := exec.LookPath("mailtwin")
	if err != nil {
		t.Fatalf("the mailtwin command testscript installs is not on PATH: %v", err)
	}
	const pairs, servers, shards = 200, 4, 4
	var users [servers][]string
	for i := range pairs {
		users[i%servers] = append(users[i%servers], fmt.Sprintf("a%03d", i), fmt.Sprintf("b%03d", i))
	}
	var srvs [servers]*imaptest.Server
	for s := range servers {
		srvs[s] = imaptest.StartMem(t, users[s]...)
	}
	var cfg strings.Builder
	bare := bareRemote(t)
	fmt.Fprintf(&cfg, "state {\n  path = STATE\n  remote = %q\n}\n", bare)
	for i := range pairs {
		host, port, _ := strings.Cut(srvs[i%servers].Addr, ":")
		for _, u := range []string{fmt.Sprintf("a%03d", i), fmt.Sprintf("b%03d", i)} {
			fmt.Fprintf(&cfg, "account %q {\n  host = %q\n  port = %s\n  tls = \"none\"\n  username = %q\n  password = %q\n  connections = 1\n}\n", u, host, port, u, imaptest.Password)
		}
		fmt.Fprintf(&cfg, "pair \"p%03d\" {\n  a = \"a%03d\"\n  b = \"b%03d\"\n}\n", i, i, i)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range pairs {
		f := &syncFixture{t: t, srv: srvs[i%servers]}
		wg.Go(func() {
			f.put(fmt.Sprintf("a%03d", i), "INBOX", fmt.Sprintf("from-a-%03d", i))
			f.put(fmt.Sprintf("b%03d", i), "INBOX", fmt.Sprintf("from-b-%03d", i))
		})
	}
	wg.Wait()
	t.Logf("seeded %d pairs in %v", pairs, time.Since(start))

	start = time.Now()
	states := make([]string, shards)
	outs := make([]bytes.Buffer, shards)
	errs := make([]error, shards)
	for s := range shards {
		dir := t.TempDir()
		states[s] = filepath.Join(dir, "state")
		config := filepath.Join(dir, "mailtwin.hcl")
		if err := os.WriteFile(config, []byte(strings.Replace(cfg.String(), "STATE", fmt.Sprintf("%q", states[s]), 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", config, "apply", "--shard", fmt.Sprintf("%d/%d", s, shards), "--parallel", "8")
		cmd.Stdout, cmd.Stderr = &outs[s], &outs[s]
		wg.Go(func() { errs[s] = cmd.Run() })
	}
	wg.Wait()
	t.Logf("4 shards synced and pushed in %v", time.Since(start))
	for s := range shards {
		if errs[s] != nil {
			t.Fatalf("shard %d/%d: %v\n%s", s, shards, errs[s], lastLines(outs[s].String(), 20))
		}
	}

	for i := range pairs {
		f := &syncFixture{t: t, srv: srvs[i%servers]}
		want := []string{fmt.Sprintf("from-a-%03d -", i), fmt.Sprintf("from-b-%03d -", i)}
		f.want(fmt.Sprintf("a%03d", i), "INBOX", want...)
		f.want(fmt.Sprintf("b%03d", i), "INBOX", want...)
	}

	hist := remoteHistory(t, bare) // fails on a merge commit
	if len(hist) != shards {
		t.Errorf("remote history has %d commits, want %d (one run per shard)", len(hist), shards)
	}
	var journal strings.Builder
	for _, c := range hist {
		journal.WriteString(c.Message)
	}
	files := strings.Join(remoteFiles(t, bare), "\n")
	for i := range pairs {
		name := fmt.Sprintf("p%03d", i)
		if !strings.Contains(journal.String(), fmt.Sprintf("pair %q:", name)) {
			t.Errorf("no remote commit records pair %s's run", name)
		}
		if !strings.Contains(files, name+"/INBOX.state") {
			t.Errorf("the remote tree has no state for pair %s", name)
		}
	}
	g, err := git.PlainOpen(bare)
	if err != nil {
		t.Fatal(err)
	}
	tip := hist[0]
	rebased := 0
	for s := range shards {
		c, err := g.CommitObject(headOf(t, states[s]))
		if err != nil {
			t.Errorf("shard %d's head is not on the remote: %v", s, err)
			continue
		}
		if ok, err := c.IsAncestor(tip); c.Hash != tip.Hash && (err != nil || !ok) {
			t.Errorf("shard %d's head %s is not in the remote branch's history", s, c.Hash)
		}
		if strings.Contains(outs[s].String(), "rebased and pushed") {
			rebased++
		}
	}
	t.Logf("%d of %d shards rebased before their push landed", rebased, shards)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
