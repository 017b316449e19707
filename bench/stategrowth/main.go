// Command stategrowth measures how mailtwin's state repository grows,
// as issue #6 asks, without IMAP: one pair of 200 folders x 500 messages
// (100,000 records), then N runs (default 1,000) that each change 1% of
// the records, encoded with reconcile.EncodeState and recorded with
// gitstate's Stage and Commit exactly as 'mailtwin apply' records a run,
// with a journal of about one line per change.
//
//	go run ./bench/stategrowth                 # 1,000 runs, report every 100
//	go run ./bench/stategrowth -runs 100 -every 10
//	go run ./bench/stategrowth -autopack=false # loose objects only, as before packing
//
// Churn per run: 1% of the records (1,000 at the start), as 40% flag
// changes, 25% new messages, 25% expunges and 10% moves between folders
// (b3's three kinds plus b4's moves). Mail is not spread evenly: 70% of
// the changes fall in five hot folders (an inbox, sent, archive, trash
// and one project folder), the other 30% in the remaining 195 folders
// chosen by a Zipf law (s=1.2), so a run touches the hot folders and a
// few dozen others, and over many runs every folder changes.
//
// Every -every runs it prints a table row: the size of .git (the sum of
// its regular files' sizes, as du --apparent-size), loose and packed
// object counts, and the median, p95 and max of the time one run's Stage
// plus Commit took over those runs. At the end it prints the time to
// open the repository and load the state (Files plus DecodeState).
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/reconcile"
)

const pair = "work"

func main() {
	var (
		runs     = flag.Int("runs", 1000, "runs after the first sync")
		every    = flag.Int("every", 100, "report every this many runs")
		folders  = flag.Int("folders", 200, "folders")
		per      = flag.Int("messages", 500, "messages per folder at the start")
		churn    = flag.Float64("churn", 0.01, "fraction of the records changed per run")
		dir      = flag.String("dir", "", "state repository directory (default: a new temporary one, removed at the end)")
		journal  = flag.String("journal", "message", "where a run's journal goes: message (the commit message) or file (<pair>/journal)")
		autopack = flag.Bool("autopack", true, "let Commit pack loose objects automatically (gitstate.Repo.NoAutoPack false)")
		seed     = flag.Uint64("seed", 1, "random seed")
		cpuprof  = flag.String("cpuprofile", "", "write a CPU profile of the whole measurement to this file")
		gc       = flag.Bool("gc", true, "at the end, pack everything into one pack (mailtwin gc) and report its time and the size")
	)
	flag.Parse()
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "stategrowth:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), config{*runs, *every, *folders, *per, *churn, *dir, *journal, *autopack, *seed, *gc}); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "stategrowth:", err)
		os.Exit(1)
	}
}

type config struct {
	runs, every, folders, per int
	churn                     float64
	dir, journal              string
	autopack                  bool
	seed                      uint64
	gc                        bool
}

func run(ctx context.Context, c config) error {
	dir := c.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "stategrowth")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "state")
	}
	repo, err := gitstate.Open(ctx, dir)
	if err != nil {
		return err
	}
	repo.NoAutoPack = !c.autopack
	rng := rand.New(rand.NewPCG(c.seed, 2))
	w := newWorld(rng, c.folders, c.per)

	// The first sync: every record copied, a journal line each.
	var first []string
	for _, f := range w.st.Folders {
		for _, r := range f.Records {
			first = append(first, fmt.Sprintf("ok + b:%q <- a:%q uid %d flags %s %s (new) => uid %d", f.Name, f.Name, r.UIDA, r.Flags, r.ID, r.UIDB))
		}
	}
	t0 := time.Now()
	if err := commitRun(ctx, repo, c.journal, w.st, "sync: first sync", first); err != nil {
		return err
	}
	fmt.Printf("state: %d folders, %d records, %.1f MB encoded; first commit %v\n\n",
		len(w.st.Folders), w.records(), float64(w.encodedSize())/1e6, time.Since(t0).Round(time.Millisecond))
	fmt.Println("| runs | .git size | loose objects | packs | packed objects | commit median | p95 | max | packing runs | packing time (total) |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var times []time.Duration
	packs, packTime := 0, time.Duration(0)
	for i := 1; i <= c.runs; i++ {
		n := int(float64(w.records())*c.churn + 0.5)
		lines := w.churn(rng, n)
		// A commit that packed adds a pack Packs counts (the run packs a
		// commit writes, and the pack step removes, are not counted).
		packsBefore, err := repo.Packs()
		if err != nil {
			return err
		}
		t := time.Now()
		if err := commitRun(ctx, repo, c.journal, w.st, fmt.Sprintf("sync: pair %q: %d actions", pair, len(lines)), lines); err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		d := time.Since(t)
		packsAfter, err := repo.Packs()
		if err != nil {
			return err
		}
		if packsAfter != packsBefore { // this commit packed
			packs++
			packTime += d
		} else {
			times = append(times, d)
		}
		if i%c.every == 0 || i == c.runs {
			sz, loose, err := gitSize(filepath.Join(dir, ".git"))
			if err != nil {
				return err
			}
			npacks, packed, err := packCount(filepath.Join(dir, ".git"))
			if err != nil {
				return err
			}
			counted, err := repo.Packs()
			if err != nil {
				return err
			}
			med, p95, max := stats(times)
			fmt.Printf("| %d | %.1f MB | %d | %d (%d run packs) | %d | %v | %v | %v | %d | %v |\n", i, float64(sz)/1e6, loose,
				npacks, npacks-counted, packed, med, p95, max, packs, packTime.Round(time.Millisecond))
			times = times[:0]
			packs, packTime = 0, 0
		}
	}
	// Load the state at the end, as a run starts: open, read, decode.
	t := time.Now()
	r2, err := gitstate.Open(ctx, dir)
	if err != nil {
		return err
	}
	files, err := r2.Files(ctx, pair)
	if err != nil {
		return err
	}
	st, err := reconcile.DecodeState(pair, files)
	if err != nil {
		return err
	}
	fmt.Printf("\nload at the end (open, Files, DecodeState): %v, %d folders, %d records\n",
		time.Since(t).Round(time.Millisecond), len(st.Folders), w.records())
	t = time.Now()
	log, err := r2.Log(ctx, 0)
	if err != nil {
		return err
	}
	fmt.Printf("log of %d commits: %v\n", len(log), time.Since(t).Round(time.Millisecond))
	if !c.gc {
		return nil
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t = time.Now()
	ps, err := r2.Pack(ctx, true)
	if err != nil {
		return err
	}
	d := time.Since(t)
	runtime.ReadMemStats(&m1)
	sz, loose, err := gitSize(filepath.Join(dir, ".git"))
	if err != nil {
		return err
	}
	fmt.Printf("gc (Pack all): %v, %d objects (%d deltas) in one pack of %.1f MB, %d loose and %d packs removed, %.0f MB allocated; .git now %.1f MB, %d loose\n",
		d.Round(time.Millisecond), ps.Objects, ps.Deltas, float64(ps.Bytes)/1e6, ps.LooseRemoved, ps.PacksRemoved,
		float64(m1.TotalAlloc-m0.TotalAlloc)/1e6, float64(sz)/1e6, loose)
	t = time.Now()
	r3, err := gitstate.Open(ctx, dir)
	if err != nil {
		return err
	}
	if files, err = r3.Files(ctx, pair); err != nil {
		return err
	}
	if _, err = reconcile.DecodeState(pair, files); err != nil {
		return err
	}
	fmt.Printf("load after gc: %v\n", time.Since(t).Round(time.Millisecond))
	return nil
}

// commitRun records a run as cmdSync does: stage the pair's state
// files, then commit with a summary subject and the journal.
func commitRun(ctx context.Context, repo *gitstate.Repo, placement string, st reconcile.State, subject string, journal []string) error {
	files, msg := placeJournal(placement, reconcile.EncodeState(st), subject, strings.Join(journal, "\n")+"\n")
	if err := repo.Stage(ctx, pair, files); err != nil {
		return err
	}
	_, err := repo.Commit(ctx, msg)
	return err
}

// placeJournal puts a run's journal where mailtwin keeps it: in the
// commit message (as cmdSync's commitRun does today) or in the pair's
// file "journal", replaced every run, with the subject alone as message.
func placeJournal(placement string, files map[string][]byte, subject, journal string) (map[string][]byte, string) {
	if placement == "file" {
		files["journal"] = []byte(journal)
		return files, subject + "\n\nRun: complete\n"
	}
	return files, subject + "\n\n" + journal + "\nRun: complete\n"
}

// world is the pair's agreed state and what is needed to change it.
type world struct {
	st            reconcile.State
	hot           []int     // indexes of the hot folders
	cold          []int     // the others
	coldCum       []float64 // cumulative Zipf weights over cold
	flagSets      []reconcile.Flags
	identityCount uint64
}

func newWorld(rng *rand.Rand, folders, per int) *world {
	w := &world{flagSets: []reconcile.Flags{
		nil,
		reconcile.NewFlags(`\Seen`),
		reconcile.NewFlags(`\Seen`, `\Answered`),
		reconcile.NewFlags(`\Seen`, `\Flagged`),
		reconcile.NewFlags(`\Seen`, "$label1"),
		reconcile.NewFlags(`\Seen`, `\Answered`, `\Flagged`),
	}}
	names := []string{"INBOX", "Sent", "Archive", "Trash", "Projects/current"}
	for i := len(names); i < folders; i++ {
		names = append(names, fmt.Sprintf("Archive/%d/%s-%03d", 2000+i%25, []string{"lists", "clients", "family", "receipts"}[i%4], i))
	}
	slices.Sort(names)
	for i, name := range names {
		f := reconcile.FolderState{
			Name: name,
			A:    reconcile.SideState{Mailbox: name, UIDValidity: 1700000000 + uint32(i)},
			B:    reconcile.SideState{Mailbox: name, UIDValidity: 1795887925 + uint32(i)},
		}
		ua, ub := reconcile.UID(1), reconcile.UID(1)
		for range per {
			ua += reconcile.UID(1 + rng.IntN(3)) // expunged gaps
			ub++
			f.Records = append(f.Records, reconcile.Record{UIDA: ua, UIDB: ub, Flags: w.randomFlags(rng), ID: w.newID(rng)})
		}
		f.A.UIDNext, f.B.UIDNext = ua+1, ub+1
		f.A.HighestModSeq, f.B.HighestModSeq = uint64(ua)*3, uint64(ub)*2
		w.st.Folders = append(w.st.Folders, f)
	}
	for i, f := range w.st.Folders {
		if slices.Contains([]string{"INBOX", "Sent", "Archive", "Trash", "Projects/current"}, f.Name) {
			w.hot = append(w.hot, i)
		} else {
			w.cold = append(w.cold, i)
		}
	}
	rng.Shuffle(len(w.cold), func(i, j int) { w.cold[i], w.cold[j] = w.cold[j], w.cold[i] })
	sum := 0.0
	for k := range w.cold {
		sum += 1 / math.Pow(float64(k+1), 1.2)
		w.coldCum = append(w.coldCum, sum)
	}
	return w
}

func (w *world) randomFlags(rng *rand.Rand) reconcile.Flags {
	// Most mail is read, some answered or flagged.
	switch p := rng.IntN(100); {
	case p < 10:
		return w.flagSets[0]
	case p < 75:
		return w.flagSets[1]
	default:
		return w.flagSets[2+rng.IntN(len(w.flagSets)-2)]
	}
}

// newID returns an identity as imapstore makes them: "m:" and 24 hex
// digits of a SHA-256.
func (w *world) newID(rng *rand.Rand) reconcile.Identity {
	w.identityCount++
	return reconcile.Identity(fmt.Sprintf("m:%016x%08x", rng.Uint64(), rng.Uint32()))
}

// folder picks the folder of one change: 70% a hot folder, else a cold
// one by the Zipf weights.
func (w *world) folder(rng *rand.Rand) *reconcile.FolderState {
	if rng.Float64() < 0.7 {
		return &w.st.Folders[w.hot[rng.IntN(len(w.hot))]]
	}
	x := rng.Float64() * w.coldCum[len(w.coldCum)-1]
	k, _ := slices.BinarySearch(w.coldCum, x)
	return &w.st.Folders[w.cold[min(k, len(w.cold)-1)]]
}

// churn makes n changes and returns their journal lines.
func (w *world) churn(rng *rand.Rand, n int) []string {
	var lines []string
	for range n {
		f := w.folder(rng)
		switch p := rng.IntN(100); {
		case p < 40 && len(f.Records) > 0: // flag change
			r := &f.Records[rng.IntN(len(f.Records))]
			r.Flags = w.randomFlags(rng)
			lines = append(lines, fmt.Sprintf("ok ~ b:%q uid %d flags %s %s", f.Name, r.UIDB, r.Flags, r.ID))
		case p < 65: // new message on A, copied to B
			r := reconcile.Record{UIDA: f.A.UIDNext, UIDB: f.B.UIDNext, Flags: w.randomFlags(rng), ID: w.newID(rng)}
			f.A.UIDNext++
			f.B.UIDNext++
			f.Records = append(f.Records, r)
			lines = append(lines, fmt.Sprintf("ok + b:%q <- a:%q uid %d flags %s %s (new) => uid %d", f.Name, f.Name, r.UIDA, r.Flags, r.ID, r.UIDB))
		case p < 90 && len(f.Records) > 0: // expunged on A, deleted on B
			i := rng.IntN(len(f.Records))
			r := f.Records[i]
			f.Records = slices.Delete(f.Records, i, i+1)
			lines = append(lines, fmt.Sprintf("ok - b:%q uid %d %s (expunged on a)", f.Name, r.UIDB, r.ID))
		case len(f.Records) > 0: // moved to another folder
			to := w.folder(rng)
			if to == f {
				continue
			}
			i := rng.IntN(len(f.Records))
			r := f.Records[i]
			f.Records = slices.Delete(f.Records, i, i+1)
			nr := reconcile.Record{UIDA: to.A.UIDNext, UIDB: to.B.UIDNext, Flags: r.Flags, ID: r.ID}
			to.A.UIDNext++
			to.B.UIDNext++
			to.Records = append(to.Records, nr)
			lines = append(lines, fmt.Sprintf("ok > b:%q uid %d -> b:%q %s => uid %d", f.Name, r.UIDB, to.Name, r.ID, nr.UIDB))
		}
		f.A.HighestModSeq += 3
		f.B.HighestModSeq += 2
	}
	return lines
}

func (w *world) records() int {
	n := 0
	for _, f := range w.st.Folders {
		n += len(f.Records)
	}
	return n
}

func (w *world) encodedSize() int {
	n := 0
	for _, d := range reconcile.EncodeState(w.st) {
		n += len(d)
	}
	return n
}

// gitSize returns the sum of the sizes of the regular files under dir
// and the number of loose objects.
func gitSize(dir string) (size int64, loose int, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		size += fi.Size()
		rel, _ := filepath.Rel(dir, p)
		if parts := strings.Split(filepath.ToSlash(rel), "/"); len(parts) == 3 && parts[0] == "objects" && len(parts[1]) == 2 && len(parts[2]) == 38 {
			loose++
		}
		return nil
	})
	return size, loose, err
}

func stats(ds []time.Duration) (med, p95, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return r(s[len(s)/2]), r(s[(len(s)*95+99)/100-1]), r(s[len(s)-1])
}

// packCount returns the number of packs and of objects in them, from
// the pack index files' headers.
func packCount(dir string) (packs, objects int, err error) {
	idxs, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "pack-*.idx"))
	if err != nil {
		return 0, 0, err
	}
	for _, p := range idxs {
		f, err := os.Open(p)
		if err != nil {
			return 0, 0, err
		}
		// v2 index: magic, version, 256 fan-out entries; the last is the count.
		var b [8 + 256*4]byte
		_, err = io.ReadFull(f, b[:])
		f.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", p, err)
		}
		packs++
		objects += int(binary.BigEndian.Uint32(b[len(b)-4:]))
	}
	return packs, objects, nil
}
