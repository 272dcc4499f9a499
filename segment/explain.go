package segment

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Explanation says why a customer is or is not in a segment: for a rule,
// which conditions the customer meets and which not; for a static segment,
// whether it is on the list.
type Explanation struct {
	SegmentID  string `json:"segment_id,omitempty"`
	CustomerID string `json:"customer_id,omitempty"`
	// Matched is the overall result (what Match returns).
	Matched bool `json:"matched"`
	// Junction combines Conditions and Groups (rules only).
	Junction Junction `json:"junction,omitempty"`
	// Conditions are the individual tests, in the order written. For an
	// expression they are the operands of its top-level && or || chain.
	Conditions []ConditionResult `json:"conditions,omitempty"`
	// Groups are nested filters.
	Groups []Explanation `json:"groups,omitempty"`
	// Reason is a sentence for results that are not a list of conditions
	// (a static segment, a Matcher that cannot explain itself).
	Reason string `json:"reason,omitempty"`
}

// ConditionResult is the outcome of one condition for one customer.
type ConditionResult struct {
	// Path, Operator and Values describe a filter condition.
	Path     string   `json:"path,omitempty"`
	Operator Operator `json:"operator,omitempty"`
	Values   []any    `json:"values,omitempty"`
	// Expression is the text of an expression condition.
	Expression string `json:"expression,omitempty"`
	// Actual is the customer's value of the field (nil when it has none).
	Actual any `json:"actual"`
	// Matched says whether the customer meets the condition.
	Matched bool `json:"matched"`
	// Error is set when evaluating the condition failed (an expression
	// applied to a missing or mistyped value); the condition then does not
	// match.
	Error string `json:"error,omitempty"`
}

// String renders the explanation as indented text, one condition a line,
// for people:
//
//	customer cust_1 is not in segment seg_1: all of these must hold
//	  yes  metadata.source $is ["Intercom"] (customer: "Intercom")
//	  no   metadata.ltv $more_than [100] (customer: 50)
func (e Explanation) String() string {
	var b strings.Builder
	verdict := "is in"
	if !e.Matched {
		verdict = "is not in"
	}
	who, seg := e.CustomerID, e.SegmentID
	if who == "" {
		who = "?"
	}
	if seg == "" {
		seg = "?"
	}
	fmt.Fprintf(&b, "customer %s %s segment %s", who, verdict, seg)
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	b.WriteByte('\n')
	e.writeBody(&b, "  ")
	return b.String()
}

func (e Explanation) writeBody(b *strings.Builder, indent string) {
	if len(e.Conditions)+len(e.Groups) == 0 {
		return
	}
	if len(e.Conditions)+len(e.Groups) > 1 {
		if e.Junction == Or {
			fmt.Fprintf(b, "%sat least one of these must hold:\n", indent)
		} else {
			fmt.Fprintf(b, "%sall of these must hold:\n", indent)
		}
	}
	for _, c := range e.Conditions {
		mark := "no "
		if c.Matched {
			mark = "yes"
		}
		fmt.Fprintf(b, "%s%s  %s", indent, mark, c.describe())
		switch {
		case c.Error != "":
			fmt.Fprintf(b, " (error: %s)", c.Error)
		case c.Expression == "":
			fmt.Fprintf(b, " (customer: %s)", jsonText(c.Actual))
		}
		b.WriteByte('\n')
	}
	for _, g := range e.Groups {
		mark := "no "
		if g.Matched {
			mark = "yes"
		}
		fmt.Fprintf(b, "%s%s  group:\n", indent, mark)
		g.writeBody(b, indent+"     ")
	}
}

func (c ConditionResult) describe() string {
	if c.Expression != "" {
		return c.Expression
	}
	if len(c.Values) == 0 {
		return fmt.Sprintf("%s %s", c.Path, c.Operator)
	}
	return fmt.Sprintf("%s %s %s", c.Path, c.Operator, jsonText(c.Values))
}

func jsonText(v any) string {
	if v == nil {
		return "no value"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
