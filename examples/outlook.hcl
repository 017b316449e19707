# Microsoft 365 (work or school) and Outlook.com: IMAP takes OAuth2 access
# tokens only, no passwords. Here a token helper, oama
# (https://github.com/pdobsan/oama), holds the refresh token and prints a
# fresh access token; mailtwin runs it once per run and reads its first
# line. To trade the refresh token in mailtwin itself, use an oauth2 block
# as in examples/gmail.hcl, with
#   token_url = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
#   scopes    = ["https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"]
#
# provider = "outlook" sets outlook.office365.com:993 with TLS and
# auth = "xoauth2"; a password alone is refused.
#
#   mailtwin -c examples/outlook.hcl plan

state {
  path = "./mailtwin-state"
}

account "m365" {
  provider      = "outlook"
  username      = "alice@example.org"
  token_command = ["oama", "access", "alice@example.org"]
}

account "archive" {
  host             = "imap.archive.example"
  username         = "alice"
  password_command = ["pass", "show", "mail/archive"]
}

pair "m365-archive" {
  a = "m365"
  b = "archive"

  # An archive: what arrives at work is kept, whatever happens there.
  defaults {
    direction = "a-to-b"
    deletion  = "keep"
  }

  folder "Junk Email" {
    direction = "none"
  }
}
