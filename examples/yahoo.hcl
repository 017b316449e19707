# Yahoo Mail, both ways with another provider. Yahoo's IMAP takes an app
# password (Account security > Generate app password).
#
# provider = "yahoo" sets imap.mail.yahoo.com:993 with TLS.
#
#   YAHOO_APP_PASSWORD=... OTHER_PASSWORD=... mailtwin -c examples/yahoo.hcl plan

state {
  path = "./mailtwin-state"
}

account "yahoo" {
  provider = "yahoo"
  username = "alice@yahoo.com"
  password = env("YAHOO_APP_PASSWORD")
}

account "other" {
  host     = "imap.other.example"
  username = "alice@other.example"
  password = env("OTHER_PASSWORD")
}

pair "yahoo-other" {
  a = "yahoo"
  b = "other"

  folder "Bulk" {
    direction = "none"
  }
}
