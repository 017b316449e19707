package imapstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailtwin/mailtwin/reconcile"
)

// maxHeader caps how much of a header block Scan reads into memory; the
// rest is skipped (a header that large is broken or hostile).
const maxHeader = 1 << 20

// Scan opens f.Mailbox and fills f.Messages, sorted by UID, with each
// message's UID, flags, size and identity. It refreshes f.UIDValidity,
// f.UIDNext and f.HighestModSeq from the SELECT, so they describe the
// state the messages were read in, and sets f.Permanent from its
// PERMANENTFLAGS (see permanent). The reads are BODY.PEEK: \Seen stays
// as it is.
//
// Identity comes from the Message-ID header and RFC822.SIZE, read with
// one streaming UID FETCH 1:*. Messages with no Message-ID (and any the
// server answered incompletely) are fetched again with their whole
// header, for a header-hash identity.
func (s *Store) Scan(ctx context.Context, f *reconcile.Folder) error {
	return s.run(ctx, fmt.Sprintf("scan %q", f.Mailbox), func() error {
		data, err := s.selectMailbox(f.Mailbox, !s.opts.ReadOnly, true)
		if err != nil {
			return err
		}
		f.Permanent = s.permanent(data)
		if data.UIDValidity != 0 {
			f.UIDValidity = data.UIDValidity
		}
		if data.UIDNext != 0 {
			f.UIDNext = reconcile.UID(data.UIDNext)
		}
		if data.HighestModSeq != 0 {
			f.HighestModSeq = data.HighestModSeq
		}
		return s.scanAll(f, data)
	})
}

// permanent returns what the mailbox whose SELECT answered data keeps of
// the flags mailtwin syncs (reconcile.Permanent), from the read-write
// selection a scan makes on a Store that may change the account: a
// server tells PERMANENTFLAGS only there (RFC 3501 answers an EXAMINE
// with none). The scan takes \Recent from other sessions, as mbsync's
// and interimap's SELECTs do; nothing else changes. The zero Permanent
// (every flag) where the answer kept every flag, had no PERMANENTFLAGS,
// or came to an EXAMINE.
// go-imap reads "PERMANENTFLAGS ()" as none at all, so a folder that
// keeps no flag is not told apart from one that did not say.
func (s *Store) permanent(data *imap.SelectData) reconcile.Permanent {
	if s.opts.ReadOnly || data.PermanentFlags == nil {
		return reconcile.Permanent{}
	}
	raw := make([]string, len(data.PermanentFlags))
	for i, f := range data.PermanentFlags {
		raw[i] = string(f)
	}
	return reconcile.NewPermanent(raw...)
}

// scanAll reads every message of the selected mailbox f, whose SELECT
// answered data, into f.Messages.
func (s *Store) scanAll(f *reconcile.Folder, data *imap.SelectData) error {
	msgs := make([]reconcile.Message, 0, data.NumMessages)
	// No FETCH 1:* on an empty mailbox: servers disagree on whether
	// that is an error.
	if data.NumMessages > 0 {
		var err error
		msgs, err = s.scanMessages(msgs, 1)
		if err != nil {
			return err
		}
	}
	setMessages(f, msgs)
	return nil
}

// setMessages sorts msgs by UID into f.Messages and keeps f.UIDNext above
// them.
func setMessages(f *reconcile.Folder, msgs []reconcile.Message) {
	slices.SortFunc(msgs, func(a, b reconcile.Message) int { return cmp.Compare(a.UID, b.UID) })
	if n := len(msgs); n > 0 && msgs[n-1].UID >= f.UIDNext {
		f.UIDNext = msgs[n-1].UID + 1
	}
	f.Messages = msgs
}

// scanMessages appends to msgs the messages of the selected mailbox from
// UID from on (FETCH from:*; a server answers n:* with the last message
// when all UIDs are below n, which is left out).
func (s *Store) scanMessages(msgs []reconcile.Message, from imap.UID) ([]reconcile.Message, error) {
	return s.readScanFetch(s.sendScanFetch(from), msgs, from)
}

// sendScanFetch sends the FETCH of scanMessages, for readScanFetch to
// read: apart, so that it can go out before the answer to an EXAMINE.
func (s *Store) sendScanFetch(from imap.UID) *imapclient.FetchCommand {
	hdr := &imap.FetchItemBodySection{
		Specifier: imap.PartSpecifierHeader,
		// The marker fields too, to leave them out of the identity
		// (see withoutMarkers); the server reads the header for the
		// Message-ID anyway.
		HeaderFields: []string{"Message-ID", "X-TUID", "X-OfflineIMAP"},
		Peek:         true,
	}
	return s.c.Fetch(imap.UIDSet{{Start: from, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{hdr},
	})
}

// readScanFetch reads the answer to sendScanFetch(from) into msgs.
func (s *Store) readScanFetch(cmd *imapclient.FetchCommand, msgs []reconcile.Message, from imap.UID) ([]reconcile.Message, error) {
	var again []imap.UID
	broken := false
	defer func() { s.closeFetch(cmd, broken) }()
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		r, err := readScanItems(m)
		if err != nil {
			broken = true
			return nil, err
		}
		if r.uid == 0 || r.uid < from {
			continue
		}
		if !r.complete() {
			// A response without all items (a unilateral FETCH taken for
			// ours, say): ask again for this one.
			again = append(again, r.uid)
			continue
		}
		_, marks := withoutMarkers(r.header)
		if id := reconcile.IdentityFromMessageID(messageID(r.header), r.size-marks); id != "" {
			msgs = append(msgs, r.message(id))
		} else {
			again = append(again, r.uid)
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	if len(again) == 0 {
		return msgs, nil
	}
	return s.scanHeaders(msgs, again)
}

// scanHeaders fetches flags, size and the whole header of uids: identity
// from a Message-ID found there, else from the header's hash. A UID that
// no longer answers is left out.
func (s *Store) scanHeaders(msgs []reconcile.Message, uids []imap.UID) ([]reconcile.Message, error) {
	cmd := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, Flags: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
	})
	broken := false
	defer func() { s.closeFetch(cmd, broken) }()
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		r, err := readScanItems(m)
		if err != nil {
			broken = true
			return nil, err
		}
		if r.uid == 0 || !r.complete() {
			continue
		}
		msgs = append(msgs, r.message(headerIdentity(r.header, r.size)))
	}
	return msgs, cmd.Close()
}

// headerIdentity is the identity of a message of size bytes whose
// header block (as read, at most maxHeader bytes) is header: from its
// first Message-ID when there is one, else the hash of the header. The
// marker fields of other sync tools count in neither (withoutMarkers).
func headerIdentity(header []byte, size int64) reconcile.Identity {
	header, marks := withoutMarkers(header)
	size -= marks
	if id := reconcile.IdentityFromMessageID(messageID(header), size); id != "" {
		return id
	}
	return reconcile.IdentityFromHeader(header, size)
}

// isMarkerField reports whether a header field named name is one that
// another sync tool adds to the messages it copies, for its own
// bookkeeping: mbsync's X-TUID (on every message it appends, Dovecot
// with UIDPLUS or not) and OfflineIMAP's X-OfflineIMAP (where the server
// has no UIDPLUS). The fields old OfflineIMAP releases named
// X-OfflineIMAP-<crc>-<hex>-<hex> are not markers here: the scan asks
// for fields by name (HEADER.FIELDS), which cannot take a prefix, and
// the scan's two paths must leave out the same fields.
func isMarkerField(name []byte) bool {
	return bytes.EqualFold(name, []byte("X-TUID")) || bytes.EqualFold(name, []byte("X-OfflineIMAP"))
}

// withoutMarkers returns header without its marker fields (see
// isMarkerField), continuation lines included, and how many bytes they
// took: header itself and 0 when it has none. Identity leaves them out,
// from the hashed header and from the size, so that a copy made by
// mbsync is the same message as its original. Otherwise a user who
// moves from mbsync to mailtwin, with both accounts in step, would have
// every message mbsync ever copied taken for new on both sides and
// copied back: each account twice its size. What follows the header's
// empty line is kept as it is.
func withoutMarkers(header []byte) ([]byte, int64) {
	var (
		kept     []byte // nil until the first marker line
		marks    int64
		skipping bool
		off      int
	)
	for line := range bytes.Lines(header) {
		start := off
		off += len(line)
		text := bytes.TrimRight(line, "\r\n")
		if len(text) == 0 {
			if kept != nil {
				kept = append(kept, header[start:]...)
			}
			break
		}
		if text[0] != ' ' && text[0] != '\t' {
			name, _, ok := bytes.Cut(text, []byte(":"))
			skipping = ok && isMarkerField(bytes.TrimSpace(name))
		}
		if !skipping {
			if kept != nil {
				kept = append(kept, line...)
			}
			continue
		}
		if kept == nil {
			kept = make([]byte, start, len(header))
			copy(kept, header[:start])
		}
		marks += int64(len(line))
	}
	if kept == nil {
		return header, 0
	}
	return kept, marks
}

type scanResult struct {
	uid                      imap.UID
	flags                    []string
	size                     int64
	header                   []byte
	hasFlags, hasSize, hasHd bool
}

func (r *scanResult) complete() bool { return r.hasFlags && r.hasSize && r.hasHd }

func (r *scanResult) message(id reconcile.Identity) reconcile.Message {
	return reconcile.Message{UID: reconcile.UID(r.uid), Flags: reconcile.NewFlags(r.flags...), ID: id, Size: r.size}
}

func readScanItems(m *imapclient.FetchMessageData) (scanResult, error) {
	var r scanResult
	for it := m.Next(); it != nil; it = m.Next() {
		switch it := it.(type) {
		case imapclient.FetchItemDataUID:
			r.uid = it.UID
		case imapclient.FetchItemDataFlags:
			r.hasFlags = true
			r.flags = make([]string, len(it.Flags))
			for i, f := range it.Flags {
				r.flags[i] = string(f)
			}
		case imapclient.FetchItemDataRFC822Size:
			r.hasSize, r.size = true, it.Size
		case imapclient.FetchItemDataBodySection:
			r.hasHd = true
			if it.Literal != nil {
				b, err := io.ReadAll(io.LimitReader(it.Literal, maxHeader))
				if err == nil && int64(len(b)) < min(it.Literal.Size(), maxHeader) {
					err = io.ErrUnexpectedEOF // the connection ended in the literal
				}
				if err != nil {
					return r, fmt.Errorf("read header of uid %d: %w", r.uid, err)
				}
				r.header = b
			}
		}
	}
	return r, nil
}

// messageID returns the value of the first Message-ID field of a header
// block (unfolded; the <...> part when there is one), or "".
func messageID(header []byte) string {
	var field []byte
	value := func() (string, bool) {
		name, v, ok := bytes.Cut(field, []byte(":"))
		if !ok || !strings.EqualFold(string(bytes.TrimSpace(name)), "Message-ID") {
			return "", false
		}
		id := strings.TrimSpace(string(v))
		if i := strings.IndexByte(id, '<'); i >= 0 {
			if j := strings.IndexByte(id[i:], '>'); j >= 0 {
				id = id[i : i+j+1]
			}
		}
		return id, true
	}
	for line := range bytes.Lines(header) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			field = append(append(field, ' '), bytes.TrimSpace(line)...)
			continue
		}
		if id, ok := value(); ok && id != "" {
			return id
		}
		if len(line) == 0 {
			return "" // end of the header
		}
		field = append(field[:0], line...)
	}
	id, _ := value()
	return id
}
