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

// MaxStaticCustomers is the most customers a static segment may list.
const MaxStaticCustomers = 20000

// Segment is a group of customers.
type Segment struct {
	ID   string `json:"id"` // "seg_..."
	Name string `json:"name"`
	Type Type   `json:"type"`
	// Filter is the rule as Voucherify filter JSON (rule segments only).
	Filter *Filter `json:"filter,omitempty"`
	// Expression is the rule as an expr-lang expression (rule segments
	// only; exclusive with Filter).
	Expression string `json:"expression,omitempty"`
	// CustomerIDs lists a static segment's members.
	CustomerIDs []string   `json:"customer_ids,omitempty"`
	SyncStatus  SyncStatus `json:"sync_status"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}
