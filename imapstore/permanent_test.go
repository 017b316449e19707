package imapstore_test

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/imapstore"
	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestScanReadsPermanentFlags: a scan tells what a folder keeps of the
// flags mailtwin syncs (PERMANENTFLAGS), which a server reports only to
// a read-write SELECT: bob's Shared, without the ACL right w, keeps
// \Seen alone; his INBOX keeps every flag (nil), as does every folder on
// go-imap's memory server. A read-only Store examines, and tells
// nothing. ScanSince, whole and incremental, tells it too.
func TestScanReadsPermanentFlags(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{ACL: "Shared user=bob lrsteikx"}, "bob")
	srv.Create(t, "bob", "Shared")
	srv.Append(t, "bob", "Shared", imaptest.NewMessage("a@example.org", "b@example.org", "s1", "s1@example.org", "body\r\n"), imap.FlagFlagged)
	ctx := context.Background()
	seenOnly := reconcile.NewPermanent(`\Seen`)
	for _, tt := range []struct {
		name     string
		readOnly bool
		mailbox  string
		want     reconcile.Permanent
	}{
		{"Shared", false, "Shared", seenOnly},
		{"INBOX", false, "INBOX", reconcile.Permanent{}},
		{"Shared, read-only store", true, "Shared", reconcile.Permanent{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t, srv, "bob", func(o *imapstore.Options) { o.ReadOnly = tt.readOnly })
			f := &reconcile.Folder{Mailbox: tt.mailbox}
			if err := st.Scan(ctx, f); err != nil {
				t.Fatal(err)
			}
			if !f.Permanent.Equal(tt.want) {
				t.Errorf("Scan: Permanent = %v, want %v", f.Permanent, tt.want)
			}
			if tt.mailbox != "Shared" {
				return
			}
			if len(f.Messages) != 1 || len(f.Messages[0].Flags) != 0 {
				t.Fatalf("Scan: messages %+v, want s1 without the \\Flagged the server dropped", f.Messages)
			}
			// Incremental: something changed since the point (a flag).
			l, err := st.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			k := reconcile.Known{UIDValidity: f.UIDValidity, UIDNext: f.UIDNext, HighestModSeq: f.HighestModSeq, Messages: f.Messages}
			srv.AddFlags(t, "bob", "Shared", uint32(f.Messages[0].UID), imap.FlagSeen)
			if l, err = st.List(ctx); err != nil {
				t.Fatal(err)
			}
			for _, g := range l.Folders {
				if g.Mailbox != "Shared" {
					continue
				}
				if err := st.ScanSince(ctx, &g, k); err != nil {
					t.Fatal(err)
				}
				if !g.Permanent.Equal(tt.want) || len(g.Messages) != 1 || !g.Messages[0].Flags.Equal(reconcile.NewFlags(`\Seen`)) {
					t.Errorf("ScanSince: Permanent %v, messages %+v; want %v and s1 \\Seen", g.Permanent, g.Messages, tt.want)
				}
				srv.RemoveFlags(t, "bob", "Shared", uint32(f.Messages[0].UID), imap.FlagSeen)
				return
			}
			t.Fatal("List has no Shared")
		})
	}
	t.Run("memory server", func(t *testing.T) {
		mem := imaptest.StartMem(t, "bob")
		mem.Create(t, "bob", "Box")
		st := open(t, mem, "bob")
		f := &reconcile.Folder{Mailbox: "Box"}
		if err := st.Scan(ctx, f); err != nil {
			t.Fatal(err)
		}
		if !f.Permanent.All() {
			t.Errorf("Scan: Permanent = %v, want every flag (PERMANENTFLAGS with \\*)", f.Permanent)
		}
	})
}
