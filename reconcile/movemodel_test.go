package reconcile_test

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

var (
	moveModelCases  = flag.Int("movemodel.cases", 1500, "number of random cases TestModelMovesAndRenames runs")
	moveModelSeed   = flag.Uint64("movemodel.seed", 0, "run only the TestModelMovesAndRenames case with this seed (as a failure prints it)")
	moveModelFrom   = flag.Uint64("movemodel.from", 1, "the seed of TestModelMovesAndRenames's first case: with -movemodel.cases, explore past the seeds run before")
	moveModelAll    = flag.Bool("movemodel.all", false, "let TestModelMovesAndRenames also make the moves and renames of the known planner bugs (see its doc comment)")
	moveModelStates = flag.Bool("movemodel.states", false, "print the state after each sync in a failing TestModelMovesAndRenames case's history")
	moveModelBugs   = flag.String("movemodel.bugs", "", "as -movemodel.all, for these known bugs only (comma-separated numbers, as its doc comment has them)")
	moveModelAlike  = flag.Bool("movemodel.alike", false, "make TestModelMovesAndRenames's users rename a folder alike on both sides far more often (23% of operations instead of 7%), each side by RENAME or by copy: an exploration aid; the seeds' cases differ from those without it")
	moveModelMirror = flag.Bool("movemodel.mirror", false, "check every plan of TestModelMovesAndRenames against the plan of the same pair with A and B swapped (mirrorDiff): an exploration aid")
	moveModelResets = flag.Bool("movemodel.resets", false, "let TestModelMovesAndRenames's servers make a folder anew under its name (new UIDVALIDITY, UIDs 1..n) in 6% of operations: an exploration aid; the seeds' cases differ from those without it")
)

// bugOpen reports whether the case may trigger known bug n (see
// TestModelMovesAndRenames): -movemodel.all, or n among -movemodel.bugs.
func bugOpen(n int) bool {
	if *moveModelAll {
		return true
	}
	for _, f := range strings.Split(*moveModelBugs, ",") {
		if strings.TrimSpace(f) == strconv.Itoa(n) {
			return true
		}
	}
	return false
}

// TestModelMovesAndRenames is a randomised model test of the planner for
// what TestModel leaves out: messages moved between folders and folders
// renamed. Each case is two model accounts (sim_test.go's account; B has
// "." as its hierarchy delimiter in a third of the cases) under one
// policy: direction both, a random deletion policy (propagate, trash or
// keep) and a random prefer side. In rounds, a simulated user on either
// side does, per operation: deliver new mail (16%), toggle a flag (14%),
// expunge (6%), move a message as a client's UID MOVE does, out of one
// folder and into another under a new UID, same identity and flags (26%),
// create a folder (8%), delete a leaf folder, empty or full (5%), rename a
// folder with its children as Dovecot does, UIDVALIDITY and UIDs kept
// (12%), rename it as a server that makes the renamed folders anew, new
// UIDVALIDITY and UIDs 1..n (6%), or rename one folder the same way on
// both sides (7%; with -movemodel.alike 23%, each side by RENAME or by
// copy). With -movemodel.resets a server makes a folder anew under its
// name (6%, as after a restore from a backup), in place of moves. Both
// flags are exploration aids whose seeds make other cases than without
// them. A third of the rounds are quiet: no expunge, no folder deleted,
// no UIDVALIDITY changed (with -movemodel.alike, a quiet round may
// hold a rename by copy). Then the pair is synced: Build, the
// plan carried out on the models, Next. Three syncs in ten have actions
// fail at random; the last sync of a case is clean.
//
// Folder names are never used twice in a case, so an old name on either
// side after a sync can only come from the planner. The users work as the
// planner can follow them: a folder is renamed only when its contents
// still show it is the same mailbox (renameEvidence), nothing leaves a
// folder renamed since the last clean sync, and a folder is deleted only
// under the name the state knows it by, and only when it does not look
// like a folder whose mail went to a new one (which the design calls a
// rename). The model's book says which messages and folders may stay on
// one side by the semantics: a folder the other side's user deleted (kept
// under keep, or for mail that arrived in it meanwhile), and what a user
// put into one.
//
// After every sync: nothing lost (an identity no user deleted is on some
// side), and the state survives EncodeState and DecodeState.
//
// After every clean sync (checkClean):
//   - level-based: a second Build right away plans nothing;
//   - no duplicates: a side holds each identity at most once, across all
//     its folders (a moved message is in one folder on each side);
//   - converged: a folder (other than the trash) on one side is on the
//     other too, unless the other side's user deleted it; a folder on both
//     sides holds the same identities with the same flags on both, except
//     identities a user deleted and mail put into a folder the other side
//     deleted;
//   - nothing lost: an identity no user deleted is on both sides (on the
//     side that has it, if it was put into a folder the other side
//     deleted);
//
// and when the sync before it was clean too:
//   - moves: a message the user moved on one side, which both sides held
//     in one folder at the last sync, is in the folder the user moved it
//     to on both sides; when both sides moved it to different folders, in
//     the prefer side's; when the other side deleted it, there too;
//   - flags: such a message has on both sides the per-flag three-way merge
//     of the agreed flags and the two sides' (each flag takes the side
//     that changed it), moved or not, in a renamed folder or not;
//   - renames: no name a user renamed a folder away from is on either
//     side; a folder renamed on both sides to different names has one name
//     on both sides, the prefer side's, and the other name is gone; a
//     folder renamed on one side and deleted on the other is made again
//     on that side under the new name; a folder a user deleted, which a
//     clean sync agreed on, does not come back.
//
// And at planning time, when the previous sync was clean and the users
// since expunged nothing, deleted no folder and no server changed a
// UIDVALIDITY: no re-upload, that is, no Copy of an identity the target
// side already holds anywhere. Moves, renames and flag changes move no
// message body.
//
// Known planner bugs (found at 947a3cf; those marked fixed were fixed
// after, and their gates removed or kept only where noted). The test
// asserts the right behaviour; without -movemodel.all the users keep
// clear of what triggers the open ones (each gate in the code names its
// bug), with it they do not, and cases fail:
//  1. (fixed: the move into such a folder, then moves out of one on
//     both sides, found by identity; gates removed; testdata cases 105
//     and 106) a move into a folder whose UIDVALIDITY changed on either
//     side was no move: delete plus re-upload, a duplicate under keep or
//     trash; a message moved on both sides out of such a folder was
//     copied both ways;
//  2. (fixed, gate removed: with it open, seeds 1 to 150,000 pass. The
//     plain form: testdata case 90; with the folder renamed on the other
//     side meanwhile, cases 101 and 102; a failed repeat of such a move,
//     TestNextFailedActionInADeletedFolderIsRetried; moves out of it on
//     both sides, to different folders, cases 112 to 114; after failed
//     runs, a deleted folder's stale record claiming a renamed child's
//     mailbox, case 141, seed 27123; a failed move conflict into a new
//     folder after a UIDVALIDITY change,
//     TestNextFailedConflictIntoNewFolderAfterReset, seed 103260) a
//     move out of a folder that the same side then deletes was no move:
//     the other side's copy got the folder deletion's policy and the
//     message was re-uploaded, or duplicated under keep or trash;
//  3. (fixed: CreateFolder's outcome tells the UIDVALIDITY, gate
//     removed) a folder the plan created, with nothing copied or moved
//     into it, has no UIDVALIDITY in the state; renamed before the next
//     run, it is taken for a deleted folder and a new one (under keep the
//     old name stays);
//  4. (fixed: Next keeps a pairing whose Store failed on one side, with
//     that side's flags, TestNextFailedStoreKeepsPairing, and one whose
//     Stores failed on both sides, with the flags the merge started
//     from, TestNextFailedFlagMergeKeepsPairing, seed 90113 of
//     150,000; gate removed) the planner pairs copies by identity within
//     one folder only: a message both sides held that no record linked
//     (a failed flag Store on a new pairing dropped the record) and that
//     a user then moved was copied both ways;
//  5. (fixed: the plan moves into the folder it makes again; testdata
//     cases 103 and 104, TestSyncMovesAroundARenamedVersusDeletedFolder;
//     the gate on such moves stays, as the model cannot tell at the move
//     whether a later rename on the other side undoes the folder's
//     revival) a move into a folder renamed on one side and deleted on
//     the other (so made again there) was no move: delete plus
//     re-upload, a duplicate under keep or trash;
//  6. (fixed, gates removed: with them open, seeds 1 to 150,000 of
//     -movemodel.bugs 6 pass) a message moved into a folder whose
//     counterpart the other side deleted was copied back, or lost. Now
//     it leaves the pair's folders; the other side's copy
//     gets the deletion policy, and a flag change there keeps that
//     copy, one-sided, instead of copying it back to the mover;
//     a new UIDVALIDITY on the mover's source folder does not make it
//     lost (testdata cases 108 to 110); the other side's user may move
//     its one-sided copy, which stays one-sided (116, 133: seeds 1505,
//     2101 and 2839); a message so filed away that its user then moves
//     into a folder of the pair again, or whose folder is renamed (so
//     made again on the other side), is joined there by the other
//     side's copy (121 to 127, 129), and so when both users move their
//     copies back, in the prefer side's folder (128), and when its user
//     moves it out of a folder a change made again on the other side
//     (131: seeds 1760 and 2306); mail delivered into a folder the other
//     side had deleted is copied once its user moves it (132: seed
//     74159); when the other side's user moved its copy while the
//     filer's folder came back on both sides, the two moves are a
//     conflict the prefer side wins (134 to 137, seeds 38251 and 38809);
//     and a changed copy is not copied back to a side that holds the
//     message filed away (138 and 139, seeds 48702 and 65673); and
//     when both users moved it back into the pair, to different
//     folders, and the prefer side's is new and its creation fails with
//     the join, the state keeps the loser's source record, so the next
//     run joins the two again (TestNextFailedJoinIntoNewFolder, seed
//     146381);
//  7. (fixed in 8adb778, tested by TestRenamesFailingMidway; gate
//     removed with bug 10's) when the RENAME of a rename conflict fails, the state records the
//     loser's folder under the winner's name; the next run renames the
//     winner to the loser's name;
//  8. (fixed in 8adb778, likewise, gate removed) when a RENAME fails after the RENAME of a folder above it
//     succeeded, the state keeps the folder's first mailbox name, gone;
//  9. (fixed: evidence is matched best first; gate removed: with it
//     open, 80,000 cases of -movemodel.bugs 9 pass at 31005e2) rename detection takes the state's folders in name order, and a
//     match by message identity can claim the folder that is another's
//     by UIDVALIDITY: that one is taken for deleted (the evidence rules
//     avoid it, and so does a sync that makes a folder again not failing:
//     a failed re-creation keeps stale records);
//  10. (fixed, gates removed: with them open, 80,000 cases of
//     -movemodel.bugs 7,10 pass at ad94fda and at 31005e2) after a
//     failed run the state may keep a folder's old name with the
//     renaming side's new mailbox; the next run looks it up by the old
//     name, needs evidence again, and without it takes the folder for
//     deleted and new: a duplicate and a stray folder. (Forms fixed: a
//     folder new under a failed RENAME is recorded where it is, and
//     RENAMEs failed on both sides keep the base's name,
//     TestRenamesFailingMidway, seeds 166 and 4187; no folder is made
//     or renamed under a failed RENAME,
//     TestExecuteSkipsFoldersUnderFailedRename, seeds 3641 and 38918;
//     the mailbox the state records, or a mailbox emptied and refilled
//     by moves, is evidence with its UIDVALIDITY, cases 142 and 143,
//     seeds 25001 and 53476; a failed move conflict out of a folder
//     this plan deleted on the winner's side keeps that side's folder
//     with the record, TestNextFailedConflictOutOfFolderDeletedHere,
//     seed 40530 of -movemodel.bugs 7,10, where the next run copied the
//     message both ways. Seed 76873 of -movemodel.bugs 7, after three
//     runs with failed RENAMEs a folder renamed on both sides kept two
//     names, passes since.)
//  11. (fixed, gate removed) a message moved on both sides to the same folder is paired by
//     identity with the two copies' common flags as the merge base: a
//     flag one side removed comes back;
//  12. (fixed: crossed renames are not renames; gate kept, as the
//     model expects renames to propagate) renames that cross (each side moves a folder under the other's,
//     or, round a longer cycle, under a folder the other side has
//     under it in turn: seed 2433906) give runaway paths, deletions
//     and re-uploads;
//  13. (fixed: the copy the Move was to take, or to join, stays
//     recorded on its side only, and the next run joins the two;
//     TestNextFailedMoveOutOfResetFolder; gate removed) when a Move out
//     of a folder whose UIDVALIDITY changed fails, the state forgot the
//     message; the next run copied both ways;
//  14. (fixed, gate removed) (a regression in 03cad27) a folder deleted on one side, whose
//     parent both sides renamed the same way, is made again there;
//  15. (fixed in 8adb778, gate removed) a folder moved under a folder the other side renamed, which also
//     loses a rename conflict, gets a second RENAME from the mailbox the
//     plan's first RENAME took away: it fails on the server every run.
//
// -movemodel.bugs N[,N...] lets the cases trigger only the listed open
// bugs (their gates: 5 and 12), to see how often each one fails. The
// gates of bugs 7 to 10 are gone, and the default run makes their cases:
// a rerun line from before that names them (-movemodel.bugs 7,10, say)
// still finds its case, as the numbers without a gate change nothing.
//
// A failure prints the case's seed, its history, the last plan, the
// states and both accounts; rerun it alone with
//
//	go test ./reconcile -run TestModelMovesAndRenames -movemodel.seed N
//
// and run more cases with -movemodel.cases N (from seed -movemodel.from).
func TestModelMovesAndRenames(t *testing.T) {
	runMoveModels(t, mvBothWays)
}

// mvMode is a mode of the move model.
type mvMode int

const (
	mvBothWays   mvMode = iota // TestModelMovesAndRenames
	mvOneWay                   // TestModelMovesAndRenamesOneWay
	mvTrashMoves               // TestModelMovesIntoTheTrash
)

// runMoveModels runs the cases the flags ask for, in mode.
func runMoveModels(t *testing.T, mode mvMode) {
	var fast fastPathCount
	if *moveModelSeed != 0 {
		runMoveModel(t, *moveModelSeed, &fast, mode)
		return
	}
	for i := range *moveModelCases {
		runMoveModel(t, *moveModelFrom+uint64(i), &fast, mode)
		if t.Failed() {
			return
		}
	}
	fast.check(t)
}

// The trash folder, which the users leave alone: the planner finds it by
// this name, or creates it, for the trash deletion policy.
const mvTrash = "Trash"

var mvFlags = []string{`\Flagged`, `\Seen`, "$todo"}

// mvMaxDepth bounds the folder hierarchy the users build.
const mvMaxDepth = 4

// mvMark says why a side lacks a folder the other side has: its user
// deleted it.
type mvMark int

const (
	mvPending mvMark = iota + 1 // deleted since the last sync
	// A sync that was not clean ran since: the planner may or may not
	// have carried the deletion out (a change may still beat it).
	mvLimbo
	mvAgreed // a clean sync ran since: the deletion is final
)

// moveModel is one case: two accounts, the agreed state and the book the
// test keeps of what the users did.
type moveModel struct {
	t          *testing.T
	fast       *fastPathCount
	seed       uint64
	rng        *rand.Rand
	pol        reconcile.Policy
	acc        [2]*account
	st         reconcile.State
	log        []fmt.Stringer // the history, rendered when a case fails
	ids, names int

	base   reconcile.State      // of the last sync
	plan   *reconcile.Plan      // of the last sync
	listed [2]reconcile.Listing // what the last build was given
	// prevClean says that the previous sync was clean (or there was
	// none): the state agreed with both sides after it.
	prevClean bool

	// deleted[s] holds the identities the user deleted on side s (an
	// expunge, or a deleted folder that held it); deletedNow[s] those
	// since the last sync.
	deleted, deletedNow [2]map[reconcile.Identity]bool
	// movedNow[s] holds the identities the user moved on side s since the
	// last sync, with the folder each was last moved to; movedHome[s],
	// computed at the sync, those moved back to the folder the state has
	// them in (no move, to the planner).
	movedNow  [2]map[reconcile.Identity]*mbox
	movedHome [2]map[reconcile.Identity]bool
	// wasOneSided[s] holds, for the identities in movedNow[s], oneSided
	// as it was before the first of those moves: moved home, a message
	// is where it was, to the planner, one-sided or not as it was
	// (seed 153946).
	wasOneSided [2]map[reconcile.Identity]bool
	// placed[s] holds the identities the user put into a folder on side s
	// (delivered or moved) since the last clean sync.
	placed [2]map[reconcile.Identity]bool
	// oneSided[s] holds the identities that may be on side s only: the
	// user put them into a folder whose counterpart the other side's user
	// deleted.
	oneSided [2]map[reconcile.Identity]bool
	// pairedIn holds, after the last clean sync, the logical folder that
	// held each identity on both sides, and agreedFlags its flags then.
	pairedIn    map[reconcile.Identity]string
	agreedFlags map[reconcile.Identity]reconcile.Flags
	// preFlags[s] holds the flags of each identity on side s when the
	// last sync began.
	preFlags [2]map[reconcile.Identity]reconcile.Flags

	// detached[x] holds the folders of the other side that side x lacks
	// because x's user deleted their counterpart.
	detached [2]map[*mbox]mvMark
	// vacated holds the logical names a user renamed a folder away from,
	// where the last sync knew it by that name.
	vacated map[string]bool
	// synced[s] holds the mailbox names each folder of side s had at the
	// end of the syncs since the last clean one, the last sync's last (a
	// failed sync may leave the state with an older one).
	synced [2]map[*mbox][]string
	// renamed holds the folders a user renamed (itself, not as a child)
	// since the last clean sync: no message leaves them until then, so the
	// planner can still tell they were renamed.
	renamed map[*mbox]bool
	// Since the last sync: a user expunged, deleted a folder, or renamed
	// one on a server that changed its UIDVALIDITY.
	expunges, folderDeletes, uvRenames bool
	// resetOf holds the folders whose UIDVALIDITY changed since the last
	// clean sync; without -movemodel.all, no action fails in a plan that
	// moves a message the user moved while one of these is there (known
	// bug 13).
	resetOf map[*mbox]bool
	// movedIn holds the folders a message was moved into since the
	// last clean sync.
	movedIn map[*mbox]bool

	// ow is the book of a one-way case (movemodel_oneway_test.go), nil in
	// a case both ways.
	ow *oneWayBook
	// trashRng, in TestModelMovesIntoTheTrash only, draws the users'
	// moves into the trash.
	trashRng *rand.Rand
}

func runMoveModel(t *testing.T, seed uint64, fast *fastPathCount, mode mvMode) {
	t.Helper()
	m := &moveModel{
		t:         t,
		fast:      fast,
		seed:      seed,
		rng:       rand.New(rand.NewPCG(seed, 0x6d6f76656d6f646c)),
		acc:       [2]*account{newAccount(), newAccount()},
		prevClean: true,
		pairedIn:  map[reconcile.Identity]string{},

		agreedFlags: map[reconcile.Identity]reconcile.Flags{},
		vacated:     map[string]bool{},
		renamed:     map[*mbox]bool{},
		resetOf:     map[*mbox]bool{},
		movedIn:     map[*mbox]bool{},
	}
	for s := range 2 {
		m.deleted[s] = map[reconcile.Identity]bool{}
		m.deletedNow[s] = map[reconcile.Identity]bool{}
		m.movedNow[s] = map[reconcile.Identity]*mbox{}
		m.movedHome[s] = map[reconcile.Identity]bool{}
		m.wasOneSided[s] = map[reconcile.Identity]bool{}
		m.placed[s] = map[reconcile.Identity]bool{}
		m.oneSided[s] = map[reconcile.Identity]bool{}
		m.detached[s] = map[*mbox]mvMark{}
		m.synced[s] = map[*mbox][]string{}
	}
	if m.rng.IntN(3) == 0 {
		m.acc[reconcile.B].delim = '.'
	}
	m.pol = reconcile.Policy{
		Default:    reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Deletion(m.rng.IntN(3))},
		Prefer:     reconcile.Side(m.rng.IntN(2)),
		Force:      true,
		MaxDeletes: reconcile.DefaultMaxDeletes,
	}
	if mode == mvTrashMoves {
		// A generator of its own: the draws of the other modes are
		// left as they are until a user first moves into the trash.
		m.trashRng = rand.New(rand.NewPCG(seed, 0x7472617368))
	}
	if mode == mvOneWay || m.trashRng != nil && m.trashRng.IntN(3) == 0 {
		m.makeOneWay()
	}
	m.logf("policy: direction %s, deletion %s, prefer %s, b's delimiter %q", m.pol.Default.Direction, m.pol.Default.Deletion, m.pol.Prefer, m.acc[reconcile.B].delim)
	if m.rng.IntN(2) == 0 || m.trashRng != nil {
		for s := range 2 {
			m.acc[s].create(mvTrash)
		}
		m.logf("both: folder %s", mvTrash)
	}
	// Mail and folders to start with, then a first sync.
	for s := range 2 {
		for range m.rng.IntN(4) {
			m.createFolder(reconcile.Side(s))
		}
		for range m.rng.IntN(8) {
			m.deliver(reconcile.Side(s))
		}
	}
	m.sync(true)
	rounds := 3 + m.rng.IntN(8)
	for round := range rounds {
		// Some rounds hold only what must cost no upload.
		quiet := m.rng.IntN(3) == 0
		for range m.rng.IntN(9) {
			m.userOp(reconcile.Side(m.rng.IntN(2)), quiet)
			if m.t.Failed() {
				return
			}
		}
		m.sync(round == rounds-1 || m.rng.IntN(10) >= 3)
		if m.t.Failed() {
			return
		}
	}
}

type mvLogLine string

func (l mvLogLine) String() string { return string(l) }

// mvSyncLine is a sync in the history; its plan is rendered only when a
// failure prints the history.
type mvSyncLine struct {
	mode string
	plan *reconcile.Plan
}

func (l mvSyncLine) String() string {
	return fmt.Sprintf("sync (%s): %s", l.mode, strings.TrimSuffix(l.plan.String(), "\n"))
}

func (m *moveModel) logf(format string, args ...any) {
	m.log = append(m.log, mvLogLine(fmt.Sprintf(format, args...)))
}

// logical returns the logical name of mailbox on side s.
func (m *moveModel) logical(s reconcile.Side, mailbox string) string {
	return reconcile.LogicalName(mailbox, m.acc[s].delim)
}

// mailbox returns the mailbox of side s with logical name name.
func (m *moveModel) mailbox(s reconcile.Side, name string) string {
	return reconcile.MailboxName(name, m.acc[s].delim)
}

// nameOf returns the logical name of folder mb of side s, "" when side s
// no longer has it.
func (m *moveModel) nameOf(s reconcile.Side, mb *mbox) string {
	for name, x := range m.acc[s].folders {
		if x == mb {
			return m.logical(s, name)
		}
	}
	return ""
}

// folder returns side s's folder with logical name name, or nil.
func (m *moveModel) folder(s reconcile.Side, name string) *mbox {
	return m.acc[s].folders[m.mailbox(s, name)]
}

// folderNames returns the logical names of side s's folders, sorted.
func (m *moveModel) folderNames(s reconcile.Side) []string {
	var out []string
	for name := range m.acc[s].folders {
		out = append(out, m.logical(s, name))
	}
	slices.Sort(out)
	return out
}

// userFolders returns the folders the user of side s works with: all but
// the trash.
func (m *moveModel) userFolders(s reconcile.Side) []string {
	var out []string
	for _, n := range m.folderNames(s) {
		if n != mvTrash {
			out = append(out, n)
		}
	}
	return out
}

// mvUnder reports whether logical name n is f or under f.
func mvUnder(n, f string) bool { return n == f || strings.HasPrefix(n, f+"/") }

func mvDepth(name string) int { return strings.Count(name, "/") + 1 }

// subtreeDepth is the number of levels of folder f and those under it.
func (m *moveModel) subtreeDepth(s reconcile.Side, f string) int {
	d := 1
	for _, n := range m.folderNames(s) {
		if mvUnder(n, f) {
			d = max(d, mvDepth(n)-mvDepth(f)+1)
		}
	}
	return d
}

func (m *moveModel) freshName(prefix string) string {
	m.names++
	return fmt.Sprintf("%s%d", prefix, m.names)
}

// baseOf returns the folder of the agreed state that side s's folder mb
// was at the last sync, or nil when the state does not know it.
func (m *moveModel) baseOf(s reconcile.Side, mb *mbox) *reconcile.FolderState {
	names := m.synced[s][mb]
	for k := len(names) - 1; k >= 0; k-- {
		for i := range m.st.Folders {
			if fs := &m.st.Folders[i]; fs.Side(s).Mailbox == names[k] {
				return fs
			}
		}
	}
	return nil
}

// lastName returns the mailbox name side s's folder mb had at the end of
// the last sync.
func (m *moveModel) lastName(s reconcile.Side, mb *mbox) (string, bool) {
	names := m.synced[s][mb]
	if len(names) == 0 {
		return "", false
	}
	return names[len(names)-1], true
}

// stateHolds reports whether the state has a record of identity id on
// side s in the state folder that side s's folder mb is.
func (m *moveModel) stateHolds(s reconcile.Side, mb *mbox, id reconcile.Identity) bool {
	fs := m.baseOf(s, mb)
	return fs != nil && slices.ContainsFunc(fs.Records, func(r reconcile.Record) bool { return r.ID == id && r.UID(s) != 0 })
}

// counterpart returns the other side's folder of the state folder that
// side s's folder mb is, or nil.
func (m *moveModel) counterpart(s reconcile.Side, mb *mbox) *mbox {
	fs := m.baseOf(s, mb)
	if fs == nil {
		return nil
	}
	for _, y := range m.acc[s.Other()].folders {
		if fo := m.baseOf(s.Other(), y); fo != nil && fo.Name == fs.Name {
			return y
		}
	}
	return nil
}

// locate returns the logical folders of side s that hold identity id.
func (m *moveModel) locate(s reconcile.Side, id reconcile.Identity) []string {
	var out []string
	for _, n := range m.folderNames(s) {
		for _, msg := range m.folder(s, n).msgs {
			if msg.ID == id {
				out = append(out, n)
			}
		}
	}
	return out
}

func (m *moveModel) randomFlags() reconcile.Flags {
	var fl []string
	for _, f := range mvFlags {
		if m.rng.IntN(3) == 0 {
			fl = append(fl, f)
		}
	}
	return reconcile.NewFlags(fl...)
}

// userOp does one random thing the user of side s does. A quiet round
// holds only what must cost no upload: new mail, flags, moves, folders
// created and renamed with their UIDVALIDITY kept.
func (m *moveModel) userOp(s reconcile.Side, quiet bool) {
	x := m.rng.IntN(100)
	if quiet && (x >= 30 && x < 36 || x >= 70 && x < 75 || x >= 87 && x < 93) {
		x = 40 // a move instead
	}
	if *moveModelAlike && x >= 46 && x < 62 {
		x = 99 // renameBoth instead of a move
	}
	if *moveModelResets && !quiet && x >= 40 && x < 46 {
		m.makeAnew(s) // instead of a move
		return
	}
	switch {
	case x < 16:
		m.deliver(s)
	case x < 30:
		m.toggleFlag(s)
	case x < 36:
		m.expunge(s)
	case x < 62:
		m.move(s)
	case x < 70:
		m.createFolder(s)
	case x < 75:
		m.deleteFolder(s)
	case x < 87:
		m.rename(s, false)
	case x < 93:
		m.rename(s, true)
	default:
		m.renameBoth(*moveModelAlike)
	}
}

func (m *moveModel) deliver(s reconcile.Side) {
	f := pickOne(m.rng, m.userFolders(s))
	m.ids++
	id := reconcile.Identity(fmt.Sprintf("x:%d", m.ids))
	fl := m.randomFlags()
	u := m.acc[s].deliver(m.mailbox(s, f), id, fl)
	m.placed[s][id], m.oneSided[s][id] = true, false
	m.ow.put(s, id, f)
	m.logf("%s: deliver %s to %s uid %d flags %s", s, id, f, u, fl)
}

func (m *moveModel) toggleFlag(s reconcile.Side) {
	var full []string
	for _, f := range m.userFolders(s) {
		if len(m.folder(s, f).msgs) > 0 {
			full = append(full, f)
		}
	}
	if len(full) == 0 {
		return
	}
	f := pickOne(m.rng, full)
	mb := m.folder(s, f)
	msg := &mb.msgs[m.rng.IntN(len(mb.msgs))]
	fl := pickOne(m.rng, mvFlags)
	m.ow.acted(s, msg.ID)
	if msg.Flags.Has(fl) {
		msg.Flags = reconcile.NewFlags(slices.DeleteFunc(slices.Clone(msg.Flags), func(g string) bool { return g == fl })...)
		m.logf("%s: %s uid %d %s -%s", s, f, msg.UID, msg.ID, fl)
	} else {
		msg.Flags = reconcile.NewFlags(append(slices.Clone(msg.Flags), fl)...)
		m.logf("%s: %s uid %d %s +%s", s, f, msg.UID, msg.ID, fl)
	}
}

// takeable returns the folders of side s a message may leave: not the
// trash, not empty, not renamed since the last clean sync, and not under
// another name than the state's (the planner must still see that it was
// renamed).
func (m *moveModel) takeable(s reconcile.Side) []string {
	var out []string
	for _, f := range m.userFolders(s) {
		mb := m.folder(s, f)
		if fs := m.baseOf(s, mb); len(mb.msgs) > 0 && !m.renamed[mb] && (fs == nil || fs.Name == f) {
			out = append(out, f)
		}
	}
	return out
}

func (m *moveModel) expunge(s reconcile.Side) {
	src := m.takeable(s)
	if len(src) == 0 {
		return
	}
	f := pickOne(m.rng, src)
	mb := m.folder(s, f)
	i := m.rng.IntN(len(mb.msgs))
	msg := mb.msgs[i]
	mb.msgs = slices.Delete(mb.msgs, i, i+1)
	m.deleted[s][msg.ID], m.deletedNow[s][msg.ID] = true, true
	m.expunges = true
	m.ow.acted(s, msg.ID)
	m.ow.deleted(s, msg.ID)
	m.logf("%s: %s uid %d %s expunged", s, f, msg.UID, msg.ID)
}

// move moves a message as UID MOVE does: out of one folder, into another
// under a new UID there, with its identity and flags.
func (m *moveModel) move(s reconcile.Side) {
	src := m.takeable(s)
	if len(src) == 0 {
		return
	}
	f := pickOne(m.rng, src)
	var dests []string
	for _, g := range m.userFolders(s) {
		// A move into a folder whose counterpart the other side's user
		// deleted. Renamed here since, it is made again there, and the
		// move is a move (bug 5, fixed: testdata cases 103 and 104);
		// but a rename of its parent on the other side after the move
		// can undo that (seed 51497 of 60,000 at d58164d), which this
		// model cannot foresee at the move: gated as bug 5. Otherwise
		// the message leaves the pair's folders on this side (testdata
		// cases 108 to 110): filed away (bug 6, fixed).
		d := m.folder(s, g)
		mk, gone := m.detached[s.Other()][d]
		if g != f && (bugOpen(5) || !gone || mk != mvPending || !m.revived(s, d)) {
			dests = append(dests, g)
		}
	}
	if len(dests) == 0 {
		return
	}
	g := pickOne(m.rng, dests)
	if m.trashRng != nil && m.trashRng.IntN(4) == 0 && m.folder(s, mvTrash) != nil && m.folder(s.Other(), mvTrash) != nil {
		g = mvTrash // a client's delete: moved into the trash
	}
	from := m.folder(s, f)
	// A filed-away message may move again, on either side: moved by the
	// user who filed it away, out of the folder the other side lacks, it
	// returns to the pair, and a copy the other side holds joins it
	// (testdata cases 121 to 131); moved by the other side's user, that
	// copy stays one-sided (116, 133), unless the filer's folder is on
	// both sides again: then the two moves are a conflict (134 to 137).
	// All of it after runs with failed actions too (bug 6, fixed).
	i := m.rng.IntN(len(from.msgs))
	msg := from.msgs[i]
	from.msgs = slices.Delete(from.msgs, i, i+1)
	u := m.acc[s].deliver(m.mailbox(s, g), msg.ID, msg.Flags)
	m.movedIn[m.folder(s, g)] = true
	if _, ok := m.movedNow[s][msg.ID]; !ok {
		m.wasOneSided[s][msg.ID] = m.oneSided[s][msg.ID]
	}
	m.movedNow[s][msg.ID] = m.folder(s, g)
	m.placed[s][msg.ID], m.oneSided[s][msg.ID] = true, false
	m.ow.acted(s, msg.ID)
	m.ow.put(s, msg.ID, g)
	m.logf("%s: move %s from %s uid %d to %s uid %d", s, msg.ID, f, msg.UID, g, u)
}

// parents returns the folders of side s a folder of levels levels can be
// made or renamed under: not INBOX, not the trash, not under skip.
func (m *moveModel) parents(s reconcile.Side, levels int, skip string) []string {
	var out []string
	for _, f := range m.userFolders(s) {
		if f != "INBOX" && (skip == "" || !mvUnder(f, skip)) && mvDepth(f)+levels <= mvMaxDepth {
			out = append(out, f)
		}
	}
	return out
}

func (m *moveModel) createFolder(s reconcile.Side) {
	name := m.freshName("F")
	if ps := m.parents(s, 1, ""); len(ps) > 0 && m.rng.IntN(2) == 0 {
		name = pickOne(m.rng, ps) + "/" + name
	}
	m.acc[s].create(m.mailbox(s, name))
	m.ow.folder(m, s, name)
	m.logf("%s: folder %s created", s, name)
}

// deleteFolder deletes a folder with no folder under it, with its mail.
func (m *moveModel) deleteFolder(s reconcile.Side) {
	o := s.Other()
	var cands []string
	for _, f := range m.userFolders(s) {
		if f == "INBOX" || m.subtreeDepth(s, f) > 1 {
			continue
		}
		mb := m.folder(s, f)
		// Deleted under the name the last sync knew it by, so the planner
		// sees the deletion of that folder.
		if n, ok := m.lastName(s, mb); m.renamed[mb] || ok && n != m.mailbox(s, f) {
			continue
		}
		fs := m.baseOf(s, mb)
		if fs != nil && fs.Name != f {
			continue
		}
		// A folder deleted after most of its mail went to one new folder
		// is, to the design, renamed: keep clear of that.
		if fs != nil {
			here := map[reconcile.Identity]bool{}
			for _, msg := range mb.msgs {
				here[msg.ID] = true
			}
			total, elsewhere := 0, 0
			for _, r := range fs.Records {
				if r.UID(s) == 0 {
					continue
				}
				total++
				if !here[r.ID] && len(m.locate(s, r.ID)) > 0 {
					elsewhere++
				}
			}
			if 2*elsewhere > total {
				continue
			}
		}
		cands = append(cands, f)
	}
	if len(cands) == 0 {
		return
	}
	f := pickOne(m.rng, cands)
	mb := m.folder(s, f)
	fs := m.baseOf(s, mb)
	m.ow.folder(m, s, f)
	for _, msg := range mb.msgs {
		m.deleted[s][msg.ID], m.deletedNow[s][msg.ID] = true, true
		m.ow.deleted(s, msg.ID)
	}
	delete(m.acc[s].folders, m.mailbox(s, f))
	m.folderDeletes = true
	// The other side's counterpart, as the state knows it, now lacks one
	// on this side.
	if fs != nil {
		for p := range m.acc[o].folders {
			if pb := m.acc[o].folders[p]; m.baseOf(o, pb) != nil && m.baseOf(o, pb).Name == fs.Name {
				m.detached[s][pb] = mvPending
			}
		}
	}
	m.logf("%s: folder %s deleted, with %d messages", s, f, len(mb.msgs))
}

// renameEvidence reports whether, after a rename, side s's folder mb would
// still evidently be the folder the state knows (DESIGN.md: the same
// UIDVALIDITY, or most of the base folder's messages by identity), so the
// planner sees a rename. keepUV says the rename keeps the UIDVALIDITY.
func (m *moveModel) renameEvidence(s reconcile.Side, mb *mbox, keepUV bool) bool {
	fs := m.baseOf(s, mb)
	if fs == nil {
		return true // a folder the state does not know: new under any name
	}
	byUID := map[reconcile.UID]reconcile.Identity{}
	ids := map[reconcile.Identity]int{}
	for _, msg := range mb.msgs {
		byUID[msg.UID] = msg.ID
		ids[msg.ID]++
	}
	// A folder the state knows no UIDVALIDITY for is one the plan made
	// and put nothing into: Next learns its UIDVALIDITY from the CREATE
	// (known bug 3, fixed), so the planner follows its rename too.
	uv := fs.Side(s).UIDValidity
	sameUV := keepUV && !m.resetOf[mb] && (uv == mb.uv || uv == 0)
	// At least half by identity, or, with the same UIDVALIDITY, one by
	// UID: then no other new folder holds most of them (known bug 9).
	total, uidHits, idHits := 0, 0, 0
	for _, r := range fs.Records {
		u := r.UID(s)
		if u == 0 {
			continue
		}
		total++
		if id, ok := byUID[u]; ok && id == r.ID {
			uidHits++
		} else if ok {
			sameUV = false
		}
		if ids[r.ID] > 0 {
			ids[r.ID]--
			idHits++
		}
	}
	if sameUV {
		return total == 0 || uidHits > 0 && 2*idHits >= total
	}
	return total > 0 && 2*idHits > total
}

// rename renames a folder of side s with the folders under it: as Dovecot
// does (UIDVALIDITY and UIDs kept), or, with reset, as a server that makes
// the renamed folders anew (new UIDVALIDITY, UIDs 1..n).
func (m *moveModel) rename(s reconcile.Side, reset bool) {
	var cands []string
	for _, f := range m.userFolders(s) {
		if f == "INBOX" {
			continue
		}
		if m.renameOK(s, f, reset) {
			cands = append(cands, f)
		}
	}
	if len(cands) == 0 {
		return
	}
	f := pickOne(m.rng, cands)
	to := m.freshName("R")
	if ps := m.parents(s, m.subtreeDepth(s, f), f); len(ps) > 0 && m.rng.IntN(3) == 0 {
		p := pickOne(m.rng, ps)
		if !bugOpen(12) && m.crosses(s, f, p) {
			return
		}
		to = p + "/" + to
	}
	m.renameTo(s, f, to, reset)
}

// crosses reports whether moving side s's folder f under folder p would
// put it under a folder that the other side has under f (known bug 12:
// renames that cross).
func (m *moveModel) crosses(s reconcile.Side, f, p string) bool {
	o := s.Other()
	mine := map[string]bool{} // the state folders f and those under it are
	for _, n := range m.folderNames(s) {
		if fs := m.baseOf(s, m.folder(s, n)); mvUnder(n, f) && fs != nil {
			mine[fs.Name] = true
		}
	}
	for anc := p; anc != ""; anc = mvParent(anc) {
		c := m.counterpart(s, m.folder(s, anc))
		if c == nil {
			continue
		}
		for on := m.nameOf(o, c); on != ""; on = mvParent(on) {
			y := m.folder(o, on)
			if y == nil && mine[on] {
				// A name above it that the other side has no folder
				// under (its user deleted that folder, and a sync made
				// one below it): still the state folder of that name,
				// which f's move takes along (seed 808349).
				return true
			}
			if y != nil {
				if fs := m.baseOf(o, y); fs != nil && mine[fs.Name] {
					return true
				}
			}
		}
	}
	return m.crossesRound(s, p, mine)
}

// crossesRound reports whether the folders above p on side s lead, over
// the folders above each on either side, in turn, to a state folder in
// mine: renames that chase each other round a cycle longer than two
// (seed 2433906: b moved F2 under F3, a F3 under F1, b F1 under F4, and
// a F4 under F2), which the planner takes for folders deleted and made
// (bug 12), where the model expects renames.
func (m *moveModel) crossesRound(s reconcile.Side, p string, mine map[string]bool) bool {
	var byBase [2]map[string]string // state folder name to logical name, per side
	for t := range 2 {
		byBase[t] = map[string]string{}
		for _, n := range m.folderNames(reconcile.Side(t)) {
			if fs := m.baseOf(reconcile.Side(t), m.folder(reconcile.Side(t), n)); fs != nil {
				byBase[t][fs.Name] = n
			}
		}
	}
	seen := map[string]bool{}
	var queue []string
	// up queues the state folders above name (name itself with self) on
	// side t, and reports whether one of them is in mine.
	up := func(t reconcile.Side, name string, self bool) bool {
		start := mvParent(name)
		if self {
			start = name
		}
		for an := start; an != ""; an = mvParent(an) {
			y := m.folder(t, an)
			if y == nil {
				if mine[an] {
					return true
				}
				continue
			}
			fs := m.baseOf(t, y)
			if fs == nil {
				continue
			}
			if mine[fs.Name] {
				return true
			}
			if !seen[fs.Name] {
				seen[fs.Name] = true
				queue = append(queue, fs.Name)
			}
		}
		return false
	}
	if up(s, p, true) {
		return true
	}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for t := range 2 {
			if n, ok := byBase[t][x]; ok && up(reconcile.Side(t), n, false) {
				return true
			}
		}
	}
	return false
}

// mvParent returns the logical name above n, "" at the top level.
func mvParent(n string) string {
	i := strings.LastIndex(n, "/")
	if i < 0 {
		return ""
	}
	return n[:i]
}

// renameOK reports whether side s's user may rename folder f: the
// planner can tell it is a rename.
func (m *moveModel) renameOK(s reconcile.Side, f string, reset bool) bool {
	mb := m.folder(s, f)
	if f == "INBOX" || !m.renameEvidence(s, mb, !reset) {
		return false
	}
	// Made anew, a folder under f that does not just follow its parent of
	// the state needs evidence of its own: made anew with f, or by its
	// server since the last sync (seed 293384 of the trash model with
	// both generator flags: A's server made R2/F3 anew, empty in the
	// state, then A's user renamed R2, a folder the state lacks, to R5;
	// nothing tells R5/F3 from a new folder).
	if fs := m.baseOf(s, mb); slices.ContainsFunc(m.folderNames(s), func(n string) bool {
		d := m.folder(s, n)
		db := m.baseOf(s, d)
		return (reset || m.resetOf[d]) && n != f && mvUnder(n, f) && db != nil && (fs == nil || !mvUnder(db.Name, fs.Name) || n != m.impliedName(s, db.Name)) && !m.renameEvidence(s, d, false)
	}) {
		return false
	}
	return true
}

// renameBoth renames one folder the same way on both sides (or a crash
// after the planner's RENAME on one, before the state was saved). Where
// byCopy is set (-movemodel.alike) each side renames by RENAME or, one
// time in three, by copy (a new UIDVALIDITY), in a quiet round too.
func (m *moveModel) renameBoth(byCopy bool) {
	var reset [2]bool
	if byCopy {
		reset = [2]bool{m.rng.IntN(3) == 0, m.rng.IntN(3) == 0}
	}
	var cands []string
	for _, f := range m.userFolders(reconcile.A) {
		if m.folder(reconcile.B, f) == nil || !m.renameOK(reconcile.A, f, reset[reconcile.A]) || !m.renameOK(reconcile.B, f, reset[reconcile.B]) {
			continue
		}
		cands = append(cands, f)
	}
	if len(cands) == 0 {
		return
	}
	f := pickOne(m.rng, cands)
	to := m.freshName("R")
	m.renameTo(reconcile.A, f, to, reset[reconcile.A])
	m.renameTo(reconcile.B, f, to, reset[reconcile.B])
}

func (m *moveModel) renameTo(s reconcile.Side, from, to string, reset bool) {
	acc := m.acc[s]
	m.ow.renamed(m, s, from, to, reset)
	m.renamed[m.folder(s, from)] = true
	// The names the last sync knew these folders by are gone for good
	// (an intermediate name may be a conflict's winner: see renameBoth).
	for _, n := range m.folderNames(s) {
		if last, _ := m.lastName(s, m.folder(s, n)); mvUnder(n, from) && last == m.mailbox(s, n) {
			m.vacated[n] = true
		}
	}
	if !reset {
		if err := acc.rename(m.mailbox(s, from), m.mailbox(s, to)); err != nil {
			m.t.Fatalf("seed %d: %v", m.seed, err)
		}
		m.logf("%s: folder %s renamed to %s", s, from, to)
		return
	}
	m.uvRenames = true
	var made []string
	for _, n := range m.folderNames(s) {
		if !mvUnder(n, from) {
			continue
		}
		old := m.folder(s, n)
		delete(acc.folders, m.mailbox(s, n))
		name := to + n[len(from):]
		nb := m.remake(s, old, name)
		made = append(made, fmt.Sprintf("%s uidvalidity %d", name, nb.uv))
	}
	m.logf("%s: folder %s renamed to %s, made anew: %s", s, from, to, strings.Join(made, ", "))
}

// makeAnew has side s's server make a folder the state knows anew under
// its name, as after a restore from a backup: a new UIDVALIDITY, its
// messages under UIDs 1..n, the folders under it as they were. Not
// INBOX, and not a folder renamed since the last clean sync.
func (m *moveModel) makeAnew(s reconcile.Side) {
	var cands []string
	for _, f := range m.userFolders(s) {
		if mb := m.folder(s, f); f != "INBOX" && !m.renamed[mb] && m.baseOf(s, mb) != nil {
			cands = append(cands, f)
		}
	}
	if len(cands) == 0 {
		return
	}
	f := pickOne(m.rng, cands)
	m.uvRenames = true
	nb := m.remake(s, m.folder(s, f), f)
	m.ow.madeAnew(s)
	m.logf("%s: folder %s made anew by the server: uidvalidity %d", s, f, nb.uv)
}

// remake has side s's server make folder old anew as name: a new
// UIDVALIDITY, its messages under UIDs 1..n with their flags; the book
// follows it there. The caller takes old's mailbox away where name is
// another.
func (m *moveModel) remake(s reconcile.Side, old *mbox, name string) *mbox {
	acc := m.acc[s]
	acc.nextUV++
	nb := &mbox{uv: acc.nextUV, uidNext: 1, role: old.role}
	for _, msg := range old.msgs {
		nb.msgs = append(nb.msgs, reconcile.Message{UID: nb.uidNext, Flags: msg.Flags, ID: msg.ID})
		nb.uidNext++
	}
	acc.folders[m.mailbox(s, name)] = nb
	m.replaceFolder(s, old, nb)
	m.resetOf[nb] = true
	return nb
}

// replaceFolder puts side s's new folder nb wherever the book knows old.
func (m *moveModel) replaceFolder(s reconcile.Side, old, nb *mbox) {
	if n, ok := m.synced[s][old]; ok {
		m.synced[s][nb] = n
		delete(m.synced[s], old)
	}
	if m.renamed[old] {
		m.renamed[nb] = true
		delete(m.renamed, old)
	}
	for x := range 2 {
		if mk, ok := m.detached[x][old]; ok {
			m.detached[x][nb] = mk
			delete(m.detached[x], old)
		}
	}
	m.movedIn[nb] = m.movedIn[old]
	for id, d := range m.movedNow[s] {
		if d == old {
			m.movedNow[s][id] = nb
		}
	}
}

// revived reports whether side y's folder p, whose counterpart the other
// side's user deleted since the last sync, was renamed on y: itself, or
// with a folder above it while the other side renamed none above it.
// Then the planner makes it again on the other side (renamed beats
// deleted). A folder that only followed a folder above it that both
// sides renamed goes with the deletion.
func (m *moveModel) revived(y reconcile.Side, p *mbox) bool {
	fs := m.baseOf(y, p)
	n := m.nameOf(y, p)
	if fs == nil || n == "" || n == fs.Name {
		return false
	}
	return n != m.impliedName(y, fs.Name) || m.impliedName(y.Other(), fs.Name) == fs.Name
}

// impliedName returns the name the state's folder name has on side x
// after x's renames of the folders above it.
func (m *moveModel) impliedName(x reconcile.Side, name string) string {
	for anc := mvParent(name); anc != ""; anc = mvParent(anc) {
		for _, a := range m.acc[x].folders {
			if ab := m.baseOf(x, a); ab != nil && ab.Name == anc && m.nameOf(x, a) != anc {
				return m.nameOf(x, a) + name[len(anc):]
			}
		}
	}
	return name
}

// lacks reports whether side x may lack the other side's folder p: x's
// user deleted its counterpart, and p was not renamed meanwhile.
func (m *moveModel) lacks(x reconcile.Side, p *mbox) bool {
	mk, ok := m.detached[x][p]
	return ok && (mk != mvPending || !m.revived(x.Other(), p))
}

// mvRenameConflict is a folder the state knows that both users renamed, to
// different names.
type mvRenameConflict struct {
	base string
	mb   [2]*mbox
	name [2]string // before the sync
}

// sync runs the planner on the pair and carries its plan out; a sync that
// is not clean has some of its actions fail.
func (m *moveModel) sync(clean bool) {
	A, B := reconcile.A, reconcile.B
	base := m.st
	m.base = base
	var held [2]map[reconcile.Identity]bool
	for s := range 2 {
		held[s] = map[reconcile.Identity]bool{}
		m.preFlags[s] = map[reconcile.Identity]reconcile.Flags{}
		for _, mb := range m.acc[s].folders {
			for _, msg := range mb.msgs {
				held[s][msg.ID] = true
				m.preFlags[s][msg.ID] = msg.Flags
			}
		}
	}
	for s := range 2 {
		clear(m.movedHome[s])
		for id, d := range m.movedNow[s] {
			// Home is any folder the state has the message in on s: a
			// record a failed run kept in the folder it left counts too
			// (seed 153946: filed away into F3, kept paired in F2 by a
			// failed trash move on b, then moved out of F3 and back).
			m.movedHome[s][id] = m.stateHolds(reconcile.Side(s), d, id)
			if m.movedHome[s][id] {
				m.oneSided[s][id] = m.oneSided[s][id] || m.wasOneSided[s][id]
			}
		}
	}
	// What the users did, as the planner will see it: mail put into a
	// folder the other side lacks stays on this side (the planner records
	// it so at the first sync that sees it, even one that fails).
	for s := range 2 {
		side := reconcile.Side(s)
		for _, id := range slices.Sorted(maps.Keys(m.placed[s])) {
			for _, f := range m.locate(side, id) {
				m.oneSided[s][id] = m.oneSided[s][id] || m.lacks(side.Other(), m.folder(side, f))
			}
		}
	}
	var conflicts []mvRenameConflict
	for i := range base.Folders {
		fs := &base.Folders[i]
		c := mvRenameConflict{base: fs.Name}
		for s := range 2 {
			for _, n := range m.folderNames(reconcile.Side(s)) {
				if mb := m.folder(reconcile.Side(s), n); m.baseOf(reconcile.Side(s), mb) == fs {
					c.mb[s], c.name[s] = mb, m.nameOf(reconcile.Side(s), mb)
				}
			}
		}
		if c.mb[A] != nil && c.mb[B] != nil && c.name[A] != fs.Name && c.name[B] != fs.Name && c.name[A] != c.name[B] {
			conflicts = append(conflicts, c)
		}
	}
	var revive [2][]*mbox // per side x, the other side's folders to make again on x
	for x := range 2 {
		for _, p := range mvSorted(m.detached[x]) {
			if m.detached[x][p] == mvPending && m.revived(reconcile.Side(x).Other(), p) {
				revive[x] = append(revive[x], p)
			}
		}
	}
	agreed := [2]map[*mbox]bool{{}, {}}
	for x := range 2 {
		for p, mk := range m.detached[x] {
			agreed[x][p] = mk == mvAgreed
		}
	}

	for s := range 2 {
		if e := m.acc[s].scanPointError(base, reconcile.Side(s)); e != "" {
			m.fail("a scan point of the state would read a folder wrong:\n  %s", e)
			return
		}
	}
	m.ow.planning()
	plan, err := m.build(base)
	m.plan = plan
	if err != nil {
		m.fail("Build: %v", err)
		return
	}
	mode := "clean"
	if !clean {
		mode = "some actions fail"
	}
	m.log = append(m.log, mvSyncLine{mode, plan})
	// No re-upload: moves, renames and flag changes move no message body.
	if m.prevClean && !m.expunges && !m.folderDeletes && !m.uvRenames {
		for i := range plan.Actions {
			if a := &plan.Actions[i]; a.Op == reconcile.Copy && held[a.Side][a.ID] {
				m.fail("re-upload: %s already holds %s (in %v), but the plan copies it (%s); since the last clean sync the users only moved, renamed, changed flags, made folders and got new mail",
					a.Side, a.ID, m.locate(a.Side, a.ID), a.String())
				return
			}
		}
	}

	srcBefore := m.ow.snapshot(m)
	out := make([]reconcile.Outcome, len(plan.Actions))
	for i := range plan.Actions {
		a := &plan.Actions[i]
		acc := m.acc[a.Side]
		fail := !clean && m.rng.IntN(3) == 0
		if fail {
			m.logf("  action %d fails", i)
			out[i] = reconcile.Outcome{Err: fmt.Errorf("injected failure")}
			continue
		}
		// A folder still holding mail is not deleted (IMAP DELETE would
		// take the mail with it); the planner deletes only empty ones.
		if mb := acc.folders[a.Mailbox]; a.Op == reconcile.DeleteFolder && mb != nil && len(mb.msgs) > 0 {
			if clean {
				m.fail("action %d (%s): the folder still holds %d messages", i, a.String(), len(mb.msgs))
				return
			}
			m.logf("  action %d refused: the folder is not empty", i)
			out[i] = reconcile.Outcome{Err: fmt.Errorf("folder not empty")}
			continue
		}
		if reconcile.SkippedUnderFailedRename(plan.Actions, out, a) {
			m.logf("  action %d not run: a RENAME above it failed", i)
			out[i] = reconcile.Outcome{Err: fmt.Errorf("not run: a RENAME above it failed")}
			continue
		}
		out[i] = acc.apply(a, m.acc[a.Side.Other()])
		if out[i].Err != nil && clean {
			m.fail("action %d (%s) failed in a clean run: %v", i, a.String(), out[i].Err)
			return
		}
	}
	if m.ow.checkSource(m, srcBefore); m.t.Failed() {
		return
	}
	if err := m.fast.compare("p", base, m.listed[reconcile.A], m.listed[reconcile.B], m.pol, out); err != nil {
		m.fail("%v", err)
		return
	}
	m.st = reconcile.Next(plan, out)
	if *moveModelStates {
		m.logf("  state after:\n%s", mvIndent(mvIndent(formatState(m.st))))
	}
	m.check()
	if clean && !m.t.Failed() {
		if m.ow != nil {
			m.ow.checkClean(m)
			m.ow.cleanSync()
		} else {
			m.checkClean(conflicts, revive, agreed)
		}
	}
	if m.t.Failed() {
		return
	}
	m.settle(clean, revive)
}

// build runs Build on the two accounts; a panic is an error, so that the
// failure shows the case's history.
func (m *moveModel) build(base reconcile.State) (plan *reconcile.Plan, err error) {
	defer func() {
		if r := recover(); r != nil {
			plan, err = nil, fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	m.listed = [2]reconcile.Listing{m.acc[reconcile.A].listing(), m.acc[reconcile.B].listing()}
	plan, err = reconcile.Build("p", base, m.listed[reconcile.A], m.listed[reconcile.B], m.pol)
	if err == nil && *moveModelMirror {
		if d := mirrorDiff(plan, base, m.listed[reconcile.A], m.listed[reconcile.B], m.pol); d != "" {
			return plan, fmt.Errorf("%s  this pair's plan:\n%s", d, plan)
		}
	}
	return plan, err
}

// mvSorted returns the folders of a book, in a stable order.
func mvSorted[V any](set map[*mbox]V) []*mbox {
	out := slices.Collect(maps.Keys(set))
	slices.SortFunc(out, func(x, y *mbox) int { return int(x.uv) - int(y.uv) })
	return out
}

// settle updates the book after a sync.
func (m *moveModel) settle(clean bool, revive [2][]*mbox) {
	for x := range 2 {
		side := reconcile.Side(x)
		for _, p := range mvSorted(m.detached[x]) {
			name := m.nameOf(side.Other(), p)
			switch {
			case name == "" || m.folder(side, name) != nil:
				delete(m.detached[x], p) // gone, or on both sides again
			case clean:
				m.detached[x][p] = mvAgreed
			default:
				m.detached[x][p] = mvLimbo
			}
		}
	}
	for s := range 2 {
		for mb := range m.synced[s] {
			if clean || m.nameOf(reconcile.Side(s), mb) == "" {
				delete(m.synced[s], mb)
			}
		}
		for name, mb := range m.acc[s].folders {
			m.synced[s][mb] = append(m.synced[s][mb], name)
		}
		clear(m.deletedNow[s])
		clear(m.movedNow[s])
		clear(m.wasOneSided[s])
	}
	m.expunges, m.folderDeletes, m.uvRenames = false, false, false
	m.prevClean = clean
	if !clean {
		return
	}
	clear(m.resetOf)
	clear(m.movedIn)
	clear(m.pairedIn)
	clear(m.agreedFlags)
	for _, name := range m.folderNames(reconcile.A) {
		mb := m.folder(reconcile.B, name)
		if mb == nil {
			continue
		}
		for _, msg := range mb.msgs {
			if slices.Contains(m.locate(reconcile.A, msg.ID), name) {
				m.pairedIn[msg.ID] = name
				m.agreedFlags[msg.ID] = msg.Flags
			}
		}
	}
	for s := range 2 {
		clear(m.placed[s])
	}
	clear(m.renamed)
}

// held returns the identities each side holds, with how many copies.
func (m *moveModel) held() [2]map[reconcile.Identity]int {
	var out [2]map[reconcile.Identity]int
	for s := range 2 {
		out[s] = map[reconcile.Identity]int{}
		for _, mb := range m.acc[s].folders {
			for _, msg := range mb.msgs {
				out[s][msg.ID]++
			}
		}
	}
	return out
}

// check tests what holds after any sync, even one whose actions failed.
func (m *moveModel) check() {
	m.t.Helper()
	held := m.held()
	for n := 1; n <= m.ids; n++ {
		id := reconcile.Identity(fmt.Sprintf("x:%d", n))
		if m.deleted[reconcile.A][id] || m.deleted[reconcile.B][id] {
			continue
		}
		if held[reconcile.A][id] == 0 && held[reconcile.B][id] == 0 {
			m.fail("lost: %s is on neither side, and no user deleted it", id)
			return
		}
	}
	back, err := reconcile.DecodeState("p", reconcile.EncodeState(m.st))
	if err != nil {
		m.fail("state does not decode: %v", err)
		return
	}
	if got, want := formatState(back), formatState(m.st); got != want {
		m.fail("state does not survive EncodeState/DecodeState; decoded:\n%s", got)
	}
}

// checkLevelAndDuplicates tests what a clean sync must achieve in any
// pair: level-based (a second Build right away plans nothing), and no
// duplicates (a side holds each identity once, across its folders).
func (m *moveModel) checkLevelAndDuplicates() {
	m.t.Helper()
	again, err := m.build(m.st)
	if err != nil || !again.Empty() {
		m.fail("not level-based: a second Build right after the sync gives %v and\n%s", err, again)
		return
	}
	for s := range 2 {
		side := reconcile.Side(s)
		seen := map[reconcile.Identity]bool{}
		for _, f := range m.folderNames(side) {
			for _, msg := range m.folder(side, f).msgs {
				if seen[msg.ID] {
					m.fail("duplicate: %s holds %s in %v", side, msg.ID, m.locate(side, msg.ID))
					return
				}
				seen[msg.ID] = true
			}
		}
	}
}

// checkClean tests what a clean sync must achieve.
func (m *moveModel) checkClean(conflicts []mvRenameConflict, revive [2][]*mbox, agreed [2]map[*mbox]bool) {
	m.t.Helper()
	A, B := reconcile.A, reconcile.B
	if m.checkLevelAndDuplicates(); m.t.Failed() {
		return
	}

	// Converged: folders, then messages.
	for s := range 2 {
		side, o := reconcile.Side(s), reconcile.Side(s).Other()
		for _, f := range m.folderNames(side) {
			if f == mvTrash || m.folder(o, f) != nil {
				continue
			}
			p := m.folder(side, f)
			if _, ok := m.detached[o][p]; !ok || slices.Contains(revive[o], p) && m.prevClean {
				m.fail("not converged: folder %q is on %s only, and %s's user did not delete it", f, side, o)
				return
			}
		}
	}
	for _, f := range m.folderNames(A) {
		fa, fb := m.folder(A, f), m.folder(B, f)
		if f == mvTrash || fb == nil {
			continue
		}
		var on [2]map[reconcile.Identity]reconcile.Flags
		for s, mb := range []*mbox{fa, fb} {
			on[s] = map[reconcile.Identity]reconcile.Flags{}
			for _, msg := range mb.msgs {
				on[s][msg.ID] = msg.Flags
			}
		}
		ids := slices.Collect(maps.Keys(on[A]))
		for id := range on[B] {
			if _, ok := on[A][id]; !ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			if m.deleted[A][id] || m.deleted[B][id] || m.oneSided[A][id] || m.oneSided[B][id] {
				continue
			}
			fla, oka := on[A][id]
			flb, okb := on[B][id]
			if oka != okb {
				m.fail("not converged: %s is in %q on a: %v, on b: %v (a holds it in %v, b in %v)", id, f, oka, okb, m.locate(A, id), m.locate(B, id))
				return
			}
			if !fla.Equal(flb) {
				m.fail("not converged: %s in %q has flags %s on a, %s on b", id, f, fla, flb)
				return
			}
		}
	}

	// Nothing lost.
	held := m.held()
	for n := 1; n <= m.ids; n++ {
		id := reconcile.Identity(fmt.Sprintf("x:%d", n))
		if m.deleted[A][id] || m.deleted[B][id] {
			continue
		}
		for s := range 2 {
			side, o := reconcile.Side(s), reconcile.Side(s).Other()
			if held[s][id] == 0 && !m.oneSided[o][id] {
				m.fail("lost: no user deleted %s, but %s does not hold it (%s holds it in %v)", id, side, o, m.locate(o, id))
				return
			}
		}
	}

	if m.prevClean {
		m.checkMoves()
		if m.t.Failed() {
			return
		}
		m.checkFlags()
		if m.t.Failed() {
			return
		}
	}
	m.checkRenames(conflicts, revive, agreed)
}

// checkMoves tests that the messages the users moved since the last clean
// sync went where the users moved them, on both sides.
func (m *moveModel) checkMoves() {
	m.t.Helper()
	A, B := reconcile.A, reconcile.B
	for s := range 2 {
		side, o := reconcile.Side(s), reconcile.Side(s).Other()
		for _, id := range slices.Sorted(maps.Keys(m.movedNow[s])) {
			if m.deletedNow[s][id] || m.pairedIn[id] == "" || m.oneSided[A][id] || m.oneSided[B][id] || m.movedHome[s][id] {
				continue
			}
			w := side
			if _, ok := m.movedNow[o][id]; ok && !m.deletedNow[o][id] && !m.movedHome[o][id] {
				w = m.pol.Prefer // moved on both sides: prefer wins
			}
			want := m.nameOf(w, m.movedNow[w][id])
			if want == mvTrash && m.deletedNow[o][id] && w == side && m.pol.Default.Deletion == reconcile.Trash {
				// Moved into the trash on one side, deleted on the
				// other under trash: the deletion's copy would go to
				// that trash, where it is, and the trash's copy is
				// not copied to the side that deleted it. (Under
				// propagate and keep the move beats the deletion as
				// any move does: copied into the other side's trash.)
				if got := m.locate(side, id); !slices.Equal(got, []string{mvTrash}) {
					m.fail("%s: moved into the trash on %s, deleted on %s; %s holds it in %v, want the trash", id, side, o, side, got)
					return
				}
				if got := m.locate(o, id); len(got) != 0 {
					m.fail("%s: moved into the trash on %s, deleted on %s; %s holds it in %v, want nowhere", id, side, o, o, got)
					return
				}
				continue
			}
			if want == "" {
				m.fail("%s: moved on %s, but %s's destination folder is gone", id, side, w)
				return
			}
			for x := range 2 {
				if got := m.locate(reconcile.Side(x), id); !slices.Equal(got, []string{want}) {
					why := fmt.Sprintf("moved on %s", side)
					if w != side {
						why = fmt.Sprintf("moved on both sides, %s preferred", w)
					} else if m.deletedNow[o][id] {
						why = fmt.Sprintf("moved on %s, deleted on %s", side, o)
					}
					m.fail("%s: %s, want it in %q on both sides; %s holds it in %v", id, why, want, reconcile.Side(x), got)
					return
				}
			}
		}
	}
}

// checkFlags tests the per-flag three-way merge (DESIGN.md: each flag
// takes the side that changed it) for the messages both sides held in one
// folder at the last clean sync, moved since or not, in renamed folders
// or not.
func (m *moveModel) checkFlags() {
	m.t.Helper()
	A, B := reconcile.A, reconcile.B
	for _, id := range slices.Sorted(maps.Keys(m.agreedFlags)) {
		if m.deleted[A][id] || m.deleted[B][id] || m.oneSided[A][id] || m.oneSided[B][id] {
			continue
		}
		agreed := m.agreedFlags[id]
		pre := [2]reconcile.Flags{m.preFlags[A][id], m.preFlags[B][id]}
		var want []string
		for _, f := range mvFlags {
			v := agreed.Has(f)
			if pre[A].Has(f) != v {
				v = pre[A].Has(f)
			} else if pre[B].Has(f) != v {
				v = pre[B].Has(f)
			}
			if v {
				want = append(want, f)
			}
		}
		w := reconcile.NewFlags(want...)
		for s := range 2 {
			for _, mb := range m.acc[s].folders {
				for _, msg := range mb.msgs {
					if msg.ID == id && !msg.Flags.Equal(w) {
						m.fail("%s: flags agreed %s, then %s on a and %s on b: want %s on both sides, %s has %s",
							id, agreed, pre[A], pre[B], w, reconcile.Side(s), msg.Flags)
						return
					}
				}
			}
		}
	}
}

// checkRenames tests what became of the folders the users renamed.
func (m *moveModel) checkRenames(conflicts []mvRenameConflict, revive [2][]*mbox, agreed [2]map[*mbox]bool) {
	m.t.Helper()
	A, B := reconcile.A, reconcile.B
	for _, n := range slices.Sorted(maps.Keys(m.vacated)) {
		for s := range 2 {
			if m.folder(reconcile.Side(s), n) != nil {
				m.fail("folder %q, renamed by a user, is on %s again", n, reconcile.Side(s))
				return
			}
		}
	}
	for _, c := range conflicts {
		w := m.pol.Prefer
		var now [2]string
		for s := range 2 {
			now[s] = m.nameOf(reconcile.Side(s), c.mb[s])
		}
		if now[A] == "" || now[B] == "" || now[A] != now[B] {
			m.fail("folder %q renamed to %q on a and to %q on b: now %q on a, %q on b; want one name", c.base, c.name[A], c.name[B], now[A], now[B])
			return
		}
		for s := range 2 {
			if c.name[s] == now[A] {
				continue
			}
			for x := range 2 {
				if m.folder(reconcile.Side(x), c.name[s]) != nil {
					m.fail("folder %q renamed to %q on a and to %q on b, now %q: %q is still on %s", c.base, c.name[A], c.name[B], now[A], c.name[s], reconcile.Side(x))
					return
				}
			}
		}
		// Unless the planner renamed a folder above it too, the prefer
		// side's name wins.
		if now[w] != c.name[w] && !m.parentRenamed(w, c.name[w]) && m.prevClean {
			m.fail("folder %q renamed to %q on a and to %q on b: now %q, want %s's %q (prefer)", c.base, c.name[A], c.name[B], now[w], w, c.name[w])
			return
		}
	}
	for x := range 2 {
		side := reconcile.Side(x)
		y := side.Other()
		if m.prevClean {
			for _, p := range revive[x] {
				name := m.nameOf(y, p)
				if name == "" || m.folder(side, name) == nil {
					m.fail("a folder deleted on %s and renamed on %s (now %q there) was not made again on %s", side, y, name, side)
					return
				}
			}
		}
		for _, p := range mvSorted(agreed[x]) {
			if !agreed[x][p] {
				continue
			}
			if name := m.nameOf(y, p); name != "" && m.folder(side, name) != nil {
				m.fail("folder %q, whose counterpart %s's user deleted (and an earlier sync agreed), is on %s again", name, side, side)
				return
			}
		}
	}
}

// parentRenamed reports whether the folder above logical name n on side s
// had another name before the last sync.
func (m *moveModel) parentRenamed(s reconcile.Side, n string) bool {
	i := strings.LastIndex(n, "/")
	if i < 0 {
		return false
	}
	p := m.folder(s, n[:i])
	if p == nil {
		return true
	}
	last, _ := m.lastName(s, p)
	return last != m.mailbox(s, n[:i])
}

// fail reports a broken invariant with everything needed to understand it.
func (m *moveModel) fail(format string, args ...any) {
	m.t.Helper()
	var b strings.Builder
	all := ""
	if *moveModelAll {
		all = " -movemodel.all"
	} else if *moveModelBugs != "" {
		all = " -movemodel.bugs " + *moveModelBugs
	}
	if *moveModelAlike {
		all += " -movemodel.alike"
	}
	if *moveModelResets {
		all += " -movemodel.resets"
	}
	test := "TestModelMovesAndRenames"
	if m.trashRng != nil {
		test = "TestModelMovesIntoTheTrash"
	} else if m.ow != nil {
		test += "OneWay"
	}
	fmt.Fprintf(&b, "movemodel case seed %d (rerun: go test ./reconcile -run %s -movemodel.seed %d%s):\n", m.seed, test, m.seed, all)
	fmt.Fprintf(&b, "%s\n", fmt.Sprintf(format, args...))
	b.WriteString("\nhistory:\n")
	for _, l := range m.log {
		b.WriteString("  " + strings.ReplaceAll(l.String(), "\n", "\n  ") + "\n")
	}
	fmt.Fprintf(&b, "\nbase state of the last sync:\n%s", mvIndent(formatState(m.base)))
	if m.plan != nil {
		fmt.Fprintf(&b, "\nlast plan:\n%s", mvIndent(m.plan.String()))
	}
	fmt.Fprintf(&b, "\nstate now:\n%s", mvIndent(formatState(m.st)))
	for s := range 2 {
		fmt.Fprintf(&b, "\naccount %s now:\n%s", reconcile.Side(s), mvIndent(mvFormatAccount(m.acc[s])))
	}
	m.t.Fatal(b.String())
}

func mvIndent(s string) string {
	if s == "" {
		return "  (empty)\n"
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

// mvFormatAccount renders an account in parseListing's syntax.
func mvFormatAccount(acc *account) string {
	var b strings.Builder
	if acc.delim != '/' {
		fmt.Fprintf(&b, "delim %c\n", acc.delim)
	}
	for _, f := range acc.listing().Folders {
		fmt.Fprintf(&b, "folder %s uv=%d\n", f.Mailbox, f.UIDValidity)
		for _, msg := range f.Messages {
			fmt.Fprintf(&b, "%d %s %s\n", msg.UID, msg.Flags, msg.ID)
		}
	}
	return b.String()
}

// TestModelMovesIntoTheTrash is TestModelMovesAndRenames, with a trash on
// both sides from the start, where the users also delete as most clients
// do: a quarter of the moves go into the trash. A third of its cases are
// one way, checked as TestModelMovesAndRenamesOneWay's. A user's move
// into the trash is a move like any (DESIGN.md): followed on the other
// side (in a one-way pair, from the source only), and settled as any move
// conflict. Moved into the trash on one side and deleted on the other
// under trash, it stays in the mover's trash only; under propagate and
// keep the move beats the deletion, as any move does, and the message is
// copied into the other side's trash. Messages in the trash stay there
// (the users neither move them out nor expunge them). It takes the same
// flags (-movemodel.seed, -movemodel.from, -movemodel.cases).
func TestModelMovesIntoTheTrash(t *testing.T) {
	runMoveModels(t, mvTrashMoves)
}
