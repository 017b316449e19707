package reconcile

import (
	"fmt"
	"testing"
	"unsafe"
)

// TestCopiesCarryNoRareFields holds a first sync's plan to its memory: a
// Copy per message, and each Copy without the fields few actions set
// (Action.rareFields), which would be a third of its size. At 100,000 messages the Actions are half of a first sync's
// heap (BENCHMARKS.md, "What b1's peak RSS is made of").
func TestCopiesCarryNoRareFields(t *testing.T) {
	if size := unsafe.Sizeof(Action{}); size > 224 {
		t.Errorf("an Action takes %d bytes, want at most 224: a field every action needs belongs in Action, one only some need in actionRare", size)
	}
	a := Listing{Delim: '/'}
	for f := range 3 {
		folder := Folder{Mailbox: fmt.Sprintf("F%d", f), UIDValidity: 1, UIDNext: 11}
		for u := range 10 {
			folder.Messages = append(folder.Messages, Message{UID: UID(u + 1), Flags: NewFlags(`\Seen`), ID: Identity(fmt.Sprintf("m:%d.%d", f, u))})
		}
		a.Folders = append(a.Folders, folder)
	}
	p, err := Build("p", State{}, a, Listing{Delim: '/'}, Policy{Default: FolderPolicy{Direction: Both, Deletion: Propagate}})
	if err != nil {
		t.Fatal(err)
	}
	copies := 0
	for _, act := range p.Actions {
		if act.Op != Copy {
			continue
		}
		copies++
		if act.rareFields != nil {
			t.Errorf("%s carries %+v", act.String(), *act.rareFields)
		}
	}
	if copies != 30 {
		t.Errorf("the plan copies %d messages, want 30:\n%v", copies, p.Actions)
	}
}
