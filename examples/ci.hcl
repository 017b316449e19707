# For a scheduled CI job: secrets come from the job's environment, the
# state repository lives in the job's workspace (issue #6 adds a remote so
# it survives between jobs). Run: mailtwin -c examples/ci.hcl apply --json

state {
  path = "./mail-state"
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

pair "source-archive" {
  a = "source"
  b = "archive"

  defaults {
    direction   = "a-to-b"
    deletion    = "keep"
    max_deletes = "1%"
  }
}
