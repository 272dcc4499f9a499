package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
)

// FilterSQL translates a Voucherify filter into a boolean SQL expression
// over the customers table, with its arguments numbered from $argBase+1,
// when the whole filter is in the subset it knows; ok is false otherwise
// (evaluate the filter in Go then). The expression selects exactly the
// customers that segment.DefaultEvaluator without a metadata Schema
// matches:
//
//   - fields: the built-in text fields (id, source_id, name, email, phone,
//     description, timezone, address.*) and top-level metadata keys
//     (metadata.<key>, no dot in the key);
//   - operators: $is, $in, $is_not, $not_in with text operands that do not
//     read as a number, boolean or date (those compare with coercions the
//     translation does not attempt); $has_value, $is_unknown; $contains,
//     $not_contain, $starts_with, $ends_with with text operands;
//   - junctions and nested groups.
//
// Equality on metadata uses jsonb containment (metadata @> ...), which the
// GIN index on customers.metadata serves; an array value matches when one
// of its elements does, as in Go.
func FilterSQL(f *segment.Filter, argBase int) (expr string, args []any, ok bool) {
	t := translator{base: argBase}
	expr, ok = t.group(f)
	return expr, t.args, ok
}

var _ segment.FilterPusher = (*Store)(nil)

type translator struct {
	base int
	args []any
}

func (t *translator) arg(v any) string {
	t.args = append(t.args, v)
	return "$" + strconv.Itoa(t.base+len(t.args))
}

func (t *translator) group(f *segment.Filter) (string, bool) {
	var parts []string
	for _, c := range f.Conditions {
		p, ok := t.cond(c)
		if !ok {
			return "", false
		}
		parts = append(parts, p)
	}
	for _, g := range f.Groups {
		p, ok := t.group(g)
		if !ok {
			return "", false
		}
		parts = append(parts, p)
	}
	if f.Junction == segment.Or {
		if len(parts) == 0 {
			return "false", true
		}
		return "(" + strings.Join(parts, " OR ") + ")", true
	}
	if len(parts) == 0 {
		return "true", true
	}
	return "(" + strings.Join(parts, " AND ") + ")", true
}

var textColumns = map[string]string{
	"id": "id", "source_id": "coalesce(source_id, '')", "name": "name", "email": "email", "phone": "phone",
	"description": "description", "timezone": "timezone",
	"address.line_1": "(address->>'line_1')", "address.line_2": "(address->>'line_2')", "address.city": "(address->>'city')",
	"address.state": "(address->>'state')", "address.postal_code": "(address->>'postal_code')", "address.country": "(address->>'country')",
}

// plainText reports whether s compares as text only: the evaluator
// coerces operands that read as numbers, booleans or dates.
func plainText(s string) bool {
	if s == "" {
		return false
	}
	if n, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(n) {
		return false
	}
	if _, err := strconv.ParseBool(s); err == nil {
		return false
	}
	st := strings.TrimSpace(s)
	if len(st) == len(time.DateOnly) {
		if _, err := time.Parse(time.DateOnly, st); err == nil {
			return false
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if _, err := time.Parse(layout, st); err == nil {
			return false
		}
	}
	return true
}

func (t *translator) cond(c segment.Condition) (string, bool) {
	var strs []string
	for _, v := range c.Values {
		s, isStr := v.(string)
		if !isStr {
			strs = nil
			break
		}
		strs = append(strs, s)
	}
	neg := false
	switch c.Operator {
	case segment.OpIsNot, segment.OpNotIn, segment.OpIsUnknown, segment.OpNotContain:
		neg = true
	}
	var pos string
	if col, ok := textColumns[c.Path]; ok {
		present := "coalesce(" + col + ", '') <> ''"
		switch c.Operator {
		case segment.OpHasValue, segment.OpIsUnknown:
			pos = present
		case segment.OpIs, segment.OpIn, segment.OpIsNot, segment.OpNotIn:
			if len(strs) == 0 {
				return "", false
			}
			pos = fmt.Sprintf("(%s AND %s = ANY(%s::text[]))", present, col, t.arg(strs))
		case segment.OpContains, segment.OpNotContain, segment.OpStartsWith, segment.OpEndsWith:
			if len(strs) == 0 {
				return "", false
			}
			pos = fmt.Sprintf("(%s AND EXISTS (SELECT 1 FROM unnest(%s::text[]) AS o(s) WHERE %s))", present, t.arg(strs), textTest(c.Operator, col))
		default:
			return "", false
		}
	} else if key, ok := strings.CutPrefix(c.Path, "metadata."); ok && key != "" && !strings.Contains(key, ".") {
		var k, v string
		if c.Operator != segment.OpIs && c.Operator != segment.OpIn && c.Operator != segment.OpIsNot && c.Operator != segment.OpNotIn {
			k = t.arg(key) + "::text"
			v = "metadata->" + k
		}
		switch c.Operator {
		case segment.OpHasValue, segment.OpIsUnknown:
			// Present: not missing, null, "", [] (or a zero date or
			// datetime, which the Go types store as "" or year 1).
			pos = fmt.Sprintf(`(%[1]s IS NOT NULL AND jsonb_typeof(%[1]s) <> 'null' AND %[1]s <> '""'::jsonb AND %[1]s <> '[]'::jsonb
				AND NOT (metadata_types->>%[2]s = 'datetime' AND %[1]s #>> '{}' = '0001-01-01T00:00:00Z'))`, v, k)
		case segment.OpIs, segment.OpIn, segment.OpIsNot, segment.OpNotIn:
			if len(strs) == 0 {
				return "", false
			}
			var alts []string
			for _, s := range strs {
				if !plainText(s) {
					return "", false
				}
				one, _ := json.Marshal(map[string]any{key: s})
				arr, _ := json.Marshal(map[string]any{key: []string{s}})
				alts = append(alts, fmt.Sprintf("metadata @> %s::jsonb OR metadata @> %s::jsonb", t.arg(string(one)), t.arg(string(arr))))
			}
			pos = "(" + strings.Join(alts, " OR ") + ")"
		case segment.OpContains, segment.OpNotContain, segment.OpStartsWith, segment.OpEndsWith:
			if len(strs) == 0 {
				return "", false
			}
			// A text value, or a text element of an array, that is not a
			// date or datetime (those are tagged in metadata_types).
			subs := t.arg(strs)
			pos = fmt.Sprintf(`(CASE jsonb_typeof(%[1]s)
				WHEN 'string' THEN metadata_types->%[2]s IS NULL AND %[1]s #>> '{}' <> ''
					AND EXISTS (SELECT 1 FROM unnest(%[3]s::text[]) AS o(s) WHERE %[4]s)
				WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements(%[1]s) WITH ORDINALITY AS e(v, i), unnest(%[3]s::text[]) AS o(s)
					WHERE jsonb_typeof(e.v) = 'string' AND e.v #>> '{}' <> ''
					AND (metadata_types->%[2]s IS NULL OR metadata_types->%[2]s->(e.i::int - 1) IS NULL OR jsonb_typeof(metadata_types->%[2]s->(e.i::int - 1)) = 'null')
					AND %[5]s)
				ELSE false END)`, v, k, subs, textTest(c.Operator, v+" #>> '{}'"), textTest(c.Operator, "e.v #>> '{}'"))
		default:
			return "", false
		}
	} else {
		return "", false
	}
	if neg {
		return "NOT " + pos, true
	}
	return pos, true
}

// textTest is the SQL test of value expression x against operand o.s.
func textTest(op segment.Operator, x string) string {
	switch op {
	case segment.OpStartsWith:
		return fmt.Sprintf("starts_with(%s, o.s)", x)
	case segment.OpEndsWith:
		return fmt.Sprintf("right(%s, length(o.s)) = o.s", x)
	default: // $contains, $not_contain
		return fmt.Sprintf("strpos(%s, o.s) > 0", x)
	}
}

// CustomersMatching implements segment.FilterPusher: it streams, in ID
// order, the customers that filter f matches, evaluated by PostgreSQL (see
// FilterSQL), with the same paging as Customers. ok is false when f is
// outside FilterSQL's subset; a full scan with the Go matcher is the
// fallback then. segment.Engine uses it for the full sync of a Filter
// segment when its Evaluator is segment.DefaultEvaluator without a Schema.
func (s *Store) CustomersMatching(ctx context.Context, f *segment.Filter, opts customer.ListOptions) (seq iter.Seq2[customer.Customer, error], ok bool) {
	expr, args, ok := FilterSQL(f, 2)
	if !ok {
		return nil, false
	}
	return s.pageCustomers(ctx, opts, expr, args, "customers matching a filter"), true
}
