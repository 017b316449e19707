package hclconfig_test

import (
	"path/filepath"
	"testing"

	"github.com/mailtwin/mailtwin/hclconfig"
)

// TestStateRemote: each form of remote is recognised, relative paths
// are joined to the config file's directory, and the credentials
// settings land in State for their kind of remote only.
func TestStateRemote(t *testing.T) {
	dir := filepath.Join("/etc", "mailtwin")
	tests := []struct {
		name  string
		state []string
		want  hclconfig.State
	}{
		{"none", []string{`state {}`},
			hclconfig.State{}},
		{"ssh URL with a key", []string{`state {`, `  remote = "ssh://git@git.example.com/ops/s.git"`, `  ssh_key_file = "keys/id_ed25519"`, `  ssh_known_hosts = "/etc/ssh/known"`, `}`},
			hclconfig.State{Remote: "ssh://git@git.example.com/ops/s.git", RemoteKind: hclconfig.RemoteSSH, Branch: "main",
				SSHKeyFile: filepath.Join(dir, "keys", "id_ed25519"), SSHKnownHosts: "/etc/ssh/known"}},
		{"scp-like", []string{`state {`, `  remote = "git@git.example.com:ops/s.git"`, `  branch = "state/prod"`, `}`},
			hclconfig.State{Remote: "git@git.example.com:ops/s.git", RemoteKind: hclconfig.RemoteSSH, Branch: "state/prod"}},
		{"https with a token", []string{`state {`, `  remote = "https://git.example.com/ops/s.git"`, `  token_env = "MAILTWIN_STATE_TOKEN"`, `}`},
			hclconfig.State{Remote: "https://git.example.com/ops/s.git", RemoteKind: hclconfig.RemoteHTTPS, Branch: "main", TokenEnv: "MAILTWIN_STATE_TOKEN"}},
		{"http to loopback", []string{`state {`, `  remote = "http://127.0.0.1:8080/s.git"`, `}`},
			hclconfig.State{Remote: "http://127.0.0.1:8080/s.git", RemoteKind: hclconfig.RemoteHTTPS, Branch: "main"}},
		{"file URL", []string{`state {`, `  remote = "file:///srv/s.git"`, `}`},
			hclconfig.State{Remote: "file:///srv/s.git", RemoteKind: hclconfig.RemoteFile, Branch: "main"}},
		{"relative path", []string{`state {`, `  remote = "../shared/s.git"`, `}`},
			hclconfig.State{Remote: filepath.Join("/etc", "shared", "s.git"), RemoteKind: hclconfig.RemoteFile, Branch: "main"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, _ := hclconfig.Parse([]byte(after(0, tt.state...)), filepath.Join(dir, "c.hcl"), hclconfig.Options{LookupEnv: noEnv})
			if diags.HasErrors() {
				t.Fatalf("Parse = %v", diags)
			}
			got := cfg.State
			got.Path = ""
			if got != tt.want {
				t.Errorf("Parse().State = %+v, want %+v", got, tt.want)
			}
		})
	}
}
