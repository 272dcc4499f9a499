package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unique"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/internal/ids"
)

// dlvRow is one delivery as the memory ledger keeps it: about 150 bytes,
// with no pointer of its own to allocate, against some 500 for a
// *distribution.Delivery with its id and its entries in three maps. The
// id is the key's hash (what distribution.DeliveryID encodes), the
// publication id its 16 bytes, the distribution and channel one interned
// pair, the state and the times' locations small indexes; what does not
// fit (an id of another form, a time outside 1685-2255, a location past
// the 255th) is kept aside in distMemory.odd. Rows are changed in place,
// under the lock.
type dlvRow struct {
	hash     [16]byte // SHA-256 of the key, truncated: the id of a DeliveryID
	pub      ids.Raw  // PublicationID, when rowPub is set
	cust     string
	trigger  string
	code     string
	provider string
	reason   unique.Handle[dlvReason] // zero: no reason
	times    [4]int64                 // created, updated, sent, next attempt: Unix ns, or noTime
	attempts int32
	route    uint32 // index in distMemory.routes
	state    uint8  // index in distMemory.states
	locs     [4]uint8
	flags    uint8
}

// dlvRow.flags.
const (
	rowPub      = 1 << iota // PublicationID is set and is pub
	rowOddID                // the id is odd.id, not DeliveryID(key)
	rowOddPub               // PublicationID is odd.pub
	rowOddTimes             // the times are odd.times
	rowOddAttempts
)

// dlvReason is a delivery's reason and its detail, interned: few distinct
// pairs ("customer unsubscribed", "consent not granted" and a consent
// id) are shared by many rows, and the runtime frees a pair no row
// holds.
type dlvReason struct{ reason, detail string }

// dlvOdd holds what a row could not (see dlvRow).
type dlvOdd struct {
	id, pub  string
	times    [4]time.Time
	attempts int
}

// dlvRoute is a (distribution, channel) pair, shared by the rows of a
// channel of a distribution.
type dlvRoute struct{ dist, channel string }

// noTime encodes the zero time.
const noTime = -1 << 63

// maxTimeSec bounds the Unix seconds whose nanoseconds fit in an int64
// (years 1678 to 2262), with a margin.
const maxTimeSec = 9e9

const (
	rowChunkBits = 10
	rowChunk     = 1 << rowChunkBits // rows per chunk: appending never copies rows
)

// keyHash is the 128-bit hash of a delivery key that
// distribution.DeliveryID encodes (without allocating).
func keyHash(dist, cust, trigger, channel string) [16]byte {
	var stack [256]byte
	b := stack[:0]
	for _, s := range [...]string{dist, cust, trigger, channel} {
		b = append(append(b, s...), 0)
	}
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

// b32digits is distribution.DeliveryID's alphabet.
const b32digits = "0123456789abcdefghjkmnpqrstvwxyz"

var b32values = func() (v [256]byte) {
	for i := range v {
		v[i] = 0xff
	}
	for i := range len(b32digits) {
		v[b32digits[i]] = byte(i)
	}
	return v
}()

const dlvPrefix = "dlv_"

// formatDeliveryID is distribution.DeliveryID for a key of hash h: "dlv_"
// and h in base32 (RFC 4648 bit order, no padding): three groups of 5
// bytes as 8 digits each, then the last byte as 2 digits.
func formatDeliveryID(h [16]byte) string {
	var out [len(dlvPrefix) + 26]byte
	copy(out[:], dlvPrefix)
	d := out[len(dlvPrefix):]
	for g := range 3 {
		v := uint64(h[5*g])<<32 | uint64(h[5*g+1])<<24 | uint64(h[5*g+2])<<16 | uint64(h[5*g+3])<<8 | uint64(h[5*g+4])
		for k := range 8 {
			d[8*g+k] = b32digits[v>>(35-5*k)&31]
		}
	}
	d[24], d[25] = b32digits[h[15]>>3], b32digits[h[15]<<2&31]
	return string(out[:])
}

// parseDeliveryID returns the hash a DeliveryID encodes; false for any
// string formatDeliveryID does not make.
func parseDeliveryID(id string) (h [16]byte, ok bool) {
	if len(id) != len(dlvPrefix)+26 || id[:len(dlvPrefix)] != dlvPrefix {
		return h, false
	}
	d := id[len(dlvPrefix):]
	var bad byte // any digit's 0xff marks it
	for g := range 3 {
		var v uint64
		for k := range 8 {
			x := b32values[d[8*g+k]]
			bad |= x
			v = v<<5 | uint64(x&31)
		}
		h[5*g], h[5*g+1], h[5*g+2], h[5*g+3], h[5*g+4] = byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	x, y := b32values[d[24]], b32values[d[25]]
	bad |= x | y
	h[15] = x<<3 | y>>2
	return h, bad&0x80 == 0 && y&3 == 0 // the 2 bits past the 128th are zero
}

// hashOf is the index hash of a row hash.
func hashOf(h *[16]byte) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

// row returns the row at pos (s.mu held).
func (s *distMemory) row(pos uint32) *dlvRow {
	return &s.rows[pos>>rowChunkBits][pos&(rowChunk-1)]
}

// routeOf interns (dist, channel) (s.mu held for writing).
func (s *distMemory) routeOf(dist, channel string) uint32 {
	k := dlvRoute{dist, channel}
	if i, ok := s.routeIdx[k]; ok {
		return i
	}
	i := uint32(len(s.routes))
	s.routes = append(s.routes, k)
	s.routeIdx[k] = i
	return i
}

// stateOf interns st (s.mu held for writing).
func (s *distMemory) stateOf(st distribution.DeliveryState) (uint8, error) {
	for i, x := range s.states {
		if x == st {
			return uint8(i), nil
		}
	}
	if len(s.states) > 255 {
		return 0, fmt.Errorf("state %q: the memory store holds at most 256 distinct delivery states: %w", st, distribution.ErrInvalid)
	}
	s.states = append(s.states, st)
	return uint8(len(s.states) - 1), nil
}

// sameKey reports whether r's key is d's.
func (s *distMemory) sameKey(r *dlvRow, d *distribution.Delivery) bool {
	rt := &s.routes[r.route]
	return r.cust == d.CustomerID && r.trigger == d.TriggerKey && rt.dist == d.DistributionID && rt.channel == d.Channel
}

// findKey returns the row of d's key, of hash h.
func (s *distMemory) findKey(h [16]byte, d *distribution.Delivery) (uint32, bool) {
	return s.index.Find(hashOf(&h), func(pos uint32) bool {
		r := s.row(pos)
		return r.hash == h && s.sameKey(r, d)
	})
}

// findID returns the row of the delivery with id.
func (s *distMemory) findID(id string) (uint32, bool) {
	if len(s.oddIDs) > 0 {
		if pos, ok := s.oddIDs[id]; ok {
			return pos, true
		}
	}
	h, ok := parseDeliveryID(id)
	if !ok {
		return 0, false
	}
	return s.index.Find(hashOf(&h), func(pos uint32) bool {
		r := s.row(pos)
		return r.hash == h && r.flags&rowOddID == 0
	})
}

// encode sets the fields of r that a delivery update may change from d
// (all but the key, the id and CreatedAt, which *r keeps), and returns
// what r cannot hold (nil when nothing). created is CreatedAt.
func (s *distMemory) encode(r *dlvRow, d *distribution.Delivery, created time.Time, id string) (*dlvOdd, error) {
	st, err := s.stateOf(d.State)
	if err != nil {
		return nil, err
	}
	r.state = st
	r.code, r.provider = d.Code, d.ProviderMessageID
	r.reason = unique.Handle[dlvReason]{}
	if d.Reason != "" || d.ReasonDetail != "" {
		r.reason = unique.Make(dlvReason{d.Reason, d.ReasonDetail})
	}
	var odd *dlvOdd
	oddOf := func() *dlvOdd {
		if odd == nil {
			odd = &dlvOdd{}
		}
		return odd
	}
	r.flags &^= rowPub | rowOddID | rowOddPub | rowOddTimes | rowOddAttempts
	if id != "" {
		r.flags |= rowOddID
		oddOf().id = id
	}
	r.pub = ids.Raw{}
	if d.PublicationID != "" {
		if p, ok := ids.Parse(d.PublicationID, "pub"); ok {
			r.pub, r.flags = p, r.flags|rowPub
		} else {
			r.flags |= rowOddPub
			oddOf().pub = d.PublicationID
		}
	}
	r.attempts = int32(d.Attempts)
	if int(r.attempts) != d.Attempts {
		r.attempts, r.flags = 0, r.flags|rowOddAttempts
		oddOf().attempts = d.Attempts
	}
	times := [4]time.Time{created, d.UpdatedAt, d.SentAt, d.NextAttemptAt}
	for i, t := range times {
		ns, loc, ok := s.encodeTime(t)
		if !ok {
			r.times, r.locs, r.flags = [4]int64{}, [4]uint8{}, r.flags|rowOddTimes
			oddOf().times = times
			break
		}
		r.times[i], r.locs[i] = ns, loc
	}
	return odd, nil
}

// encodeTime returns t as Unix nanoseconds and the index of its
// location; false when t does not fit (or the location table is full).
func (s *distMemory) encodeTime(t time.Time) (int64, uint8, bool) {
	if t.IsZero() {
		return noTime, 0, true
	}
	if sec := t.Unix(); sec < -maxTimeSec || sec > maxTimeSec {
		return 0, 0, false
	}
	loc := t.Location()
	for i, l := range s.locs {
		if l == loc {
			return t.UnixNano(), uint8(i), true
		}
	}
	if len(s.locs) > 255 {
		return 0, 0, false
	}
	s.locs = append(s.locs, loc)
	return t.UnixNano(), uint8(len(s.locs) - 1), true
}

func (s *distMemory) decodeTime(ns int64, loc uint8) time.Time {
	if ns == noTime {
		return time.Time{}
	}
	return time.Unix(0, ns).In(s.locs[loc])
}

// createdAt returns the CreatedAt of the row at pos.
func (s *distMemory) createdAt(pos uint32, r *dlvRow) time.Time {
	if r.flags&rowOddTimes != 0 {
		return s.odd[pos].times[0]
	}
	return s.decodeTime(r.times[0], r.locs[0])
}

// setOdd stores (or drops) what the row at pos could not hold.
func (s *distMemory) setOdd(pos uint32, odd *dlvOdd) {
	if odd != nil {
		if s.odd == nil {
			s.odd = map[uint32]*dlvOdd{}
		}
		s.odd[pos] = odd
	} else if s.odd != nil {
		delete(s.odd, pos)
	}
}

// delivery returns the delivery at pos (s.mu held); id is its id when
// the caller has it (found by it), or "".
func (s *distMemory) delivery(pos uint32, id string) distribution.Delivery {
	r := s.row(pos)
	rt := &s.routes[r.route]
	d := distribution.Delivery{
		DistributionID: rt.dist, CustomerID: r.cust, TriggerKey: r.trigger, Channel: rt.channel,
		State: s.states[r.state], Attempts: int(r.attempts), Code: r.code, ProviderMessageID: r.provider,
	}
	if r.reason != (unique.Handle[dlvReason]{}) {
		v := r.reason.Value()
		d.Reason, d.ReasonDetail = v.reason, v.detail
	}
	var odd *dlvOdd
	if r.flags&(rowOddID|rowOddPub|rowOddTimes|rowOddAttempts) != 0 {
		odd = s.odd[pos]
	}
	switch {
	case id != "":
		d.ID = id
	case r.flags&rowOddID != 0:
		d.ID = odd.id
	default:
		d.ID = formatDeliveryID(r.hash)
	}
	switch {
	case r.flags&rowPub != 0:
		d.PublicationID = ids.Format("pub", r.pub)
	case r.flags&rowOddPub != 0:
		d.PublicationID = odd.pub
	}
	if r.flags&rowOddAttempts != 0 {
		d.Attempts = odd.attempts
	}
	if r.flags&rowOddTimes != 0 {
		d.CreatedAt, d.UpdatedAt, d.SentAt, d.NextAttemptAt = odd.times[0], odd.times[1], odd.times[2], odd.times[3]
	} else {
		d.CreatedAt = s.decodeTime(r.times[0], r.locs[0])
		d.UpdatedAt = s.decodeTime(r.times[1], r.locs[1])
		d.SentAt = s.decodeTime(r.times[2], r.locs[2])
		d.NextAttemptAt = s.decodeTime(r.times[3], r.locs[3])
	}
	return d
}

// stateIs reports whether the row is in state st.
func (s *distMemory) stateIs(r *dlvRow, st distribution.DeliveryState) bool {
	return s.states[r.state] == st
}

// match reports whether the row passes f (After and Limit aside), as
// f.Match does for a Delivery.
func (s *distMemory) match(r *dlvRow, f *distribution.DeliveryFilter) bool {
	rt := &s.routes[r.route]
	if f.DistributionID != "" && rt.dist != f.DistributionID ||
		f.CustomerID != "" && r.cust != f.CustomerID ||
		f.TriggerKey != "" && r.trigger != f.TriggerKey ||
		f.Channel != "" && rt.channel != f.Channel {
		return false
	}
	if f.Reason != "" {
		if r.reason == (unique.Handle[dlvReason]{}) || !strings.HasPrefix(r.reason.Value().reason, f.Reason) {
			return false
		}
	}
	if len(f.States) == 0 {
		return true
	}
	st := s.states[r.state]
	for _, x := range f.States {
		if st == x {
			return true
		}
	}
	return false
}
