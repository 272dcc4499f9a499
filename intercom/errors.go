package intercom

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// Errors that callers branch on with errors.Is.
var (
	// ErrUnauthorized: the token is missing, invalid or revoked (HTTP 401).
	ErrUnauthorized = errors.New("intercom: unauthorized")
	// ErrNotFound: the resource does not exist (HTTP 404). An *Error with
	// status 404 also matches customer.ErrNotFound (codedrop's shared
	// sentinel), so code that only knows the shared value works too.
	ErrNotFound = errors.New("intercom: not found")
	// ErrRateLimited: Intercom's rate limit was hit and retries ran out (HTTP 429).
	ErrRateLimited = errors.New("intercom: rate limited")
	// ErrContactMerged: the contact was merged into another (HTTP 410); the
	// *Error's CanonicalContactID names the contact it was merged into.
	ErrContactMerged = errors.New("intercom: contact merged")
	// ErrAmbiguous: a write may or may not have reached Intercom (a timeout
	// after the request was sent, a 5xx); it is not retried, so the caller
	// decides whether to reconcile or repeat it.
	ErrAmbiguous = errors.New("intercom: outcome unknown; the request may have been performed")
	// ErrInvalid: the input was rejected before anything was sent; the
	// wrapping error names the field. It is codedrop's shared sentinel
	// (customer.ErrInvalid).
	ErrInvalid = customer.ErrInvalid
)

// Error is an error answer from Intercom's API (an HTTP status of 400 or
// more). It carries every entry of Intercom's error.list. Error codes are
// open strings: Intercom documents that new ones may appear.
//
// Use errors.As to get at the details, and errors.Is with ErrUnauthorized,
// ErrNotFound, ErrRateLimited or ErrContactMerged to branch on the class.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Method and Path name the request ("POST", "/messages"); never the
	// query string or headers, so no secrets.
	Method, Path string
	// RequestID is Intercom's request_id (from the body, or the
	// X-Request-Id header), empty when unknown.
	RequestID string
	// Errors are the entries of the error.list body, in order.
	Errors []ErrorDetail
	// CanonicalContactID is, for a merged contact (410), the id of the
	// contact it was merged into (from the Link header).
	CanonicalContactID string
	// RateLimitReset is, for a 429, when Intercom said the window resets
	// (zero when it did not say).
	RateLimitReset time.Time
}

// ErrorDetail is one entry of Intercom's error.list.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("intercom: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	for i, d := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(d.Code)
		if d.Message != "" {
			b.WriteString(" ")
			b.WriteString(fmt.Sprintf("%q", d.Message))
		}
		if d.Field != "" {
			b.WriteString(" (field ")
			b.WriteString(d.Field)
			b.WriteString(")")
		}
	}
	if e.CanonicalContactID != "" {
		b.WriteString(" (merged into contact ")
		b.WriteString(e.CanonicalContactID)
		b.WriteString(")")
	}
	if e.RequestID != "" {
		b.WriteString(" [request ")
		b.WriteString(e.RequestID)
		b.WriteString("]")
	}
	return b.String()
}

// Is reports whether e belongs to the class target names: ErrUnauthorized
// (401), ErrNotFound or customer.ErrNotFound (404), ErrRateLimited (429),
// ErrContactMerged (410 or code contact_merged).
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound, customer.ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrContactMerged:
		return e.StatusCode == http.StatusGone || e.HasCode("contact_merged")
	}
	return false
}

// HasCode reports whether any entry of e.Errors has the code.
func (e *Error) HasCode(code string) bool {
	for _, d := range e.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// Temporary reports whether repeating the request later may succeed (429
// and 5xx).
func (e *Error) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// ambiguous marks err as ErrAmbiguous while keeping the cause reachable by
// errors.Is and errors.As.
func ambiguous(method, path string, err error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrAmbiguous, method, path, err)
}
