package segment

import (
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// DefaultEvaluator compiles Voucherify filter JSON ([Segment.Filter]) and
// expr-lang expressions ([Segment.Expression]), and static segments into
// a test of the customer id. Its zero value is ready to use.
type DefaultEvaluator struct {
	// Schema types metadata fields: with it a number property compares as
	// a number and a date as a date whatever the operand's JSON type, and
	// an operator that does not fit the property's type is a compile error.
	// Without it, metadata values compare by their stored Go type.
	Schema *customer.Schema
}

// Compile implements Evaluator.
func (ev DefaultEvaluator) Compile(s Segment) (Matcher, error) {
	switch {
	case s.Type == Static:
		set := make(map[string]struct{}, len(s.CustomerIDs))
		for _, id := range s.CustomerIDs {
			set[id] = struct{}{}
		}
		return staticMatcher(set), nil
	case s.Filter != nil && s.Expression != "":
		return nil, filterErr("", "", "a segment has a filter or an expression, not both")
	case s.Filter != nil:
		return ev.CompileFilter(s.Filter)
	case s.Expression != "":
		return ev.CompileExpression(s.Expression)
	}
	return nil, filterErr("", "", "the segment has no rule (filter or expression)")
}

type staticMatcher map[string]struct{}

func (m staticMatcher) Match(c *customer.Customer, _ time.Time) bool {
	_, ok := m[c.ID]
	return ok
}

func (m staticMatcher) TimeDependent() bool { return false }

func (m staticMatcher) Explain(c *customer.Customer, now time.Time) Explanation {
	if m.Match(c, now) {
		return Explanation{Matched: true, Reason: "the customer is on the static list"}
	}
	return Explanation{Reason: fmt.Sprintf("the customer is not on the static list (of %d)", len(m))}
}
