# A feed from a foreign account: the Newsletters folders of an old address
# are mirrored into the main account's Newsletters folders, deletions
# included (when the old account expires a message, it goes here too).
# Nothing flows back, and no other folder is touched.

account "old" {
  host     = "imap.old-provider.example"
  username = "alice"
  password = env("OLD_IMAP_PASSWORD")
}

account "main" {
  host     = "imap.example.com"
  username = "alice@example.com"
  password = env("MAIN_IMAP_PASSWORD")
}

pair "old-feed" {
  a = "old"
  b = "main"

  defaults {
    direction = "none"
  }

  folder "Newsletters" {
    direction = "a-to-b"
    deletion  = "propagate"
  }
  folder "Newsletters/**" {
    direction = "a-to-b"
    deletion  = "propagate"
  }
}
