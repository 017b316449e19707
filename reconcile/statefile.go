package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// StateHeader is the first line of every state file.
const StateHeader = "# mailtwin state v1"

// MaxStateFileName is the longest name StateFileName gives. File systems
// allow 255 bytes, and gitstate writes each file through a temporary one
// named "." + name + ".tmp" + a random number.
const MaxStateFileName = 200

// StateFileName is the file a folder pair's state is kept in, relative
// to the pair's directory: the logical name, path-escaped, plus ".state".
//
// A name that would be longer than MaxStateFileName (a folder of 40
// accented letters is: each escapes to six bytes) is cut, and a hash of
// the whole name added after a "#", which path-escaping never leaves in
// a name, so a cut name never equals another folder's. The file's
// content names its folder; the file name is only a key.
func StateFileName(folder string) string {
	esc := url.PathEscape(folder)
	if len(esc)+len(".state") <= MaxStateFileName {
		return esc + ".state"
	}
	keep := 120
	if i := strings.LastIndexByte(esc[:keep], '%'); i >= keep-2 {
		keep = i // do not split an escape
	}
	sum := sha256.Sum256([]byte(folder))
	return esc[:keep] + "#" + hex.EncodeToString(sum[:8]) + ".state"
}

// EncodeState renders st as one text file per folder pair, keyed by
// StateFileName. The format is line-oriented and sorted so a run's commit
// diff shows exactly the records that changed:
//
//	# mailtwin state v1
//	folder "INBOX"
//	mailbox a "INBOX"
//	mailbox b "INBOX"
//	uidvalidity a 1
//	uidvalidity b 1795887925
//	uidnext a 4
//	uidnext b 9
//	modseq a 0
//	modseq b 17
//	1 7 \Seen m:3fa9c1d2e4b5a6978899aabb
//	- 8 - m:0011223344556677889900aa
//
// A record line is "<uid a> <uid b> <flags> <identity>", "-" for a side
// the message is not on by agreement and for no flags; records are sorted
// by uid a, then uid b. "mailbox X -" marks a side the folder is not on.
func EncodeState(st State) map[string][]byte {
	out := make(map[string][]byte, len(st.Folders))
	for _, f := range st.Folders {
		out[StateFileName(f.Name)] = FormatFolder(f)
	}
	return out
}

// FormatFolder renders one folder pair's state file.
func FormatFolder(f FolderState) []byte {
	var b bytes.Buffer
	b.Grow(64 * (len(f.Records) + 10))
	b.WriteString(StateHeader + "\n")
	fmt.Fprintf(&b, "folder %q\n", f.Name)
	for _, s := range []Side{A, B} {
		if mb := f.Side(s).Mailbox; mb != "" {
			fmt.Fprintf(&b, "mailbox %s %q\n", s, mb)
		} else {
			fmt.Fprintf(&b, "mailbox %s -\n", s)
		}
	}
	for _, s := range []Side{A, B} {
		fmt.Fprintf(&b, "uidvalidity %s %d\n", s, f.Side(s).UIDValidity)
	}
	for _, s := range []Side{A, B} {
		fmt.Fprintf(&b, "uidnext %s %d\n", s, f.Side(s).UIDNext)
	}
	for _, s := range []Side{A, B} {
		fmt.Fprintf(&b, "modseq %s %d\n", s, f.Side(s).HighestModSeq)
	}
	recs := append([]Record(nil), f.Records...)
	sortRecords(recs)
	var line []byte
	for _, r := range recs {
		line = appendUID(line[:0], r.UIDA)
		line = append(line, ' ')
		line = appendUID(line, r.UIDB)
		line = append(line, ' ')
		line = append(line, r.Flags.String()...)
		line = append(line, ' ')
		line = append(line, r.ID...)
		line = append(line, '\n')
		b.Write(line)
	}
	return b.Bytes()
}

func appendUID(b []byte, u UID) []byte {
	if u == 0 {
		return append(b, '-')
	}
	return strconv.AppendUint(b, uint64(u), 10)
}

// DecodeState parses the files EncodeState wrote. Names in errors are
// prefixed with dir, so a user sees which file of the state repo is bad.
func DecodeState(dir string, files map[string][]byte) (State, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.HasSuffix(n, ".state") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var st State
	seen := map[string]string{}
	for _, n := range names {
		path := n
		if dir != "" {
			path = dir + "/" + n
		}
		f, err := ParseFolder(path, files[n])
		if err != nil {
			return State{}, err
		}
		if other, dup := seen[f.Name]; dup {
			return State{}, fmt.Errorf("%s: folder %q is also described by %s", path, f.Name, other)
		}
		seen[f.Name] = path
		st.Folders = append(st.Folders, f)
	}
	sort.Slice(st.Folders, func(i, j int) bool { return st.Folders[i].Name < st.Folders[j].Name })
	return st, nil
}

// ParseFolder parses one state file strictly: an unknown version, a
// missing or misplaced header line, a malformed, duplicate or unsorted
// record are errors of the form "FILE:LINE: what is wrong".
func ParseFolder(filename string, data []byte) (FolderState, error) {
	var f FolderState
	lines := strings.Split(string(data), "\n")
	if len(lines) == 0 || lines[len(lines)-1] != "" {
		return f, fmt.Errorf("%s:%d: file does not end with a newline (truncated?)", filename, len(lines))
	}
	lines = lines[:len(lines)-1]
	fail := func(i int, format string, args ...any) (FolderState, error) {
		return FolderState{}, fmt.Errorf("%s:%d: %s", filename, i+1, fmt.Sprintf(format, args...))
	}
	if len(lines) == 0 || lines[0] != StateHeader {
		if len(lines) > 0 && strings.HasPrefix(lines[0], "# mailtwin state ") {
			return fail(0, "unsupported state version %q (this mailtwin reads v1; upgrade mailtwin)", strings.TrimPrefix(lines[0], "# mailtwin state "))
		}
		return fail(0, "not a mailtwin state file: want %q", StateHeader)
	}
	header := []string{"folder", "mailbox a", "mailbox b", "uidvalidity a", "uidvalidity b", "uidnext a", "uidnext b", "modseq a", "modseq b"}
	if len(lines) < 1+len(header) {
		return fail(len(lines), "state file ends early: want the %q line", header[min(len(lines)-1, len(header)-1)])
	}
	for i, key := range header {
		ln := lines[1+i]
		val, ok := strings.CutPrefix(ln, key+" ")
		if !ok {
			return fail(1+i, "want a %q line, got %q", key, ln)
		}
		var side *SideState
		if strings.HasSuffix(key, " a") {
			side = &f.A
		} else if strings.HasSuffix(key, " b") {
			side = &f.B
		}
		switch {
		case key == "folder":
			name, err := unquote(val)
			if err != nil || name == "" {
				return fail(1+i, "bad folder name %s: want a quoted name", val)
			}
			f.Name = name
		case strings.HasPrefix(key, "mailbox"):
			if val == "-" {
				break
			}
			name, err := unquote(val)
			if err != nil || name == "" {
				return fail(1+i, "bad mailbox %s: want a quoted name or -", val)
			}
			side.Mailbox = name
		case strings.HasPrefix(key, "uidvalidity"):
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return fail(1+i, "bad uidvalidity %q: want a number", val)
			}
			side.UIDValidity = uint32(n)
		case strings.HasPrefix(key, "uidnext"):
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return fail(1+i, "bad uidnext %q: want a number", val)
			}
			side.UIDNext = UID(n)
		case strings.HasPrefix(key, "modseq"):
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return fail(1+i, "bad modseq %q: want a number", val)
			}
			side.HighestModSeq = n
		}
	}
	var prev *Record
	seen := [2]map[UID]bool{{}, {}}
	for i := 1 + len(header); i < len(lines); i++ {
		fields := strings.Split(lines[i], " ")
		if len(fields) != 4 {
			return fail(i, "want \"<uid a> <uid b> <flags> <identity>\", got %q", lines[i])
		}
		var r Record
		for s := range 2 {
			if fields[s] == "-" {
				continue
			}
			n, err := strconv.ParseUint(fields[s], 10, 32)
			if err != nil || n == 0 || fields[s][0] == '0' {
				return fail(i, "bad uid %q: want a positive number or -", fields[s])
			}
			if seen[s][UID(n)] {
				return fail(i, "uid %s %d appears twice", Side(s), n)
			}
			seen[s][UID(n)] = true
			r.setUID(Side(s), UID(n))
		}
		if r.UIDA == 0 && r.UIDB == 0 {
			return fail(i, "record is on neither side")
		}
		if fields[2] == "" {
			return fail(i, "empty flags field: want - for no flags")
		}
		if fields[2] != "-" {
			raw := strings.Split(fields[2], ",")
			r.Flags = NewFlags(raw...)
			if strings.Join(r.Flags, ",") != fields[2] {
				return fail(i, "flags %q are not canonical (sorted, no duplicates, known spelling)", fields[2])
			}
		}
		if !validIdentity(fields[3]) {
			return fail(i, "bad identity %q", fields[3])
		}
		r.ID = Identity(fields[3])
		if prev != nil && !(prev.UIDA < r.UIDA || (prev.UIDA == r.UIDA && prev.UIDB < r.UIDB)) {
			return fail(i, "records out of order: want sorted by uid a, then uid b")
		}
		f.Records = append(f.Records, r)
		prev = &f.Records[len(f.Records)-1]
	}
	return f, nil
}

// unquote reads a name written with %q: double quotes only, and only in
// the canonical spelling, so Format(Parse(b)) == b.
func unquote(s string) (string, error) {
	name, err := strconv.Unquote(s)
	if err != nil || !strings.HasPrefix(s, `"`) || strconv.Quote(name) != s {
		return "", fmt.Errorf("not a canonical quoted name")
	}
	return name, nil
}

func validIdentity(s string) bool {
	scheme, hash, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || hash == "" {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
