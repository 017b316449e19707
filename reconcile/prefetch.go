package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Small new mail travels with the scan: once a folder's incremental scan
// has shown a few small messages that arrived since the base and whose
// identities the base does not know (new mail, not messages moved in
// from another folder), their bodies are read at once, on the
// connection that scanned the folder and still has it selected. Their
// copies to the other side then need no connection to this side at all:
// no EXAMINE and no FETCH of their own, on a connection that would have
// selected the folder again. The limits keep it to what an incremental
// run brings (an initial sync, or a folder with many new messages, is
// copied as before, streamed) and bound the memory it takes.
const (
	// prefetchMaxMessage is the largest message read with the scan.
	prefetchMaxMessage = 64 << 10
	// prefetchMaxFolder is the most messages of one folder read with
	// its scan: a folder with more new messages than this is copied
	// the usual way, in one FETCH.
	prefetchMaxFolder = 32
	// prefetchBudget bounds the bytes read with the scans of one run.
	prefetchBudget = 4 << 20
)

// prefetchKey names a message of a run's listing.
type prefetchKey struct {
	side    Side
	mailbox string
	uid     UID
}

// prefetchedBody is a message body read with the scan.
type prefetchedBody struct {
	date time.Time
	body []byte
}

// prefetched holds the bodies read with the scans of one run, until the
// copies take them. The zero value holds nothing; a nil *prefetched
// holds nothing and takes nothing.
type prefetched struct {
	mu     sync.Mutex
	budget int64 // bytes still allowed
	m      map[prefetchKey]prefetchedBody
}

// newPrefetched returns an empty store with the run's budget.
func newPrefetched() *prefetched {
	return &prefetched{budget: prefetchBudget, m: map[prefetchKey]prefetchedBody{}}
}

// candidates returns the UIDs of scanned folder f, from UID from on,
// that are worth reading with the scan (see prefetchMaxMessage), or nil
// when there are none or more than prefetchMaxFolder, or when the run's
// budget does not cover them; what it returns is taken from the budget.
func (p *prefetched) candidates(f *Folder, from UID, base map[Identity]bool) []UID {
	if p == nil || from == 0 {
		return nil
	}
	var uids []UID
	var size int64
	for i := range f.Messages {
		m := &f.Messages[i]
		if m.UID < from || m.ID != "" && base[m.ID] {
			continue
		}
		if m.Size <= 0 || m.Size > prefetchMaxMessage || len(uids) == prefetchMaxFolder {
			return nil
		}
		uids = append(uids, m.UID)
		size += m.Size
	}
	if len(uids) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if size > p.budget {
		return nil
	}
	p.budget -= size
	return uids
}

// read reads the bodies of uids of f's mailbox on side s through st,
// which has just scanned it. A message it could not read whole is left
// to be fetched by its copy, as any other; a FETCH that fails is
// returned, as a failed scan of the folder would be (the connection is
// likely gone, and the folder is the one to name).
func (p *prefetched) read(ctx context.Context, st Mailstore, s Side, mailbox string, uids []UID) error {
	if len(uids) == 0 {
		return nil
	}
	fn, keep := p.reader(s, mailbox)
	if err := st.Fetch(ctx, mailbox, uids, fn); err != nil {
		return fmt.Errorf("read new mail: %w", err)
	}
	keep()
	return nil
}

// reader returns the callback of a read of mailbox's bodies on side s
// (as read's Fetch, or a ReadAheadScanner's BodyRead), and keep, which
// holds what the callback got for the copies: a read that failed keeps
// nothing.
func (p *prefetched) reader(s Side, mailbox string) (fn func(FetchedMessage) error, keep func()) {
	got := map[prefetchKey]prefetchedBody{}
	fn = func(m FetchedMessage) error {
		if m.Size < 0 || m.Size > prefetchMaxMessage {
			return nil
		}
		// One buffer of the size the server gave, not io.ReadAll's
		// doubling from 512 bytes: on this 2-core VM the fresh pages
		// those take cost more than the read. A body shorter or longer
		// than that size is not kept.
		body := make([]byte, m.Size)
		if _, err := io.ReadFull(m.Body, body); err != nil {
			return nil
		}
		var more [1]byte
		if n, _ := io.ReadFull(m.Body, more[:]); n != 0 {
			return nil
		}
		got[prefetchKey{s, mailbox, m.UID}] = prefetchedBody{date: m.InternalDate, body: body}
		return nil
	}
	keep = func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for k, v := range got {
			p.m[k] = v
		}
	}
	return fn, keep
}

// renamed follows the plan's folder renames, which run before any copy:
// a body read from a mailbox the plan renames (or from a folder under
// it) is then found under the name its copy reads from. delims are the
// sides' hierarchy delimiters.
func (p *prefetched) renamed(plan *Plan, delims [2]rune) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range plan.Actions {
		a := &plan.Actions[i]
		if a.Op != RenameFolder || len(p.m) == 0 {
			continue
		}
		under := ""
		if d := delims[a.Side]; d != 0 {
			under = a.Mailbox + string(d)
		}
		var from, to []prefetchKey
		for k := range p.m {
			switch {
			case k.side != a.Side:
			case k.mailbox == a.Mailbox:
				from, to = append(from, k), append(to, prefetchKey{k.side, a.Dest, k.uid})
			case under != "" && strings.HasPrefix(k.mailbox, under):
				from, to = append(from, k), append(to, prefetchKey{k.side, a.Dest + k.mailbox[len(a.Mailbox):], k.uid})
			}
		}
		moved := make([]prefetchedBody, len(from))
		for j, k := range from {
			moved[j] = p.m[k]
			delete(p.m, k)
		}
		for j, k := range to {
			p.m[k] = moved[j]
		}
	}
}

// has reports whether every source message of the copies g is held.
func (p *prefetched) has(acts []Action, g []int) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range g {
		a := &acts[i]
		if _, ok := p.m[prefetchKey{a.Side.Other(), a.SrcMailbox, a.SrcUID}]; !ok {
			return false
		}
	}
	return true
}

// fetch hands the held bodies of uids of mailbox on side s to fn, as
// Mailstore.Fetch would. They stay held until the run ends (the budget
// bounds them): two copies of one message, into two folders, may each
// have been told by has that they need no connection to s.
func (p *prefetched) fetch(s Side, mailbox string, uids []UID, fn func(FetchedMessage) error) error {
	for _, u := range uids {
		p.mu.Lock()
		b, ok := p.m[prefetchKey{s, mailbox, u}]
		p.mu.Unlock()
		if !ok {
			continue
		}
		if err := fn(FetchedMessage{UID: u, InternalDate: b.date, Size: int64(len(b.body)), Body: bytes.NewReader(b.body)}); err != nil {
			return err
		}
	}
	return nil
}

// copiesFrom reports whether the policy lets messages of mailbox on side
// s be copied to the other side: its direction is both, or from s.
func copiesFrom(p Policy, names *namer, s Side, mailbox string) bool {
	name := names.logicalOf(s, mailbox)
	if name == "" {
		return false
	}
	switch p.For(name).Direction {
	case Both:
		return true
	case AToB:
		return s == A
	case BToA:
		return s == B
	}
	return false
}
