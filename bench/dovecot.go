package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// password is the password of every benchmark account.
const password = "bench-secret"

// dovecot is one Dovecot instance with one user, on 127.0.0.1, its
// config, log and Maildir storage in dir. It is the recipe of
// internal/imaptest/dovecot.go, which needs a testing.TB, with errors
// returned instead, and it can be stopped and started again on the
// same port so its Maildir can be swapped while it is down.
type dovecot struct {
	bin, doveadm   string
	dir, conf, log string
	user           string
	port           int
	addr           string
	// accounts the login, internal and mail processes run as
	loginUser, internalUser, internalGroup string
	uid, gid                               int
}

// newDovecot prepares (but does not start) an instance for user under a
// new directory in parent.
func newDovecot(parent, name, userName string) (*dovecot, error) {
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot" // not on a non-root user's PATH
		if _, err := os.Stat(bin); err != nil {
			return nil, errors.New("dovecot not installed: apt-get install dovecot-imapd")
		}
	}
	doveadm := filepath.Join(filepath.Dir(bin), "doveadm")
	if _, err := os.Stat(doveadm); err != nil {
		if doveadm, err = exec.LookPath("doveadm"); err != nil {
			return nil, fmt.Errorf("dovecot found at %s but no doveadm: %v", bin, err)
		}
	}
	// Unix socket paths must fit in ~108 bytes: keep dir short.
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &dovecot{bin: bin, doveadm: doveadm, dir: dir, user: userName,
		conf: filepath.Join(dir, "dovecot.conf"), log: filepath.Join(dir, "dovecot.log")}
	if err := d.prepare(); err != nil {
		return nil, fmt.Errorf("prepare dovecot in %s: %w", dir, err)
	}
	return d, nil
}

// maildir is the user's Maildir (Dovecot keeps its indexes in it too).
func (d *dovecot) maildir() string { return filepath.Join(d.dir, "mail", d.user) }

// home is the user's home directory.
func (d *dovecot) home() string { return filepath.Join(d.dir, "home", d.user) }

// prepare makes the directories and the passwd file, and picks the
// system users the processes run as: as root, Dovecot's own users (mail
// processes may never run as uid 0); otherwise everything runs as us.
func (d *dovecot) prepare() error {
	for _, sub := range []string{"run", "state", "mail", "home"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return err
		}
	}
	if os.Getuid() == 0 {
		d.loginUser, d.internalUser, d.internalGroup = "dovenull", "dovecot", "dovecot"
		u, err := user.Lookup("dovecot")
		if err != nil {
			return fmt.Errorf("running as root needs the system user dovecot (installed with dovecot-core): %w", err)
		}
		if _, err := user.Lookup("dovenull"); err != nil {
			return fmt.Errorf("running as root needs the system user dovenull (installed with dovecot-core): %w", err)
		}
		d.uid, _ = strconv.Atoi(u.Uid)
		d.gid, _ = strconv.Atoi(u.Gid)
		for _, sub := range []string{"mail", "home"} {
			if err := os.Chown(filepath.Join(d.dir, sub), d.uid, d.gid); err != nil {
				return err
			}
		}
	} else {
		me, err := user.Current()
		if err != nil {
			return err
		}
		g, err := user.LookupGroupId(me.Gid)
		if err != nil {
			return err
		}
		d.loginUser, d.internalUser, d.internalGroup = me.Username, me.Username, g.Name
		d.uid, d.gid = os.Getuid(), os.Getgid()
	}
	pw := fmt.Sprintf("%s:{PLAIN}%s::::::\n", d.user, password)
	return os.WriteFile(filepath.Join(d.dir, "passwd"), []byte(pw), 0o644)
}

func (d *dovecot) writeConfig() error {
	conf := fmt.Sprintf(`instance_name = bench-%[2]d
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = %[3]s
default_internal_user = %[4]s
default_internal_group = %[5]s
first_valid_uid = %[6]d
mail_location = maildir:%[1]s/mail/%%u
# a benchmark opens many connections from one address
mail_max_userip_connections = 100
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[6]d gid=%[7]d home=%[1]s/home/%%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \Drafts
    auto = create
  }
  mailbox Sent {
    special_use = \Sent
    auto = create
  }
  mailbox Trash {
    special_use = \Trash
    auto = create
  }
  mailbox Junk {
    special_use = \Junk
    auto = create
  }
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
`, d.dir, d.port, d.loginUser, d.internalUser, d.internalGroup, d.uid, d.gid)
	return os.WriteFile(d.conf, []byte(conf), 0o644)
}

// start starts the instance, on a free port the first time and on the
// same port afterwards.
func (d *dovecot) start() error {
	if d.port != 0 {
		return d.startOn()
	}
	// The free port is found by listening and closing, so another process
	// can take it before Dovecot binds it: retry a few times.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		d.port = port
		err = d.startOn()
		if err == nil {
			return nil
		}
		d.stop()
		if attempt == 3 || !strings.Contains(d.readLog(), "Address already in use") {
			d.port = 0
			return fmt.Errorf("start dovecot: %v\n--- %s ---\n%s", err, d.log, d.readLog())
		}
	}
}

// startOn runs the master (it daemonises) and waits until the port
// accepts connections, or the master dies, or 15 seconds pass.
func (d *dovecot) startOn() error {
	if err := d.writeConfig(); err != nil {
		return err
	}
	outPath := filepath.Join(d.dir, "dovecot.out")
	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, "-c", d.conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(outPath)
		return fmt.Errorf("%s -c %s: %v: %s", d.bin, d.conf, err, bytes.TrimSpace(msg))
	}
	d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if pid := d.masterPID(); pid > 0 && !alive(pid) {
			return fmt.Errorf("dovecot master exited before listening on %s", d.addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dovecot does not listen on %s after 15s: %v", d.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop runs doveadm stop and waits (bounded) until the master is gone.
func (d *dovecot) stop() error {
	pid := d.masterPID()
	if pid <= 0 || !alive(pid) {
		return nil
	}
	var out bytes.Buffer
	cmd := exec.Command(d.doveadm, "-c", d.conf, "stop")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	exited := make(chan error, 1)
	if cmd.Process != nil {
		go func() { exited <- cmd.Wait() }()
	}
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			err = fmt.Errorf("dovecot master %d still running 10s after doveadm stop (%s); killed it", pid, bytes.TrimSpace(out.Bytes()))
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if cmd.Process != nil {
		cmd.Process.Kill() // only waiting for the zombie to be reaped by now
		<-exited
	}
	return err
}

func (d *dovecot) masterPID() int {
	b, err := os.ReadFile(filepath.Join(d.dir, "run", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (d *dovecot) readLog() string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// alive reports whether process pid exists and is not a zombie (a
// daemonised master is reparented, and a container's init may not reap).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if _, serr := os.Stat("/proc/self"); serr != nil {
			return true // no procfs: trust kill
		}
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}
