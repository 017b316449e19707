package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// StateHeader is the first line of a state file.
const StateHeader = "# mailtwin state v1"

// StateHeaderOneWay is the first line of the state file of a folder pair
// kept one way (FolderState.Direction): after the "modseq" lines it has
// a "direction" line, which a mailtwin that reads v1 only does not
// know, and says so.
const StateHeaderOneWay = "# mailtwin state v2"

// StateHeaderPermanent is the first line of the state file of a folder
// pair with a side that refuses flags (SideState.Permanent): after the
// "modseq" lines, and the "direction" line where there is one, it has a
// line per such side, which a mailtwin that reads v1 and v2 only does
// not know, and says so: "permanentflags" with what the folder keeps,
// where its PERMANENTFLAGS limit it, or "refusedflags" with the flags
// the server refused outright, where they do not.
const StateHeaderPermanent = "# mailtwin state v3"

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
// the message is not on by agreement and for no flags, "~" for a side it
// is not on because that side lacked the folder when it came in (Record.
// Away), "?" for a side whose copy is at a UID the state does not know
// (UnknownUID); records are sorted by uid a, then uid b. "mailbox X -"
// marks a side the folder is not on. A folder pair kept one way has the
// header StateHeaderOneWay and a "direction a-to-b" (or "b-to-a") line
// after the "modseq" lines.
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
	b.Grow(64 * (len(f.Records) + 11))
	switch {
	case !f.A.Permanent.All() || !f.B.Permanent.All():
		b.WriteString(StateHeaderPermanent + "\n")
	case f.Direction == Both:
		b.WriteString(StateHeader + "\n")
	default:
		b.WriteString(StateHeaderOneWay + "\n")
	}
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
	if f.Direction != Both {
		fmt.Fprintf(&b, "direction %s\n", f.Direction)
	}
	for _, s := range []Side{A, B} {
		switch p := f.Side(s).Permanent; {
		case p.Limited():
			fmt.Fprintf(&b, "permanentflags %s %s\n", s, p)
		case !p.All():
			fmt.Fprintf(&b, "refusedflags %s %s\n", s, strings.Join(p.Refused(), " "))
		}
	}
	recs := f.Records
	if !slices.IsSortedFunc(recs, compareRecords) {
		recs = slices.Clone(recs)
		sortRecords(recs)
	}
	line := b.AvailableBuffer()
	for _, r := range recs {
		line = appendUID(line, r.UIDA, r.Away)
		line = append(line, ' ')
		line = appendUID(line, r.UIDB, r.Away)
		line = append(line, ' ')
		if len(r.Flags) == 0 {
			line = append(line, '-')
		}
		for i, fl := range r.Flags {
			if i > 0 {
				line = append(line, ',')
			}
			line = append(line, fl...)
		}
		line = append(line, ' ')
		line = append(line, r.ID...)
		line = append(line, '\n')
	}
	b.Write(line)
	return b.Bytes()
}

// appendUID writes a record's UID on one side: "-" for none, "~" for
// none on a record Away.
func appendUID(b []byte, u UID, away bool) []byte {
	if u == UnknownUID {
		return append(b, '?')
	}
	if u == 0 && away {
		return append(b, '~')
	}
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
	pathOf := func(n string) string {
		if dir != "" {
			return dir + "/" + n
		}
		return n
	}
	// The files are parsed side by side, one worker per core: at
	// 100,000 messages parsing is a quarter of a no-op run's CPU, and
	// the run waits for it. The first error in name order is the one
	// reported, as when they were parsed one by one.
	folders := make([]FolderState, len(names))
	errs := make([]error, len(names))
	var next atomic.Int32
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(names)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(names); i = int(next.Add(1)) - 1 {
				folders[i], errs[i] = ParseFolder(pathOf(names[i]), files[names[i]])
			}
		})
	}
	wg.Wait()
	var st State
	seen := map[string]string{}
	for i, n := range names {
		path := pathOf(n)
		f, err := folders[i], errs[i]
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
	if f, ok := parseFolderFast(data); ok {
		return f, nil
	}
	return parseFolder(filename, data)
}

// stateHeaderLines is the number of lines before the first record: one
// more in a file with StateHeaderOneWay.
const stateHeaderLines = 10

// parseFolderFast parses a well-formed state file with few allocations:
// the file is made a string once and every record's identity is a slice
// of it, records with the same flags share one Flags (cap == len, so an
// append copies), and duplicate UIDs are found by order and one sort
// instead of two maps. It gives exactly what parseFolder gives, and
// gives up (ok false) on anything parseFolder might reject, which then
// says what is wrong.
func parseFolderFast(data []byte) (f FolderState, ok bool) {
	text := string(data)
	if strings.HasPrefix(text, StateHeaderPermanent+"\n") {
		return f, false // rare: the plain parser reads its header
	}
	end := 0
	lines := stateHeaderLines
	if strings.HasPrefix(text, StateHeaderOneWay+"\n") {
		lines++
	}
	for range lines {
		i := strings.IndexByte(text[end:], '\n')
		if i < 0 {
			return f, false
		}
		end += i + 1
	}
	f, err := parseFolder("", data[:end])
	if err != nil {
		return f, false
	}
	recs := text[end:]
	f.Records = make([]Record, 0, strings.Count(recs, "\n"))
	interned := map[string]Flags{}
	var uidsB []UID
	var prev Record
	for len(recs) > 0 {
		nl := strings.IndexByte(recs, '\n')
		if nl < 0 {
			return f, false
		}
		line := recs[:nl]
		recs = recs[nl+1:]
		var fields [4]string
		for k := range 3 {
			sp := strings.IndexByte(line, ' ')
			if sp < 0 {
				return f, false
			}
			fields[k], line = line[:sp], line[sp+1:]
		}
		fields[3] = line
		var r Record
		var okA, okB bool
		if fields[0] == "~" || fields[1] == "~" {
			r.Away = true
		}
		if r.UIDA, okA = parseRecordUID(fields[0]); !okA {
			return f, false
		}
		if r.UIDB, okB = parseRecordUID(fields[1]); !okB {
			return f, false
		}
		if r.UIDA == 0 && r.UIDB == 0 {
			return f, false
		}
		fl, seen := interned[fields[2]]
		if !seen {
			switch fields[2] {
			case "":
				return f, false
			case "-":
			default:
				fl = NewFlags(strings.Split(fields[2], ",")...)
				if strings.Join(fl, ",") != fields[2] {
					return f, false
				}
				fl = fl[:len(fl):len(fl)]
			}
			interned[fields[2]] = fl
		}
		r.Flags = fl
		if !validIdentity(fields[3]) {
			return f, false
		}
		r.ID = Identity(fields[3])
		if len(f.Records) > 0 {
			// Sorted by uid a, then uid b; records under one uid a are
			// next to each other, so a duplicate uid a is the previous
			// record's.
			if !(prev.UIDA < r.UIDA || prev.UIDA == r.UIDA && prev.UIDB < r.UIDB) || r.UIDA != 0 && r.UIDA == prev.UIDA {
				return f, false
			}
		}
		if r.UIDB != 0 {
			uidsB = append(uidsB, r.UIDB)
		}
		f.Records = append(f.Records, r)
		prev = r
	}
	if !slices.IsSorted(uidsB) {
		slices.Sort(uidsB)
	}
	for i := 1; i < len(uidsB); i++ {
		if uidsB[i] == uidsB[i-1] {
			return f, false
		}
	}
	if len(f.Records) == 0 {
		f.Records = nil
	}
	return f, true
}

// parseRecordUID parses a record's UID field as parseFolder accepts it:
// "-" or "~" (0), or a positive number without leading zeros below
// UnknownUID. It refuses "?" (UnknownUID), which parseFolder reads: such
// records are rare, and the plain parser checks them.
func parseRecordUID(s string) (UID, bool) {
	if s == "-" || s == "~" {
		return 0, true
	}
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n >= uint64(UnknownUID) {
		return 0, false
	}
	return UID(n), true
}

// parseFolder is ParseFolder the plain way: every line split and
// checked in turn, so that an error names the line.
func parseFolder(filename string, data []byte) (FolderState, error) {
	var f FolderState
	lines := strings.Split(string(data), "\n")
	if len(lines) == 0 || lines[len(lines)-1] != "" {
		return f, fmt.Errorf("%s:%d: file does not end with a newline (truncated?)", filename, len(lines))
	}
	lines = lines[:len(lines)-1]
	fail := func(i int, format string, args ...any) (FolderState, error) {
		return FolderState{}, fmt.Errorf("%s:%d: %s", filename, i+1, fmt.Sprintf(format, args...))
	}
	if len(lines) == 0 || lines[0] != StateHeader && lines[0] != StateHeaderOneWay && lines[0] != StateHeaderPermanent {
		if len(lines) > 0 && strings.HasPrefix(lines[0], "# mailtwin state ") {
			return fail(0, "unsupported state version %q (this mailtwin reads v1 to v3; upgrade mailtwin)", strings.TrimPrefix(lines[0], "# mailtwin state "))
		}
		return fail(0, "not a mailtwin state file: want %q", StateHeader)
	}
	header := []string{"folder", "mailbox a", "mailbox b", "uidvalidity a", "uidvalidity b", "uidnext a", "uidnext b", "modseq a", "modseq b"}
	if lines[0] == StateHeaderOneWay || lines[0] == StateHeaderPermanent && len(lines) > 10 && strings.HasPrefix(lines[10], "direction ") {
		header = append(header, "direction")
	}
	if lines[0] == StateHeaderPermanent {
		// One line per side that refuses flags, a before b; at least
		// one: permanentflags for what a folder keeps, refusedflags for
		// what the server refused of all.
		n := len(header)
		for _, s := range []string{" a", " b"} {
			for _, key := range []string{"permanentflags" + s, "refusedflags" + s} {
				if n := 1 + len(header); len(lines) > n && strings.HasPrefix(lines[n], key+" ") {
					header = append(header, key)
					break
				}
			}
		}
		if len(header) == n {
			return fail(min(len(lines)-1, 1+len(header)), "want a \"permanentflags\" or \"refusedflags\" line for a or b (state v3)")
		}
	}
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
		case strings.HasPrefix(key, "permanentflags"):
			p, err := parsePermanent(val)
			if err != nil {
				return fail(1+i, "bad permanentflags %q: %v", val, err)
			}
			side.Permanent = p
		case strings.HasPrefix(key, "refusedflags"):
			p := Refusing(strings.Split(val, " ")...)
			if p.All() || strings.Join(p.Refused(), " ") != val {
				return fail(1+i, "bad refusedflags %q: want flags in canonical form, sorted, one space apart (%q)", val, strings.Join(p.Refused(), " "))
			}
			side.Permanent = p
		case key == "direction":
			d, err := ParseDirection(val)
			if err != nil || d != AToB && d != BToA {
				return fail(1+i, "bad direction %q: want a-to-b or b-to-a", val)
			}
			f.Direction = d
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
			if fields[s] == "~" {
				r.Away = true
				continue
			}
			if fields[s] == "?" {
				// At a UID the state does not know: several may be.
				r.setUID(Side(s), UnknownUID)
				continue
			}
			n, err := strconv.ParseUint(fields[s], 10, 32)
			if err != nil || n == 0 || fields[s][0] == '0' || n == uint64(UnknownUID) {
				return fail(i, "bad uid %q: want a positive number below %d, -, ~ or ?", fields[s], UnknownUID)
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
		if (r.UIDA == UnknownUID || r.UIDB == UnknownUID) && (r.Away || r.UIDA == 0 || r.UIDB == 0 || r.UIDA == r.UIDB) {
			return fail(i, "? (a uid not known) wants a uid on the other side")
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
	// Bytes, not runes: the bytes refused are ASCII, and every byte of
	// a multi-byte character is above them.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// parsePermanent parses a "permanentflags" line's value as
// Permanent.String writes it: the flags the folder keeps, in canonical
// form, sorted, space-separated; "-" for none.
func parsePermanent(val string) (Permanent, error) {
	if val == "-" {
		return NewPermanent(), nil
	}
	fields := strings.Split(val, " ")
	p := NewPermanent(fields...)
	if p.All() {
		return Permanent{}, fmt.Errorf("keeps every flag: want the line left out")
	}
	if p.String() != val {
		return Permanent{}, fmt.Errorf("want canonical flags, sorted, one space apart (%q)", p.String())
	}
	return p, nil
}
