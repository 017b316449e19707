package imapstore_test

import (
	"context"
	"slices"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestListSpecialUseAttributes: List reports every special-use
// attribute Dovecot lists, \All and \Important (Gmail's) among them, in
// Folder.SpecialUse, beside the Role the pairing uses.
func TestListSpecialUseAttributes(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{
		SpecialUse:      map[string]string{`\Sent`: "Sent Items"},
		ExtraSpecialUse: map[string]string{"All Mail": `\All`, "Important": `\Important`, "Starred": `\Flagged`},
	}, "alice")
	for _, mb := range []string{"All Mail", "Important", "Starred", "Work"} {
		srv.Create(t, "alice", mb)
	}
	l, err := open(t, srv, "alice").List(context.Background())
	if err != nil {
		t.Fatalf("List() = %v", err)
	}
	want := map[string]struct {
		role reconcile.Role
		use  []reconcile.Role
	}{
		"All Mail":   {reconcile.RoleAll, []reconcile.Role{reconcile.RoleAll}},
		"Important":  {"", []reconcile.Role{reconcile.RoleImportant}},
		"Starred":    {"", []reconcile.Role{reconcile.RoleFlagged}},
		"Sent Items": {reconcile.RoleSent, []reconcile.Role{reconcile.RoleSent}},
		"Trash":      {reconcile.RoleTrash, []reconcile.Role{reconcile.RoleTrash}},
		"Work":       {"", nil},
		"INBOX":      {"", nil},
	}
	seen := 0
	for _, f := range l.Folders {
		w, ok := want[f.Mailbox]
		if !ok {
			continue
		}
		seen++
		if f.Role != w.role || !slices.Equal(f.SpecialUse, w.use) {
			t.Errorf("List(): %q has role %q, special-use %q; want %q, %q", f.Mailbox, f.Role, f.SpecialUse, w.role, w.use)
		}
	}
	if seen != len(want) {
		t.Errorf("List() = %+v; want the folders %v", l.Folders, want)
	}
}
