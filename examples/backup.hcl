# A backup account: everything on "main" flows to "backup"; what is deleted
# on "main" stays in the backup (deletion = "keep"), and whatever happens on
# the backup on its own is left alone and never copied back. The backup
# account can hold several accounts side by side: main's folders live
# under its folder "Backup/Main".

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

  # main's INBOX is the backup's "Backup/Main/INBOX", its "Lists/go" is
  # "Backup/Main/Lists/go". The backup's folders outside Backup/Main are
  # not part of this pair. Levels are separated by "/" here whatever the
  # server uses; folder rules below name folders without the prefix.
  b_prefix = "Backup/Main"

  # By default special-use folders (\Sent, \Trash, \Drafts, \Junk,
  # \Archive) pair by role when each side has exactly one with that role,
  # whatever their names: main's \Sent "Sent" with a \Sent "Sent Items".
  # A backup should keep main's names exactly, so turn that off.
  match_special_use = false

  # A map pairs two folders by their full names, as the servers spell
  # them, overriding the prefix and the roles. Here main's Receipts keeps
  # going to the folder an earlier copy made at the backup's top level:
  # the messages already there are recognised, not copied again.
  map {
    a = "Receipts"
    b = "Receipts from main"
  }

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
