package imapstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestMechanism: how each configured mechanism resolves against what a
// server advertises, over TLS and without. The default logs in with
// LOGIN, falls back to AUTHENTICATE PLAIN only where LOGIN is disabled
// on a TLS connection, and otherwise stops with ErrLoginDisabled; an
// explicit SASL mechanism must be advertised.
func TestMechanism(t *testing.T) {
	caps := func(cs ...string) imap.CapSet {
		set := imap.CapSet{imap.CapIMAP4rev1: {}}
		for _, c := range cs {
			set[imap.Cap(c)] = struct{}{}
		}
		return set
	}
	tests := []struct {
		name string
		auth Mechanism
		tls  Mode
		caps imap.CapSet
		want Mechanism
		err  string // a part of the error; "" for none
	}{
		{"default: LOGIN", AuthDefault, None, caps("AUTH=PLAIN"), AuthLogin, ""},
		{"default over TLS, LOGIN disabled: PLAIN", AuthDefault, Implicit, caps("LOGINDISABLED", "AUTH=PLAIN"), AuthPlain, ""},
		{"default in plain text, LOGIN disabled: no fallback", AuthDefault, None, caps("LOGINDISABLED", "AUTH=PLAIN"), 0, "(LOGINDISABLED): use TLS (implicit or starttls); it offers AUTHENTICATE PLAIN"},
		{"default over TLS, nothing for passwords", AuthDefault, StartTLS, caps("LOGINDISABLED", "AUTH=XOAUTH2"), 0, "(LOGINDISABLED) and offers no AUTHENTICATE PLAIN; it offers AUTHENTICATE XOAUTH2"},
		{"login", AuthLogin, Implicit, caps(), AuthLogin, ""},
		{"login disabled", AuthLogin, Implicit, caps("LOGINDISABLED", "AUTH=PLAIN"), 0, "(LOGINDISABLED); it offers"},
		{"plain", AuthPlain, Implicit, caps("AUTH=PLAIN"), AuthPlain, ""},
		{"plain not offered", AuthPlain, Implicit, caps("AUTH=LOGIN"), 0, "with PLAIN: the server does not offer it (its AUTHENTICATE mechanisms: LOGIN)"},
		{"xoauth2", AuthXOAuth2, Implicit, caps("AUTH=XOAUTH2", "LOGINDISABLED"), AuthXOAuth2, ""},
		{"oauthbearer not offered", AuthOAuthBearer, Implicit, caps("AUTH=XOAUTH2"), 0, "with OAUTHBEARER: the server does not offer it (its AUTHENTICATE mechanisms: XOAUTH2)"},
		{"nothing offered", AuthXOAuth2, Implicit, caps(), 0, "(its AUTHENTICATE mechanisms: none)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Store{opts: Options{Username: "alice", Auth: tt.auth, TLS: tt.tls}, addr: "imap.example:993"}
			got, err := s.mechanism(tt.caps)
			switch {
			case tt.err == "" && (err != nil || got != tt.want):
				t.Errorf("mechanism() = %v, %v; want %v", got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("mechanism() = %v, %v; want an error containing %q", got, err, tt.err)
			case tt.err != "" && strings.Contains(tt.err, "LOGINDISABLED") && !errors.Is(err, ErrLoginDisabled):
				t.Errorf("mechanism() = %v; want it to match ErrLoginDisabled", err)
			}
		})
	}
}
