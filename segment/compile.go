package segment

import (
	"math"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// opGroup classifies operators by what they test.
type opGroup uint8

const (
	gEqual    opGroup = iota // $is, $in and negations
	gPresence                // $has_value, $is_unknown
	gString                  // $contains, $starts_with, $ends_with, $not_contain
	gCompare                 // $more_than...: numbers, or days ago for dates
	gAfter                   // $after, $before
	gRelative                // $is_days_ago...: days relative to now
	gCount                   // $count...: number of values
	gNextMonth
)

type opSpec struct {
	group opGroup
	neg   bool // the operator is the negation of its group's test
}

var opSpecs = map[Operator]opSpec{
	OpIs: {gEqual, false}, OpIn: {gEqual, false}, OpIsNot: {gEqual, true}, OpNotIn: {gEqual, true},
	OpHasValue: {gPresence, false}, OpIsUnknown: {gPresence, true},
	OpContains: {gString, false}, OpNotContain: {gString, true}, OpStartsWith: {gString, false}, OpEndsWith: {gString, false},
	OpMoreThan: {gCompare, false}, OpLessThan: {gCompare, false}, OpMoreThanEqual: {gCompare, false}, OpLessThanEqual: {gCompare, false},
	OpAfter: {gAfter, false}, OpBefore: {gAfter, false},
	OpIsDaysAgo: {gRelative, false}, OpIsDaysInFuture: {gRelative, false}, OpMoreThanAgo: {gRelative, false},
	OpLessThanAgo: {gRelative, false}, OpMoreThanFuture: {gRelative, false}, OpLessThanFuture: {gRelative, false},
	OpCount: {gCount, false}, OpCountLess: {gCount, false}, OpCountMore: {gCount, false},
	OpNextMonth: {gNextMonth, false},
}

// cond is one compiled condition.
type cond struct {
	src   Condition
	f     field
	group opGroup
	neg   bool
	// test is the positive test of one present scalar value (already
	// converted to the field's kind when that is known).
	test func(v value, now time.Time) bool
	// count tests the number of values ($count...).
	count func(n int) bool
	// match is the whole test of a customer: evalGeneric, or a fast path
	// for the common cases (see fastPath).
	match func(c *customer.Customer, now time.Time) bool
}

func (k *cond) eval(c *customer.Customer, now time.Time) bool { return k.match(c, now) }

func (k *cond) evalGeneric(c *customer.Customer, now time.Time) bool {
	v, ok := k.f.get(c)
	return k.evalValue(v, ok, now)
}

// fastPath returns a test for a top-level metadata key holding a string or
// a number, the commonest rule, that reads the map and compares without
// building a value; any other value takes the generic path. It returns nil
// when the condition has no fast path.
func (k *cond) fastPath(ops []operand, cmpNum func(float64) bool) func(c *customer.Customer, now time.Time) bool {
	key, neg := k.f.metaKey, k.neg
	if key == "" {
		return nil
	}
	strOK := k.f.kind == kAny || k.f.kind == kString
	numOK := k.f.kind == kAny || k.f.kind == kNumber
	switch k.group {
	case gEqual:
		strs := make([]string, len(ops))
		var nums []float64
		for i, o := range ops {
			strs[i] = o.s
			if o.nOK {
				nums = append(nums, o.n)
			}
		}
		return func(c *customer.Customer, now time.Time) bool {
			switch v := c.Metadata[key].(type) {
			case string:
				if strOK && v != "" {
					for _, s := range strs {
						if v == s {
							return !neg
						}
					}
					return neg
				}
			case float64:
				if numOK {
					for _, n := range nums {
						if v == n {
							return !neg
						}
					}
					return neg
				}
			}
			return k.evalGeneric(c, now)
		}
	case gCompare:
		if cmpNum == nil {
			return nil
		}
		return func(c *customer.Customer, now time.Time) bool {
			if v, ok := c.Metadata[key].(float64); ok && numOK {
				return cmpNum(v)
			}
			return k.evalGeneric(c, now)
		}
	}
	return nil
}

func (k *cond) evalValue(v value, ok bool, now time.Time) bool {
	switch k.group {
	case gPresence:
		return ok != k.neg
	case gCount:
		n := 0
		if ok {
			n = 1
			if v.k == kArray {
				n = len(v.arr)
			}
		}
		return k.count(n)
	}
	if !ok {
		return k.neg
	}
	if v.k == kArray {
		for _, e := range v.arr {
			ev, ok := fromAny(e)
			if !ok || ev.k == kArray {
				continue
			}
			if ev, ok = coerce(ev, k.f.kind); ok && k.test(ev, now) {
				return !k.neg
			}
		}
		return k.neg
	}
	if k.f.kind != kAny && v.k != k.f.kind {
		if v, ok = coerce(v, k.f.kind); !ok {
			return k.neg
		}
	}
	return k.test(v, now) != k.neg
}

// filterGroup is a compiled Filter.
type filterGroup struct {
	or     bool
	conds  []*cond
	groups []*filterGroup
}

func (g *filterGroup) match(c *customer.Customer, now time.Time) bool {
	if g.or {
		for _, k := range g.conds {
			if k.eval(c, now) {
				return true
			}
		}
		for _, sub := range g.groups {
			if sub.match(c, now) {
				return true
			}
		}
		return false
	}
	for _, k := range g.conds {
		if !k.eval(c, now) {
			return false
		}
	}
	for _, sub := range g.groups {
		if !sub.match(c, now) {
			return false
		}
	}
	return true
}

func (g *filterGroup) explain(c *customer.Customer, now time.Time) Explanation {
	ex := Explanation{Junction: And}
	if g.or {
		ex.Junction = Or
	}
	for _, k := range g.conds {
		v, ok := k.f.get(c)
		r := ConditionResult{Path: k.src.Path, Operator: k.src.Operator, Values: k.src.Values, Matched: k.evalValue(v, ok, now)}
		if ok {
			r.Actual = v.actual()
		}
		ex.Conditions = append(ex.Conditions, r)
	}
	for _, sub := range g.groups {
		ex.Groups = append(ex.Groups, sub.explain(c, now))
	}
	ex.Matched = g.match(c, now)
	return ex
}

// filterMatcher is the Matcher of a Filter.
type filterMatcher struct {
	root    *filterGroup
	timeDep bool
}

func (m *filterMatcher) Match(c *customer.Customer, now time.Time) bool { return m.root.match(c, now) }

func (m *filterMatcher) Explain(c *customer.Customer, now time.Time) Explanation {
	return m.root.explain(c, now)
}

func (m *filterMatcher) TimeDependent() bool { return m.timeDep }

// CompileFilter compiles a filter into a Matcher, checking every field path,
// operator and value against the field's type; a problem is a
// *FilterError.
func (ev DefaultEvaluator) CompileFilter(f *Filter) (Matcher, error) {
	if f == nil {
		return nil, filterErr("", "", "no filter")
	}
	m := &filterMatcher{}
	root, err := ev.compileGroup(f, m, 0)
	if err != nil {
		return nil, err
	}
	m.root = root
	return m, nil
}

// maxDepth bounds filter nesting.
const maxDepth = 32

func (ev DefaultEvaluator) compileGroup(f *Filter, m *filterMatcher, depth int) (*filterGroup, error) {
	if depth > maxDepth {
		return nil, filterErr("groups", "", "filters nest more than %d deep", maxDepth)
	}
	switch f.Junction {
	case "", And, Or:
	default:
		return nil, filterErr("", "", `junction %q is not "and" or "or"`, f.Junction)
	}
	if len(f.Conditions) == 0 && len(f.Groups) == 0 {
		return nil, filterErr("", "", "the filter has no conditions")
	}
	g := &filterGroup{or: f.Junction == Or}
	for _, c := range f.Conditions {
		k, timeDep, err := ev.compileCond(c)
		if err != nil {
			return nil, err
		}
		m.timeDep = m.timeDep || timeDep
		g.conds = append(g.conds, k)
	}
	for _, sub := range f.Groups {
		if sub == nil {
			return nil, filterErr("groups", "", "a group is nil")
		}
		sg, err := ev.compileGroup(sub, m, depth+1)
		if err != nil {
			return nil, err
		}
		g.groups = append(g.groups, sg)
	}
	return g, nil
}

func (ev DefaultEvaluator) compileCond(c Condition) (_ *cond, timeDep bool, _ error) {
	f, err := ev.resolve(c.Path)
	if err != nil {
		return nil, false, err
	}
	spec, ok := opSpecs[c.Operator]
	if !ok {
		return nil, false, filterErr(c.Path, string(c.Operator), "unknown operator")
	}
	bad := func(format string, args ...any) (*cond, bool, error) {
		return nil, false, filterErr(c.Path, string(c.Operator), format, args...)
	}
	fits := func(kinds ...kind) bool {
		for _, k := range kinds {
			if f.kind == k {
				return true
			}
		}
		return false
	}
	ops := make([]operand, len(c.Values))
	for i, v := range c.Values {
		switch v.(type) {
		case string, float64, bool:
		default:
			return bad("value %d: want a string, number or boolean, got %T", i+1, v)
		}
		ops[i] = newOperand(v)
	}
	one := func() (*operand, error) {
		if len(ops) != 1 {
			return nil, filterErr(c.Path, string(c.Operator), "want exactly one value, got %d", len(ops))
		}
		return &ops[0], nil
	}
	days := func() (float64, error) {
		o, err := one()
		if err != nil {
			return 0, err
		}
		if !o.nOK || o.n < 0 || o.n != math.Trunc(o.n) || o.n > 1e6 {
			return 0, filterErr(c.Path, string(c.Operator), "want a whole number of %s (0 or more), got %s", unit(c.Operator), jsonText(o.raw))
		}
		return o.n, nil
	}
	k := &cond{src: c, f: f, group: spec.group, neg: spec.neg}
	var cmpNum func(a float64) bool // gCompare on numbers
	dateKinds := []kind{kDate, kTime, kAny}
	switch spec.group {
	case gPresence:
		// Values ("" in Voucherify's examples) are ignored.

	case gEqual:
		if !fits(kString, kNumber, kBool, kDate, kTime, kAny) {
			return bad("the field is a %s; only $has_value and $is_unknown apply", f.kind)
		}
		if len(ops) == 0 {
			return bad("want at least one value")
		}
		for i, o := range ops {
			switch {
			case f.kind == kNumber && !o.nOK:
				return bad("value %d: the field is a number, got %s", i+1, jsonText(o.raw))
			case f.kind == kBool && !o.bOK:
				return bad("value %d: the field is a boolean, got %s", i+1, jsonText(o.raw))
			case (f.kind == kDate || f.kind == kTime) && !o.tOK:
				return bad("value %d: the field is a %s, got %s (want YYYY-MM-DD or an ISO 8601 date-time)", i+1, f.kind, jsonText(o.raw))
			}
		}
		k.test = func(v value, _ time.Time) bool {
			for i := range ops {
				if ops[i].equal(v) {
					return true
				}
			}
			return false
		}

	case gString:
		if !fits(kString, kAny) {
			return bad("the field is a %s; %s applies to text", f.kind, c.Operator)
		}
		if len(ops) == 0 {
			return bad("want at least one value")
		}
		strs := make([]string, len(ops))
		for i, o := range ops {
			if _, isBool := o.raw.(bool); isBool {
				return bad("value %d: want text, got %v", i+1, o.raw)
			}
			strs[i] = o.s
		}
		var test func(s, sub string) bool
		switch c.Operator {
		case OpContains, OpNotContain:
			test = strings.Contains
		case OpStartsWith:
			test = strings.HasPrefix
		default:
			test = strings.HasSuffix
		}
		k.test = func(v value, _ time.Time) bool {
			if v.k != kString {
				return false
			}
			for _, sub := range strs {
				if test(v.s, sub) {
					return true
				}
			}
			return false
		}

	case gCompare:
		if !fits(kNumber, kDate, kTime, kAny) {
			return bad("the field is a %s; %s compares numbers (or, for dates, days ago)", f.kind, c.Operator)
		}
		o, err := one()
		if err != nil {
			return nil, false, err
		}
		if !o.nOK {
			return bad("want a number, got %s", jsonText(o.raw))
		}
		n := o.n
		var cmpAge func(age float64) bool // days ago
		switch c.Operator {
		case OpMoreThan:
			cmpNum = func(a float64) bool { return a > n }
			cmpAge = func(age float64) bool { return age > n }
		case OpLessThan:
			cmpNum = func(a float64) bool { return a < n }
			cmpAge = func(age float64) bool { return age >= 0 && age < n }
		case OpMoreThanEqual:
			cmpNum = func(a float64) bool { return a >= n }
			cmpAge = func(age float64) bool { return age >= n }
		default: // OpLessThanEqual
			cmpNum = func(a float64) bool { return a <= n }
			cmpAge = func(age float64) bool { return age >= 0 && age <= n }
		}
		timeDep = f.kind != kNumber
		k.test = func(v value, now time.Time) bool {
			if a, ok := v.num(); ok {
				return cmpNum(a)
			}
			if t, isDate, ok := v.time(); ok {
				return cmpAge(ageDays(t, isDate, now))
			}
			return false
		}

	case gAfter:
		if !fits(dateKinds...) {
			return bad("the field is a %s; %s applies to dates", f.kind, c.Operator)
		}
		o, err := one()
		if err != nil {
			return nil, false, err
		}
		if !o.tOK {
			return bad("want a date (YYYY-MM-DD) or an ISO 8601 date-time, got %s", jsonText(o.raw))
		}
		ot, dateOnly, after := o.t, o.dateOnly, c.Operator == OpAfter
		k.test = func(v value, _ time.Time) bool {
			t, isDate, ok := v.time()
			if !ok {
				return false
			}
			if isDate || dateOnly {
				d, od := dayNumber(t), dayNumber(ot)
				if after {
					return d > od
				}
				return d < od
			}
			if after {
				return t.After(ot)
			}
			return t.Before(ot)
		}

	case gRelative:
		if !fits(dateKinds...) {
			return bad("the field is a %s; %s applies to dates", f.kind, c.Operator)
		}
		n, err := days()
		if err != nil {
			return nil, false, err
		}
		timeDep = true
		var test func(age float64, dayDiff int64) bool // age in days (negative: future); whole calendar days
		switch c.Operator {
		case OpIsDaysAgo:
			test = func(_ float64, d int64) bool { return d == int64(n) }
		case OpIsDaysInFuture:
			test = func(_ float64, d int64) bool { return d == -int64(n) }
		case OpMoreThanAgo:
			test = func(a float64, _ int64) bool { return a > n }
		case OpLessThanAgo:
			test = func(a float64, _ int64) bool { return a >= 0 && a < n }
		case OpMoreThanFuture:
			test = func(a float64, _ int64) bool { return -a > n }
		default: // OpLessThanFuture
			test = func(a float64, _ int64) bool { return -a >= 0 && -a < n }
		}
		k.test = func(v value, now time.Time) bool {
			t, isDate, ok := v.time()
			if !ok {
				return false
			}
			return test(ageDays(t, isDate, now), dayNumber(now)-dayNumber(t))
		}

	case gCount:
		if !f.array && f.kind != kAny {
			return bad("the field holds one value; %s counts the values of an array", c.Operator)
		}
		n, err := days()
		if err != nil {
			return nil, false, err
		}
		want := int(n)
		switch c.Operator {
		case OpCount:
			k.count = func(got int) bool { return got == want }
		case OpCountLess:
			k.count = func(got int) bool { return got < want }
		default:
			k.count = func(got int) bool { return got > want }
		}

	case gNextMonth:
		if !fits(dateKinds...) {
			return bad("the field is a %s; %s applies to dates", f.kind, c.Operator)
		}
		if len(ops) > 1 {
			return bad("want true or false, got %d values", len(ops))
		}
		if len(ops) == 1 {
			if !ops[0].bOK {
				return bad("want true or false, got %s", jsonText(ops[0].raw))
			}
			k.neg = !ops[0].b
		}
		timeDep = true
		k.test = func(v value, now time.Time) bool {
			t, _, ok := v.time()
			if !ok {
				return false
			}
			y, m, _ := now.UTC().Date()
			next := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).Month()
			return t.UTC().Month() == next
		}
	}
	k.match = k.evalGeneric
	if fast := k.fastPath(ops, cmpNum); fast != nil {
		k.match = fast
	}
	return k, timeDep, nil
}

func unit(op Operator) string {
	if opSpecs[op].group == gCount {
		return "values"
	}
	return "days"
}

// ageDays is how many days before now t is (negative when t is after
// now): whole calendar days (UTC) for a date, fractional days for an
// instant.
func ageDays(t time.Time, isDate bool, now time.Time) float64 {
	if isDate {
		return float64(dayNumber(now) - dayNumber(t))
	}
	return now.Sub(t).Hours() / 24
}
