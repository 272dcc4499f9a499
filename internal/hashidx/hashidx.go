// Package hashidx is a compact hash index for the in-memory stores: it
// maps hashes to the positions of records a caller keeps in its own
// table, so that a record's key is stored once (in the record), not again
// as a map key. It costs 6.7 to 10 bytes per record (a 4-byte position
// and a 1-byte tag per slot, half to three quarters full), against 30 and
// more for a Go map from a 16-byte key to a position.
package hashidx

import "math/bits"

// Index is an open-addressing (linear probing) set of record positions
// (0 to 2^32-2), found by their hash. It never removes a position. The
// zero value is empty and ready; it is not safe for concurrent use.
type Index struct {
	slots []uint32 // position+1; 0 is an empty slot
	// tags holds 8 bits of each slot's hash, so that a probe looks at
	// a record (a cache miss) only for 1 in 256 of the others.
	tags []uint8
	n    int
}

// Len returns how many positions x holds.
func (x *Index) Len() int { return x.n }

// Find returns the first position with hash h for which eq holds.
func (x *Index) Find(h uint64, eq func(pos uint32) bool) (uint32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	tag := uint8(h) // the home slot comes from the high bits
	for i := x.home(h); ; i = x.next(i) {
		s := x.slots[i]
		if s == 0 {
			return 0, false
		}
		if x.tags[i] == tag && eq(s-1) {
			return s - 1, true
		}
	}
}

// Add adds pos with hash h. hashOf returns the hash of a position added
// before (to grow the index). Add does not look for pos or h: a caller
// that wants one position per key calls Find first.
func (x *Index) Add(h uint64, pos uint32, hashOf func(pos uint32) uint64) {
	if pos == ^uint32(0) {
		panic("hashidx: position out of range")
	}
	if (x.n+1)*4 > len(x.slots)*3 { // at most 3/4 full
		x.grow(hashOf)
	}
	x.put(h, pos)
	x.n++
}

// home is the first slot to probe for h: h scaled to the table's size
// (which need not be a power of two).
func (x *Index) home(h uint64) int {
	i, _ := bits.Mul64(h, uint64(len(x.slots)))
	return int(i)
}

// next is the slot probed after i.
func (x *Index) next(i int) int {
	if i++; i == len(x.slots) {
		return 0
	}
	return i
}

func (x *Index) put(h uint64, pos uint32) {
	i := x.home(h)
	for x.slots[i] != 0 {
		i = x.next(i)
	}
	x.slots[i], x.tags[i] = pos+1, uint8(h)
}

// grow makes the table half as large again: from three quarters full to
// half full.
func (x *Index) grow(hashOf func(pos uint32) uint64) {
	old := x.slots
	x.slots = make([]uint32, max(16, len(old)+len(old)/2))
	x.tags = make([]uint8, len(x.slots))
	for _, s := range old {
		if s != 0 {
			x.put(hashOf(s-1), s-1)
		}
	}
}
