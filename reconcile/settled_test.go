package reconcile_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// settledPair returns a base of the given folders, n messages each, in
// step on both sides with scan points, and the listings of two sides as
// that base left them.
func settledPair(folders []string, n int) (reconcile.State, reconcile.Listing, reconcile.Listing) {
	var base reconcile.State
	var la, lb reconcile.Listing
	la.Delim, lb.Delim = '/', '/'
	for _, name := range folders {
		f := reconcile.FolderState{Name: name}
		for s, ss := range []*reconcile.SideState{&f.A, &f.B} {
			*ss = reconcile.SideState{Mailbox: name, UIDValidity: uint32(10 + s), UIDNext: reconcile.UID(n + 1), HighestModSeq: 40}
		}
		for i := 1; i <= n; i++ {
			fl := reconcile.Flags(nil)
			if i%3 == 0 {
				fl = reconcile.NewFlags(`\Seen`)
			}
			f.Records = append(f.Records, reconcile.Record{UIDA: reconcile.UID(i), UIDB: reconcile.UID(i), Flags: fl, ID: reconcile.Identity(fmt.Sprintf("m:%s-%d", name, i))})
		}
		base.Folders = append(base.Folders, f)
	}
	list(&base, &la, reconcile.A)
	list(&base, &lb, reconcile.B)
	return base, la, lb
}

// list makes l side s's listing of base as its records say: each
// folder's messages on s below its UIDNEXT, by UID.
func list(base *reconcile.State, l *reconcile.Listing, s reconcile.Side) {
	l.Folders = nil
	for _, f := range base.Folders {
		ss := f.Side(s)
		lf := reconcile.Folder{Mailbox: ss.Mailbox, UIDValidity: ss.UIDValidity, UIDNext: ss.UIDNext, HighestModSeq: ss.HighestModSeq}
		for _, r := range f.Records {
			if u := r.UID(s); u != 0 && u < ss.UIDNext {
				lf.Messages = append(lf.Messages, reconcile.Message{UID: u, Flags: r.Flags, ID: r.ID})
			}
		}
		slices.SortFunc(lf.Messages, func(x, y reconcile.Message) int { return cmp.Compare(x.UID, y.UID) })
		lf.NumMessages = len(lf.Messages)
		l.Folders = append(l.Folders, lf)
	}
}

// TestSettledSameAsBuild checks buildSettled, the plan of a run that
// found every folder as the base left it, made without copying the
// base's messages into the listings: where it makes a plan, the plan
// and the next state are Build's (SettledDiff compares them), and it
// makes one exactly where the records need nothing done, declining
// anything it cannot vouch for. The model tests compare it with Build
// on thousands of random states besides (fastPathCount).
func TestSettledSameAsBuild(t *testing.T) {
	both := reconcile.Policy{Default: reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Propagate}}
	cases := []struct {
		name   string
		change func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy)
		taken  bool
	}{
		{"in step", nil, true},
		{"b's UIDs out of order", func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy) {
			r := base.Folders[0].Records
			r[3].UIDB, r[7].UIDB = r[7].UIDB, r[3].UIDB
			list(base, lb, reconcile.B)
		}, true},
		{"a message on a only, by agreement", func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy) {
			base.Folders[1].Records[4].UIDB = 0
			list(base, lb, reconcile.B)
		}, true},
		{"a folder under direction none the base does not know", func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy) {
			p.Rules = []reconcile.Rule{{Pattern: "Lists", FolderPolicy: reconcile.FolderPolicy{Direction: reconcile.None}}}
			la.Folders = append(la.Folders, reconcile.Folder{Mailbox: "Lists", UIDValidity: 5, UIDNext: 9, NumMessages: 8})
		}, true},
		{"two records under one UID on b", func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy) {
			r := base.Folders[0].Records
			r[3].UIDB = r[7].UIDB
			list(base, lb, reconcile.B)
		}, false},
		{"a record at UIDNEXT", func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy) {
			base.Folders[0].A.UIDNext--
			la.Folders[0].UIDNext--
			list(base, la, reconcile.A)
		}, false},
		{"flags not in canonical form", func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy) {
			base.Folders[1].Records[2].Flags = reconcile.Flags{`\Seen`, `$Junk`}
			list(base, la, reconcile.A)
			list(base, lb, reconcile.B)
		}, false},
		{"a base folder under direction none", func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy) {
			p.Rules = []reconcile.Rule{{Pattern: "Work", FolderPolicy: reconcile.FolderPolicy{Direction: reconcile.None}}}
		}, false},
		{"a base folder under another name on b", func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy) {
			base.Folders[1].B.Mailbox = "Job"
			list(base, lb, reconcile.B)
		}, false},
		{"a copy left to do", func(base *reconcile.State, la, lb *reconcile.Listing, p *reconcile.Policy) {
			// The last run's copy failed: a lists a message the base
			// does not know, below its point.
			base.Folders[0].Records = base.Folders[0].Records[1:]
			list(base, lb, reconcile.B)
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, la, lb := settledPair([]string{"INBOX", "Work"}, 20)
			p := both
			if c.change != nil {
				c.change(&base, &la, &lb, &p)
			}
			taken, err := reconcile.SettledDiff("p", base, la, lb, p)
			if err != nil {
				t.Fatal(err)
			}
			if taken != c.taken {
				t.Errorf("buildSettled made a plan: %v, want %v", taken, c.taken)
			}
		})
	}
}
