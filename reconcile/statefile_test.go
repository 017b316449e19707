package reconcile_test

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mailtwin/mailtwin/reconcile"
)

// stateHeader is the fixed part of a state file before its records: the
// header line and the nine field lines, for folder INBOX on both sides.
const stateHeader = `# mailtwin state v1
folder "INBOX"
mailbox a "INBOX"
mailbox b "INBOX"
uidvalidity a 1
uidvalidity b 1795887925
uidnext a 4
uidnext b 9
modseq a 0
modseq b 17
`

// TestParseFolderRoundTrip checks that a canonical state file parses and
// formats back to the same bytes, so a run that changes nothing commits
// nothing and a run that changes three messages shows three lines.
func TestParseFolderRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name, file string
	}{
		{"no records", stateHeader},
		{"records", stateHeader +
			"- 8 - m:0011223344556677889900aa\n" +
			"~ 11 \\Seen m:77\n" +
			"1 7 \\Seen m:3fa9c1d2e4b5a6978899aabb\n" +
			"2 - $label1,\\Answered,\\Draft,\\Flagged,\\Seen h:00ff\n" +
			"3 10 $work,junk x:3\n" +
			"4 ~ - x:4\n"},
		{"one-sided folder", `# mailtwin state v1
folder "Archive/2024"
mailbox a -
mailbox b "Archive.2024"
uidvalidity a 0
uidvalidity b 7
uidnext a 0
uidnext b 3
modseq a 0
modseq b 18446744073709551615
- 1 - x:1
- 2 \Flagged x:2
`},
		{"kept one way", `# mailtwin state v2
folder "Lists"
mailbox a "Lists"
mailbox b "Lists"
uidvalidity a 3
uidvalidity b 5
uidnext a 3
uidnext b 3
modseq a 9
modseq b 12
direction a-to-b
1 1 \Seen x:1
2 2 - x:2
`},
		{"a side that refuses flags", `# mailtwin state v3
folder "Shared"
mailbox a "Shared"
mailbox b "Shared"
uidvalidity a 3
uidvalidity b 5
uidnext a 3
uidnext b 3
modseq a 9
modseq b 12
permanentflags b \Seen
1 1 $label1,\Flagged x:1
2 2 - x:2
`},
		{"both sides refuse, kept one way", `# mailtwin state v3
folder "Lists"
mailbox a "Lists"
mailbox b "Lists"
uidvalidity a 3
uidvalidity b 5
uidnext a 3
uidnext b 3
modseq a 9
modseq b 12
direction b-to-a
permanentflags a -
permanentflags b $junk \Answered \Flagged \Seen
1 1 \Seen x:1
`},
		{"keywords refused outright, and a side that keeps only some", `# mailtwin state v3
folder "INBOX"
mailbox a "INBOX"
mailbox b "INBOX"
uidvalidity a 3
uidvalidity b 5
uidnext a 3
uidnext b 3
modseq a 9
modseq b 12
permanentflags a \Flagged \Seen
refusedflags b $a-keyword-far-too-long-for-the-server-to-take-at-all $b
1 1 $a-keyword-far-too-long-for-the-server-to-take-at-all x:1
`},
		{"names that need quoting", `# mailtwin state v1
folder "Entwürfe/\"Q1\" plan"
mailbox a "Entwürfe/\"Q1\" plan"
mailbox b "Entw&APw-rfe.\"Q1\" plan\t\\"
uidvalidity a 4294967295
uidvalidity b 1
uidnext a 4294967295
uidnext b 1
modseq a 1
modseq b 2
4294967294 4294967293 - x:big
`},
		{"copies at uids not known", `# mailtwin state v1
folder "INBOX"
mailbox a "INBOX"
mailbox b "INBOX"
uidvalidity a 7
uidvalidity b 1
uidnext a 9
uidnext b 4
modseq a 0
modseq b 0
1 ? - x:1
2 ? \Seen x:2
3 3 - x:3
? 1 - x:4
? 2 - x:5
`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := reconcile.ParseFolder("f.state", []byte(tt.file))
			if err != nil {
				t.Fatalf("ParseFolder: %v", err)
			}
			if got := string(reconcile.FormatFolder(f)); got != tt.file {
				t.Errorf("FormatFolder(ParseFolder(file)):\n%s\nwant the file back:\n%s", got, tt.file)
			}
		})
	}
}

// TestParseFolderFields checks what a state file's lines mean.
func TestParseFolderFields(t *testing.T) {
	f, err := reconcile.ParseFolder("f.state", []byte(strings.Replace(stateHeader, `mailbox a "INBOX"`, "mailbox a -", 1)+
		"- 8 - m:0011223344556677889900aa\n~ 9 - m:77\n1 7 $x,\\Seen m:3fa9\n2 ~ \\Seen m:78\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := reconcile.FolderState{
		Name: "INBOX",
		A:    reconcile.SideState{UIDValidity: 1, UIDNext: 4},
		B:    reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1795887925, UIDNext: 9, HighestModSeq: 17},
		Records: []reconcile.Record{
			{UIDB: 8, ID: "m:0011223344556677889900aa"},
			{UIDB: 9, ID: "m:77", Away: true},
			{UIDA: 1, UIDB: 7, Flags: reconcile.Flags{"$x", `\Seen`}, ID: "m:3fa9"},
			{UIDA: 2, Flags: reconcile.Flags{`\Seen`}, ID: "m:78", Away: true},
		},
	}
	if !reflect.DeepEqual(normFolder(f), normFolder(want)) {
		t.Errorf("ParseFolder = %+v\nwant %+v", f, want)
	}
}

// TestParseFolderErrors checks that a bad state file is refused with the
// file and the line at fault, so that a user can find and mend it.
func TestParseFolderErrors(t *testing.T) {
	// record builds a file with the header and the given record lines;
	// the first record is line 11.
	record := func(lines ...string) string {
		return stateHeader + strings.Join(lines, "\n") + "\n"
	}
	for _, tt := range []struct {
		name, file, want string
	}{
		{"empty", "",
			`f.state:1: not a mailtwin state file: want "# mailtwin state v1"`},
		{"bad header", "# some other file\n",
			`f.state:1: not a mailtwin state file: want "# mailtwin state v1"`},
		{"header not first", "\n" + stateHeader,
			`f.state:1: not a mailtwin state file: want "# mailtwin state v1"`},
		{"unknown version", strings.Replace(stateHeader, "v1", "v4", 1),
			`f.state:1: unsupported state version "v4" (this mailtwin reads v1 to v3; upgrade mailtwin)`},
		{"v3 without a permanentflags line", strings.Replace(stateHeader, "v1", "v3", 1) + "1 1 - x:1\n",
			`f.state:11: want a "permanentflags" or "refusedflags" line for a or b (state v3)`},
		{"refusedflags unsorted", strings.Replace(stateHeader, "v1", "v3", 1) + "refusedflags b $b $a\n",
			`f.state:11: bad refusedflags "$b $a": want flags in canonical form, sorted, one space apart ("$a $b")`},
		{"refusedflags empty", strings.Replace(stateHeader, "v1", "v3", 1) + "refusedflags b \n",
			`f.state:11: bad refusedflags "": want flags in canonical form, sorted, one space apart ("")`},
		{"permanentflags and refusedflags for one side", strings.Replace(stateHeader, "v1", "v3", 1) + "permanentflags b \\Seen\nrefusedflags b $a\n",
			`f.state:12: want "<uid a> <uid b> <flags> <identity>", got "refusedflags b $a"`},
		{"permanentflags line in v1", record(`permanentflags b \Seen`),
			`f.state:11: want "<uid a> <uid b> <flags> <identity>", got "permanentflags b \\Seen"`},
		{"permanentflags that keep every flag", strings.Replace(stateHeader, "v1", "v3", 1) + "permanentflags b \\* \\Answered \\Draft \\Flagged \\Seen\n",
			`f.state:11: bad permanentflags "\\* \\Answered \\Draft \\Flagged \\Seen": keeps every flag: want the line left out`},
		{"permanentflags unsorted", strings.Replace(stateHeader, "v1", "v3", 1) + "permanentflags a \\Seen $a\n",
			`f.state:11: bad permanentflags "\\Seen $a": want canonical flags, sorted, one space apart ("$a \\Seen")`},
		{"permanentflags b before a", strings.Replace(stateHeader, "v1", "v3", 1) + "permanentflags b \\Seen\npermanentflags a \\Seen\n",
			`f.state:12: want "<uid a> <uid b> <flags> <identity>", got "permanentflags a \\Seen"`},
		{"v2 without its direction line", strings.Replace(stateHeader, "v1", "v2", 1) + "1 1 - x:1\n",
			`f.state:11: want a "direction" line, got "1 1 - x:1"`},
		{"v2 direction both", strings.Replace(stateHeader, "v1", "v2", 1) + "direction both\n",
			`f.state:11: bad direction "both": want a-to-b or b-to-a`},
		{"direction line in v1", record("direction a-to-b"),
			`f.state:11: want "<uid a> <uid b> <flags> <identity>", got "direction a-to-b"`},
		{"no final newline", strings.TrimSuffix(record("1 1 - x:1"), "\n"),
			`f.state:11: file does not end with a newline (truncated?)`},
		{"ends early", "# mailtwin state v1\nfolder \"INBOX\"\nmailbox a \"INBOX\"\n",
			`f.state:4: state file ends early: want the "mailbox b" line`},
		{"ends after the header line", "# mailtwin state v1\n",
			`f.state:2: state file ends early: want the "folder" line`},
		{"field out of order", strings.Replace(stateHeader, "uidnext a 4\nuidnext b 9\n", "uidnext b 9\nuidnext a 4\n", 1),
			`f.state:7: want a "uidnext a" line, got "uidnext b 9"`},
		{"unquoted folder", strings.Replace(stateHeader, `folder "INBOX"`, "folder INBOX", 1),
			`f.state:2: bad folder name INBOX: want a quoted name`},
		{"empty folder name", strings.Replace(stateHeader, `folder "INBOX"`, `folder ""`, 1),
			`f.state:2: bad folder name "": want a quoted name`},
		{"bad mailbox", strings.Replace(stateHeader, `mailbox b "INBOX"`, `mailbox b "INBOX`, 1),
			`f.state:4: bad mailbox "INBOX: want a quoted name or -`},
		{"bad uidvalidity", strings.Replace(stateHeader, "uidvalidity b 1795887925", "uidvalidity b 4294967296", 1),
			`f.state:6: bad uidvalidity "4294967296": want a number`},
		{"bad uidnext", strings.Replace(stateHeader, "uidnext a 4", "uidnext a -1", 1),
			`f.state:7: bad uidnext "-1": want a number`},
		{"bad modseq", strings.Replace(stateHeader, "modseq b 17", "modseq b x", 1),
			`f.state:10: bad modseq "x": want a number`},
		{"short record", record("1 1 x:1"),
			`f.state:11: want "<uid a> <uid b> <flags> <identity>", got "1 1 x:1"`},
		{"long record", record("1 1 - x:1 junk"),
			`f.state:11: want "<uid a> <uid b> <flags> <identity>", got "1 1 - x:1 junk"`},
		{"tab separated", record("1\t1\t-\tx:1"),
			`f.state:11: want "<uid a> <uid b> <flags> <identity>", got "1\t1\t-\tx:1"`},
		{"blank line", record("1 1 - x:1", "", "2 2 - x:2"),
			`f.state:12: want "<uid a> <uid b> <flags> <identity>", got ""`},
		{"zero uid", record("0 1 - x:1"),
			`f.state:11: bad uid "0": want a positive number below 4294967295, -, ~ or ?`},
		{"bad uid", record("1 b7 - x:1"),
			`f.state:11: bad uid "b7": want a positive number below 4294967295, -, ~ or ?`},
		{"the last uid, which stands for ?", record("4294967295 1 - x:1"),
			`f.state:11: bad uid "4294967295": want a positive number below 4294967295, -, ~ or ?`},
		{"unknown on both sides", record("? ? - x:1"),
			`f.state:11: ? (a uid not known) wants a uid on the other side`},
		{"unknown, and on no other side", record("? - - x:1"),
			`f.state:11: ? (a uid not known) wants a uid on the other side`},
		{"unknown, and away", record("? ~ - x:1"),
			`f.state:11: ? (a uid not known) wants a uid on the other side`},
		{"duplicate uid a", record("1 1 - x:1", "2 2 - x:2", "2 3 - x:3"),
			`f.state:13: uid a 2 appears twice`},
		{"duplicate uid b", record("- 2 - x:1", "1 2 - x:2"),
			`f.state:12: uid b 2 appears twice`},
		{"unsorted by uid a", record("2 1 - x:1", "1 2 - x:2"),
			`f.state:12: records out of order: want sorted by uid a, then uid b`},
		{"unsorted by uid b", record("- 5 - x:1", "- 3 - x:2"),
			`f.state:12: records out of order: want sorted by uid a, then uid b`},
		{"one-sided a after two-sided", record("1 1 - x:1", "- 3 - x:2"),
			`f.state:12: records out of order: want sorted by uid a, then uid b`},
		{"flags unsorted", record(`1 1 \Seen,\Flagged x:1`),
			`f.state:11: flags "\\Seen,\\Flagged" are not canonical (sorted, no duplicates, known spelling)`},
		{"flag twice", record(`1 1 \Seen,\Seen x:1`),
			`f.state:11: flags "\\Seen,\\Seen" are not canonical (sorted, no duplicates, known spelling)`},
		{"flag spelling", record(`1 1 \seen x:1`),
			`f.state:11: flags "\\seen" are not canonical (sorted, no duplicates, known spelling)`},
		{"keyword case", record(`1 1 $Work x:1`),
			`f.state:11: flags "$Work" are not canonical (sorted, no duplicates, known spelling)`},
		{"recent", record(`1 1 \Recent x:1`),
			`f.state:11: flags "\\Recent" are not canonical (sorted, no duplicates, known spelling)`},
		{"deleted flag", record(`1 1 \Deleted,\Seen x:1`),
			`f.state:11: flags "\\Deleted,\\Seen" are not canonical (sorted, no duplicates, known spelling)`},
		{"empty flag", record(`1 1 \Seen,,$x x:1`),
			`f.state:11: flags "\\Seen,,$x" are not canonical (sorted, no duplicates, known spelling)`},
		{"identity without scheme", record("1 1 - 3fa9c1d2"),
			`f.state:11: bad identity "3fa9c1d2"`},
		{"identity without hash", record("1 1 - m:"),
			`f.state:11: bad identity "m:"`},
		{"identity empty scheme", record("1 1 - :3fa9"),
			`f.state:11: bad identity ":3fa9"`},
		{"identity with control byte", record("1 1 - m:3f\x01a9"),
			`f.state:11: bad identity "m:3f\x01a9"`},
		{"record on neither side", record("1 1 - x:1", "- - - x:2"),
			`f.state:12: record is on neither side`},
		{"away from both sides", record("~ ~ - x:2"),
			`f.state:11: record is on neither side`},
		{"away and on neither side", record("- ~ - x:2"),
			`f.state:11: record is on neither side`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := reconcile.ParseFolder("f.state", []byte(tt.file))
			if err == nil {
				t.Fatalf("ParseFolder = %+v, nil; want error %q", f, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("ParseFolder error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

// TestEncodeDecodeState checks a whole state: one file per folder pair,
// named for the folder, and back.
func TestEncodeDecodeState(t *testing.T) {
	st := reconcile.State{Folders: []reconcile.FolderState{
		{
			Name:    "Archive/2024",
			A:       reconcile.SideState{Mailbox: "Archive/2024", UIDValidity: 3},
			B:       reconcile.SideState{Mailbox: "Archive.2024", UIDValidity: 9, UIDNext: 2},
			Records: []reconcile.Record{{UIDB: 1, Flags: reconcile.NewFlags(`\Seen`), ID: "x:1"}},
		},
		{
			Name:    "INBOX",
			A:       reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1},
			B:       reconcile.SideState{Mailbox: "INBOX", UIDValidity: 1},
			Records: []reconcile.Record{{UIDA: 2, UIDB: 5, ID: "x:2"}, {UIDA: 1, UIDB: 7, ID: "x:3"}}, // unsorted: Encode sorts
		},
		{Name: "Sent Items", A: reconcile.SideState{Mailbox: "Sent"}, B: reconcile.SideState{Mailbox: "Sent Items"}},
		{Name: "Ünï%code", B: reconcile.SideState{Mailbox: "&ANwAbgDv-%code"}},
	}}
	files := reconcile.EncodeState(st)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	for _, f := range st.Folders {
		n := reconcile.StateFileName(f.Name)
		if files[n] == nil {
			t.Errorf("EncodeState: no file %q for folder %q; files %q", n, f.Name, names)
		}
		if strings.Contains(n, "/") {
			t.Errorf("StateFileName(%q) = %q: not a file name", f.Name, n)
		}
	}
	if len(files) != len(st.Folders) {
		t.Errorf("EncodeState wrote %d files, want %d: %q", len(files), len(st.Folders), names)
	}
	files["README"] = []byte("not a state file") // ignored
	got, err := reconcile.DecodeState("pair", files)
	if err != nil {
		t.Fatal(err)
	}
	// The records come back sorted.
	st.Folders[1].Records[0], st.Folders[1].Records[1] = st.Folders[1].Records[1], st.Folders[1].Records[0]
	if !reflect.DeepEqual(normState(got), normState(st)) {
		t.Errorf("DecodeState(EncodeState(st)):\n%+v\nwant\n%+v", got, st)
	}
	if got, err := reconcile.DecodeState("pair", nil); err != nil || len(got.Folders) != 0 {
		t.Errorf("DecodeState of no files = %+v, %v; want an empty state", got, err)
	}
}

// TestDecodeStateErrors checks that an error names the file within the
// state repository, and that two files may not describe one folder.
func TestDecodeStateErrors(t *testing.T) {
	inbox := reconcile.FormatFolder(reconcile.FolderState{Name: "INBOX"})
	for _, tt := range []struct {
		name  string
		dir   string
		files map[string][]byte
		want  string
	}{
		{"bad file, in dir", "work-backup", map[string][]byte{"INBOX.state": inbox, "Work.state": []byte("junk\n")},
			`work-backup/Work.state:1: not a mailtwin state file: want "# mailtwin state v1"`},
		{"bad file, no dir", "", map[string][]byte{"Work.state": []byte("junk\n")},
			`Work.state:1: not a mailtwin state file: want "# mailtwin state v1"`},
		// Parsed side by side, several bad files still give the first
		// by name, whichever is parsed first.
		{"bad files, the first named", "p", manyBad(inbox),
			`p/a-00.state:1: not a mailtwin state file: want "# mailtwin state v1"`},
		{"duplicate folder", "p", map[string][]byte{"INBOX.state": inbox, "inbox-copy.state": inbox},
			`p/inbox-copy.state: folder "INBOX" is also described by p/INBOX.state`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := reconcile.DecodeState(tt.dir, tt.files)
			if err == nil {
				t.Fatalf("DecodeState = %+v, nil; want error %q", st, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("DecodeState error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

// manyBad returns 40 bad state files, a-00 to a-39, and a hundred good
// ones named after them.
func manyBad(good []byte) map[string][]byte {
	files := map[string][]byte{}
	for i := range 100 {
		files[fmt.Sprintf("z-%03d.state", i)] = bytes.Replace(good, []byte(`"INBOX"`), fmt.Appendf(nil, `"F%d"`, i), 1)
	}
	for i := range 40 {
		files[fmt.Sprintf("a-%02d.state", i)] = []byte("junk\n")
	}
	return files
}

// FuzzParseFolder checks that ParseFolder never panics, that its errors
// name the file, and that whatever it accepts formats to a file that
// parses to the same FolderState and formats to the same bytes again.
func FuzzParseFolder(f *testing.F) {
	f.Add([]byte(stateHeader))
	f.Add([]byte(stateHeader + "- 8 - m:0011223344556677889900aa\n1 7 \\Seen m:3fa9c1d2e4b5a6978899aabb\n"))
	f.Add([]byte(strings.Replace(stateHeader, `mailbox a "INBOX"`, "mailbox a -", 1) + "- 1 $x,\\Flagged x:1\n"))
	f.Add([]byte(strings.Replace(stateHeader, "v1", "v2", 1)))
	f.Add([]byte(stateHeader + "1 1 \\Seen,\\Flagged x:1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParseBoth(t, data, false)
		fs, err := reconcile.ParseFolder("f.state", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.state:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		out := reconcile.FormatFolder(fs)
		checkParseBoth(t, out, true)
		again, err := reconcile.ParseFolder("f.state", out)
		if err != nil {
			t.Fatalf("ParseFolder accepted\n%q\nbut not its own FormatFolder\n%q\n%v", data, out, err)
		}
		if !reflect.DeepEqual(normFolder(again), normFolder(fs)) {
			t.Fatalf("ParseFolder(FormatFolder(f)) = %+v\nwant %+v\ninput %q", again, fs, data)
		}
		if out2 := reconcile.FormatFolder(again); string(out2) != string(out) {
			t.Fatalf("FormatFolder is not stable:\n%q\n%q", out, out2)
		}
	})
}

// normFolder makes nil and empty lists compare equal.
func normFolder(f reconcile.FolderState) reconcile.FolderState {
	return normState(reconcile.State{Folders: []reconcile.FolderState{f}}).Folders[0]
}

// TestStateFileNameLong: a folder name too long for a file name of its
// own (255 bytes on every common file system, less the temporary file's
// extra bytes) gets a bounded name, distinct from its neighbours' and
// from any short name, and still round-trips through Encode/Decode.
// Before, a 254-letter folder synced fine and then its state could not
// be saved, run after run.
func TestStateFileNameLong(t *testing.T) {
	long := strings.Repeat("x", 254)
	names := []string{
		long, long[:253] + "y",
		strings.Repeat("Ä", 255), strings.Repeat("Ä", 254) + "Ö",
		strings.Repeat("Projekte/Kunde Ä/", 20) + "Ende",
		strings.Repeat("%", 100),                       // escapes to %25: a cut must not split it
		strings.Repeat("x", 120) + "#0123456789abcdef", // looks like a cut name
	}
	var st reconcile.State
	seen := map[string]string{}
	for _, n := range names {
		fn := reconcile.StateFileName(n)
		if len(fn) > reconcile.MaxStateFileName || strings.Contains(fn, "/") || !strings.HasSuffix(fn, ".state") {
			t.Errorf("StateFileName(%d-byte name) = %q (%d bytes), want at most %d bytes, no slash, .state", len(n), fn, len(fn), reconcile.MaxStateFileName)
		}
		if head, _, cut := strings.Cut(fn, "#"); cut && (strings.HasSuffix(head, "%") || len(head) >= 2 && head[len(head)-2] == '%') {
			t.Errorf("StateFileName split an escape: %q", fn)
		}
		if other, dup := seen[fn]; dup {
			t.Errorf("StateFileName gives %q for both %q and %q", fn, other, n)
		}
		seen[fn] = n
		st.Folders = append(st.Folders, reconcile.FolderState{Name: n, A: reconcile.SideState{Mailbox: n, UIDValidity: 1}})
	}
	files := reconcile.EncodeState(st)
	if len(files) != len(names) {
		t.Fatalf("EncodeState wrote %d files for %d folders", len(files), len(names))
	}
	got, err := reconcile.DecodeState("pair", files)
	if err != nil {
		t.Fatal(err)
	}
	var gotNames []string
	for _, f := range got.Folders {
		gotNames = append(gotNames, f.Name)
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(gotNames, want) {
		t.Errorf("DecodeState(EncodeState) folders = %q, want %q", gotNames, want)
	}
}

// TestStateMessagesSkipsUnknownUID: Messages, which status prints, counts
// a record's side only where it has a message at a known UID: not "-",
// and not "?" (UnknownUID), a copy the state does not know the UID of.
func TestStateMessagesSkipsUnknownUID(t *testing.T) {
	f, err := reconcile.ParseFolder("f.state", []byte(stateHeader+"1 1 - x:1\n2 ? - x:2\n4 - - x:4\n? 3 - x:3\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := reconcile.State{Folders: []reconcile.FolderState{f}}
	if a, b := st.Messages(reconcile.A), st.Messages(reconcile.B); a != 3 || b != 2 {
		t.Errorf("Messages = %d on a, %d on b; want 3 and 2", a, b)
	}
}
