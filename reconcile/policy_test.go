package reconcile_test

import (
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

func TestMatchGlob(t *testing.T) {
	for _, tt := range []struct {
		pattern, name string
		want          bool
	}{
		// Literal names.
		{"Work", "Work", true},
		{"Work", "work", false}, // names other than INBOX are case-sensitive
		{"Work", "Work/2024", false},
		{"Work", "Old/Work", false},
		{"Archive/2024", "Archive/2024", true},
		{"Archive/2024", "Archive/2025", false},

		// INBOX is case-insensitive, as IMAP requires, at the top level.
		{"INBOX", "INBOX", true},
		{"inbox", "INBOX", true},
		{"Inbox", "inbox", true},
		{"INBOX/Lists", "inbox/Lists", true},
		{"inbox/*", "INBOX/Lists", true},
		{"INBOX/lists", "INBOX/Lists", false}, // below INBOX, names are names
		{"Archive/INBOX", "Archive/inbox", false},
		{"INBOXES", "inboxes", false},

		// "*" matches within one level.
		{"*", "INBOX", true},
		{"*", "Work", true},
		{"*", "Archive/2024", false},
		{"Archive/*", "Archive/2024", true},
		{"Archive/*", "Archive", false},
		{"Archive/*", "Archive/2024/Q1", false},
		{"Archive/20*", "Archive/2024", true},
		{"Archive/20*", "Archive/1999", false},
		{"*s*", "Lists", true},
		{"*s*", "Trash", true},
		{"*s*", "Work", false},
		{"*/Sent", "Old/Sent", true},
		{"*/Sent", "Sent", false},
		{"?ork", "Work", true},
		{"[WX]ork", "Work", true},
		{"[^W]ork", "Work", false}, // path.Match syntax: "^" negates

		// "**" matches any number of levels, none included when it stands
		// alone as a level.
		{"**", "INBOX", true},
		{"**", "Archive/2024/Q1", true},
		{"Archive/**", "Archive", true},
		{"Archive/**", "Archive/2024", true},
		{"Archive/**", "Archive/2024/Q1", true},
		{"Archive/**", "Archives", false},
		{"Archive/**", "Old/Archive/2024", false},
		{"**/Sent", "Sent", true},
		{"**/Sent", "Old/Sent", true},
		{"**/Sent", "Old/Mail/Sent", true},
		{"**/Sent", "Sent/Old", false},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y", false},
		{"**/2024/**", "Archive/2024/Q1", true},
		{"**/2024/**", "2024", true},
		{"**/2024/**", "Archive/2025/Q1", false},

		// A malformed pattern matches nothing (ValidGlob reports it).
		{"[", "[", false},
		{"Archive/[", "Archive/[", false},
	} {
		if got := reconcile.MatchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestValidGlob(t *testing.T) {
	for _, p := range []string{"*", "**", "Archive/**", "**/Sent", "[A-Z]*", "a/**/b", "INBOX"} {
		if err := reconcile.ValidGlob(p); err != nil {
			t.Errorf("ValidGlob(%q) = %v, want nil", p, err)
		}
	}
	for _, tt := range []struct{ pattern, want string }{
		{"[", `invalid folder pattern "[": syntax error in pattern`},
		{"Archive/[0-9", `invalid folder pattern "Archive/[0-9": syntax error in pattern`},
		{`Work\`, `invalid folder pattern "Work\\": syntax error in pattern`},
	} {
		err := reconcile.ValidGlob(tt.pattern)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ValidGlob(%q) = %v, want %s", tt.pattern, err, tt.want)
		}
	}
}

func TestPolicyForFirstRuleWins(t *testing.T) {
	archive := reconcile.FolderPolicy{Direction: reconcile.AToB, Deletion: reconcile.Keep}
	spam := reconcile.FolderPolicy{Direction: reconcile.None}
	all := reconcile.FolderPolicy{Direction: reconcile.Both, Deletion: reconcile.Trash}
	def := reconcile.FolderPolicy{Direction: reconcile.BToA, Deletion: reconcile.Propagate}
	p := reconcile.Policy{
		Rules: []reconcile.Rule{
			{Pattern: "Archive/**", FolderPolicy: archive},
			{Pattern: "Spam", FolderPolicy: spam},
			{Pattern: "Archive/2024", FolderPolicy: spam}, // shadowed by the first rule
			{Pattern: "*", FolderPolicy: all},
		},
		Default: def,
	}
	for _, tt := range []struct {
		name string
		want reconcile.FolderPolicy
	}{
		{"Archive", archive},
		{"Archive/2024", archive},
		{"Spam", spam},
		{"INBOX", all},
		{"Work", all},
		{"Work/Old", def}, // "*" is one level
	} {
		if got := p.For(tt.name); got != tt.want {
			t.Errorf("For(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if got := (reconcile.Policy{Default: def}).For("INBOX"); got != def {
		t.Errorf("For with no rules = %+v, want the default %+v", got, def)
	}
}

func TestLimitAllows(t *testing.T) {
	for _, tt := range []struct {
		limit    string
		n, total int
		want     bool
	}{
		{"50%", 5, 10, true},
		{"50%", 6, 10, false},
		{"50%", 0, 0, true},
		{"50%", 1, 0, false}, // a percentage of nothing allows nothing
		{"50%", 1, 1, false},
		{"50%", 1, 2, true},
		{"5%", 5, 100, true},
		{"5%", 6, 100, false},
		{"12.5%", 1, 8, true},
		{"12.5%", 2, 8, false},
		{"0%", 0, 1000, true},
		{"0%", 1, 1000, false},
		{"100%", 1000, 1000, true},
		{"0", 0, 10, true},
		{"0", 1, 10, false},
		{"3", 3, 0, true}, // a count does not depend on the total
		{"3", 4, 1000000, false},
		{" 7 ", 7, 7, true},
		{" 7% ", 7, 100, true},
	} {
		l, err := reconcile.ParseLimit(tt.limit)
		if err != nil {
			t.Errorf("ParseLimit(%q): %v", tt.limit, err)
			continue
		}
		if got := l.Allows(tt.n, tt.total); got != tt.want {
			t.Errorf("ParseLimit(%q).Allows(%d, %d) = %v, want %v", tt.limit, tt.n, tt.total, got, tt.want)
		}
	}
	if got := reconcile.DefaultMaxDeletes.String(); got != "50%" {
		t.Errorf("DefaultMaxDeletes = %s, want 50%%, as rclone bisync's", got)
	}
}

func TestLimitString(t *testing.T) {
	for _, tt := range []struct{ in, out string }{
		{"50%", "50%"},
		{"12.5%", "12.5%"},
		{"0%", "0%"},
		{"100%", "100%"},
		{"0", "0"},
		{"250", "250"},
		{" 5% ", "5%"},
	} {
		l, err := reconcile.ParseLimit(tt.in)
		if err != nil {
			t.Errorf("ParseLimit(%q): %v", tt.in, err)
			continue
		}
		if got := l.String(); got != tt.out {
			t.Errorf("ParseLimit(%q).String() = %q, want %q", tt.in, got, tt.out)
		}
		again, err := reconcile.ParseLimit(l.String())
		if err != nil || again != l {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v back", l.String(), again, err, l)
		}
	}
}

func TestParseLimitErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", `invalid limit "": want a count such as "100" or a percentage such as "5%"`},
		{"-1", `invalid limit "-1": want a count such as "100" or a percentage such as "5%"`},
		{"1.5", `invalid limit "1.5": want a count such as "100" or a percentage such as "5%"`},
		{"ten", `invalid limit "ten": want a count such as "100" or a percentage such as "5%"`},
		{"5 %", `invalid limit "5 %": a percentage must be between 0% and 100%`},
		{"%", `invalid limit "%": a percentage must be between 0% and 100%`},
		{"101%", `invalid limit "101%": a percentage must be between 0% and 100%`},
		{"-5%", `invalid limit "-5%": a percentage must be between 0% and 100%`},
		{"5%%", `invalid limit "5%%": a percentage must be between 0% and 100%`},
	} {
		l, err := reconcile.ParseLimit(tt.in)
		if err == nil {
			t.Errorf("ParseLimit(%q) = %+v, nil; want error %s", tt.in, l, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseLimit(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestParseDirection(t *testing.T) {
	for _, d := range []reconcile.Direction{reconcile.Both, reconcile.AToB, reconcile.BToA, reconcile.None} {
		got, err := reconcile.ParseDirection(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDirection(%q) = %v, %v; want %v", d.String(), got, err, d)
		}
	}
	for _, in := range []string{"", "Both", "a_to_b", "atob", "b->a", " both", "sync"} {
		_, err := reconcile.ParseDirection(in)
		want := `unknown direction "` + in + `": want one of both, a-to-b, b-to-a, none`
		if err == nil || err.Error() != want {
			t.Errorf("ParseDirection(%q) error = %v, want %s", in, err, want)
		}
	}
}

func TestParseDeletion(t *testing.T) {
	for _, d := range []reconcile.Deletion{reconcile.Propagate, reconcile.Trash, reconcile.Keep} {
		got, err := reconcile.ParseDeletion(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDeletion(%q) = %v, %v; want %v", d.String(), got, err, d)
		}
	}
	for _, in := range []string{"", "Trash", "delete", "expunge", "keep "} {
		_, err := reconcile.ParseDeletion(in)
		want := `unknown deletion policy "` + in + `": want one of propagate, trash, keep`
		if err == nil || err.Error() != want {
			t.Errorf("ParseDeletion(%q) error = %v, want %s", in, err, want)
		}
	}
}

func TestDirectionFlows(t *testing.T) {
	for _, tt := range []struct {
		d    reconcile.Direction
		a, b bool // whether A's, B's changes flow
	}{
		{reconcile.Both, true, true},
		{reconcile.AToB, true, false},
		{reconcile.BToA, false, true},
		{reconcile.None, false, false},
	} {
		if got := tt.d.Flows(reconcile.A); got != tt.a {
			t.Errorf("%s.Flows(a) = %v, want %v", tt.d, got, tt.a)
		}
		if got := tt.d.Flows(reconcile.B); got != tt.b {
			t.Errorf("%s.Flows(b) = %v, want %v", tt.d, got, tt.b)
		}
	}
}
