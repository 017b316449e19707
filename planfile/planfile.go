package planfile

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mailtwin/mailtwin/reconcile"
)

// Format is the value of a plan file's "format" field.
const Format = "mailtwin-plan"

// Version is the version of the format this package writes and reads.
const Version = 1

// NoState is File.State when the state repository had no commit.
const NoState = "none"

// File is a saved plan.
type File struct {
	// Format is always Format, and Version the format's version: a
	// reader refuses any other.
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Created is when the plan was made (RFC 3339, UTC); shown only.
	Created string `json:"created"`
	// Config is the configuration the plan was made with.
	Config Config `json:"config"`
	// State is the state repository's HEAD commit the plan was made
	// from (the full hash), or NoState.
	State string `json:"state"`
	// Force records that the plan was made with --force: its safety
	// guards were overridden then, and apply does not judge them again.
	Force bool `json:"force,omitempty"`
	// Pairs are the pairs planned, in the order of the run.
	Pairs []Pair `json:"pairs"`
}

// Config identifies the configuration file a plan was made with.
type Config struct {
	// Path is the file's path as given; shown only.
	Path string `json:"path"`
	// SHA256 is the hex SHA-256 digest of the file's bytes.
	SHA256 string `json:"sha256"`
}

// Pair is one pair's part of a saved plan.
type Pair struct {
	Pair    string `json:"pair"`
	Summary string `json:"summary"`
	// Actions are the plan's actions in execution order, as plan --json
	// prints them; apply carries out exactly these.
	Actions   []reconcile.Action `json:"actions"`
	Conflicts []string           `json:"conflicts,omitempty"`
	// Folders are the folder pairs, by logical name, that the actions
	// touch (the union of their footprints); apply keeps to them.
	Folders []string `json:"folders"`
	// Fingerprints are the mailboxes the actions touch, on either side,
	// as they were when the plan was made, sorted by side and mailbox.
	Fingerprints []Fingerprint `json:"fingerprints"`
}

// Fingerprint is what a mailbox looked like when a plan was made: enough
// to tell that anything in it changed since. With CONDSTORE a change of
// any message moves HIGHESTMODSEQ; without it, FlagsSHA256 digests every
// message's UID and flags.
type Fingerprint struct {
	Side    reconcile.Side `json:"side"`
	Mailbox string         `json:"mailbox"`
	// Exists is false for a mailbox the plan creates: it must still not
	// exist when the plan is applied.
	Exists      bool   `json:"exists"`
	UIDValidity uint32 `json:"uidvalidity,omitempty"`
	UIDNext     uint32 `json:"uidnext,omitempty"`
	Messages    int    `json:"messages"`
	// HighestModSeq is the mailbox's HIGHESTMODSEQ where the server has
	// CONDSTORE, else 0.
	HighestModSeq uint64 `json:"highestmodseq,omitempty"`
	// FlagsSHA256, where HighestModSeq is 0, is FlagDigest of the
	// mailbox's messages.
	FlagsSHA256 string `json:"flags_sha256,omitempty"`
}

// ErrCorrupt is a plan file that cannot be read.
var ErrCorrupt = errors.New("not a readable plan file")

// ErrVersion is a plan file of a format version this mailtwin does not
// know.
var ErrVersion = errors.New("unknown plan file version")

// Encode returns f as indented JSON, with Format and Version set.
func Encode(f *File) ([]byte, error) {
	f.Format, f.Version = Format, Version
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode plan: %w", err)
	}
	return append(b, '\n'), nil
}

// Decode reads a plan file. A file that is not JSON, not a plan, or
// incomplete gives ErrCorrupt; another version gives ErrVersion.
func Decode(b []byte) (*File, error) {
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if head.Format != Format {
		return nil, fmt.Errorf("%w: its format is %q, want %q", ErrCorrupt, head.Format, Format)
	}
	if head.Version != Version {
		return nil, fmt.Errorf("%w %d: this mailtwin reads version %d (make the plan again with this mailtwin)", ErrVersion, head.Version, Version)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if f.Config.SHA256 == "" || f.State == "" || f.Pairs == nil {
		return nil, fmt.Errorf("%w: config, state or pairs missing", ErrCorrupt)
	}
	for _, p := range f.Pairs {
		if p.Pair == "" || p.Actions == nil || p.Folders == nil || p.Fingerprints == nil {
			return nil, fmt.Errorf("%w: a pair without a name, actions, folders or fingerprints", ErrCorrupt)
		}
	}
	return &f, nil
}

// Sniff reports whether b starts like a plan file: a JSON object whose
// first field is "format" with the value Format.
func Sniff(b []byte) bool {
	s := strings.TrimLeft(string(b), " \t\r\n")
	s, ok := strings.CutPrefix(s, "{")
	if !ok {
		return false
	}
	s = strings.TrimLeft(s, " \t\r\n")
	s, ok = strings.CutPrefix(s, `"format"`)
	if !ok {
		return false
	}
	s = strings.TrimLeft(s, " \t\r\n")
	s, ok = strings.CutPrefix(s, ":")
	return ok && strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), `"`+Format+`"`)
}

// FlagDigest is the hex SHA-256 of msgs' "UID flags" lines, sorted by
// UID.
func FlagDigest(msgs []reconcile.Message) string {
	sorted := slices.Clone(msgs)
	slices.SortFunc(sorted, func(x, y reconcile.Message) int { return cmp.Compare(x.UID, y.UID) })
	h := sha256.New()
	for _, m := range sorted {
		fmt.Fprintf(h, "%d %s\n", m.UID, m.Flags)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Take returns the fingerprint of mailbox on side s as l lists it (and
// as its scan filled in its messages). A nil l lists nothing.
func Take(l *reconcile.Listing, s reconcile.Side, mailbox string) Fingerprint {
	fp := Fingerprint{Side: s, Mailbox: mailbox}
	if l == nil {
		return fp
	}
	i, ok := slices.BinarySearchFunc(l.Folders, mailbox, func(f reconcile.Folder, mb string) int { return strings.Compare(f.Mailbox, mb) })
	if !ok {
		// Listings are sorted by Mailbox; look again in case one is not.
		i = slices.IndexFunc(l.Folders, func(f reconcile.Folder) bool { return f.Mailbox == mailbox })
		if i < 0 {
			return fp
		}
	}
	f := &l.Folders[i]
	fp.Exists = true
	fp.UIDValidity, fp.UIDNext, fp.HighestModSeq = f.UIDValidity, f.UIDNext, f.HighestModSeq
	fp.Messages = f.NumMessages
	if fp.Messages < 0 {
		fp.Messages = len(f.Messages)
	}
	if fp.HighestModSeq == 0 {
		fp.FlagsSHA256 = FlagDigest(f.Messages)
	}
	return fp
}

// Fingerprints returns the fingerprints of the mailboxes in boxes (by
// side) as p's listings have them, sorted by side and mailbox.
func Fingerprints(p *reconcile.Plan, boxes [2][]string) []Fingerprint {
	out := []Fingerprint{}
	for s := range 2 {
		mbs := slices.Clone(boxes[s])
		slices.Sort(mbs)
		for _, mb := range slices.Compact(mbs) {
			out = append(out, Take(p.Listed(reconcile.Side(s)), reconcile.Side(s), mb))
		}
	}
	return out
}

// Changed describes how a mailbox changed from was to now, "" when it
// did not: "UIDNEXT 12 -> 13 (a new message)".
func Changed(was, now Fingerprint) string {
	switch {
	case was.Exists && !now.Exists:
		return "deleted or renamed since the plan"
	case !was.Exists && now.Exists:
		return "created since the plan"
	case !was.Exists:
		return ""
	case was.UIDValidity != now.UIDValidity:
		return fmt.Sprintf("UIDVALIDITY %d -> %d (the mailbox was made again)", was.UIDValidity, now.UIDValidity)
	}
	var parts []string
	if was.UIDNext != now.UIDNext {
		what := "a new message"
		if n := now.UIDNext - was.UIDNext; now.UIDNext > was.UIDNext && n > 1 {
			what = fmt.Sprintf("%d new messages", n)
		}
		parts = append(parts, fmt.Sprintf("UIDNEXT %d -> %d (%s)", was.UIDNext, now.UIDNext, what))
	}
	if was.Messages != now.Messages && was.UIDNext == now.UIDNext {
		what := "an expunge"
		if now.Messages > was.Messages {
			what = "messages added"
		}
		parts = append(parts, fmt.Sprintf("messages %d -> %d (%s)", was.Messages, now.Messages, what))
	}
	if len(parts) > 0 {
		return strings.Join(parts, ", ")
	}
	switch {
	case was.HighestModSeq != now.HighestModSeq:
		return fmt.Sprintf("HIGHESTMODSEQ %d -> %d (flags changed or a message expunged)", was.HighestModSeq, now.HighestModSeq)
	case was.FlagsSHA256 != now.FlagsSHA256:
		return "flags changed (the digest of its messages' flags differs)"
	}
	return ""
}

// StaleError is a saved plan that no longer fits the accounts, the
// configuration or the state: apply refuses it and changes nothing.
type StaleError struct {
	// Reasons, one line each, say what changed.
	Reasons []string
}

func (e *StaleError) Error() string {
	return "stale plan: " + strings.Join(e.Reasons, "; ")
}

// Check tells whether the saved pair sp still holds for now, the plan
// Build makes from the state and the accounts as they are at apply time:
// every mailbox sp fingerprints must be as it was, and the actions of now
// that touch sp's folder pairs (reconcile.Plan.InScope) must be exactly
// sp's. It returns nil or a *StaleError naming every difference.
func Check(sp *Pair, now *reconcile.Plan) error {
	var reasons []string
	for _, was := range sp.Fingerprints {
		is := Take(now.Listed(was.Side), was.Side, was.Mailbox)
		if c := Changed(was, is); c != "" {
			reasons = append(reasons, fmt.Sprintf("pair %q: folder %q on %s: %s", sp.Pair, was.Mailbox, was.Side, c))
		}
	}
	if len(reasons) == 0 {
		idx := now.InScope(sp.Folders)
		got := make([]reconcile.Action, len(idx))
		for j, i := range idx {
			got[j] = now.Actions[i]
		}
		if d := diffActions(sp.Actions, got); d != "" {
			reasons = append(reasons, fmt.Sprintf("pair %q: the plan made now differs from the saved one: %s", sp.Pair, d))
		}
	}
	if len(reasons) > 0 {
		return &StaleError{Reasons: reasons}
	}
	return nil
}

// diffActions describes the first difference between the saved actions
// and those planned now, "" when they are the same.
func diffActions(saved, now []reconcile.Action) string {
	key := func(a *reconcile.Action) string {
		b, _ := json.Marshal(a)
		return string(b)
	}
	for i := range max(len(saved), len(now)) {
		switch {
		case i >= len(saved):
			return fmt.Sprintf("it adds %s", &now[i])
		case i >= len(now):
			return fmt.Sprintf("it no longer has %s", &saved[i])
		case key(&saved[i]) != key(&now[i]):
			return fmt.Sprintf("saved %s, now %s", &saved[i], &now[i])
		}
	}
	return ""
}
