# iCloud Mail, copied to a backup account. iCloud's IMAP takes an
# app-specific password (appleid.apple.com > Sign-In and Security >
# App-Specific Passwords), never the Apple ID password; the username is
# the iCloud address.
#
# provider = "icloud" sets imap.mail.me.com:993 with TLS.
#
#   mailtwin -c examples/icloud.hcl plan

state {
  path = "./mailtwin-state"
}

account "icloud" {
  provider         = "icloud"
  username         = "alice@icloud.com"
  password_command = ["pass", "show", "mail/icloud-app-password"]
}

account "backup" {
  host     = "imap.backup.example"
  username = "alice"
  password = env("BACKUP_PASSWORD")
}

pair "icloud-backup" {
  a = "icloud"
  b = "backup"

  defaults {
    direction = "a-to-b"
    deletion  = "keep"
  }
}
