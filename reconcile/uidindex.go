package reconcile

// The planner looks messages up by UID several times per base record.
// A folder's UIDs are nearly always a dense range (a server hands them
// out in order and expunges leave holes, not a spread), so the lookups
// index a slice by UID offset instead of hashing: building a Go map of
// a 5,000-message folder cost more than every lookup made in it, and
// maps were half of Build's time on 100,000 messages (BenchmarkBuild).
// A folder whose UIDs are spread far apart gets a map, as before.

// denseFactor bounds the slots a dense index or set may have per UID
// it holds, beyond denseSlack: above it, a map.
const (
	denseFactor = 4
	denseSlack  = 1024
)

// uidIndex finds a folder's listed messages by UID: the last one for a
// UID listed twice. The zero value (and nil) finds nothing.
type uidIndex struct {
	lo UID
	// dense[u-lo] is 1 + the index in msgs of u's message, 0 for none.
	dense []int32
	msgs  []Message
	// sparse is used where the UIDs are too spread for dense.
	sparse map[UID]*Message
}

// newUIDIndex indexes msgs, which it keeps (and does not change).
func newUIDIndex(msgs []Message) *uidIndex {
	x := &uidIndex{msgs: msgs}
	if len(msgs) == 0 {
		return x
	}
	lo, hi := msgs[0].UID, msgs[0].UID
	for i := range msgs {
		lo, hi = min(lo, msgs[i].UID), max(hi, msgs[i].UID)
	}
	if span := uint64(hi-lo) + 1; span <= denseFactor*uint64(len(msgs))+denseSlack {
		x.lo, x.dense = lo, make([]int32, span)
		for i := range msgs {
			x.dense[msgs[i].UID-lo] = int32(i) + 1
		}
		return x
	}
	x.sparse = make(map[UID]*Message, len(msgs))
	for i := range msgs {
		x.sparse[msgs[i].UID] = &msgs[i]
	}
	return x
}

// get returns the message at UID u, nil if there is none.
func (x *uidIndex) get(u UID) *Message {
	switch {
	case x == nil:
		return nil
	case x.sparse != nil:
		return x.sparse[u]
	case u < x.lo || uint64(u-x.lo) >= uint64(len(x.dense)):
		return nil
	}
	if i := x.dense[u-x.lo]; i != 0 {
		return &x.msgs[i-1]
	}
	return nil
}

// uidSet is a set of UIDs: a bitmap over their range, or a map where
// they are too spread. The zero value is an empty set, and so is nil
// (to read only).
type uidSet struct {
	lo   UID
	bits []uint64
	// sparse is used where the UIDs are too spread for bits.
	sparse map[UID]struct{}
}

// newUIDSet returns an empty set for UIDs in [lo, hi], of which about n
// are added. A UID outside the range may be added too: the set turns
// into a map.
func newUIDSet(lo, hi UID, n int) *uidSet {
	s := &uidSet{}
	if hi < lo {
		return s
	}
	if span := uint64(hi-lo) + 1; span <= 64*(denseFactor*uint64(n)+denseSlack) {
		s.lo, s.bits = lo, make([]uint64, (span+63)/64)
		return s
	}
	s.sparse = make(map[UID]struct{}, n)
	return s
}

// uidSetFor returns an empty set sized for the UIDs of msgs.
func uidSetFor(msgs []Message) *uidSet {
	if len(msgs) == 0 {
		return &uidSet{}
	}
	lo, hi := msgs[0].UID, msgs[0].UID
	for i := range msgs {
		lo, hi = min(lo, msgs[i].UID), max(hi, msgs[i].UID)
	}
	return newUIDSet(lo, hi, len(msgs))
}

// recordUIDSet returns the set of the UIDs records have on side s (0
// for a record not on s).
func recordUIDSet(records []Record, s Side) *uidSet {
	if len(records) == 0 {
		return &uidSet{}
	}
	lo, hi := records[0].UID(s), records[0].UID(s)
	for i := range records {
		u := records[i].UID(s)
		lo, hi = min(lo, u), max(hi, u)
	}
	set := newUIDSet(lo, hi, len(records))
	for i := range records {
		set.add(records[i].UID(s))
	}
	return set
}

// add puts u in s.
func (s *uidSet) add(u UID) {
	if s.sparse == nil && (u < s.lo || uint64(u-s.lo) >= 64*uint64(len(s.bits))) {
		s.toSparse()
	}
	if s.sparse != nil {
		s.sparse[u] = struct{}{}
		return
	}
	d := u - s.lo
	s.bits[d/64] |= 1 << (d % 64)
}

// toSparse moves s's UIDs into a map.
func (s *uidSet) toSparse() {
	m := map[UID]struct{}{}
	for w, word := range s.bits {
		for b := range 64 {
			if word&(1<<b) != 0 {
				m[s.lo+UID(w*64+b)] = struct{}{}
			}
		}
	}
	s.sparse, s.bits = m, nil
}

// has reports whether u is in s.
func (s *uidSet) has(u UID) bool {
	switch {
	case s == nil:
		return false
	case s.sparse != nil:
		_, ok := s.sparse[u]
		return ok
	case u < s.lo || uint64(u-s.lo) >= 64*uint64(len(s.bits)):
		return false
	}
	d := u - s.lo
	return s.bits[d/64]&(1<<(d%64)) != 0
}
