package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// profileHook is added to mailtwin's main package at build time (go
// build -overlay), never to the repository: with
// MAILTWIN_BENCH_CPUPROFILE set, the binary writes a CPU profile there,
// with MAILTWIN_BENCH_MEMPROFILE an allocation profile at exit, and
// with MAILTWIN_BENCH_HEAPPROFILE the heap profile at about the peak of
// the heap in use, and with MAILTWIN_BENCH_TRACE an execution trace (go
// tool trace): where the wall time went, which a CPU profile of a run
// that mostly waits on the servers does not show.
const profileHook = `package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"
)

var benchCPUProfile, benchTrace *os.File

func init() {
	if p := os.Getenv("MAILTWIN_BENCH_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			benchCPUProfile = f
		}
	}
	if p := os.Getenv("MAILTWIN_BENCH_TRACE"); p != "" {
		if f, err := os.Create(p); err == nil && trace.Start(f) == nil {
			benchTrace = f
		}
	}
	if p := os.Getenv("MAILTWIN_BENCH_HEAPPROFILE"); p != "" {
		go benchPeakHeap(p)
	}
}

// benchPeakHeap writes the heap profile to path whenever the heap in
// use is the largest seen so far, checked every 200 ms: the in-use
// figures of the last one written are those of (about) the peak.
func benchPeakHeap(path string) {
	var peak uint64
	for range time.Tick(200 * time.Millisecond) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse <= peak {
			continue
		}
		peak = ms.HeapInuse
		if f, err := os.Create(path); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
}

func benchProfileStop() {
	if benchTrace != nil {
		trace.Stop()
		benchTrace.Close()
	}
	if benchCPUProfile != nil {
		pprof.StopCPUProfile()
		benchCPUProfile.Close()
	}
	if p := os.Getenv("MAILTWIN_BENCH_MEMPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
}
`

// profile builds a mailtwin whose main stops a profile before it exits
// (main.go with benchProfileStop() before its os.Exit, through an
// overlay) and runs the workloads once with it, a CPU, an allocation
// and a peak-heap profile and an execution trace per workload in dir. The run is not in the
// table: profiling slows it.
func profile(root, tmp, dir string, da, db *dovecot, pa, pb *proxy, golden string, seedVal uint64, folders []string, frac float64, bigSize, conns int) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(root, "main.go"))
	if err != nil {
		return err
	}
	const exit = "\tos.Exit(code)\n"
	if strings.Count(string(src), exit) != 1 {
		return fmt.Errorf("main.go has no single %q to put the profile's stop before", strings.TrimSpace(exit))
	}
	ov := filepath.Join(tmp, "overlay")
	if err := os.MkdirAll(ov, 0o755); err != nil {
		return err
	}
	mainGo := filepath.Join(ov, "main.go")
	hookGo := filepath.Join(ov, "zz_benchprofile.go")
	if err := os.WriteFile(mainGo, []byte(strings.Replace(string(src), exit, "\tbenchProfileStop()\n"+exit, 1)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(hookGo, []byte(profileHook), 0o644); err != nil {
		return err
	}
	spec, _ := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(root, "main.go"):            mainGo,
		filepath.Join(root, "zz_benchprofile.go"): hookGo,
	}})
	specPath := filepath.Join(ov, "overlay.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		return err
	}
	bin := filepath.Join(dir, "mailtwin")
	logf("building a profiling mailtwin into %s", bin)
	if err := goBuild(root, bin, specPath); err != nil {
		return err
	}
	t := mailtwinTool(bin, filepath.Join(tmp, "tools", "mailtwin-profile"))
	t.connections = conns
	_, err = runTool(t, 0, da, db, pa, pb, golden, seedVal, folders, frac, bigSize, func(w string) []string {
		return []string{
			"MAILTWIN_BENCH_CPUPROFILE=" + filepath.Join(dir, w+".cpu.pprof"),
			"MAILTWIN_BENCH_MEMPROFILE=" + filepath.Join(dir, w+".allocs.pprof"),
			"MAILTWIN_BENCH_HEAPPROFILE=" + filepath.Join(dir, w+".peakheap.pprof"),
			"MAILTWIN_BENCH_TRACE=" + filepath.Join(dir, w+".trace"),
		}
	})
	if err != nil {
		return err
	}
	logf("profiles in %s: go tool pprof -top %s %s", dir, bin, filepath.Join(dir, "b1.cpu.pprof"))
	return nil
}
