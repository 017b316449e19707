package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/mailtwin/mailtwin/gitstate"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// recorder notes every command a server session receives that could
// change a mailbox.
type recorder struct {
	mu   sync.Mutex
	cmds []string
}

func (r *recorder) note(format string, args ...any) {
	r.mu.Lock()
	r.cmds = append(r.cmds, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.cmds...)
}

// recordingSession is the real imapmemserver session, with every
// mutating command noted before it is carried out.
type recordingSession struct {
	imapserver.SessionIMAP4rev2
	rec *recorder
}

func (s *recordingSession) Select(mailbox string, o *imap.SelectOptions) (*imap.SelectData, error) {
	if o == nil || !o.ReadOnly {
		s.rec.note("SELECT %s (read-write)", mailbox)
	}
	return s.SessionIMAP4rev2.Select(mailbox, o)
}
func (s *recordingSession) Create(mailbox string, o *imap.CreateOptions) error {
	s.rec.note("CREATE %s", mailbox)
	return s.SessionIMAP4rev2.Create(mailbox, o)
}
func (s *recordingSession) Delete(mailbox string) error {
	s.rec.note("DELETE %s", mailbox)
	return s.SessionIMAP4rev2.Delete(mailbox)
}
func (s *recordingSession) Rename(mailbox, to string, o *imap.RenameOptions) error {
	s.rec.note("RENAME %s", mailbox)
	return s.SessionIMAP4rev2.Rename(mailbox, to, o)
}
func (s *recordingSession) Append(mailbox string, r imap.LiteralReader, o *imap.AppendOptions) (*imap.AppendData, error) {
	s.rec.note("APPEND %s", mailbox)
	return s.SessionIMAP4rev2.Append(mailbox, r, o)
}
func (s *recordingSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	s.rec.note("EXPUNGE")
	return s.SessionIMAP4rev2.Expunge(w, uids)
}
func (s *recordingSession) Store(w *imapserver.FetchWriter, n imap.NumSet, f *imap.StoreFlags, o *imap.StoreOptions) error {
	s.rec.note("STORE %v", f.Flags)
	return s.SessionIMAP4rev2.Store(w, n, f, o)
}
func (s *recordingSession) Copy(n imap.NumSet, dest string) (*imap.CopyData, error) {
	s.rec.note("COPY %s", dest)
	return s.SessionIMAP4rev2.Copy(n, dest)
}
func (s *recordingSession) Move(w *imapserver.MoveWriter, n imap.NumSet, dest string) error {
	s.rec.note("MOVE %s", dest)
	return s.SessionIMAP4rev2.Move(w, n, dest)
}
func (s *recordingSession) Fetch(w *imapserver.FetchWriter, n imap.NumSet, o *imap.FetchOptions) error {
	for _, bs := range o.BodySection {
		if !bs.Peek {
			s.rec.note("FETCH BODY[] without PEEK (sets \\Seen)")
		}
	}
	return s.SessionIMAP4rev2.Fetch(w, n, o)
}

// startRecordingServer serves imapmemserver with users alice and bob and
// records their mutating commands.
func startRecordingServer(t *testing.T) (addr string, rec *recorder) {
	mem := imapmemserver.New()
	for _, name := range []string{userA, userB} {
		u := imapmemserver.NewUser(name, imaptest.Password)
		if err := u.Create("INBOX", nil); err != nil {
			t.Fatal(err)
		}
		mem.AddUser(u)
	}
	rec = &recorder{}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &recordingSession{SessionIMAP4rev2: mem.NewSession().(imapserver.SessionIMAP4rev2), rec: rec}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), rec
}

// TestPlanIsReadOnly runs "mailtwin plan" against a server that records
// every mutating command, with changes pending on both sides of every
// kind (copies, flags, deletions, a new folder), and asserts that the
// server saw none and the state repository did not change.
func TestPlanIsReadOnly(t *testing.T) {
	addr, rec := startRecordingServer(t)
	host, port, _ := strings.Cut(addr, ":")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mailtwin.hcl")
	config := fmt.Sprintf(`
account "a" {
  host = %q
  port = %s
  tls = "none"
  username = "alice"
  password = %q
}
account "b" {
  host = %q
  port = %s
  tls = "none"
  username = "bob"
  password = %q
}
pair "p" {
  a = "a"
  b = "b"
  defaults { deletion = "trash" }
}
`, host, port, imaptest.Password, host, port, imaptest.Password)
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mt := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"-c", cfg}, args...), strings.NewReader(""), &out, &errb)
		return out.String() + errb.String(), code
	}
	seed := &syncFixture{t: t, srv: &imaptest.Server{Addr: addr, Kind: "mem", Delim: '/'}}
	seed.put(userA, "INBOX", "m1")
	seed.put(userA, "INBOX", "m2")
	seed.put(userA, "INBOX", "m3")
	if out, code := mt("apply"); code != 0 {
		t.Fatalf("apply exited %d:\n%s", code, out)
	}
	// Pending changes of every kind.
	seed.put(userA, "INBOX", "new-a")
	seed.put(userB, "Later", "new-b")
	seed.srv.AddFlags(t, userA, "INBOX", seed.uidOf(userA, "INBOX", "m1"), imap.FlagFlagged)
	seed.expunge(userB, "INBOX", "m2")
	stateBefore := snapshotDir(t, filepath.Join(dir, "mailtwin-state"))

	rec.mu.Lock()
	rec.cmds = nil
	rec.mu.Unlock()
	out, code := mt("plan", "--detailed-exitcode")
	if code != exitChanges {
		t.Fatalf("plan --detailed-exitcode exited %d, want %d:\n%s", code, exitChanges, out)
	}
	for _, want := range []string{"+ b:\"INBOX\" <- a:\"INBOX\"", "~ b:\"INBOX\"", "- a:\"INBOX\" uid 2 -> \"Trash\"", "+ create folder \"Later\" on a"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	if cmds := rec.list(); len(cmds) > 0 {
		t.Errorf("plan sent mutating commands to the server: %q", cmds)
	}
	if after := snapshotDir(t, filepath.Join(dir, "mailtwin-state")); after != stateBefore {
		t.Errorf("plan changed the state repository")
	}
}

// snapshotDir renders every file under dir (including .git) as text, so
// two snapshots compare equal only if nothing changed.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(&b, "== %s %v\n", p, info.ModTime().UnixNano())
		_, err = io.Copy(&b, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestApplyWhileLocked: a second run on a state repository another run
// holds exits 1 and says who holds it.
func TestApplyWhileLocked(t *testing.T) {
	addr, _ := startRecordingServer(t)
	host, port, _ := strings.Cut(addr, ":")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mailtwin.hcl")
	config := fmt.Sprintf("account \"a\" {\n host = %q\n port = %s\n tls = \"none\"\n username = \"alice\"\n password = %q\n}\naccount \"b\" {\n host = %q\n port = %s\n tls = \"none\"\n username = \"bob\"\n password = %q\n}\npair \"p\" {\n a = \"a\"\n b = \"b\"\n}\n",
		host, port, imaptest.Password, host, port, imaptest.Password)
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	repo, err := gitstate.Open(ctx, filepath.Join(dir, "mailtwin-state"))
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := repo.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(ctx, []string{"-c", cfg, "apply"}, strings.NewReader(""), &out, &errb)
	host0, _ := os.Hostname()
	if code != exitFailed || !strings.Contains(errb.String(), fmt.Sprintf("locked by pid %d on host %s since", os.Getpid(), host0)) {
		t.Errorf("apply while locked exited %d with:\n%s\nwant exit 1 naming the holder", code, errb.String())
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := run(ctx, []string{"-c", cfg, "apply"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Errorf("apply after unlock exited %d:\n%s", code, errb.String())
	}
}
