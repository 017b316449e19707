// Package imaptest starts throwaway IMAP servers for end-to-end tests:
// go-imap's in-memory server in-process (StartMem) and a real Dovecot on
// loopback (StartDovecot), both with users whose password is Password.
// Both runs one test body against each, as subtests "mem" and "dovecot".
//
// The Server helpers (Dial, Append, Create, Messages, Mailboxes, ...)
// speak real IMAP through imapclient on connections of their own, so a
// test can seed and inspect mailboxes independently of the code under
// test. Dial logs in anew each time; the others keep a few connections
// logged in between calls (a Dovecot login costs tens of ms), each
// given back with no mailbox selected.
// Every helper fails the test on error. Rename and RenameByCopy rename a
// folder as a user's client would, the second the way a server that
// changes UIDVALIDITY on RENAME leaves it.
//
// Record puts a proxy in front of a Server that records the commands
// clients send (never bodies or passwords), so a test can assert what
// the code under test did on the wire: Count("APPEND"), BodyFetches().
//
// Gate holds an interceptor until another command has come, for the
// tests that a client sends commands together.
//
// StartTokenServer starts an OAuth2 provider on loopback (a refresh
// grant token endpoint and an introspection endpoint, with revocation and
// refresh token rotation), and StartDovecotOAuth2 a Dovecot whose oauth2
// passdb checks the access tokens it issued, for AUTHENTICATE XOAUTH2
// and OAUTHBEARER.
//
// The Dovecot fixture needs the dovecot binary (Debian: dovecot-imapd).
// Without it the tests that ask for it are skipped, unless
// MAILTWIN_REQUIRE_DOVECOT=1 is set, which makes a missing Dovecot a
// failure (CI sets it).
//
// This package is for tests only and imports nothing of mailtwin's.
package imaptest
