# Fastmail, both ways with a self-hosted server. Fastmail's IMAP takes an
# app password (Settings > Privacy & Security > Manage app passwords,
# with IMAP access).
#
# provider = "fastmail" sets imap.fastmail.com:993 with TLS.
#
#   FASTMAIL_APP_PASSWORD=... HOME_PASSWORD=... mailtwin -c examples/fastmail.hcl plan

state {
  path = "./mailtwin-state"
}

account "fastmail" {
  provider = "fastmail"
  username = "alice@fastmail.com"
  password = env("FASTMAIL_APP_PASSWORD")
}

account "home" {
  host     = "mail.home.example"
  port     = 143
  tls      = "starttls"
  username = "alice"
  password = env("HOME_PASSWORD")
}

pair "fastmail-home" {
  a = "fastmail"
  b = "home"

  defaults {
    direction = "both"
    deletion  = "trash"
  }
}
