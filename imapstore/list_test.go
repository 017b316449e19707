package imapstore_test

import (
	"context"
	"slices"
	"strings"
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

// TestListFolderDeletedUnderneath: where the server lists a folder it
// will not open, with folders under it (Dovecot, after another client
// deleted the folder and left those: CREATE X, CREATE X/kid, DELETE X),
// List fails and says what to do, rather than leave the folder out:
// read as gone, it would be taken for deleted on that side.
func TestListFolderDeletedUnderneath(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecot(t, "alice")
	srv.Create(t, "alice", "Box")
	srv.Create(t, "alice", "Box/Sub")
	srv.Delete(t, "alice", "Box")
	st := open(t, srv, "alice")
	_, err := st.List(context.Background())
	if err == nil || !strings.Contains(err.Error(), `create "Box" again`) {
		t.Fatalf("List() = %v, want a failure that says to create Box again or remove what is under it", err)
	}
	// imaptest's Create would find Box listed and leave it.
	if err := srv.Dial(t, "alice").Create("Box", nil).Wait(); err != nil {
		t.Fatalf("create Box again: %v", err)
	}
	l, err := st.List(context.Background())
	if err != nil {
		t.Fatalf("List() once Box is made again = %v", err)
	}
	if got := names(l); !slices.Contains(got, "Box") || !slices.Contains(got, "Box/Sub") {
		t.Errorf("List() = %q, want Box and Box/Sub", got)
	}
}
