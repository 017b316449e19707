package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
)

// UID is an IMAP message UID. Zero means "none".
type UID = uint32

// Identity tells whether two messages on different sides, or in different
// folders, are the same message. It is a short scheme letter, a colon and
// a hex hash: "m:" hashes the Message-ID and RFC822.SIZE, "h:" the header
// block and size (for messages with no Message-ID). A stable server id
// (OBJECTID EMAILID, Dovecot X-GUID) can take a scheme of its own later.
// Identities are hashed so the state holds no addresses.
type Identity string

// IdentityFromMessageID returns the identity of a message with the given
// Message-ID header value (with or without the angle brackets) and size.
// It returns "" for an empty Message-ID.
func IdentityFromMessageID(messageID string, size int64) Identity {
	id := strings.TrimSpace(messageID)
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if id == "" {
		return ""
	}
	return hashIdentity("m:", id, size)
}

// IdentityFromHeader returns the identity of a message without a
// Message-ID: a hash of its whole header block and size.
func IdentityFromHeader(header []byte, size int64) Identity {
	return hashIdentity("h:", string(header), size)
}

func hashIdentity(scheme, s string, size int64) Identity {
	h := sha256.New()
	h.Write([]byte(s))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(size, 10)))
	return Identity(scheme + hex.EncodeToString(h.Sum(nil)[:12]))
}

// Flags is a set of IMAP flags in canonical form: system flags spelled as
// RFC 3501 does ("\Seen"), keywords lower-cased (keywords compare
// case-insensitively and some servers lower-case them), sorted, with no
// \Recent and no \Deleted. Build one with NewFlags.
type Flags []string

var systemFlags = map[string]string{
	`\seen`: `\Seen`, `\answered`: `\Answered`, `\flagged`: `\Flagged`,
	`\draft`: `\Draft`, `\deleted`: `\Deleted`, `\recent`: `\Recent`,
}

// NewFlags canonicalises raw flags as they came from a server.
func NewFlags(raw ...string) Flags {
	out := make(Flags, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for _, f := range raw {
		l := strings.ToLower(f)
		if c, ok := systemFlags[l]; ok {
			if c == `\Recent` || c == `\Deleted` {
				continue
			}
			l = c
		} else if strings.HasPrefix(l, `\`) || l == "" {
			continue // unknown system flag (\*, extensions): not synced
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// Has reports whether f holds flag.
func (f Flags) Has(flag string) bool {
	i := sort.SearchStrings(f, flag)
	return i < len(f) && f[i] == flag
}

// Equal reports whether f and g hold the same flags.
func (f Flags) Equal(g Flags) bool {
	if len(f) != len(g) {
		return false
	}
	for i := range f {
		if f[i] != g[i] {
			return false
		}
	}
	return true
}

// Diff returns the flags to add to f and to remove from f to make it g.
func (f Flags) Diff(g Flags) (add, remove Flags) {
	for _, x := range g {
		if !f.Has(x) {
			add = append(add, x)
		}
	}
	for _, x := range f {
		if !g.Has(x) {
			remove = append(remove, x)
		}
	}
	return add, remove
}

// String returns the flags comma-joined, or "-" for none, as written in
// state files.
func (f Flags) String() string {
	if len(f) == 0 {
		return "-"
	}
	return strings.Join(f, ",")
}

// Message is one message as a side lists it.
type Message struct {
	UID   UID
	Flags Flags
	ID    Identity
	Size  int64
}

// Role is a special-use role of a folder (RFC 6154), such as `\Trash`.
type Role string

// Special-use roles mailtwin knows.
const (
	RoleTrash   Role = `\Trash`
	RoleSent    Role = `\Sent`
	RoleDrafts  Role = `\Drafts`
	RoleJunk    Role = `\Junk`
	RoleArchive Role = `\Archive`
	RoleAll     Role = `\All`
	// RoleFlagged is the folder of flagged messages (Gmail's Starred);
	// the pairing does not match folders by it.
	RoleFlagged Role = `\Flagged`
	// RoleImportant is Gmail's Important folder (RFC 8457); the pairing
	// does not match folders by it.
	RoleImportant Role = `\Important`
)

// specialUse are the special-use attributes mailtwin knows: RFC 6154's
// and RFC 8457's \Important.
var specialUse = []Role{RoleAll, RoleArchive, RoleDrafts, RoleFlagged, RoleJunk, RoleSent, RoleTrash, RoleImportant}

// SpecialUseAttributes returns the special-use attributes mailtwin
// knows, in the order RFC 6154 lists them, \Important last.
func SpecialUseAttributes() []Role { return append([]Role(nil), specialUse...) }

// ParseSpecialUse returns the canonical spelling of a special-use
// attribute (`\all` gives RoleAll), comparing case-insensitively as
// IMAP does; ok is false for an attribute mailtwin does not know.
func ParseSpecialUse(s string) (r Role, ok bool) {
	for _, x := range specialUse {
		if strings.EqualFold(s, string(x)) {
			return x, true
		}
	}
	return "", false
}

// Folder is one mailbox as a side lists it. Messages is sorted by UID.
type Folder struct {
	// Mailbox is the name on the server (decoded from modified UTF-7).
	Mailbox string
	// Role is the folder's special-use role: the first of \Trash, \Sent,
	// \Drafts, \Junk, \Archive and \All it has, "" for none. The
	// pairing matches the first five across sides by it.
	Role Role
	// SpecialUse holds every special-use attribute mailtwin knows that
	// the server listed for the mailbox (see SpecialUseAttributes), in
	// their canonical spelling, sorted; Policy.ExcludeSpecialUse is
	// matched against it.
	SpecialUse    []Role
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq uint64
	// NumMessages is the message count the listing reported (STATUS
	// MESSAGES), before any scan; -1 when the server did not say.
	NumMessages int
	Messages    []Message
	// Permanent is what the folder keeps of the flags mailtwin syncs, as
	// the scan's read-write SELECT said (see Permanent); nil where it
	// keeps them all, or where the scan did not say (an EXAMINE, a
	// folder not scanned).
	Permanent Permanent
}

// Listing is what one side holds now.
type Listing struct {
	// Delim is the hierarchy delimiter, or 0 for a flat namespace.
	Delim rune
	// Folders holds every selectable mailbox, sorted by Mailbox.
	Folders []Folder
}

// Record is one message the two sides agreed on. A zero UID means the
// message is not on that side by agreement (a one-sided record: kept
// after a deletion on the other side, the target's own message in a
// one-way folder, or mail that came in while that side lacked the
// folder, Away).
type Record struct {
	UIDA, UIDB UID
	Flags      Flags
	ID         Identity
	// Away marks a one-sided record whose message came into its folder
	// on its side (new there, or moved in by its user) while the other
	// side lacked that folder: that side's user never had it there, nor
	// deleted it. Moved by its user into a folder of the pair, it goes
	// to the other side, where a kept copy's message stays one-sided
	// (keptMoves).
	Away bool
}

// UnknownUID stands, on one side of a record, for a copy at a UID the
// state does not know. Next writes it where
//   - that side's user moved the message out of a folder whose
//     UIDVALIDITY changed there, and the Move that was to follow on the
//     other side failed (or was not run): the base's UID names nothing
//     in the new mailbox;
//   - a copy to that side was done, and the server did not report its
//     new UID (no UIDPLUS).
//
// No listed message has it (a server would have to hand out the last UID
// there is; the state file writes it as "?" and refuses the number), so
// the next run finds the copy gone from that UID, as it finds any base
// UID gone, and looks for the message by its identity: in the folder
// (re-paired, its flags compared with the record's), else in another
// folder (moved there), else nowhere (deleted). Kept on the other side
// only instead, or dropped, the record would leave the copies unlinked:
// a deletion on that side would not reach the other.
const UnknownUID UID = 1<<32 - 1

// UID returns the record's UID on side s.
func (r Record) UID(s Side) UID {
	if s == A {
		return r.UIDA
	}
	return r.UIDB
}

// On reports whether the record has a message on side s at a known UID:
// not 0, and not UnknownUID.
func (r Record) On(s Side) bool {
	u := r.UID(s)
	return u != 0 && u != UnknownUID
}

func (r *Record) setUID(s Side, u UID) {
	if s == A {
		r.UIDA = u
	} else {
		r.UIDB = u
	}
}

// SideState is what the state remembers of a folder on one side.
type SideState struct {
	// Mailbox is the folder's name on that side; "" when the folder does
	// not exist there by agreement.
	Mailbox     string
	UIDValidity uint32
	UIDNext     UID
	// HighestModSeq, when not 0, is a point the next run may scan from
	// (see Known): the folder's records hold every message of this side
	// whose UID is below UIDNext, with the flags it had at this
	// mod-sequence. Next sets it only where that is so; 0 means the next
	// run reads the folder whole.
	HighestModSeq uint64
	// Permanent, when not nil, is what the folder keeps of the flags
	// mailtwin syncs, where it was seen to refuse some: the records
	// hold the flags it refuses, and its copies do not (see Permanent).
	// Once refused, a flag stays so here (Permanent.Intersect).
	Permanent Permanent
}

// FolderState is the agreed state of one folder pair.
type FolderState struct {
	// Name is the logical name, "/"-separated, as policy rules see it.
	Name string
	A, B SideState
	// Direction is the direction the records were kept under: Both, or
	// AToB or BToA. Under a one-way direction the records hold the
	// source's flags, and the target's copies may hold others, where
	// its user changed them: the target's scan point is set without
	// comparing flags (setScanPoints), and holds only while the folder
	// stays that way (Run drops it when the policy changes).
	Direction Direction
	Records   []Record // sorted by UIDA, then UIDB
}

// flagsVary reports whether side s's copies may hold flags other than
// the records': s is the target of the folder's one-way direction.
func (f *FolderState) flagsVary(s Side) bool {
	return f.Direction == AToB && s == B || f.Direction == BToA && s == A
}

// Side returns the SideState of side s.
func (f *FolderState) Side(s Side) *SideState {
	if s == A {
		return &f.A
	}
	return &f.B
}

// State is the agreed state of a pair: one FolderState per folder pair,
// sorted by Name.
type State struct {
	Folders []FolderState
}

// Folder returns the folder with logical name name, or nil.
func (s *State) Folder(name string) *FolderState {
	for i := range s.Folders {
		if s.Folders[i].Name == name {
			return &s.Folders[i]
		}
	}
	return nil
}

// Messages counts the records that have a message on side s.
func (s *State) Messages(side Side) int {
	n := 0
	for _, f := range s.Folders {
		for _, r := range f.Records {
			if r.On(side) {
				n++
			}
		}
	}
	return n
}
