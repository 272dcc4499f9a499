package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Junction says how a filter's conditions combine.
type Junction string

// The junctions.
const (
	And Junction = "and" // every condition must hold (the default)
	Or  Junction = "or"  // at least one condition must hold
)

// Operator is a Voucherify filter operator such as "$is".
type Operator string

// The filter operators. How each compares depends on the field's type; see
// the package documentation.
const (
	OpIs             Operator = "$is"
	OpIsNot          Operator = "$is_not"
	OpIn             Operator = "$in"
	OpNotIn          Operator = "$not_in"
	OpHasValue       Operator = "$has_value"
	OpIsUnknown      Operator = "$is_unknown"
	OpContains       Operator = "$contains"
	OpNotContain     Operator = "$not_contain"
	OpStartsWith     Operator = "$starts_with"
	OpEndsWith       Operator = "$ends_with"
	OpMoreThan       Operator = "$more_than"
	OpLessThan       Operator = "$less_than"
	OpMoreThanEqual  Operator = "$more_than_equal"
	OpLessThanEqual  Operator = "$less_than_equal"
	OpAfter          Operator = "$after"
	OpBefore         Operator = "$before"
	OpIsDaysAgo      Operator = "$is_days_ago"
	OpIsDaysInFuture Operator = "$is_days_in_future"
	OpMoreThanAgo    Operator = "$more_than_ago"
	OpLessThanAgo    Operator = "$less_than_ago"
	OpMoreThanFuture Operator = "$more_than_future"
	OpLessThanFuture Operator = "$less_than_future"
	OpCount          Operator = "$count"
	OpCountLess      Operator = "$count_less"
	OpCountMore      Operator = "$count_more"
	OpNextMonth      Operator = "$next_month"
)

var operators = map[Operator]bool{
	OpIs: true, OpIsNot: true, OpIn: true, OpNotIn: true, OpHasValue: true, OpIsUnknown: true,
	OpContains: true, OpNotContain: true, OpStartsWith: true, OpEndsWith: true,
	OpMoreThan: true, OpLessThan: true, OpMoreThanEqual: true, OpLessThanEqual: true,
	OpAfter: true, OpBefore: true, OpIsDaysAgo: true, OpIsDaysInFuture: true,
	OpMoreThanAgo: true, OpLessThanAgo: true, OpMoreThanFuture: true, OpLessThanFuture: true,
	OpCount: true, OpCountLess: true, OpCountMore: true, OpNextMonth: true,
}

// Filter is a rule in Voucherify's filter JSON format:
//
//	{"junction": "and",
//	 "address.country":    {"conditions": {"$is": "Poland"}},
//	 "metadata.club_level": {"conditions": {"$in": ["Gold", "Silver"]}}}
//
// Each key other than "junction" is a field path holding
// {"conditions": {"$operator": value, ...}}; a value is a scalar or an
// array of scalars. Several operators on one field combine with the
// field's own optional "junction" (default "and"). As an extension, the key
// "groups" holds an array of nested filters, each combined with the
// others by the outer junction.
//
// [ParseFilter] checks the shape and the operator names; field paths and
// value types are checked when an [Evaluator] compiles the segment.
type Filter struct {
	// Junction combines Conditions and Groups; empty means And.
	Junction Junction
	// Conditions in the order written.
	Conditions []Condition
	// Groups are nested filters.
	Groups []*Filter
}

// Condition tests one field with one operator.
type Condition struct {
	Path     string   // "metadata.club_level"
	Operator Operator // "$in"
	// Values are the operands: strings, float64 numbers, bools (a bare
	// scalar in JSON becomes a one-element slice).
	Values []any
}

// ParseFilter parses Voucherify filter JSON. A malformed filter is
// reported as a *FilterError.
func ParseFilter(data []byte) (*Filter, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	f, err := parseGroup(dec, "")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, filterErr("", "", "unexpected data after the filter object")
	}
	return f, nil
}

// MustParseFilter is like ParseFilter but panics on error. It is meant for
// filters written in the program's source.
func MustParseFilter(s string) *Filter {
	f, err := ParseFilter([]byte(s))
	if err != nil {
		panic(err)
	}
	return f
}

func syntaxErr(path string, err error) *FilterError {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &FilterError{Path: path, Err: fmt.Errorf("malformed JSON: %w", err)}
}

func expectDelim(dec *json.Decoder, path string, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxErr(path, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return filterErr(path, "", "want %s, got %s", what, describeToken(tok))
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return fmt.Sprintf("%v", v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

func parseJunction(dec *json.Decoder, path string) (Junction, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", syntaxErr(path, err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", filterErr(path, "", `junction: want "and" or "or", got %s`, describeToken(tok))
	}
	switch j := Junction(strings.ToLower(s)); j {
	case And, Or:
		return j, nil
	}
	return "", filterErr(path, "", `junction: want "and" or "or", got %q`, s)
}

// parseGroup reads one filter object; where names it in errors.
func parseGroup(dec *json.Decoder, where string) (*Filter, error) {
	if err := expectDelim(dec, where, '{', "a filter object"); err != nil {
		return nil, err
	}
	f := &Filter{}
	// The filter's junction may come after its fields, so decide at the
	// end whether a field with several operators needs a group of its own.
	type item struct {
		conds    []Condition
		junction Junction
		group    *Filter
	}
	var items []item
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxErr(where, err)
		}
		key := tok.(string) // object keys are always strings
		switch key {
		case "junction":
			if f.Junction, err = parseJunction(dec, where); err != nil {
				return nil, err
			}
		case "groups":
			if err := expectDelim(dec, "groups", '[', "an array of filter objects"); err != nil {
				return nil, err
			}
			for i := 0; dec.More(); i++ {
				g, err := parseGroup(dec, fmt.Sprintf("groups[%d]", i))
				if err != nil {
					return nil, err
				}
				items = append(items, item{group: g})
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxErr("groups", err)
			}
		default:
			if key == "" {
				return nil, filterErr("", "", "empty field path")
			}
			conds, junction, err := parseField(dec, key)
			if err != nil {
				return nil, err
			}
			items = append(items, item{conds: conds, junction: junction})
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntaxErr(where, err)
	}
	for _, it := range items {
		switch {
		case it.group != nil:
			f.Groups = append(f.Groups, it.group)
		case len(it.conds) == 1 || it.junction == f.junction():
			f.Conditions = append(f.Conditions, it.conds...)
		default:
			f.Groups = append(f.Groups, &Filter{Junction: it.junction, Conditions: it.conds})
		}
	}
	if len(f.Conditions) == 0 && len(f.Groups) == 0 {
		return nil, filterErr(where, "", "the filter has no conditions")
	}
	return f, nil
}

// parseField reads {"conditions": {...}, "junction": ...} for path,
// returning the conditions and the field's junction (default and).
func parseField(dec *json.Decoder, path string) (_ []Condition, _ Junction, _ error) {
	if err := expectDelim(dec, path, '{', `{"conditions": {...}}`); err != nil {
		return nil, "", err
	}
	var (
		junction = And
		conds    []Condition
		seen     bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, "", syntaxErr(path, err)
		}
		switch key := tok.(string); key {
		case "junction":
			if junction, err = parseJunction(dec, path); err != nil {
				return nil, "", err
			}
		case "conditions":
			seen = true
			if err := expectDelim(dec, path, '{', `an object of operators such as {"$is": "value"}`); err != nil {
				return nil, "", err
			}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return nil, "", syntaxErr(path, err)
				}
				op := Operator(tok.(string))
				if !operators[op] {
					return nil, "", filterErr(path, string(op), "unknown operator")
				}
				vals, err := parseValues(dec, path, op)
				if err != nil {
					return nil, "", err
				}
				conds = append(conds, Condition{Path: path, Operator: op, Values: vals})
			}
			if _, err := dec.Token(); err != nil {
				return nil, "", syntaxErr(path, err)
			}
		default:
			return nil, "", filterErr(path, "", `unknown key %q (want "conditions" or "junction")`, key)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, "", syntaxErr(path, err)
	}
	if !seen || len(conds) == 0 {
		return nil, "", filterErr(path, "", `no conditions (want {"conditions": {"$operator": value}})`)
	}
	return conds, junction, nil
}

// parseValues reads a scalar or an array of scalars.
func parseValues(dec *json.Decoder, path string, op Operator) ([]any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxErr(path, err)
	}
	if d, ok := tok.(json.Delim); ok {
		if d != '[' {
			return nil, filterErr(path, string(op), "want a value or an array of values, got %s", describeToken(tok))
		}
		vals := []any{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, syntaxErr(path, err)
			}
			v, err := scalar(tok, path, op)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, syntaxErr(path, err)
		}
		return vals, nil
	}
	v, err := scalar(tok, path, op)
	if err != nil {
		return nil, err
	}
	return []any{v}, nil
}

func scalar(tok json.Token, path string, op Operator) (any, error) {
	switch v := tok.(type) {
	case string, bool:
		return v, nil
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return nil, filterErr(path, string(op), "number %s is out of range", v)
		}
		return f, nil
	}
	return nil, filterErr(path, string(op), "want a string, number or boolean, got %s", describeToken(tok))
}

// UnmarshalJSON implements json.Unmarshaler with [ParseFilter].
func (f *Filter) UnmarshalJSON(data []byte) error {
	g, err := ParseFilter(data)
	if err != nil {
		return err
	}
	*f = *g
	return nil
}

// MarshalJSON implements json.Marshaler, writing Voucherify filter JSON
// that ParseFilter reads back to an equivalent filter. Values are written
// as arrays.
func (f *Filter) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := f.write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (f *Filter) junction() Junction {
	if f.Junction == "" {
		return And
	}
	return f.Junction
}

func (f *Filter) write(b *bytes.Buffer) error {
	j := f.junction()
	fmt.Fprintf(b, `{"junction":%q`, j)
	// One object per path: operators of a path go together (combined with
	// the filter's junction); a repeated operator goes to a group of its own.
	var (
		paths  []string
		byPath = map[string][]Condition{}
		extra  []*Filter
	)
	for _, c := range f.Conditions {
		cs := byPath[c.Path]
		dup := false
		for _, o := range cs {
			dup = dup || o.Operator == c.Operator
		}
		if dup {
			extra = append(extra, &Filter{Conditions: []Condition{c}})
			continue
		}
		if cs == nil {
			paths = append(paths, c.Path)
		}
		byPath[c.Path] = append(cs, c)
	}
	for _, p := range paths {
		if p == "junction" || p == "groups" {
			return fmt.Errorf("segment: cannot write a condition on %q: the name is reserved", p)
		}
		key, _ := json.Marshal(p)
		fmt.Fprintf(b, `,%s:{`, key)
		cs := byPath[p]
		if len(cs) > 1 && j == Or { // the field's operators combine like the filter's conditions
			b.WriteString(`"junction":"or",`)
		}
		b.WriteString(`"conditions":{`)
		for i, c := range cs {
			if i > 0 {
				b.WriteByte(',')
			}
			vals := c.Values
			if vals == nil {
				vals = []any{}
			}
			v, err := json.Marshal(vals)
			if err != nil {
				return fmt.Errorf("segment: condition %s %s: %w", c.Path, c.Operator, err)
			}
			fmt.Fprintf(b, `%q:%s`, c.Operator, v)
		}
		b.WriteString("}}")
	}
	groups := append(extra, f.Groups...)
	if len(groups) > 0 {
		b.WriteString(`,"groups":[`)
		for i, g := range groups {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := g.write(b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return nil
}

// String returns the filter as JSON.
func (f *Filter) String() string {
	b, err := f.MarshalJSON()
	if err != nil {
		return fmt.Sprintf("<invalid filter: %v>", err)
	}
	return string(b)
}
