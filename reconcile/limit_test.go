package reconcile_test

import (
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

func TestParseLimit(t *testing.T) {
	for _, tt := range []struct {
		in    string
		ok    bool
		allow [2]int // n, total that must be allowed
		deny  [2]int // n, total that must be refused
	}{
		{"50%", true, [2]int{5, 10}, [2]int{6, 10}},
		{"12.5%", true, [2]int{1, 8}, [2]int{2, 8}},
		{"3", true, [2]int{3, 1000}, [2]int{4, 1000}},
		{"0", true, [2]int{0, 10}, [2]int{1, 10}},
		{"100%", true, [2]int{10, 10}, [2]int{11, 10}},
		{"NaN%", false, [2]int{}, [2]int{}},
		{"Inf%", false, [2]int{}, [2]int{}},
		{"0x1p-2%", false, [2]int{}, [2]int{}},
		{"120%", false, [2]int{}, [2]int{}},
		{"-1", false, [2]int{}, [2]int{}},
		{"lots", false, [2]int{}, [2]int{}},
	} {
		l, err := reconcile.ParseLimit(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseLimit(%q) = %v, %v; want ok=%v", tt.in, l, err, tt.ok)
			continue
		}
		if !tt.ok {
			continue
		}
		if !l.Allows(tt.allow[0], tt.allow[1]) || l.Allows(tt.deny[0], tt.deny[1]) {
			t.Errorf("ParseLimit(%q) = %v: Allows(%v) must hold and Allows(%v) must not", tt.in, l, tt.allow, tt.deny)
		}
	}
}

func TestMatchGlobInboxAnyCase(t *testing.T) {
	for _, tt := range []struct {
		pat, name string
		want      bool
	}{
		{"**/inbox", "INBOX", true},
		{"**/INBOX/*", "INBOX/Sub", true},
		{"inbox/**", "INBOX/a/b", true},
		{"**/inbox", "Archive/inbox", true},
		{"**/inbox", "Archive/Inbox", false}, // only the top-level INBOX ignores case
	} {
		if got := reconcile.MatchGlob(tt.pat, tt.name); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pat, tt.name, got, tt.want)
		}
	}
}

func TestParseFolderRefusesNonCanonical(t *testing.T) {
	head := "# mailtwin state v1\nfolder \"INBOX\"\nmailbox a \"INBOX\"\nmailbox b \"INBOX\"\nuidvalidity a 1\nuidvalidity b 1\nuidnext a 2\nuidnext b 2\nmodseq a 0\nmodseq b 0\n"
	for name, body := range map[string]string{
		"leading zero":     head + "01 1 - m:1\n",
		"empty flags":      head + "1 1  m:1\n",
		"backquoted":       strings.Replace(head, `folder "INBOX"`, "folder `INBOX`", 1),
		"no final line":    strings.TrimSuffix(head, "\n"),
		"escaped needless": strings.Replace(head, `mailbox a "INBOX"`, `mailbox a "\x49NBOX"`, 1),
	} {
		if _, err := reconcile.ParseFolder("f.state", []byte(body)); err == nil || !strings.Contains(err.Error(), "f.state:") {
			t.Errorf("%s: ParseFolder = %v, want an error with f.state:LINE", name, err)
		}
	}
	if _, err := reconcile.ParseFolder("f.state", []byte(head+"1 1 - m:1\n")); err != nil {
		t.Errorf("canonical file refused: %v", err)
	}
}
