package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// parallelFolders are the folders of the parallel tests, each with
// three messages on a.
var parallelFolders = []string{"INBOX", "Work", "Lists", "Travel", "Family", "Receipts"}

func putParallelMail(f *syncFixture) map[string][]string {
	want := map[string][]string{}
	for i, mb := range parallelFolders {
		for j := range 3 {
			id := fmt.Sprintf("m%d-%d", i, j)
			if j == 1 {
				f.put(userA, mb, id, imap.FlagSeen)
				want[mb] = append(want[mb], id+` \Seen`)
			} else {
				f.put(userA, mb, id)
				want[mb] = append(want[mb], id+" -")
			}
		}
	}
	return want
}

// TestParallelCopiesFoldersAtOnce: with three connections per side, a
// run copies several folders at the same time, on connections of their
// own.
//
// The recorder holds the first APPEND it sees until an APPEND comes on
// another connection: a run that copied one folder after the other
// would never send that second APPEND, and the test fails at its
// deadline instead of passing.
func TestParallelCopiesFoldersAtOnce(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		f.connections = [2]int{3, 3}
		want := putParallelMail(f)
		rec := f.record()

		var mu sync.Mutex
		second := make(chan struct{})
		firstConn := 0
		timedOut := false
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			if e.Stage != imaptest.Received || e.Verb != "APPEND" {
				return imaptest.Action{}
			}
			mu.Lock()
			first := firstConn == 0
			if first {
				firstConn = e.Conn
			} else if e.Conn != firstConn {
				select {
				case <-second:
				default:
					close(second)
				}
			}
			mu.Unlock()
			if first {
				select {
				case <-second:
				case <-time.After(20 * time.Second):
					mu.Lock()
					timedOut = true
					mu.Unlock()
				}
			}
			return imaptest.Action{}
		})
		f.sync()
		rec.Intercept(nil)

		mu.Lock()
		defer mu.Unlock()
		if timedOut {
			t.Errorf("no APPEND came on a second connection while the first one's was held: the folders were not copied at the same time")
		}
		for mb, lines := range want {
			f.wantBoth(mb, lines...)
		}
		f.settled()
	})
}

// refusingConnector is an account that cannot open a second connection
// (a server at its connection limit, say).
type refusingConnector struct{ *imapstore.Store }

func (refusingConnector) Connect(context.Context) (reconcile.Conn, error) {
	return nil, errors.New("too many connections")
}

// TestParallelWithoutMoreConnections: when more connections cannot be
// opened, the run does all its work on the one it has.
func TestParallelWithoutMoreConnections(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		want := putParallelMail(f)
		f.put(userB, "Work", "b1", imap.FlagFlagged)
		want["Work"] = append(want["Work"], `b1 \Flagged`)
		rec := f.record()
		var mu sync.Mutex
		working := map[int]bool{} // connections that did more than log in and append
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			switch e.Verb {
			case "LOGIN", "NOOP", "CAPABILITY", "APPEND", "LOGOUT":
			default:
				mu.Lock()
				working[e.Conn] = true
				mu.Unlock()
			}
			return imaptest.Action{}
		})
		ctx := context.Background()
		res, err := reconcile.Run(ctx, reconcile.RunOptions{Pair: "p", Policy: f.policy, Connections: [2]int{4, 4}},
			refusingConnector{f.dial(userA, false)}, refusingConnector{f.dial(userB, false)}, stateRepo{f.repo})
		if err != nil {
			t.Fatalf("Run: %v\n%v", err, res.Plan)
		}
		if _, err := commitRun(ctx, f.repo, []string{res.Plan.Summary()}, "", 0); err != nil {
			t.Fatal(err)
		}
		rec.Intercept(nil)
		if len(working) != 2 {
			t.Errorf("the run worked on %d connections, want one per account:\n%s", len(working), strings.Join(rec.Commands(), "\n"))
		}
		for mb, lines := range want {
			f.wantBoth(mb, lines...)
		}
		f.settled()
	})
}

// TestFlagsAndExpungesShareASelection: a folder where a run changes
// flags and expunges is selected once for both, on one connection or
// on several.
func TestFlagsAndExpungesShareASelection(t *testing.T) {
	t.Parallel()
	for _, conns := range []int{1, 3} {
		t.Run(fmt.Sprintf("connections=%d", conns), func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				f := newSyncFixture(t, start)
				f.connections = [2]int{conns, conns}
				f.far = [2]bool{conns > 1, conns > 1} // near servers get one connection
				want := putParallelMail(f)
				f.sync()
				for _, mb := range parallelFolders[:3] {
					f.srv.AddFlags(t, userA, mb, f.uidOf(userA, mb, want[mb][0][:4]), imap.FlagFlagged)
					f.expunge(userA, mb, want[mb][2][:4])
				}
				rec := f.record()
				f.sync()
				if got := changeSelects(rec); got != 3 {
					t.Errorf("run sent %d SELECT for 3 folders with flag changes and expunges, want 3:\n%s", got, strings.Join(rec.Commands(), "\n"))
				}
				for _, mb := range parallelFolders[:3] {
					f.wantBoth(mb, want[mb][0][:4]+` \Flagged`, want[mb][1])
				}
				f.settled()
			})
		})
	}
}

// TestParallelPairs: apply --parallel 2 syncs two pairs at the same
// time. The recorder holds the first LIST until a third one comes: a
// run that synced one pair after the other would list the second
// pair's accounts only after the first pair was done, which it cannot
// be while its LIST is held, and the test fails at its deadline.
func TestParallelPairs(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "a1", "b1", "a2", "b2")
	f := &syncFixture{t: t, srv: srv}
	f.put("a1", "INBOX", "one")
	f.put("a2", "INBOX", "two", imap.FlagSeen)
	rec := imaptest.Record(t, srv)
	dir := t.TempDir()
	host, port, _ := strings.Cut(rec.Addr, ":")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "state { path = %q }\n", filepath.Join(dir, "state"))
	for _, u := range []string{"a1", "b1", "a2", "b2"} {
		fmt.Fprintf(&cfg, "account %q {\n  host = %q\n  port = %s\n  tls = \"none\"\n  username = %q\n  password = %q\n}\n", u, host, port, u, imaptest.Password)
	}
	cfg.WriteString("pair \"one\" {\n  a = \"a1\"\n  b = \"b1\"\n}\npair \"two\" {\n  a = \"a2\"\n  b = \"b2\"\n}\n")
	config := filepath.Join(dir, "mailtwin.hcl")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	lists := 0
	third := make(chan struct{})
	timedOut := false
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if e.Stage != imaptest.Received || e.Verb != "LIST" {
			return imaptest.Action{}
		}
		mu.Lock()
		lists++
		n := lists
		if n == 3 {
			close(third)
		}
		mu.Unlock()
		if n == 1 {
			select {
			case <-third:
			case <-time.After(20 * time.Second):
				mu.Lock()
				timedOut = true
				mu.Unlock()
			}
		}
		return imaptest.Action{}
	})
	var out bytes.Buffer
	code := run(context.Background(), []string{"-c", config, "apply", "--parallel", "2"}, strings.NewReader(""), &out, &out)
	rec.Intercept(nil)
	if code != 0 {
		t.Fatalf("apply --parallel 2 exited %d:\n%s", code, out.String())
	}
	if timedOut {
		t.Errorf("no third LIST came while the first was held: the pairs were not synced at the same time")
	}
	f.want("b1", "INBOX", "one -")
	f.want("b2", "INBOX", `two \Seen`)
	if i, j := strings.Index(out.String(), `pair "one"`), strings.Index(out.String(), `pair "two"`); i < 0 || j < i {
		t.Errorf("output does not show pair one, then pair two:\n%s", out.String())
	}
}

// TestCheckpointsWhileFoldersRunAtOnce: checkpoints taken while lanes
// copy several folders at once record only finished copies, each state
// at least as far as the one before, and the run's final state holds
// every message. Run it with -race: a checkpoint reads outcomes while
// other lanes write theirs.
func TestCheckpointsWhileFoldersRunAtOnce(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		putParallelMail(f)
		ctx := context.Background()
		paired := func(st reconcile.State) int {
			n := 0
			for _, fo := range st.Folders {
				for _, r := range fo.Records {
					if r.UID(reconcile.A) != 0 && r.UID(reconcile.B) != 0 {
						n++
					}
				}
			}
			return n
		}
		var got []int
		opts := reconcile.RunOptions{Pair: "p", Policy: f.policy, Connections: [2]int{3, 3},
			CheckpointActions: 1,
			Checkpoint: func(_ context.Context, cp reconcile.Checkpoint) {
				got = append(got, paired(cp.State))
			}}
		res, err := reconcile.Run(ctx, opts, f.dial(userA, false), f.dial(userB, false), stateRepo{f.repo})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if len(got) == 0 {
			t.Fatalf("no checkpoint in a run of %d actions", len(res.Plan.Actions))
		}
		for i := 1; i < len(got); i++ {
			if got[i] < got[i-1] {
				t.Errorf("checkpoint %d pairs %d messages, fewer than the one before (%d): %v", i, got[i], got[i-1], got)
			}
		}
		want := 3 * len(parallelFolders)
		if last := got[len(got)-1]; last >= want {
			t.Errorf("the last checkpoint already pairs all %d messages: checkpoints must come before the end (%v)", want, got)
		}
		if n := paired(res.State); n != want {
			t.Errorf("final state pairs %d messages, want %d", n, want)
		}
	})
}

// TestFlagChangesOneStorePerFlag: eight messages whose flags changed in
// eight different ways (every mix of adding and removing \Seen and
// \Flagged) reach the other side in one UID STORE per flag and
// direction, four in all, not one or two per kind of change.
func TestFlagChangesOneStorePerFlag(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		f := newSyncFixture(t, start)
		S, F := imap.FlagSeen, imap.FlagFlagged
		type change struct {
			before      []imap.Flag
			add, remove []imap.Flag
			after       string
		}
		changes := []change{
			{nil, []imap.Flag{S}, nil, `\Seen`},
			{nil, []imap.Flag{F}, nil, `\Flagged`},
			{nil, []imap.Flag{S, F}, nil, `\Flagged,\Seen`},
			{[]imap.Flag{S}, nil, []imap.Flag{S}, `-`},
			{[]imap.Flag{F}, nil, []imap.Flag{F}, `-`},
			{[]imap.Flag{S, F}, nil, []imap.Flag{S, F}, `-`},
			{[]imap.Flag{F}, []imap.Flag{S}, []imap.Flag{F}, `\Seen`},
			{[]imap.Flag{S}, []imap.Flag{F}, []imap.Flag{S}, `\Flagged`},
		}
		var want []string
		for i, c := range changes {
			f.put(userA, "INBOX", fmt.Sprintf("m%d", i), c.before...)
			want = append(want, fmt.Sprintf("m%d %s", i, c.after))
		}
		f.sync()
		for i, c := range changes {
			uid := f.uidOf(userA, "INBOX", fmt.Sprintf("m%d", i))
			if len(c.add) > 0 {
				f.srv.AddFlags(t, userA, "INBOX", uid, c.add...)
			}
			if len(c.remove) > 0 {
				f.srv.RemoveFlags(t, userA, "INBOX", uid, c.remove...)
			}
		}
		rec := f.record()
		f.sync()
		if got := rec.Count("UID STORE"); got != 4 {
			t.Errorf("run sent %d UID STORE for 8 messages whose \\Seen and \\Flagged changed, want 4 (one per flag and direction):\n%s",
				got, strings.Join(rec.Commands(), "\n"))
		}
		f.wantBoth("INBOX", want...)
		f.settled()
	})
}

// TestCopyWindowCarriesOverFolders: with one connection per account, a
// first sync copies F1 then F2, three messages each, on Dovecot (which
// takes MULTIAPPEND). F1's copy starts one message at a time and its
// window grows; F2's starts where F1's left off, so its three messages
// go as one APPEND command, not one and then two.
func TestCopyWindowCarriesOverFolders(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{1, 1}
	for _, mb := range []string{"F1", "F2"} {
		for i := range 3 {
			f.put(userA, mb, fmt.Sprintf("%s-%d", mb, i))
		}
	}
	rec := f.record()
	f.sync()
	perFolder := map[string][]int{}
	for _, c := range rec.Commands() {
		if !strings.HasPrefix(c, "APPEND ") {
			continue
		}
		mb := mailboxArg(c)
		perFolder[mb] = append(perFolder[mb], len(appendLiteralRE.FindAllString(c, -1)))
	}
	first, second := perFolder["F1"], perFolder["F2"]
	if len(first) < 2 {
		t.Errorf("F1's copy sent messages per APPEND %v: want its window to start at one message", first)
	}
	if len(second) != 1 || second[0] != 3 {
		t.Errorf("F2's copy sent messages per APPEND %v, want [3]: the window F1's copy reached carries over\n%s", second, strings.Join(rec.Commands(), "\n"))
	}
	f.wantBoth("F1", "F1-0 -", "F1-1 -", "F1-2 -")
	f.wantBoth("F2", "F2-0 -", "F2-1 -", "F2-2 -")
}

// TestCopyFillsMultiAppendCommands: a long copy's window of APPENDs in
// flight grows to the size of a MULTIAPPEND command (64 messages), so
// that no command ends early for want of room in the window: Dovecot's
// cost is per command, and in b1 a window of 32 gave 332 commands for
// 10,000 messages where 64 gives about half as many.
func TestCopyFillsMultiAppendCommands(t *testing.T) {
	t.Parallel()
	f := newSyncFixture(t, imaptest.StartDovecot)
	f.connections = [2]int{1, 1}
	// Over one connection: 200 of f.put's logins took Dovecot 13 s.
	f.srv.Create(t, userA, "Big")
	c := f.srv.Dial(t, userA)
	for i := range 200 {
		id := fmt.Sprintf("big-%d", i)
		m := imaptest.NewMessage("sender@example.org", "team@example.org", "about "+id, id+"@example.org", "body of "+id+"\r\n")
		cmd := c.Append("Big", int64(len(m)), nil)
		if _, err := cmd.Write(m); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("append %s: %v", id, err)
		}
	}
	rec := f.record()
	f.sync()
	var perCommand []int
	for _, c := range rec.Commands() {
		if strings.HasPrefix(c, "APPEND ") {
			perCommand = append(perCommand, len(appendLiteralRE.FindAllString(c, -1)))
		}
	}
	if slices.Max(perCommand) != 64 {
		t.Errorf("messages per APPEND command: %v, want commands of 64 once the window has grown", perCommand)
	}
	if n := len(f.contents(userB, "Big")); n != 200 {
		t.Errorf("b holds %d messages in Big, want 200", n)
	}
}

// changeSelects counts the SELECTs rec saw that a change followed (a UID
// STORE, EXPUNGE or UID EXPUNGE before the next SELECT or EXAMINE on
// that connection): not those of scans, which select too where they may
// change the account (for PERMANENTFLAGS), and change nothing.
func changeSelects(rec *imaptest.Recorder) int {
	n := 0
	for _, cmds := range rec.SessionCommands() {
		open := false // a SELECT no change has followed yet
		for _, c := range cmds {
			verb, _, _ := strings.Cut(c, " ")
			switch {
			case verb == "SELECT":
				open = true
			case verb == "EXAMINE":
				open = false
			case open && (verb == "EXPUNGE" || strings.HasPrefix(c, "UID STORE") || strings.HasPrefix(c, "UID EXPUNGE")):
				n++
				open = false
			}
		}
	}
	return n
}
