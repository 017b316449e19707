package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/reconcile"
)

// configError is a configuration that did not validate; its diagnostics
// were printed.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// loadConfig reads and validates the config, printing diagnostics.
func loadConfig(g *globalOptions) (*hclconfig.Config, error) {
	cfg, diags, files := hclconfig.Load(g.config, hclconfig.Options{LookupEnv: g.lookupEnv})
	if len(diags) > 0 {
		logDiagnostics(g, diags, func(w io.Writer) { hclconfig.WriteDiagnostics(w, diags, files) })
	}
	if diags.HasErrors() {
		n := 0
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				n++
			}
		}
		return nil, &configError{fmt.Sprintf("%s: %d error(s) in the configuration", g.config, n)}
	}
	warnExposedPasswords(g, cfg)
	warnExposedTokens(g, cfg)
	return cfg, nil
}

// warnExposedPasswords warns, once per account, when the config file is
// readable by group or others and holds that account's password written
// out in it (not env(), file() or password_command).
func warnExposedPasswords(g *globalOptions, cfg *hclconfig.Config) {
	fi, err := os.Stat(g.config)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		return
	}
	for _, acc := range cfg.Accounts {
		if acc.PasswordInFile && len(acc.PasswordCommand) == 0 {
			g.log.Warn(fmt.Sprintf("warning: %s is readable by group or others (mode %04o) and holds the password of account %q: run chmod 600 %s, or use password = env(\"...\") or password_command",
				g.config, fi.Mode().Perm(), acc.Name, g.config), fieldAccount, acc.Name)
		}
	}
}

func cmdValidate(ctx context.Context, g *globalOptions) error {
	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "%s: valid: %d account(s), %d pair(s)\n", g.config, len(cfg.Accounts), len(cfg.Pairs))
	return nil
}

// tlsMode is imapstore's name for an account's tls setting.
func tlsMode(t hclconfig.TLSMode) imapstore.Mode {
	switch t {
	case hclconfig.TLSStartTLS:
		return imapstore.StartTLS
	case hclconfig.TLSNone:
		return imapstore.None
	}
	return imapstore.Implicit
}

// loadPairs loads the config and the pairs --pair names (see
// selectPairs).
func loadPairs(g *globalOptions) (*hclconfig.Config, []*hclconfig.Pair, error) {
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, nil, err
	}
	pairs, err := selectPairs(cfg, g.pairs)
	if err != nil {
		return nil, nil, err
	}
	return cfg, pairs, nil
}

// selectPairs returns the pairs --pair names (all when none), in config
// order; an unknown name is a usage error.
func selectPairs(cfg *hclconfig.Config, names []string) ([]*hclconfig.Pair, error) {
	if len(names) == 0 {
		out := make([]*hclconfig.Pair, len(cfg.Pairs))
		for i := range cfg.Pairs {
			out[i] = &cfg.Pairs[i]
		}
		return out, nil
	}
	var out []*hclconfig.Pair
	for _, n := range names {
		p := cfg.Pair(n)
		if p == nil {
			var known []string
			for _, q := range cfg.Pairs {
				known = append(known, q.Name)
			}
			return nil, usageError{fmt.Sprintf("no pair %q in %s (pairs: %s)", n, cfg.Filename, strings.Join(known, ", "))}
		}
		out = append(out, p)
	}
	return out, nil
}

// dialAccount connects to an account, reading its password first (or
// getting its access token, see cmd_auth.go). debug, if not nil,
// receives the protocol trace (-vv), credentials redacted. tweaks adjust
// the options before dialling (watch's OnChange).
func dialAccount(ctx context.Context, acc *hclconfig.Account, readOnly bool, debug io.Writer, tweaks ...func(*imapstore.Options)) (*imapstore.Store, error) {
	pw := acc.Password
	if len(acc.PasswordCommand) > 0 {
		var err error
		pw, err = runPasswordCommand(ctx, acc)
		if err != nil {
			return nil, err
		}
	}
	mode := tlsMode(acc.TLS)
	opts := imapstore.Options{
		Name: acc.Name, Addr: acc.Address(), TLS: mode,
		Username: acc.Username, Password: pw, ReadOnly: readOnly,
		TLSConfig:   acc.TLSConfig(), // nil: the system roots, the host's name
		Timeout:     acc.Timeout,     // zero: imapstore.DefaultTimeout
		DebugWriter: debug,
	}
	authOptions(ctx, acc, &opts)
	for _, f := range tweaks {
		f(&opts)
	}
	st, err := imapstore.Dial(ctx, opts)
	err = authHint(acc, err)
	// A certificate error says what to set in the account; imapstore
	// does not know the configuration's words.
	var ce *imapstore.CertificateError
	if errors.As(err, &ce) {
		switch {
		case ce.Problem == imapstore.CertUntrusted && acc.TLSCAFile == "":
			err = fmt.Errorf("%w; if the server's certificate is self-signed or from a private CA, set tls_ca_file to a PEM file of that certificate or CA", err)
		case ce.Problem == imapstore.CertUntrusted:
			err = fmt.Errorf("%w; no certificate in tls_ca_file %s signed it: is that the CA of this server?", err, acc.TLSCAFile)
		case ce.Problem == imapstore.CertNameMismatch && len(ce.Names) > 0:
			err = fmt.Errorf("%w; set host, or tls_server_name, to a name the certificate is for, such as tls_server_name = %q, if that is the server you meant", err, ce.Names[0])
		case ce.Problem == imapstore.CertNameMismatch:
			err = fmt.Errorf("%w; the certificate names no host: the server needs another certificate", err)
		}
	}
	return st, err
}

// traceWriter writes one account's protocol trace to log a line at a
// time, each line "trace ACCOUNT: LINE" at debug level, so two accounts'
// traces interleave by whole lines. mu is shared by the writers of one
// log.
type traceWriter struct {
	mu      *sync.Mutex
	log     *slog.Logger
	account string
	buf     []byte
}

func (t *traceWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimRight(string(t.buf[:i]), "\r")
		t.buf = t.buf[i+1:]
		t.log.Debug(fmt.Sprintf("trace %s: %s", t.account, line), fieldAccount, t.account)
	}
}

// runPasswordCommand runs password_command and returns the first line of
// its output. Its output is never printed.
func runPasswordCommand(ctx context.Context, acc *hclconfig.Account) (string, error) {
	cmd := exec.CommandContext(ctx, acc.PasswordCommand[0], acc.PasswordCommand[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("account %q: password_command %q: %w", acc.Name, acc.PasswordCommand[0], err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("account %q: password_command %q printed no password", acc.Name, acc.PasswordCommand[0])
	}
	return line, nil
}

// pairReport is one pair's part of plan and apply output; --json prints
// it as documented in the README.
type pairReport struct {
	Pair     string             `json:"pair"`
	Summary  string             `json:"summary"`
	Actions  []reconcile.Action `json:"actions"`
	Failed   int                `json:"failed,omitempty"`
	Error    string             `json:"error,omitempty"`
	Commit   string             `json:"commit,omitempty"`
	Applied  bool               `json:"applied"`
	Guard    bool               `json:"guard,omitempty"`
	Outcomes []outcomeReport    `json:"outcomes,omitempty"`

	journal commitJournal
	// plan and outcomes are the pair's, for the closing total (nil when
	// it failed before planning, or was not applied).
	plan     *reconcile.Plan
	outcomes []reconcile.Outcome
}

type outcomeReport struct {
	Error string `json:"error,omitempty"`
	UID   uint32 `json:"uid,omitempty"`
	// Refused holds the keywords the target refused outright: the copy
	// or the change was made without them (reconcile.Outcome.Refused).
	Refused []string `json:"refused,omitempty"`
}

// cmdSync is plan (planOnly) and apply.
func cmdSync(ctx context.Context, g *globalOptions, planOnly bool) error {
	cfg, pairs, err := loadPairs(g)
	if err != nil {
		return err
	}
	if g.hooks != nil && g.hooks.pairs != nil {
		if pairs, err = g.hooks.pairs(cfg); err != nil {
			return err
		}
	}
	if g.shard != "" {
		i, n, err := parseShard(g.shard)
		if err != nil {
			return err
		}
		pairs = shardOf(pairs, i, n)
		if len(pairs) == 0 {
			fmt.Fprintf(g.stdout, "shard %d/%d has no pairs\n", i, n)
			return nil
		}
	}
	if g.parallel < 1 {
		return usageError{fmt.Sprintf("--parallel %d: want 1 or more pairs at once", g.parallel)}
	}
	_, err = syncRun(ctx, g, cfg, pairs, planOnly)
	return err
}

// syncRun plans (planOnly) or applies pairs once, as plan and apply do,
// and returns the pairs' reports. apply holds the state lock for this
// run only, pulls first and pushes after; watch calls it once per run.
func syncRun(ctx context.Context, g *globalOptions, cfg *hclconfig.Config, pairs []*hclconfig.Pair, planOnly bool) ([]pairReport, error) {
	var repo *gitstate.Repo
	var states reconcile.StateRepo = noState{}
	if _, err := os.Stat(cfg.State.Path); err == nil || !planOnly {
		// plan never creates the state repository: with none yet, it
		// plans a first sync from an empty state.
		repo, err = gitstate.Open(ctx, cfg.State.Path)
		if err != nil {
			return nil, err
		}
		repo.LockMaxAge = cfg.State.LockMaxAge
		states = stateRepo{repo}
	}
	var remote *gitstate.Remote
	if !planOnly {
		unlock, err := repo.Lock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
		// plan reads the local clone only; apply pulls first.
		if remote, err = stateRemote(g, cfg); err != nil {
			return nil, err
		}
		if err := pullState(ctx, g, repo, remote); err != nil {
			return nil, err
		}
	}
	// runCtx is what the pairs' runs, the state's commit and its push go
	// by. apply's first SIGINT or SIGTERM (ctx, in main) stops it as it
	// stops watch: no action starts after it, the actions under way
	// finish, and the state of what was done is committed, so that the
	// next run reads what this one did rather than working it out from
	// the servers (a RENAME whose answer never came, a move half done).
	// A second signal ends the process at once (main). Before this
	// point nothing was changed: the signal cancels the lock's wait and
	// the pull.
	runCtx := ctx
	if !planOnly && g.stop == nil {
		var unwatch func() bool
		g, unwatch = stopOnSignal(ctx, g, "done")
		defer unwatch()
		runCtx = context.WithoutCancel(ctx)
	}
	if g.hooks != nil && g.hooks.ready != nil {
		if err := g.hooks.ready(ctx, cfg, repo); err != nil {
			return nil, err
		}
	}
	var reports []pairReport
	var errs []error
	changes := false
	var subjects []string
	var body strings.Builder
	omitted := 0
	for _, r := range syncPairs(runCtx, g, cfg, repo, states, remote, pairs, planOnly) {
		p, rep, err := r.pair, r.report, r.err
		reports = append(reports, rep)
		if len(rep.Actions) > 0 {
			changes = true
		}
		if err != nil {
			errs = append(errs, err)
		}
		if !planOnly && rep.Applied && len(rep.Actions) > 0 {
			subjects = append(subjects, fmt.Sprintf("%s: %s", p.Name, rep.Summary))
			fmt.Fprintf(&body, "pair %q: %s\n%s\n", p.Name, rep.Summary, rep.journal.head)
			omitted += rep.journal.omitted()
		}
	}
	if !g.json {
		plans := make([]*reconcile.Plan, len(reports))
		outs := make([][]reconcile.Outcome, len(reports))
		for i, r := range reports {
			plans[i], outs[i] = r.plan, r.outcomes
		}
		fmt.Fprint(g.stdout, renderTotal(plans, outs))
	}
	if !planOnly {
		commit, cerr := commitRun(runCtx, repo, subjects, body.String(), omitted)
		if cerr != nil {
			errs = append(errs, cerr)
		} else if commit != "" {
			for i := range reports {
				if reports[i].Applied {
					reports[i].Commit = commit
				}
			}
			if !g.json {
				fmt.Fprintf(g.stdout, "state committed: %s\n", commit)
			}
			if n, err := repo.Packs(); err == nil && n >= gitstate.GCHintPacks {
				g.log.Info(fmt.Sprintf("the state repository holds %d packs: 'mailtwin gc' merges them into one (apply never does: it would take the commit seconds)", n))
			}
		}
		if err := pushState(runCtx, g, repo, remote); err != nil {
			errs = append(errs, err)
		}
	}
	if g.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Pairs []pairReport `json:"pairs"`
		}{reports}); err != nil {
			return nil, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return reports, err
	}
	if g.hooks != nil && g.hooks.done != nil {
		if err := g.hooks.done(ctx); err != nil {
			return reports, err
		}
	}
	if planOnly && changes && g.detailedExitcode {
		return reports, errChanges
	}
	return reports, nil
}

// stopOnSignal returns a copy of g whose stop is closed when ctx is
// done (the first SIGINT or SIGTERM, in main), saying so: the run that
// goes by it finishes the actions under way and commits the state of
// what was done (what names it in the message). unwatch stops watching
// ctx.
func stopOnSignal(ctx context.Context, g *globalOptions, what string) (_ *globalOptions, unwatch func() bool) {
	stop := make(chan struct{})
	unwatch = context.AfterFunc(ctx, func() {
		g.log.Info("stopping: the actions under way finish and the state of what was " + what + " is committed; a second SIGINT or SIGTERM ends at once")
		close(stop)
	})
	sg := *g
	sg.stop = stop
	return &sg, unwatch
}

// pairResult is one pair's part of a run.
type pairResult struct {
	pair   *hclconfig.Pair
	report pairReport
	err    error
}

// syncPairs plans (and applies) pairs, up to g.parallel at once, and
// returns their results in the order of pairs. Each pair's output to
// stdout is printed whole, in that order, as soon as it and the pairs
// before it are done; progress and traces go to stderr as they come.
func syncPairs(ctx context.Context, g *globalOptions, cfg *hclconfig.Config, repo *gitstate.Repo, states reconcile.StateRepo, remote *gitstate.Remote, pairs []*hclconfig.Pair, planOnly bool) []pairResult {
	out := make([]pairResult, len(pairs))
	ls := &lockedStates{inner: states, repo: repo, run: newRunID(), remote: remote}
	if g.parallel <= 1 || len(pairs) == 1 {
		for i, p := range pairs {
			rep, err := syncPair(ctx, g, cfg, ls, p, planOnly)
			out[i] = pairResult{p, rep, err}
		}
		return out
	}
	states = ls
	done := make([]chan struct{}, len(pairs))
	stdout := make([]bytes.Buffer, len(pairs))
	sem := make(chan struct{}, g.parallel)
	for i, p := range pairs {
		done[i] = make(chan struct{})
		go func() {
			defer close(done[i])
			sem <- struct{}{}
			defer func() { <-sem }()
			pg := *g
			pg.stdout = &stdout[i]
			rep, err := syncPair(ctx, &pg, cfg, states, p, planOnly)
			out[i] = pairResult{p, rep, err}
		}()
	}
	for i := range pairs {
		<-done[i]
		g.stdout.Write(stdout[i].Bytes())
	}
	return out
}

// lockedStates lets pairs synced at once load, save and commit their
// states one at a time. repo is nil for a plan made before the state
// repository exists.
type lockedStates struct {
	mu    sync.Mutex
	inner reconcile.StateRepo
	repo  *gitstate.Repo
	// remote, if not nil, receives each checkpoint (best effort).
	remote *gitstate.Remote
	// run identifies this run in the pairs' journals.
	run string
	// saved holds the pairs whose state Save staged last (no checkpoint
	// since): their journal is staged alone (saveRun).
	saved map[string]bool
}

// newRunID returns an id for a run, different for any two runs: the
// time to the nanosecond and the process id.
func newRunID() string {
	return fmt.Sprintf("%s-%d", time.Now().UTC().Format("20060102T150405.000000000Z"), os.Getpid())
}

// saveRun stages a pair's state with its journal (see
// stateRepo.SaveRun), so that the pair's next commit records what it did.
// Where Run's Save staged st already, the journal is staged alone:
// encoding and comparing a state of 100,000 messages again cost an
// acting run 6 to 14 ms, the journal alone 0.3 ms.
func (l *lockedStates) saveRun(ctx context.Context, pair string, st reconcile.State, plan *reconcile.Plan, outcomes []reconcile.Outcome) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	sr, ok := l.inner.(stateRepo)
	if !ok {
		return nil
	}
	journal := reconcile.FormatJournalOf(reconcile.RunJournal{Run: l.run, Status: reconcile.RunComplete, Conflicts: plan.Conflicts}, plan, outcomes)
	if l.saved[pair] {
		delete(l.saved, pair)
		return sr.SaveJournal(ctx, pair, journal)
	}
	return sr.SaveRun(ctx, pair, st, journal)
}

// checkpoint saves a pair's state mid-run and commits it as an
// incomplete run (see reconcile.RunOptions.Checkpoint), with a journal
// of the actions done so far: a run killed after it can still be shown
// and reverted. A failure is reported and the run goes on: the final
// commit will record the run.
func (l *lockedStates) checkpoint(ctx context.Context, g *globalOptions, pair string, cp reconcile.Checkpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.saved, pair)
	var err error
	if sr, ok := l.inner.(stateRepo); ok {
		j := reconcile.RunJournal{Run: l.run, Status: reconcile.RunIncomplete, Conflicts: cp.Plan.Conflicts,
			Note: fmt.Sprintf("checkpoint after %d of %d actions", cp.Done, cp.Total)}
		err = sr.SaveRun(ctx, pair, cp.State, reconcile.FormatJournalOf(j, cp.Plan, cp.Outcomes))
	} else {
		err = l.inner.Save(ctx, pair, cp.State)
	}
	if err == nil {
		_, err = l.repo.Commit(ctx, fmt.Sprintf("sync (incomplete): pair %q: checkpoint after %d of %d actions\n\nRun: incomplete\n", pair, cp.Done, cp.Total))
	}
	if err != nil && !errors.Is(err, gitstate.ErrNothingToCommit) {
		g.log.Warn(fmt.Sprintf("%s: checkpoint after %d of %d actions not committed: %v", pair, cp.Done, cp.Total, err),
			fieldPair, pair, fieldDone, cp.Done, fieldTotal, cp.Total, fieldError, err.Error())
	}
	if err == nil {
		pushCheckpoint(ctx, g, l.repo, l.remote)
	}
}

func (l *lockedStates) Load(ctx context.Context, pair string) (reconcile.State, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inner.Load(ctx, pair)
}

func (l *lockedStates) Save(ctx context.Context, pair string, st reconcile.State) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.inner.Save(ctx, pair, st)
	if err == nil {
		if l.saved == nil {
			l.saved = map[string]bool{}
		}
		l.saved[pair] = true
	} else {
		delete(l.saved, pair)
	}
	return err
}

// parseShard reads --shard's "I/N": shard I of N, I from 0 to N-1 (as a
// Kubernetes Indexed Job numbers its pods, JOB_COMPLETION_INDEX).
func parseShard(s string) (i, n int, err error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, usageError{fmt.Sprintf("--shard %q: want I/N with 0 <= I < N, such as 0/4 (the first of four shards)", s)}
	}
	return i, n, nil
}

// shardOf returns the pairs of shard i of n: those whose name's FNV-1a
// hash is i modulo n. A pair stays in its shard when other pairs are
// added or removed, so two runners never take the same pair as long as
// they agree on n.
func shardOf(pairs []*hclconfig.Pair, i, n int) []*hclconfig.Pair {
	var out []*hclconfig.Pair
	for _, p := range pairs {
		h := fnv.New32a()
		h.Write([]byte(p.Name))
		if int(h.Sum32()%uint32(n)) == i {
			out = append(out, p)
		}
	}
	return out
}

// commitRun commits the staged state of a run with a summary subject and
// the action journal; "" when nothing changed.
func commitRun(ctx context.Context, repo *gitstate.Repo, subjects []string, body string, omitted int) (string, error) {
	subject := "sync: " + strings.Join(subjects, "; ")
	if len(subjects) == 0 {
		subject = "sync: state refreshed"
	}
	if len(subject) > 200 {
		subject = subject[:197] + "..."
	}
	c, err := repo.Commit(ctx, subject+"\n\n"+shortBody(body, maxBodyLines, omitted)+"\nRun: complete\n")
	if errors.Is(err, gitstate.ErrNothingToCommit) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("commit state: %w", err)
	}
	return c.Short, nil
}

// maxBodyLines is how many lines of a run's journal its commit message
// holds, besides each pair's summary line; the journal file holds them
// all (mailtwin show).
const maxBodyLines = 20

// commitJournal is a pair's journal as its run's commit message holds
// it: the first lines of reconcile.Journal, as many as shortBody keeps,
// and how many there are in all. A run of 100,000 actions formatted
// every line to keep 20.
type commitJournal struct {
	head  string
	lines int
}

func newCommitJournal(p *reconcile.Plan, outcomes []reconcile.Outcome) commitJournal {
	head, lines := reconcile.JournalHead(p, outcomes, maxBodyLines)
	return commitJournal{head, lines}
}

// add appends lines (each ending in a newline) to the journal.
func (j *commitJournal) add(lines ...string) {
	for _, l := range lines {
		if j.lines < maxBodyLines {
			j.head += l
		}
		j.lines++
	}
}

// omitted is how many lines of the journal head leaves out.
func (j commitJournal) omitted() int { return j.lines - strings.Count(j.head, "\n") }

// shortBody returns body with every pair's summary line ("pair ...")
// and the first max other lines, and a line saying how many more there
// are and where to read them. omitted counts the lines of the pairs'
// journals left out of body (commitJournal): a pair's journal there is
// cut only where it holds max lines, so what is left out of it comes
// after the max lines kept, and there is a cut.
func shortBody(body string, max, omitted int) string {
	lines := strings.SplitAfter(body, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var b strings.Builder
	kept, dropped := 0, omitted
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "pair "):
			b.WriteString(l)
		case kept < max:
			b.WriteString(l)
			kept++
		default:
			dropped++
		}
	}
	if dropped <= 1 {
		return body
	}
	fmt.Fprintf(&b, "... %d more lines: mailtwin show REV lists every action\n", dropped)
	return b.String()
}

// preloaded is a StateRepo whose Load of one pair was started ahead
// (preload): Load of that pair waits for it and returns what it read.
// Everything else goes to the StateRepo it wraps.
type preloaded struct {
	reconcile.StateRepo
	pair   string
	loaded chan struct{}
	st     reconcile.State
	err    error
}

// preload starts reading pair's state from states and returns the
// StateRepo to read it from.
func preload(ctx context.Context, states reconcile.StateRepo, pair string) *preloaded {
	p := &preloaded{StateRepo: states, pair: pair, loaded: make(chan struct{})}
	go func() {
		defer close(p.loaded)
		p.st, p.err = states.Load(ctx, pair)
	}()
	return p
}

func (p *preloaded) Load(ctx context.Context, pair string) (reconcile.State, error) {
	if pair != p.pair {
		return p.StateRepo.Load(ctx, pair)
	}
	select {
	case <-p.loaded:
		return p.st, p.err
	case <-ctx.Done():
		return reconcile.State{}, ctx.Err()
	}
}

// syncPair plans (and applies) one pair.
func syncPair(ctx context.Context, g *globalOptions, cfg *hclconfig.Config, states reconcile.StateRepo, p *hclconfig.Pair, planOnly bool) (rep pairReport, err error) {
	rep = pairReport{Pair: p.Name, Actions: []reconcile.Action{}}
	defer func() {
		if err != nil {
			rep.Error = err.Error()
		}
	}()
	if stopped(g.stop) {
		// Stopped before this pair began (an apply of several pairs):
		// it is not dialled.
		return rep, fmt.Errorf("pair %q: %w: not begun", p.Name, reconcile.ErrStopped)
	}
	// The state is read while the accounts are dialled: at 100,000
	// messages reading it takes as long as two logins, and a run that
	// finds nothing to do is little else.
	pre := preload(ctx, states, p.Name)
	defer func() {
		// Nothing the pair started outlives it: a pair whose dial
		// failed waits for the read (a cancelled ctx ends it early).
		<-pre.loaded
		// The collector waits for a reserve only within the run
		// that made it (see gcPolicy): a watch whose runs fail
		// before they plan would otherwise add one reserve per run.
		gcPolicyFrom(ctx).settle()
	}()
	var stores [2]*imapstore.Store
	var traceMu sync.Mutex
	// Both accounts are dialled at once, and logged out of at once: a
	// login is a round trip or more, and a run that finds nothing to do
	// is little else.
	var dialErrs [2]error
	var wg sync.WaitGroup
	for i, name := range []string{p.A, p.B} {
		var debug io.Writer
		if g.verbose >= 2 {
			debug = &traceWriter{mu: &traceMu, log: g.log, account: name}
		}
		wg.Go(func() { stores[i], dialErrs[i] = dialAccount(ctx, cfg.Account(name), planOnly, debug) })
	}
	wg.Wait()
	// The accounts are logged out of once Run is done with them
	// (Released), while the state is staged and the plan printed, and
	// at the latest on return.
	var closing sync.WaitGroup
	closeStores := sync.OnceFunc(func() {
		for _, st := range stores {
			if st != nil {
				closing.Go(func() { st.Close() })
			}
		}
	})
	defer func() {
		closeStores()
		closing.Wait()
	}()
	for _, err := range dialErrs {
		if err != nil {
			return rep, fmt.Errorf("pair %q: %w", p.Name, err)
		}
	}
	pol := p.Policy
	pol.Force = pol.Force || g.force
	opts := reconcile.RunOptions{Pair: p.Name, Policy: pol, PlanOnly: planOnly, Stop: g.stop, Released: closeStores}
	if ls, ok := states.(*lockedStates); ok && ls.repo != nil && !planOnly {
		opts.Checkpoint = func(ctx context.Context, cp reconcile.Checkpoint) {
			ls.checkpoint(ctx, g, p.Name, cp)
		}
		opts.CheckpointActions = cmp.Or(cfg.State.CheckpointActions, hclconfig.DefaultCheckpointActions)
		opts.CheckpointInterval = cmp.Or(cfg.State.CheckpointInterval, hclconfig.DefaultCheckpointInterval)
	}
	for i, name := range []string{p.A, p.B} {
		opts.Connections[i] = cmp.Or(cfg.Account(name).Connections, hclconfig.DefaultConnections)
		if g.verbose >= 2 {
			// One connection per account, so that the trace reads as
			// one conversation.
			opts.Connections[i] = 1
		}
	}
	// Bars only for an apply, and where they have the terminal to
	// themselves: not with pairs run at once, nor for JSON log lines.
	bars := !planOnly && g.parallel <= 1 && g.logFormat != logJSON && useBars(g.lookupEnv, isTerminal(g.stderr))
	prog := newProgress(g.log, p.Name, progressOptions{Verbose: g.verbose > 0, Bars: bars, Terminal: g.stderr})
	gc := gcPolicyFrom(ctx)
	opts.Planned = func(plan *reconcile.Plan) {
		// The state, the listings and the plan are built; what the
		// run does now streams.
		gc.settle()
		prog.planned(plan)
	}
	opts.Progress = prog.step
	if g.hooks != nil && g.hooks.options != nil {
		g.hooks.options(p, &opts)
	}
	g.logLines.route(prog.lines())
	res, err := reconcile.Run(ctx, opts, stores[0], stores[1], pre)
	closeStores()
	g.logLines.route(nil)
	prog.finish()
	if g.hooks != nil && g.hooks.result != nil {
		g.hooks.result(p, res, err)
	}
	if res != nil && res.Plan != nil {
		rep.Summary = res.Plan.Summary()
		rep.Actions = res.Plan.Actions
		rep.plan = res.Plan
		if !g.json {
			fmt.Fprint(g.stdout, renderPlan(res.Plan, renderOptions{Color: g.color, Verbose: g.verbose > 0}))
		}
	}
	var ge *reconcile.GuardError
	if errors.As(err, &ge) {
		rep.Guard = true
		return rep, err
	}
	if res != nil && res.Outcomes != nil {
		rep.Applied = true
		rep.Failed = res.Failed
		rep.outcomes = res.Outcomes
		rep.journal = newCommitJournal(res.Plan, res.Outcomes)
		if ls, ok := states.(*lockedStates); ok && ls.repo != nil && len(res.Plan.Actions) > 0 {
			if jerr := ls.saveRun(ctx, p.Name, res.State, res.Plan, res.Outcomes); jerr != nil {
				err = errors.Join(err, fmt.Errorf("pair %q: save journal: %w", p.Name, jerr))
			}
		}
		for _, o := range res.Outcomes {
			or := outcomeReport{UID: o.UID, Refused: o.Refused}
			if o.Err != nil {
				or.Error = o.Err.Error()
			}
			rep.Outcomes = append(rep.Outcomes, or)
		}
		if !g.json {
			fmt.Fprint(g.stdout, renderApplied(res.Plan, res.Outcomes))
		}
		for _, line := range refusedKeywords(p.Name, res.Plan, res.Outcomes) {
			g.log.Warn(line)
		}
	}
	return rep, err
}

// refusedKeywords returns a warning per folder side whose server refused
// keywords outright in this run (reconcile.Outcome.Refused): the copies
// and changes went without them, they stay on the other account, and
// the state remembers not to send them there again.
func refusedKeywords(pair string, p *reconcile.Plan, outcomes []reconcile.Outcome) []string {
	type at struct {
		side    reconcile.Side
		mailbox string
	}
	var order []at
	refused := map[at][]string{}
	messages := map[at]int{}
	for i, o := range outcomes {
		if len(o.Refused) == 0 || i >= len(p.Actions) {
			continue
		}
		a := &p.Actions[i]
		k := at{a.Side, a.Mailbox}
		if _, ok := refused[k]; !ok {
			order = append(order, k)
		}
		refused[k] = append(refused[k], o.Refused...)
		messages[k]++
	}
	var out []string
	for _, k := range order {
		kw := slices.Compact(slices.Sorted(slices.Values(refused[k])))
		out = append(out, fmt.Sprintf("warning: pair %q: %s refused %s %s outright in %q (%s): %s kept on %s only, and not sent to %s again (README, \"Flags synced\")",
			pair, k.side, plural(len(kw), "keyword", "keywords"), strings.Join(kw, " "), k.mailbox,
			plural(messages[k], "1 message", fmt.Sprintf("%d messages", messages[k])), plural(len(kw), "it is", "they are"), k.side.Other(), k.side))
	}
	return out
}
