package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestGuardAccountSuddenlyEmpty: an account that suddenly shows nothing
// (a server restored from an empty backup, a login that lands in a new
// mailbox) must not be synced: that would delete everything on the
// other side. `mailtwin apply` stops before changing anything, exit 3,
// and says what it saw and that --force overrides; the other account is
// untouched, even with max_deletes at 100%. The same for one folder
// that suddenly lists no messages.
func TestGuardAccountSuddenlyEmpty(t *testing.T) {
	imaptest.Both(t, func(t *testing.T, start imaptest.StartFunc) {
		for _, tc := range []struct {
			name   string
			glitch func(f *syncFixture)
			want   string
		}{
			{"whole account", func(f *syncFixture) {
				f.srv.Delete(t, userA, "Work")
				f.srv.Delete(t, userA, "Lists")
				for i := range 3 {
					f.expunge(userA, "INBOX", fmt.Sprintf("i%d", i))
				}
			}, `side a suddenly lists no messages in any folder; the state knows 20 there`},
			{"one folder", func(f *syncFixture) {
				for i := range 12 {
					f.expunge(userA, "Work", fmt.Sprintf("w%d", i))
				}
			}, `folder "Work" on a suddenly lists no messages; the state knows 12`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := start(t, userA, userB)
				tr := newSweepTrial(t, srv, userA, userB, srv.Addr)
				// max_deletes would let it through: the guard must not
				// depend on it.
				tr.pairExtra = "  defaults {\n    max_deletes = \"100%\"\n  }\n"
				tr.writeConfig(t, srv.Addr)
				f := tr.fixture(t)
				for i := range 3 {
					f.put(userA, "INBOX", fmt.Sprintf("i%d", i))
				}
				for i := range 12 {
					f.put(userA, "Work", fmt.Sprintf("w%d", i))
				}
				for i := range 5 {
					f.put(userB, "Lists", fmt.Sprintf("l%d", i))
				}
				tr.apply(t)
				before := tr.snapshot(t)
				tc.glitch(f)
				code, out := tr.mailtwin("apply")
				if code != 3 || !strings.Contains(out, tc.want) || !strings.Contains(out, "--force") || !strings.Contains(out, "nothing was changed") {
					t.Errorf("apply after the account went empty: exit %d, want 3 with %q, the remedy --force and that nothing changed:\n%s", code, tc.want, out)
				}
				after := tr.snapshot(t)
				for _, k := range []string{"b folders", "b INBOX", "b Work", "b Lists"} {
					if !slices.Equal(after[k], before[k]) {
						t.Errorf("%s changed: %q, was %q", k, after[k], before[k])
					}
				}
			})
		}
	})
}
