package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/hclconfig"
	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// TestPasswordCommandRunsWithoutAShell: password_command's words are
// handed to the program as they are; shell syntax in them is never
// interpreted.
func TestPasswordCommandRunsWithoutAShell(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	arg := `p4ss; touch ` + marker + ` && echo $HOME $(id) ` + "`id`" + ` | cat > ` + marker + ` * ~ "q" 'q'`
	acc := &hclconfig.Account{Name: "a", PasswordCommand: []string{"printf", `%s\n`, arg}}
	pw, err := runPasswordCommand(context.Background(), acc)
	if err != nil {
		t.Fatalf("runPasswordCommand = %v", err)
	}
	if pw != arg {
		t.Errorf("runPasswordCommand = %q, want the argument unchanged, %q", pw, arg)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a shell ran password_command: %s exists", marker)
	}
}

// TestPasswordCommandLogsIn: apply logs in with the first line password_command prints.
func TestPasswordCommandLogsIn(t *testing.T) {
	srv := imaptest.StartMem(t, userA, userB)
	host, port, _ := strings.Cut(srv.Addr, ":")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mailtwin.hcl")
	account := func(name, user string) string {
		return fmt.Sprintf("account %q {\n  host = %q\n  port = %s\n  tls = \"none\"\n  username = %q\n  password_command = [\"printf\", \"%%s\\nsecond line\\n\", %q]\n}\n",
			name, host, port, user, imaptest.Password)
	}
	config := fmt.Sprintf("state { path = %q }\n%s%spair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n", filepath.Join(dir, "state"), account("a", userA), account("b", userB))
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	(&syncFixture{t: t, srv: srv}).put(userA, "INBOX", "m1")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-c", cfg, "apply"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("apply exited %d:\n%s%s\nconfig:\n%s", code, out.String(), errb.String(), config)
	}
	if errb.Len() > 0 {
		t.Errorf("apply wrote to stderr (a 0644 config with password_command draws no warning):\n%s", errb.String())
	}
	(&syncFixture{t: t, srv: srv}).want(userB, "INBOX", "m1 -")
}
