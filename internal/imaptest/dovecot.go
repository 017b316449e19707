package imaptest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RequireDovecotEnv is the environment variable that turns a missing
// dovecot binary from a skip into a failure.
const RequireDovecotEnv = "MAILTWIN_REQUIRE_DOVECOT"

// DovecotOptions tunes StartDovecotWith.
type DovecotOptions struct {
	// Separator is the hierarchy delimiter of the namespace: "/" (the
	// default) or "." (Dovecot's own default for Maildir).
	Separator string
	// SpecialUse names the special-use folders, by role (`\Sent`,
	// `\Trash`, `\Drafts`, `\Junk`): {`\Sent`: "Sent Items"} makes the
	// account's \Sent folder "Sent Items". Roles not given keep their
	// default names (Drafts, Sent, Trash, Junk).
	SpecialUse map[string]string
	// Quota, if set, is the quota_rule of every user (quota plugin,
	// Maildir++ backend): "*:messages=6", "*:storage=10K". An APPEND
	// past it is refused with NO [OVERQUOTA].
	Quota string
}

// StartDovecot starts a Dovecot IMAP server on 127.0.0.1 with the given
// users (default "alice"), password Password, Maildir storage in a
// temporary directory, hierarchy delimiter "/" and special-use folders
// Drafts, Sent, Trash and Junk (auto-created). It has CONDSTORE, MOVE,
// UIDPLUS, LIST-STATUS and SPECIAL-USE. The server is stopped when the
// test ends.
//
// Without a dovecot binary the test is skipped, or fails when
// MAILTWIN_REQUIRE_DOVECOT=1.
func StartDovecot(t testing.TB, users ...string) *Server {
	t.Helper()
	return StartDovecotWith(t, DovecotOptions{}, users...)
}

// StartDovecotWith is StartDovecot with options.
func StartDovecotWith(t testing.TB, opts DovecotOptions, users ...string) *Server {
	t.Helper()
	if len(users) == 0 {
		users = []string{"alice"}
	}
	if opts.Separator == "" {
		opts.Separator = "/"
	}
	if opts.Separator != "/" && opts.Separator != "." {
		t.Fatalf("imaptest: unsupported Dovecot separator %q (want \"/\" or \".\")", opts.Separator)
	}
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot" // not on a non-root user's PATH
		_, err = os.Stat(bin)
	}
	if err != nil || !canRunDovecot {
		if os.Getenv(RequireDovecotEnv) == "1" {
			t.Fatalf("imaptest: dovecot not installed and %s=1: apt-get install dovecot-imapd", RequireDovecotEnv)
		}
		t.Skip("dovecot not installed: apt-get install dovecot-imapd, or set MAILTWIN_REQUIRE_DOVECOT=1 to make this a failure")
	}
	doveadm := filepath.Join(filepath.Dir(bin), "doveadm")
	if _, err := os.Stat(doveadm); err != nil {
		if doveadm, err = exec.LookPath("doveadm"); err != nil {
			t.Fatalf("imaptest: dovecot found at %s but no doveadm: %v", bin, err)
		}
	}

	// Dovecot's unix socket paths must fit in ~108 bytes, and t.TempDir
	// paths (named after the test) can be longer: use a short directory
	// of our own for everything.
	dir, err := os.MkdirTemp("", "dc")
	if err != nil {
		t.Fatalf("imaptest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The auth process runs as default_internal_user and must traverse
	// the directory; MkdirTemp makes it 0700.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("imaptest: %v", err)
	}

	d := &dovecot{bin: bin, doveadm: doveadm, dir: dir, conf: filepath.Join(dir, "dovecot.conf"), log: filepath.Join(dir, "dovecot.log")}
	if err := d.prepare(users); err != nil {
		t.Fatalf("imaptest: prepare dovecot in %s: %v", dir, err)
	}
	// The free port is found by listening and closing, so another process
	// can take it before Dovecot binds it: retry a few times.
	var addr string
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("imaptest: %v", err)
		}
		if err := d.writeConfig(port, opts.Separator, opts.SpecialUse, opts.Quota); err != nil {
			t.Fatalf("imaptest: write dovecot config: %v", err)
		}
		addr, err = d.start(port)
		if err == nil {
			break
		}
		d.stop()
		if attempt == 3 || !strings.Contains(d.readLog(), "Address already in use") {
			t.Fatalf("imaptest: start dovecot: %v\n--- %s ---\n%s", err, d.log, d.readLog())
		}
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("imaptest: stop dovecot: %v", err)
		}
	})
	return &Server{Addr: addr, Kind: "dovecot", Delim: rune(opts.Separator[0]), Users: users, dovecot: d}
}

type dovecot struct {
	bin, doveadm   string
	dir, conf, log string
	// accounts the login, internal and mail processes run as
	loginUser, internalUser, internalGroup string
	uid, gid                               int
}

// prepare makes the directories and the passwd file, and picks the
// system users the processes run as: as root, Dovecot's own users (mail
// processes may never run as uid 0); otherwise everything runs as us.
func (d *dovecot) prepare(users []string) error {
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
	for _, u := range users {
		fmt.Fprintf(&pw, "%s:{PLAIN}%s::::::\n", u, Password)
	}
	return os.WriteFile(filepath.Join(d.dir, "passwd"), []byte(pw.String()), 0o644)
}

// specialUseConfig writes the namespace's special-use mailboxes: the
// default names, or those special gives per role.
func specialUseConfig(special map[string]string) string {
	var b strings.Builder
	for _, r := range []struct{ role, name string }{{`\Drafts`, "Drafts"}, {`\Sent`, "Sent"}, {`\Trash`, "Trash"}, {`\Junk`, "Junk"}} {
		name := r.name
		if n, ok := special[r.role]; ok {
			name = n
		}
		fmt.Fprintf(&b, "  mailbox %q {\n    special_use = %s\n    auto = create\n  }\n", name, r.role)
	}
	return b.String()
}

func (d *dovecot) writeConfig(port int, sep string, special map[string]string, quota string) error {
	conf := fmt.Sprintf(`instance_name = imaptest-%[2]d
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# tests try wrong passwords on purpose: no delays
auth_failure_delay = 0
default_login_user = %[3]s
default_internal_user = %[4]s
default_internal_group = %[5]s
first_valid_uid = %[6]d
mail_location = maildir:%[1]s/mail/%%u
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
`, d.dir, port, d.loginUser, d.internalUser, d.internalGroup, d.uid, d.gid, sep, specialUseConfig(special))
	if quota != "" {
		conf += fmt.Sprintf("mail_plugins = $mail_plugins quota\nplugin {\n  quota = maildir:User quota\n  quota_rule = %s\n}\n", quota)
	}
	return os.WriteFile(d.conf, []byte(conf), 0o644)
}

// start runs the master (it daemonises) and waits until the port
// accepts connections, or the master dies, or 15 seconds pass.
func (d *dovecot) start(port int) (string, error) {
	// The daemonised master inherits stdout and stderr: give it a file,
	// not a pipe, or waiting for the command waits for the master.
	outPath := filepath.Join(d.dir, "dovecot.out")
	out, err := os.Create(outPath)
	if err != nil {
		return "", err
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, "-c", d.conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(outPath)
		return "", fmt.Errorf("%s -c %s: %v: %s", d.bin, d.conf, err, bytes.TrimSpace(msg))
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, nil
		}
		if pid := d.masterPID(); pid > 0 && !alive(pid) {
			return "", fmt.Errorf("dovecot master exited before listening on %s", addr)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("dovecot does not listen on %s after 15s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop runs doveadm stop and waits (bounded) until the master is gone,
// so the directory can be removed. doveadm itself waits until the master
// pid disappears, which in a container whose init reaps zombies slowly
// takes seconds after the master has exited: once the master is dead or
// a zombie, doveadm has done its job and is ended.
func (d *dovecot) stop() error {
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
