// Command bench measures mailtwin against mbsync (isync) and interimap
// on the same machine, as issue #5 asks: two Dovecot instances on
// 127.0.0.1 (accounts A and B), A seeded over IMAP, and four or five
// workloads run by each tool in turn, several repetitions, medians
// reported as a markdown table on stdout. Progress goes to stderr.
//
//	go run ./bench                            # 20 folders x 500 messages, 3 repetitions
//	go run ./bench -folders 4 -messages 100 -reps 1   # a quick run
//	go run ./bench -profile /tmp/prof         # also one profiled mailtwin pass
//
// Workloads: b1 initial sync of A into an empty B; b2 a no-op re-sync;
// b3 a re-sync after 1% flag changes, 1% new messages and 1% expunges
// on A; b4 a re-sync after 1% of A's messages moved between folders;
// b5 (unless -big 0) a re-sync after one 50 MB message arrived on A,
// whose peak RSS is compared with that of a no-op re-sync run just
// before the message arrived: the memory one large message costs.
//
// Every tool starts each repetition from the same point: both Dovecots
// are stopped, A's Maildir is restored from a copy taken right after
// seeding, B's is removed, the tool's state is removed. The changes of
// b3 and b4 are made on A over IMAP with a fixed seed, so they are the
// same for every tool. Each tool talks to the servers through a counting
// proxy (bytes both ways, commands, APPENDs). After every run the bench
// reads both accounts and checks that each folder holds the same
// multiset of Message-ID plus flags on A and B; a run that fails the
// check is marked, and a tool whose runs fail it is no peer for the
// ratios.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// workloads are the workloads of every run; b5 follows them when
// -big is not 0 (workloadsFor).
var workloads = []string{"b1", "b2", "b3", "b4"}

// workloadsFor returns the workloads of a run whose b5 message has
// bigSize bytes (none when 0).
func workloadsFor(bigSize int) []string {
	ws := slices.Clone(workloads)
	if bigSize > 0 {
		ws = append(ws, "b5")
	}
	return ws
}

// result is one run of one tool on one workload.
type result struct {
	tool, workload string
	rep            int
	exec           execResult
	a, b           counts
	check          string // "" when A and B agreed afterwards
	change         changeSummary
	// base is b5's baseline: a no-op re-sync run just before the large
	// message arrives, so that b5's peak RSS minus base's is what the
	// message cost.
	base execResult
	// cpuA and cpuB are the CPU time each server used during the run
	// (see serverCPU).
	cpuA, cpuB time.Duration
}

func (r result) ok() bool { return r.exec.err == nil && r.base.err == nil && r.check == "" }

func main() {
	var (
		nFolders  = flag.Int("folders", 20, "seeded folders")
		nMessages = flag.Int("messages", 500, "messages per seeded folder")
		reps      = flag.Int("reps", 3, "repetitions of each workload per tool")
		toolList  = flag.String("tools", "mailtwin,mbsync,interimap", "tools to run, comma-separated (none: a control that syncs nothing, so its checks must fail)")
		seedFlag  = flag.Uint64("seed", 1, "seed of the generated mail and of the changes")
		frac      = flag.Float64("change", 0.01, "fraction of messages changed in b3 (each kind) and moved in b4")
		keep      = flag.Bool("keep", false, "keep the working directory (servers, logs, tool state)")
		profDir   = flag.String("profile", "", "after the repetitions, run mailtwin once more with a CPU and allocation profile per workload, written to this directory")
		conns     = flag.Int("connections", 0, "mailtwin's connections per account (0: its default)")
		timeline  = flag.Bool("timeline", false, "write, beside each run's log, a timeline of the commands each server received and their tagged answers, in ms from the tool's start (use with -keep)")
		bigMB     = flag.Int("big", 50, "size in MB of b5's message, which arrives on A after b4 (0: no b5)")
		active    = flag.Int("active", 0, "b3 and b4 change only the messages of the first N seeded folders (0: all): at -folders 200 -active 20, the activity of the 20-folder run in an account ten times its size")
		rtt       = flag.Duration("rtt", 0, "round-trip time the proxies add between the tools and the servers, as of servers across a network (0: none, the issue's setting)")
	)
	flag.Parse()
	var names []string
	for _, n := range strings.Split(*toolList, ",") {
		names = append(names, strings.TrimSpace(n))
	}
	if *bigMB < 0 {
		fmt.Fprintln(os.Stderr, "bench: -big must be 0 or more")
		os.Exit(2)
	}
	if *active < 0 {
		fmt.Fprintln(os.Stderr, "bench: -active must be 0 or more")
		os.Exit(2)
	}
	if err := run(*nFolders, *nMessages, *active, *reps, names, *seedFlag, *frac, *keep, *profDir, *bigMB*1_000_000, *conns, *timeline, *rtt); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(nFolders, nMessages, active, reps int, toolNames []string, seedVal uint64, frac float64, keep bool, profDir string, bigSize, conns int, timeline bool, rtt time.Duration) (err error) {
	// Dovecot's socket paths must stay short: a short directory in /tmp.
	tmp, err := os.MkdirTemp("", "mtb")
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // Dovecot's auth process must traverse it
		return err
	}
	if keep {
		logf("working directory %s (kept)", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	root, err := moduleRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(tmp, "bin", "mailtwin")
	logf("building mailtwin from %s", root)
	if err := goBuild(root, bin, ""); err != nil {
		return err
	}

	var tools []*tool
	for _, n := range toolNames {
		dir := filepath.Join(tmp, "tools", n)
		switch strings.TrimSpace(n) {
		case "mailtwin":
			mt := mailtwinTool(bin, dir)
			mt.connections = conns
			tools = append(tools, mt)
		case "mbsync":
			if _, err := exec.LookPath("mbsync"); err != nil {
				return fmt.Errorf("mbsync not installed: apt-get install isync")
			}
			tools = append(tools, mbsyncTool(dir))
		case "interimap":
			if _, err := exec.LookPath("interimap"); err != nil {
				return fmt.Errorf("interimap not installed: apt-get install interimap")
			}
			tools = append(tools, interimapTool(dir))
		case "none":
			tools = append(tools, noneTool(dir))
		default:
			return fmt.Errorf("unknown tool %q (mailtwin, mbsync, interimap, none)", n)
		}
	}

	da, err := newDovecot(tmp, "da", "a")
	if err != nil {
		return err
	}
	db, err := newDovecot(tmp, "db", "b")
	if err != nil {
		return err
	}
	defer da.Stop()
	defer db.Stop()
	// An interrupt, or stdout closed under us (go run ./bench | head),
	// must not leave two Dovecots running: stop them, and remove the
	// working directory unless it is kept.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		logf("interrupted: stopping the servers")
		da.Stop()
		db.Stop()
		if !keep {
			os.RemoveAll(tmp)
		}
		os.Exit(130)
	}()
	if err := da.Start(); err != nil {
		return err
	}
	if err := db.Start(); err != nil {
		return err
	}
	pa, err := newProxy(da.Addr)
	if err != nil {
		return err
	}
	defer pa.close()
	pb, err := newProxy(db.Addr)
	if err != nil {
		return err
	}
	defer pb.close()
	pa.keepTimeline, pb.keepTimeline = timeline, timeline
	pa.delay, pb.delay = rtt/2, rtt/2

	folders := folderNames(nFolders)
	start := time.Now()
	n, size, err := seed(da.Addr, "a", seedVal, folders, nMessages)
	if err != nil {
		return fmt.Errorf("seed A: %w", err)
	}
	logf("seeded A: %d folders, %d messages, %.1f MB in %s", len(folders), n, float64(size)/1e6, time.Since(start).Round(time.Millisecond))
	if err := da.Stop(); err != nil {
		return err
	}
	golden := filepath.Join(tmp, "golden")
	if err := cp(da.maildir(), golden); err != nil {
		return err
	}

	// changed are the folders b3 and b4 change.
	changed := folders
	if active > 0 && active < len(folders) {
		changed = folders[:active]
	}
	// Every b1 but the very first starts after runTool removed the
	// previous tool's 10,000 messages from B's Maildir, and on this VM
	// that slows the run that then fills B: interimap's b1, run first,
	// took 6.9 s and 2.6 s of B's Dovecot CPU, and after such a removal
	// 9 to 12 s and 4 to 5 s (a sync(2) before each run did not change
	// it). So the first tool of the first repetition, mailtwin by
	// default, had a faster b1 than every other. B starts with a full
	// account in it, so that the first b1 too follows its removal.
	if err := cp(golden, db.maildir()); err != nil {
		return err
	}
	load := loadavg()
	var results []result
	for rep := 1; rep <= reps; rep++ {
		for _, t := range tools {
			rs, err := runTool(t, rep, da, db, pa, pb, golden, seedVal, changed, frac, bigSize, nil)
			if err != nil {
				return err
			}
			results = append(results, rs...)
		}
	}
	printMachine(os.Stdout, load, loadavg())
	if rtt > 0 {
		fmt.Printf("The proxies add %s of round-trip time between each tool and the servers (-rtt).\n\n", rtt)
	}
	printReport(os.Stdout, results, workloadsFor(bigSize), toolNames, reps, nFolders, nMessages, n, size)
	if len(changed) < len(folders) {
		fmt.Printf("b3 and b4 changed only the messages of the first %d folders (-active).\n\n", len(changed))
	}

	if profDir != "" {
		if err := profile(root, tmp, profDir, da, db, pa, pb, golden, seedVal, changed, frac, bigSize, conns); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	return nil
}

// runTool runs the workloads with t from the seeded state, b5 with a
// message of bigSize bytes unless that is 0. envFor, if set, gives
// extra environment for a workload's run.
func runTool(t *tool, rep int, da, db *dovecot, pa, pb *proxy, golden string, seedVal uint64, folders []string, frac float64, bigSize int, envFor func(string) []string) ([]result, error) {
	da.Stop()
	db.Stop()
	for _, p := range []string{da.maildir(), db.maildir()} {
		if err := os.RemoveAll(p); err != nil {
			return nil, err
		}
	}
	if err := cp(golden, da.maildir()); err != nil {
		return nil, err
	}
	if err := da.Start(); err != nil {
		return nil, err
	}
	if err := db.Start(); err != nil {
		return nil, err
	}
	if err := t.reset(pa.port(), pb.port()); err != nil {
		return nil, err
	}
	pa.take()
	pb.take()
	var out []result
	for _, w := range workloadsFor(bigSize) {
		r := result{tool: t.name, workload: w, rep: rep}
		var err error
		switch w {
		case "b3":
			r.change, err = changeB3(da.Addr, "a", seedVal, folders, frac)
		case "b4":
			r.change, err = changeB4(da.Addr, "a", seedVal, folders, frac)
		case "b5":
			r.base = t.run(fmt.Sprintf("b5-base-rep%d", rep))
			pa.take()
			pb.take()
			if r.base.err == nil {
				r.change, err = changeB5(da.Addr, "a", seedVal, bigSize)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: change A: %w", w, err)
		}
		var env []string
		if envFor != nil {
			env = envFor(w)
		}
		// The connections that made the changes and checked the last
		// run are reaped first: their time is not the tool's.
		settle(da.PID())
		settle(db.PID())
		cpuA, cpuB := serverCPU(da.PID()), serverCPU(db.PID())
		r.exec = t.run(fmt.Sprintf("%s-rep%d", w, rep), env...)
		settle(da.PID())
		settle(db.PID())
		r.cpuA, r.cpuB = serverCPU(da.PID())-cpuA, serverCPU(db.PID())-cpuB
		r.a, r.b = pa.take(), pb.take()
		if pa.keepTimeline {
			if err := writeTimeline(filepath.Join(t.dir, fmt.Sprintf("timeline-%s-rep%d.txt", w, rep)), r.exec, r.a.Events, r.b.Events); err != nil {
				return nil, err
			}
		}
		diff, err := compare(da.Addr, "a", db.Addr, "b")
		if err != nil {
			return nil, fmt.Errorf("%s: check: %w", w, err)
		}
		r.check = diff
		if diff != "" {
			// The next repetition starts from an empty tool directory:
			// keep this one, with the run's log, state and timeline, for
			// whoever looks into the failure. It goes outside the
			// working directory, which is removed at the end unless
			// -keep: a failure seen once must not be lost with it.
			if kept, err := os.MkdirTemp("", fmt.Sprintf("mtb-failed-%s-%s-rep%d-", filepath.Base(t.dir), w, rep)); err == nil {
				if err := cp(t.dir+"/.", kept); err == nil {
					diff += " (tool directory kept as " + kept + ")"
				}
			}
		}
		var problems []string
		if r.base.err != nil {
			problems = append(problems, "baseline FAILED: "+r.base.err.Error())
		}
		if r.exec.err != nil {
			problems = append(problems, "FAILED: "+r.exec.err.Error())
		}
		if diff != "" {
			problems = append(problems, "CHECK FAILED: "+diff)
		}
		status := "ok"
		if len(problems) > 0 {
			status = strings.Join(problems, "; ")
		}
		if w == "b5" {
			status = fmt.Sprintf("%s (the no-op re-sync before it: rss %.1f MB)", status, float64(r.base.maxRSS)/1e6)
		}
		logf("rep %d %-9s %s: %7.3fs rss %5.1f MB, A %d cmds, B %d cmds, CPU %d ms, servers' %d / %d ms: %s", rep, t.name, w,
			r.exec.wall.Seconds(), float64(r.exec.maxRSS)/1e6, r.a.Cmds, r.b.Cmds, r.exec.cpu.Milliseconds(), r.cpuA.Milliseconds(), r.cpuB.Milliseconds(), status)
		out = append(out, r)
	}
	return out, nil
}

// cp copies the directory tree from to to, with modes and owners.
func cp(from, to string) error {
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", from, to, err, out)
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the bench from inside the mailtwin module (go run ./bench)")
	}
	return filepath.Dir(mod), nil
}

// goBuild builds the mailtwin command of the module at root into bin,
// with an overlay file when overlay is not "".
func goBuild(root, bin, overlay string) error {
	args := []string{"build", "-o", bin}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func median[T int | int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := append([]T(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summary is the medians of one tool on one workload.
type summary struct {
	runs, good                   int
	wall                         time.Duration
	cpuA, cpuB                   time.Duration // the servers' CPU time
	cpu                          time.Duration // the tool's
	rss                          int64
	sent, recv                   int64
	cmdsA, cmdsB, afterA, afterB int
	connsA, connsB               int
	appendBytes, fetchLiteral    int64
	appends                      int
	verbsA, verbsB               map[string]int // of the median-time run
	failure                      string
}

func summarise(rs []result) summary {
	var s summary
	var walls, cpuA, cpuB, cpu []time.Duration
	var rss, sent, recv, ab, fl []int64
	var ca, cb, aa, abl, na, nb, ap []int
	for _, r := range rs {
		s.runs++
		if r.ok() {
			s.good++
		} else if s.failure == "" {
			if r.exec.err != nil {
				s.failure = r.exec.err.Error()
			} else if r.base.err != nil {
				s.failure = "baseline: " + r.base.err.Error()
			} else {
				s.failure = r.check
			}
		}
		walls = append(walls, r.exec.wall)
		cpuA, cpuB, cpu = append(cpuA, r.cpuA), append(cpuB, r.cpuB), append(cpu, r.exec.cpu)
		rss = append(rss, r.exec.maxRSS)
		sent = append(sent, r.a.Sent+r.b.Sent)
		recv = append(recv, r.a.Recv+r.b.Recv)
		ca, cb = append(ca, r.a.Cmds), append(cb, r.b.Cmds)
		aa, abl = append(aa, r.a.AfterLogin), append(abl, r.b.AfterLogin)
		na, nb = append(na, r.a.Conns), append(nb, r.b.Conns)
		ab = append(ab, r.a.AppendBytes+r.b.AppendBytes)
		fl = append(fl, r.a.FetchLiteral+r.b.FetchLiteral)
		ap = append(ap, r.a.Appends+r.b.Appends)
	}
	s.wall, s.rss, s.sent, s.recv = median(walls), median(rss), median(sent), median(recv)
	s.cpuA, s.cpuB, s.cpu = median(cpuA), median(cpuB), median(cpu)
	s.cmdsA, s.cmdsB, s.afterA, s.afterB = median(ca), median(cb), median(aa), median(abl)
	s.connsA, s.connsB = median(na), median(nb)
	s.appendBytes, s.fetchLiteral, s.appends = median(ab), median(fl), median(ap)
	for _, r := range rs {
		if r.exec.wall == s.wall || s.verbsA == nil {
			s.verbsA, s.verbsB = r.a.Verbs, r.b.Verbs
		}
	}
	return s
}

// ratioSpread returns the lowest and highest of mailtwin's wall time over
// peer's in the same repetition (the runs of one repetition are the
// closest in time, so they share the machine's phase), as "min–max", or
// "-" when no repetition has both runs passed. The ratio column is of
// the medians; on a busy VM the spread shows how far one run's ratio can
// stray from it.
func ratioSpread(mailtwin, peer []result) string {
	var qs []float64
	for _, m := range mailtwin {
		for _, p := range peer {
			if p.rep == m.rep && m.ok() && p.ok() && p.exec.wall > 0 {
				qs = append(qs, float64(m.exec.wall)/float64(p.exec.wall))
			}
		}
	}
	if len(qs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(qs), slices.Max(qs))
}

func mb(n int64) string { return fmt.Sprintf("%.1f", float64(n)/1e6) }

func mbSigned(n int64) string { return fmt.Sprintf("%+.1f", float64(n)/1e6) }

// bigRSS returns the medians over the runs of b5 that passed of the
// baseline's peak RSS and of b5's minus the baseline's; false if none
// passed.
func bigRSS(b5 []result) (base, increase int64, ok bool) {
	var bs, ds []int64
	for _, r := range b5 {
		if r.ok() {
			bs = append(bs, r.base.maxRSS)
			ds = append(ds, r.exec.maxRSS-r.base.maxRSS)
		}
	}
	return median(bs), median(ds), len(ds) > 0
}

func verbs(m map[string]int) string {
	type kv struct {
		k string
		n int
	}
	var l []kv
	for k, n := range m {
		l = append(l, kv{k, n})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].n != l[j].n {
			return l[i].n > l[j].n
		}
		return l[i].k < l[j].k
	})
	var parts []string
	for _, e := range l {
		parts = append(parts, fmt.Sprintf("%s %d", e.k, e.n))
	}
	return strings.Join(parts, ", ")
}

func printReport(w io.Writer, results []result, workloads, toolNames []string, reps, nFolders, nMessages, n int, size int64) {
	by := map[string]map[string][]result{}
	for _, r := range results {
		if by[r.workload] == nil {
			by[r.workload] = map[string][]result{}
		}
		by[r.workload][r.tool] = append(by[r.workload][r.tool], r)
	}
	sums := map[string]map[string]summary{}
	for _, wl := range workloads {
		sums[wl] = map[string]summary{}
		for _, t := range toolNames {
			sums[wl][t] = summarise(by[wl][t])
		}
	}
	fmt.Fprintf(w, "## Results: %d folders x %d messages (%d messages, %.1f MB), median of %d repetitions\n\n", nFolders, nMessages, n, float64(size)/1e6, reps)
	var ch changeSummary
	for _, r := range results {
		if r.workload == "b3" {
			ch.flags, ch.added, ch.expunged = r.change.flags, r.change.added, r.change.expunged
		}
		if r.workload == "b4" {
			ch.moved = r.change.moved
		}
		if r.workload == "b5" {
			ch.bigBytes = r.change.bigBytes
		}
	}
	fmt.Fprintf(w, "b3 changed on A: %d flag changes, %d new, %d expunged; b4: %d moved", ch.flags, ch.added, ch.expunged, ch.moved)
	if slices.Contains(workloads, "b5") {
		fmt.Fprintf(w, "; b5: one message of %s MB (multipart, base64 attachment) new in %s", mb(ch.bigBytes), bigFolder)
	}
	fmt.Fprint(w, ".\n\n")
	fmt.Fprintln(w, "| workload | tool | wall s | tool CPU ms | server CPU ms A / B | peak RSS MB | sent MB | recv MB | cmds A / B | after login A / B | conns A / B | APPENDs (MB) | literals recv MB | check |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, wl := range workloads {
		for _, t := range toolNames {
			s := sums[wl][t]
			check := fmt.Sprintf("ok %d/%d", s.good, s.runs)
			if s.good < s.runs {
				check = fmt.Sprintf("**FAILED %d/%d**", s.runs-s.good, s.runs)
			}
			fmt.Fprintf(w, "| %s | %s | %.3f | %d | %d / %d | %s | %s | %s | %d / %d | %d / %d | %d / %d | %d (%s) | %s | %s |\n",
				wl, t, s.wall.Seconds(), s.cpu.Milliseconds(), s.cpuA.Milliseconds(), s.cpuB.Milliseconds(), mb(s.rss), mb(s.sent), mb(s.recv), s.cmdsA, s.cmdsB, s.afterA, s.afterB,
				s.connsA, s.connsB, s.appends, mb(s.appendBytes), mb(s.fetchLiteral), check)
		}
	}
	fmt.Fprintln(w)

	// Ratios against the faster peer whose runs all passed the check.
	if _, ok := sums["b1"]["mailtwin"]; ok && len(toolNames) > 1 {
		fmt.Fprintln(w, "### mailtwin against the issue's targets")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| workload | mailtwin s | best peer | peer s | ratio | ratio per repetition | target | met |")
		fmt.Fprintln(w, "|---|---:|---|---:|---:|---|---|---|")
		targets := map[string]float64{"b1": 0.8, "b2": 0.75, "b3": 0.5}
		for _, wl := range workloads {
			if wl == "b5" {
				continue // its target is on memory, below
			}
			m := sums[wl]["mailtwin"]
			best, bestT := "", time.Duration(0)
			for _, t := range toolNames {
				s := sums[wl][t]
				if t == "mailtwin" || s.good < s.runs || s.runs == 0 {
					continue
				}
				if best == "" || s.wall < bestT {
					best, bestT = t, s.wall
				}
			}
			ratio, spread := "-", "-"
			met := "-"
			if best != "" {
				spread = ratioSpread(by[wl]["mailtwin"], by[wl][best])
			}
			if best != "" && bestT > 0 {
				q := float64(m.wall) / float64(bestT)
				ratio = fmt.Sprintf("%.2f", q)
				if tg, ok := targets[wl]; ok {
					met = yes(q <= tg && m.good == m.runs)
				}
			}
			target := map[string]string{"b1": "≤ 0.8×", "b2": "≤ 0.75×", "b3": "≤ 0.5×", "b4": "no body bytes for moved messages"}[wl]
			if wl == "b4" {
				met = fmt.Sprintf("%s (%d APPENDs, %s MB uploaded, %s MB of literals received)", yes(m.appendBytes == 0 && m.good == m.runs), m.appends, mb(m.appendBytes), mb(m.fetchLiteral))
			}
			fmt.Fprintf(w, "| %s | %.3f | %s | %.3f | %s | %s | %s | %s |\n", wl, m.wall.Seconds(), orDash(best), bestT.Seconds(), ratio, spread, target, met)
		}
		b2, b1 := sums["b2"]["mailtwin"], sums["b1"]["mailtwin"]
		fmt.Fprintf(w, "| b2 commands | A %d, B %d after login | | | | | ≤ 3 per account | %s |\n", b2.afterA, b2.afterB, yes(b2.afterA <= 3 && b2.afterB <= 3))
		fmt.Fprintf(w, "| b1 peak RSS | %s MB | | | | | ≤ 40 MB | %s |\n", mb(b1.rss), yes(b1.rss <= 40e6))
		if slices.Contains(workloads, "b5") {
			_, d, ok := bigRSS(by["b5"]["mailtwin"])
			fmt.Fprintf(w, "| b5 peak RSS over a no-op | %s MB | | | | | < 5 MB | %s |\n", mbSigned(d), yes(ok && d < 5e6))
		}
		fmt.Fprintln(w)
	}

	if slices.Contains(workloads, "b5") {
		fmt.Fprintf(w, "### One large message: b5's peak RSS over the no-op re-sync run just before it (medians over the repetitions)\n\n")
		fmt.Fprintln(w, "| tool | b2 peak RSS MB | no-op before b5 MB | b5 peak RSS MB | increase MB | b5 wall s |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
		for _, t := range toolNames {
			base, d, ok := bigRSS(by["b5"][t])
			bs, inc := mb(base), mbSigned(d)
			if !ok {
				bs, inc = "-", "-"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.2f |\n", t, mb(sums["b2"][t].rss), bs, mb(sums["b5"][t].rss), inc, sums["b5"][t].wall.Seconds())
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w, "### Commands the servers received (the median-time run)")
	fmt.Fprintln(w)
	for _, wl := range workloads {
		for _, t := range toolNames {
			s := sums[wl][t]
			fmt.Fprintf(w, "- %s %s: A: %s; B: %s\n", wl, t, orDash(verbs(s.verbsA)), orDash(verbs(s.verbsB)))
		}
	}
	fmt.Fprintln(w)
	for _, wl := range workloads {
		for _, t := range toolNames {
			if s := sums[wl][t]; s.failure != "" {
				fmt.Fprintf(w, "- %s %s failed: %s\n", wl, t, strings.ReplaceAll(s.failure, "\n", " "))
			}
		}
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// loadavg returns the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// firstLine runs a command and returns the first line of its output.
func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "not found"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// printMachine writes what the numbers were measured on.
func printMachine(w io.Writer, loadBefore, loadAfter string) {
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		mem = strings.Join(strings.Fields(line)[1:], " ")
	}
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	fmt.Fprintln(w, "## Machine")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- CPU: %s, nproc %s; memory %s\n", cpu, firstLine("nproc"), mem)
	fmt.Fprintf(w, "- load average (1/5/15 min) before the runs: %s; after: %s\n", loadBefore, loadAfter)
	fmt.Fprintf(w, "- %s; dovecot %s; %s; interimap %s\n", firstLine("go", "version"), firstLine(dovecotBin(), "--version"),
		firstLine("mbsync", "-v"), strings.TrimPrefix(firstLine("interimap", "--version"), "/usr/bin/interimap "))
	fmt.Fprintln(w)
}

func dovecotBin() string {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p
	}
	return "/usr/sbin/dovecot"
}
