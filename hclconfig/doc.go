// Package hclconfig owns mailtwin's configuration schema and its
// validation: it reads an HCL file into a validated [Config] and reports
// every mistake it can find as an [hcl.Diagnostic] whose Subject points at
// the offending text, so that [WriteDiagnostics] can show the file, line,
// column and source line of each.
//
// The schema:
//
//	state {                              # optional
//	  path   = "./mailtwin-state"        # relative to the config file; default "mailtwin-state" beside it
//	  remote = "ssh://git@host/state"    # optional: ssh://, user@host:path, https://, file:// or a path
//	  branch = "main"                    # the remote branch; default "main"
//	  ssh_key_file    = "id_ed25519"     # ssh: the private key; default ssh-agent
//	  ssh_known_hosts = "known_hosts"    # ssh: host keys; default ~/.ssh/known_hosts
//	  token_env = "MAILTWIN_STATE_TOKEN" # https: the NAME of the variable holding the token
//	  lock_max_age = "1h"                # a lock not refreshed this long is stale; default 1h
//	  checkpoint_actions  = 1000         # a run commits its progress after this many actions (more later on)...
//	  checkpoint_interval = "5m"         # ...or this often, whichever comes first
//	}
//	account "work" {
//	  provider = "gmail"                 # gmail | outlook | fastmail | icloud | yahoo: presets host, port, tls, auth
//	  host     = "imap.example.com"      # required without a provider
//	  port     = 993                     # default 993 for tls = "implicit", 143 otherwise
//	  tls      = "implicit"              # implicit | starttls | none
//	  insecure_plaintext = false         # must be true for tls = "none" to a non-loopback host
//	  tls_ca_file     = "ca.pem"         # PEM certificates trusted instead of the system roots; relative to the config file
//	  tls_server_name = "mail.example"   # the name the certificate must carry; default host
//	  username = "alice"                 # required
//	  password = env("WORK_PW")          # exactly one of password and password_command
//	  password_command = ["pass", "show", "work"]  # or this, run by the caller
//	  auth     = "xoauth2"               # plain | login | xoauth2 | oauthbearer; default: the password with LOGIN
//	  token_command = ["oama", "access", "alice@example.com"]  # an access token, for xoauth2/oauthbearer; or:
//	  oauth2 {                           # trade a refresh token for an access token (the caller does)
//	    token_url     = "https://oauth2.googleapis.com/token"
//	    client_id     = "..."
//	    client_secret = env("CLIENT_SECRET")  # optional
//	    refresh_token = env("REFRESH_TOKEN")
//	    scopes        = ["https://mail.google.com/"]  # optional
//	  }
//	  timeout  = "2m"                    # how long the server may stay silent in a network step; default "60s"
//	  connections = 4                    # at most this many at once, for several folders in parallel; 1 to 16, default 4
//	  exclude_special_use = ["\\All", "\\Important"]  # leave folders with these attributes out of every pair
//	}
//	pair "work-backup" {
//	  a      = "work"                    # required: an account
//	  b      = "backup"                  # required: another account
//	  prefer = "a"                       # a | b
//	  a_prefix = ""                      # folder holding the pair's folders on a; "" top level
//	  b_prefix = "Backup/Work"           # on b; "/" between levels, no "*", "%" or control characters
//	  match_special_use = true           # pair \Sent, \Trash, \Drafts, \Junk, \Archive by role
//	  defaults {                         # optional
//	    direction   = "both"             # both | a-to-b | b-to-a | none
//	    deletion    = "propagate"        # propagate | trash | keep
//	    max_deletes = "50%"              # a count (100 or "100") or a percentage ("5%")
//	  }
//	  folder "Archive/**" {              # * one level, ** any depth; first match wins
//	    direction = "a-to-b"             # unset fields take the pair's defaults
//	    deletion  = "keep"
//	  }
//	  folder "Spam" { direction = "none" }
//	  map {                              # explicit folder name mapping, repeatable;
//	    a = "INBOX.Sent"                 # names as the servers spell them; overrides
//	    b = "Sent Items"                 # prefixes and roles
//	  }
//	}
//
// Expressions may call env("NAME"), file("path") (relative to the config
// file's directory), lower and upper. A null value means the argument is
// not set.
//
// tls_ca_file and tls_server_name are refused with tls = "none". The CA
// file is read when the configuration is loaded, so that a missing file,
// or one without a valid PEM certificate, is a diagnostic pointing at
// the attribute (and `mailtwin validate` finds it) rather than a failed
// connection later; Account.TLSCAs holds its certificates.
//
// Typical use:
//
//	cfg, diags, files := hclconfig.Load(path, hclconfig.Options{})
//	if len(diags) > 0 {
//		hclconfig.WriteDiagnostics(os.Stderr, diags, files)
//	}
//	if diags.HasErrors() {
//		return errBadConfig
//	}
//
// hclconfig imports reconcile for the policy types and nothing else of
// mailtwin. It keeps no package-level mutable state and does no I/O beyond
// reading the configuration file, the files its file() calls name and the
// tls_ca_file files: password_command and token_command are run, and
// the oauth2 token endpoint is called, by the caller, not here.
package hclconfig
