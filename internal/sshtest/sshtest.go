// Package sshtest runs a throwaway OpenSSH server (Debian's sshd) on
// 127.0.0.1 for the tests of ssh state remotes, and an ssh-agent: a
// fresh ed25519 host key, a client key pair authorized on the server,
// and a known_hosts file holding the host key for [127.0.0.1]:PORT, all
// in the test's temporary directory. Logins are by key only, as the
// user running the tests (root in CI); the server runs git-upload-pack
// and git-receive-pack through that user's shell, so git must be
// installed.
//
// Without sshd or ssh-keygen a test is skipped, unless
// MAILTWIN_REQUIRE_DOVECOT=1 (the switch for "real servers required",
// set by CI), which makes it a failure.
package sshtest

import (
	"bufio"
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
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing sshd or
// ssh-keygen from a skip into a failure; it is the one that requires
// Dovecot (imaptest.RequireDovecotEnv), so CI needs one switch.
const RequireEnv = "MAILTWIN_REQUIRE_DOVECOT"

// startTimeout bounds the wait for sshd or ssh-agent to come up; it is
// a safety net against a hang, not a timing assumption: both say when
// they are ready.
const startTimeout = 15 * time.Second

// Server is one running sshd.
type Server struct {
	// Addr is 127.0.0.1:PORT.
	Addr string
	// Port is the port sshd listens on.
	Port int
	// User is the account to log in as: the user running the tests.
	User string
	// KeyFile is a private key (ed25519, no passphrase) the server
	// accepts for User; KeyFile+".pub" is its public key.
	KeyFile string
	// KnownHosts is a known_hosts file holding the server's host key
	// for [127.0.0.1]:PORT.
	KnownHosts string
	// HostKey is the server's public host key, "ssh-ed25519 AAAA...".
	HostKey string

	dir string
	log *logWriter
}

// find returns the path of sshd, or why it or ssh-keygen is missing.
func find() (sshd string, err error) {
	sshd, err = exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd" // not on a non-root user's PATH
		if _, err = os.Stat(sshd); err != nil {
			return "", errors.New("sshd not installed (apt-get install openssh-server)")
		}
	}
	// sshd re-executes itself for each connection: it must be started
	// by its absolute path.
	if sshd, err = filepath.Abs(sshd); err != nil {
		return "", err
	}
	if _, err = exec.LookPath("ssh-keygen"); err != nil {
		return "", errors.New("ssh-keygen not installed (apt-get install openssh-client)")
	}
	return sshd, nil
}

// need skips t, or fails it under RequireEnv=1, when a tool is missing.
func need(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("sshtest: %v, and %s=1 requires the real servers", err, RequireEnv)
	}
	t.Skipf("sshtest: %v; set %s=1 to make this a failure", err, RequireEnv)
}

// KeyPair makes an ed25519 key pair without a passphrase with
// ssh-keygen, dir/name and dir/name.pub, and returns the private key's
// path and the public key ("ssh-ed25519 AAAA... comment").
func KeyPair(t testing.TB, dir, name string) (keyFile, pub string) {
	t.Helper()
	keyFile = keyPairOfType(t, dir, name, "ed25519")
	b, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return keyFile, strings.TrimSpace(string(b))
}

// Options tunes StartWith.
type Options struct {
	// ExtraHostKeys are key types (ssh-keygen -t: "ecdsa", "rsa") of
	// further host keys the server offers besides its ed25519 key. They
	// are not in KnownHosts: a client that knows only the ed25519 key
	// must ask for it, as with a real server that has several.
	ExtraHostKeys []string
}

// keyPairOfType makes a key pair of type typ (ssh-keygen -t) without a
// passphrase, dir/name and dir/name.pub, and returns dir/name.
func keyPairOfType(t testing.TB, dir, name, typ string) string {
	t.Helper()
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		need(t, errors.New("ssh-keygen not installed (apt-get install openssh-client)"))
	}
	keyFile := filepath.Join(dir, name)
	if out, err := exec.Command(keygen, "-q", "-t", typ, "-N", "", "-C", "mailtwin-test-"+name, "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("sshtest: ssh-keygen -t %s %s: %v\n%s", typ, name, err, out)
	}
	return keyFile
}

// Start starts sshd on a free port of 127.0.0.1 and returns once it
// listens. It is stopped when the test ends; if the test failed, its log
// is logged.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	sshd, err := find()
	need(t, err)
	me, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: current user: %v", err)
	}
	if os.Getuid() == 0 {
		// sshd running as root separates privileges into this directory,
		// which the ssh service creates at boot; a machine that never ran
		// it (a container) has none.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshtest: privilege separation directory: %v", err)
		}
	}
	s := &Server{User: me.Username, dir: t.TempDir()}
	hostKey, hostPub := KeyPair(t, s.dir, "host_ed25519")
	s.HostKey = strings.Join(strings.Fields(hostPub)[:2], " ")
	hostKeys := []string{hostKey}
	for _, typ := range opts.ExtraHostKeys {
		hostKeys = append(hostKeys, keyPairOfType(t, s.dir, "host_"+typ, typ))
	}
	var clientPub string
	s.KeyFile, clientPub = KeyPair(t, s.dir, "id_ed25519")
	if err := os.WriteFile(filepath.Join(s.dir, "authorized_keys"), []byte(clientPub+"\n"), 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	conf := filepath.Join(s.dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(s.config(hostKeys)), 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}

	// The free port is found by listening and closing, so another
	// process can take it before sshd binds it: retry then.
	var cmd *exec.Cmd
	var exited chan error
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("sshtest: free port: %v", err)
		}
		s.log = newLogWriter("Server listening on 127.0.0.1 port " + strconv.Itoa(port))
		cmd = exec.Command(sshd, "-D", "-e", "-f", conf, "-p", strconv.Itoa(port))
		cmd.Stdout, cmd.Stderr = s.log, s.log
		// A connection's process that outlives the listener keeps the
		// log pipe open: do not wait for it for ever.
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatalf("sshtest: start %s: %v", sshd, err)
		}
		exited = make(chan error, 1)
		go func(c *exec.Cmd) { exited <- c.Wait() }(cmd)
		err = nil
		select {
		case <-s.log.ready:
		case werr := <-exited:
			err = fmt.Errorf("sshd exited: %v", werr)
		case <-time.After(startTimeout):
			cmd.Process.Kill()
			<-exited
			err = fmt.Errorf("sshd did not listen within %v", startTimeout)
		}
		if err == nil {
			s.Port = port
			break
		}
		if attempt == 3 || !strings.Contains(s.log.String(), "Address already in use") {
			t.Fatalf("sshtest: %v\n--- sshd log ---\n%s", err, s.log)
		}
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		if t.Failed() {
			t.Logf("sshtest: sshd log:\n%s", s.log)
		}
	})
	s.KnownHosts = filepath.Join(s.dir, "known_hosts")
	if err := os.WriteFile(s.KnownHosts, []byte(s.KnownHostsLine(s.HostKey)+"\n"), 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return s
}

// config is sshd_config: key logins only, as the user running the
// tests (root included), everything in the server's directory.
func (s *Server) config(hostKeys []string) string {
	q := strconv.Quote
	var lines []string
	for _, k := range hostKeys {
		lines = append(lines, "HostKey "+q(k))
	}
	return strings.Join(append(lines,
		"ListenAddress 127.0.0.1",
		"PidFile "+q(filepath.Join(s.dir, "sshd.pid")),
		"AuthorizedKeysFile "+q(filepath.Join(s.dir, "authorized_keys")),
		"AllowUsers "+s.User,
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"StrictModes no",
		"UsePAM no",
		"AllowTcpForwarding no",
		"AllowAgentForwarding no",
		"X11Forwarding no",
		"PrintMotd no",
		"LogLevel VERBOSE",
		"",
	), "\n")
}

// URL returns the ssh:// URL of the absolute path on the server, as
// User.
func (s *Server) URL(path string) string {
	return "ssh://" + s.User + "@" + s.Addr + path
}

// KnownHostsLine returns the known_hosts line giving key ("ssh-ed25519
// AAAA...") as the host key of this server's address.
func (s *Server) KnownHostsLine(key string) string {
	return fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, key)
}

// Log returns what sshd logged so far.
func (s *Server) Log() string { return s.log.String() }

// StartAgent starts an ssh-agent on a fresh socket, adds the keys with
// ssh-add and returns the socket's path, for SSH_AUTH_SOCK. The agent
// is stopped when the test ends.
func StartAgent(t testing.TB, keyFiles ...string) string {
	t.Helper()
	agent, err := exec.LookPath("ssh-agent")
	if err != nil {
		need(t, errors.New("ssh-agent not installed (apt-get install openssh-client)"))
	}
	add, err := exec.LookPath("ssh-add")
	if err != nil {
		need(t, errors.New("ssh-add not installed (apt-get install openssh-client)"))
	}
	// A unix socket's path must fit in about 108 bytes: t.TempDir's,
	// named after the test, may not.
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(agent, "-D", "-a", sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("sshtest: start ssh-agent: %v", err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	})
	// ssh-agent prints "SSH_AUTH_SOCK=...; export SSH_AUTH_SOCK;" once
	// its socket listens, then "echo Agent pid N;".
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		exited <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		if !strings.HasPrefix(line, "SSH_AUTH_SOCK="+sock+";") {
			t.Fatalf("sshtest: ssh-agent said %q, want SSH_AUTH_SOCK=%s; (stderr: %s)", line, sock, stderr.String())
		}
	case <-time.After(startTimeout):
		t.Fatalf("sshtest: ssh-agent did not start within %v", startTimeout)
	}
	for _, k := range keyFiles {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		c := exec.CommandContext(ctx, add, k)
		c.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		out, err := c.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("sshtest: ssh-add %s: %v\n%s", k, err, out)
		}
	}
	return sock
}

// freePort returns a TCP port of 127.0.0.1 free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logWriter keeps what sshd writes and closes ready once it has written
// the line saying it listens.
type logWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	ready chan struct{}
	once  sync.Once
}

func newLogWriter(want string) *logWriter {
	return &logWriter{want: want, ready: make(chan struct{})}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte(w.want)) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
