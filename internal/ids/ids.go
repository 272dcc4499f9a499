// Package ids generates the library's record identifiers: a short type
// prefix, an underscore and 26 lowercase Crockford base32 characters that
// start with a millisecond timestamp, so ids sort by creation time
// (friendly to B-tree indexes and to sorted in-memory indexes) and carry
// 80 random bits.
//
// Within one process ids are strictly increasing, as in ULID's monotonic
// mode: an id made in the same millisecond as the previous one (or when
// the clock stepped back) is the previous one plus one. Bulk inserts then
// arrive already in order, and a sort of them is a linear check.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// last is the previous id's 128 bits (48-bit millisecond time, 80 random
// bits). It is process state by nature, like the clock and the random
// source New reads: monotonicity holds only if every id shares it.
var last struct {
	sync.Mutex
	hi, lo uint64
}

// New returns a fresh id such as "cust_01jq3k8m5x2v7c9d0e4f6g8h1j":
// Format(prefix, NewRaw()).
func New(prefix string) string { return Format(prefix, NewRaw()) }

// Raw is the 128 bits of an id (big-endian: the 48-bit millisecond time,
// then 80 random bits), what a store may keep instead of the id's text.
type Raw [16]byte

// NewRaw returns the bits of a fresh id (see New).
func NewRaw() Raw {
	ms := uint64(time.Now().UnixMilli())
	last.Lock()
	hi, lo := last.hi, last.lo+1
	if ms > last.hi>>16 {
		// A new millisecond: fresh random bits (read only then, which
		// keeps a burst of ids cheap).
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], ms<<16)
		_, _ = rand.Read(b[6:]) // never fails (crypto/rand panics on failure since Go 1.24)
		hi, lo = binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	} else if lo == 0 { // same millisecond, or the clock went back: increment
		hi++ // carry into the random bits' top 16 (they sit in hi)
	}
	last.hi, last.lo = hi, lo
	last.Unlock()
	var r Raw
	binary.BigEndian.PutUint64(r[:8], hi)
	binary.BigEndian.PutUint64(r[8:], lo)
	return r
}

// Format returns the id with prefix and bits r: prefix, an underscore
// and r's 128 bits as 26 base32 digits, most significant first.
func Format(prefix string, r Raw) string {
	hi, lo := binary.BigEndian.Uint64(r[:8]), binary.BigEndian.Uint64(r[8:])
	var d [26]byte
	for i := 25; i >= 0; i-- { // least significant digit last
		d[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	var buf [48]byte // on the stack for a prefix of up to 21 bytes
	return string(append(append(append(buf[:0], prefix...), '_'), d[:]...))
}

// digits maps a character to its base32 value, 0xff when it is none.
var digits = func() (d [256]byte) {
	for i := range d {
		d[i] = 0xff
	}
	for i := range len(alphabet) {
		d[alphabet[i]] = byte(i)
	}
	return d
}()

// Parse returns the bits of id when Format(prefix, r) gives id, and false
// for any other string.
func Parse(id, prefix string) (r Raw, ok bool) {
	if !HasPrefix(id, prefix) {
		return Raw{}, false
	}
	var hi, lo uint64
	for i := len(prefix) + 1; i < len(id); i++ {
		v := uint64(digits[id[i]])
		if v == 0xff || i == len(prefix)+1 && v > 7 { // the first digit holds 3 bits
			return Raw{}, false
		}
		hi, lo = hi<<5|lo>>59, lo<<5|v
	}
	binary.BigEndian.PutUint64(r[:8], hi)
	binary.BigEndian.PutUint64(r[8:], lo)
	return r, true
}

// HasPrefix reports whether id looks like one made by New with prefix.
func HasPrefix(id, prefix string) bool {
	return len(id) == len(prefix)+27 && strings.HasPrefix(id, prefix) && id[len(prefix)] == '_'
}
