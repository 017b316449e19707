package imapstore

import (
	"slices"
	"testing"
)

func TestAppendUID(t *testing.T) {
	for _, tc := range []struct {
		code     string
		n        int
		validity uint32
		uids     []uint32
	}{
		{"APPENDUID 38505 3955", 1, 38505, []uint32{3955}},
		{"APPENDUID 38505 3955:3957", 3, 38505, []uint32{3955, 3956, 3957}},
		{"APPENDUID 7 1,3:4,9", 4, 7, []uint32{1, 3, 4, 9}},
		{"APPENDUID 7 5:3", 3, 7, []uint32{5, 4, 3}},
		{"appenduid 7 2", 1, 7, []uint32{2}},
		{"APPENDUID 7 1:3", 2, 0, nil},          // more UIDs than messages
		{"APPENDUID 7 1:3", 4, 0, nil},          // fewer
		{"APPENDUID 7 1:4294967295", 3, 0, nil}, // a huge range is not expanded
		{"APPENDUID 7 0", 1, 0, nil},
		{"APPENDUID 7 *", 1, 0, nil},
		{"APPENDUID x 1", 1, 0, nil},
		{"TRYCREATE", 1, 0, nil},
		{"", 1, 0, nil},
	} {
		v, uids := appendUID(tc.code, tc.n)
		if v != tc.validity || !slices.Equal(uids, tc.uids) {
			t.Errorf("appendUID(%q, %d) = %d, %v; want %d, %v", tc.code, tc.n, v, uids, tc.validity, tc.uids)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct{ resp, status, code, text string }{
		{"OK [APPENDUID 1 2:3] Append completed.", "OK", "APPENDUID 1 2:3", "Append completed."},
		{"NO [OVERQUOTA] Quota exceeded (mailbox for user is full)", "NO", "OVERQUOTA", "Quota exceeded (mailbox for user is full)"},
		{"BAD Error in IMAP command", "BAD", "", "Error in IMAP command"},
		{"ok done", "OK", "", "done"},
		{"WHAT", "BAD", "", ""},
	} {
		st, code, text := parseStatus(tc.resp)
		if string(st) != tc.status || code != tc.code || text != tc.text {
			t.Errorf("parseStatus(%q) = %q, %q, %q; want %q, %q, %q", tc.resp, st, code, text, tc.status, tc.code, tc.text)
		}
	}
}

func TestMailboxAndFlagChecks(t *testing.T) {
	for name, want := range map[string]bool{
		"INBOX": true, "Work/Sub": true, `a "quoted" \ name`: true,
		"": false, "Café": false, "A&B": false, "tab\there": false,
	} {
		if got := plainMailbox(name); got != want {
			t.Errorf("plainMailbox(%q) = %v, want %v", name, got, want)
		}
	}
	for f, want := range map[string]bool{
		`\Seen`: true, "$Label1": true, "Junk": true, "a.b-c_d+e": true,
		"": false, `\`: false, `\*`: false, "two words": false, "a(b": false,
		`a"b`: false, "a]b": false, "ü": false, "a%": false, "{5}": false,
	} {
		if got := isFlagAtom(f); got != want {
			t.Errorf("isFlagAtom(%q) = %v, want %v", f, got, want)
		}
	}
	if got, want := quote(`a "b" \c`), `"a \"b\" \\c"`; got != want {
		t.Errorf("quote = %s, want %s", got, want)
	}
	for name, want := range map[string]string{"INBOX": "INBOX", "inbox": "INBOX", "Work": `"Work"`} {
		if got := mailboxArg(name); got != want {
			t.Errorf("mailboxArg(%q) = %s, want %s", name, got, want)
		}
	}
	if got, want := astring("pä"), "{3+}\r\npä"; got != want {
		t.Errorf("astring = %q, want %q", got, want)
	}
}
