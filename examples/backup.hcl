# A backup account: everything on "main" flows to "backup"; what is deleted
# on "main" stays in the backup (deletion = "keep"), and whatever happens on
# the backup on its own is left alone and never copied back.

state {
  path = "/var/lib/mailtwin/backup-state"
}

account "main" {
  host     = "imap.example.com"
  username = "alice@example.com"
  password = env("MAIN_IMAP_PASSWORD")
}

account "backup" {
  host     = "imap.backup.example"
  port     = 993
  tls      = "implicit"
  username = "alice-backup"
  password = file("/run/secrets/backup-imap-password")
}

pair "main-backup" {
  a = "main"
  b = "backup"

  defaults {
    direction   = "a-to-b"
    deletion    = "keep"
    max_deletes = 100
  }

  folder "Trash" {
    direction = "none"
  }
  folder "Junk" {
    direction = "none"
  }
}
