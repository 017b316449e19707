package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestCheckpointSurvivesKill: a first sync killed while it copies its
// third folder has committed its progress (checkpoint_actions = 1): the
// log shows an incomplete run, the state holds the first two folders'
// messages, and the rerun copies only the third folder, then commits a
// complete run.
func TestCheckpointSurvivesKill(t *testing.T) {
	t.Parallel()
	tr, f, rec := killedFirstSync(t)

	if code, log := tr.mailtwin("log"); code != 0 || !strings.Contains(log, "sync (incomplete)") {
		t.Errorf("log after the kill (exit %d) shows no incomplete run:\n%s", code, log)
	}
	for _, mb := range []string{"F1", "F2"} {
		data, err := os.ReadFile(filepath.Join(tr.state, "p", mb+".state"))
		if err != nil {
			t.Errorf("state of %s after the kill: %v", mb, err)
			continue
		}
		records := 0
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				records++
			}
		}
		if records < 3 {
			t.Errorf("state of %s after the kill holds %d lines of records, want its 3 messages:\n%s", mb, records, data)
		}
	}

	rec.Reset()
	tr.apply(t)
	for _, c := range rec.Commands() {
		if strings.HasPrefix(c, "APPEND") && mailboxArg(c) != "F3" {
			t.Errorf("the rerun copied into %s again: %q", mailboxArg(c), c)
		}
	}
	for _, mb := range []string{"F1", "F2", "F3"} {
		f.want(userB, mb, mb+"x -", mb+"y -", mb+"z -")
	}
	code, log := tr.mailtwin("log")
	if first, _, _ := strings.Cut(log, "\n"); code != 0 || !strings.Contains(first, "sync: ") || strings.Contains(first, "incomplete") {
		t.Errorf("the rerun's commit is not a complete run:\n%s", log)
	}
}

// TestKilledRunShownAndReverted: the last checkpoint of a run killed
// mid-way journals the actions done until then, so show lists them and
// revert undoes them: the copies into F1 and F2 are removed from b
// again.
func TestKilledRunShownAndReverted(t *testing.T) {
	t.Parallel()
	tr, f, rec := killedFirstSync(t)
	srv := rec.Server()

	code, out := tr.mailtwin("show", "--json", "HEAD")
	if code != 0 {
		t.Fatalf("show HEAD after the kill exited %d:\n%s", code, out)
	}
	var shown struct {
		Status string `json:"status"`
		Pairs  []struct {
			Actions []struct {
				Status string `json:"status"`
				Op     string `json:"op"`
				Folder string `json:"folder"`
			} `json:"actions"`
		} `json:"pairs"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("show --json: %v\n%s", err, out)
	}
	copied := map[string]int{}
	for _, p := range shown.Pairs {
		for _, a := range p.Actions {
			if a.Op == "copy" && a.Status == "ok" {
				copied[a.Folder]++
			}
		}
	}
	if shown.Status != "incomplete" || copied["F1"] != 3 || copied["F2"] != 3 || copied["F3"] != 0 {
		t.Fatalf("show HEAD after the kill: status %q, copies done by folder %v; want incomplete, 3 in F1 and F2, none in F3:\n%s", shown.Status, copied, out)
	}

	if code, out := tr.mailtwin("revert", "--force", "HEAD"); code != 0 {
		t.Fatalf("revert of the killed run exited %d:\n%s", code, out)
	}
	// The run created F1 to F3 on b and copied into F1 and F2: the
	// revert removed the copies, and then the folders, empty again.
	c := srv.Dial(t, userB)
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range boxes {
		if strings.HasPrefix(mb.Mailbox, "F") {
			t.Errorf("b still has %s after the revert of the run that created it", mb.Mailbox)
		}
	}
	f.want(userA, "F1", "F1x -", "F1y -", "F1z -")
}

// withCheckpointEveryAction rewrites tr's config for a checkpoint after
// every batch of actions and one connection per account, so that a
// first sync copies its folders one after the other and commits after
// each.
func withCheckpointEveryAction(t *testing.T, tr *sweepTrial) {
	t.Helper()
	cfg, err := os.ReadFile(tr.config)
	if err != nil {
		t.Fatal(err)
	}
	patched := strings.Replace(string(cfg), "state { path = ", "state {\n  checkpoint_actions = 1\n  path = ", 1)
	patched = strings.Replace(patched, "\" }\n", "\"\n}\n", 1)
	patched = strings.ReplaceAll(patched, "tls = \"none\"", "tls = \"none\"\n  connections = 1")
	if err := os.WriteFile(tr.config, []byte(patched), 0o600); err != nil {
		t.Fatal(err)
	}
}

// killedFirstSync starts a first sync of F1, F2 and F3 (three messages
// each, on a) with a checkpoint after every batch, and kills it with
// SIGKILL at its first APPEND into F3: after two whole folders.
func killedFirstSync(t *testing.T) (*sweepTrial, *syncFixture, *imaptest.Recorder) {
	t.Helper()
	tr, rec := newCLITrial(t, imaptest.StartDovecot)
	withCheckpointEveryAction(t, tr)
	f := tr.fixture(t)
	for _, mb := range []string{"F1", "F2", "F3"} {
		for _, id := range []string{"x", "y", "z"} {
			f.put(userA, mb, mb+id)
		}
	}
	killedAt(t, tr, rec, func(e imaptest.Event) bool {
		return e.Stage == imaptest.Received && e.Verb == "APPEND" && mailboxArg(e.Line) == "F3"
	}, "apply")
	return tr, f, rec
}
