package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// tool is one sync program under test. Its state lives in dir, which
// reset empties; config writes its configuration for the two proxies.
type tool struct {
	name string
	// command returns the command line of one sync run.
	command func(t *tool) []string
	// config writes the configuration into t.dir.
	config func(t *tool, portA, portB int) error
	dir    string
	env    []string
	// connections, for mailtwin, is the accounts' connections setting
	// (0: not set, mailtwin's default).
	connections int
}

// exec is the outcome of one run of a tool.
type execResult struct {
	start  time.Time
	wall   time.Duration
	cpu    time.Duration // the tool's own user and system time
	maxRSS int64         // bytes
	err    error
	log    string // where its output went
}

// reset empties the tool's state and writes its configuration.
func (t *tool) reset(portA, portB int) error {
	if err := os.RemoveAll(t.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return err
	}
	return t.config(t, portA, portB)
}

// run runs one sync, its output to a log file named after label, with
// env added to its environment.
func (t *tool) run(label string, env ...string) execResult {
	args := t.command(t)
	logPath := filepath.Join(t.dir, label+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return execResult{err: err}
	}
	defer out.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = t.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(append(os.Environ(), t.env...), env...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return execResult{err: err}
	}
	// Peak RSS is the VmHWM of /proc/PID/status, read every 2 ms until
	// the process exits. wait4's ru_maxrss cannot be used: a child
	// started by Go (vfork) inherits the bench's own high-water mark at
	// exec, so every tool would read at least the bench's RSS.
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var hwm int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := vmHWM(cmd.Process.Pid); v > hwm {
				hwm = v
			}
			select {
			case <-done:
				peak <- hwm
				return
			case <-tick.C:
			}
		}
	}()
	err = cmd.Wait()
	r := execResult{start: start, wall: time.Since(start), log: logPath}
	if ps := cmd.ProcessState; ps != nil {
		// Its children's too, those it waited for.
		r.cpu = ps.UserTime() + ps.SystemTime()
	}
	close(done)
	r.maxRSS = <-peak
	if err != nil {
		b, _ := os.ReadFile(logPath)
		if len(b) > 600 {
			b = b[len(b)-600:]
		}
		r.err = fmt.Errorf("%s: %v: %s", args[0], err, b)
	}
	return r
}

func writeFile(path, text string) error {
	return os.WriteFile(path, []byte(text), 0o600)
}

// mailtwinTool runs the mailtwin binary bin: one pair, both ways,
// deletions propagated (as mbsync's Expunge Both).
func mailtwinTool(bin, dir string) *tool {
	return &tool{
		name: "mailtwin",
		dir:  dir,
		command: func(t *tool) []string {
			return []string{bin, "-c", filepath.Join(t.dir, "mailtwin.hcl"), "apply"}
		},
		config: func(t *tool, portA, portB int) error {
			conns := ""
			if t.connections > 0 {
				conns = fmt.Sprintf("\n  connections = %d", t.connections)
			}
			return writeFile(filepath.Join(t.dir, "mailtwin.hcl"), fmt.Sprintf(`state {
  path = %q
}

account "a" {
  host     = "127.0.0.1"
  port     = %d
  tls      = "none"
  username = "a"
  password = %q%s
}

account "b" {
  host     = "127.0.0.1"
  port     = %d
  tls      = "none"
  username = "b"
  password = %q%s
}

pair "bench" {
  a = "a"
  b = "b"
  defaults {
    direction = "both"
    deletion  = "propagate"
  }
}
`, filepath.Join(t.dir, "state"), portA, password, conns, portB, password, conns))
		},
	}
}

// mbsyncTool runs isync's mbsync: an IMAP-to-IMAP channel, A far and B
// near, Sync All, Create Both, Expunge Both, its state in the tool's
// directory.
func mbsyncTool(dir string) *tool {
	return &tool{
		name: "mbsync",
		dir:  dir,
		command: func(t *tool) []string {
			return []string{"mbsync", "-q", "-c", filepath.Join(t.dir, "mbsyncrc"), "bench"}
		},
		config: func(t *tool, portA, portB int) error {
			if err := os.MkdirAll(filepath.Join(t.dir, "syncstate"), 0o700); err != nil {
				return err
			}
			acct := func(name string, port int) string {
				return fmt.Sprintf(`IMAPAccount %[1]s
Host 127.0.0.1
Port %[2]d
User %[1]s
Pass %[3]s
SSLType None
AuthMechs LOGIN

IMAPStore %[1]s
Account %[1]s

`, name, port, password)
			}
			return writeFile(filepath.Join(t.dir, "mbsyncrc"), acct("a", portA)+acct("b", portB)+fmt.Sprintf(`Channel bench
Far :a:
Near :b:
Patterns *
Sync All
Create Both
Remove None
Expunge Both
SyncState %s/
`, filepath.Join(t.dir, "syncstate")))
		},
	}
}

// interimapTool runs interimap with A as its [remote] and B as its
// [local], both plain IMAP on loopback, compression off (so the proxy
// can read the traffic; neither Dovecot here offers COMPRESS anyway).
func interimapTool(dir string) *tool {
	return &tool{
		name: "interimap",
		dir:  dir,
		env:  []string{"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config")},
		command: func(t *tool) []string {
			return []string{"interimap", "--config=" + filepath.Join(t.dir, "interimap.conf")}
		},
		config: func(t *tool, portA, portB int) error {
			return writeFile(filepath.Join(t.dir, "interimap.conf"), fmt.Sprintf(`database = %s

[local]
type = imap
host = 127.0.0.1
port = %d
STARTTLS = NO
username = b
password = %s
compress = NO

[remote]
type = imap
host = 127.0.0.1
port = %d
STARTTLS = NO
username = a
password = %s
compress = NO
`, filepath.Join(t.dir, "interimap.db"), portB, password, portA, password))
		},
	}
}

// vmHWM returns the peak resident set size of process pid in bytes, 0
// when it cannot be read (the process is gone, or is a zombie).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// noneTool syncs nothing: a control for the check, whose every run
// after the seeding must be marked failed.
func noneTool(dir string) *tool {
	return &tool{
		name:    "none",
		dir:     dir,
		command: func(*tool) []string { return []string{"true"} },
		config:  func(*tool, int, int) error { return nil },
	}
}
