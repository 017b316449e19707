# Two-way sync of a personal account with a second provider: what you do on
# either side (new mail, read, flag, delete, new folders) happens on the
# other. A deletion moves the other side's copy to its Trash, so a mistake
# can still be undone there.
#
#   WORK_IMAP_PASSWORD=... mailtwin -c examples/two-way.hcl plan
#   WORK_IMAP_PASSWORD=... mailtwin -c examples/two-way.hcl apply

state {
  path = "./mailtwin-state"
}

account "work" {
  host     = "imap.example.com"
  username = "alice@example.com"
  password = env("WORK_IMAP_PASSWORD")
}

account "personal" {
  host             = "mail.example.net"
  port             = 143
  tls              = "starttls"
  username         = "alice"
  password_command = ["pass", "show", "mail/personal"]
}

pair "work-personal" {
  a      = "work"
  b      = "personal"
  prefer = "a"

  defaults {
    direction   = "both"
    deletion    = "trash"
    max_deletes = "5%"
  }

  folder "Spam" {
    direction = "none"
  }

  # Sent, Trash, Drafts, Junk and Archive pair by their special-use role
  # even when the two providers name them differently ("Sent" and "Sent
  # Items"); match_special_use = false turns that off.
}
