package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/reconcile"
)

// showReport is show's output; --json prints it as the README documents.
type showReport struct {
	Commit  string `json:"commit"`
	Short   string `json:"short"`
	Time    string `json:"time"`
	Subject string `json:"subject"`
	// Status is "complete", or "incomplete" for a checkpoint of a run
	// that was still going.
	Status string       `json:"status"`
	Pairs  []showedPair `json:"pairs"`
}

type showedPair struct {
	Pair string `json:"pair"`
	// Acted is whether the pair's journal changed in this commit.
	Acted     bool                     `json:"acted"`
	Run       string                   `json:"run,omitempty"`
	Status    string                   `json:"status,omitempty"`
	Note      string                   `json:"note,omitempty"`
	Actions   []reconcile.JournalEntry `json:"actions"`
	Conflicts []string                 `json:"conflicts"`

	// noJournal: the commit has no journal of the pair (one made before
	// mailtwin kept them, or the pair was never synced).
	noJournal bool
}

// commitStatus reads the run status a commit message ends with.
func commitStatus(msg string) string {
	if strings.Contains(msg, "\nRun: incomplete") {
		return reconcile.RunIncomplete
	}
	return reconcile.RunComplete
}

// isRollback reports whether c is a commit of mailtwin rollback: its
// tree, journals included, is an earlier commit's, and no mailbox was
// touched.
func isRollback(c gitstate.Commit) bool {
	return strings.HasPrefix(c.Subject, "rollback to ")
}

// parentOf returns the full hash of c's first parent, "" for a root
// commit.
func parentOf(ctx context.Context, repo *gitstate.Repo, c gitstate.Commit) (string, error) {
	p, err := repo.Resolve(ctx, c.Hash+"^")
	if errors.Is(err, gitstate.ErrUnknownRevision) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return p.Hash, nil
}

// pairJournal returns the journal pair has at commit, and whether it
// changed there from commit's parent (the pair acted in it).
func pairJournal(ctx context.Context, repo *gitstate.Repo, commit, parent, pair string) (reconcile.RunJournal, bool, error) {
	jb, err := readJournal(ctx, repo, commit, pair)
	if err != nil || jb == nil {
		return reconcile.RunJournal{}, false, err
	}
	if parent != "" {
		pb, err := readJournal(ctx, repo, parent, pair)
		if err != nil {
			return reconcile.RunJournal{}, false, err
		}
		if bytes.Equal(jb, pb) {
			return reconcile.RunJournal{}, false, nil
		}
	}
	j, err := reconcile.ParseJournal(pair+"/"+reconcile.JournalFile, jb)
	if err != nil {
		return j, false, fmt.Errorf("journal at %.7s: %w", commit, err)
	}
	return j, true, nil
}

// laterInRun reports whether a commit after commit (up to HEAD) holds
// a different journal of the same run as j for pair: commit is then not
// the last of its run for the pair, and that later commit lists j's
// actions and more.
func laterInRun(ctx context.Context, repo *gitstate.Repo, commit, pair string, j reconcile.RunJournal) (bool, error) {
	at, err := readJournal(ctx, repo, commit, pair)
	if err != nil {
		return false, err
	}
	log, err := repo.Log(ctx, 0)
	if err != nil {
		return false, err
	}
	for _, c := range log {
		if c.Hash == commit {
			break
		}
		jb, err := readJournal(ctx, repo, c.Hash, pair)
		if err != nil {
			return false, err
		}
		if jb == nil || bytes.Equal(jb, at) {
			continue
		}
		cj, err := reconcile.ParseJournal(pair+"/"+reconcile.JournalFile, jb)
		if err != nil {
			return false, fmt.Errorf("journal at %s: %w", c.Short, err)
		}
		if cj.Run == j.Run {
			return true, nil
		}
	}
	return false, nil
}

// cmdShow prints what the run recorded in rev did, per pair and folder.
// It makes no network connection.
func cmdShow(ctx context.Context, g *globalOptions, rev string) error {
	cfg, repo, err := openState(ctx, g)
	if err != nil {
		return err
	}
	pairs, err := selectPairs(cfg, g.pairs)
	if err != nil {
		return err
	}
	c, err := repo.Resolve(ctx, rev)
	if err != nil {
		return err
	}
	parent, err := parentOf(ctx, repo, c)
	if err != nil {
		return err
	}
	rep := showReport{Commit: c.Hash, Short: c.Short, Time: c.Time.Format(time.RFC3339), Subject: c.Subject, Status: commitStatus(c.Message), Pairs: []showedPair{}}
	for _, p := range pairs {
		j, acted, err := pairJournal(ctx, repo, c.Hash, parent, p.Name)
		if err != nil {
			return err
		}
		if isRollback(c) {
			// The journal restored with the state is the old run's.
			acted = false
		}
		sp := showedPair{Pair: p.Name, Acted: acted, Actions: []reconcile.JournalEntry{}, Conflicts: []string{}}
		if !acted {
			jb, err := readJournal(ctx, repo, c.Hash, p.Name)
			if err != nil {
				return err
			}
			sp.noJournal = jb == nil
		}
		if acted {
			sp.Run, sp.Status, sp.Note = j.Run, j.Status, j.Note
			if j.Entries != nil {
				sp.Actions = j.Entries
			}
			if j.Conflicts != nil {
				sp.Conflicts = j.Conflicts
			}
		}
		rep.Pairs = append(rep.Pairs, sp)
	}
	if g.json {
		return writeJSON(g.stdout, rep)
	}
	w := g.stdout
	fmt.Fprintf(w, "commit %s  %s  %s\n    %s\n", rep.Short, c.Time.Format("2006-01-02 15:04:05 -0700"), rep.Status, rep.Subject)
	if isRollback(c) {
		fmt.Fprintln(w, "\na rollback: the agreed state was restored, no mailbox was touched")
		return nil
	}
	for _, sp := range rep.Pairs {
		if sp.noJournal {
			fmt.Fprintf(w, "\npair %q: no journal in this commit (a run made before mailtwin kept journals lists its actions in its commit message: mailtwin log -v)\n", sp.Pair)
			continue
		}
		if !sp.Acted {
			fmt.Fprintf(w, "\npair %q: no actions in this commit\n", sp.Pair)
			continue
		}
		failed := 0
		for _, e := range sp.Actions {
			if e.Status != reconcile.StatusOK {
				failed++
			}
		}
		fmt.Fprintf(w, "\npair %q: run %s, %s: %d action(s), %d not done\n", sp.Pair, sp.Run, sp.Status, len(sp.Actions), failed)
		if sp.Note != "" {
			fmt.Fprintf(w, "  %s\n", sp.Note)
		}
		byFolder := slices.Clone(sp.Actions)
		slices.SortStableFunc(byFolder, func(x, y reconcile.JournalEntry) int { return strings.Compare(x.Folder, y.Folder) })
		for i, e := range byFolder {
			if i == 0 || e.Folder != byFolder[i-1].Folder {
				fmt.Fprintf(w, "  folder %q\n", e.Folder)
			}
			fmt.Fprintf(w, "    %s\n", reconcile.EntryLine(&e))
		}
		for _, cf := range sp.Conflicts {
			fmt.Fprintf(w, "  ! %s\n", cf)
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// diffReport is diff's output; --json prints it as the README documents.
type diffReport struct {
	From  string       `json:"from"`
	To    string       `json:"to"`
	Pairs []diffedPair `json:"pairs"`
}

type diffedPair struct {
	Pair    string                 `json:"pair"`
	Folders []reconcile.FolderDiff `json:"folders"`
}

// cmdDiff prints how the agreed state differs between rev1 and rev2,
// per pair and folder. It makes no network connection.
func cmdDiff(ctx context.Context, g *globalOptions, rev1, rev2 string) error {
	cfg, repo, err := openState(ctx, g)
	if err != nil {
		return err
	}
	pairs, err := selectPairs(cfg, g.pairs)
	if err != nil {
		return err
	}
	var cs [2]gitstate.Commit
	for i, rev := range []string{rev1, rev2} {
		if cs[i], err = repo.Resolve(ctx, rev); err != nil {
			return err
		}
	}
	rep := diffReport{From: cs[0].Hash, To: cs[1].Hash, Pairs: []diffedPair{}}
	for _, p := range pairs {
		var sts [2]reconcile.State
		for i, c := range cs {
			files, err := repo.FilesAt(ctx, c.Hash, p.Name)
			if err != nil {
				return err
			}
			if sts[i], err = reconcile.DecodeState(p.Name, files); err != nil {
				return fmt.Errorf("state at %s: %w", c.Short, err)
			}
		}
		d := reconcile.DiffStates(sts[0], sts[1])
		if d == nil {
			d = []reconcile.FolderDiff{}
		}
		rep.Pairs = append(rep.Pairs, diffedPair{Pair: p.Name, Folders: d})
	}
	if g.json {
		return writeJSON(g.stdout, rep)
	}
	fmt.Fprintf(g.stdout, "diff %s..%s\n", cs[0].Short, cs[1].Short)
	for _, dp := range rep.Pairs {
		if len(dp.Folders) == 0 {
			fmt.Fprintf(g.stdout, "pair %q: no differences\n", dp.Pair)
			continue
		}
		fmt.Fprintf(g.stdout, "pair %q:\n", dp.Pair)
		for _, f := range dp.Folders {
			what := ""
			switch f.Change {
			case "renamed":
				what = fmt.Sprintf(" (renamed from %q)", f.RenamedFrom)
			case "added", "removed":
				what = " (folder " + f.Change + ")"
			}
			fmt.Fprintf(g.stdout, "  %q%s: %d added, %d removed, %d flags changed\n", f.Folder, what, f.Added, f.Removed, f.FlagsChanged)
		}
	}
	return nil
}

// revertReport is one pair's part of revert's output; --json prints it
// as the README documents.
type revertReport struct {
	Pair    string             `json:"pair"`
	Summary string             `json:"summary"`
	Actions []reconcile.Action `json:"actions"`
	// Impossible lists what cannot be undone, and why.
	Impossible []string        `json:"impossible"`
	Applied    bool            `json:"applied"`
	Failed     int             `json:"failed,omitempty"`
	Outcomes   []outcomeReport `json:"outcomes,omitempty"`
	Guard      bool            `json:"guard,omitempty"`
	Error      string          `json:"error,omitempty"`
	Commit     string          `json:"commit,omitempty"`

	// staged: the pair's new state is staged and must be committed,
	// even if some actions failed, as the mailboxes changed.
	staged  bool
	journal commitJournal
}

// cmdRevert plans the inverse of the run recorded in rev, for each pair
// that acted in it, checked against the live mailboxes; prints it; and,
// unless dryRun, carries it out and commits the state as it was before
// that run, the UIDs of the messages moved back updated.
func cmdRevert(ctx context.Context, g *globalOptions, rev string, dryRun bool) error {
	cfg, repo, err := openState(ctx, g)
	if err != nil {
		return err
	}
	pairs, err := selectPairs(cfg, g.pairs)
	if err != nil {
		return err
	}
	if !dryRun {
		unlock, err := repo.Lock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		// The first SIGINT or SIGTERM (ctx, in main) stops a revert as it
		// stops apply: a pair not begun is left alone, and one under way
		// finishes the actions in flight and commits (revertPair).
		var unwatch func() bool
		g, unwatch = stopOnSignal(ctx, g, "undone")
		defer unwatch()
	}
	c, err := repo.Resolve(ctx, rev)
	if err != nil {
		return err
	}
	parent, err := parentOf(ctx, repo, c)
	if err != nil {
		return err
	}
	if isRollback(c) {
		return usageError{fmt.Sprintf("%s is a rollback, which touched no mailbox: to undo it, roll back to its parent (mailtwin rollback %s^)", c.Short, c.Short)}
	}
	out := g.stdout
	if g.json {
		jg := *g
		jg.stdout = io.Discard
		g = &jg
	}
	if head, err := repo.Resolve(ctx, "HEAD"); err == nil && head.Hash != c.Hash {
		fmt.Fprintf(g.stdout, "note: %s is not the last commit: the state goes back to before it, and the next apply pairs what later runs agreed on by identity\n", c.Short)
	}
	var subjects []string
	var body strings.Builder
	omitted := 0
	var errs []error
	reports := []revertReport{}
	acted := false
	for _, p := range pairs {
		if stopped(g.stop) {
			errs = append(errs, fmt.Errorf("pair %q: revert: %w: not begun", p.Name, reconcile.ErrStopped))
			continue
		}
		j, ok, err := pairJournal(ctx, repo, c.Hash, parent, p.Name)
		if err != nil {
			// The pairs reverted before it are still committed below.
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		acted = true
		rep := revertReport{Pair: p.Name, Actions: []reconcile.Action{}, Impossible: []string{}}
		later := false
		if j.Status != reconcile.RunComplete {
			// A checkpoint is reverted only where it is the last commit
			// of its run for the pair: a run killed after it. Else the
			// run's later commit lists these actions and more.
			later, err = laterInRun(ctx, repo, c.Hash, p.Name, j)
		}
		switch {
		case err != nil:
		case later:
			err = usageError{fmt.Sprintf("pair %q: %s is a checkpoint of run %s, whose later commit lists these actions and the rest: revert that one (see mailtwin log)", p.Name, c.Short, j.Run)}
		default:
			err = revertPair(ctx, g, cfg, repo, p, c, parent, j, dryRun, &rep)
		}
		if err != nil {
			errs = append(errs, err)
			rep.Error = err.Error()
		}
		if rep.staged {
			subjects = append(subjects, fmt.Sprintf("%s: %s", p.Name, rep.Summary))
			fmt.Fprintf(&body, "pair %q: %s\n%s\n", p.Name, rep.Summary, rep.journal.head)
			omitted += rep.journal.omitted()
		}
		reports = append(reports, rep)
	}
	if !acted {
		fmt.Fprintf(g.stdout, "%s: no pair acted in this commit; nothing to revert\n", c.Short)
	}
	if len(subjects) > 0 {
		subject := fmt.Sprintf("revert %s: %s", c.Short, strings.Join(subjects, "; "))
		if len(subject) > 200 {
			subject = subject[:197] + "..."
		}
		// What was undone is committed, signalled or not.
		nc, err := repo.Commit(context.WithoutCancel(ctx), subject+"\n\n"+shortBody(body.String(), maxBodyLines, omitted)+"\nRun: complete\n")
		switch {
		case err == nil:
			fmt.Fprintf(g.stdout, "state committed: %s\n", nc.Short)
			for i := range reports {
				if reports[i].staged {
					reports[i].Commit = nc.Short
				}
			}
		case !errors.Is(err, gitstate.ErrNothingToCommit):
			errs = append(errs, fmt.Errorf("commit revert: %w", err))
		}
	}
	if g.json {
		if err := writeJSON(out, struct {
			Commit string         `json:"commit"`
			Pairs  []revertReport `json:"pairs"`
		}{c.Hash, reports}); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// revertPair reverts one pair's part of commit c, filling rep: the plan,
// what cannot be undone, the outcomes, and the journal as text for the
// commit message.
func revertPair(ctx context.Context, g *globalOptions, cfg *hclconfig.Config, repo *gitstate.Repo, p *hclconfig.Pair, c gitstate.Commit, parent string, j reconcile.RunJournal, dryRun bool, rep *revertReport) error {
	base, err := stateBeforeRun(ctx, repo, parent, p.Name, j.Run)
	if err != nil {
		return err
	}
	sr := stateRepo{repo}
	head, err := sr.Load(ctx, p.Name)
	if err != nil {
		return err
	}
	var stores [2]reconcile.Mailstore
	for i, name := range []string{p.A, p.B} {
		st, err := dialAccount(ctx, cfg.Account(name), dryRun, nil)
		if err != nil {
			return fmt.Errorf("pair %q: %w", p.Name, err)
		}
		defer st.Close()
		stores[i] = st
	}
	var live [2]reconcile.LiveSide
	want := reconcile.RevertMailboxes(j)
	for s := range 2 {
		if live[s], err = liveSide(ctx, stores[s], want[s], j, reconcile.Side(s)); err != nil {
			return fmt.Errorf("pair %q: %w", p.Name, err)
		}
	}
	pol := p.Policy
	pol.Force = pol.Force || g.force
	rp, err := reconcile.BuildRevert(p.Name, j, live, head, pol)
	if rp != nil {
		rep.Summary, rep.Actions = rp.Plan.Summary(), rp.Plan.Actions
		if rp.Impossible != nil {
			rep.Impossible = rp.Impossible
		}
		fmt.Fprintf(g.stdout, "revert %s: %s", c.Short, renderPlan(rp.Plan, renderOptions{Color: g.color, Verbose: g.verbose > 0}))
		for _, l := range rp.Impossible {
			fmt.Fprintf(g.stdout, "  ! %s\n", l)
		}
	}
	var ge *reconcile.GuardError
	rep.Guard = errors.As(err, &ge)
	if err != nil || dryRun {
		return err
	}
	if rp.Plan.Empty() {
		// Nothing the mailboxes allow to undo: the state stays as it is,
		// agreeing with them.
		fmt.Fprintf(g.stdout, "pair %q: nothing to undo\n", p.Name)
		return nil
	}
	if stopped(g.stop) {
		return fmt.Errorf("pair %q: revert: %w: none of %d actions run", p.Name, reconcile.ErrStopped, len(rp.Plan.Actions))
	}
	// From here on the revert changes mail: a first SIGINT or SIGTERM
	// lets the actions under way finish and the state be committed
	// (g.stop), as apply does.
	ctx = context.WithoutCancel(ctx)
	run := newRunID()
	// The state before REV is committed before anything is undone, as
	// the revert's checkpoint (reconcile.RevertCheckpoint): a revert
	// killed on the way, or whose final commit fails, then leaves a
	// state the next apply reads right, not REV's over mailboxes partly
	// reverted, where a copy the revert had removed read as its user's
	// deletion and the original was expunged.
	pj := reconcile.RunJournal{Run: run, Status: reconcile.RunIncomplete, Note: "revert " + c.Short + ": the state before it, committed before the undo"}
	if err := sr.SaveRun(ctx, p.Name, reconcile.RevertCheckpoint(base, j, rp), reconcile.FormatJournalOf(pj, rp.Plan, nil)); err != nil {
		return fmt.Errorf("pair %q: revert: stage the state before %s: %w (nothing was undone)", p.Name, c.Short, err)
	}
	if _, err := repo.Commit(ctx, fmt.Sprintf("revert %s (incomplete): pair %q: the state before it, committed before its %d actions run\n\nRun: incomplete\n", c.Short, p.Name, len(rp.Plan.Actions))); err != nil && !errors.Is(err, gitstate.ErrNothingToCommit) {
		return fmt.Errorf("pair %q: revert: commit the state before %s: %w (nothing was undone)", p.Name, c.Short, err)
	}
	outs := reconcile.ExecuteUntil(ctx, rp.Plan, stores, nil, g.stop)
	rep.Applied = true
	notRun := 0
	for _, o := range outs {
		or := outcomeReport{UID: o.UID}
		switch {
		case o.Err == reconcile.ErrNotRun:
			notRun++ // stopped before it began
			or.Error = o.Err.Error()
		case o.Err != nil:
			rep.Failed++
			or.Error = o.Err.Error()
		}
		rep.Outcomes = append(rep.Outcomes, or)
	}
	fmt.Fprint(g.stdout, renderApplied(rp.Plan, outs))
	st := reconcile.RevertState(base, j, rp, outs)
	rj := reconcile.RunJournal{Run: run, Status: reconcile.RunComplete, Note: "revert " + c.Short, Conflicts: rp.Impossible}
	if err := sr.SaveRun(ctx, p.Name, st, reconcile.FormatJournalOf(rj, rp.Plan, outs)); err != nil {
		return err
	}
	rep.staged = true
	rep.journal = newCommitJournal(rp.Plan, outs)
	for _, l := range rp.Impossible {
		rep.journal.add("conflict " + l + "\n")
	}
	if rep.Failed > 0 {
		return fmt.Errorf("pair %q: revert: %w: %d of %d (the state committed records what was undone)", p.Name, reconcile.ErrActionsFailed, rep.Failed, len(outs))
	}
	if notRun > 0 {
		return fmt.Errorf("pair %q: revert: %w: %d of %d actions done (the state committed records what was undone; the next apply pairs the rest by identity)", p.Name, reconcile.ErrStopped, len(outs)-notRun, len(outs))
	}
	return nil
}

// stateBeforeRun returns pair's state as of the newest commit, from rev
// (the parent of the reverted commit) back, whose journal is not of run:
// the state before the run's first checkpoint. An empty rev, or a
// history that begins with the run, gives the empty state.
func stateBeforeRun(ctx context.Context, repo *gitstate.Repo, rev, pair, run string) (reconcile.State, error) {
	for rev != "" {
		jb, err := readJournal(ctx, repo, rev, pair)
		if err != nil {
			return reconcile.State{}, err
		}
		j, perr := reconcile.ParseJournal("", jb)
		if jb == nil || perr != nil || j.Run != run {
			files, err := repo.FilesAt(ctx, rev, pair)
			if err != nil {
				return reconcile.State{}, err
			}
			return reconcile.DecodeState(pair, files)
		}
		c, err := repo.Resolve(ctx, rev)
		if err != nil {
			return reconcile.State{}, err
		}
		if rev, err = parentOf(ctx, repo, c); err != nil {
			return reconcile.State{}, err
		}
	}
	return reconcile.State{}, nil
}

// liveSide lists st and scans the mailboxes of want that exist, and
// finds the side's trash: the mailbox the journal trashed messages to,
// else the one with the \Trash role, else one named Trash.
func liveSide(ctx context.Context, st reconcile.Mailstore, want []string, j reconcile.RunJournal, s reconcile.Side) (reconcile.LiveSide, error) {
	live := reconcile.LiveSide{Mailboxes: map[string]map[reconcile.UID]reconcile.Identity{}}
	l, err := st.List(ctx)
	if err != nil {
		return live, fmt.Errorf("list folders on %s (%s): %w", s, st.Name(), err)
	}
	live.Delim = l.Delim
	for _, e := range j.Entries {
		if e.Side == s && e.Op == reconcile.Move && e.Reason == reconcile.ReasonTrash {
			live.Trash = e.Dest
		}
	}
	for _, f := range l.Folders {
		if live.Trash == "" && f.Role == reconcile.RoleTrash {
			live.Trash = f.Mailbox
		}
	}
	for _, f := range l.Folders {
		last := f.Mailbox
		if l.Delim != 0 {
			last = last[strings.LastIndexByte(last, byte(l.Delim))+1:]
		}
		if live.Trash == "" && strings.EqualFold(last, "Trash") {
			live.Trash = f.Mailbox
		}
	}
	for i := range l.Folders {
		f := &l.Folders[i]
		if !slices.Contains(want, f.Mailbox) && f.Mailbox != live.Trash {
			continue
		}
		if err := st.Scan(ctx, f); err != nil {
			return live, fmt.Errorf("scan %q on %s (%s): %w", f.Mailbox, s, st.Name(), err)
		}
		msgs := make(map[reconcile.UID]reconcile.Identity, len(f.Messages))
		for _, m := range f.Messages {
			msgs[m.UID] = m.ID
		}
		live.Mailboxes[f.Mailbox] = msgs
	}
	return live, nil
}
