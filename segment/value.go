package segment

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// kind is the type a field's values compare as.
type kind uint8

const (
	kAny    kind = iota // not known before evaluation (metadata without a schema)
	kString             // string, image_url
	kNumber
	kBool
	kDate  // calendar date (customer.Date)
	kTime  // instant (time.Time)
	kArray // []any, at run time only
	kOther // objects, geopoints: only presence tests apply
)

func (k kind) String() string {
	switch k {
	case kString:
		return "string"
	case kNumber:
		return "number"
	case kBool:
		return "boolean"
	case kDate:
		return "date"
	case kTime:
		return "datetime"
	case kArray:
		return "array"
	case kOther:
		return "object"
	}
	return "any"
}

// value is one field value of one customer, unboxed so that testing it
// does not allocate. A date is held as midnight UTC.
type value struct {
	k   kind
	b   bool
	n   float64
	s   string
	t   time.Time
	arr []any // kArray
	o   any   // kOther
}

// fromAny converts a metadata value; ok is false when it is absent (nil,
// "", an empty array or a zero date).
func fromAny(x any) (value, bool) {
	switch v := x.(type) {
	case string:
		return value{k: kString, s: v}, v != ""
	case float64:
		return value{k: kNumber, n: v}, true
	case bool:
		return value{k: kBool, b: v}, true
	case []any:
		return value{k: kArray, arr: v}, len(v) > 0
	case customer.Date:
		return value{k: kDate, t: v.In(time.UTC)}, !v.IsZero()
	case time.Time:
		return value{k: kTime, t: v}, !v.IsZero()
	case int:
		return value{k: kNumber, n: float64(v)}, true
	case int64:
		return value{k: kNumber, n: float64(v)}, true
	case float32:
		return value{k: kNumber, n: float64(v)}, true
	case nil:
		return value{}, false
	}
	return value{k: kOther, o: x}, true
}

// actual returns v as a plain Go value for an Explanation.
func (v value) actual() any {
	switch v.k {
	case kString:
		return v.s
	case kNumber:
		return v.n
	case kBool:
		return v.b
	case kDate:
		return customer.DateOf(v.t).String()
	case kTime:
		return v.t.Format(time.RFC3339Nano)
	case kArray:
		return v.arr
	}
	return v.o
}

// coerce converts v to kind k (a schema type), reporting whether it could.
func coerce(v value, k kind) (value, bool) {
	if v.k == k || k == kAny || v.k == kArray {
		return v, true
	}
	switch k {
	case kString:
		switch v.k {
		case kNumber:
			return value{k: kString, s: strconv.FormatFloat(v.n, 'f', -1, 64)}, true
		case kBool:
			return value{k: kString, s: strconv.FormatBool(v.b)}, true
		}
	case kNumber:
		if n, ok := v.num(); ok {
			return value{k: kNumber, n: n}, true
		}
	case kBool:
		if v.k == kString {
			if b, err := strconv.ParseBool(v.s); err == nil {
				return value{k: kBool, b: b}, true
			}
		}
	case kDate, kTime:
		if t, _, ok := v.time(); ok {
			if k == kDate {
				t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			}
			return value{k: k, t: t}, true
		}
	}
	return v, false
}

// num returns v as a number: a number, or a string that parses as one.
func (v value) num() (float64, bool) {
	switch v.k {
	case kNumber:
		return v.n, true
	case kString:
		n, err := strconv.ParseFloat(strings.TrimSpace(v.s), 64)
		return n, err == nil && !math.IsNaN(n)
	}
	return 0, false
}

// time returns v as an instant; isDate is true for a calendar date (held
// as midnight UTC).
func (v value) time() (t time.Time, isDate, ok bool) {
	switch v.k {
	case kTime:
		return v.t, false, true
	case kDate:
		return v.t, true, true
	case kString:
		return parseTime(v.s)
	}
	return time.Time{}, false, false
}

// parseTime reads an ISO 8601 date ("2022-03-11", isDate) or date-time
// ("2022-03-11T09:00:00.000Z"; without an offset it is UTC).
func parseTime(s string) (t time.Time, isDate, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) == len(time.DateOnly) {
		t, err := time.Parse(time.DateOnly, s)
		return t, true, err == nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, false, true
		}
	}
	return time.Time{}, false, false
}

// dayNumber counts days since 1970-01-01 for t's UTC date.
func dayNumber(t time.Time) int64 {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// operand is one precomputed filter value, in every form it can compare as.
type operand struct {
	raw      any
	s        string
	n        float64
	nOK      bool
	b        bool
	bOK      bool
	t        time.Time
	tOK      bool
	dateOnly bool
}

func newOperand(x any) operand {
	o := operand{raw: x}
	switch v := x.(type) {
	case string:
		o.s = v
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && !math.IsNaN(n) {
			o.n, o.nOK = n, true
		}
		if b, err := strconv.ParseBool(v); err == nil {
			o.b, o.bOK = b, true
		}
		o.t, o.dateOnly, o.tOK = parseTime(v)
	case float64:
		o.s = strconv.FormatFloat(v, 'f', -1, 64)
		o.n, o.nOK = v, true
	case bool:
		o.s = strconv.FormatBool(v)
		o.b, o.bOK = v, true
	}
	return o
}

// equal reports whether v (a scalar) equals o, comparing as v's kind.
func (o *operand) equal(v value) bool {
	switch v.k {
	case kString:
		return v.s == o.s
	case kNumber:
		return o.nOK && v.n == o.n
	case kBool:
		return o.bOK && v.b == o.b
	case kDate:
		return o.tOK && dayNumber(v.t) == dayNumber(o.t)
	case kTime:
		if !o.tOK {
			return false
		}
		if o.dateOnly {
			return dayNumber(v.t) == dayNumber(o.t)
		}
		return v.t.Equal(o.t)
	}
	return false
}
