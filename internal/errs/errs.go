// Package errs holds the sentinel errors that every codedrop package
// re-exports, so that customer.ErrNotFound, segment.ErrNotFound and
// distribution.ErrNotFound are one value and errors.Is works across packages.
package errs

import "errors"

var (
	// NotFound reports that a record does not exist.
	NotFound = errors.New("codedrop: not found")
	// Conflict reports that a write clashes with stored data (a duplicate
	// unique key, a changed immutable field, a state that forbids the call).
	Conflict = errors.New("codedrop: conflict")
	// Invalid reports input that fails validation; the wrapping error names
	// the field, row or position.
	Invalid = errors.New("codedrop: invalid input")
)
