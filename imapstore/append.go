package imapstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailtwin/mailtwin/reconcile"
)

// Append stores size bytes of body in mailbox with flags and internal
// date (the zero time lets the server choose) and reports the new UID:
// from APPENDUID where the server has UIDPLUS; else UIDNEXT before the
// APPEND and a UID SEARCH after it, and UID 0 when that is ambiguous
// (someone else appended at the same time).
//
// If body fails or ends early, the half-sent message cannot be taken
// back: the connection is closed (the server discards the APPEND) and
// the next call reconnects.
func (s *Store) Append(ctx context.Context, mailbox string, flags reconcile.Flags, date time.Time, size int64, body io.Reader) (reconcile.Appended, error) {
	var out reconcile.Appended
	err := s.mutate(ctx, fmt.Sprintf("append to %q", mailbox), func() error {
		uidplus := s.caps.Has(imap.CapUIDPlus)
		var before *imap.StatusData
		if !uidplus {
			var err error
			before, err = s.c.Status(mailbox, &imap.StatusOptions{UIDNext: true, UIDValidity: true}).Wait()
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
		}

		cmd := s.c.Append(mailbox, size, &imap.AppendOptions{Flags: imapFlags(flags), Time: date})
		src := &readErr{r: body}
		n, werr := copyBody(cmd, src, size)
		if src.err != nil || (werr != nil && errors.Is(werr, io.EOF)) {
			// The literal is cut short; the only way out is to drop the
			// connection.
			s.conn.abort()
			cmd.Close()
			cmd.Wait()
			rerr := src.err
			if rerr == nil {
				rerr = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read the message after %d of %d bytes: %w", n, size, rerr)
		}
		cerr := cmd.Close()
		data, err := cmd.Wait()
		if err != nil {
			return err // the server's NO beats a write error it caused
		}
		if werr != nil {
			return werr
		}
		if cerr != nil {
			return cerr
		}
		if data.UID != 0 {
			out = reconcile.Appended{UIDValidity: data.UIDValidity, UID: reconcile.UID(data.UID)}
			return nil
		}
		if before == nil {
			return nil // UIDPLUS announced but no APPENDUID: UID unknown
		}
		uid, validity, err := s.findAppended(mailbox, before)
		if err != nil {
			return err
		}
		out = reconcile.Appended{UIDValidity: validity, UID: uid}
		return nil
	})
	return out, err
}

// copyBuffers holds the buffers that message bodies are copied through,
// so that a copy of many messages does not allocate one per message.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// copyBody copies size bytes from src to dst as io.CopyN does (io.EOF
// if src ends early), through a pooled buffer.
func copyBody(dst io.Writer, src io.Reader, size int64) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	n, err := io.CopyBuffer(dst, io.LimitReader(src, size), *buf)
	if n < size && err == nil {
		err = io.EOF
	}
	return n, err
}

// findAppended finds the UID of a message just appended without UIDPLUS:
// the only message at or above the UIDNEXT from before the APPEND.
func (s *Store) findAppended(mailbox string, before *imap.StatusData) (reconcile.UID, uint32, error) {
	data, err := s.selectMailbox(mailbox, false, true)
	if err != nil {
		return 0, 0, err
	}
	if before.UIDValidity != 0 && data.UIDValidity != before.UIDValidity {
		return 0, data.UIDValidity, nil
	}
	next := before.UIDNext
	if next == 0 {
		next = 1
	}
	res, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{{Start: next, Stop: 0}}}}, nil).Wait()
	if err != nil {
		return 0, 0, fmt.Errorf("search the appended message: %w", err)
	}
	// "n:*" always matches the highest UID, even one below n.
	var found []imap.UID
	for _, u := range res.AllUIDs() {
		if u >= next {
			found = append(found, u)
		}
	}
	if len(found) != 1 {
		return 0, data.UIDValidity, nil
	}
	return reconcile.UID(found[0]), data.UIDValidity, nil
}

// readErr remembers the error of the reader it wraps, to tell a failing
// message source from a failing connection.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
