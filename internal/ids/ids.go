// Package ids generates the library's record identifiers: a short type
// prefix, an underscore and 26 lowercase Crockford base32 characters that
// start with a millisecond timestamp, so ids sort roughly by creation time
// (friendly to B-tree indexes) and are unguessable (80 random bits).
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// New returns a fresh id such as "cust_01jq3k8m5x2v7c9d0e4f6g8h1j".
func New(prefix string) string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand panics on failure since Go 1.24)
	var sb strings.Builder
	sb.Grow(len(prefix) + 1 + 26)
	sb.WriteString(prefix)
	sb.WriteByte('_')
	// 128 bits -> 26 base32 digits, most significant first.
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		shift := uint(i * 5)
		var v uint64
		switch {
		case shift >= 64:
			v = hi >> (shift - 64)
		case shift == 0:
			v = lo
		default:
			v = lo>>shift | hi<<(64-shift)
		}
		sb.WriteByte(alphabet[v&31])
	}
	return sb.String()
}

// HasPrefix reports whether id looks like one made by New with prefix.
func HasPrefix(id, prefix string) bool {
	return len(id) == len(prefix)+27 && strings.HasPrefix(id, prefix) && id[len(prefix)] == '_'
}
