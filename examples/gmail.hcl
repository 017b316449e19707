# Gmail, both ways with a backup account, logging in to Gmail with OAuth2.
# A CI job or a server keeps the refresh token in a secret; mailtwin
# trades it for an access token at every run (a token the provider
# rotates is used for that run and written nowhere). How to get a client
# id and a refresh token: README, "Gmail and Microsoft 365".
#
# provider = "gmail" sets imap.gmail.com:993 with TLS, auth = "xoauth2"
# (with an oauth2 block or token_command; "plain" with an app password),
# and leaves out All Mail (\All) and Important (\Important), which hold
# every message a second time.
#
#   GMAIL_CLIENT_SECRET=... GMAIL_REFRESH_TOKEN=... BACKUP_PASSWORD=... \
#     mailtwin -c examples/gmail.hcl plan

state {
  path = "./mailtwin-state"
}

account "gmail" {
  provider = "gmail"
  username = "alice@gmail.com"
  oauth2 {
    token_url     = "https://oauth2.googleapis.com/token"
    client_id     = "1234567890-abcdefg.apps.googleusercontent.com"
    client_secret = env("GMAIL_CLIENT_SECRET")
    refresh_token = env("GMAIL_REFRESH_TOKEN")
  }
}

# With an app password instead (Google account > Security > App
# passwords, which needs 2-Step Verification):
#
# account "gmail" {
#   provider = "gmail"
#   username = "alice@gmail.com"
#   password = env("GMAIL_APP_PASSWORD")
# }

account "backup" {
  host     = "imap.backup.example"
  username = "alice"
  password = env("BACKUP_PASSWORD")
}

pair "gmail-backup" {
  a = "gmail"
  b = "backup"

  defaults {
    direction = "both"
    # On Gmail a deletion in a label's folder only removes the label:
    # "trash" moves the message to Gmail's Trash for real.
    deletion    = "trash"
    max_deletes = "5%"
  }

  # Gmail's folders live under "[Gmail]/" ("[Gmail]/Sent Mail"); Sent,
  # Trash, Drafts and Spam pair with the backup's by special-use role.
}
