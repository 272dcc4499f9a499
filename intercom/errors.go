package intercom

import "errors"

// Errors that callers branch on with errors.Is.
var (
	// ErrUnauthorized: the token is missing, invalid or revoked (HTTP 401).
	ErrUnauthorized = errors.New("intercom: unauthorized")
	// ErrNotFound: the resource does not exist (HTTP 404).
	ErrNotFound = errors.New("intercom: not found")
	// ErrRateLimited: Intercom's rate limit was hit and retries ran out (HTTP 429).
	ErrRateLimited = errors.New("intercom: rate limited")
	// ErrContactMerged: the contact was merged into another (HTTP 410).
	ErrContactMerged = errors.New("intercom: contact merged")
	// ErrAmbiguous: a write may or may not have reached Intercom (a timeout
	// after the request was sent, a 5xx); it is not retried, so the caller
	// decides whether to reconcile or repeat it.
	ErrAmbiguous = errors.New("intercom: outcome unknown; the request may have been performed")
)
