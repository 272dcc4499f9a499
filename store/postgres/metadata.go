package postgres

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/codedrop/codedrop/customer"
)

// Metadata is stored in two jsonb columns. customers.metadata holds plain
// JSON that SQL (and its GIN index) can query: strings, numbers, booleans
// and null as they are, a date as "YYYY-MM-DD", a datetime as an RFC 3339
// string in UTC, a geopoint as {"lat":..,"lng":..}, arrays and objects
// element by element. customers.metadata_types holds a tag for each value
// whose Go type JSON would lose ("date", "datetime", "geopoint"; an array
// or object of tags for nested values), so reading a customer returns the
// same typed values the memory store holds.

const (
	tagDate     = "date"
	tagDatetime = "datetime"
	tagGeoPoint = "geopoint"
)

// encodeMetadata returns the plain and tag JSON of m.
func encodeMetadata(m customer.Metadata) (plain, tags []byte, err error) {
	return appendMetadata(nil, m)
}

// appendMetadata appends the plain JSON of m to b and returns it, with
// the tag JSON. Metadata of plain values only (the common case: a CSV
// import's strings) is written straight into b, with no copy, no tags
// and no reflection.
func appendMetadata(b []byte, m customer.Metadata) (plain, tags []byte, err error) {
	if len(m) == 0 {
		return append(b, "{}"...), []byte("{}"), nil
	}
	if p, ok := appendPlainJSON(b, m); ok {
		return p, []byte("{}"), nil
	}
	p := make(map[string]any, len(m))
	t := map[string]any{}
	for k, v := range m {
		pv, tv := encodeValue(v)
		p[k] = pv
		if tv != nil {
			t[k] = tv
		}
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	plain = append(b, pj...)
	if tags, err = json.Marshal(t); err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	return plain, tags, nil
}

// appendPlainJSON appends m as a JSON object to b when it holds only
// values JSON keeps as they are (strings, finite float64s, booleans, nil,
// and arrays of those), as encoding/json would write them up to the
// order of the keys (jsonb keeps its own order). ok is false, and b is
// returned as it was, for any other value.
func appendPlainJSON(b []byte, m customer.Metadata) (_ []byte, ok bool) {
	start := len(b)
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
		if arr, isArr := v.([]any); isArr {
			if arr == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			for i, e := range arr {
				if i > 0 {
					b = append(b, ',')
				}
				if b, ok = appendPlainValue(b, e); !ok {
					return b[:start], false
				}
			}
			b = append(b, ']')
			continue
		}
		if b, ok = appendPlainValue(b, v); !ok {
			return b[:start], false
		}
	}
	return append(b, '}'), true
}

// plainOnly reports whether appendPlainJSON writes m.
func plainOnly(m customer.Metadata) bool {
	for _, v := range m {
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if !plainValue(e) {
					return false
				}
			}
		} else if !plainValue(v) {
			return false
		}
	}
	return true
}

// plainValue reports whether appendPlainValue writes v.
func plainValue(v any) bool {
	switch v := v.(type) {
	case string, bool, nil:
		return true
	case float64:
		return !math.IsNaN(v) && !math.IsInf(v, 0)
	}
	return false
}

// appendPlainValue appends a string, finite float64, bool or nil as JSON.
func appendPlainValue(b []byte, v any) (_ []byte, ok bool) {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v), true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return b, false // encoding/json reports the error
		}
		// As encoding/json: %f unless the exponent is small or large.
		f := byte('f')
		if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
			f = 'e'
		}
		b = strconv.AppendFloat(b, v, f, -1, 64)
		if f == 'e' { // 1e-07 to 1e-7
			if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
				b[n-2] = b[n-1]
				b = b[:n-1]
			}
		}
		return b, true
	case bool:
		return strconv.AppendBool(b, v), true
	case nil:
		return append(b, "null"...), true
	}
	return b, false
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, and <, > and & as encoding/json does
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func encodeValue(v any) (plain, tag any) {
	switch v := v.(type) {
	case customer.Date:
		return v.String(), tagDate
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), tagDatetime
	case customer.GeoPoint:
		return map[string]any{"lat": v.Lat, "lng": v.Lng}, tagGeoPoint
	case []any:
		out := make([]any, len(v))
		tags := make([]any, len(v))
		tagged := false
		for i, e := range v {
			out[i], tags[i] = encodeValue(e)
			tagged = tagged || tags[i] != nil
		}
		if !tagged {
			return out, nil
		}
		return out, tags
	case map[string]any:
		out := make(map[string]any, len(v))
		tags := map[string]any{}
		for k, e := range v {
			var t any
			out[k], t = encodeValue(e)
			if t != nil {
				tags[k] = t
			}
		}
		if len(tags) == 0 {
			return out, nil
		}
		return out, tags
	default:
		return v, nil
	}
}

// decodeMetadata reverses encodeMetadata.
func decodeMetadata(plain, tags []byte) (customer.Metadata, error) {
	if string(plain) == "{}" {
		return nil, nil
	}
	if len(tags) == 0 || string(tags) == "{}" {
		if m, ok := decodePlainJSON(plain); ok {
			if len(m) == 0 {
				return nil, nil
			}
			return m, nil
		}
	}
	var p map[string]any
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if len(p) == 0 {
		return nil, nil
	}
	var t map[string]any
	if len(tags) > 0 && string(tags) != "{}" {
		if err := json.Unmarshal(tags, &t); err != nil {
			return nil, fmt.Errorf("metadata types: %w", err)
		}
	}
	out := make(customer.Metadata, len(p))
	for k, v := range p {
		dv, err := decodeValue(v, t[k])
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", k, err)
		}
		out[k] = dv
	}
	return out, nil
}

func decodeValue(v, tag any) (any, error) {
	switch tag := tag.(type) {
	case nil:
		return v, nil
	case string:
		switch tag {
		case tagDate:
			s, _ := v.(string)
			if s == "" {
				return customer.Date{}, nil // the zero Date
			}
			return customer.ParseDate(s)
		case tagDatetime:
			s, _ := v.(string)
			return time.Parse(time.RFC3339Nano, s)
		case tagGeoPoint:
			m, _ := v.(map[string]any)
			lat, _ := m["lat"].(float64)
			lng, _ := m["lng"].(float64)
			return customer.GeoPoint{Lat: lat, Lng: lng}, nil
		}
		return nil, fmt.Errorf("unknown type tag %q", tag)
	case []any:
		arr, _ := v.([]any)
		out := make([]any, len(arr))
		for i, e := range arr {
			var t any
			if i < len(tag) {
				t = tag[i]
			}
			d, err := decodeValue(e, t)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	case map[string]any:
		obj, _ := v.(map[string]any)
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			d, err := decodeValue(e, tag[k])
			if err != nil {
				return nil, err
			}
			out[k] = d
		}
		return out, nil
	}
	return v, nil
}
