package reconcile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

func TestExcludedBy(t *testing.T) {
	all, imp, sent := reconcile.RoleAll, reconcile.RoleImportant, reconcile.RoleSent
	for _, tt := range []struct {
		use, exclude []reconcile.Role
		want         reconcile.Role
	}{
		{nil, nil, ""},
		{[]reconcile.Role{all}, nil, ""},
		{nil, []reconcile.Role{all}, ""},
		{[]reconcile.Role{all}, []reconcile.Role{all, imp}, all},
		{[]reconcile.Role{imp}, []reconcile.Role{all, imp}, imp},
		{[]reconcile.Role{sent}, []reconcile.Role{all, imp}, ""},
		// The first excluded attribute the folder carries.
		{[]reconcile.Role{all, imp}, []reconcile.Role{imp, all}, imp},
	} {
		f := reconcile.Folder{Mailbox: "X", SpecialUse: tt.use}
		if got := reconcile.ExcludedBy(&f, tt.exclude); got != tt.want {
			t.Errorf("ExcludedBy(%v, %v) = %q, want %q", tt.use, tt.exclude, got, tt.want)
		}
	}
}

func TestParseSpecialUse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want reconcile.Role
		ok   bool
	}{
		{`\All`, reconcile.RoleAll, true},
		{`\all`, reconcile.RoleAll, true},
		{`\IMPORTANT`, reconcile.RoleImportant, true},
		{`\Flagged`, reconcile.RoleFlagged, true},
		{`All`, "", false},
		{`\Inbox`, "", false},
		{``, "", false},
	} {
		got, ok := reconcile.ParseSpecialUse(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseSpecialUse(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// formatLineup renders a lineup one folder a line:
//
//	NAME a=MAILBOX b=MAILBOX match=M rule=N direction deletion [excluded SIDE ATTR]
//
// then "outside SIDE MAILBOX" lines.
func formatLineup(lu *reconcile.Lineup) string {
	var b strings.Builder
	for _, f := range lu.Folders {
		fmt.Fprintf(&b, "%s a=%s b=%s match=%s rule=%d %s %s", f.Name, dash(f.Mailbox[0]), dash(f.Mailbox[1]), dash(f.Match), f.Rule, f.Policy.Direction, f.Policy.Deletion)
		if x := f.Excluded; x != nil {
			fmt.Fprintf(&b, " excluded %s %s %s", x.Side, x.Mailbox, x.Attr)
		}
		b.WriteString("\n")
	}
	for s, mbs := range lu.Outside {
		for _, mb := range mbs {
			fmt.Fprintf(&b, "outside %s %s\n", reconcile.Side(s), mb)
		}
	}
	return b.String()
}

// TestLineUp is the table of how a pair's folders line up before any
// message is looked at: the pairing `mailtwin folders` shows and a run
// plans with, exclusion by special-use attribute included.
func TestLineUp(t *testing.T) {
	for _, tt := range []struct {
		name, a, b, policy, want string
		err                      string
	}{{
		name:   "same names, defaults",
		a:      "folder INBOX\nfolder Work",
		b:      "folder INBOX\nfolder Work",
		policy: "direction both\ndeletion trash",
		want: "INBOX a=INBOX b=INBOX match=name rule=-1 both trash\n" +
			"Work a=Work b=Work match=name rule=-1 both trash\n",
	}, {
		name:   "one side only: made on the other",
		a:      "folder INBOX\nfolder Work",
		b:      "folder INBOX\nfolder Old",
		policy: "direction both\ndeletion propagate",
		want: "INBOX a=INBOX b=INBOX match=name rule=-1 both propagate\n" +
			"Old a=- b=Old match=- rule=-1 both propagate\n" +
			"Work a=Work b=- match=- rule=-1 both propagate\n",
	}, {
		name:   "special-use role pairs different names",
		a:      "folder INBOX\nfolder Sent_Items role=\\Sent use=\\Sent",
		b:      "folder INBOX\nfolder Sent role=\\Sent use=\\Sent",
		policy: "direction both\ndeletion propagate",
		want: "INBOX a=INBOX b=INBOX match=name rule=-1 both propagate\n" +
			"Sent_Items a=Sent_Items b=Sent match=special-use rule=-1 both propagate\n",
	}, {
		name:   "map block",
		a:      "folder INBOX\nfolder Old_Sent",
		b:      "folder INBOX\nfolder Sent",
		policy: "direction both\ndeletion propagate\nmap Old_Sent Sent",
		want: "INBOX a=INBOX b=INBOX match=name rule=-1 both propagate\n" +
			"Old_Sent a=Old_Sent b=Sent match=map rule=-1 both propagate\n",
	}, {
		name:   "first matching rule wins",
		a:      "folder INBOX\nfolder Archive/2024\nfolder Spam",
		b:      "folder INBOX\nfolder Archive/2024",
		policy: "direction both\ndeletion trash\nrule Archive/** a-to-b keep\nrule Spam none propagate\nrule ** both propagate",
		want: "Archive/2024 a=Archive/2024 b=Archive/2024 match=name rule=0 a-to-b keep\n" +
			"INBOX a=INBOX b=INBOX match=name rule=2 both propagate\n" +
			"Spam a=Spam b=- match=- rule=1 none propagate\n",
	}, {
		name:   "gmail: all mail and important excluded on a",
		a:      "folder INBOX\nfolder [Gmail]/All_Mail use=\\All\nfolder [Gmail]/Important use=\\Important\nfolder [Gmail]/Sent_Mail role=\\Sent use=\\Sent",
		b:      "folder INBOX\nfolder Sent role=\\Sent use=\\Sent",
		policy: "direction both\ndeletion trash\nexclude a \\All,\\Important",
		want: "INBOX a=INBOX b=INBOX match=name rule=-1 both trash\n" +
			"[Gmail]/All_Mail a=[Gmail]/All_Mail b=- match=- rule=-1 none trash excluded a [Gmail]/All_Mail \\All\n" +
			"[Gmail]/Important a=[Gmail]/Important b=- match=- rule=-1 none trash excluded a [Gmail]/Important \\Important\n" +
			"[Gmail]/Sent_Mail a=[Gmail]/Sent_Mail b=Sent match=special-use rule=-1 both trash\n",
	}, {
		name:   "excluded on b: a's folder of that name is left out too",
		a:      "folder INBOX\nfolder Archive",
		b:      "folder INBOX\nfolder Archive use=\\All",
		policy: "direction both\ndeletion propagate\nexclude b \\All",
		want: "Archive a=Archive b=Archive match=name rule=-1 none propagate excluded b Archive \\All\n" +
			"INBOX a=INBOX b=INBOX match=name rule=-1 both propagate\n",
	}, {
		name:   "attribute listed but not excluded on that side",
		a:      "folder INBOX\nfolder All use=\\All",
		b:      "folder INBOX",
		policy: "direction both\ndeletion propagate\nexclude b \\All",
		want: "All a=All b=- match=- rule=-1 both propagate\n" +
			"INBOX a=INBOX b=INBOX match=name rule=-1 both propagate\n",
	}, {
		name:   "outside the prefix",
		a:      "folder INBOX\nfolder Backup/Work\nfolder Private",
		b:      "folder INBOX\nfolder Work",
		policy: "direction both\ndeletion propagate\nprefix a Backup",
		want: "INBOX a=- b=INBOX match=- rule=-1 both propagate\n" +
			"Work a=Backup/Work b=Work match=name rule=-1 both propagate\n" +
			"outside a INBOX\noutside a Private\n",
	}, {
		name:   "a name the other side cannot hold",
		a:      "folder INBOX\nfolder a.b",
		b:      "delim .\nfolder INBOX",
		policy: "direction both\ndeletion propagate",
		want: "INBOX a=INBOX b=INBOX match=name rule=-1 both propagate\n" +
			"a.b a=a.b b=- match=- rule=-1 both propagate\n",
		err: `folder "a.b" on a: it cannot be made on b, whose hierarchy delimiter '.' is part of its name; pair it by hand with a map block, or exclude it with a folder rule with direction none`,
	}, {
		name:   "excluded: its name need not be carried",
		a:      "folder INBOX\nfolder a.b use=\\All",
		b:      "delim .\nfolder INBOX",
		policy: "direction both\ndeletion propagate\nexclude a \\All",
		want: "INBOX a=INBOX b=INBOX match=name rule=-1 both propagate\n" +
			"a.b a=a.b b=- match=- rule=-1 none propagate excluded a a.b \\All\n",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			lu, err := reconcile.LineUp(parseListing(t, tt.a), parseListing(t, tt.b), parsePolicy(t, tt.policy))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.err {
				t.Errorf("LineUp error = %q, want %q", gotErr, tt.err)
			}
			if lu == nil {
				t.Fatalf("LineUp returned no lineup")
			}
			if got := formatLineup(lu); got != tt.want {
				t.Errorf("LineUp =\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
