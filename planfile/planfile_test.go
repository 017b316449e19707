package planfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

func TestChanged(t *testing.T) {
	base := Fingerprint{Side: reconcile.A, Mailbox: "INBOX", Exists: true, UIDValidity: 7, UIDNext: 12, Messages: 5, FlagsSHA256: "f1"}
	cond := base
	cond.FlagsSHA256, cond.HighestModSeq = "", 40
	with := func(f Fingerprint, edit func(*Fingerprint)) Fingerprint { edit(&f); return f }
	cases := []struct {
		name     string
		was, now Fingerprint
		want     string
	}{
		{"same", base, base, ""},
		{"same absent", Fingerprint{}, Fingerprint{}, ""},
		{"new message", base, with(base, func(f *Fingerprint) { f.UIDNext, f.Messages = 13, 6 }), "UIDNEXT 12 -> 13 (a new message)"},
		{"new messages", base, with(base, func(f *Fingerprint) { f.UIDNext, f.Messages = 15, 8 }), "UIDNEXT 12 -> 15 (3 new messages)"},
		{"expunge", base, with(base, func(f *Fingerprint) { f.Messages = 4; f.FlagsSHA256 = "f2" }), "messages 5 -> 4 (an expunge)"},
		{"flags without condstore", base, with(base, func(f *Fingerprint) { f.FlagsSHA256 = "f2" }), "flags changed (the digest of its messages' flags differs)"},
		{"flags with condstore", cond, with(cond, func(f *Fingerprint) { f.HighestModSeq = 41 }), "HIGHESTMODSEQ 40 -> 41 (flags changed or a message expunged)"},
		{"recreated", base, with(base, func(f *Fingerprint) { f.UIDValidity = 8 }), "UIDVALIDITY 7 -> 8 (the mailbox was made again)"},
		{"deleted", base, Fingerprint{Side: reconcile.A, Mailbox: "INBOX"}, "deleted or renamed since the plan"},
		{"created", Fingerprint{Side: reconcile.B, Mailbox: "Trash"}, with(base, func(f *Fingerprint) { f.Mailbox = "Trash" }), "created since the plan"},
		{"new and expunged", base, with(base, func(f *Fingerprint) { f.UIDNext = 13 }), "UIDNEXT 12 -> 13 (a new message)"},
	}
	for _, c := range cases {
		if got := Changed(c.was, c.now); got != c.want {
			t.Errorf("%s: Changed(%+v, %+v) = %q, want %q", c.name, c.was, c.now, got, c.want)
		}
	}
}

func TestFlagDigest(t *testing.T) {
	m := func(uid reconcile.UID, flags ...string) reconcile.Message {
		return reconcile.Message{UID: uid, Flags: reconcile.NewFlags(flags...)}
	}
	x := FlagDigest([]reconcile.Message{m(1, `\Seen`), m(2)})
	if y := FlagDigest([]reconcile.Message{m(2), m(1, `\seen`)}); x != y {
		t.Errorf("FlagDigest depends on the order or the case of system flags: %s != %s", x, y)
	}
	for _, other := range [][]reconcile.Message{
		{m(1), m(2)},
		{m(1, `\Seen`), m(2, `$label1`)},
		{m(1, `\Seen`), m(3)},
		{m(1, `\Seen`)},
	} {
		if FlagDigest(other) == x {
			t.Errorf("FlagDigest(%v) = FlagDigest of another set", other)
		}
	}
}

func TestDecode(t *testing.T) {
	good, err := Encode(&File{Config: Config{Path: "m.hcl", SHA256: "ab"}, State: NoState, Pairs: []Pair{{Pair: "p", Actions: []reconcile.Action{{Op: reconcile.Copy, Side: reconcile.B, Folder: "INBOX", Mailbox: "INBOX", SrcMailbox: "INBOX", SrcUID: 3}}, Folders: []string{"INBOX"}, Fingerprints: []Fingerprint{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !Sniff(good) {
		t.Errorf("Sniff(Encode(...)) = false")
	}
	f, err := Decode(good)
	if err != nil || f.Pairs[0].Actions[0].Op != reconcile.Copy || f.Pairs[0].Actions[0].Side != reconcile.B {
		t.Fatalf("Decode(Encode(...)) = %+v, %v", f, err)
	}
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"future", strings.Replace(string(good), `"version": 1`, `"version": 2`, 1), ErrVersion},
		{"truncated", string(good[:len(good)-20]), ErrCorrupt},
		{"other format", `{"format": "terraform", "version": 1}`, ErrCorrupt},
		{"no pairs", `{"format": "mailtwin-plan", "version": 1, "config": {"sha256": "ab"}, "state": "none"}`, ErrCorrupt},
		{"unknown field", strings.Replace(string(good), `"state"`, `"extra": 1, "state"`, 1), ErrCorrupt},
		{"bad op", strings.Replace(string(good), `"copy"`, `"teleport"`, 1), ErrCorrupt},
	}
	for _, c := range cases {
		if _, err := Decode([]byte(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: Decode = %v, want %v", c.name, err, c.want)
		}
	}
	for _, s := range []string{"", "hello", `{"pairs": []}`, `{"format": "other"}`, `["format"]`} {
		if Sniff([]byte(s)) {
			t.Errorf("Sniff(%q) = true", s)
		}
	}
}
