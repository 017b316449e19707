# The configuration of examples/kubernetes-cronjob.yaml, which mounts it
# from a ConfigMap at /etc/mailtwin/mailtwin.hcl (keep the two the same;
# a test checks they are). Every pod clones the state from the remote
# into an emptyDir, syncs its shard of the pairs and pushes.

state {
  path         = "/var/lib/mailtwin/state"
  remote       = "https://git.example.com/ops/mail-state.git"
  token_env    = "MAILTWIN_STATE_TOKEN"
  lock_max_age = "30m"
}

account "alice-work" {
  host     = "imap.example.com"
  username = "alice@example.com"
  password = env("ALICE_WORK_PASSWORD")
}

account "alice-backup" {
  host     = "imap.backup.example"
  username = "alice"
  password = env("ALICE_BACKUP_PASSWORD")
}

account "bob-work" {
  host     = "imap.example.com"
  username = "bob@example.com"
  password = env("BOB_WORK_PASSWORD")
}

account "bob-backup" {
  host     = "imap.backup.example"
  username = "bob"
  password = env("BOB_BACKUP_PASSWORD")
}

account "carol-work" {
  host     = "imap.example.com"
  username = "carol@example.com"
  password = env("CAROL_WORK_PASSWORD")
}

account "carol-backup" {
  host     = "imap.backup.example"
  username = "carol"
  password = env("CAROL_BACKUP_PASSWORD")
}

pair "alice" {
  a = "alice-work"
  b = "alice-backup"
}

pair "bob" {
  a = "bob-work"
  b = "bob-backup"
}

pair "carol" {
  a = "carol-work"
  b = "carol-backup"
}
