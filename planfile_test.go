package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/planfile"
)

// savedTrial is a pair of accounts synced once (a: INBOX m1 m2, Work
// w1), then changed on a (m3 new in INBOX, m1 flagged) and planned with
// plan --out: the saved plan copies m3 to b's INBOX and flags m1 there,
// and touches INBOX only.
type savedTrial struct {
	*sweepTrial
	plan string
}

func newSavedTrial(t *testing.T, start imaptest.StartFunc) *savedTrial {
	t.Helper()
	srv := start(t, userA, userB)
	tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
	tr.pairExtra = ""
	tr.writeConfig(t, srv.Addr)
	srv.Create(t, userA, "Work")
	f := tr.fixture(t)
	f.put(userA, "INBOX", "m1")
	f.put(userA, "INBOX", "m2")
	f.put(userA, "Work", "w1")
	tr.apply(t)
	f.put(userA, "INBOX", "m3")
	srv.AddFlags(t, userA, "INBOX", f.uidOf(userA, "INBOX", "m1"), imap.FlagFlagged)
	st := &savedTrial{sweepTrial: tr, plan: filepath.Join(tr.dir, "plan.json")}
	if code, out := tr.mailtwin("plan", "--out", st.plan); code != 0 {
		t.Fatalf("plan --out exited %d:\n%s", code, out)
	}
	return st
}

// read returns the saved plan.
func (st *savedTrial) read(t *testing.T) *planfile.File {
	t.Helper()
	b, err := os.ReadFile(st.plan)
	if err != nil {
		t.Fatal(err)
	}
	f, err := planfile.Decode(b)
	if err != nil {
		t.Fatalf("Decode(%s) = %v", st.plan, err)
	}
	return f
}

// TestSavedPlanApplies: apply FILE carries out the saved plan's actions
// (m3 copied, m1's flag) and nothing else: w2, new in Work after the
// plan, a folder the plan does not touch, is neither copied nor recorded
// as agreed (the next plan copies it), and the plan is not refused for
// it. The commit's journal lists exactly the saved actions; the file is
// mode 0600; applying it again is refused, as the state moved.
func TestSavedPlanApplies(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		st := newSavedTrial(t, start)
		fi, err := os.Stat(st.plan)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("plan file mode %04o, want 0600", fi.Mode().Perm())
		}
		saved := st.read(t)
		if len(saved.Pairs) != 1 || len(saved.Pairs[0].Actions) != 2 || strings.Join(saved.Pairs[0].Folders, ",") != "INBOX" {
			t.Fatalf("saved plan = %+v, want 2 actions in INBOX", saved.Pairs)
		}
		f := st.fixture(t)
		f.put(userA, "Work", "w2")
		f.expunge(userB, "Work", "w1")
		if code, out := st.mailtwin("apply", st.plan); code != 0 {
			t.Fatalf("apply FILE exited %d:\n%s", code, out)
		}
		f.want(userB, "INBOX", `m1 \Flagged`, "m2 -", "m3 -")
		f.want(userB, "Work")
		f.want(userA, "Work", "w1 -", "w2 -")

		code, out := st.mailtwin("show", "HEAD", "--json")
		if code != 0 {
			t.Fatalf("show HEAD exited %d:\n%s", code, out)
		}
		var rep showReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("show --json: %v\n%s", err, out)
		}
		if len(rep.Pairs) != 1 || len(rep.Pairs[0].Actions) != 2 {
			t.Fatalf("journal of the apply = %+v, want the 2 saved actions", rep.Pairs)
		}
		for i, e := range rep.Pairs[0].Actions {
			a := saved.Pairs[0].Actions[i]
			if e.Op != a.Op || e.Side != a.Side || e.Mailbox != a.Mailbox || e.Status != "ok" {
				t.Errorf("journal entry %d = %+v, want %s done", i, e, &a)
			}
		}

		// Work's changes were not agreed: the next plan still copies w2
		// and expunges w1.
		code, out = st.mailtwin("plan")
		if code != 0 || !strings.Contains(out, `+ b:"Work" <- a:"Work"`) || !strings.Contains(out, `- a:"Work" uid 1 expunge`) || strings.Contains(out, `"INBOX"`) {
			t.Errorf("plan after apply FILE exited %d, want only w2's copy and w1's expunge in Work:\n%s", code, out)
		}
		if code, out := st.mailtwin("apply", st.plan); code != 1 || !strings.Contains(out, "stale plan: the state repository moved from ") {
			t.Errorf("second apply FILE exited %d, want 1 and a moved state:\n%s", code, out)
		}
		st.apply(t)
		f.want(userA, "Work", "w2 -")
		f.want(userB, "Work", "w2 -")
	})
}

// TestSavedPlanPairs: a plan of two pairs is checked whole before any
// pair is carried out: when the second pair's plan is stale, the first
// pair's accounts are not changed either.
func TestSavedPlanPairs(t *testing.T) {
	srv := imaptest.StartMem(t, userA, userB, "carol", "dave")
	tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
	host, port, _ := strings.Cut(srv.Addr, ":")
	tr.pairExtra = fmt.Sprintf(`}
account "c" {
  host = %q
  port = %s
  tls = "none"
  username = "carol"
  password = %q
}
account "d" {
  host = %[1]q
  port = %[2]s
  tls = "none"
  username = "dave"
  password = %[3]q
}
pair "q" {
  a = "c"
  b = "d"
`, host, port, imaptest.Password)
	tr.writeConfig(t, srv.Addr)
	f := tr.fixture(t)
	f.put(userA, "INBOX", "m1")
	f.put("carol", "INBOX", "c1")
	plan := filepath.Join(tr.dir, "plan.json")
	if code, out := tr.mailtwin("plan", "--out", plan); code != 0 {
		t.Fatalf("plan --out exited %d:\n%s", code, out)
	}
	f.put("dave", "INBOX", "d1")
	before := historySnapshot(t, tr)
	code, out := tr.mailtwin("apply", plan)
	if code != 1 || !strings.Contains(out, `stale plan: pair "q": folder "INBOX" on b: UIDNEXT 1 -> 2 (a new message)`) {
		t.Fatalf("apply FILE exited %d, want 1 and pair q stale:\n%s", code, out)
	}
	if after := historySnapshot(t, tr); !maps.EqualFunc(before, after, slicesEqual) {
		t.Errorf("apply FILE of a stale two-pair plan changed pair p's accounts:\nbefore %q\nafter  %q", before, after)
	}
	f.want(userB, "INBOX")
	if _, err := os.Stat(filepath.Join(tr.state, ".git")); err == nil {
		if log, _ := openLog(t, tr.state); len(log) != 0 {
			t.Errorf("apply FILE of a stale plan committed %v", log)
		}
	}
}

func openLog(t *testing.T, dir string) ([]gitstate.Commit, error) {
	t.Helper()
	repo, err := gitstate.Open(context.Background(), dir)
	if err != nil {
		return nil, err
	}
	return repo.Log(context.Background(), 0)
}

// TestSavedPlanStale: a change after the plan to a folder it touches, on
// either side (a new message, a flag change, an expunge), makes apply
// FILE refuse the plan with exit 1 and "stale plan: ..." naming the
// folder, and change nothing: both accounts and the state's HEAD are as
// they were before apply. On the memory server, which has no CONDSTORE,
// the flag changes are caught by the flag digest; on Dovecot by
// HIGHESTMODSEQ.
func TestSavedPlanStale(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, st *savedTrial)
		want   string
	}{
		{"new on a", func(t *testing.T, st *savedTrial) { st.fixture(t).put(userA, "INBOX", "m4") },
			`folder "INBOX" on a: UIDNEXT`},
		{"new on b", func(t *testing.T, st *savedTrial) { st.fixture(t).put(userB, "INBOX", "n1") },
			`folder "INBOX" on b: UIDNEXT`},
		{"flags on a", func(t *testing.T, st *savedTrial) {
			st.srv.AddFlags(t, userA, "INBOX", st.fixture(t).uidOf(userA, "INBOX", "m2"), imap.FlagSeen)
		}, `folder "INBOX" on a: `},
		{"flags on b", func(t *testing.T, st *savedTrial) {
			st.srv.AddFlags(t, userB, "INBOX", st.fixture(t).uidOf(userB, "INBOX", "m2"), imap.FlagAnswered)
		}, `folder "INBOX" on b: `},
		{"expunge on a", func(t *testing.T, st *savedTrial) { st.fixture(t).expunge(userA, "INBOX", "m2") },
			`folder "INBOX" on a: messages 3 -> 2 (an expunge)`},
		{"expunge on b", func(t *testing.T, st *savedTrial) { st.fixture(t).expunge(userB, "INBOX", "m2") },
			`folder "INBOX" on b: messages 2 -> 1 (an expunge)`},
	}
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				st := newSavedTrial(t, start)
				c.change(t, st)
				before, head := historySnapshot(t, st.sweepTrial), headShort(t, st.sweepTrial)
				code, out := st.mailtwin("apply", st.plan)
				if code != 1 || !strings.Contains(out, `mailtwin: stale plan: pair "p": `+c.want) {
					t.Fatalf("apply FILE exited %d, want 1 and %q:\n%s", code, c.want, out)
				}
				if strings.HasPrefix(c.name, "flags") {
					want := "flags changed (the digest"
					if st.srv.Log() != "" { // Dovecot: CONDSTORE
						want = "HIGHESTMODSEQ"
					}
					if !strings.Contains(out, want) {
						t.Errorf("apply FILE said %q, want %q", out, want)
					}
				}
				if after := historySnapshot(t, st.sweepTrial); !maps.EqualFunc(before, after, slicesEqual) {
					t.Errorf("apply FILE of a stale plan changed the accounts:\nbefore %q\nafter  %q", before, after)
				}
				if h := headShort(t, st.sweepTrial); h != head {
					t.Errorf("apply FILE of a stale plan moved the state from %s to %s", head, h)
				}
			})
		}
	})
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// TestSavedPlanConfigAndState: a plan is refused, and nothing changed,
// when the configuration file changed since (even by a comment), or
// when the state repository's HEAD moved (here by another commit).
func TestSavedPlanConfigAndState(t *testing.T) {
	t.Run("config", func(t *testing.T) {
		st := newSavedTrial(t, imaptest.StartMem)
		cfg, err := os.ReadFile(st.config)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(st.config, append(cfg, "# reviewed\n"...), 0o600); err != nil {
			t.Fatal(err)
		}
		before, head := historySnapshot(t, st.sweepTrial), headShort(t, st.sweepTrial)
		code, out := st.mailtwin("apply", st.plan)
		if code != 1 || !strings.Contains(out, "mailtwin: stale plan: the configuration changed since the plan") {
			t.Fatalf("apply FILE exited %d, want 1 and a changed configuration:\n%s", code, out)
		}
		if after := historySnapshot(t, st.sweepTrial); !maps.EqualFunc(before, after, slicesEqual) || headShort(t, st.sweepTrial) != head {
			t.Errorf("a refused apply FILE changed something")
		}
	})
	t.Run("state", func(t *testing.T) {
		st := newSavedTrial(t, imaptest.StartMem)
		head := headShort(t, st.sweepTrial)
		// Another runner's commit, say.
		ctx := context.Background()
		repo, err := gitstate.Open(ctx, st.state)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Stage(ctx, "other", map[string][]byte{"note": []byte("x\n")}); err != nil {
			t.Fatal(err)
		}
		if _, err := repo.Commit(ctx, "another run"); err != nil {
			t.Fatal(err)
		}
		moved := headShort(t, st.sweepTrial)
		before := historySnapshot(t, st.sweepTrial)
		code, out := st.mailtwin("apply", st.plan)
		if want := "mailtwin: stale plan: the state repository moved from " + head + " to " + moved; code != 1 || !strings.Contains(out, want) {
			t.Fatalf("apply FILE exited %d, want 1 and %q:\n%s", code, want, out)
		}
		if after := historySnapshot(t, st.sweepTrial); !maps.EqualFunc(before, after, slicesEqual) || headShort(t, st.sweepTrial) != moved {
			t.Errorf("a refused apply FILE changed something")
		}
	})
}

// TestSavedPlanEmpty: a plan with nothing to do is still saved, and
// applying it does nothing and exits 0.
func TestSavedPlanEmpty(t *testing.T) {
	st := newSavedTrial(t, imaptest.StartMem)
	st.apply(t)
	if code, out := st.mailtwin("plan", "--out", st.plan); code != 0 {
		t.Fatalf("plan --out exited %d:\n%s", code, out)
	}
	if f := st.read(t); len(f.Pairs) != 1 || len(f.Pairs[0].Actions) != 0 {
		t.Fatalf("saved plan = %+v, want one pair and no actions", f.Pairs)
	}
	head, before := headShort(t, st.sweepTrial), historySnapshot(t, st.sweepTrial)
	if code, out := st.mailtwin("apply", st.plan); code != 0 {
		t.Fatalf("apply FILE of an empty plan exited %d:\n%s", code, out)
	}
	if after := historySnapshot(t, st.sweepTrial); !maps.EqualFunc(before, after, slicesEqual) || headShort(t, st.sweepTrial) != head {
		t.Errorf("apply FILE of an empty plan changed something")
	}
}

// TestShowPlanFile: show FILE prints the saved plan as plan printed it,
// and --json the file itself.
func TestShowPlanFile(t *testing.T) {
	st := newSavedTrial(t, imaptest.StartMem)
	_, planned := st.mailtwin("plan")
	code, out := st.mailtwin("show", st.plan)
	if code != 0 {
		t.Fatalf("show FILE exited %d:\n%s", code, out)
	}
	if !strings.HasPrefix(out, "saved plan "+st.plan+", made ") || !strings.Contains(out, "\n"+planned) ||
		!strings.Contains(out, `checked at apply: a:"INBOX" b:"INBOX"`) {
		t.Errorf("show FILE printed:\n%s\nwant the header and plan's own text:\n%s", out, planned)
	}
	code, out = st.mailtwin("show", st.plan, "--json")
	if code != 0 {
		t.Fatalf("show FILE --json exited %d:\n%s", code, out)
	}
	f, err := planfile.Decode([]byte(out))
	if err != nil {
		t.Fatalf("show --json is not a plan file: %v\n%s", err, out)
	}
	if want := st.read(t); !jsonEqual(t, f, want) {
		t.Errorf("show --json = %s, want the file's contents", out)
	}
}

func jsonEqual(t *testing.T, x, y any) bool {
	t.Helper()
	a, err1 := json.Marshal(x)
	b, err2 := json.Marshal(y)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(a) == string(b)
}

// TestSavedPlanBadFile: a plan file that is corrupt, of a future
// version, or not a plan at all, exits 4 with a message saying so.
func TestSavedPlanBadFile(t *testing.T) {
	st := newSavedTrial(t, imaptest.StartMem)
	good, err := os.ReadFile(st.plan)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, body, want string
		show             bool // show takes it as a plan file too
	}{
		{"truncated", string(good[:len(good)/2]), "not a readable plan file", true},
		{"future", strings.Replace(string(good), `"version": 1`, `"version": 99`, 1), "unknown plan file version 99", true},
		{"not json", "hello\n", "not a readable plan file", false},
		{"other json", `{"pairs": []}`, `its format is ""`, false},
	}
	for _, c := range cases {
		path := filepath.Join(st.dir, strings.ReplaceAll(c.name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out := st.mailtwin("apply", path); code != 4 || !strings.Contains(out, c.want) {
			t.Errorf("%s: apply FILE exited %d, want 4 and %q:\n%s", c.name, code, c.want, out)
		}
		if c.show {
			if code, out := st.mailtwin("show", path); code != 4 || !strings.Contains(out, c.want) {
				t.Errorf("%s: show FILE exited %d, want 4 and %q:\n%s", c.name, code, c.want, out)
			}
		}
	}
}

// TestSavedPlanRename: a saved plan that repeats a folder rename (Work
// to Work2, made on a) on b carries it out, messages and all; a new
// message in b's Work after the plan, the folder the plan renames, makes
// it stale, and nothing is renamed.
func TestSavedPlanRename(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		for _, stale := range []bool{false, true} {
			srv := start(t, userA, userB)
			tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
			tr.pairExtra = ""
			tr.writeConfig(t, srv.Addr)
			f := tr.fixture(t)
			srv.Create(t, userA, "Work")
			f.put(userA, "Work", "w1")
			f.put(userA, "INBOX", "m1")
			tr.apply(t)
			srv.Rename(t, userA, "Work", "Work2")
			plan := filepath.Join(tr.dir, "plan.json")
			if code, out := tr.mailtwin("plan", "--out", plan); code != 0 || !strings.Contains(out, `rename folder "Work" -> "Work2" on b`) {
				t.Fatalf("plan --out exited %d, want the rename:\n%s", code, out)
			}
			if stale {
				f.put(userB, "Work", "w2")
			}
			before := historySnapshot(t, tr)
			code, out := tr.mailtwin("apply", plan)
			if stale {
				if code != 1 || !strings.Contains(out, `stale plan: pair "p": folder "Work" on b: UIDNEXT`) {
					t.Fatalf("apply FILE exited %d, want 1 and b's Work stale:\n%s", code, out)
				}
				if after := historySnapshot(t, tr); !maps.EqualFunc(before, after, slicesEqual) {
					t.Errorf("apply FILE of a stale plan changed the accounts:\nbefore %q\nafter  %q", before, after)
				}
				continue
			}
			if code != 0 {
				t.Fatalf("apply FILE exited %d:\n%s", code, out)
			}
			f.want(userB, "Work2", "w1 -")
			if slices.Contains(srv.Mailboxes(t, userB), "Work") {
				t.Errorf("b still has Work after the rename: %q", srv.Mailboxes(t, userB))
			}
			if code, out := tr.mailtwin("plan"); code != 0 || !strings.Contains(out, `pair "p": no changes`) {
				t.Errorf("plan after apply FILE exited %d, want no changes:\n%s", code, out)
			}
		}
	})
}
