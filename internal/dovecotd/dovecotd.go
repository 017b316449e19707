// Package dovecotd runs a throwaway Dovecot IMAP server on 127.0.0.1,
// for the tests (internal/imaptest) and the benchmark (bench): its own
// config, log, passwd file and Maildir storage in one directory, users
// with one password, plain-text login, special-use folders Drafts, Sent,
// Trash and Junk (auto-created), CONDSTORE, MOVE, UIDPLUS, LIST-STATUS;
// optionally OAuth2 access tokens through Dovecot's oauth2 passdb (see
// OAuth2).
// It can be stopped and started again on the same port, so the Maildir
// can be swapped while it is down.
package dovecotd

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
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNotInstalled is returned by Find when there is no dovecot binary.
var ErrNotInstalled = errors.New("dovecot not installed: apt-get install dovecot-imapd")

// Config is what a Server serves.
type Config struct {
	// Users are the accounts, each with Password.
	Users    []string
	Password string
	// Separator is the hierarchy delimiter: "/" (the default) or ".".
	Separator string
	// SpecialUse renames special-use folders by role (`\Sent`: "Sent
	// Items"); roles not given keep Drafts, Sent, Trash and Junk.
	SpecialUse map[string]string
	// ExtraSpecialUse gives more mailboxes a special-use attribute, by
	// name ("All Mail": `\All`, "Important": `\Important`). They are
	// not created: a user's mailbox of that name carries the attribute
	// once the user has it.
	ExtraSpecialUse map[string]string
	// Quota, if set, is every user's quota_rule (quota plugin, Maildir++
	// backend): "*:messages=6", "*:storage=10K".
	Quota string
	// Capability, if set, is the capability list the server announces
	// after login (imap_capability), in place of its own: a server
	// without some extension, such as "IMAP4rev1 LITERAL+ UIDPLUS MOVE
	// CONDSTORE" without UNSELECT.
	Capability string
	// OAuth2, if set, makes the server take OAuth2 access tokens too
	// (see OAuth2).
	OAuth2 *OAuth2
	// ACL, if set, turns on the acl plugin with these global ACL lines
	// (Dovecot's vfile format, "mailbox identifier rights" per line):
	// "Shared user=bob lrsteikx" leaves bob's Shared without the w
	// right, so it takes no flags but \Seen and \Deleted (PERMANENTFLAGS).
	ACL string
}

// Server is one Dovecot instance.
type Server struct {
	// Addr is host:port once started.
	Addr string

	cfg            Config
	bin, doveadm   string
	dir, conf, log string
	port           int
	// accounts the login, internal and mail processes run as
	loginUser, internalUser, internalGroup string
	uid, gid                               int
}

// Find returns the dovecot and doveadm binaries, or an error matching
// ErrNotInstalled.
func Find() (bin, doveadm string, err error) {
	bin, err = exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot" // not on a non-root user's PATH
		_, err = os.Stat(bin)
	}
	if err != nil || !Supported {
		return "", "", ErrNotInstalled
	}
	doveadm = filepath.Join(filepath.Dir(bin), "doveadm")
	if _, err := os.Stat(doveadm); err != nil {
		if doveadm, err = exec.LookPath("doveadm"); err != nil {
			return "", "", fmt.Errorf("dovecot found at %s but no doveadm: %w", bin, err)
		}
	}
	return bin, doveadm, nil
}

// New prepares, but does not start, a server in dir, which must exist
// and have a short path: Dovecot's unix socket paths must fit in about
// 108 bytes.
func New(dir string, cfg Config) (*Server, error) {
	if cfg.Separator == "" {
		cfg.Separator = "/"
	}
	if cfg.Separator != "/" && cfg.Separator != "." {
		return nil, fmt.Errorf("unsupported Dovecot separator %q (want \"/\" or \".\")", cfg.Separator)
	}
	bin, doveadm, err := Find()
	if err != nil {
		return nil, err
	}
	// The auth process runs as default_internal_user and must traverse
	// the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	d := &Server{cfg: cfg, bin: bin, doveadm: doveadm, dir: dir, conf: filepath.Join(dir, "dovecot.conf"), log: filepath.Join(dir, "dovecot.log")}
	if err := d.prepare(); err != nil {
		return nil, fmt.Errorf("prepare dovecot in %s: %w", dir, err)
	}
	return d, nil
}

// LogPath is the server's log file.
func (d *Server) LogPath() string { return d.log }

// MailDir is user's Maildir (Dovecot keeps its indexes in it too).
func (d *Server) MailDir(user string) string { return filepath.Join(d.dir, "mail", user) }

// prepare makes the directories and the passwd file, and picks the
// system users the processes run as: as root, Dovecot's own users (mail
// processes may never run as uid 0); otherwise everything runs as us.
func (d *Server) prepare() error {
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
	var pw strings.Builder
	for _, u := range d.cfg.Users {
		fmt.Fprintf(&pw, "%s:{PLAIN}%s::::::\n", u, d.cfg.Password)
	}
	return os.WriteFile(filepath.Join(d.dir, "passwd"), []byte(pw.String()), 0o644)
}

// specialUseConfig writes the namespace's special-use mailboxes: the
// default names, or those special gives per role, auto-created; then
// the mailboxes of extra, by name, not created.
func specialUseConfig(special, extra map[string]string) string {
	var b strings.Builder
	for _, r := range []struct{ role, name string }{{`\Drafts`, "Drafts"}, {`\Sent`, "Sent"}, {`\Trash`, "Trash"}, {`\Junk`, "Junk"}} {
		name := r.name
		if n, ok := special[r.role]; ok {
			name = n
		}
		fmt.Fprintf(&b, "  mailbox %q {\n    special_use = %s\n    auto = create\n  }\n", name, r.role)
	}
	names := make([]string, 0, len(extra))
	for n := range extra {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  mailbox %q {\n    special_use = %s\n  }\n", n, extra[n])
	}
	return b.String()
}

func (d *Server) writeConfig() error {
	conf := fmt.Sprintf(`instance_name = dovecotd-%[2]d
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = %[10]s
# tests try wrong passwords on purpose: no delays
auth_failure_delay = 0
# tests and the benchmark open many connections from one address
mail_max_userip_connections = 100
default_login_user = %[3]s
default_internal_user = %[4]s
default_internal_group = %[5]s
first_valid_uid = %[6]d
mail_location = maildir:%[1]s/mail/%%u
%[11]suserdb {
  driver = static
  args = uid=%[6]d gid=%[7]d home=%[1]s/home/%%u
}
namespace inbox {
  inbox = yes
  separator = %[8]s
%[9]s}
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
`, d.dir, d.port, d.loginUser, d.internalUser, d.internalGroup, d.uid, d.gid, d.cfg.Separator, specialUseConfig(d.cfg.SpecialUse, d.cfg.ExtraSpecialUse), d.mechanisms(), d.passdbs())
	if d.cfg.Capability != "" {
		conf += fmt.Sprintf("imap_capability = %s\n", d.cfg.Capability)
	}
	if d.cfg.Quota != "" {
		conf += fmt.Sprintf("mail_plugins = $mail_plugins quota\nplugin {\n  quota = maildir:User quota\n  quota_rule = %s\n}\n", d.cfg.Quota)
	}
	if d.cfg.ACL != "" {
		aclFile := filepath.Join(d.dir, "global-acl")
		if err := os.WriteFile(aclFile, []byte(d.cfg.ACL+"\n"), 0o644); err != nil {
			return err
		}
		conf += fmt.Sprintf("mail_plugins = $mail_plugins acl\nprotocol imap {\n  mail_plugins = $mail_plugins imap_acl\n}\nplugin {\n  acl = vfile:%s\n}\n", aclFile)
	}
	if err := d.writeOAuth2(); err != nil {
		return err
	}
	return os.WriteFile(d.conf, []byte(conf), 0o644)
}

// Start starts the server, on a free port the first time and on the same
// port afterwards, and returns once the port accepts connections.
func (d *Server) Start() error {
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
		d.Stop()
		if attempt == 3 || !strings.Contains(d.ReadLog(), "Address already in use") {
			d.port = 0
			return fmt.Errorf("start dovecot: %v\n--- %s ---\n%s", err, d.log, d.ReadLog())
		}
	}
}

// startOn runs the master (it daemonises) and waits until the port
// accepts connections, or the master dies, or 15 seconds pass.
func (d *Server) startOn() error {
	if err := d.writeConfig(); err != nil {
		return fmt.Errorf("write dovecot config: %w", err)
	}
	// The daemonised master inherits stdout and stderr: give it a file,
	// not a pipe, or waiting for the command waits for the master.
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
	d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if pid := d.masterPID(); pid > 0 && !alive(pid) {
			return fmt.Errorf("dovecot master exited before listening on %s", d.Addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dovecot does not listen on %s after 15s: %v", d.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop runs doveadm stop and waits (bounded) until the master is gone,
// so the directory can be removed. doveadm itself waits until the master
// pid disappears, which in a container whose init reaps zombies slowly
// takes seconds after the master has exited: once the master is dead or
// a zombie, doveadm has done its job and is ended.
func (d *Server) Stop() error {
	pid := d.masterPID()
	if pid <= 0 || !alive(pid) {
		return nil
	}
	var out bytes.Buffer
	cmd := exec.Command(d.doveadm, "-c", d.conf, "stop")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		signal(pid, false)
	}
	exited := make(chan error, 1)
	if cmd.Process != nil {
		go func() { exited <- cmd.Wait() }()
	}
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for alive(pid) {
		if time.Now().After(deadline) {
			signal(pid, true)
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

// PID returns the process ID of the running server's master process,
// or 0 when it is not running.
func (d *Server) PID() int { return d.masterPID() }

func (d *Server) masterPID() int {
	b, err := os.ReadFile(filepath.Join(d.dir, "run", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// ReadLog returns the server's log, or why it cannot.
func (d *Server) ReadLog() string {
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
