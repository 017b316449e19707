package gitstate_test

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mailtwin/mailtwin/gitstate"
)

// TestRemoteHTTPSToken: a state remote served over HTTP by git
// http-backend behind a basic-auth check. Push and pull work with the
// token, are refused without it or with a wrong one, and the token is
// in no file of either clone and in no error.
func TestRemoteHTTPSToken(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git (for git http-backend) not on PATH: %v", err)
	}
	bare := newBare(t)
	if out, err := exec.Command(gitBin, "-C", bare, "config", "http.receivepack", "true").CombinedOutput(); err != nil {
		t.Fatalf("git config: %v\n%s", err, out)
	}
	const token = "tok-8d2f0e-do-not-store"
	var authorized, refused atomic.Int64
	backend := &cgi.Handler{
		Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(bare), "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, ok := r.BasicAuth()
		if !ok || user != gitstate.TokenUsername || pw != token {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="state"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/" + filepath.Base(bare)
	ctx := context.Background()

	a, b := newRepo(t), newRepo(t)
	commit(t, a, "p1", map[string]string{"INBOX.state": "one\n"}, "sync: p1")
	if _, err := a.Push(ctx, gitstate.Remote{URL: url}); err == nil {
		t.Fatal("Push without a token = nil, want refused")
	}
	_, err = a.Push(ctx, gitstate.Remote{URL: url, Token: "wrong-" + token})
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("Push with a wrong token = %v, want an error without the token", err)
	}
	o := gitstate.Remote{URL: url, Token: token}
	push(t, a, o)
	if res := pull(t, b, o); res.Action != "fast-forward" {
		t.Fatalf("Pull over HTTP = %+v, want fast-forward", res)
	}
	if got := files(t, b, "p1"); got["INBOX.state"] != "one\n" {
		t.Errorf("Files(p1) after pull over HTTP = %v", got)
	}
	if authorized.Load() == 0 || refused.Load() == 0 {
		t.Errorf("requests: %d authorized, %d refused; want both", authorized.Load(), refused.Load())
	}
	for _, dir := range []string{a.Dir(), b.Dir()} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err == nil && bytes.Contains(data, []byte(token)) {
				t.Errorf("%s holds the token", p)
			}
			return nil
		})
	}
}
