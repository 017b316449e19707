package imapstore_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestCreateFoldersOneRoundTrip: every CREATE of a batch goes out before
// the first is answered (the recorder holds the first answer until the
// last CREATE has arrived, which it would never do if each were awaited),
// in the order given, so a parent is made before the folder under it.
// Each result is what CreateFolder gives: the folder's UIDVALIDITY, and no
// error for a folder that exists already.
func TestCreateFoldersOneRoundTrip(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		d := string(srv.Delim)
		srv.Create(t, "alice", "Archive")
		names := []string{"Projects", "Projects" + d + "2024", "Archive", "Travel"}
		rec := imaptest.Record(t, srv)
		last := imaptest.NewGate()
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			switch {
			case e.Stage == imaptest.Received && e.Verb == "CREATE" && strings.Contains(e.Line, "Travel"):
				last.Open()
			case e.Stage == imaptest.Answered && e.Verb == "CREATE":
				last.Wait(10 * time.Second)
			}
			return imaptest.Action{}
		})
		st := open(t, rec.Server(), "alice")
		res := st.CreateFolders(context.Background(), names)
		if last.Held() {
			t.Errorf("the last CREATE was sent only after an earlier one was answered:\n%s", strings.Join(rec.Commands(), "\n"))
		}
		var creates []string
		for _, c := range rec.Commands() {
			if strings.HasPrefix(c, "CREATE ") {
				creates = append(creates, c)
			}
		}
		if len(creates) != len(names) {
			t.Fatalf("CREATEs sent: %q, want one per folder of %q", creates, names)
		}
		for i, c := range creates {
			if !strings.Contains(c, `"`+names[i]+`"`) && !strings.HasSuffix(c, " "+names[i]) {
				t.Errorf("CREATE %d is %q, want %q: the order given", i, c, names[i])
			}
		}
		l, err := st.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]uint32{}
		for _, f := range l.Folders {
			listed[f.Mailbox] = f.UIDValidity
		}
		for i, r := range res {
			if r.Err != nil {
				t.Errorf("CreateFolders: %q: %v", names[i], r.Err)
				continue
			}
			if uv, ok := listed[names[i]]; !ok || r.UIDValidity == 0 || r.UIDValidity != uv {
				t.Errorf("CreateFolders: %q has UIDVALIDITY %d; the listing has %d (listed: %v)", names[i], r.UIDValidity, uv, ok)
			}
		}
	})
}

// TestCreateFoldersOutcomes: a refused CREATE fails its folder alone,
// naming the account and the folder; the folders after it are made.
// With the connection cut, every folder of the batch has failed.
func TestCreateFoldersOutcomes(t *testing.T) {
	t.Parallel()
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		srv := start(t)
		rec := imaptest.Record(t, srv)
		var cutAt atomic.Value // a folder whose CREATE cuts the connection
		cutAt.Store("")
		rec.Intercept(func(e imaptest.Event) imaptest.Action {
			if e.Stage != imaptest.Received || e.Verb != "CREATE" {
				return imaptest.Action{}
			}
			if strings.Contains(e.Line, "Refused") {
				return imaptest.Action{Do: imaptest.Refuse, Text: "not today"}
			}
			if c := cutAt.Load().(string); c != "" && strings.Contains(e.Line, c) {
				return imaptest.Action{Do: imaptest.Cut}
			}
			return imaptest.Action{}
		})
		st := open(t, rec.Server(), "alice")
		res := st.CreateFolders(context.Background(), []string{"Before", "Refused", "After"})
		if res[0].Err != nil || res[2].Err != nil {
			t.Errorf("CreateFolders: Before: %v, After: %v; want both made", res[0].Err, res[2].Err)
		}
		if err := res[1].Err; err == nil || !strings.Contains(err.Error(), `account "acct": create folder "Refused"`) || !strings.Contains(err.Error(), "not today") {
			t.Errorf("CreateFolders: Refused: %v, want the refusal, naming the account and folder", err)
		}
		if res[1].UIDValidity != 0 {
			t.Errorf("CreateFolders: Refused has UIDVALIDITY %d, want 0", res[1].UIDValidity)
		}
		got := srv.Mailboxes(t, "alice")
		for _, want := range []string{"Before", "After"} {
			if !slices.Contains(got, want) {
				t.Errorf("mailboxes %q, want %q among them", got, want)
			}
		}
		if slices.Contains(got, "Refused") {
			t.Errorf("mailboxes %q include the refused one", got)
		}

		cutAt.Store("Lost")
		res = st.CreateFolders(context.Background(), []string{"One", "Lost", "Two"})
		for i, r := range res {
			if r.Err == nil {
				t.Errorf("CreateFolders with the connection cut: result %d has no error", i)
			}
		}
	})
}
