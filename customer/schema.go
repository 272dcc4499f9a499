package customer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// PropertyType is the type of a metadata property, as Voucherify names it.
type PropertyType string

// The metadata property types.
const (
	TypeString   PropertyType = "string"
	TypeNumber   PropertyType = "number"
	TypeBoolean  PropertyType = "boolean"
	TypeDate     PropertyType = "date"
	TypeDatetime PropertyType = "datetime"
	TypeObject   PropertyType = "object"
	TypeGeoPoint PropertyType = "geopoint"
	TypeImageURL PropertyType = "image_url"
)

func (t PropertyType) valid() bool {
	switch t {
	case TypeString, TypeNumber, TypeBoolean, TypeDate, TypeDatetime, TypeObject, TypeGeoPoint, TypeImageURL:
		return true
	}
	return false
}

// Property defines one metadata key. Constraints that are nil or zero are
// not checked.
//
// In JSON it is a Voucherify metadata schema definition. Length bounds and
// the object type are written in snake_case (min_length, as Voucherify's
// Management API does) and read in either snake_case or camelCase
// (minLength, as /v1/metadata-schemas does).
type Property struct {
	Type     PropertyType `json:"type"`
	Array    bool         `json:"array,omitempty"`    // multiple values
	Optional bool         `json:"optional,omitempty"` // may be absent
	// ObjectType names the nested schema of an object property
	// (informational; nested objects are not validated key by key).
	ObjectType string `json:"object_type,omitempty"`
	// Eq lists the allowed values (strings or numbers).
	Eq []any `json:"eq,omitempty"`
	// Ne lists forbidden numbers.
	Ne []float64 `json:"ne,omitempty"`
	// Numeric bounds.
	Lt  *float64 `json:"lt,omitempty"`
	Lte *float64 `json:"lte,omitempty"`
	Gt  *float64 `json:"gt,omitempty"`
	Gte *float64 `json:"gte,omitempty"`
	// Length bounds for strings (in characters).
	MinLength   *int `json:"min_length,omitempty"`
	MaxLength   *int `json:"max_length,omitempty"`
	ExactLength *int `json:"exact_length,omitempty"`
	// Deleted marks a removed definition (kept for Voucherify compatibility;
	// a deleted property is treated as undefined).
	Deleted bool `json:"deleted,omitempty"`
}

// UnmarshalJSON reads a Voucherify metadata schema definition, accepting
// both spellings of the length bounds and object type (min_length or
// minLength, object_type or objectType).
func (p *Property) UnmarshalJSON(b []byte) error {
	type plain Property
	var aux struct {
		plain
		MinLengthCamel   *int   `json:"minLength"`
		MaxLengthCamel   *int   `json:"maxLength"`
		ExactLengthCamel *int   `json:"exactLength"`
		ObjectTypeCamel  string `json:"objectType"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*p = Property(aux.plain)
	if p.MinLength == nil {
		p.MinLength = aux.MinLengthCamel
	}
	if p.MaxLength == nil {
		p.MaxLength = aux.MaxLengthCamel
	}
	if p.ExactLength == nil {
		p.ExactLength = aux.ExactLengthCamel
	}
	if p.ObjectType == "" {
		p.ObjectType = aux.ObjectTypeCamel
	}
	return nil
}

// Schema is a customer metadata schema: typed property definitions and
// whether undefined keys are allowed. The zero Schema (and a nil *Schema)
// accepts any metadata, keeping undefined keys as strings.
//
// In JSON it is Voucherify's metadata schema object; fields other than
// properties and allow_defined_only (id, related_object, ...) are ignored.
// Reading a schema checks it (see [Schema.Check]).
//
// A Schema is not changed by its methods and may be shared by goroutines.
type Schema struct {
	Properties map[string]Property `json:"properties"`
	// AllowDefinedOnly rejects metadata keys the schema does not define.
	AllowDefinedOnly bool `json:"allow_defined_only,omitempty"`
}

// UnmarshalJSON reads a Voucherify metadata schema object (allow_defined_only
// may also be spelled allowDefinedOnly) and checks it with [Schema.Check].
func (s *Schema) UnmarshalJSON(b []byte) error {
	var aux struct {
		Properties            map[string]Property `json:"properties"`
		AllowDefinedOnly      *bool               `json:"allow_defined_only"`
		AllowDefinedOnlyCamel *bool               `json:"allowDefinedOnly"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("metadata schema: %w", err)
	}
	out := Schema{Properties: aux.Properties}
	switch {
	case aux.AllowDefinedOnly != nil:
		out.AllowDefinedOnly = *aux.AllowDefinedOnly
	case aux.AllowDefinedOnlyCamel != nil:
		out.AllowDefinedOnly = *aux.AllowDefinedOnlyCamel
	}
	if err := out.Check(); err != nil {
		return err
	}
	*s = out
	return nil
}

// ParseSchema reads a Voucherify metadata schema JSON document and checks it.
func ParseSchema(data []byte) (*Schema, error) {
	var s Schema
	if err := s.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return &s, nil
}

// Check reports a schema that cannot be used: an unknown type, an allowed
// value that is neither a string nor a number, numeric bounds on a
// non-number property, length bounds on a non-string property, or a
// negative length. The error wraps ErrInvalid and names the property.
func (s *Schema) Check() error {
	if s == nil {
		return nil
	}
	var errList []error
	for _, key := range sortedKeys(s.Properties) {
		p := s.Properties[key]
		bad := func(format string, args ...any) {
			errList = append(errList, fmt.Errorf("metadata schema: property %q: %s: %w", key, fmt.Sprintf(format, args...), ErrInvalid))
		}
		if key == "" {
			bad("empty property name")
		}
		if !p.Type.valid() {
			bad("unknown type %q (want string, number, boolean, date, datetime, object, geopoint or image_url)", p.Type)
			continue
		}
		for _, v := range p.Eq {
			_, isNum := toFloat(v)
			if _, isStr := v.(string); !isStr && !isNum {
				bad("eq value %v (%T) is neither a string nor a number", v, v)
			}
		}
		if p.Type != TypeNumber && (len(p.Ne) > 0 || p.Lt != nil || p.Lte != nil || p.Gt != nil || p.Gte != nil) {
			bad("ne/lt/lte/gt/gte apply to number properties, not %s", p.Type)
		}
		if p.Type != TypeString && p.Type != TypeImageURL && (p.MinLength != nil || p.MaxLength != nil || p.ExactLength != nil) {
			bad("length bounds apply to string properties, not %s", p.Type)
		}
		for name, n := range map[string]*int{"min_length": p.MinLength, "max_length": p.MaxLength, "exact_length": p.ExactLength} {
			if n != nil && *n < 0 {
				bad("%s is negative (%d)", name, *n)
			}
		}
	}
	return errors.Join(errList...)
}

// Property returns the live definition of key: ok is false when the schema
// does not define key or the definition is deleted. Keys are matched
// exactly, then case-insensitively when exactly one definition matches;
// name is the key as the schema spells it.
func (s *Schema) Property(key string) (name string, p Property, ok bool) {
	if s == nil {
		return "", Property{}, false
	}
	if p, ok := s.Properties[key]; ok {
		return key, p, !p.Deleted
	}
	found := 0
	for k, q := range s.Properties {
		if strings.EqualFold(k, key) {
			name, p = k, q
			found++
		}
	}
	if found != 1 || p.Deleted {
		return "", Property{}, false
	}
	return name, p, true
}

// Rule names the schema rule a metadata value breaks.
type Rule string

// The rules a [MetadataError] reports.
const (
	RuleType        Rule = "type"         // wrong type, or a cell that does not parse as the type
	RuleRequired    Rule = "required"     // a non-optional property is missing or null
	RuleDefined     Rule = "defined"      // an undefined key under AllowDefinedOnly
	RuleEq          Rule = "eq"           // not one of the allowed values
	RuleNe          Rule = "ne"           // a forbidden number
	RuleLt          Rule = "lt"           // not less than the bound
	RuleLte         Rule = "lte"          // greater than the bound
	RuleGt          Rule = "gt"           // not greater than the bound
	RuleGte         Rule = "gte"          // less than the bound
	RuleMinLength   Rule = "min_length"   // too short
	RuleMaxLength   Rule = "max_length"   // too long
	RuleExactLength Rule = "exact_length" // not exactly as long as required
)

// MetadataError reports a metadata value that breaks a schema rule. It
// wraps ErrInvalid:
//
//	var me *customer.MetadataError
//	if errors.As(err, &me) && me.Rule == customer.RuleEq { ... }
type MetadataError struct {
	Key    string // the property
	Rule   Rule   // the rule broken
	Value  any    // the offending value (the element, for an array property); nil when missing
	Reason string // readable, such as `must be equal to one of Facebook, Twitter (actual value is "snap")`
}

// Error returns `metadata "key": reason`.
func (e *MetadataError) Error() string {
	return fmt.Sprintf("metadata %q: %s", e.Key, e.Reason)
}

// Unwrap returns ErrInvalid.
func (e *MetadataError) Unwrap() error { return ErrInvalid }

// Validate checks metadata against the schema: every key it defines must
// hold a value of its type (an array of them when Array) that keeps its
// constraints, non-optional properties must be present and not null, and
// under AllowDefinedOnly no other key may appear. Undefined keys are
// otherwise accepted whatever their value. A nil schema accepts anything.
//
// The error joins one [*MetadataError] per offending key, in key order.
func (s *Schema) Validate(m Metadata) error {
	if s == nil {
		return nil
	}
	var errList []error
	for _, key := range sortedKeys(m) {
		if err := s.validateKey(key, m[key]); err != nil {
			errList = append(errList, err)
		}
	}
	for _, key := range sortedKeys(s.Properties) {
		p := s.Properties[key]
		if p.Deleted || p.Optional {
			continue
		}
		if _, ok := m[key]; !ok {
			errList = append(errList, missing(key))
		}
	}
	return errors.Join(errList...)
}

func missing(key string) *MetadataError {
	return &MetadataError{Key: key, Rule: RuleRequired, Reason: "property is required"}
}

// validateKey checks one metadata entry (by exact key).
func (s *Schema) validateKey(key string, v any) error {
	p, ok := s.Properties[key]
	if !ok || p.Deleted {
		if s.AllowDefinedOnly {
			return &MetadataError{Key: key, Rule: RuleDefined, Value: v, Reason: "property is not defined in the schema"}
		}
		return nil
	}
	return p.check(key, v)
}

// check validates v (a whole value: an array for an array property).
func (p *Property) check(key string, v any) error {
	if v == nil {
		if p.Optional {
			return nil
		}
		return &MetadataError{Key: key, Rule: RuleRequired, Reason: "property is required (actual value is null)"}
	}
	if !p.Array {
		return p.checkOne(key, v)
	}
	arr, ok := v.([]any)
	if !ok {
		return &MetadataError{Key: key, Rule: RuleType, Value: v, Reason: fmt.Sprintf("must be an array of %s (actual value is %s)", p.Type, show(v))}
	}
	for _, e := range arr {
		if err := p.checkOne(key, e); err != nil {
			return err
		}
	}
	return nil
}

// checkOne validates a single (non-array) value.
func (p *Property) checkOne(key string, v any) error {
	fail := func(rule Rule, format string, args ...any) error {
		return &MetadataError{Key: key, Rule: rule, Value: v, Reason: fmt.Sprintf(format, args...) + " (actual value is " + show(v) + ")"}
	}
	typeOK := true
	switch p.Type {
	case TypeString:
		_, typeOK = v.(string)
	case TypeImageURL:
		s, isStr := v.(string)
		typeOK = isStr && isImageURL(s)
	case TypeNumber:
		f, isNum := toFloat(v)
		typeOK = isNum && !math.IsNaN(f) && !math.IsInf(f, 0)
	case TypeBoolean:
		_, typeOK = v.(bool)
	case TypeDate:
		d, isDate := v.(Date)
		typeOK = isDate && d.valid()
	case TypeDatetime:
		_, typeOK = v.(time.Time)
	case TypeObject:
		_, typeOK = v.(map[string]any)
	case TypeGeoPoint:
		g, isGeo := v.(GeoPoint)
		typeOK = isGeo && g.valid()
	default:
		typeOK = false
	}
	if !typeOK {
		return fail(RuleType, "must be a %s", typeDescription(p.Type))
	}
	if len(p.Eq) > 0 && !slices.ContainsFunc(p.Eq, func(a any) bool { return sameValue(a, v) }) {
		parts := make([]string, len(p.Eq))
		for i, a := range p.Eq {
			parts[i] = fmt.Sprint(a)
		}
		return fail(RuleEq, "must be equal to one of %s", strings.Join(parts, ", "))
	}
	if f, isNum := toFloat(v); isNum && p.Type == TypeNumber {
		if slices.Contains(p.Ne, f) {
			return fail(RuleNe, "must not be equal to %v", f)
		}
		if p.Lt != nil && !(f < *p.Lt) {
			return fail(RuleLt, "must be less than %v", *p.Lt)
		}
		if p.Lte != nil && !(f <= *p.Lte) {
			return fail(RuleLte, "must be less than or equal to %v", *p.Lte)
		}
		if p.Gt != nil && !(f > *p.Gt) {
			return fail(RuleGt, "must be greater than %v", *p.Gt)
		}
		if p.Gte != nil && !(f >= *p.Gte) {
			return fail(RuleGte, "must be greater than or equal to %v", *p.Gte)
		}
	}
	if s, isStr := v.(string); isStr {
		n := utf8.RuneCountInString(s)
		if p.MinLength != nil && n < *p.MinLength {
			return fail(RuleMinLength, "must be at least %d characters long", *p.MinLength)
		}
		if p.MaxLength != nil && n > *p.MaxLength {
			return fail(RuleMaxLength, "must be at most %d characters long", *p.MaxLength)
		}
		if p.ExactLength != nil && n != *p.ExactLength {
			return fail(RuleExactLength, "must be exactly %d characters long", *p.ExactLength)
		}
	}
	return nil
}

func typeDescription(t PropertyType) string {
	switch t {
	case TypeNumber:
		return "number"
	case TypeBoolean:
		return "boolean (true or false)"
	case TypeDate:
		return "date (YYYY-MM-DD)"
	case TypeDatetime:
		return "datetime (ISO 8601, such as 2022-05-18T10:00:00.000Z)"
	case TypeObject:
		return "JSON object"
	case TypeGeoPoint:
		return "geopoint (\"lat, long\")"
	case TypeImageURL:
		return "http(s) URL"
	}
	return string(t)
}

// Parse turns a raw CSV cell into the typed value of metadata key and
// checks it against the property's constraints (not Optional: the caller
// decides whether a missing value matters).
//
//	string, image_url   the cell as is, valid UTF-8 (image_url must be an
//	                    http(s) URL)
//	number              a decimal number such as 12 or -3.5e2 -> float64
//	boolean             true or false (any case) -> bool
//	date                2022-03-11 -> Date
//	datetime            2022-03-11T09:00:00.000Z (RFC 3339; without a zone,
//	                    or a bare date, means UTC) -> time.Time
//	object              a JSON object -> map[string]any
//	geopoint            "lat, long" -> GeoPoint
//	array               comma-separated elements, each trimmed and parsed
//	                    as above -> []any (geopoints pair up; an object
//	                    array is a JSON array of objects)
//
// For a defined key an empty cell, or the word null (any case), is nil.
// An undefined key keeps the cell as a string (including "" and "null"),
// or fails with RuleDefined under AllowDefinedOnly. Errors are
// [*MetadataError]s.
func (s *Schema) Parse(key, cell string) (any, error) {
	name, p, ok := s.Property(key)
	if !ok {
		if s != nil && s.AllowDefinedOnly {
			return nil, &MetadataError{Key: key, Rule: RuleDefined, Value: cell, Reason: "property is not defined in the schema"}
		}
		return cell, nil
	}
	return p.parse(name, cell)
}

func (p *Property) parse(key, cell string) (any, error) { return p.parseCached(key, cell, nil) }

// parseCached is parse with a cache of the column's recent values (nil
// for none).
func (p *Property) parseCached(key, cell string, vc *valueCache) (any, error) {
	if cell == "" || isNull(cell) {
		return nil, nil
	}
	if !p.Array && p.Type == TypeString && len(p.Eq) > 0 {
		// Return the allowed value itself (already boxed): no allocation.
		for _, a := range p.Eq {
			if as, ok := a.(string); ok && as == cell {
				if err := p.checkOne(key, a); err != nil {
					return nil, err
				}
				return a, nil
			}
		}
	}
	if !cacheable(p.Type) {
		vc = nil
	}
	if p.Array && vc != nil && p.Type != TypeGeoPoint {
		return p.parseArrayCached(key, cell, vc)
	}
	if v, ok := vc.get(cell); ok {
		return v, nil
	}
	v, err := p.parseValue(key, cell)
	if err != nil {
		return nil, err
	}
	if err := p.check(key, v); err != nil {
		return nil, err
	}
	if !p.Array {
		vc.put(cell, v)
	}
	return v, nil
}

// parseArrayCached parses and checks a comma-separated array cell as
// parseValue and check do, caching the elements.
func (p *Property) parseArrayCached(key, cell string, vc *valueCache) (any, error) {
	out := make([]any, 0, strings.Count(cell, ",")+1)
	for rest := cell; ; {
		part, tail, more := strings.Cut(rest, ",")
		if part = strings.TrimSpace(part); part != "" { // "a,,b" and a trailing comma add nothing
			v, ok := vc.get(part)
			if !ok {
				var err error
				if v, err = p.parseOne(key, part); err != nil {
					return nil, err
				}
				if err := p.checkOne(key, v); err != nil {
					return nil, err
				}
				vc.put(part, v)
			}
			out = append(out, v)
		}
		if !more {
			return out, nil
		}
		rest = tail
	}
}

func isNull(s string) bool { return len(s) == 4 && strings.EqualFold(s, "null") }

func (p *Property) parseValue(key, cell string) (any, error) {
	if !p.Array {
		return p.parseOne(key, cell)
	}
	switch p.Type {
	case TypeObject:
		var arr []map[string]any
		if err := json.Unmarshal([]byte(cell), &arr); err != nil {
			return nil, &MetadataError{Key: key, Rule: RuleType, Value: cell, Reason: fmt.Sprintf("must be a JSON array of objects (actual value is %q)", cell)}
		}
		out := make([]any, len(arr))
		for i, o := range arr {
			out[i] = o
		}
		return out, nil
	case TypeGeoPoint:
		parts := strings.Split(cell, ",")
		if len(parts)%2 != 0 {
			return nil, &MetadataError{Key: key, Rule: RuleType, Value: cell, Reason: fmt.Sprintf("must be pairs of \"lat, long\" (actual value is %q)", cell)}
		}
		out := make([]any, 0, len(parts)/2)
		for i := 0; i < len(parts); i += 2 {
			v, err := p.parseOne(key, parts[i]+","+parts[i+1])
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	out := make([]any, 0, strings.Count(cell, ",")+1)
	for rest := cell; ; {
		part, tail, more := strings.Cut(rest, ",")
		if part = strings.TrimSpace(part); part != "" { // "a,,b" and a trailing comma add nothing
			v, err := p.parseOne(key, part)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if !more {
			return out, nil
		}
		rest = tail
	}
}

func (p *Property) parseOne(key, cell string) (any, error) {
	bad := func() error {
		return &MetadataError{Key: key, Rule: RuleType, Value: cell, Reason: fmt.Sprintf("must be a %s (actual value is %q)", typeDescription(p.Type), cell)}
	}
	switch p.Type {
	case TypeString, TypeImageURL:
		if !utf8.ValidString(cell) {
			return nil, &MetadataError{Key: key, Rule: RuleType, Value: cell, Reason: "invalid UTF-8"}
		}
		return cell, nil
	case TypeNumber:
		f, err := strconv.ParseFloat(strings.TrimSpace(cell), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, bad()
		}
		return f, nil
	case TypeBoolean:
		switch c := strings.TrimSpace(cell); {
		case strings.EqualFold(c, "true"):
			return true, nil
		case strings.EqualFold(c, "false"):
			return false, nil
		}
		return nil, bad()
	case TypeDate:
		d, err := ParseDate(strings.TrimSpace(cell))
		if err != nil {
			return nil, bad()
		}
		return d, nil
	case TypeDatetime:
		t, err := parseDatetime(strings.TrimSpace(cell))
		if err != nil {
			return nil, bad()
		}
		return t, nil
	case TypeObject:
		var m map[string]any
		if err := json.Unmarshal([]byte(cell), &m); err != nil || m == nil {
			return nil, bad()
		}
		return m, nil
	case TypeGeoPoint:
		lat, lng, ok := strings.Cut(cell, ",")
		if !ok {
			return nil, bad()
		}
		la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
		lo, err2 := strconv.ParseFloat(strings.TrimSpace(lng), 64)
		g := GeoPoint{Lat: la, Lng: lo}
		if err1 != nil || err2 != nil || !g.valid() {
			return nil, bad()
		}
		return g, nil
	}
	return nil, bad()
}

// parseDatetime accepts RFC 3339 and, read as UTC, the same without a
// zone, without seconds, or a bare date.
func parseDatetime(s string) (time.Time, error) {
	layouts := [...]string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04",
		time.DateOnly,
	}
	var err error
	for _, layout := range layouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

func isImageURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (g GeoPoint) valid() bool {
	return g.Lat >= -90 && g.Lat <= 90 && g.Lng >= -180 && g.Lng <= 180
}

// toFloat converts Go numbers to float64.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// sameValue compares an allowed value with a metadata value: numbers by
// value, anything else with ==.
func sameValue(allowed, v any) bool {
	if a, ok := toFloat(allowed); ok {
		b, ok := toFloat(v)
		return ok && a == b
	}
	if a, ok := allowed.(string); ok {
		b, ok := v.(string)
		return ok && a == b
	}
	return false
}

// show formats a value for an error message.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case Date:
		return v.String()
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
