package distribution

import (
	"errors"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/internal/errs"
)

// Errors that callers branch on with errors.Is. ErrNotFound, ErrConflict
// and ErrInvalid are the same values in every codedrop package.
var (
	ErrNotFound = errs.NotFound
	ErrConflict = errs.Conflict
	ErrInvalid  = errs.Invalid

	// ErrWindowClosed: Update or Cancel came after a manual distribution
	// started sending (or finished); nothing was changed.
	ErrWindowClosed = errors.New("distribution: the edit window is closed; the distribution has started sending")
	// ErrNameTaken: another distribution (or consent) has this name. It
	// matches ErrConflict too; stores wrap it for a duplicate name.
	ErrNameTaken = fmt.Errorf("distribution: name already in use: %w", errs.Conflict)
	// ErrNoCampaigns is returned by Manager.CreateCampaign when the code
	// source holds no campaigns (Config.Codes is not a codes.Registry).
	ErrNoCampaigns = errors.New("distribution: the code source does not hold campaigns (not a codes.Registry); create campaigns in your code source")
	// ErrChannelNotFound: a distribution names a channel no one registered.
	ErrChannelNotFound = errors.New("distribution: unknown channel")
)

// ErrorClass says what a Channel's send error means for a retry.
type ErrorClass int

// The error classes.
const (
	// Permanent: the message was not sent and repeating the call will not
	// help (bad recipient, rejected content). The delivery fails.
	Permanent ErrorClass = iota
	// Transient: the message was not sent and a later attempt may succeed
	// (rate limited, connection refused before the request was written).
	// The delivery is retried with backoff.
	Transient
	// Ambiguous: the message may have been sent (a timeout after the
	// request was written, a 5xx). The delivery is marked unknown for the
	// host to reconcile; it is never repeated automatically.
	Ambiguous
	// RateLimited: the provider refused the request because of its rate
	// limit, without performing it (Intercom's 429). The delivery keeps its
	// place: it goes back from sending, waits RetryAfter (a second when
	// zero) and is sent again by the same worker, without counting an
	// attempt (a few times in a row at most; then a retry job sends it
	// after RetryAfter, counting an attempt). A Checker's RateLimited
	// error (a contact lookup refused) is waited out the same way.
	RateLimited
)

// String returns "permanent", "transient", "ambiguous" or "rate limited".
func (c ErrorClass) String() string {
	switch c {
	case Transient:
		return "transient"
	case Ambiguous:
		return "ambiguous"
	case RateLimited:
		return "rate limited"
	default:
		return "permanent"
	}
}

// SendError is a classified error from a Channel. A Channel that returns
// an error that is not (and does not wrap) a *SendError is treated as
// Permanent.
type SendError struct {
	Class ErrorClass
	// RetryAfter, when positive, is the earliest a Transient failure
	// should be retried (from a provider's rate-limit reset).
	RetryAfter time.Duration
	Err        error
}

// Error implements error. It is the cause's text (recorded as the
// delivery's reason); the class is in Class.
func (e *SendError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *SendError) Unwrap() error { return e.Err }

// PermanentError classifies err as Permanent.
func PermanentError(err error) error { return &SendError{Class: Permanent, Err: err} }

// TransientError classifies err as Transient, retried no sooner than
// retryAfter (0: the Manager's backoff decides).
func TransientError(err error, retryAfter time.Duration) error {
	return &SendError{Class: Transient, RetryAfter: retryAfter, Err: err}
}

// RateLimitedError classifies err as RateLimited: the provider refused the
// request for its rate limit; send again after retryAfter (0: a second).
func RateLimitedError(err error, retryAfter time.Duration) error {
	return &SendError{Class: RateLimited, RetryAfter: retryAfter, Err: err}
}

// AmbiguousError classifies err as Ambiguous: the send may have happened.
func AmbiguousError(err error) error { return &SendError{Class: Ambiguous, Err: err} }

func classify(err error) (ErrorClass, time.Duration) {
	var se *SendError
	if errors.As(err, &se) {
		return se.Class, se.RetryAfter
	}
	return Permanent, 0
}
