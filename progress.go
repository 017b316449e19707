package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/mailtwin/mailtwin/reconcile"
)

// progressMinActions is the size of an apply from which progress is
// shown: a short run says nothing, so cron mails and CI logs stay short
// and a successful small apply leaves stderr empty.
const progressMinActions = 50

// progress reports an apply on stderr as it goes, in one of three ways:
//
//   - with -v, a line per action (through the logger);
//   - on a terminal (bars set), for runs of progressMinActions or more:
//     an mpb bar for the run (actions, bytes per second, ETA) and one per
//     folder at work (messages and bytes), each gone when its folder is
//     done;
//   - otherwise, for runs that long, a line per folder finished (through
//     the logger, so --log-format json makes it an object).
//
// Bytes are the listed sizes of the messages copied (Action.Size); other
// actions move no message bodies.
type progress struct {
	log     *slog.Logger
	pair    string
	verbose bool
	// bars is where the terminal's bars are drawn; nil: no bars.
	bars *mpb.Progress
	stop context.CancelFunc
	// start is when the plan began to be carried out (bars only).
	start time.Time

	total     int
	bytesDone atomic.Int64
	folders   map[string]*folderProgress
	runBar    *mpb.Bar
}

// folderProgress is one folder's share of a plan.
type folderProgress struct {
	total, done           int
	bytesTotal, bytesDone atomic.Int64
	bar                   *mpb.Bar
}

// progressOptions say how newProgress reports.
type progressOptions struct {
	// Verbose: a line per action.
	Verbose bool
	// Bars draws bars on Terminal; ignored with Verbose.
	Bars     bool
	Terminal io.Writer

	// Test hooks: console replaces the terminal, refresh draws the bars
	// when it receives (instead of every 200 ms).
	console mpb.ConsoleWriter
	refresh <-chan any
}

// newProgress returns the progress of pair's apply, logging to log.
func newProgress(log *slog.Logger, pair string, o progressOptions) *progress {
	p := &progress{log: log, pair: pair, verbose: o.Verbose, folders: map[string]*folderProgress{}}
	if o.Bars && !o.Verbose && (o.Terminal != nil || o.console != nil) {
		ctx, stop := context.WithCancel(context.Background())
		p.stop = stop
		opts := []mpb.ContainerOption{mpb.WithOutput(o.Terminal), mpb.WithWidth(72), mpb.WithRefreshRate(200 * time.Millisecond)}
		if o.console != nil {
			opts = append(opts, mpb.WithConsoleWriter(o.console))
		}
		if o.refresh != nil {
			opts = append(opts, mpb.WithManualRefresh(o.refresh))
		}
		p.bars = mpb.NewWithContext(ctx, opts...)
	}
	return p
}

// planned learns the plan's shape before it is carried out
// (reconcile.RunOptions.Planned).
func (p *progress) planned(plan *reconcile.Plan) {
	p.total = len(plan.Actions)
	for i := range plan.Actions {
		a := &plan.Actions[i]
		f := p.folders[groupOf(a)]
		if f == nil {
			f = &folderProgress{}
			p.folders[groupOf(a)] = f
		}
		f.total++
		f.bytesTotal.Add(a.Size)
	}
	if p.bars == nil || p.total < progressMinActions {
		return
	}
	p.start = time.Now()
	p.runBar = p.bars.AddBar(int64(p.total),
		mpb.PrependDecorators(decor.Name(p.pair+" ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d actions", decor.WCSyncSpace)),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string { return p.rate() }, decor.WCSyncSpace),
			decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO),
		),
	)
}

// rate is the bytes copied per second so far.
func (p *progress) rate() string {
	el := time.Since(p.start).Seconds()
	if el <= 0 {
		return ""
	}
	return humanBytes(int64(float64(p.bytesDone.Load())/el)) + "/s"
}

// step is reconcile.RunOptions.Progress: action a is done, done of
// total. Calls come one at a time, after planned.
func (p *progress) step(done, total int, a *reconcile.Action) {
	if p.verbose {
		uid := a.UID
		if a.Op == reconcile.Copy {
			uid = a.SrcUID
		}
		p.log.Info(fmt.Sprintf("[%s %d/%d] %s", p.pair, done, total, a),
			fieldPair, p.pair, fieldFolder, groupOf(a), fieldSide, a.Side.String(), fieldAction, a.Op.String(),
			fieldUID, uid, fieldDone, done, fieldTotal, total)
		return
	}
	f := p.folders[groupOf(a)]
	if f == nil || total < progressMinActions {
		return
	}
	f.done++
	f.bytesDone.Add(a.Size)
	p.bytesDone.Add(a.Size)
	if p.bars != nil {
		if f.bar == nil {
			name := groupOf(a)
			f.bar = p.bars.AddBar(int64(f.total), mpb.BarRemoveOnComplete(),
				mpb.PrependDecorators(decor.Name("  "+name+" ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d messages", decor.WCSyncSpace)),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
					if f.bytesTotal.Load() == 0 {
						return "" // no copies: no bytes to count
					}
					return humanBytes(f.bytesDone.Load()) + " of " + humanBytes(f.bytesTotal.Load())
				}, decor.WCSyncSpace)),
			)
		}
		f.bar.SetCurrent(int64(f.done))
		p.runBar.SetCurrent(int64(done))
		return
	}
	if f.done == f.total {
		p.log.Info(fmt.Sprintf("%s: folder %q done: %d action(s), %s copied (%d/%d actions)", p.pair, groupOf(a), f.total, humanBytes(f.bytesDone.Load()), done, total),
			fieldPair, p.pair, fieldFolder, groupOf(a), fieldDone, done, fieldTotal, total, fieldBytes, p.bytesDone.Load())
	}
}

// lines returns where log lines go while the bars are drawn (above
// them), or nil when there are no bars.
func (p *progress) lines() io.Writer {
	if p.bars == nil {
		return nil
	}
	return p.bars
}

// finish takes the bars off the terminal, whether the run finished or
// not. It is safe to call when nothing was drawn.
func (p *progress) finish() {
	if p.bars == nil {
		return
	}
	// Bars of a run cut short are aborted, so that Wait need not wait
	// for them: the folders' taken down, the run's left as it stood.
	for _, f := range p.folders {
		if f.bar != nil && !f.bar.Completed() {
			f.bar.Abort(true)
		}
	}
	if p.runBar != nil && !p.runBar.Completed() {
		p.runBar.Abort(false)
	}
	p.bars.Wait()
	p.stop()
	p.bars = nil
}

// useBars reports whether progress bars may be drawn on stderr: a
// terminal that is not TERM=dumb (bars move the cursor).
func useBars(lookupEnv func(string) (string, bool), isTerminal bool) bool {
	v, _ := lookupEnv("TERM")
	return isTerminal && v != "dumb"
}
