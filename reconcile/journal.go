package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Journal renders what a run did, one line per action with its outcome,
// for the run's commit message: which message (by folder, UID and
// identity hash) went where. It holds no subjects, addresses or bodies.
func Journal(p *Plan, outcomes []Outcome) string {
	head, _ := JournalHead(p, outcomes, len(p.Actions)+len(p.Conflicts))
	return head
}

// JournalHead returns the first max lines of Journal(p, outcomes), and
// how many lines Journal has in all (one per action and per conflict),
// formatting no more than those: a run's commit message holds its first
// lines only, and a first sync of 100,000 messages formatted them all to
// keep 20.
func JournalHead(p *Plan, outcomes []Outcome, max int) (head string, lines int) {
	var b strings.Builder
	n := min(max, len(p.Actions))
	b.Grow(100 * n) // a copy's line is 90 to 110 bytes
	for i := range n {
		a := &p.Actions[i]
		o := Outcome{Err: ErrNotRun}
		if i < len(outcomes) {
			o = outcomes[i]
		}
		switch {
		case o.Err != nil:
			fmt.Fprintf(&b, "failed %s: %v\n", a, oneLine(o.Err.Error()))
		case (a.Op == Copy || a.Op == Move) && o.UID != 0:
			fmt.Fprintf(&b, "ok %s => uid %d\n", a, o.UID)
		default:
			fmt.Fprintf(&b, "ok %s\n", a)
		}
	}
	for _, c := range p.Conflicts[:min(len(p.Conflicts), max-n)] {
		fmt.Fprintf(&b, "conflict %s\n", c)
	}
	return b.String(), len(p.Actions) + len(p.Conflicts)
}

func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", " ")
}

// JournalHeader is the first line of every journal file.
const JournalHeader = "# mailtwin journal v1"

// JournalFile is where a pair's journal is kept, relative to the pair's
// directory in the state repository. It is in a directory of its own, so
// that it can be read without the state files, and it never ends in
// ".state", so DecodeState ignores it (StateFileName escapes "/").
const JournalFile = "journal/actions"

// Outcome statuses in a journal.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
	StatusNotRun = "not-run"
)

// Run statuses in a journal.
const (
	// RunComplete: the journal lists every action of the run.
	RunComplete = "complete"
	// RunIncomplete: a checkpoint of a run still going; its actions are
	// listed in the run's final commit (see RunJournal.Run).
	RunIncomplete = "incomplete"
)

// JournalEntry is one action of a run and what became of it.
type JournalEntry struct {
	Action
	// Status is StatusOK, StatusFailed or StatusNotRun.
	Status string `json:"status"`
	// NewUID is the UID a copied or moved message got, 0 when not known.
	NewUID UID `json:"new_uid,omitempty"`
	// Error says why the action failed.
	Error string `json:"error,omitempty"`
}

// RunJournal is what one run did to one pair, as the state repository
// keeps it in the pair's JournalFile: the data that show and revert
// read. It holds UIDs, mailbox names, flags and identity hashes, never
// subjects, addresses or bodies.
type RunJournal struct {
	// Run identifies the run; it differs between any two runs, so the
	// journal file changes in every commit where the pair acted. The
	// checkpoints of one run and its final commit share it.
	Run string `json:"run"`
	// Status is RunComplete or RunIncomplete.
	Status string `json:"status"`
	// Note is free text: what the run was (a revert names its revision).
	Note      string         `json:"note,omitempty"`
	Entries   []JournalEntry `json:"actions"`
	Conflicts []string       `json:"conflicts,omitempty"`
}

// NewRunJournal records a carried-out plan: one entry per action, with
// the outcome of the same index (missing outcomes count as not run).
func NewRunJournal(run string, p *Plan, outcomes []Outcome) RunJournal {
	return newRunJournal(run, p, outcomes, false)
}

// NewCheckpointJournal records the part of a plan carried out so far,
// for a checkpoint: the actions not run yet are left out, so that a
// checkpoint of a long run costs what was done, not the whole plan
// again. Its status is RunIncomplete.
func NewCheckpointJournal(run string, p *Plan, outcomes []Outcome) RunJournal {
	j := newRunJournal(run, p, outcomes, true)
	j.Status = RunIncomplete
	return j
}

func newRunJournal(run string, p *Plan, outcomes []Outcome, doneOnly bool) RunJournal {
	j := RunJournal{Run: run, Status: RunComplete, Entries: make([]JournalEntry, 0, entryCount(p, outcomes, doneOnly)), Conflicts: p.Conflicts}
	entriesOf(p, outcomes, doneOnly, func(e *JournalEntry) { j.Entries = append(j.Entries, *e) })
	return j
}

// entryCount is how many entries entriesOf gives.
func entryCount(p *Plan, outcomes []Outcome, doneOnly bool) int {
	if !doneOnly {
		return len(p.Actions)
	}
	n := 0
	for i := range min(len(outcomes), len(p.Actions)) {
		if !errors.Is(outcomes[i].Err, ErrNotRun) {
			n++
		}
	}
	return n
}

// entriesOf calls fn with the journal entry of each action of p, in
// order, leaving out those not run where doneOnly is set. The entry is
// fn's only for the call.
func entriesOf(p *Plan, outcomes []Outcome, doneOnly bool, fn func(e *JournalEntry)) {
	var e JournalEntry
	for i := range p.Actions {
		o := Outcome{Err: ErrNotRun}
		if i < len(outcomes) {
			o = outcomes[i]
		}
		if doneOnly && errors.Is(o.Err, ErrNotRun) {
			continue
		}
		e = JournalEntry{Action: journalAction(p.Actions[i]), Status: StatusOK}
		switch {
		case errors.Is(o.Err, ErrNotRun):
			e.Status = StatusNotRun
		case o.Err != nil:
			e.Status, e.Error = StatusFailed, oneLine(o.Err.Error())
		case e.Op == Copy || e.Op == Move:
			e.NewUID = o.UID
		}
		fn(&e)
	}
}

// journalAction returns a's exported fields only, with empty flag sets nil.
func journalAction(a Action) Action {
	out := Action{Op: a.Op, Side: a.Side, Folder: a.Folder, Mailbox: a.Mailbox, UID: a.UID,
		SrcMailbox: a.SrcMailbox, SrcUID: a.SrcUID, Dest: a.Dest, ID: a.ID, Reason: a.Reason}
	if len(a.Flags) > 0 {
		out.Flags = a.Flags
	}
	if len(a.Remove) > 0 {
		out.Remove = a.Remove
	}
	return out
}

// FormatJournal renders j as the journal file:
//
//	# mailtwin journal v1
//	run "20261129T093000.123456789Z-4242"
//	status complete
//	note "revert 3fa9c1d"
//	ok b copy "INBOX" "INBOX" 0 "INBOX" 5 "" 7 "\\Seen" "" m:3fa9c1d2e4b5a6978899aabb "new" ""
//	conflict "..."
//
// The note line is left out when empty. An action line is, in order:
// status, side, op, folder, mailbox, uid, source mailbox, source uid,
// destination, new uid, flags added (space-separated), flags removed,
// identity ("-" for none), reason, error; strings quoted as Go does.
// ParseJournal reads it back exactly.
func FormatJournal(j RunJournal) []byte {
	return formatJournal(j, len(j.Entries), func(entry func(*JournalEntry)) {
		for i := range j.Entries {
			entry(&j.Entries[i])
		}
	})
}

// FormatJournalOf is FormatJournal(j) with, after j's Entries, the
// entries NewRunJournal makes of p's actions and their outcomes (those
// NewCheckpointJournal makes, the actions done so far, where j.Status
// is RunIncomplete), each made as it is written and dropped: the
// entries of a first sync of 100,000 messages took 30 MB, at the run's
// peak of memory. j.Conflicts are written as they are (NewRunJournal's
// are p.Conflicts).
func FormatJournalOf(j RunJournal, p *Plan, outcomes []Outcome) []byte {
	n := entryCount(p, outcomes, j.Status == RunIncomplete)
	return formatJournal(j, len(j.Entries)+n, func(entry func(*JournalEntry)) {
		for i := range j.Entries {
			entry(&j.Entries[i])
		}
		entriesOf(p, outcomes, j.Status == RunIncomplete, entry)
	})
}

// formatJournal writes j's header, each entry entries gives, and j's
// conflicts; n is how many entries there are.
func formatJournal(j RunJournal, n int, entries func(entry func(*JournalEntry))) []byte {
	var b bytes.Buffer
	b.Grow(120 * (n + 4)) // a copy's line is about 110 bytes
	b.WriteString(JournalHeader + "\n")
	fmt.Fprintf(&b, "run %q\n", j.Run)
	fmt.Fprintf(&b, "status %s\n", j.Status)
	if j.Note != "" {
		fmt.Fprintf(&b, "note %q\n", j.Note)
	}
	// Appended field by field, as fmt's %s, %q and %d would write them:
	// a third of the time of one Fprintf per line, which the journals
	// of a long run's checkpoints add up to.
	var line []byte
	entries(func(e *JournalEntry) {
		id := string(e.ID)
		if id == "" {
			id = "-"
		}
		line = append(line[:0], e.Status...)
		line = append(line, ' ')
		line = append(line, e.Side.String()...)
		line = append(line, ' ')
		line = append(line, e.Op.String()...)
		line = append(line, ' ')
		line = strconv.AppendQuote(line, e.Folder)
		line = append(line, ' ')
		line = strconv.AppendQuote(line, e.Mailbox)
		line = append(line, ' ')
		line = strconv.AppendUint(line, uint64(e.UID), 10)
		line = append(line, ' ')
		line = strconv.AppendQuote(line, e.SrcMailbox)
		line = append(line, ' ')
		line = strconv.AppendUint(line, uint64(e.SrcUID), 10)
		line = append(line, ' ')
		line = strconv.AppendQuote(line, e.Dest)
		line = append(line, ' ')
		line = strconv.AppendUint(line, uint64(e.NewUID), 10)
		line = append(line, ' ')
		line = strconv.AppendQuote(line, strings.Join(e.Flags, " "))
		line = append(line, ' ')
		line = strconv.AppendQuote(line, strings.Join(e.Remove, " "))
		line = append(line, ' ')
		line = append(line, id...)
		line = append(line, ' ')
		line = strconv.AppendQuote(line, e.Reason)
		line = append(line, ' ')
		line = strconv.AppendQuote(line, e.Error)
		line = append(line, '\n')
		b.Write(line)
	})
	for _, c := range j.Conflicts {
		fmt.Fprintf(&b, "conflict %q\n", c)
	}
	return b.Bytes()
}

// ParseJournal parses a journal file strictly; errors read
// "FILE:LINE: what is wrong".
func ParseJournal(filename string, data []byte) (RunJournal, error) {
	var j RunJournal
	lines := strings.Split(string(data), "\n")
	if len(lines) == 0 || lines[len(lines)-1] != "" {
		return j, fmt.Errorf("%s: no final newline", filename)
	}
	lines = lines[:len(lines)-1]
	errf := func(n int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", filename, n+1, fmt.Sprintf(format, args...))
	}
	if len(lines) < 3 || lines[0] != JournalHeader {
		return j, fmt.Errorf("%s:1: not a journal of this version: want %q then run and status lines", filename, JournalHeader)
	}
	var err error
	if j.Run, err = quotedLine(lines[1], "run"); err != nil {
		return j, errf(1, "%v", err)
	}
	st, ok := strings.CutPrefix(lines[2], "status ")
	if !ok || st != RunComplete && st != RunIncomplete {
		return j, errf(2, "want status %s or %s", RunComplete, RunIncomplete)
	}
	j.Status = st
	i := 3
	if i < len(lines) && strings.HasPrefix(lines[i], "note ") {
		if j.Note, err = quotedLine(lines[i], "note"); err != nil {
			return j, errf(i, "%v", err)
		}
		if j.Note == "" {
			return j, errf(i, "empty note")
		}
		i++
	}
	for ; i < len(lines); i++ {
		ln := lines[i]
		if strings.HasPrefix(ln, "conflict ") {
			c, err := quotedLine(ln, "conflict")
			if err != nil {
				return j, errf(i, "%v", err)
			}
			j.Conflicts = append(j.Conflicts, c)
			continue
		}
		if len(j.Conflicts) > 0 {
			return j, errf(i, "action after a conflict line")
		}
		e, err := parseEntry(ln)
		if err != nil {
			return j, errf(i, "%v", err)
		}
		j.Entries = append(j.Entries, e)
	}
	return j, nil
}

func quotedLine(ln, key string) (string, error) {
	rest, ok := strings.CutPrefix(ln, key+" ")
	if !ok {
		return "", fmt.Errorf("want a %s line", key)
	}
	s, err := strconv.Unquote(rest)
	if err != nil || strconv.Quote(s) != rest {
		return "", fmt.Errorf("%s: want a quoted string, got %s", key, rest)
	}
	return s, nil
}

// journalFields splits an action line into its fields, unquoting the
// quoted ones.
func journalFields(ln string) (fields []string, err error) {
	for len(ln) > 0 {
		var f string
		if ln[0] == '"' {
			q, err := strconv.QuotedPrefix(ln)
			if err != nil {
				return nil, fmt.Errorf("bad quoted string in %q", ln)
			}
			s, _ := strconv.Unquote(q)
			if strconv.Quote(s) != q {
				return nil, fmt.Errorf("%s is not in canonical quoting", q)
			}
			f, ln = s, ln[len(q):]
		} else {
			end := strings.IndexByte(ln, ' ')
			if end < 0 {
				end = len(ln)
			}
			f, ln = ln[:end], ln[end:]
			if f == "" {
				return nil, errors.New("empty field")
			}
		}
		fields = append(fields, f)
		if len(ln) > 0 {
			if ln[0] != ' ' || len(ln) == 1 {
				return nil, errors.New("fields must be separated by one space")
			}
			ln = ln[1:]
		}
	}
	return fields, nil
}

func parseEntry(ln string) (JournalEntry, error) {
	var e JournalEntry
	fields, err := journalFields(ln)
	if err != nil {
		return e, err
	}
	if len(fields) != 15 {
		return e, fmt.Errorf("want 15 fields in an action line, got %d", len(fields))
	}
	switch fields[0] {
	case StatusOK, StatusFailed, StatusNotRun:
		e.Status = fields[0]
	default:
		return e, fmt.Errorf("unknown status %q", fields[0])
	}
	switch fields[1] {
	case "a":
		e.Side = A
	case "b":
		e.Side = B
	default:
		return e, fmt.Errorf("unknown side %q", fields[1])
	}
	op := -1
	for i, n := range opNames {
		if n == fields[2] {
			op = i
		}
	}
	if op < 0 {
		return e, fmt.Errorf("unknown op %q", fields[2])
	}
	e.Op = Op(op)
	e.Folder, e.Mailbox = fields[3], fields[4]
	uid := func(i int) (UID, error) {
		n, err := strconv.ParseUint(fields[i], 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != fields[i] {
			return 0, fmt.Errorf("bad uid %q", fields[i])
		}
		return UID(n), nil
	}
	if e.UID, err = uid(5); err != nil {
		return e, err
	}
	e.SrcMailbox = fields[6]
	if e.SrcUID, err = uid(7); err != nil {
		return e, err
	}
	e.Dest = fields[8]
	if e.NewUID, err = uid(9); err != nil {
		return e, err
	}
	if fs := strings.Fields(fields[10]); len(fs) > 0 {
		e.Flags = fs
	}
	if fs := strings.Fields(fields[11]); len(fs) > 0 {
		e.Remove = fs
	}
	if fields[12] != "-" {
		if !validIdentity(fields[12]) {
			return e, fmt.Errorf("bad identity %q", fields[12])
		}
		e.ID = Identity(fields[12])
	}
	e.Reason, e.Error = fields[13], fields[14]
	if e.Status == StatusFailed && e.Error == "" {
		return e, errors.New("a failed action needs its error")
	}
	if e.Status != StatusFailed && e.Error != "" {
		return e, errors.New("only a failed action has an error")
	}
	// Canonical form only: what FormatJournal would write for e.
	again := FormatJournal(RunJournal{Run: "-", Status: RunComplete, Entries: []JournalEntry{e}})
	if want := strings.SplitN(string(again), "\n", 4)[3]; want != ln+"\n" {
		return e, fmt.Errorf("not in canonical form: want %q", strings.TrimSuffix(want, "\n"))
	}
	return e, nil
}

// UnmarshalText reads an Op as MarshalText writes it.
func (o *Op) UnmarshalText(b []byte) error {
	for i, n := range opNames {
		if n == string(b) {
			*o = Op(i)
			return nil
		}
	}
	return fmt.Errorf("unknown op %q", b)
}

// UnmarshalText reads a Side as MarshalText writes it.
func (s *Side) UnmarshalText(b []byte) error {
	switch string(b) {
	case "a":
		*s = A
	case "b":
		*s = B
	default:
		return fmt.Errorf("unknown side %q", b)
	}
	return nil
}
