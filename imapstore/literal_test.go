package imapstore

import (
	"errors"
	"io"
	"testing"
)

// readsAfterEnd counts the reads it gets after it said the literal ended
// or failed: each one, on go-imap's literal of a dead connection, races
// with its reader goroutine.
type readsAfterEnd struct {
	data  []byte
	fail  error // returned after data; nil means io.EOF
	ended bool
	late  int
}

func (r *readsAfterEnd) Read(p []byte) (int, error) {
	if r.ended {
		r.late++
		return 0, io.EOF
	}
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	r.ended = true
	if r.fail != nil {
		return 0, r.fail
	}
	return 0, io.EOF
}

// TestOnceFailing: a literal that fails, or ends before its size, is
// never read again, whatever its reader and the drain after it do; the
// failure (io.ErrUnexpectedEOF for an early end) is kept and returned on
// every later Read. A whole literal ends with io.EOF as usual.
func TestOnceFailing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		r       *readsAfterEnd
		size    int64
		wantErr error
	}{
		{"whole", &readsAfterEnd{data: []byte("12345")}, 5, nil},
		{"ends early", &readsAfterEnd{data: []byte("123")}, 5, io.ErrUnexpectedEOF},
		{"fails", &readsAfterEnd{data: []byte("123"), fail: errors.New("connection reset")}, 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &onceFailing{r: tc.r, size: tc.size}
			_, err1 := io.ReadAll(o)
			_, err2 := io.Copy(io.Discard, o) // the drain
			_, err3 := o.Read(make([]byte, 8))
			if tc.r.late != 0 {
				t.Errorf("the literal was read %d times after it ended", tc.r.late)
			}
			want := tc.wantErr
			if tc.r.fail != nil {
				want = tc.r.fail
			}
			if want == nil {
				if err1 != nil || err2 != nil || err3 != io.EOF {
					t.Errorf("errors %v, %v, %v; want nil, nil, EOF", err1, err2, err3)
				}
				return
			}
			if !errors.Is(err1, want) || !errors.Is(err2, want) || !errors.Is(err3, want) || o.err == nil {
				t.Errorf("errors %v, %v, %v (kept %v); want %v each time", err1, err2, err3, o.err, want)
			}
		})
	}
}
