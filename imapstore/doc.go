// Package imapstore is one IMAP account as mailtwin's sync engine sees
// it: a reconcile.Mailstore over github.com/emersion/go-imap/v2.
//
// It owns the IMAP protocol: connecting (implicit TLS, STARTTLS or
// plain), logging in, listing folders with their UIDVALIDITY, UIDNEXT
// and HIGHESTMODSEQ, scanning a folder into UIDs, flags and identities,
// streaming message bodies, and carrying out single actions (APPEND, UID
// STORE, UID MOVE, UID EXPUNGE, CREATE, RENAME, DELETE). It decides nothing: the
// reconcile planner says what to do. It imports reconcile for types only,
// and nothing else of mailtwin's.
//
// A Store holds one connection and runs one command sequence at a time.
// go-imap takes no context; a Store makes its methods cancellable by
// closing the connection when the context is done, and bounds every
// network step with Options.Timeout through deadlines on the connection
// it dials itself. A connection lost that way (or dropped by the server)
// is re-established by the next call.
//
//	st, err := imapstore.Dial(ctx, imapstore.Options{
//		Name: "work", Addr: "imap.example.com:993",
//		Username: "alice", Password: pw,
//	})
//	if err != nil { ... }
//	defer st.Close()
//	l, err := st.List(ctx)
//
// Errors name the account, the operation and the mailbox:
// `account "work": append to "INBOX": ...`. Passwords never appear in
// errors or in the debug log.
package imapstore
