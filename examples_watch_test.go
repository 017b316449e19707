package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// systemdUnit reads a unit file as section -> key -> values (a key may
// repeat), skipping comments.
func systemdUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExampleSystemdUnits: the system and user units for watch run
// "mailtwin ... watch" with flags mailtwin accepts (their ExecStart is
// parsed by run itself, against a config file that does not exist, so
// only the missing file is reported), restart on failure but not on a
// bad configuration (exit 4), read secrets from an EnvironmentFile, and
// the system unit is hardened.
func TestExampleSystemdUnits(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[string]map[string]string // "" means: present
	}{
		{"examples/mailtwin-watch.service", map[string]map[string]string{
			"Service": {
				"DynamicUser": "yes", "StateDirectory": "mailtwin", "ProtectSystem": "strict",
				"Restart": "on-failure", "RestartPreventExitStatus": "4", "EnvironmentFile": "",
				"NoNewPrivileges": "yes", "ProtectHome": "yes", "PrivateTmp": "yes",
			},
			"Install": {"WantedBy": "multi-user.target"},
		}},
		{"examples/mailtwin-watch.user.service", map[string]map[string]string{
			"Service": {"Restart": "on-failure", "RestartPreventExitStatus": "4", "EnvironmentFile": "", "StateDirectory": "mailtwin"},
			"Install": {"WantedBy": "default.target"},
		}},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			u := systemdUnit(t, tc.file)
			for section, keys := range tc.want {
				for k, v := range keys {
					got := u[section][k]
					if len(got) == 0 || v != "" && got[len(got)-1] != v {
						t.Errorf("[%s] %s = %q, want %q", section, k, got, v)
					}
				}
			}
			exec := u["Service"]["ExecStart"]
			if len(exec) != 1 {
				t.Fatalf("ExecStart = %q, want one", exec)
			}
			home := t.TempDir()
			args := strings.Fields(strings.NewReplacer("%h", home, "%S", home).Replace(exec[0]))
			if filepath.Base(args[0]) != "mailtwin" {
				t.Errorf("ExecStart runs %s, want mailtwin", args[0])
			}
			args = args[1:]
			watch := false
			missing := filepath.Join(home, "no-such-dir", "mailtwin.hcl")
			for i, a := range args {
				watch = watch || a == "watch"
				if (a == "--config" || a == "-c") && i+1 < len(args) {
					args[i+1] = missing
				}
			}
			if !watch {
				t.Errorf("ExecStart %q does not run watch", exec[0])
			}
			var out bytes.Buffer
			code := run(context.Background(), args, strings.NewReader(""), &out, &out)
			if code != exitUsage || !strings.Contains(out.String(), missing) || strings.Contains(out.String(), "flag") {
				t.Errorf("mailtwin %s exited %d, want 4 for the missing config only:\n%s", strings.Join(args, " "), code, out.String())
			}
		})
	}
}
