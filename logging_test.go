package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/internal/imaptest"
)

// logRecord is one JSON log line, with the fields the README documents.
type logRecord struct {
	Time     string
	Level    string
	Msg      string
	Pair     string
	Folder   string
	Side     string
	Action   string
	UID      *uint32
	Done     *int
	Total    *int
	Bytes    *int64
	Account  string
	Error    string
	ExitCode *int `json:"exit_code"`
	Hint     string
}

// parseLog parses stderr as JSON lines, failing the test on a line that
// is not one JSON object with time, level and msg, or that has a field
// the README does not document.
func parseLog(t *testing.T, stderr string) []logRecord {
	t.Helper()
	documented := map[string]bool{"time": true, "level": true, "msg": true, "pair": true, "folder": true, "side": true, "action": true, "uid": true,
		"done": true, "total": true, "bytes": true, "account": true, "error": true, "exit_code": true, "hint": true}
	var out []logRecord
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if line == "" {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("stderr line is not a JSON object: %q: %v", line, err)
		}
		for k := range fields {
			if !documented[k] {
				t.Errorf("log line has the undocumented field %q: %s", k, line)
			}
		}
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r.Time == "" || r.Level == "" || r.Msg == "" {
			t.Errorf("log line lacks time, level or msg: %s", line)
		}
		out = append(out, r)
	}
	return out
}

// logConfig writes a config for pair "p" of alice and bob on srv, with
// password pw, readable by all (so it draws the password warning).
func logConfig(t *testing.T, srv *imaptest.Server, dir, pw string) string {
	t.Helper()
	host, port, _ := strings.Cut(srv.Addr, ":")
	account := func(name, user string) string {
		return fmt.Sprintf("account %q {\n  host = %q\n  port = %s\n  tls = \"none\"\n  username = %q\n  password = %q\n}\n", name, host, port, user, pw)
	}
	cfg := filepath.Join(dir, "mailtwin.hcl")
	config := fmt.Sprintf("state { path = %q }\n%s%spair \"p\" {\n  a = \"a\"\n  b = \"b\"\n}\n", filepath.Join(dir, "state"), account("a", userA), account("b", userB))
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestLogJSON: with --log-format json, everything apply writes to stderr
// is JSON lines with the documented fields, for a real apply against
// the in-memory server: the password warning (account), the progress
// line of a folder finished (pair, folder, done, total, bytes), -v's
// action lines (side, action, uid), -vv's protocol trace (account, no
// password), and a failing run's error (error, exit_code). stdout keeps
// the plan as text.
func TestLogJSON(t *testing.T) {
	srv := imaptest.StartMem(t, userA, userB)
	f := &syncFixture{t: t, srv: srv}
	for i := range 60 {
		f.put(userA, "INBOX", fmt.Sprintf("m%d", i))
	}
	dir := t.TempDir()
	cfg := logConfig(t, srv, dir, imaptest.Password)
	apply := func(cfg string, args ...string) (int, string, []logRecord) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"-c", cfg, "--log-format", "json"}, args...), strings.NewReader(""), &out, &errb)
		if strings.Contains(errb.String(), imaptest.Password) || strings.Contains(out.String(), imaptest.Password) {
			t.Errorf("%s: the password is in the output", args)
		}
		return code, out.String(), parseLog(t, errb.String())
	}

	code, out, recs := apply(cfg, "apply")
	if code != 0 {
		t.Fatalf("apply exited %d:\n%s\n%+v", code, out, recs)
	}
	if !strings.Contains(out, "Plan: 60 to copy, 0 to delete") || !strings.Contains(out, "Applied: 60 copied") {
		t.Errorf("apply's stdout lacks the plan and applied lines:\n%s", out)
	}
	var warned, folderDone bool
	for _, r := range recs {
		switch {
		case r.Level == "WARN" && r.Account == "a" && strings.Contains(r.Msg, "readable by group or others"):
			warned = true
		case r.Level == "INFO" && r.Pair == "p" && r.Folder == "INBOX" && r.Done != nil && *r.Done == 60 && r.Total != nil && *r.Total == 60 && r.Bytes != nil && *r.Bytes > 0:
			folderDone = true
		}
	}
	if !warned || !folderDone {
		t.Errorf("apply's log: password warning %v, INBOX done line %v, want both:\n%+v", warned, folderDone, recs)
	}

	f.put(userB, "INBOX", "late")
	code, _, recs = apply(cfg, "-vv", "apply")
	if code != 0 {
		t.Fatalf("apply -vv exited %d: %+v", code, recs)
	}
	var action, trace bool
	for _, r := range recs {
		if r.Action == "copy" && r.Side == "a" && r.Pair == "p" && r.Folder == "INBOX" && r.UID != nil && *r.UID > 0 && *r.Done == 1 && *r.Total == 1 {
			action = true
		}
		if r.Level == "DEBUG" && (r.Account == "a" || r.Account == "b") && strings.HasPrefix(r.Msg, "trace ") {
			trace = true
		}
	}
	if !action || !trace {
		t.Errorf("apply -vv's log: action line %v, trace lines %v, want both:\n%+v", action, trace, recs)
	}

	bad := logConfig(t, srv, t.TempDir(), "not-the-password")
	code, _, recs = apply(bad, "apply")
	if code != exitFailed {
		t.Fatalf("apply with a wrong password exited %d, want %d", code, exitFailed)
	}
	last := recs[len(recs)-1]
	if last.Level != "ERROR" || last.ExitCode == nil || *last.ExitCode != exitFailed || last.Error == "" || !strings.Contains(last.Msg, last.Error) {
		t.Errorf("failing apply's last log line = %+v, want an ERROR with error and exit_code 1", last)
	}
	if strings.Contains(fmt.Sprint(recs), "not-the-password") {
		t.Errorf("the wrong password is in the log: %+v", recs)
	}
}

// TestLogText: the text format is the "mailtwin: " lines as before,
// with a hint as a line of its own; a bad --log-format is a usage
// error.
func TestLogText(t *testing.T) {
	var b bytes.Buffer
	log, err := newLogger(&b, logText)
	if err != nil {
		t.Fatal(err)
	}
	if code := exitCode(usageError{"no pair \"x\""}, log); code != exitUsage {
		t.Errorf("exitCode(usageError) = %d, want %d", code, exitUsage)
	}
	log.Error("interrupted: context canceled", fieldError, "context canceled", fieldExitCode, 1, fieldHint, "nothing is lost; the next run continues")
	want := "mailtwin: no pair \"x\"\nmailtwin: interrupted: context canceled\nmailtwin: nothing is lost; the next run continues\n"
	if b.String() != want {
		t.Errorf("text log = %q, want %q", b.String(), want)
	}

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--log-format", "xml", "validate"}, strings.NewReader(""), &out, &errb); code != exitUsage || !strings.Contains(errb.String(), `mailtwin: --log-format "xml": want text or json`) {
		t.Errorf("--log-format xml: exit %d, stderr %q, want exit 4 and the reason", code, errb.String())
	}
}

// TestLogJSONDiagnostics: with --log-format json, a configuration's
// diagnostics are JSON lines too, each naming file, line and column,
// and the run ends with the error and exit code 4.
func TestLogJSONDiagnostics(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.hcl")
	if err := os.WriteFile(cfg, []byte("account \"a\" {\n  hots = \"x\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-c", cfg, "--log-format", "json", "validate"}, strings.NewReader(""), &out, &errb)
	if code != exitUsage {
		t.Fatalf("validate of a bad config exited %d, want %d", code, exitUsage)
	}
	recs := parseLog(t, errb.String())
	found := false
	for _, r := range recs {
		if r.Level == "ERROR" && strings.HasPrefix(r.Msg, cfg+":2:3: Unsupported argument") {
			found = true
		}
	}
	last := recs[len(recs)-1]
	if !found || last.ExitCode == nil || *last.ExitCode != exitUsage {
		t.Errorf("diagnostics as JSON: typo found %v, last line %+v; want the typo at %s:2:3 and exit_code 4", found, last, cfg)
	}
}

// textLog is the text-format logger run builds, writing to w, for tests
// that make their own globalOptions.
func textLog(w io.Writer) *slog.Logger {
	l, err := newLogger(&stderrLines{w: w}, logText)
	if err != nil {
		panic(err)
	}
	return l
}
