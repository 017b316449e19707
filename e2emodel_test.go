package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

var (
	e2eSeed   = flag.Uint64("e2e.seed", 0, "run TestRandomEndToEnd for this seed only")
	e2eSeeds  = flag.Int("e2e.seeds", 12, "seeds TestRandomEndToEnd runs per server (from -e2e.from on)")
	e2eFrom   = flag.Uint64("e2e.from", 1, "first seed TestRandomEndToEnd runs")
	e2eRounds = flag.Int("e2e.rounds", 10, "rounds of changes and syncs per seed in TestRandomEndToEnd")
	e2eCuts   = flag.Float64("e2e.cuts", 0, "the chance that a round of TestRandomEndToEnd has, before its sync, a run killed, or its connection cut, at a random command that changes a mailbox (cutShort): an exploration aid; the seeds' rounds differ from those without it")
)

// TestRandomEndToEnd is the randomised model test of the whole run, as
// reconcile's TestRandomSync is of the planner: two users change their
// accounts at random between runs, through IMAP sessions of their own
// (new mail, flag changes, expunges, moves, folders created, renamed and
// deleted), and `mailtwin apply`'s run syncs them, through the real
// imapstore, reconcile.Run and a gitstate repository, against both
// servers. Each seed also picks the connections per account (1 or 4)
// and whether each server counts as near or far, so the run's paths for
// both are taken: scans that read new mail ahead, copies ahead of a
// folder's changes, the check of a changed folder on its selection, the
// folder creations sent together.
//
// Each seed syncs under one folder policy (e2eModes): most under the
// default, both ways with deletions propagated, and the others with
// deletions kept, deletions to the trash, a-to-b or b-to-a.
//
// After every run, under the default:
//   - converged: both accounts hold the same folders, each the same
//     messages (by Message-ID) with the same flags;
//   - no duplicates: no message is twice on an account;
//   - nothing lost: a message that no user expunged, and that was in no
//     folder a user deleted, is there;
//   - what one side did alone is what both sides show: a message only
//     one user changed (its flags, its folder, or expunged it), in
//     folders no user created, renamed or deleted, ends as that user
//     left it; so does new mail, and a folder only one user made or
//     renamed;
//   - the next run has nothing to do, and (on a server with CONDSTORE)
//     the one after that selects no folder: every folder's scan point
//     moved past the runs' own changes (b2's promise, "an unchanged
//     folder is never selected").
//
// Under keep and trash the same, but for the messages one user removed:
// the other side's copy stays where it was (keep) or goes to that
// side's trash (trash, or is expunged there when it was in the trash
// already), and nothing a user left on its side is gone from it
// (e2eSpared). One way: the source is as its user left it, what its
// user alone did reaches the target where the target's user never
// acted on the message or its folder, what the target's user did stays
// there, and the target loses only what the source's user removed
// (e2eOneWay).
//
// -e2e.seed N reruns one seed; -e2e.seeds and -e2e.rounds run more,
// and -e2e.from starts them past the seeds explored before. With
// -e2e.cuts P, a round's sync is preceded, with chance P, by a run
// killed or cut off at a random command that changes a mailbox
// (cutShort), and the round's checks hold all the same.
func TestRandomEndToEnd(t *testing.T) {
	t.Parallel()
	seeds := []uint64{*e2eSeed}
	if *e2eSeed == 0 {
		seeds = nil
		for i := range *e2eSeeds {
			seeds = append(seeds, *e2eFrom+uint64(i))
		}
	}
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		t.Parallel()
		for _, seed := range seeds {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				runEndToEnd(t, start, seed)
			})
		}
	})
}

// e2eMsg is a message as one account holds it.
type e2eMsg struct {
	folder string
	flags  string // canonical: sorted, keywords lower-cased, no \Recent
}

// e2eAccount is one account's messages by Message-ID, and its folders.
type e2eAccount struct {
	msgs    map[string]e2eMsg
	folders map[string]bool
}

func (a e2eAccount) clone() e2eAccount {
	return e2eAccount{msgs: maps.Clone(a.msgs), folders: maps.Clone(a.folders)}
}

// inFolder returns the Message-IDs in folder, sorted.
func (a e2eAccount) inFolder(folder string) []string {
	var ids []string
	for id, m := range a.msgs {
		if m.folder == folder {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// e2eUser is a user's own IMAP session, as a mail client's. The test
// names folders "/"-separated; delim is the server's delimiter.
type e2eUser struct {
	t     *testing.T
	name  string
	c     *imapclient.Client
	delim rune
}

// mailbox spells folder as the user's server does.
func (u *e2eUser) mailbox(folder string) string {
	return strings.ReplaceAll(folder, "/", string(u.delim))
}

// logical spells the server's mailbox "/"-separated.
func (u *e2eUser) logical(mailbox string) string {
	return strings.ReplaceAll(mailbox, string(u.delim), "/")
}

// e2eFixed are the folders the users neither rename nor delete.
var e2eFixed = map[string]bool{"INBOX": true, "Drafts": true, "Sent": true, "Trash": true, "Junk": true}

// e2eFlags are the flags the users set and clear.
var e2eFlags = []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, "$todo"}

func canonFlags(flags []imap.Flag) string {
	var out []string
	for _, f := range flags {
		s := string(f)
		if strings.EqualFold(s, `\Recent`) {
			continue
		}
		if !strings.HasPrefix(s, `\`) {
			s = strings.ToLower(s)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// read lists the account: every selectable folder and its messages. A
// message twice on the account fails the test.
func (u *e2eUser) read() e2eAccount {
	u.t.Helper()
	acc := e2eAccount{msgs: map[string]e2eMsg{}, folders: map[string]bool{}}
	u.unselect()
	list, err := u.c.List("", "*", nil).Collect()
	if err != nil {
		u.t.Fatalf("%s: list: %v", u.name, err)
	}
	for _, d := range list {
		if slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		sd, err := u.c.Select(d.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			u.t.Fatalf("%s: examine %q: %v", u.name, d.Mailbox, err)
		}
		folder := u.logical(d.Mailbox)
		acc.folders[folder] = true
		if sd.NumMessages == 0 {
			continue
		}
		bufs, err := u.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
		if err != nil {
			u.t.Fatalf("%s: fetch %q: %v", u.name, d.Mailbox, err)
		}
		for _, b := range bufs {
			id := b.Envelope.MessageID
			if prev, ok := acc.msgs[id]; ok {
				u.t.Errorf("duplicate: %s holds %s in %q and in %q", u.name, id, prev.folder, folder)
			}
			acc.msgs[id] = e2eMsg{folder: folder, flags: canonFlags(b.Flags)}
		}
	}
	u.unselect()
	return acc
}

func (u *e2eUser) unselect() {
	u.t.Helper()
	if u.c.State() == imap.ConnStateSelected {
		// The mailbox may be gone from under the session (the run
		// renamed or deleted it): the server then has none selected.
		u.c.Unselect().Wait()
	}
}

// uid returns the UID of message id in folder, selecting it read-write.
func (u *e2eUser) uid(folder, id string) imap.UID {
	u.t.Helper()
	if _, err := u.c.Select(u.mailbox(folder), nil).Wait(); err != nil {
		u.t.Fatalf("%s: select %q: %v", u.name, folder, err)
	}
	bufs, err := u.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		u.t.Fatalf("%s: fetch %q: %v", u.name, folder, err)
	}
	for _, b := range bufs {
		if b.Envelope.MessageID == id {
			return b.UID
		}
	}
	u.t.Fatalf("%s: no %s in %q", u.name, id, folder)
	return 0
}

func (u *e2eUser) must(what string, err error) {
	u.t.Helper()
	if err != nil {
		u.t.Fatalf("%s: %s: %v", u.name, what, err)
	}
}

// e2eRound is what the users did in one round, for the checks after
// the run.
type e2eRound struct {
	// acted[s][id] holds what user s did to message id: "new",
	// "flags", "move", "expunge".
	acted [2]map[string]map[string]bool
	// foldersActed are the folders a user created, renamed (both names)
	// or deleted; deleted the ones deleted.
	foldersActed, deleted map[string]bool
	// made[s] are the folders user s made or renamed to; gone[s] the
	// ones user s renamed away; deletedBy[s] the ones user s deleted.
	made, gone, deletedBy [2]map[string]bool
	// renamed[s] maps each folder user s renamed to, to its name before.
	renamed [2]map[string]string
	// lost are the messages a user expunged, or that were in a folder a
	// user deleted: they may be gone.
	lost map[string]bool
	log  []string
}

// e2eRun is one seed of TestRandomEndToEnd: the fixture, the two users,
// and what the checks carry from round to round.
type e2eRun struct {
	t      *testing.T
	rng    *rand.Rand
	seed   uint64
	f      *syncFixture
	mode   e2eMode
	oneWay bool
	// src and dst are a one-way pair's source and target sides.
	src, dst int
	users    [2]*e2eUser
	// ids counts the messages delivered (newID).
	ids int
	// accs are the accounts after the last run.
	accs    [2]e2eAccount
	history []string
	// everDeleted are the folders a user deleted in any round: by
	// DESIGN.md's table a folder deleted on one side stays on the other
	// where mail the base does not know arrived in it, and such mail
	// stays on that side alone.
	everDeleted map[string]bool
	// filed are the messages filed away (bookRound).
	filed map[string]bool
	// oneSided are the messages a user removed whose copy on the other
	// side the policy left there (keep, trash): they stay on one side.
	oneSided map[string]bool
	// dstActed and dstFolders are the messages and folders a one-way
	// pair's target's user acted on, in any round: its own changes stay.
	dstActed, dstFolders map[string]bool
	// dstExpunged are the messages a one-way target's user expunged in
	// an earlier round, while the source's user did not move them: they
	// do not come back while the source's user keeps them in a folder no
	// user acted on since (flag changes and moves on the source do not
	// revert the target's deletion).
	dstExpunged map[string]bool
}

func runEndToEnd(t *testing.T, start imaptest.StartFunc, seed uint64) {
	e := newE2ERun(t, start, seed)
	condstore := e.users[0].c.Caps().Has(imap.CapCondStore)
	e.start()
	for round := range *e2eRounds {
		if t.Failed() {
			return
		}
		e.round(round, condstore)
	}
}

// newE2ERun sets up seed's fixture: its policy, connections and servers,
// and a session for each user.
func newE2ERun(t *testing.T, start imaptest.StartFunc, seed uint64) *e2eRun {
	rng := rand.New(rand.NewPCG(seed, 0xe2e))
	f := newSyncFixture(t, start)
	conns := []int{1, 4}[rng.IntN(2)]
	f.connections = [2]int{conns, conns}
	f.far = [2]bool{rng.IntN(3) == 0, rng.IntN(3) == 0}
	mode := e2eModeFor(seed)
	f.policy.Default = mode.policy
	e := &e2eRun{t: t, rng: rng, seed: seed, f: f, mode: mode,
		oneWay:      mode.policy.Direction == reconcile.AToB || mode.policy.Direction == reconcile.BToA,
		everDeleted: map[string]bool{}, filed: map[string]bool{}, oneSided: map[string]bool{},
		dstActed: map[string]bool{}, dstFolders: map[string]bool{}, dstExpunged: map[string]bool{}}
	if mode.policy.Direction == reconcile.BToA {
		e.src = 1
	}
	e.dst = 1 - e.src
	if mode.policy.Deletion == reconcile.Trash {
		// A trash folder the run makes on one side, for the messages
		// it trashes there, stays on that side (reconcile's ownTrash),
		// as a folder deleted on the other side does.
		e.everDeleted[e2eTrash] = true
	}
	// The guards are tested elsewhere; these accounts are small, and a
	// round may well delete half of one.
	f.policy.Force = true
	srvB := f.srv
	if f.srv.Kind == "dovecot" && seed%3 == 2 {
		// b on a server of its own whose delimiter is '.': the run
		// maps every name, rename and move between the two.
		f.srvB = imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Separator: "."}, userB)
		srvB = f.srvB
	}
	t.Logf("seed %d (rerun: go test -run 'TestRandomEndToEnd/%s/%d$' -e2e.seed %d): %s, %d connections per account, far a %v, far b %v, b's delimiter %q",
		seed, f.srv.Kind, seed, seed, mode.name, conns, f.far[0], f.far[1], srvB.Delim)
	e.users = [2]*e2eUser{
		{t: t, name: "a", c: f.srv.Dial(t, userA), delim: f.srv.Delim},
		{t: t, name: "b", c: srvB.Dial(t, userB), delim: srvB.Delim},
	}
	return e
}

// newID names a new message.
func (e *e2eRun) newID() string {
	e.ids++
	return fmt.Sprintf("e%d-%d@example.org", e.seed, e.ids)
}

// deliver appends message id to user u's folder.
func (e *e2eRun) deliver(u *e2eUser, folder, id string, flags []imap.Flag) {
	msg := imaptest.NewMessage("sender@example.org", "team@example.org", "about "+id, id, "body of "+id+"\r\n")
	cmd := u.c.Append(u.mailbox(folder), int64(len(msg)), &imap.AppendOptions{Flags: flags})
	_, werr := cmd.Write(msg)
	cerr := cmd.Close()
	_, err := cmd.Wait()
	for _, x := range []error{werr, cerr, err} {
		u.must(fmt.Sprintf("append to %q", folder), x)
	}
}

func (e *e2eRun) randomFlags() []imap.Flag {
	var fl []imap.Flag
	for _, f := range e2eFlags {
		if e.rng.IntN(3) == 0 {
			fl = append(fl, f)
		}
	}
	return fl
}

// start gives each account a few folders and messages, and checks the
// first sync.
func (e *e2eRun) start() {
	t := e.t
	for _, u := range e.users {
		for i := range 2 {
			name := fmt.Sprintf("%s%d", strings.ToUpper(u.name), i)
			u.must("create "+name, u.c.Create(u.mailbox(name), nil).Wait())
		}
		for range 6 {
			folders := []string{"INBOX", strings.ToUpper(u.name) + "0", strings.ToUpper(u.name) + "1"}
			e.deliver(u, folders[e.rng.IntN(len(folders))], e.newID(), e.randomFlags())
		}
	}
	e.f.sync()
	e.accs[0], e.accs[1] = e.users[0].read(), e.users[1].read()
	if e.oneWay {
		src, dst := e.src, e.dst
		for id, m := range e.accs[src].msgs {
			if got, ok := e.accs[dst].msgs[id]; !ok || got != m {
				t.Errorf("%s, the first sync: %s has %s in %q %q, %s's copy is %s", e.mode.name, sideName[src], id, m.folder, m.flags, sideName[dst], e2eWhere(got, ok))
			}
		}
		e2eOneWay(t, src, [2]e2eAccount{}, e.accs, e.accs, &e2eRound{}, nil, nil, nil, nil, "the first sync")
	} else {
		e2eConverged(t, e.accs, nil, nil, "the first sync")
	}
}

// round has both users change their accounts, in a random order, syncs,
// and checks the outcome.
func (e *e2eRun) round(round int, condstore bool) {
	r := &e2eRound{foldersActed: map[string]bool{}, deleted: map[string]bool{}, lost: map[string]bool{}}
	var model [2]e2eAccount
	for s := range 2 {
		model[s] = e.accs[s].clone()
		r.acted[s] = map[string]map[string]bool{}
		r.made[s], r.gone[s], r.deletedBy[s] = map[string]bool{}, map[string]bool{}, map[string]bool{}
		r.renamed[s] = map[string]string{}
	}
	for _, s := range e.rng.Perm(2) {
		u, m := e.users[s], &model[s]
		for range 1 + e.rng.IntN(6) {
			e.userActs(round, r, s, m)
		}
		u.unselect()
		model[s] = u.read()
	}
	e.bookRound(r, model)
	e.history = append(e.history, fmt.Sprintf("round %d:", round))
	for _, l := range r.log {
		e.history = append(e.history, "  "+l)
	}
	if *e2eCuts > 0 && e.rng.Float64() < *e2eCuts {
		e.history = append(e.history, "  "+e.cutShort())
	}
	res := e.f.sync()
	e.history = append(e.history, "  sync: "+res.Plan.Summary())
	for _, l := range strings.Split(strings.TrimSpace(res.Plan.String()), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "pair ") {
			continue
		}
		e.history = append(e.history, "    "+strings.TrimSpace(l))
	}
	before := e.accs
	where := fmt.Sprintf("round %d; history:\n%s", round, strings.Join(e.history, "\n"))
	failed := e.t.Failed()
	e.accs[0], e.accs[1] = e.users[0].read(), e.users[1].read()
	if e.t.Failed() && !failed {
		e.t.Errorf("after the run of %s", where) // read found a duplicate
	}
	e.check(r, before, model, where)
	e.checkSettled(round, condstore, where)
}

// cutShort runs the pair once through proxies in front of its servers
// that break the run at the k-th command changing a mailbox or the
// folders that the servers receive, or answer (counted across every
// connection; k from 1 to 6). Either the run is killed there (its
// context cancelled and that connection cut, its state not saved, as
// `mailtwin apply` killed at that point leaves the accounts), or only
// that connection is cut, the run goes on, and its state is committed,
// as after a fault. Where the run sends fewer such commands nothing
// breaks: killed, it is a run that did everything and lost its state.
// It returns a line for the history. The round's clean sync follows,
// with the checks of a round without it: a broken run changes nothing
// a user did, and the sync after it must end where one sync would.
func (e *e2eRun) cutShort() string {
	f := e.f
	kill := e.rng.IntN(2) == 0
	k := 1 + e.rng.IntN(6)
	stage := []imaptest.Stage{imaptest.Received, imaptest.Answered}[e.rng.IntN(2)]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	seen, hit := 0, "no command reached"
	intercept := func(ev imaptest.Event) imaptest.Action {
		if ev.Stage != stage || !e2eChanging[ev.Verb] {
			return imaptest.Action{}
		}
		mu.Lock()
		defer mu.Unlock()
		if seen++; seen != k {
			return imaptest.Action{}
		}
		hit = fmt.Sprintf("%s %s", ev.Verb, stage)
		if kill {
			cancel()
		}
		return imaptest.Action{Do: imaptest.Cut}
	}
	recA := imaptest.Record(e.t, f.srv)
	recA.Intercept(intercept)
	addr, addrB := f.addr, f.addrB
	defer func() { f.addr, f.addrB = addr, addrB }()
	f.addr = recA.Addr
	if f.srvB != nil {
		recB := imaptest.Record(e.t, f.srvB)
		recB.Intercept(intercept)
		f.addrB = recB.Addr
	}
	// Dialled as f.dial does, but a login the proxy breaks breaks the
	// run, not the test.
	var stores [2]reconcile.Mailstore
	for i, user := range []string{userA, userB} {
		st, err := f.tryDial(ctx, user, false)
		if err != nil {
			for _, open := range stores[:i] {
				open.(interface{ Close() error }).Close()
			}
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprintf("run broken at its login (%s): %v", hit, err)
		}
		stores[i] = f.asRun(i, st)
	}
	a, b := stores[0], stores[1]
	var states reconcile.StateRepo = stateRepo{f.repo}
	if kill {
		states = discardState{states}
	}
	res, err := reconcile.Run(ctx, reconcile.RunOptions{Pair: "p", Policy: f.policy, Connections: f.connections}, a, b, states)
	for _, st := range []reconcile.Mailstore{a, b} {
		st.(interface{ Close() error }).Close() // as the process's end closes them
	}
	mu.Lock()
	what := fmt.Sprintf("killed at change %d, %s; its state lost", k, hit)
	if !kill {
		what = fmt.Sprintf("connection cut at change %d, %s; its state committed", k, hit)
	}
	mu.Unlock()
	if !kill && res != nil && res.Outcomes != nil {
		if _, cerr := commitRun(context.Background(), f.repo, []string{res.Plan.Summary()}, reconcile.Journal(res.Plan, res.Outcomes), 0); cerr != nil {
			e.t.Fatal(cerr)
		}
	}
	summary := "no plan"
	if res != nil && res.Plan != nil {
		summary = res.Plan.Summary()
	}
	if err != nil {
		summary += fmt.Sprintf(" (%v)", err)
	}
	return fmt.Sprintf("run broken (%s): %s", what, summary)
}

// e2eChanging are the verbs of the commands that change a mailbox or
// the folders, where cutShort breaks a run: a run broken before them
// did nothing.
var e2eChanging = map[string]bool{
	"APPEND": true, "STORE": true, "UID STORE": true, "COPY": true, "UID COPY": true, "MOVE": true, "UID MOVE": true,
	"EXPUNGE": true, "UID EXPUNGE": true, "CREATE": true, "DELETE": true, "RENAME": true,
}

// userActs has user s make one random change to its account (model
// follows it), noted in r.
func (e *e2eRun) userActs(round int, r *e2eRound, s int, m *e2eAccount) {
	folders := slices.Sorted(maps.Keys(m.folders))
	ids := slices.Sorted(maps.Keys(m.msgs))
	movable := slices.DeleteFunc(slices.Clone(folders), func(f string) bool { return e2eFixed[f] })
	switch k := e.rng.IntN(100); {
	case k < 25:
		e.newMail(r, s, m, folders)
	case k < 50 && len(ids) > 0:
		e.changeFlag(r, s, m, ids)
	case k < 62 && len(ids) > 0:
		e.expunge(r, s, m, ids)
	case k < 80 && len(ids) > 0 && len(folders) > 1:
		e.move(r, s, m, ids, folders)
	case k < 88:
		e.makeFolder(round, r, s, m, movable)
	case k < 95 && len(movable) > 0:
		e.renameFolder(round, r, s, m, folders, movable)
	case len(movable) > 0:
		e.deleteFolder(r, s, m, folders, movable)
	}
}

// act notes that user s did what to message id.
func (r *e2eRound) act(s int, id, what string) {
	if r.acted[s][id] == nil {
		r.acted[s][id] = map[string]bool{}
	}
	r.acted[s][id][what] = true
}

func (e *e2eRun) newMail(r *e2eRound, s int, m *e2eAccount, folders []string) {
	u := e.users[s]
	id, folder, flags := e.newID(), folders[e.rng.IntN(len(folders))], e.randomFlags()
	e.deliver(u, folder, id, flags)
	m.msgs[id] = e2eMsg{folder: folder, flags: canonFlags(flags)}
	r.act(s, id, "new")
	r.log = append(r.log, fmt.Sprintf("%s: deliver %s to %q flags %q", u.name, id, folder, canonFlags(flags)))
}

// changeFlag sets or clears one flag of a message.
func (e *e2eRun) changeFlag(r *e2eRound, s int, m *e2eAccount, ids []string) {
	u := e.users[s]
	id := ids[e.rng.IntN(len(ids))]
	msg := m.msgs[id]
	fl := e2eFlags[e.rng.IntN(len(e2eFlags))]
	op, cur := imap.StoreFlagsAdd, strings.Fields(msg.flags)
	if slices.Contains(cur, canonFlags([]imap.Flag{fl})) {
		op = imap.StoreFlagsDel
	}
	uid := u.uid(msg.folder, id)
	u.must("store", u.c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{fl}}, nil).Close())
	var now []imap.Flag
	for _, c := range cur {
		now = append(now, imap.Flag(c))
	}
	if op == imap.StoreFlagsAdd {
		now = append(now, fl)
	} else {
		now = slices.DeleteFunc(now, func(c imap.Flag) bool { return canonFlags([]imap.Flag{c}) == canonFlags([]imap.Flag{fl}) })
	}
	msg.flags = canonFlags(now)
	m.msgs[id] = msg
	r.act(s, id, "flags")
	r.log = append(r.log, fmt.Sprintf("%s: %s in %q now %q", u.name, id, msg.folder, msg.flags))
}

func (e *e2eRun) expunge(r *e2eRound, s int, m *e2eAccount, ids []string) {
	u := e.users[s]
	id := ids[e.rng.IntN(len(ids))]
	msg := m.msgs[id]
	uid := u.uid(msg.folder, id)
	u.must("store \\Deleted", u.c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close())
	_, err := u.c.UIDExpunge(imap.UIDSetNum(uid)).Collect()
	u.must("expunge", err)
	delete(m.msgs, id)
	r.act(s, id, "expunge")
	r.lost[id] = true
	r.log = append(r.log, fmt.Sprintf("%s: expunge %s from %q", u.name, id, msg.folder))
}

func (e *e2eRun) move(r *e2eRound, s int, m *e2eAccount, ids, folders []string) {
	u := e.users[s]
	id := ids[e.rng.IntN(len(ids))]
	msg := m.msgs[id]
	dest := folders[e.rng.IntN(len(folders))]
	if dest == msg.folder {
		return
	}
	uid := u.uid(msg.folder, id)
	_, err := u.c.Move(imap.UIDSetNum(uid), u.mailbox(dest)).Wait()
	u.must("move", err)
	r.log = append(r.log, fmt.Sprintf("%s: move %s from %q to %q", u.name, id, msg.folder, dest))
	msg.folder = dest
	m.msgs[id] = msg
	r.act(s, id, "move")
}

// makeFolder makes a folder, at the top or under another.
func (e *e2eRun) makeFolder(round int, r *e2eRound, s int, m *e2eAccount, movable []string) {
	u := e.users[s]
	name := fmt.Sprintf("%s%d", strings.ToUpper(u.name), 100+round*10+e.rng.IntN(10))
	if len(movable) > 0 && e.rng.IntN(2) == 0 {
		name = movable[e.rng.IntN(len(movable))] + "/C" + name
	}
	if m.folders[name] {
		return
	}
	u.unselect()
	u.must("create "+name, u.c.Create(u.mailbox(name), nil).Wait())
	m.folders[name] = true
	r.made[s][name] = true
	r.foldersActed[name] = true
	r.log = append(r.log, fmt.Sprintf("%s: create folder %q", u.name, name))
}

// renameFolder renames a folder, with what is under it, and notes which
// folders that touches on each side.
func (e *e2eRun) renameFolder(round int, r *e2eRound, s int, m *e2eAccount, folders, movable []string) {
	u, accs := e.users[s], e.accs
	from := movable[e.rng.IntN(len(movable))]
	to := fmt.Sprintf("R%s%d", strings.ToUpper(u.name), 100+round*10+e.rng.IntN(10))
	if m.folders[to] || r.made[s][to] || r.gone[s][to] {
		// Not onto a folder, nor onto a name this round made or left:
		// the round's renames are followed back by name (r.renamed),
		// and a name used twice would make that a loop.
		return
	}
	if e.f.srv.Kind == "mem" && slices.ContainsFunc(folders, func(f string) bool { return strings.HasPrefix(f, from+"/") }) {
		// The in-memory server renames the one folder and
		// leaves those under it, which RFC 3501 forbids
		// (they "MUST also be renamed"): no user of a real
		// server sees that.
		return
	}
	u.unselect()
	u.must(fmt.Sprintf("rename %q to %q", from, to), u.c.Rename(u.mailbox(from), u.mailbox(to), nil).Wait())
	// The folders under it move with it on Dovecot, and
	// stay on the in-memory server: the account says.
	old := *m
	*m = u.read()
	for f := range old.folders {
		if f != from && !strings.HasPrefix(f, from+"/") {
			continue
		}
		moved := to + strings.TrimPrefix(f, from)
		r.foldersActed[f], r.foldersActed[moved] = true, true
		if (e.everDeleted[f] || r.deleted[f]) && !accs[1-s].folders[f] {
			// A folder on this side alone stays so, renamed (also
			// where an earlier rename of this round named it: seed
			// 494 renamed a's B1, deleted on b, to RA199, then to
			// RA191).
			r.deleted[moved] = true
		}
	}
	for f := range accs[1-s].folders {
		if !strings.HasPrefix(f, from+"/") {
			continue
		}
		// Under the folder renamed on the other side too:
		// the run's RENAME there moves it along, one the
		// other side has alone included.
		r.foldersActed[f], r.foldersActed[to+strings.TrimPrefix(f, from)] = true, true
		if e.everDeleted[f] && !accs[s].folders[f] || r.deletedBy[s][f] {
			// On the other side alone (this user deleted
			// it, this round or before), it stays so,
			// moved along.
			r.deleted[to+strings.TrimPrefix(f, from)] = true
		}
	}
	for _, f := range slices.Collect(maps.Keys(r.deleted)) {
		if strings.HasPrefix(f, from+"/") {
			// Moved along by an earlier rename of this
			// round: again.
			r.deleted[to+strings.TrimPrefix(f, from)] = true
		}
	}
	r.made[s][to], r.gone[s][from], r.renamed[s][to] = true, true, from
	if e.oneWay && s == e.src && (e2eUnder(from, e.dstFolders) || accs[e.src].folders[from] && !accs[e.dst].folders[from]) {
		// The source renamed a folder that is its own
		// (the target's user renamed or deleted its
		// counterpart): so is the new name.
		for f := range old.folders {
			if f == from || strings.HasPrefix(f, from+"/") {
				e.dstFolders[to+strings.TrimPrefix(f, from)] = true
			}
		}
	}
	r.log = append(r.log, fmt.Sprintf("%s: rename folder %q to %q", u.name, from, to))
}

// deleteFolder deletes a folder with its mail (one with none under it).
func (e *e2eRun) deleteFolder(r *e2eRound, s int, m *e2eAccount, folders, movable []string) {
	u := e.users[s]
	name := movable[e.rng.IntN(len(movable))]
	if slices.ContainsFunc(folders, func(f string) bool { return strings.HasPrefix(f, name+"/") }) {
		return
	}
	u.unselect()
	u.must("delete "+name, u.c.Delete(u.mailbox(name)).Wait())
	delete(m.folders, name)
	for id, msg := range m.msgs {
		if msg.folder == name {
			delete(m.msgs, id)
			r.lost[id] = true
		}
	}
	r.foldersActed[name], r.deleted[name], r.deletedBy[s][name] = true, true, true
	for from, ok := e2eRenamedFrom(r.renamed[s], name); ok; from, ok = e2eRenamedFrom(r.renamed[s], from) {
		// Renamed, or moved along with a folder above it, then
		// deleted: to the other side, the folder it had as from is
		// deleted.
		r.foldersActed[from], r.deleted[from], r.deletedBy[s][from] = true, true, true
	}
	r.log = append(r.log, fmt.Sprintf("%s: delete folder %q", u.name, name))
}

// e2eRenamedFrom returns the name folder had before the rename in renamed
// (new name to old) that gave it its name: its own rename, or that of a
// folder above it, which a server's RENAME moves it along with.
func e2eRenamedFrom(renamed map[string]string, folder string) (string, bool) {
	for p := folder; p != ""; {
		if from, ok := renamed[p]; ok {
			return from + folder[len(p):], true
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return "", false
}

// bookRound notes, once both users are done, the messages a deleted
// folder may take with it and those filed away.
func (e *e2eRun) bookRound(r *e2eRound, model [2]e2eAccount) {
	accs := e.accs
	// A message in a folder one user deleted may go with it, whatever
	// the other did to it.
	for s := range 2 {
		for id, msg := range accs[s].msgs {
			if r.deleted[msg.folder] {
				r.lost[id] = true
			}
		}
		for id, msg := range model[s].msgs {
			if r.deleted[msg.folder] {
				r.lost[id] = true
			}
		}
	}
	if e.oneWay {
		// A folder the target's user deleted and the source's user
		// renamed in the same round is not made again on the target
		// under its new name (README, "folder renamed on A, deleted on
		// B": not where B is a one-way target and A's folder is the
		// same mailbox): renamed, it stays the source's alone.
		for to := range r.renamed[e.src] {
			for from, ok := r.renamed[e.src][to]; ok; from, ok = r.renamed[e.src][from] {
				if r.deletedBy[e.dst][from] {
					r.deleted[to] = true
					break
				}
			}
		}
	}
	maps.Copy(e.everDeleted, r.deleted)
	// Filed away (DESIGN.md's table; reconcile's bug 6): a message a
	// user moved or delivered into a folder the other side deleted
	// stays on that user's side alone, and the other side's copy
	// gets the deletion policy. In a one-way pair so does a folder
	// the target's user renamed away: the pair does not follow
	// that rename, and the folder is the source's alone; and so does
	// a folder under it, which the target's RENAME took along (seed
	// 328).
	// So too a folder both users renamed in the round, each to a name
	// of their own: the source's new name is made on the target, and
	// the target's copies stay in the target's.
	src, dst := e.src, e.dst
	renamedAway := func(f string) bool {
		for from, ok := e2eRenamedFrom(r.renamed[src], f); ok; from, ok = e2eRenamedFrom(r.renamed[src], from) {
			if e2eUnder(from, r.gone[dst]) {
				return true
			}
		}
		return false
	}
	for s := range 2 {
		for id, m := range model[s].msgs {
			if r.deletedBy[1-s][m.folder] || e.everDeleted[m.folder] && !accs[1-s].folders[m.folder] ||
				e.oneWay && s == src && (e2eUnder(m.folder, r.gone[dst]) || renamedAway(m.folder) || !accs[dst].folders[m.folder] && (accs[src].folders[m.folder] || e2eUnder(m.folder, e.dstFolders))) {
				e.filed[id] = true
			}
		}
	}
}

// check checks the accounts after a round's run against what the users
// did (model), by the seed's policy.
func (e *e2eRun) check(r *e2eRound, before, model [2]e2eAccount, where string) {
	t, accs := e.t, e.accs
	switch {
	case e.oneWay:
		for id := range r.acted[e.dst] {
			e.dstActed[id] = true
		}
		for id, m := range before[e.dst].msgs {
			if r.deletedBy[e.dst][m.folder] {
				e.dstActed[id] = true
			}
		}
		for _, set := range []map[string]bool{r.made[e.dst], r.gone[e.dst], r.deletedBy[e.dst]} {
			maps.Copy(e.dstFolders, set)
		}
		// A folder the target's user acted on keeps that standing under
		// the name the source's user's rename of a folder above gives it
		// (seed 376: the target's user renamed RA105/CA112 away, which
		// left a's RA105/CA112 a's alone; a's user then renamed RA105 to
		// RA209, and a's RA209/CA112 is still a's alone).
		for to, from := range r.renamed[e.src] {
			for f := range maps.Clone(e.dstFolders) {
				if f == from || strings.HasPrefix(f, from+"/") {
					e.dstFolders[to+f[len(from):]] = true
				}
			}
		}
		e2eOneWay(t, e.src, before, model, accs, r, e.dstActed, e.dstFolders, e.everDeleted, e.filed, where)
		e2eStaysExpunged(t, e.src, before, model, accs, r, e.dstExpunged, e.dstFolders, where)
	case e.mode.policy.Deletion != reconcile.Propagate:
		maps.Copy(e.oneSided, r.lost)
		e2eConverged(t, accs, e.everDeleted, e2eUnion(e.filed, e.oneSided), where)
		e2eExpected(t, before, model, accs, r, e.everDeleted, e.filed, where)
		e2eSpared(t, e.mode, before, model, accs, r, e.filed, where)
	default:
		e2eConverged(t, accs, e.everDeleted, e.filed, where)
		e2eExpected(t, before, model, accs, r, e.everDeleted, e.filed, where)
	}
}

// checkSettled checks that the run after a round's has nothing to do,
// and the one after that selects nothing (where the server has
// CONDSTORE: without it there are no scan points, and every run reads
// every folder).
func (e *e2eRun) checkSettled(round int, condstore bool, where string) {
	t, f := e.t, e.f
	if res := f.sync(); !res.Plan.Empty() {
		t.Errorf("the run after round %d's has work:\n%s\n%s", round, res.Plan, where)
	}
	if !condstore {
		return
	}
	rec := imaptest.Record(t, f.srv)
	f.addr = rec.Addr
	recB := rec
	if f.srvB != nil {
		recB = imaptest.Record(t, f.srvB)
		f.addrB = recB.Addr
	}
	f.run(true)
	f.addr, f.addrB = "", ""
	for _, r := range slices.Compact([]*imaptest.Recorder{rec, recB}) {
		if n := r.Count("SELECT") + r.Count("EXAMINE"); n > 0 {
			t.Errorf("after round %d, a run with nothing to do opened folders:\n%s\n%s", round, strings.Join(r.Commands(), "\n"), where)
		}
	}
}

// e2eConverged checks that both accounts hold the same folders and
// messages, with the same flags, but for the folders a user deleted
// that stay on the other side alone, with what they hold (see
// everDeleted).
func e2eConverged(t *testing.T, accs [2]e2eAccount, deleted, filed map[string]bool, where string) {
	t.Helper()
	oneSided := func(s int, folder string) bool { return deleted[folder] && !accs[1-s].folders[folder] }
	var folders [2][]string
	for s := range 2 {
		for f := range accs[s].folders {
			if !oneSided(s, f) {
				folders[s] = append(folders[s], f)
			}
		}
		slices.Sort(folders[s])
	}
	if !slices.Equal(folders[0], folders[1]) {
		t.Errorf("not converged: a has folders %q, b %q; %s", folders[0], folders[1], where)
	}
	for _, id := range slices.Sorted(maps.Keys(accs[0].msgs)) {
		ma := accs[0].msgs[id]
		mb, ok := accs[1].msgs[id]
		switch {
		case filed[id]:
		case !ok:
			t.Errorf("not converged: %s is in %q on a (%q), not on b; %s", id, ma.folder, ma.flags, where)
		case ma != mb:
			t.Errorf("not converged: %s is in %q %q on a, in %q %q on b; %s", id, ma.folder, ma.flags, mb.folder, mb.flags, where)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(accs[1].msgs)) {
		if _, ok := accs[0].msgs[id]; !ok && !filed[id] {
			t.Errorf("not converged: %s is in %q on b, not on a; %s", id, accs[1].msgs[id].folder, where)
		}
	}
}

// e2eExpected checks what the users did against what the accounts hold
// after the run: before is both accounts before the round, model what
// each user left its account as, after both accounts after the run.
func e2eExpected(t *testing.T, before, model, after [2]e2eAccount, r *e2eRound, deleted, filed map[string]bool, where string) {
	t.Helper()
	// Nothing lost.
	for s := range 2 {
		for _, id := range slices.Sorted(maps.Keys(before[s].msgs)) {
			_, onA := after[0].msgs[id]
			_, onB := after[1].msgs[id]
			if !onA && !onB && !r.lost[id] {
				t.Errorf("lost: %s (in %q before the round) is gone, and no user expunged it or deleted its folder; %s", id, before[s].msgs[id].folder, where)
			}
		}
	}
	// New mail stays, on its side at least (in a folder the other side
	// deleted it stays there alone).
	for s := range 2 {
		for id, acts := range r.acted[s] {
			if _, kept := model[s].msgs[id]; kept && acts["new"] {
				if _, ok := after[s].msgs[id]; !ok {
					t.Errorf("lost: new mail %s, delivered to %q on %s, is gone; %s", id, model[s].msgs[id].folder, []string{"a", "b"}[s], where)
				}
			}
		}
	}
	// What one user did alone.
	for s := range 2 {
		o := 1 - s
		for _, id := range slices.Sorted(maps.Keys(r.acted[s])) {
			if r.acted[o][id] != nil || filed[id] {
				continue // both users acted on it (a conflict the policy settles), or filed away
			}
			if m, ok := before[s].msgs[id]; ok && r.foldersActed[m.folder] {
				continue
			}
			want, kept := model[s].msgs[id]
			if kept && (r.foldersActed[want.folder] || deleted[want.folder] && !after[o].folders[want.folder]) {
				continue // in a folder the other side deleted before: it stays here alone
			}
			got, ok := after[s].msgs[id]
			switch {
			case !kept && ok:
				t.Errorf("%s expunged %s, which is back in %q; %s", []string{"a", "b"}[s], id, got.folder, where)
			case kept && !ok:
				t.Errorf("%s left %s in %q %q, now gone; %s", []string{"a", "b"}[s], id, want.folder, want.flags, where)
			case kept && got != want:
				t.Errorf("%s left %s in %q %q, now in %q %q; %s", []string{"a", "b"}[s], id, want.folder, want.flags, got.folder, got.flags, where)
			}
		}
		// A folder one user made or renamed to is there; one it renamed
		// away is gone, unless the other user acted on it too.
		// settledAbove: a folder above name that s's user renamed and
		// the other user renamed or deleted too: the policy settles its
		// name, and name goes along with it (seed 692: b made
		// RB138/CB130 under a folder both users renamed, and a's name
		// won: it is RA131/CB130 on both sides).
		//
		// bothActed: s's user renamed folder name from one the other user
		// renamed or deleted too, through every rename of the round
		// (seed 1275: b renamed RB101 to RB134 and that to RB136, a
		// renamed RB101 to RA132, and a's name won).
		bothActed := func(name string) bool {
			for from, ok := r.renamed[s][name]; ok; from, ok = r.renamed[s][from] {
				if e2eUnder(from, r.gone[o], r.deleted) {
					return true
				}
			}
			return false
		}
		settledAbove := func(name string) bool {
			for p := name; strings.Contains(p, "/"); {
				p = p[:strings.LastIndex(p, "/")]
				if bothActed(p) {
					return true
				}
			}
			return false
		}
		for name := range r.made[s] {
			if bothActed(name) || settledAbove(name) {
				continue // renamed on both sides, or renamed and deleted: the policy settles it
			}
			if !e2eUnder(name, r.gone[s], r.made[o], r.gone[o], r.deleted) && !after[0].folders[name] {
				t.Errorf("%s made folder %q, which is not there; %s", []string{"a", "b"}[s], name, where)
			}
		}
		for name := range r.gone[s] {
			if !e2eUnder(name, r.made[s], r.made[o], r.gone[o], r.deleted) && after[0].folders[name] {
				t.Errorf("%s renamed folder %q away, which is still there; %s", []string{"a", "b"}[s], name, where)
			}
		}
	}
}

// e2eUnder reports whether folder is one of the sets' folders or under
// one of them.
func e2eUnder(folder string, sets ...map[string]bool) bool {
	for _, set := range sets {
		for f := range set {
			if folder == f || strings.HasPrefix(folder, f+"/") {
				return true
			}
		}
	}
	return false
}
