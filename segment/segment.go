package segment

import (
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/internal/errs"
)

// Errors that callers branch on with errors.Is; the same values as in
// package customer and distribution.
var (
	ErrNotFound = errs.NotFound
	ErrConflict = errs.Conflict
	ErrInvalid  = errs.Invalid
)

// Type says how a segment's members are chosen.
type Type string

// The segment types, as Voucherify names them.
const (
	// Static segments are a fixed list of customer ids (at most MaxStaticCustomers).
	Static Type = "static"
	// AutoUpdate segments follow a rule and emit entered/left events.
	AutoUpdate Type = "auto-update"
	// Passive segments follow a rule and emit no events.
	Passive Type = "passive"
)

// SyncStatus says whether every customer has been checked against a segment.
type SyncStatus string

// The sync statuses.
const (
	Syncing SyncStatus = "syncing"
	Synced  SyncStatus = "synced"
)

// Evaluator compiles a segment's rule into a Matcher. Compile reports a bad
// rule as a *FilterError. Implementations must be safe for concurrent use.
type Evaluator interface {
	Compile(s Segment) (Matcher, error)
}

// Matcher tests one customer against a compiled rule at time now (for
// relative-time conditions). It must be safe for concurrent use and must
// not modify c.
type Matcher interface {
	Match(c *customer.Customer, now time.Time) bool
}
