package postgres

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/codedrop/codedrop/customer"
)

// decodePlainJSON decodes a JSON object whose values are strings, numbers,
// booleans, null and arrays of those (what appendPlainJSON writes, and
// what most customers' metadata is) into customer.Metadata, as
// encoding/json would into a map[string]any, several times faster and
// with fewer allocations: the reading of a full scan of the customers.
// ok is false, and the caller falls back to encoding/json, for anything
// else (an object value, nested arrays, a number that does not fit a
// float64, malformed JSON).
func decodePlainJSON(b []byte) (m customer.Metadata, ok bool) {
	d := plainDecoder{b: b}
	d.space()
	if !d.byte('{') {
		return nil, false
	}
	m = make(customer.Metadata, 8)
	d.space()
	if d.byte('}') {
		return m, d.end()
	}
	for {
		d.space()
		k, ok := d.string()
		if !ok {
			return nil, false
		}
		d.space()
		if !d.byte(':') {
			return nil, false
		}
		d.space()
		v, ok := d.value(false)
		if !ok {
			return nil, false
		}
		m[k] = v
		d.space()
		if d.byte(',') {
			continue
		}
		if d.byte('}') {
			return m, d.end()
		}
		return nil, false
	}
}

type plainDecoder struct {
	b []byte
	i int
}

func (d *plainDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// byte consumes c if it comes next.
func (d *plainDecoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (d *plainDecoder) end() bool {
	d.space()
	return d.i == len(d.b)
}

// value decodes a scalar, or an array of scalars when not inArray.
func (d *plainDecoder) value(inArray bool) (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.string()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == '[' && !inArray:
		d.i++
		arr := []any{}
		d.space()
		if d.byte(']') {
			return arr, true
		}
		for {
			d.space()
			v, ok := d.value(true)
			if !ok {
				return nil, false
			}
			arr = append(arr, v)
			d.space()
			if d.byte(',') {
				continue
			}
			return arr, d.byte(']')
		}
	}
	return nil, false // an object, a nested array, or not JSON
}

func (d *plainDecoder) literal(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// number decodes a JSON number as a float64, as encoding/json does.
func (d *plainDecoder) number() (any, bool) {
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			d.i++
			continue
		}
		break
	}
	lit := d.b[start:d.i]
	if !validNumber(lit) {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return nil, false // out of range: encoding/json says so
	}
	return f, true
}

// validNumber reports whether s is a JSON number literal.
func validNumber(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

// string decodes a JSON string as encoding/json does (invalid UTF-8 and
// lone surrogates become U+FFFD).
func (d *plainDecoder) string() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := string(d.b[start:d.i])
			d.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return d.slowString(start)
		}
		d.i++
	}
	return "", false
}

// slowString decodes the rest of a string with escapes or non-ASCII
// bytes, from start (after the quote).
func (d *plainDecoder) slowString(start int) (string, bool) {
	out := append(make([]byte, 0, d.i-start+16), d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return "", false
			}
			e := d.b[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						save := d.i
						d.i += 2
						if r2, ok = d.hex4(); !ok {
							return "", false
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							continue
						}
						d.i = save // not a pair: the second is read on its own
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d.b[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
	return "", false
}

// hex4 reads four hex digits.
func (d *plainDecoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}
