package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// interruptedApply runs `mailtwin apply` in-process with tr's config and
// cancels its context, as main does on the first SIGINT or SIGTERM, at
// the first event at for which it returns true (the command goes on to
// the server, or its answer to the client). It fails the test unless
// the signal came and the apply exited 1; it returns the output.
func interruptedApply(t *testing.T, tr *sweepTrial, rec *imaptest.Recorder, at func(imaptest.Event) bool) string {
	t.Helper()
	return interrupted(t, tr, rec, at, "apply")
}

// interrupted is interruptedApply for the mailtwin command args.
func interrupted(t *testing.T, tr *sweepTrial, rec *imaptest.Recorder, at func(imaptest.Event) bool, args ...string) string {
	t.Helper()
	ctx, signal := context.WithCancel(context.Background())
	defer signal()
	var signalled atomic.Bool
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if at(e) && signalled.CompareAndSwap(false, true) {
			signal()
		}
		return imaptest.Action{}
	})
	var out strings.Builder
	code := run(ctx, append([]string{"-c", tr.config}, args...), strings.NewReader(""), &out, &out)
	rec.Intercept(nil)
	cmd := strings.Join(args, " ")
	if !signalled.Load() {
		t.Fatalf("mailtwin %s ended (exit %d) before its signal:\n%s", cmd, code, out.String())
	}
	if code != exitFailed {
		t.Fatalf("the interrupted mailtwin %s exited %d, want %d:\n%s", cmd, code, exitFailed, out.String())
	}
	return out.String()
}

// newCLITrial starts a server (start) with accounts a and b behind a
// recorder, and a trial whose config points both at it, with a plain
// pair (both ways, deletions propagated).
func newCLITrial(t *testing.T, start imaptest.StartFunc) (*sweepTrial, *imaptest.Recorder) {
	t.Helper()
	srv := start(t, userA, userB)
	rec := imaptest.Record(t, srv)
	tr := newSweepTrial(t, srv, userA, userB, rec.Addr)
	tr.pairExtra = ""
	tr.writeConfig(t, rec.Addr)
	return tr, rec
}

// wantSettled fails the test unless plan finds nothing to do.
func (tr *sweepTrial) wantSettled(t *testing.T) {
	t.Helper()
	if code, out := tr.mailtwin("plan", "--detailed-exitcode"); code != exitOK {
		t.Errorf("plan exited %d, want 0 (nothing to do):\n%s", code, out)
	}
}

// oneConnection rewrites tr's config for one connection per account, so
// that a run's folders are copied one after the other.
func oneConnection(t *testing.T, tr *sweepTrial) {
	t.Helper()
	cfg, err := os.ReadFile(tr.config)
	if err != nil {
		t.Fatal(err)
	}
	patched := strings.ReplaceAll(string(cfg), "tls = \"none\"", "tls = \"none\"\n  connections = 1")
	if err := os.WriteFile(tr.config, []byte(patched), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestApplyInterruptedCommitsWhatWasDone: the first SIGINT or SIGTERM
// stops an apply as it stops watch: the copy under way finishes, none
// starts after it, the state of what was done is committed, and the
// apply exits 1 saying so. The next run copies the rest, from that
// state. Before, the signal cancelled the run's connections and its
// commit: the next run worked out from the servers what had been done.
func TestApplyInterruptedCommitsWhatWasDone(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		t.Parallel()
		tr, rec := newCLITrial(t, start)
		oneConnection(t, tr)
		f := tr.fixture(t)
		for _, mb := range []string{"F1", "F2", "F3"} {
			for _, id := range []string{"x", "y", "z"} {
				f.put(userA, mb, mb+id)
			}
		}
		// One connection copies the folders one after the other: the
		// signal comes as F2's copy begins, so F1 is done and F3 not
		// begun.
		out := interruptedApply(t, tr, rec, func(e imaptest.Event) bool {
			return e.Stage == imaptest.Received && e.Verb == "APPEND" && mailboxArg(e.Line) == "F2"
		})
		for _, want := range []string{
			"stopping: the actions under way finish and the state of what was done is committed",
			"not run.\n",
			"state committed: ",
			"interrupted: pair \"p\": stopped before the plan was done:",
			"the next run does the rest",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the interrupted apply's output lacks %q:\n%s", want, out)
			}
		}
		f.want(userB, "F1", "F1x -", "F1y -", "F1z -")
		f.want(userB, "F3")
		// The state holds what was done: status (no network) counts F1's
		// messages as agreed on both sides, and F3 as empty.
		code, status := tr.mailtwin("status")
		if code != 0 || !regexp.MustCompile(`(?m)^\s+F1\s+3\s+3\s`).MatchString(status) || !regexp.MustCompile(`(?m)^\s+F3\s+0\s+0\s`).MatchString(status) {
			t.Errorf("status after the interrupted apply (exit %d) does not hold F1 agreed and F3 empty:\n%s", code, status)
		}
		if code, out := tr.mailtwin("apply"); code != 0 {
			t.Fatalf("the apply after it exited %d:\n%s", code, out)
		}
		for _, mb := range []string{"F1", "F2", "F3"} {
			f.want(userB, mb, mb+"x -", mb+"y -", mb+"z -")
		}
		tr.wantSettled(t)
	})
}

// TestApplyInterruptedAsARenameIsAnswered: the story of
// TestSyncRenameWhoseAnswerIsLost, with the apply signalled as b's
// server answers the RENAME: a's user renamed B1 to R, which took B1/C
// along, and moved m1 into R/C; b's user deleted B1/C. The RENAME is
// done on b when the signal comes. Stopped gracefully, the apply takes
// its answer and commits it, so the next run makes R/C again on b and
// moves m1 there, as one run does. Before, the signal cut the
// connection and the commit: the next run read b's R as b's user's own
// rename and R/C as deleted on b after it, and filed m1 away on a.
func TestApplyInterruptedAsARenameIsAnswered(t *testing.T) {
	t.Parallel()
	tr, rec := newCLITrial(t, imaptest.StartDovecot)
	f := tr.fixture(t)
	f.put(userA, "INBOX", "m0")
	f.put(userA, "B1", "m1")
	f.srv.Create(t, userA, "B1/C")
	tr.apply(t)
	f.want(userB, "B1", "m1 -")
	f.want(userB, "B1/C")

	f.userRename(userA, "B1", "R")
	f.userMove(userA, "R", "m1", "R/C")
	f.srv.Delete(t, userB, "B1/C")
	out := interruptedApply(t, tr, rec, func(e imaptest.Event) bool {
		return e.Stage == imaptest.Answered && e.Verb == "RENAME"
	})
	if !strings.Contains(out, "state committed: ") {
		t.Errorf("the interrupted apply committed no state:\n%s", out)
	}
	tr.apply(t)
	for _, user := range []string{userA, userB} {
		f.want(user, "R/C", "m1 -")
		f.want(user, "R")
		f.want(user, "INBOX", "m0 -")
		f.wantNoMailboxOn(user, "B1", "B1/C")
	}
	tr.wantSettled(t)
}

// revertedCopies syncs m0, then has a's user file m1 into F1 and m2 into
// F2 and syncs again, whose run (HEAD) copies them to b: the commit the
// tests below revert. One connection: the revert removes F1's copy,
// then F2's.
func revertedCopies(t *testing.T, start imaptest.StartFunc) (*sweepTrial, *syncFixture, *imaptest.Recorder) {
	t.Helper()
	tr, rec := newCLITrial(t, start)
	oneConnection(t, tr)
	f := tr.fixture(t)
	f.put(userA, "INBOX", "m0")
	f.srv.Create(t, userA, "F1")
	f.srv.Create(t, userA, "F2")
	tr.apply(t)
	f.put(userA, "F1", "m1")
	f.put(userA, "F2", "m2")
	tr.apply(t)
	f.want(userB, "F1", "m1 -")
	f.want(userB, "F2", "m2 -")
	return tr, f, rec
}

// killedAt runs mailtwin with tr's config and args as a subprocess, and
// kills it (SIGKILL, its connection cut) at the first event at accepts.
func killedAt(t *testing.T, tr *sweepTrial, rec *imaptest.Recorder, at func(imaptest.Event) bool, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("mailtwin")
	if err != nil {
		t.Fatalf("the mailtwin command testscript installs is not on PATH: %v", err)
	}
	started := make(chan *os.Process, 1)
	proc := make(chan *os.Process, 1)
	var killed atomic.Bool
	rec.Intercept(func(e imaptest.Event) imaptest.Action {
		if !at(e) || !killed.CompareAndSwap(false, true) {
			return imaptest.Action{}
		}
		p := <-proc
		p.Signal(syscall.SIGKILL)
		return imaptest.Action{Do: imaptest.Cut}
	})
	go func() { proc <- <-started }()
	code, out := runMailtwinArgs(t, bin, started, append([]string{"-c", tr.config}, args...)...)
	rec.Intercept(nil)
	if !killed.Load() || code != -1 {
		t.Fatalf("mailtwin %s was to be killed; it exited %d:\n%s", strings.Join(args, " "), code, out)
	}
}

// killedRevert runs `mailtwin revert --force HEAD` and kills it at the
// first event at accepts (killedAt).
func killedRevert(t *testing.T, tr *sweepTrial, rec *imaptest.Recorder, at func(imaptest.Event) bool) {
	t.Helper()
	killedAt(t, tr, rec, at, "revert", "--force", "HEAD")
}

// syncedAgain applies after a revert of revertedCopies' run, broken on
// the way or not: the run is done once more, m1 and m2 on both sides.
func syncedAgain(t *testing.T, tr *sweepTrial, f *syncFixture) {
	t.Helper()
	tr.apply(t)
	for _, user := range []string{userA, userB} {
		f.want(user, "F1", "m1 -")
		f.want(user, "F2", "m2 -")
	}
	tr.wantSettled(t)
}

// TestRevertKilledAfterItsExpungeLosesNothing: a revert killed (SIGKILL)
// after it removed the reverted run's copy from b, before its commit.
// It committed the state before that run first, so the next apply reads
// a's message as new mail and copies it again (what a revert leaves to
// the next apply, README), and a's original stays. Before, the state
// was still the reverted run's: the next apply read b's copy as deleted
// by b's user and expunged a's original, the message's last copy.
func TestRevertKilledAfterItsExpungeLosesNothing(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		t.Parallel()
		tr, f, rec := revertedCopies(t, start)
		killedRevert(t, tr, rec, func(e imaptest.Event) bool {
			return e.Stage == imaptest.Answered && strings.Contains(e.Verb, "EXPUNGE")
		})
		f.want(userB, "F1")
		syncedAgain(t, tr, f)
	})
}

// TestRevertInterruptedCommitsWhatWasUndone: the first SIGINT or SIGTERM
// during a revert lets the expunge under way finish, starts no other,
// commits the state of what was undone, and exits 1 saying so. The next
// apply copies the removed message again and pairs the one not removed.
func TestRevertInterruptedCommitsWhatWasUndone(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		t.Parallel()
		tr, f, rec := revertedCopies(t, start)
		out := interrupted(t, tr, rec, func(e imaptest.Event) bool {
			return e.Stage == imaptest.Received && strings.Contains(e.Verb, "EXPUNGE")
		}, "revert", "--force", "HEAD")
		for _, want := range []string{"1 not run.\n", "state committed: ", "stopped before the plan was done: 1 of 2 actions done"} {
			if !strings.Contains(out, want) {
				t.Errorf("the interrupted revert's output lacks %q:\n%s", want, out)
			}
		}
		f.want(userB, "F1")
		f.want(userB, "F2", "m2 -")
		syncedAgain(t, tr, f)
	})
}

// TestRevertKilledAfterAnUndo: a run followed a's user on b; its revert
// is killed (SIGKILL) once b's server answered one undo. From the state
// before the run, committed first (reconcile.RevertCheckpoint), the next
// apply reads a's user's change as its own again and does what the run
// did once more, as after a revert that finished: one copy on each side,
// none lost, none doubled, and a's user's change kept on a. Without that
// state, the next apply read the undo as b's user's change and carried
// it to a (each row says what it did).
func TestRevertKilledAfterAnUndo(t *testing.T) {
	t.Parallel()
	answered := func(verb string) func(imaptest.Event) bool {
		return func(e imaptest.Event) bool {
			return e.Stage == imaptest.Answered && strings.Contains(e.Verb, verb)
		}
	}
	for _, c := range []struct {
		name string
		// policy is the pair's extra rules (sweepPolicy: Lists under
		// deletion = "trash").
		policy string
		// before fills a before the first sync; change is a's user's
		// change, which the run follows on b and the revert undoes.
		before, change func(f *syncFixture)
		// killAt is the undo the revert is killed at; undone is b once
		// it is done; want is the accounts users after the next apply.
		killAt func(imaptest.Event) bool
		undone func(f *syncFixture)
		want   func(f *syncFixture, users ...string)
	}{{
		// b's copy moved back from F2 to F1. Without the state before
		// the run, a's user's move was undone on a.
		name: "move",
		before: func(f *syncFixture) {
			f.put(userA, "F1", "m1")
			f.put(userA, "F1", "m2")
			f.srv.Create(f.t, userA, "F2")
		},
		change: func(f *syncFixture) { f.userMove(userA, "F1", "m1", "F2") },
		killAt: answered("MOVE"),
		undone: func(f *syncFixture) { f.want(userB, "F1", "m1 -", "m2 -") },
		want: func(f *syncFixture, users ...string) {
			for _, u := range users {
				f.want(u, "F1", "m2 -")
				f.want(u, "F2", "m1 -")
			}
		},
	}, {
		// b's R renamed back to F1. Without the state before the run,
		// a's user's rename was undone on a.
		name:   "rename",
		before: func(f *syncFixture) { f.put(userA, "F1", "m1") },
		change: func(f *syncFixture) { f.userRename(userA, "F1", "R") },
		killAt: answered("RENAME"),
		undone: func(f *syncFixture) { f.want(userB, "F1", "m1 -") },
		want: func(f *syncFixture, users ...string) {
			for _, u := range users {
				f.want(u, "R", "m1 -")
				f.wantNoMailboxOn(u, "F1")
			}
		},
	}, {
		// The run made N on b and copied m1; the revert expunged the
		// copy and deleted N. Without the state before the run, the
		// next apply deleted a's N, m1 with it.
		name:   "folder-creation",
		before: func(f *syncFixture) { f.put(userA, "INBOX", "m0") },
		change: func(f *syncFixture) { f.put(userA, "N", "m1") },
		killAt: answered("DELETE"),
		undone: func(f *syncFixture) { f.wantNoMailboxOn(userB, "N") },
		want: func(f *syncFixture, users ...string) {
			for _, u := range users {
				f.want(u, "N", "m1 -")
				f.want(u, "INBOX", "m0 -")
			}
		},
	}, {
		// a's user expunged l2 and the run moved b's copy to b's trash;
		// the revert moved it back to Lists. The state before the run
		// has it at UnknownUID: found there as the record's own, a's
		// deletion is followed again. At its old UID, the copy back
		// under a new one read as b's user's undo of the deletion,
		// which beats it: l2 was copied back to a.
		name:   "trash-move",
		policy: sweepPolicy,
		before: func(f *syncFixture) { f.put(userA, "Lists", "l1"); f.put(userA, "Lists", "l2") },
		change: func(f *syncFixture) { f.expunge(userA, "Lists", "l2") },
		killAt: answered("MOVE"),
		undone: func(f *syncFixture) { f.want(userB, "Lists", "l1 -", "l2 -") },
		want: func(f *syncFixture, users ...string) {
			for _, u := range users {
				f.want(u, "Lists", "l1 -")
			}
			f.want(userB, "Trash", "l2 -")
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
				t.Parallel()
				tr, rec := newCLITrial(t, start)
				if c.policy != "" {
					tr.pairExtra = c.policy
					tr.writeConfig(t, rec.Addr)
				}
				f := tr.fixture(t)
				c.before(f)
				tr.apply(t)
				c.change(f)
				tr.apply(t)
				c.want(f, userB)
				killedRevert(t, tr, rec, c.killAt)
				c.undone(f)
				tr.apply(t)
				c.want(f, userA, userB)
				tr.wantSettled(t)
			})
		})
	}
}
