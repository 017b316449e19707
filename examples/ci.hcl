# For a scheduled CI job (examples/github-actions.yml): secrets come from
# the job's environment, the state repository is cloned into the job's
# workspace from a shared remote at the start of each run and pushed at
# the end, so it survives between jobs. Each matrix job takes one shard of
# the pairs:
#
#   mailtwin -c examples/ci.hcl apply --shard 0/2 --json

state {
  path      = "./mail-state"
  remote    = "https://git.example.com/ops/mail-state.git"
  branch    = "main"
  token_env = "MAILTWIN_STATE_TOKEN" # the NAME of the variable; the token is read at run time
}

account "source" {
  host     = "imap.example.com"
  username = env("SOURCE_IMAP_USER")
  password = env("SOURCE_IMAP_PASSWORD")
}

account "archive" {
  host     = "imap.archive.example"
  username = env("ARCHIVE_IMAP_USER")
  password = env("ARCHIVE_IMAP_PASSWORD")
}

account "shared" {
  host     = "imap.example.com"
  username = env("SHARED_IMAP_USER")
  password = env("SHARED_IMAP_PASSWORD")
}

account "shared-archive" {
  host     = "imap.archive.example"
  username = env("SHARED_ARCHIVE_IMAP_USER")
  password = env("SHARED_ARCHIVE_IMAP_PASSWORD")
}

pair "source-archive" {
  a = "source"
  b = "archive"

  defaults {
    direction   = "a-to-b"
    deletion    = "keep"
    max_deletes = "1%"
  }
}

pair "shared-archive" {
  a = "shared"
  b = "shared-archive"

  defaults {
    direction   = "a-to-b"
    deletion    = "keep"
    max_deletes = "1%"
  }
}
