package imapstore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailtwin/mailtwin/internal/imaptest"
	"github.com/mailtwin/mailtwin/reconcile"
)

// TestRefusedForGood: Dovecot refuses a keyword longer than 50
// characters with NO [CANNOT], on an APPEND and on a STORE alike. Both
// errors are a *reconcile.RefusedError, which has the copy go again
// without its keywords and the change one keyword at a time. A full
// quota's NO [OVERQUOTA] says to try later: not one.
func TestRefusedForGood(t *testing.T) {
	t.Parallel()
	srv := imaptest.StartDovecotWith(t, imaptest.DovecotOptions{Quota: "*:messages=1"}, "alice")
	st := open(t, srv, "alice")
	ctx := context.Background()
	long := reconcile.NewFlags("$" + strings.Repeat("k", 60))
	isRefused := func(err error) bool {
		var re *reconcile.RefusedError
		return errors.As(err, &re)
	}

	b := msg(1)
	_, err := st.Append(ctx, "INBOX", long, time.Time{}, int64(len(b)), bytes.NewReader(b))
	if !isRefused(err) || !strings.Contains(err.Error(), `account "acct": append to "INBOX": imap: NO [CANNOT]`) {
		t.Errorf("Append with a 60-character keyword = %v, want a RefusedError with Dovecot's NO [CANNOT]", err)
	}
	ap, err := st.Append(ctx, "INBOX", nil, time.Time{}, int64(len(b)), bytes.NewReader(b))
	if err != nil || ap.UID == 0 {
		t.Fatalf("Append without it = %+v, %v", ap, err)
	}
	err = st.StoreFlags(ctx, "INBOX", []reconcile.UID{ap.UID}, long, nil)
	if !isRefused(err) || !strings.Contains(err.Error(), "NO [CANNOT]") {
		t.Errorf("StoreFlags of a 60-character keyword = %v, want a RefusedError with Dovecot's NO [CANNOT]", err)
	}
	if err := st.StoreFlags(ctx, "INBOX", []reconcile.UID{ap.UID}, reconcile.NewFlags("$short"), nil); err != nil {
		t.Errorf("StoreFlags of a short keyword after the refusal = %v", err)
	}

	b = msg(2)
	_, err = st.Append(ctx, "INBOX", nil, time.Time{}, int64(len(b)), bytes.NewReader(b))
	if err == nil || isRefused(err) || !strings.Contains(err.Error(), "NO [OVERQUOTA]") {
		t.Errorf("Append over quota = %v, want NO [OVERQUOTA], not a RefusedError", err)
	}
}
