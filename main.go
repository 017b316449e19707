// Command mailtwin keeps pairs of IMAP accounts in step, both ways, and
// remembers what it agreed on in a Git repository.
//
// Output rules: results go to stdout; diagnostics, progress and errors go
// to stderr with a "mailtwin: " prefix, lower-case, no trailing period.
// Exit codes: 0 done; 1 failed, safe to retry; 2 plan
// --detailed-exitcode found changes; 3 stopped by a safety guard;
// 4 bad configuration or usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/reconcile"
)

// Exit codes, as DESIGN.md and the README document them.
const (
	exitOK      = 0
	exitFailed  = 1
	exitChanges = 2
	exitGuard   = 3
	exitUsage   = 4
)

// version is the mailtwin version; set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	gc := startGC(gcPercent)
	ctx, cancel := context.WithCancel(withGCPolicy(context.Background(), gc))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first SIGINT or SIGTERM asks for a graceful stop. The
		// signals' default action is back before anything sees it, so
		// a second one ends the process at once, as it would without
		// mailtwin: nobody has to reach for kill -9.
		<-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		cancel()
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// globalOptions are the flags every subcommand accepts.
type globalOptions struct {
	config           string
	pairs            []string
	json             bool
	detailedExitcode bool
	force            bool
	verbose          int
	out              string
	shard            string
	parallel         int
	dryRun           bool
	// init holds init's flags.
	init      initOptions
	logFormat string
	interval  time.Duration

	stdin          io.Reader
	stdout, stderr io.Writer
	// log receives every diagnostic line (see logging.go); stderr is
	// for usage text and text-format configuration diagnostics only.
	log *slog.Logger
	// logLines is what log writes to: stderr, or the progress bars
	// while they are drawn (nil: always stderr).
	logLines *stderrLines
	// color: plan and apply output may use colour (see useColor).
	color bool
	// stop, when closed, stops an apply gracefully (reconcile.RunOptions.Stop);
	// watch closes it on SIGINT or SIGTERM. Nil for the other commands.
	stop <-chan struct{}
	// lookupEnv is how the config's env() reads the environment.
	lookupEnv func(string) (string, bool)
	// hooks, when set, let plan --out and apply FILE steer the run
	// (cmd_planfile.go).
	hooks *runHooks
}

const usage = `mailtwin keeps two IMAP accounts in step, both ways, with its memory in Git.

usage: mailtwin [flags] COMMAND [args]

commands:
  init                 write a starting config from two live accounts: --a URL --b URL
  validate             check the config file and print its diagnostics
  folders              per pair, how the folders of both accounts line up (read-only)
  plan [--out FILE]    connect, compute and print what apply would do (read-only);
                       --out also saves the plan to FILE for apply FILE
  apply [FILE]         plan, check the safety guards, execute, commit the state;
                       with FILE, carry out that saved plan exactly, or refuse
                       it (exit 1, "stale plan: ...") if anything it touches changed
  status               per pair and folder: messages agreed, last run (no network)
  log                  the runs recorded in the state repository
  rollback REV         new commit restoring the agreed state as of REV
  show REV|FILE        what the run recorded in REV did, per pair and folder (no
                       network); or the saved plan in FILE. An existing file that
                       starts like a plan file wins over a revision of that name
  diff REV1 [REV2]     how the agreed state differs between REV1 and REV2 (default HEAD)
  revert REV           plan and apply the inverse of the run in REV on the mailboxes
  watch                stay up: apply a pair when IDLE reports a change, all pairs every --interval
  gc                   pack the state repository's history into one pack
  demo                 two in-memory IMAP servers, seeded, synced, shown
  version              print the version

flags:
`

// usageError is bad usage: exit 4 with a hint.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}
	ctx = withTokenCache(ctx) // each account's access token, fetched once (cmd_auth.go)
	fs := pflag.NewFlagSet("mailtwin", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVarP(&g.config, "config", "c", "mailtwin.hcl", "config file")
	fs.StringSliceVar(&g.pairs, "pair", nil, "only these pairs (repeatable)")
	fs.BoolVar(&g.json, "json", false, "machine-readable output (plan, apply, show, diff, revert)")
	fs.BoolVar(&g.detailedExitcode, "detailed-exitcode", false, "plan: exit 2 when there are changes")
	fs.BoolVar(&g.force, "force", false, "apply or revert even when a safety guard trips")
	fs.StringVar(&g.shard, "shard", "", "plan/apply only shard I/N of the pairs (I from 0 to N-1), chosen by a hash of the pair's name")
	fs.IntVar(&g.parallel, "parallel", 1, "plan/apply up to N pairs at once")
	fs.CountVarP(&g.verbose, "verbose", "v", "print each action as it runs; -vv also the IMAP protocol, passwords redacted")
	fs.BoolVar(&g.dryRun, "dry-run", false, "revert: print the inverse plan only")
	fs.StringVar(&g.out, "out", "", "plan: save the plan to FILE, for apply FILE (mode 0600); init: the config file to write (default: -c's file, mailtwin.hcl)")
	fs.StringVar(&g.init.a, "a", "", "init: account a, imaps://user@host[:port] (TLS), imap://... (STARTTLS) or imap+plain://... (no TLS, loopback only); password from "+envPasswordA)
	fs.StringVar(&g.init.b, "b", "", "init: account b, as --a; password from "+envPasswordB)
	fs.StringVar(&g.init.providerA, "provider-a", "", "init: write provider = P into account a")
	fs.StringVar(&g.init.providerB, "provider-b", "", "init: write provider = P into account b")
	fs.StringVar(&g.init.tlsCAFile, "tls-ca-file", "", "init: PEM file of the certificates both accounts trust instead of the system roots")
	fs.StringVar(&g.logFormat, "log-format", logText, "stderr's diagnostics as text lines or as json objects, one per line")
	fs.DurationVar(&g.interval, "interval", defaultWatchInterval, "watch: run a full apply of every pair this often, besides the runs IDLE triggers")
	fs.SetInterspersed(true)
	perr := fs.Parse(args)
	g.logLines = &stderrLines{w: stderr}
	log, lerr := newLogger(g.logLines, g.logFormat)
	if lerr != nil {
		log, _ = newLogger(g.logLines, logText)
		if perr == nil {
			perr = lerr
		}
	}
	g.log = log
	g.color = useColor(g.lookupEnv, isTerminal(stdout))
	if perr != nil {
		if errors.Is(perr, pflag.ErrHelp) {
			fmt.Fprint(stdout, usage+fs.FlagUsages())
			return exitOK
		}
		g.log.Error(perr.Error(), fieldError, perr.Error(), fieldExitCode, exitUsage, fieldHint, "run 'mailtwin --help' for usage")
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage+fs.FlagUsages())
		return exitUsage
	}
	cmd, cargs := rest[0], rest[1:]
	if err := initOnlyFlags(fs, cmd); err != nil {
		return exitCode(err, g.log)
	}
	var err error
	switch cmd {
	case "init":
		err = noArgs(cmd, cargs, func() error { return cmdInit(ctx, g, g.init, g.out) })
	case "folders":
		err = noArgs(cmd, cargs, func() error { return cmdFolders(ctx, g) })
	case "validate":
		err = noArgs(cmd, cargs, func() error { return cmdValidate(ctx, g) })
	case "plan":
		err = noArgs(cmd, cargs, func() error {
			if g.out != "" {
				return cmdPlanOut(ctx, g, g.out)
			}
			return cmdSync(ctx, g, true)
		})
	case "apply":
		switch {
		case g.out != "":
			err = usageError{"--out belongs to plan: mailtwin plan --out FILE, then mailtwin apply FILE"}
		case len(cargs) == 1:
			err = cmdApplyFile(ctx, g, cargs[0])
		default:
			err = noArgs(cmd, cargs, func() error { return cmdSync(ctx, g, false) })
		}
	case "status":
		err = noArgs(cmd, cargs, func() error { return cmdStatus(ctx, g) })
	case "log":
		err = noArgs(cmd, cargs, func() error { return cmdLog(ctx, g) })
	case "rollback":
		if len(cargs) != 1 {
			err = usageError{"rollback takes one revision: mailtwin rollback REV (see mailtwin log)"}
		} else {
			err = cmdRollback(ctx, g, cargs[0])
		}
	case "show":
		switch {
		case len(cargs) != 1:
			err = usageError{"show takes one revision or plan file: mailtwin show REV (see mailtwin log) or mailtwin show FILE"}
		case isPlanFile(cargs[0]):
			err = cmdShowPlan(ctx, g, cargs[0])
		default:
			err = cmdShow(ctx, g, cargs[0])
		}
	case "diff":
		if len(cargs) < 1 || len(cargs) > 2 {
			err = usageError{"diff takes one or two revisions: mailtwin diff REV1 [REV2] (REV2 defaults to HEAD)"}
		} else {
			to := "HEAD"
			if len(cargs) == 2 {
				to = cargs[1]
			}
			err = cmdDiff(ctx, g, cargs[0], to)
		}
	case "revert":
		if len(cargs) != 1 {
			err = usageError{"revert takes one revision: mailtwin revert REV (see mailtwin log)"}
		} else {
			err = cmdRevert(ctx, g, cargs[0], g.dryRun)
		}
	case "gc":
		err = noArgs(cmd, cargs, func() error { return cmdGC(ctx, g) })
	case "watch":
		err = noArgs(cmd, cargs, func() error { return cmdWatch(ctx, g, watchOptions{}) })
	case "demo":
		err = noArgs(cmd, cargs, func() error { return cmdDemo(ctx, g) })
	case "version":
		fmt.Fprintln(stdout, "mailtwin", version)
	case "help":
		fmt.Fprint(stdout, usage+fs.FlagUsages())
	default:
		err = usageError{fmt.Sprintf("unknown command %q; run 'mailtwin --help' for the list", cmd)}
	}
	return exitCode(err, g.log)
}

func noArgs(cmd string, args []string, fn func() error) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("%s takes no arguments, got %q", cmd, strings.Join(args, " "))}
	}
	return fn()
}

// errChanges is returned by plan --detailed-exitcode when there are changes.
var errChanges = errors.New("changes planned")

// exitCode maps an error to an exit code and logs it with a hint. It is
// the one place that knows exit codes.
func exitCode(err error, log *slog.Logger) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errChanges) {
		return exitChanges
	}
	code, msg, hint := exitFailed, err.Error(), ""
	var ue usageError
	var ce *configError
	var ne *reconcile.NamingError
	switch {
	case errors.As(err, &ce):
		// diagnostics were printed already
		code = exitUsage
	case errors.As(err, &ue):
		code = exitUsage
	case errors.Is(err, reconcile.ErrTooManyDeletes), errors.Is(err, reconcile.ErrSuspiciousListing):
		code, msg = exitGuard, "stopped, nothing was changed: "+msg
	case errors.As(err, &ne):
		code, hint = exitUsage, "nothing was changed; fix the pair's folder names in the configuration"
	case errors.Is(err, gitstate.ErrLocked):
		hint = "another run is in progress; if it died, the lock is taken over once stale"
	case errors.Is(err, context.Canceled):
		msg, hint = "interrupted: "+msg, "nothing is lost; the next run continues"
	case errors.Is(err, reconcile.ErrStopped):
		// The first SIGINT or SIGTERM of apply or revert: what was done
		// is committed (unless the error says that failed too).
		msg, hint = "interrupted: "+msg, "nothing is lost; the next run starts from what was committed"
	}
	attrs := []any{fieldError, err.Error(), fieldExitCode, code}
	if hint != "" {
		attrs = append(attrs, fieldHint, hint)
	}
	log.Error(msg, attrs...)
	return code
}
