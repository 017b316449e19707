package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func dial(addr, user string) (*imapclient.Client, error) {
	var opts imapclient.Options
	if os.Getenv("BENCH_IMAPDEBUG") != "" {
		opts.DebugWriter = os.Stderr
	}
	c, err := imapclient.DialInsecure(addr, &opts)
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login %s at %s: %w", user, addr, err)
	}
	return c, nil
}

// logout logs c out and closes it.
func logout(c *imapclient.Client) {
	c.Logout().Wait()
	c.Close()
}

// appendAll appends msgs to mailbox, pipelined: up to 64 APPENDs are
// on the wire before the first answer is waited for.
func appendAll(c *imapclient.Client, mailbox string, msgs []message) error {
	var pending []*imapclient.AppendCommand
	wait := func(keep int) error {
		for len(pending) > keep {
			if _, err := pending[0].Wait(); err != nil {
				return fmt.Errorf("append to %s: %w", mailbox, err)
			}
			pending = pending[1:]
		}
		return nil
	}
	for _, m := range msgs {
		cmd := c.Append(mailbox, int64(len(m.body)), &imap.AppendOptions{Flags: m.flags, Time: m.date})
		if _, err := cmd.Write(m.body); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		pending = append(pending, cmd)
		if err := wait(64); err != nil {
			return err
		}
	}
	return wait(0)
}

// seed fills the account at addr: folders × perFolder generated
// messages, over 4 connections, folders in parallel. It returns the
// number of messages and bytes appended.
func seed(addr, user string, s uint64, folders []string, perFolder int) (int, int64, error) {
	c, err := dial(addr, user)
	if err != nil {
		return 0, 0, err
	}
	for _, f := range append(parents(folders), folders...) {
		if f == "INBOX" || f == "Sent" {
			continue // exist already
		}
		if err := c.Create(f, nil).Wait(); err != nil {
			c.Close()
			return 0, 0, fmt.Errorf("create %s: %w", f, err)
		}
	}
	c.Logout().Wait()
	c.Close()

	var (
		mu    sync.Mutex
		n     int
		size  int64
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(addr, user)
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
				for range next {
				}
				return
			}
			defer c.Close()
			for fi := range next {
				msgs := make([]message, perFolder)
				var sz int64
				for i := range msgs {
					msgs[i] = genMessage(s, "seed", fi, i)
					sz += int64(len(msgs[i].body))
				}
				err := appendAll(c, folders[fi], msgs)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				n += len(msgs)
				size += sz
				mu.Unlock()
			}
			c.Logout().Wait()
		}()
	}
	for fi := range folders {
		next <- fi
	}
	close(next)
	wg.Wait()
	return n, size, first
}

// listed is one message as the check and the changes see it.
type listed struct {
	folder string
	uid    imap.UID
	id     string
	flags  []string
}

// listAll returns every message of every selectable folder of the
// account, folder by folder, in UID order.
func listAll(c *imapclient.Client) (map[string][]listed, error) {
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	out := map[string][]listed{}
	for _, b := range boxes {
		if slices.Contains(b.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(b.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		sel, err := c.Select(b.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return nil, fmt.Errorf("examine %s: %w", b.Mailbox, err)
		}
		out[b.Mailbox] = nil
		if sel.NumMessages == 0 {
			continue
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", b.Mailbox, err)
		}
		for _, m := range msgs {
			l := listed{folder: b.Mailbox, uid: m.UID}
			if m.Envelope != nil {
				l.id = m.Envelope.MessageID
			}
			for _, f := range m.Flags {
				if f == "\\Recent" {
					continue
				}
				l.flags = append(l.flags, strings.ToLower(string(f)))
			}
			sort.Strings(l.flags)
			out[b.Mailbox] = append(out[b.Mailbox], l)
		}
		sort.Slice(out[b.Mailbox], func(i, j int) bool { return out[b.Mailbox][i].uid < out[b.Mailbox][j].uid })
	}
	return out, nil
}

func listAccount(addr, user string) (map[string][]listed, error) {
	c, err := dial(addr, user)
	if err != nil {
		return nil, err
	}
	defer logout(c)
	all, err := listAll(c)
	if err != nil {
		return nil, err
	}
	// Reading every folder's envelopes fills Dovecot's cache files,
	// which leaves its mailbox list index to be refreshed, folder by
	// folder, by the next LIST with STATUS: the next tool's run would
	// pay for the check (50 ms of a 76 ms b2 at 20 folders, 250 of
	// 330 ms at 200). The check settles it here, untimed, as a tool's
	// own LIST would.
	if _, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{
		NumMessages: true, UIDNext: true, UIDValidity: true, HighestModSeq: true,
	}}).Collect(); err != nil {
		return nil, fmt.Errorf("list with status after the check: %w", err)
	}
	return all, nil
}

// compare checks that the accounts at a and b hold the same messages:
// per folder, the same multiset of Message-ID and flags. A folder with
// no messages counts as absent. It returns "" when they do, and a short
// description of the first differences otherwise.
func compare(addrA, userA, addrB, userB string) (string, error) {
	la, err := listAccount(addrA, userA)
	if err != nil {
		return "", err
	}
	lb, err := listAccount(addrB, userB)
	if err != nil {
		return "", err
	}
	key := func(l listed) string { return l.id + " " + strings.Join(l.flags, ",") }
	multiset := func(ls []listed) map[string]int {
		m := map[string]int{}
		for _, l := range ls {
			m[key(l)]++
		}
		return m
	}
	folders := map[string]bool{}
	for f := range la {
		folders[f] = true
	}
	for f := range lb {
		folders[f] = true
	}
	var names []string
	for f := range folders {
		names = append(names, f)
	}
	sort.Strings(names)
	var diffs []string
	total := 0
	for _, f := range names {
		ma, mb := multiset(la[f]), multiset(lb[f])
		onlyA, onlyB := 0, 0
		var example string
		for k, n := range ma {
			if d := n - mb[k]; d > 0 {
				onlyA += d
				if example == "" {
					example = "A has " + k
				}
			}
		}
		for k, n := range mb {
			if d := n - ma[k]; d > 0 {
				onlyB += d
				if example == "" {
					example = "B has " + k
				}
			}
		}
		if onlyA+onlyB > 0 {
			total += onlyA + onlyB
			if len(diffs) < 3 {
				diffs = append(diffs, fmt.Sprintf("%s: %d only on A, %d only on B (e.g. %s)", f, onlyA, onlyB, example))
			}
		}
	}
	if total == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d messages differ; %s", total, strings.Join(diffs, "; ")), nil
}

// changeSummary says what a change step did; bigBytes is the size of
// b5's message.
type changeSummary struct {
	flags, added, expunged, moved int
	bigBytes                      int64
}

// pick returns n distinct messages of ls, chosen with rng, in a stable
// order, leaving out those in skip.
func pick(rng *rand.Rand, ls []listed, n int, skip map[listed2]bool) []listed {
	var out []listed
	for _, i := range rng.Perm(len(ls)) {
		if len(out) == n {
			break
		}
		if skip[key2(ls[i])] {
			continue
		}
		out = append(out, ls[i])
		skip[key2(ls[i])] = true
	}
	return out
}

type listed2 struct {
	folder string
	uid    imap.UID
}

func key2(l listed) listed2 { return listed2{l.folder, l.uid} }

// flatten returns the messages of the seeded folders, in folder then
// UID order, so a seeded rng picks the same ones on every run.
func flatten(all map[string][]listed, folders []string) []listed {
	var out []listed
	for _, f := range folders {
		out = append(out, all[f]...)
	}
	return out
}

// changeB3 makes b3's changes on A: frac of the messages get a flag
// changed, as many new messages arrive and as many are expunged.
func changeB3(addr, user string, s uint64, folders []string, frac float64) (changeSummary, error) {
	c, err := dial(addr, user)
	if err != nil {
		return changeSummary{}, err
	}
	defer logout(c)
	all, err := listAll(c)
	if err != nil {
		return changeSummary{}, err
	}
	ls := flatten(all, folders)
	n := max(1, int(float64(len(ls))*frac))
	rng := rand.New(rand.NewPCG(s, 3))
	skip := map[listed2]bool{}
	flagged, gone := pick(rng, ls, n, skip), pick(rng, ls, n, skip)
	var sum changeSummary
	byFolder := func(ls []listed) map[string][]listed {
		m := map[string][]listed{}
		for _, l := range ls {
			m[l.folder] = append(m[l.folder], l)
		}
		return m
	}
	for _, f := range folders {
		fl, gl := byFolder(flagged)[f], byFolder(gone)[f]
		if len(fl)+len(gl) == 0 {
			continue
		}
		if _, err := c.Select(f, nil).Wait(); err != nil {
			return sum, err
		}
		for i, l := range fl {
			// toggle \Seen; every third also toggles \Flagged
			toggle := []imap.Flag{imap.FlagSeen}
			if i%3 == 0 {
				toggle = append(toggle, imap.FlagFlagged)
			}
			for _, t := range toggle {
				op := imap.StoreFlagsAdd
				if slices.Contains(l.flags, strings.ToLower(string(t))) {
					op = imap.StoreFlagsDel
				}
				if err := c.Store(imap.UIDSetNum(l.uid), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{t}}, nil).Close(); err != nil {
					return sum, fmt.Errorf("store in %s: %w", f, err)
				}
			}
			sum.flags++
		}
		if len(gl) > 0 {
			var set imap.UIDSet
			for _, l := range gl {
				set.AddNum(l.uid)
			}
			if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				return sum, fmt.Errorf("store \\Deleted in %s: %w", f, err)
			}
			if err := c.UIDExpunge(set).Close(); err != nil {
				return sum, fmt.Errorf("expunge in %s: %w", f, err)
			}
			sum.expunged += len(gl)
		}
	}
	newBy := map[string][]message{}
	for i := range n {
		fi := rng.IntN(len(folders))
		newBy[folders[fi]] = append(newBy[folders[fi]], genMessage(s, "new", fi, i))
	}
	for _, f := range folders {
		if len(newBy[f]) == 0 {
			continue
		}
		if err := appendAll(c, f, newBy[f]); err != nil {
			return sum, err
		}
		sum.added += len(newBy[f])
	}
	return sum, nil
}

// changeB4 makes b4's change on A: frac of the messages are moved
// (UID MOVE) to another seeded folder.
func changeB4(addr, user string, s uint64, folders []string, frac float64) (changeSummary, error) {
	c, err := dial(addr, user)
	if err != nil {
		return changeSummary{}, err
	}
	defer logout(c)
	all, err := listAll(c)
	if err != nil {
		return changeSummary{}, err
	}
	ls := flatten(all, folders)
	n := max(1, int(float64(len(ls))*frac))
	rng := rand.New(rand.NewPCG(s, 4))
	moved := pick(rng, ls, n, map[listed2]bool{})
	type route struct{ from, to string }
	routes := map[route]*imap.UIDSet{}
	var order []route
	for _, l := range moved {
		to := l.folder
		for to == l.folder && len(folders) > 1 {
			to = folders[rng.IntN(len(folders))]
		}
		r := route{l.folder, to}
		if routes[r] == nil {
			routes[r] = &imap.UIDSet{}
			order = append(order, r)
		}
		routes[r].AddNum(l.uid)
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].from != order[j].from {
			return order[i].from < order[j].from
		}
		return order[i].to < order[j].to
	})
	var sum changeSummary
	selected := ""
	for _, r := range order {
		if r.from != selected {
			if _, err := c.Select(r.from, nil).Wait(); err != nil {
				return sum, err
			}
			selected = r.from
		}
		if _, err := c.Move(*routes[r], r.to).Wait(); err != nil {
			return sum, fmt.Errorf("move %s -> %s: %w", r.from, r.to, err)
		}
		for _, rg := range *routes[r] {
			sum.moved += int(rg.Stop-rg.Start) + 1
		}
	}
	return sum, nil
}
