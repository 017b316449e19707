package reconcile

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Side names one of the two accounts of a pair.
type Side int

const (
	A Side = iota
	B
)

// String returns "a" or "b", as written in plans and state files.
func (s Side) String() string {
	if s == A {
		return "a"
	}
	return "b"
}

// Other returns the opposite side.
func (s Side) Other() Side { return 1 - s }

// Direction says which side's changes flow in a folder.
type Direction int

const (
	// Both: changes on either side flow to the other.
	Both Direction = iota
	// AToB: only A's changes flow. What B does on its own stays on B and
	// is remembered, neither copied to A nor reverted.
	AToB
	// BToA is the mirror of AToB.
	BToA
	// None: the folder is ignored.
	None
)

var directionNames = []string{"both", "a-to-b", "b-to-a", "none"}

// String returns the configuration spelling of d.
func (d Direction) String() string { return directionNames[d] }

// ParseDirection reads the configuration spelling of a direction.
func ParseDirection(s string) (Direction, error) {
	for i, n := range directionNames {
		if s == n {
			return Direction(i), nil
		}
	}
	return 0, fmt.Errorf("unknown direction %q: want one of %s", s, strings.Join(directionNames, ", "))
}

// Flows reports whether changes made on side from are carried to the other
// side under d.
func (d Direction) Flows(from Side) bool {
	switch d {
	case Both:
		return true
	case AToB:
		return from == A
	case BToA:
		return from == B
	}
	return false
}

// Deletion is what happens to the counterpart of a message deleted on the
// other side.
type Deletion int

const (
	// Propagate expunges the counterpart.
	Propagate Deletion = iota
	// Trash moves the counterpart to its account's trash folder.
	Trash
	// Keep leaves the counterpart; its record becomes one-sided and it is
	// not copied back.
	Keep
)

var deletionNames = []string{"propagate", "trash", "keep"}

// String returns the configuration spelling of d.
func (d Deletion) String() string { return deletionNames[d] }

// ParseDeletion reads the configuration spelling of a deletion policy.
func ParseDeletion(s string) (Deletion, error) {
	for i, n := range deletionNames {
		if s == n {
			return Deletion(i), nil
		}
	}
	return 0, fmt.Errorf("unknown deletion policy %q: want one of %s", s, strings.Join(deletionNames, ", "))
}

// Limit is a maximum number of deletions: an absolute count, or a
// percentage of the messages a side holds.
type Limit struct {
	Count   int     // used when Percent is false
	Percent bool    // Value is a percentage
	Value   float64 // the percentage, 0..100
}

// DefaultMaxDeletes is rclone bisync's default: half of a side's messages.
var DefaultMaxDeletes = Limit{Percent: true, Value: 50}

// ParseLimit reads "50", "50%" or "12.5%".
func ParseLimit(s string) (Limit, error) {
	t := strings.TrimSpace(s)
	if strings.HasSuffix(t, "%") {
		num := strings.TrimSuffix(t, "%")
		v, err := strconv.ParseFloat(num, 64)
		// !(in range) also refuses NaN; digits only refuses "Inf" and hex.
		if err != nil || !(v >= 0 && v <= 100) || strings.Trim(num, "0123456789.") != "" {
			return Limit{}, fmt.Errorf("invalid limit %q: a percentage must be between 0%% and 100%%", s)
		}
		return Limit{Percent: true, Value: v}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 {
		return Limit{}, fmt.Errorf("invalid limit %q: want a count such as \"100\" or a percentage such as \"5%%\"", s)
	}
	return Limit{Count: n}, nil
}

// Allows reports whether n deletions out of total messages stay within l.
func (l Limit) Allows(n, total int) bool {
	if !l.Percent {
		return n <= l.Count
	}
	return float64(n) <= l.Value/100*float64(total)
}

// String returns the configuration spelling of l.
func (l Limit) String() string {
	if l.Percent {
		return strconv.FormatFloat(l.Value, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(l.Count)
}

// FolderPolicy is what applies to one folder pair.
type FolderPolicy struct {
	Direction Direction
	Deletion  Deletion
}

// Rule gives a FolderPolicy to the folders whose logical name matches
// Pattern: "*" matches within one level, "**" any number of levels.
type Rule struct {
	Pattern string
	FolderPolicy
}

// Policy is everything the planner needs to know about a pair's
// configuration.
type Policy struct {
	// Rules are tried in order; the first match wins. A folder no rule
	// matches gets Default.
	Rules   []Rule
	Default FolderPolicy
	// MaxDeletes bounds the deletions planned on either side, counted
	// against the messages that side holds. Over it, Build returns
	// ErrTooManyDeletes unless Force is set.
	MaxDeletes Limit
	// Force disables the safety guards.
	Force bool
	// Prefer is the side that wins a true conflict.
	Prefer Side
	// Naming says how the folder names of the two sides correspond.
	Naming Naming
	// ExcludeSpecialUse holds, per side, special-use attributes (in
	// their canonical spelling, see ParseSpecialUse) whose folders are
	// left out of the pair: a folder that side lists with one of them,
	// and the other side's folder of the same logical name, are planned
	// as under direction none (not scanned, not synced, not made on the
	// other side, never deleted for being missing, their state kept as
	// it is). Gmail's \All and \Important folders hold copies of
	// messages that live in other folders too.
	ExcludeSpecialUse [2][]Role

	// excluded is set on the Policy a plan works with (withExclusions):
	// the logical names of the folders ExcludeSpecialUse leaves out.
	excluded map[string]Exclusion
}

// Naming says how a folder of one side finds its counterpart on the
// other. The zero value joins folders by name, modulo the hierarchy
// delimiter, and matches special-use folders by role.
type Naming struct {
	// Prefix is, per side, the folder under which the pair's folders live
	// on that side, written "/"-separated ("Backup/Work"); "" is the top
	// level. Folders outside the prefix are not part of the pair.
	Prefix [2]string
	// Maps pair a folder of A with a folder of B by name, overriding
	// prefixes and roles.
	Maps []NameMap
	// IgnoreRoles turns off matching special-use folders by role (A's
	// \Sent "Sent" with B's \Sent "Sent Items").
	IgnoreRoles bool
}

// NameMap pairs two mailboxes, spelled as their servers list them.
type NameMap struct{ A, B string }

// For returns the policy of the folder with logical name name.
func (p Policy) For(name string) FolderPolicy {
	if _, ok := p.excluded[name]; ok {
		return FolderPolicy{Direction: None, Deletion: p.Default.Deletion}
	}
	_, fp := p.Rule(name)
	return fp
}

// Rule returns the index in Rules of the first rule that matches the
// logical folder name, or -1 when none does, and that rule's policy or
// Default. Unlike For, it knows nothing of ExcludeSpecialUse.
func (p Policy) Rule(name string) (int, FolderPolicy) {
	for i, r := range p.Rules {
		if MatchGlob(r.Pattern, name) {
			return i, r.FolderPolicy
		}
	}
	return -1, p.Default
}

// usesTrash reports whether any folder of the pair deletes to the trash.
func (p Policy) usesTrash() bool {
	if p.Default.Deletion == Trash {
		return true
	}
	for _, r := range p.Rules {
		if r.Deletion == Trash {
			return true
		}
	}
	return false
}

// MatchGlob reports whether a logical folder name ("/"-separated) matches
// pattern. "*" matches any run of characters within one level, "**" any
// run of levels (including none when it stands alone as a level), other
// characters match themselves. "INBOX" matches case-insensitively, as
// IMAP requires.
func MatchGlob(pattern, name string) bool {
	return matchLevels(strings.Split(pattern, "/"), strings.Split(name, "/"), true)
}

func matchLevels(pat, name []string, first bool) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				// name[0] stays the first level when ** matches nothing.
				if matchLevels(rest, name[i:], first && i == 0) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		p, n := pat[0], name[0]
		if first && strings.EqualFold(n, "INBOX") && strings.EqualFold(p, "INBOX") {
			p, n = "INBOX", "INBOX"
		}
		if ok, err := path.Match(p, n); err != nil || !ok {
			return false
		}
		pat, name, first = pat[1:], name[1:], false
	}
	return len(name) == 0
}

// ValidGlob reports a malformed pattern ("[" without "]").
func ValidGlob(pattern string) error {
	for _, level := range strings.Split(pattern, "/") {
		if level == "**" {
			continue
		}
		if _, err := path.Match(level, ""); err != nil {
			return fmt.Errorf("invalid folder pattern %q: %v", pattern, err)
		}
	}
	return nil
}
