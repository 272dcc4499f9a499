package postgres

import (
	"encoding/json"
	"fmt"
	"time"

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
	if len(m) == 0 {
		return []byte("{}"), []byte("{}"), nil
	}
	if plainOnly(m) { // the common case: no copy, no tags
		if plain, err = json.Marshal(map[string]any(m)); err != nil {
			return nil, nil, fmt.Errorf("metadata: %w", err)
		}
		return plain, []byte("{}"), nil
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
	if plain, err = json.Marshal(p); err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	if tags, err = json.Marshal(t); err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	return plain, tags, nil
}

// plainOnly reports whether m holds only values JSON keeps as they are.
func plainOnly(m customer.Metadata) bool {
	for _, v := range m {
		switch v := v.(type) {
		case string, float64, bool, nil:
		case []any:
			for _, e := range v {
				switch e.(type) {
				case string, float64, bool, nil:
				default:
					return false
				}
			}
		default:
			return false
		}
	}
	return true
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
	var p map[string]any
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if len(p) == 0 {
		return nil, nil
	}
	var t map[string]any
	if len(tags) > 0 {
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
