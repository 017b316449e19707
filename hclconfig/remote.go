package hclconfig

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// RemoteKind is the transport of a state remote.
type RemoteKind int

const (
	// RemoteNone means the state repository has no remote.
	RemoteNone RemoteKind = iota
	// RemoteSSH is ssh:// or scp-like user@host:path.
	RemoteSSH
	// RemoteHTTPS is https://, or http:// to a loopback host.
	RemoteHTTPS
	// RemoteFile is a file:// URL or a local path.
	RemoteFile
)

var remoteKindNames = []string{"none", "ssh", "https", "file"}

// String returns "none", "ssh", "https" or "file".
func (k RemoteKind) String() string { return remoteKindNames[k] }

// DefaultBranch is the remote branch of the state when branch is not set.
const DefaultBranch = "main"

var (
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	scpLike    = regexp.MustCompile(`^(?:[^@/:]+@)?[^/:]+:`)
	badBranchC = regexp.MustCompile(`[\x00-\x20\x7f~^:?*\[\\]`)
)

// remote decodes and checks remote, branch and the credentials of the
// state block.
func (d *decoder) remote(at hcl.Attributes, dir string, st *State) {
	defer func() {
		if st.Remote != "" && st.Branch == "" {
			st.Branch = DefaultBranch
		}
	}()
	r, ro := d.str(at["remote"], false)
	if ro == good && r == "" {
		d.errorf(at["remote"].Expr.Range(), "Invalid state remote", "remote must not be empty; leave it out for a state repository without a remote.")
		ro = bad
	}
	if ro == good {
		kind, u, msg := classifyRemote(r)
		if msg != "" {
			d.errorf(at["remote"].Expr.Range(), "Invalid state remote", "%s", msg)
		} else {
			if kind == RemoteFile && !strings.Contains(r, "://") && !filepath.IsAbs(r) {
				u = filepath.Clean(filepath.Join(dir, r))
			}
			st.Remote, st.RemoteKind = u, kind
		}
	}
	// The others need a remote, of the right kind.
	needs := func(name string, kinds ...RemoteKind) (*hcl.Attribute, string, bool) {
		a := at[name]
		v, o := d.str(a, false)
		if o != good {
			return a, "", false
		}
		if ro == unset {
			d.errorf(a.Expr.Range(), "State remote missing", "%s is only used with a remote; set remote too, or leave %s out.", name, name)
			return a, "", false
		}
		if st.RemoteKind != RemoteNone && !containsKind(kinds, st.RemoteKind) {
			var ks []string
			for _, k := range kinds {
				ks = append(ks, k.String())
			}
			d.errorf(a.Expr.Range(), "Wrong remote for "+name, "%s is for an %s remote; this remote is %s.", name, strings.Join(ks, " or "), st.RemoteKind)
			return a, "", false
		}
		return a, v, true
	}
	if a, v, ok := needs("branch", RemoteSSH, RemoteHTTPS, RemoteFile); ok {
		if msg := checkBranch(v); msg != "" {
			d.errorf(a.Expr.Range(), "Invalid branch", "%s", msg)
		} else {
			st.Branch = v
		}
	}
	for _, name := range []string{"ssh_key_file", "ssh_known_hosts"} {
		if a, v, ok := needs(name, RemoteSSH); ok {
			if v == "" {
				d.errorf(a.Expr.Range(), "Invalid "+name, "%s must not be empty; leave it out for the default.", name)
				continue
			}
			if !filepath.IsAbs(v) {
				v = filepath.Join(dir, v)
			}
			if name == "ssh_key_file" {
				st.SSHKeyFile = filepath.Clean(v)
			} else {
				st.SSHKnownHosts = filepath.Clean(v)
			}
		}
	}
	if a, v, ok := needs("token_env", RemoteHTTPS); ok {
		if !envName.MatchString(v) {
			d.errorf(a.Expr.Range(), "Invalid token_env", "token_env is the NAME of an environment variable that holds the token, such as \"MAILTWIN_STATE_TOKEN\"; this is not a variable name. Do not write the token itself into the configuration.")
		} else {
			st.TokenEnv = v
		}
	}
}

func containsKind(ks []RemoteKind, k RemoteKind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// classifyRemote tells the kind of the remote r, returning r itself (a
// local path unchanged, to be joined by the caller) or a message saying
// what is wrong with it.
func classifyRemote(r string) (RemoteKind, string, string) {
	if strings.ContainsAny(r, "\x00\n\r") {
		return 0, "", "remote holds a control character."
	}
	if i := strings.Index(r, "://"); i > 0 {
		u, err := url.Parse(r)
		if err != nil {
			return 0, "", "remote is not a valid URL."
		}
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				return 0, "", "remote must not hold a password or token; use token_env = \"NAME\" to read the token from an environment variable at run time."
			}
		}
		switch u.Scheme {
		case "ssh":
			if u.Host == "" {
				return 0, "", "an ssh remote needs a host, such as ssh://git@git.example.com/ops/mail-state.git."
			}
			return RemoteSSH, r, ""
		case "https":
			if u.Host == "" {
				return 0, "", "an https remote needs a host."
			}
			return RemoteHTTPS, r, ""
		case "http":
			if !isLoopback(u.Hostname()) {
				return 0, "", "remote over plain http would send the token and the state in clear text; use https (plain http is accepted for a loopback host only)."
			}
			return RemoteHTTPS, r, ""
		case "file":
			if u.Path == "" {
				return 0, "", "a file remote needs a path, such as file:///srv/mail-state.git."
			}
			return RemoteFile, r, ""
		}
		return 0, "", "remote must be an ssh://, https:// or file:// URL, user@host:path, or a local path; got scheme " + u.Scheme + "."
	}
	if !filepath.IsAbs(r) && !strings.HasPrefix(r, ".") && scpLike.MatchString(r) {
		return RemoteSSH, r, ""
	}
	return RemoteFile, r, ""
}

// checkBranch checks a branch name the way git check-ref-format does,
// roughly; it returns what is wrong or "".
func checkBranch(b string) string {
	const rule = "A branch name must not be empty, start with \"-\" or \"/\", end with \"/\" or \".lock\", or hold \"..\", \"//\", \"@{\", spaces, control characters or any of ~^:?*[\\."
	switch {
	case b == "", strings.HasPrefix(b, "-"), strings.HasPrefix(b, "/"), strings.HasSuffix(b, "/"),
		strings.HasSuffix(b, ".lock"), strings.HasSuffix(b, "."), strings.Contains(b, ".."),
		strings.Contains(b, "//"), strings.Contains(b, "@{"), b == "@", badBranchC.MatchString(b):
		return rule + " Got " + strconv.Quote(b) + "."
	}
	return ""
}
