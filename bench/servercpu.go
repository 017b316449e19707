package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Server CPU: what a run cost the two Dovecots, read from procfs. The
// master process reaps the imap and imap-login processes of each
// connection when they exit, so their time shows in its cutime and
// cstime; the long-lived children (auth, config, log, anvil, stats) are
// summed as they are. The kernel counts in clock ticks (10 ms at 100
// Hz): a single short process is rounded, the sum over a run's dozens
// of processes is not far off, and medians over repetitions smooth the
// rest.

// clockTick is the kernel's USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// procStat is the CPU fields of /proc/PID/stat: own user and system
// time, and that of the children the process waited for.
type procStat struct {
	ppid                         int
	comm                         string
	utime, stime, cutime, cstime int64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	// After "pid (comm) ": state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime cutime cstime ...
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	st := procStat{comm: string(b[open+1 : end])}
	st.ppid, _ = strconv.Atoi(f[1])
	for i, p := range []*int64{&st.utime, &st.stime, &st.cutime, &st.cstime} {
		*p, _ = strconv.ParseInt(f[11+i], 10, 64)
	}
	return st, nil
}

// children returns the stats of the live processes whose parent is pid.
func children(pid int) []procStat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procStat
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(n); err == nil && st.ppid == pid {
			out = append(out, st)
		}
	}
	return out
}

// serverCPU returns the CPU time the server with master process pid has
// used so far: the master's, its live children's, and that of the
// children it reaped.
func serverCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	m, err := readStat(pid)
	if err != nil {
		return 0
	}
	ticks := m.utime + m.stime + m.cutime + m.cstime
	for _, c := range children(pid) {
		ticks += c.utime + c.stime + c.cutime + c.cstime
	}
	return time.Duration(ticks) * clockTick
}

// settle waits, at most a second, until the server with master process
// pid has no imap or imap-login process left: the connections of the run
// that just ended are gone and reaped, so their CPU time is counted.
func settle(pid int) {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		busy := false
		for _, c := range children(pid) {
			if c.comm == "imap" || c.comm == "imap-login" {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
