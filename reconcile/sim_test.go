package reconcile_test

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// This file holds the test-side model of two accounts: a compact text
// syntax for listings and states, and an in-memory account that carries
// out a plan's actions the way a server would. It is a model of mailbox
// contents for the pure planner's tests, not an IMAP server: the IMAP
// path is tested against real servers in run_test.go.

// parseState reads a base state:
//
//	folder INBOX [uv=1/1] [a=name] [b=-] [dir=a-to-b] [keeps-b=\*,\Seen]
//	1 1 \Seen x:1
//
// keeps-a and keeps-b are a side's SideState.Permanent: the flags it
// keeps, comma-separated, "-" for none; refuses-a and refuses-b are one
// that keeps every flag but those (reconcile.Refusing).
func parseState(t testing.TB, text string) reconcile.State {
	t.Helper()
	var st reconcile.State
	var cur *reconcile.FolderState
	for _, ln := range lines(text) {
		f := strings.Fields(ln)
		if f[0] == "folder" {
			st.Folders = append(st.Folders, reconcile.FolderState{Name: f[1],
				A: reconcile.SideState{Mailbox: f[1], UIDValidity: 1},
				B: reconcile.SideState{Mailbox: f[1], UIDValidity: 1}})
			cur = &st.Folders[len(st.Folders)-1]
			for _, opt := range f[2:] {
				k, v, _ := strings.Cut(opt, "=")
				switch k {
				case "uv":
					x, y, _ := strings.Cut(v, "/")
					cur.A.UIDValidity, cur.B.UIDValidity = atou(t, x), atou(t, y)
				case "dir": // the direction the records were kept under
					d, err := reconcile.ParseDirection(v)
					if err != nil {
						t.Fatalf("bad folder option %q: %v", opt, err)
					}
					cur.Direction = d
				case "a", "b":
					if v == "-" {
						v = ""
					}
					cur.Side(side(k)).Mailbox = v
				case "keeps-a", "keeps-b":
					cur.Side(side(strings.TrimPrefix(k, "keeps-"))).Permanent = parsePermanent(t, v)
				case "refuses-a", "refuses-b":
					cur.Side(side(strings.TrimPrefix(k, "refuses-"))).Permanent = reconcile.Refusing(strings.Split(v, ",")...)
				default:
					t.Fatalf("bad folder option %q", opt)
				}
			}
			continue
		}
		if len(f) != 4 {
			t.Fatalf("bad record line %q", ln)
		}
		// "~" for the side a record is Away from.
		away := f[0] == "~" || f[1] == "~"
		for k := range 2 {
			if f[k] == "~" {
				f[k] = "-"
			}
		}
		cur.Records = append(cur.Records, reconcile.Record{UIDA: uidOrDash(t, f[0]), UIDB: uidOrDash(t, f[1]), Flags: flags(f[2]), ID: reconcile.Identity(f[3]), Away: away})
	}
	sort.Slice(st.Folders, func(i, j int) bool { return st.Folders[i].Name < st.Folders[j].Name })
	return st
}

// parseListing reads one side's listing:
//
//	[delim .]
//	folder INBOX [uv=1] [role=\Trash] [use=\All,\Important] [keeps=\Seen]
//	1 \Seen x:1
//
// keeps is the folder's Permanent, as a scan's SELECT saw it.
func parseListing(t testing.TB, text string) reconcile.Listing {
	t.Helper()
	l := reconcile.Listing{Delim: '/'}
	var cur *reconcile.Folder
	for _, ln := range lines(text) {
		f := strings.Fields(ln)
		if f[0] == "delim" {
			l.Delim = []rune(f[1])[0]
			continue
		}
		if f[0] == "folder" {
			l.Folders = append(l.Folders, reconcile.Folder{Mailbox: f[1], UIDValidity: 1})
			cur = &l.Folders[len(l.Folders)-1]
			for _, opt := range f[2:] {
				k, v, _ := strings.Cut(opt, "=")
				switch k {
				case "uv":
					cur.UIDValidity = atou(t, v)
				case "role":
					cur.Role = reconcile.Role(v)
				case "use":
					// use=\All,\Important: the special-use attributes
					for _, a := range strings.Split(v, ",") {
						cur.SpecialUse = append(cur.SpecialUse, reconcile.Role(a))
					}
				case "keeps":
					cur.Permanent = parsePermanent(t, v)
				default:
					t.Fatalf("bad folder option %q", opt)
				}
			}
			continue
		}
		if len(f) != 3 {
			t.Fatalf("bad message line %q", ln)
		}
		u := atou(t, f[0])
		cur.Messages = append(cur.Messages, reconcile.Message{UID: u, Flags: flags(f[1]), ID: reconcile.Identity(f[2])})
		if u >= cur.UIDNext {
			cur.UIDNext = u + 1
		}
	}
	sort.Slice(l.Folders, func(i, j int) bool { return l.Folders[i].Mailbox < l.Folders[j].Mailbox })
	return l
}

func parsePolicy(t testing.TB, text string) reconcile.Policy {
	t.Helper()
	p := reconcile.Policy{MaxDeletes: reconcile.Limit{Percent: true, Value: 100}}
	for _, ln := range lines(text) {
		k, v, _ := strings.Cut(ln, " ")
		var err error
		switch k {
		case "direction":
			p.Default.Direction, err = reconcile.ParseDirection(v)
		case "deletion":
			p.Default.Deletion, err = reconcile.ParseDeletion(v)
		case "max_deletes":
			p.MaxDeletes, err = reconcile.ParseLimit(v)
		case "rule":
			// rule PATTERN DIRECTION DELETION
			f := strings.Fields(v)
			r := reconcile.Rule{Pattern: f[0]}
			r.Direction, err = reconcile.ParseDirection(f[1])
			if err == nil {
				r.Deletion, err = reconcile.ParseDeletion(f[2])
			}
			p.Rules = append(p.Rules, r)
		case "force":
			p.Force = true
		case "prefer":
			p.Prefer = side(v)
		case "prefix":
			// prefix SIDE NAME
			sd, name, _ := strings.Cut(v, " ")
			p.Naming.Prefix[side(sd)] = name
		case "map":
			// map A-MAILBOX B-MAILBOX
			x, y, _ := strings.Cut(v, " ")
			p.Naming.Maps = append(p.Naming.Maps, reconcile.NameMap{A: x, B: y})
		case "roles":
			p.Naming.IgnoreRoles = v == "off"
		case "exclude":
			// exclude SIDE \All,\Important
			sd, attrs, _ := strings.Cut(v, " ")
			for _, a := range strings.Split(attrs, ",") {
				p.ExcludeSpecialUse[side(sd)] = append(p.ExcludeSpecialUse[side(sd)], reconcile.Role(a))
			}
		default:
			t.Fatalf("bad policy line %q", ln)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// formatState renders a state compactly, in parseState's syntax.
func formatState(st reconcile.State) string {
	var b strings.Builder
	for _, f := range st.Folders {
		fmt.Fprintf(&b, "folder %s", f.Name)
		if f.A.Mailbox != f.Name {
			fmt.Fprintf(&b, " a=%s", dash(f.A.Mailbox))
		}
		if f.B.Mailbox != f.Name {
			fmt.Fprintf(&b, " b=%s", dash(f.B.Mailbox))
		}
		for _, s := range []reconcile.Side{reconcile.A, reconcile.B} {
			switch p := f.Side(s).Permanent; {
			case p.Limited():
				fmt.Fprintf(&b, " keeps-%s=%s", s, strings.ReplaceAll(p.String(), " ", ","))
			case !p.All():
				fmt.Fprintf(&b, " refuses-%s=%s", s, strings.Join(p.Refused(), ","))
			}
		}
		b.WriteString("\n")
		for _, r := range f.Records {
			fmt.Fprintf(&b, "%s %s %s %s\n", recordUID(r, r.UIDA), recordUID(r, r.UIDB), r.Flags, r.ID)
		}
	}
	return b.String()
}

// recordUID is uidStr, with "~" for the side record r is Away from.
func recordUID(r reconcile.Record, u reconcile.UID) string {
	if u == 0 && r.Away {
		return "~"
	}
	return uidStr(u)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func uidStr(u reconcile.UID) string {
	if u == 0 {
		return "-"
	}
	if u == reconcile.UnknownUID {
		return "?"
	}
	return strconv.FormatUint(uint64(u), 10)
}

// parsePermanent reads a keeps option's value: flags, comma-separated,
// "-" for none.
func parsePermanent(t testing.TB, v string) reconcile.Permanent {
	t.Helper()
	if v == "-" {
		return reconcile.NewPermanent()
	}
	p := reconcile.NewPermanent(strings.Split(v, ",")...)
	if p.All() {
		t.Fatalf("keeps=%s keeps every flag: leave it out", v)
	}
	return p
}

func lines(text string) []string {
	var out []string
	for _, ln := range strings.Split(text, "\n") {
		ln = strings.TrimSpace(ln)
		if ln != "" && !strings.HasPrefix(ln, "#") {
			out = append(out, ln)
		}
	}
	return out
}

func side(s string) reconcile.Side {
	if s == "a" {
		return reconcile.A
	}
	return reconcile.B
}

func flags(s string) reconcile.Flags {
	if s == "-" {
		return nil
	}
	return reconcile.NewFlags(strings.Split(s, ",")...)
}

func atou(t testing.TB, s string) uint32 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return uint32(n)
}

func uidOrDash(t testing.TB, s string) reconcile.UID {
	if s == "-" {
		return 0
	}
	if s == "?" {
		return reconcile.UnknownUID
	}
	return atou(t, s)
}

// account is a model of one side's mailboxes.
type account struct {
	folders map[string]*mbox
	delim   rune
	nextUV  uint32
	failOn  func(a *reconcile.Action) bool // injected failures
	// keeps holds, by folder name, what a folder made under that name
	// keeps of the flags (its PERMANENTFLAGS; the zero value: every flag). It
	// drops the others from every APPEND, STORE and MOVE, as a server
	// does, and its listing says what it keeps.
	keeps map[string]reconcile.Permanent
	// refuses holds the keywords the account's server refuses outright,
	// in every folder, whatever its PERMANENTFLAGS say (Dovecot: one
	// longer than 50 characters). A copy or a STORE carrying one goes
	// without it, and its outcome's Refused says so, as Run's does
	// (appendAlone, storeAlone); a listing does not tell them.
	refuses reconcile.Flags
}

type mbox struct {
	uv      uint32
	uidNext reconcile.UID
	role    reconcile.Role
	use     []reconcile.Role    // special-use attributes
	msgs    []reconcile.Message // sorted by UID
	// version counts the listings of this mailbox; each is its
	// HIGHESTMODSEQ, and snaps keeps what it listed (see scanPointError).
	// touched holds, per UID, the version after the last change of its
	// flags: a STORE, or a user's change found at the next listing.
	version uint64
	snaps   map[uint64][]reconcile.Message
	touched map[reconcile.UID]uint64
	// keeps is what the mailbox keeps of the flags (account.keeps).
	keeps reconcile.Permanent
	// refuses is account.refuses.
	refuses reconcile.Flags
}

// kept returns fl without the flags m refuses.
func (m *mbox) kept(fl reconcile.Flags) reconcile.Flags {
	if m.keeps.All() && len(m.refuses) == 0 {
		return fl
	}
	var out reconcile.Flags
	for _, f := range fl {
		if m.keeps.Keeps(f) && !m.refuses.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// noteUserChanges touches the messages whose flags a user changed since
// the last listing, behind the model's back.
func (m *mbox) noteUserChanges() {
	last := map[reconcile.UID]reconcile.Flags{}
	for _, x := range m.snaps[m.version] {
		last[x.UID] = x.Flags
	}
	for _, x := range m.msgs {
		if fl, ok := last[x.UID]; ok && !fl.Equal(x.Flags) {
			m.touch(x.UID)
		}
	}
}

// touch notes a change of uid's flags since the last listing.
func (m *mbox) touch(u reconcile.UID) {
	if m.touched == nil {
		m.touched = map[reconcile.UID]uint64{}
	}
	m.touched[u] = m.version + 1
}

func newAccount() *account {
	acc := &account{folders: map[string]*mbox{}, nextUV: 100, delim: '/'}
	acc.create("INBOX")
	return acc
}

func (acc *account) create(name string) *mbox {
	if m := acc.folders[name]; m != nil {
		return m
	}
	acc.nextUV++
	m := &mbox{uv: acc.nextUV, uidNext: 1, keeps: acc.keeps[name], refuses: acc.refuses}
	acc.folders[name] = m
	return m
}

func (acc *account) deliver(folder string, id reconcile.Identity, fl reconcile.Flags) reconcile.UID {
	m := acc.create(folder)
	u := m.uidNext
	m.uidNext++
	m.msgs = append(m.msgs, reconcile.Message{UID: u, Flags: m.kept(fl), ID: id})
	return u
}

func (acc *account) listing() reconcile.Listing {
	l := reconcile.Listing{Delim: acc.delim}
	for name, m := range acc.folders {
		m.noteUserChanges()
		m.version++
		if m.snaps == nil {
			m.snaps = map[uint64][]reconcile.Message{}
		}
		m.snaps[m.version] = cloneMessages(m.msgs)
		l.Folders = append(l.Folders, reconcile.Folder{Mailbox: name, UIDValidity: m.uv, UIDNext: m.uidNext, Role: m.role, SpecialUse: m.use,
			HighestModSeq: m.version, NumMessages: len(m.msgs), Messages: cloneMessages(m.msgs), Permanent: m.keeps})
	}
	sort.Slice(l.Folders, func(i, j int) bool { return l.Folders[i].Mailbox < l.Folders[j].Mailbox })
	return l
}

func cloneMessages(ms []reconcile.Message) []reconcile.Message {
	out := make([]reconcile.Message, len(ms))
	for i, m := range ms {
		m.Flags = append(reconcile.Flags(nil), m.Flags...)
		out[i] = m
	}
	return out
}

// scanPointError checks the scan points base records for side s against
// this account, as it is now: a folder scanned from its point by an
// honest CONDSTORE server, the way imapstore.ScanSince does it, must
// come out exactly as the folder is. The listing a point names is the
// version it was taken at (its HIGHESTMODSEQ); a message changed since is
// one not in that listing or with other flags there. It returns what
// differs, or "".
func (acc *account) scanPointError(base reconcile.State, s reconcile.Side) string {
	claims := map[string]int{}
	for i := range base.Folders {
		claims[base.Folders[i].Side(s).Mailbox]++
	}
	var errs []string
	for i := range base.Folders {
		f := &base.Folders[i]
		ss := f.Side(s)
		if ss.Mailbox == "" || ss.HighestModSeq == 0 || claims[ss.Mailbox] > 1 {
			continue
		}
		mb := acc.folders[ss.Mailbox]
		if mb == nil || mb.uv != ss.UIDValidity {
			continue // not usable: the folder is read whole
		}
		mb.noteUserChanges()
		snap, ok := mb.snaps[ss.HighestModSeq]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s %q: scan point %d names no listing", s, ss.Mailbox, ss.HighestModSeq))
			continue
		}
		got, want := scanFromPoint(f, s, snap, mb), describe(mb.msgs)
		if f.Direction == reconcile.AToB && s == reconcile.B || f.Direction == reconcile.BToA && s == reconcile.A {
			// The target of a folder kept one way: its records hold
			// the source's flags, and its own may differ (see
			// FolderState.Direction). Its messages must be right.
			got, want = uidsOnly(got), uidsOnly(want)
		}
		if got != want {
			errs = append(errs, fmt.Sprintf("%s %q from scan point %d/%d reads\n    %s\n  but holds\n    %s", s, ss.Mailbox, ss.HighestModSeq, ss.UIDNext, got, want))
		}
	}
	return strings.Join(errs, "\n  ")
}

// uidsOnly keeps the UIDs of a describe result.
func uidsOnly(described string) string {
	var out []string
	for _, m := range strings.Split(described, ", ") {
		if uid, _, _ := strings.Cut(m, " "); uid != "" {
			out = append(out, uid)
		}
	}
	return strings.Join(out, ", ")
}

func describe(ms []reconcile.Message) string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d %s", m.UID, m.Flags))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// scanFromPoint is imapstore.ScanSince against an honest server whose
// mailbox mb was snap at the point's mod-sequence.
func scanFromPoint(f *reconcile.FolderState, s reconcile.Side, snap []reconcile.Message, mb *mbox) string {
	ss := f.Side(s)
	next := ss.UIDNext
	var old []reconcile.Message
	for _, r := range f.Records {
		if u := r.UID(s); u != 0 && u < next {
			old = append(old, reconcile.Message{UID: u, Flags: r.Flags})
		}
	}
	atPoint := map[reconcile.UID]bool{}
	for _, m := range snap {
		atPoint[m.UID] = true
	}
	unchanged := func(m reconcile.Message) bool {
		return atPoint[m.UID] && mb.touched[m.UID] <= ss.HighestModSeq
	}
	same := len(snap) == len(mb.msgs)
	for _, m := range mb.msgs {
		same = same && unchanged(m)
	}
	if same && mb.uidNext == next && len(mb.msgs) == len(old) {
		return describe(old) // the listing says nothing changed: nothing read
	}
	byUID := map[reconcile.UID]int{}
	for i, m := range old {
		byUID[m.UID] = i
	}
	whole := describe(mb.msgs)
	var fresh []reconcile.Message
	for _, m := range mb.msgs {
		switch {
		case m.UID >= next:
			fresh = append(fresh, m)
		case !unchanged(m): // FETCH CHANGEDSINCE reports it
			i, ok := byUID[m.UID]
			if !ok {
				return whole
			}
			old[i].Flags = m.Flags
		}
	}
	kept := old
	if len(mb.msgs)-len(fresh) != len(old) { // UID SEARCH
		there := map[reconcile.UID]bool{}
		for _, m := range mb.msgs {
			if m.UID < next {
				if _, ok := byUID[m.UID]; !ok {
					return whole
				}
				there[m.UID] = true
			}
		}
		kept = nil
		for _, m := range old {
			if there[m.UID] {
				kept = append(kept, m)
			}
		}
		if len(kept)+len(fresh) != len(mb.msgs) {
			return whole
		}
	}
	return describe(append(kept, fresh...))
}

func (m *mbox) find(u reconcile.UID) int {
	for i := range m.msgs {
		if m.msgs[i].UID == u {
			return i
		}
	}
	return -1
}

// refusedOf returns the flags of fl that m's server refuses outright.
func refusedOf(m *mbox, fl reconcile.Flags) reconcile.Flags {
	var out reconcile.Flags
	for _, f := range fl {
		if m.refuses.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// apply carries out one action on this account (the action's side),
// reading copy sources from other, as a server would.
func (acc *account) apply(a *reconcile.Action, other *account) reconcile.Outcome {
	if acc.failOn != nil && acc.failOn(a) {
		return reconcile.Outcome{Err: fmt.Errorf("injected failure")}
	}
	switch a.Op {
	case reconcile.CreateFolder:
		if acc.folders[a.Mailbox] != nil {
			return reconcile.Outcome{Err: fmt.Errorf("exists")}
		}
		acc.create(a.Mailbox)
		return reconcile.Outcome{UIDValidity: acc.folders[a.Mailbox].uv}
	case reconcile.DeleteFolder:
		if acc.folders[a.Mailbox] == nil {
			return reconcile.Outcome{Err: fmt.Errorf("no such folder")}
		}
		delete(acc.folders, a.Mailbox)
	case reconcile.RenameFolder:
		if err := acc.rename(a.Mailbox, a.Dest); err != nil {
			return reconcile.Outcome{Err: err}
		}
	case reconcile.Copy:
		src := other.folders[a.SrcMailbox]
		dst := acc.folders[a.Mailbox]
		if src == nil || dst == nil || src.find(a.SrcUID) < 0 {
			return reconcile.Outcome{Err: fmt.Errorf("copy: missing source or target")}
		}
		u := acc.deliver(a.Mailbox, src.msgs[src.find(a.SrcUID)].ID, a.Flags)
		return reconcile.Outcome{UID: u, UIDValidity: dst.uv, Refused: refusedOf(dst, a.Flags)}
	case reconcile.Move:
		src, dst := acc.folders[a.Mailbox], acc.folders[a.Dest]
		if src == nil || dst == nil || src.find(a.UID) < 0 {
			return reconcile.Outcome{Err: fmt.Errorf("move: missing")}
		}
		i := src.find(a.UID)
		m := src.msgs[i]
		src.msgs = append(src.msgs[:i], src.msgs[i+1:]...)
		// The flags the Move restores are stored once it is there;
		// those the server refuses outright are said so (Run's
		// restoreMoved).
		u := acc.deliver(a.Dest, m.ID, reconcile.NewFlags(append(slices.Clone(m.Flags), a.Flags...)...))
		return reconcile.Outcome{UID: u, UIDValidity: dst.uv, Refused: refusedOf(dst, a.Flags)}
	case reconcile.Store:
		mb := acc.folders[a.Mailbox]
		if mb == nil || mb.find(a.UID) < 0 {
			return reconcile.Outcome{Err: fmt.Errorf("store: missing")}
		}
		m := &mb.msgs[mb.find(a.UID)]
		mb.touch(a.UID)
		var fl []string
		for _, f := range m.Flags {
			if !a.Remove.Has(f) {
				fl = append(fl, f)
			}
		}
		m.Flags = mb.kept(reconcile.NewFlags(append(fl, a.Flags...)...))
		return reconcile.Outcome{Refused: refusedOf(mb, a.Flags)}
	case reconcile.Expunge:
		mb := acc.folders[a.Mailbox]
		if mb == nil || mb.find(a.UID) < 0 {
			return reconcile.Outcome{Err: fmt.Errorf("expunge: missing")}
		}
		i := mb.find(a.UID)
		mb.msgs = append(mb.msgs[:i], mb.msgs[i+1:]...)
	}
	return reconcile.Outcome{}
}

// rename renames a folder and the folders under it, as Dovecot does:
// each keeps its UIDVALIDITY and UIDs.
func (acc *account) rename(from, to string) error {
	if acc.folders[from] == nil {
		return fmt.Errorf("rename: no folder %q", from)
	}
	if acc.folders[to] != nil {
		return fmt.Errorf("rename: %q exists", to)
	}
	moved := map[string]*mbox{}
	for name, m := range acc.folders {
		if name == from || strings.HasPrefix(name, from+string(acc.delim)) {
			delete(acc.folders, name)
			moved[to+name[len(from):]] = m
		}
	}
	for name, m := range moved {
		acc.folders[name] = m
	}
	return nil
}

// execute carries out a whole plan on the two model accounts.
func execute(p *reconcile.Plan, a, b *account) []reconcile.Outcome {
	accs := [2]*account{a, b}
	out := make([]reconcile.Outcome, len(p.Actions))
	for i := range p.Actions {
		act := &p.Actions[i]
		if reconcile.SkippedUnderFailedRename(p.Actions, out, act) {
			out[i] = reconcile.Outcome{Err: fmt.Errorf("not run: a RENAME above it failed")}
			continue
		}
		out[i] = accs[act.Side].apply(act, accs[act.Side.Other()])
	}
	return out
}

// accountFromListing builds a model account holding what a listing says.
func accountFromListing(l reconcile.Listing) *account {
	acc := &account{folders: map[string]*mbox{}, nextUV: 100, delim: l.Delim, keeps: map[string]reconcile.Permanent{}}
	for _, f := range l.Folders {
		m := &mbox{uv: f.UIDValidity, uidNext: f.UIDNext, role: f.Role, use: f.SpecialUse, msgs: append([]reconcile.Message(nil), f.Messages...), keeps: f.Permanent}
		if !f.Permanent.All() {
			acc.keeps[f.Mailbox] = f.Permanent
		}
		if m.uidNext == 0 {
			m.uidNext = 1
		}
		acc.folders[f.Mailbox] = m
	}
	return acc
}
