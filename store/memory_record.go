package store

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// custRec is a stored customer in compact form, about a third of a
// customer.Customer with its metadata map: the text fields and the
// metadata values packed into one string, the metadata keys shared with
// every customer that has the same ones (a metaShape), the timestamps as
// nanoseconds. What that form cannot hold exactly (a birthdate, consents,
// a summary, timestamps in another location, metadata objects or
// geopoints) is kept in rest, nil for most customers. A custRec is never
// changed once stored: a write stores a new one.
type custRec struct {
	id, src string // ID and SourceID, strings of their own: the index maps and custOrder share them
	// data is a flags byte, then the text fields (recTexts order) each
	// as a uvarint length and its bytes, then one encoded value per key
	// of shape (see appendValue).
	data    string
	shape   *metaShape // nil: no metadata, or metadata in rest
	created int64      // CreatedAt, Unix nanoseconds (see the flags)
	updated int64      // UpdatedAt
	rest    *custRest
}

// The flags byte of custRec.data.
const (
	recCreatedLocal = 1 << iota // created is in time.Local (else UTC)
	recUpdatedLocal
	recEmptyMeta // Metadata is an empty map, not nil
)

// custRest holds what custRec.data cannot.
type custRest struct {
	birthdate customer.Date
	consents  customer.Consents // the store's own copy, never changed
	summary   customer.Summary
	// times: CreatedAt and UpdatedAt are here, not in created and updated.
	times              bool
	createdAt, updated time.Time
	// metadata, when not nil, is the metadata (the store's own copy,
	// never changed): it holds a value data does not encode.
	metadata customer.Metadata
}

// metaShape is a sorted set of metadata keys, shared by the customers
// that have exactly these keys. Repeated values of a key (a plan, a
// source) are stored once, in the shape: a record holds a tagRef and
// their index, and decoding one allocates nothing.
type metaShape struct {
	keys []string
	// vals[i] are the shared values of key i, boxed; appended to under
	// the store's write lock by copying (a slice once published is never
	// changed), so that readers need no lock.
	vals []atomic.Pointer[[]any]
	// index[i] maps the encoding of a shared value of key i to its index
	// in vals[i]; used under the store's write lock only.
	index []map[string]int
}

// Limits of the shape and value caches.
const (
	maxShapes       = 1024 // distinct key sets; beyond, metadata goes to rest
	maxSharedPerKey = 256  // values shared per key of a shape
)

// shapes interns metadata key sets; guarded by Memory.mu (write).
type shapes struct {
	byKeys map[string]*metaShape // keys joined by "\x00"
	last   *metaShape
	buf    []string
}

// shapeOf returns the interned shape of m's keys, or nil when there are
// too many shapes already. m is not empty.
func (s *shapes) shapeOf(m customer.Metadata) *metaShape {
	if l := s.last; l != nil && len(l.keys) == len(m) {
		same := true
		for _, k := range l.keys {
			if _, ok := m[k]; !ok {
				same = false
				break
			}
		}
		if same {
			return l
		}
	}
	keys := s.buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s.buf = keys
	joined := strings.Join(keys, "\x00")
	sh := s.byKeys[joined]
	if sh == nil {
		if len(s.byKeys) >= maxShapes {
			return nil
		}
		sh = &metaShape{keys: make([]string, len(keys)), vals: make([]atomic.Pointer[[]any], len(keys)), index: make([]map[string]int, len(keys))}
		for i, k := range keys {
			sh.keys[i] = strings.Clone(k)
		}
		if s.byKeys == nil {
			s.byKeys = map[string]*metaShape{}
		}
		s.byKeys[joined] = sh
	}
	s.last = sh
	return sh
}

// The tags of encoded metadata values.
const (
	tagNull = iota
	tagString
	tagNumber
	tagFalse
	tagTrue
	tagDate
	tagTimeUTC // a time.Time in UTC, Unix nanoseconds
	tagArray   // a count, then the elements (scalars)
	tagRef     // the index of a value shared in the shape (metaShape.vals)
)

// timeNanos returns t as Unix nanoseconds and whether it is in time.Local,
// when t is in UTC or time.Local and within the range of int64
// nanoseconds; ok is false otherwise.
func timeNanos(t time.Time) (n int64, local, ok bool) {
	loc := t.Location()
	if loc != time.UTC && loc != time.Local {
		return 0, false, false
	}
	if y := t.Year(); y < 1680 || y > 2260 {
		return 0, false, false
	}
	return t.UnixNano(), loc == time.Local, true
}

func nanosTime(n int64, local bool) time.Time {
	if local {
		return time.Unix(0, n)
	}
	return time.Unix(0, n).UTC()
}

// appendValue appends v's encoding; ok is false when v is of a type data
// does not hold (an object, a geopoint, a time elsewhere than UTC, an
// array of those or of arrays).
func appendValue(b []byte, v any, inArray bool) (_ []byte, ok bool) {
	switch v := v.(type) {
	case nil:
		return append(b, tagNull), true
	case string:
		b = append(b, tagString)
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...), true
	case float64:
		b = append(b, tagNumber)
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v)), true
	case bool:
		if v {
			return append(b, tagTrue), true
		}
		return append(b, tagFalse), true
	case customer.Date:
		b = append(b, tagDate)
		b = binary.AppendVarint(b, int64(v.Year))
		b = binary.AppendVarint(b, int64(v.Month))
		return binary.AppendVarint(b, int64(v.Day)), true
	case time.Time:
		n, local, ok := timeNanos(v)
		if !ok || local {
			return b, false
		}
		b = append(b, tagTimeUTC)
		return binary.LittleEndian.AppendUint64(b, uint64(n)), true
	case []any:
		if inArray || v == nil {
			return b, false
		}
		b = append(b, tagArray)
		b = binary.AppendUvarint(b, uint64(len(v)))
		for _, e := range v {
			if b, ok = appendValue(b, e, true); !ok {
				return b, false
			}
		}
		return b, true
	}
	return b, false
}

// decodeValue decodes the value at the start of s, returning it and the
// rest of s. Strings are substrings of s.
func decodeValue(s string) (any, string) {
	tag, s := s[0], s[1:]
	switch tag {
	case tagString:
		n, w := uvarint(s)
		return s[w : w+n], s[w+n:]
	case tagNumber:
		return math.Float64frombits(le64(s)), s[8:]
	case tagFalse:
		return false, s
	case tagTrue:
		return true, s
	case tagDate:
		y, w1 := varint(s)
		mo, w2 := varint(s[w1:])
		d, w3 := varint(s[w1+w2:])
		return customer.Date{Year: int(y), Month: time.Month(mo), Day: int(d)}, s[w1+w2+w3:]
	case tagTimeUTC:
		return time.Unix(0, int64(le64(s))).UTC(), s[8:]
	case tagArray:
		n, w := uvarint(s)
		s = s[w:]
		arr := make([]any, n)
		for i := range arr {
			arr[i], s = decodeValue(s)
		}
		return arr, s
	}
	return nil, s // tagNull
}

// le64 reads a little-endian uint64 from the start of s.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func uvarint(s string) (int, int) {
	var x uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 {
			return int(x | uint64(c)<<(7*i)), i + 1
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	panic("store: corrupt customer record")
}

func varint(s string) (int64, int) {
	ux, n := uvarint(s)
	x := int64(uint64(ux) >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, n
}

// The text fields of custRec.data, in order.
const recTexts = 11

func texts(c *customer.Customer) [recTexts]*string {
	return [recTexts]*string{&c.Name, &c.Email, &c.Phone, &c.Description, &c.Timezone,
		&c.Address.Line1, &c.Address.Line2, &c.Address.City, &c.Address.State, &c.Address.PostalCode, &c.Address.Country}
}

// encode makes the record of c, whose ID and SourceID are given as id
// and src (strings the record may keep). m.mu is held for writing.
func (m *Memory) encode(c *customer.Customer, id, src string) *custRec {
	r := &custRec{id: id, src: src}
	var rest custRest
	needRest := false
	b := append(m.recBuf[:0], 0)
	for _, p := range texts(c) {
		b = binary.AppendUvarint(b, uint64(len(*p)))
		b = append(b, *p...)
	}
	if len(c.Metadata) > 0 {
		r.shape = m.shapes.shapeOf(c.Metadata)
		if r.shape != nil {
			mark := len(b)
			for i, k := range r.shape.keys {
				var ok bool
				if b, ok = r.shape.appendShared(b, i, c.Metadata[k]); !ok {
					r.shape, b = nil, b[:mark]
					break
				}
			}
		}
		if r.shape == nil {
			rest.metadata, needRest = c.Metadata.Clone(), true
		}
	} else if c.Metadata != nil {
		b[0] |= recEmptyMeta
	}
	cn, cl, ok1 := timeNanos(c.CreatedAt)
	un, ul, ok2 := timeNanos(c.UpdatedAt)
	if ok1 && ok2 {
		r.created, r.updated = cn, un
		if cl {
			b[0] |= recCreatedLocal
		}
		if ul {
			b[0] |= recUpdatedLocal
		}
	} else {
		rest.times, rest.createdAt, rest.updated, needRest = true, c.CreatedAt, c.UpdatedAt, true
	}
	if !c.Birthdate.IsZero() || !c.Consents.IsZero() || c.Summary != (customer.Summary{}) {
		rest.birthdate, rest.consents, rest.summary, needRest = c.Birthdate, c.Consents.Clone(), c.Summary, true
	}
	if needRest {
		r.rest = &rest
	}
	r.data = string(b)
	m.recBuf = b
	return r
}

// appendShared appends the encoding of v, the value of key i: a tagRef
// when v is (or becomes) one of the key's shared values. It runs under
// the store's write lock.
func (s *metaShape) appendShared(b []byte, i int, v any) (_ []byte, ok bool) {
	start := len(b)
	if b, ok = appendValue(b, v, false); !ok || b[start] == tagArray {
		return b, ok // arrays are not shared: callers may change them
	}
	enc := b[start:]
	j, found := s.index[i][string(enc)]
	if !found {
		cur := s.vals[i].Load()
		n := 0
		if cur != nil {
			n = len(*cur)
		}
		if n >= maxSharedPerKey {
			return b, true
		}
		next := make([]any, n+1)
		if cur != nil {
			copy(next, *cur)
		}
		key := string(enc)
		next[n], _ = decodeValue(key)
		s.vals[i].Store(&next)
		if s.index[i] == nil {
			s.index[i] = map[string]int{}
		}
		s.index[i][key], j = n, n
	}
	b = append(b[:start], tagRef)
	return binary.AppendUvarint(b, uint64(j)), true
}

// customer decodes r. The metadata map is new; with owned the consents
// and any metadata kept in rest are copies too (else they are the
// store's, to be read only).
func (r *custRec) customer(owned bool) customer.Customer {
	var c customer.Customer
	r.decode(&c, nil, owned)
	return c
}

// decode decodes r into c. The metadata goes into meta (cleared first)
// when meta is not nil, else into a new map; owned is as for customer.
func (r *custRec) decode(c *customer.Customer, meta customer.Metadata, owned bool) {
	*c = customer.Customer{ID: r.id, SourceID: r.src}
	s := r.data
	flags := s[0]
	s = s[1:]
	for _, p := range texts(c) {
		n, w := uvarint(s)
		*p, s = s[w:w+n], s[w+n:]
	}
	if sh := r.shape; sh != nil {
		if meta == nil {
			meta = make(customer.Metadata, len(sh.keys))
		} else {
			clear(meta)
		}
		for i, k := range sh.keys {
			if s[0] == tagRef {
				j, w := uvarint(s[1:])
				meta[k], s = (*sh.vals[i].Load())[j], s[1+w:]
				continue
			}
			var v any
			v, s = decodeValue(s)
			meta[k] = v
		}
		c.Metadata = meta
	} else if flags&recEmptyMeta != 0 {
		if meta == nil {
			meta = customer.Metadata{}
		} else {
			clear(meta)
		}
		c.Metadata = meta
	}
	if rest := r.rest; rest != nil {
		c.Birthdate, c.Summary, c.Consents = rest.birthdate, rest.summary, rest.consents
		if rest.metadata != nil {
			c.Metadata = rest.metadata
		}
		if owned {
			c.Consents, c.Metadata = c.Consents.Clone(), c.Metadata.Clone()
		}
		if rest.times {
			c.CreatedAt, c.UpdatedAt = rest.createdAt, rest.updated
			return
		}
	}
	c.CreatedAt = nanosTime(r.created, flags&recCreatedLocal != 0)
	c.UpdatedAt = nanosTime(r.updated, flags&recUpdatedLocal != 0)
}
