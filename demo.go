package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// demoServer is one in-memory IMAP server of the demo.
type demoServer struct {
	addr string
	user string
	srv  *imapserver.Server
}

// startDemoServer serves go-imap's in-memory server on 127.0.0.1.
func startDemoServer(user string, folders ...string) (*demoServer, error) {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, "demo-password")
	for _, f := range append([]string{"INBOX"}, folders...) {
		if err := u.Create(f, nil); err != nil {
			return nil, fmt.Errorf("create %q: %w", f, err)
		}
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go srv.Serve(ln)
	return &demoServer{addr: ln.Addr().String(), user: user, srv: srv}, nil
}

// client logs in to the demo server, as a user's mail client would.
func (d *demoServer) client() (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(d.addr, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Login(d.user, "demo-password").Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// demoMessage is a realistic message; n makes it unique.
func demoMessage(from, to, subject string, n int, day int) []byte {
	date := time.Date(2026, 11, day, 9, n%60, 0, 0, time.UTC)
	return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <demo-%d-%d@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nthis is message %d of the mailtwin demo.\r\n\r\n-- \r\n%s\r\n",
		from, to, subject, date.Format(time.RFC1123Z), n, day, n, from))
}

func demoAppend(c *imapclient.Client, mailbox string, msg []byte, flags ...imap.Flag) error {
	cmd := c.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(msg); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

var demoSubjects = []string{
	"Quarterly report draft", "Lunch on Thursday?", "Your invoice #4411", "Re: server migration",
	"Flight confirmation", "Meeting notes 11/12", "Pull request review", "Welcome to the team",
	"Reminder: dentist", "Photos from the weekend", "Contract renewal", "Build failed on main",
}

// cmdDemo runs the whole story on two in-memory servers: a first sync of
// two filled accounts, changes on each side, the plan, the apply, the log.
func cmdDemo(ctx context.Context, g *globalOptions) error {
	srvA, err := startDemoServer("alice", "Work", "Archive", "Archive/2024")
	if err != nil {
		return fmt.Errorf("demo: start server a: %w", err)
	}
	defer srvA.srv.Close()
	srvB, err := startDemoServer("alice.backup", "Receipts")
	if err != nil {
		return fmt.Errorf("demo: start server b: %w", err)
	}
	defer srvB.srv.Close()
	ca, err := srvA.client()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer ca.Close()
	cb, err := srvB.client()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer cb.Close()

	// Seed: A is a working account, B an older copy with some overlap.
	folders := []string{"INBOX", "INBOX", "INBOX", "Work", "Archive/2024"}
	for i := range 24 {
		msg := demoMessage("colleague@example.org", "alice@example.org", demoSubjects[i%len(demoSubjects)], i, 1+i%27)
		var flags []imap.Flag
		if i%3 == 0 {
			flags = append(flags, imap.FlagSeen)
		}
		if i%7 == 0 {
			flags = append(flags, imap.FlagFlagged)
		}
		if err := demoAppend(ca, folders[i%len(folders)], msg, flags...); err != nil {
			return fmt.Errorf("demo: seed a: %w", err)
		}
		if i%5 == 0 && folders[i%len(folders)] == "INBOX" { // already on B too
			if err := demoAppend(cb, "INBOX", msg, imap.FlagSeen); err != nil {
				return fmt.Errorf("demo: seed b: %w", err)
			}
		}
	}
	for i := range 6 {
		msg := demoMessage("shop@example.com", "alice@example.org", fmt.Sprintf("Receipt %d", 100+i), 100+i, 2+i)
		if err := demoAppend(cb, "Receipts", msg, imap.FlagSeen); err != nil {
			return fmt.Errorf("demo: seed b: %w", err)
		}
	}

	dir, err := os.MkdirTemp("", "mailtwin-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "mailtwin.hcl")
	hostA, portA, _ := net.SplitHostPort(srvA.addr)
	hostB, portB, _ := net.SplitHostPort(srvB.addr)
	cfg := fmt.Sprintf(`# Written by 'mailtwin demo': two in-memory IMAP servers on loopback.
account "work" {
  host     = %q
  port     = %s
  tls      = "none"
  username = "alice"
  password = "demo-password"
}

account "backup" {
  host     = %q
  port     = %s
  tls      = "none"
  username = "alice.backup"
  password = "demo-password"
}

pair "work-backup" {
  a = "work"
  b = "backup"
  defaults {
    direction = "both"
    deletion  = "trash"
  }
  folder "Archive/**" {
    direction = "a-to-b"
    deletion  = "keep"
  }
}
`, hostA, portA, hostB, portB)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	dg := *g
	dg.config = cfgPath
	dg.json, dg.detailedExitcode, dg.force, dg.pairs = false, false, false, nil
	out := g.stdout
	step := func(title string) { fmt.Fprintf(out, "\n=== %s\n\n", title) }

	fmt.Fprintf(out, "mailtwin demo: account a (%s) holds 24 messages in INBOX, Work and Archive/2024;\naccount b (%s) holds 6 receipts and 3 of a's INBOX messages already.\nconfig: %s\n", srvA.addr, srvB.addr, cfgPath)
	fmt.Fprint(out, "\n"+cfg)

	step("mailtwin apply  (first sync: messages on both sides are paired, not copied twice)")
	if err := cmdSync(ctx, &dg, false); err != nil {
		return err
	}

	step("changes: new mail on both sides, a flag set and two messages moved on a, a message deleted and a folder renamed on b")
	if err := demoAppend(ca, "INBOX", demoMessage("boss@example.org", "alice@example.org", "Urgent: budget", 500, 28)); err != nil {
		return err
	}
	if err := demoAppend(cb, "Receipts", demoMessage("shop@example.com", "alice@example.org", "Receipt 200", 501, 28), imap.FlagSeen); err != nil {
		return err
	}
	if _, err := ca.Select("Work", nil).Wait(); err != nil {
		return err
	}
	if err := ca.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		return err
	}
	if _, err := cb.Select("Receipts", nil).Wait(); err != nil {
		return err
	}
	if err := cb.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return err
	}
	if _, err := cb.UIDExpunge(imap.UIDSetNum(1)).Collect(); err != nil {
		return err
	}
	if _, err := ca.Select("INBOX", nil).Wait(); err != nil {
		return err
	}
	if _, err := ca.Move(imap.UIDSetNum(2, 3), "Work").Wait(); err != nil {
		return err
	}
	if err := cb.Unselect().Wait(); err != nil {
		return err
	}
	if err := cb.Rename("Receipts", "Invoices", nil).Wait(); err != nil {
		return err
	}
	fmt.Fprintln(out, "a: + INBOX \"Urgent: budget\"; ~ Work uid 1 +\\Flagged; > INBOX uid 2, 3 moved to Work")
	fmt.Fprintln(out, "b: + Receipts \"Receipt 200\"; - Receipts uid 1 (expunged); folder Receipts renamed to Invoices")

	step("mailtwin plan  (read-only: what apply would do)")
	if err := cmdSync(ctx, &dg, true); err != nil {
		return err
	}
	step("mailtwin apply  (moves and the rename are repeated, not re-uploaded; the deletion on b moves a's copy to a's Trash)")
	if err := cmdSync(ctx, &dg, false); err != nil {
		return err
	}
	step("mailtwin plan  (nothing left to do: the accounts agree)")
	if err := cmdSync(ctx, &dg, true); err != nil {
		return err
	}
	step("mailtwin status")
	if err := cmdStatus(ctx, &dg); err != nil {
		return err
	}
	step("mailtwin log  (every run is a commit in the state repository)")
	if err := cmdLog(ctx, &dg); err != nil {
		return err
	}
	step("mailtwin show HEAD  (what the last run did, message by message, from its journal)")
	if err := cmdShow(ctx, &dg, "HEAD"); err != nil {
		return err
	}
	step("mailtwin diff HEAD^  (how the agreed state changed in the last run)")
	if err := cmdDiff(ctx, &dg, "HEAD^", "HEAD"); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nthe state repository is a Git repo: try 'git -C <state> log -p' on your own runs;\n'mailtwin revert REV' undoes a run on the mailboxes.\n")
	return nil
}
