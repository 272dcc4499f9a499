package segment

import (
	"fmt"
	"strings"
)

// FilterError reports a rule that does not compile: a malformed filter, an
// unknown field, an operator that does not fit the field's type, a value of
// the wrong kind, or an expression that does not parse or type-check.
// It matches ErrInvalid with errors.Is:
//
//	_, err := engine.Create(ctx, seg)
//	var fe *segment.FilterError
//	if errors.As(err, &fe) {
//		log.Printf("field %s, operator %s: %v", fe.Path, fe.Operator, fe.Err)
//	}
type FilterError struct {
	// Path is the field path ("metadata.ltv"), "expression" for an
	// expression, or "" when the problem is the filter's shape.
	Path string
	// Operator is the operator ("$more_than") or "" when not about one.
	Operator string
	// Err says what is wrong.
	Err error
}

// Error formats the error as "segment rule: PATH OPERATOR: what is wrong".
func (e *FilterError) Error() string {
	var b strings.Builder
	b.WriteString("segment rule")
	if e.Path != "" {
		fmt.Fprintf(&b, ": %s", e.Path)
	}
	if e.Operator != "" {
		fmt.Fprintf(&b, " %s", e.Operator)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *FilterError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalid: every FilterError is invalid
// input.
func (e *FilterError) Is(target error) bool { return target == ErrInvalid }

func filterErr(path, op, format string, args ...any) *FilterError {
	return &FilterError{Path: path, Operator: op, Err: fmt.Errorf(format, args...)}
}
