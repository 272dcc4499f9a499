package segment

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/internal/errs"
	"github.com/codedrop/codedrop/internal/ids"
)

// Errors that callers branch on with errors.Is; the same values as in
// package customer and distribution.
var (
	ErrNotFound = errs.NotFound
	ErrConflict = errs.Conflict
	ErrInvalid  = errs.Invalid
)

// IDPrefix starts every segment id ("seg_...").
const IDPrefix = "seg"

// NewID returns a fresh segment id.
func NewID() string { return ids.New(IDPrefix) }

// The event types a segment membership change emits (auto-update segments
// only), as Voucherify names them.
const (
	EventEntered = "customer.segment.entered"
	EventLeft    = "customer.segment.left"
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

// IsRule reports whether segments of type t choose their members by a rule
// (auto-update and passive segments).
func (t Type) IsRule() bool { return t == AutoUpdate || t == Passive }

// SyncStatus says whether every customer has been checked against a segment.
type SyncStatus string

// The sync statuses.
const (
	// Syncing: customers are being checked against the segment; its
	// membership is incomplete.
	Syncing SyncStatus = "syncing"
	// Synced: every customer has been checked; membership is current.
	Synced SyncStatus = "synced"
)

// Evaluator compiles a segment's rule into a Matcher. Compile reports a bad
// rule as a *FilterError. Implementations must be safe for concurrent use.
//
// [DefaultEvaluator] understands Voucherify filter JSON ([Segment.Filter]),
// expr-lang expressions ([Segment.Expression]) and static lists.
type Evaluator interface {
	Compile(s Segment) (Matcher, error)
}

// Matcher tests one customer against a compiled rule at time now (for
// relative-time conditions). It must be safe for concurrent use and must
// not modify c.
//
// A Matcher may also implement [Explainer] and [TimeDependent]; the ones
// [DefaultEvaluator] returns do.
type Matcher interface {
	Match(c *customer.Customer, now time.Time) bool
}

// Explainer is implemented by Matchers that can say which of their
// conditions a customer meets. Explain must agree with Match.
type Explainer interface {
	Explain(c *customer.Customer, now time.Time) Explanation
}

// TimeDependent is implemented by Matchers that know whether their result
// can change as time passes with the customer unchanged ("created more than
// 30 days ago"). Matchers that do not implement it are treated as time
// dependent.
type TimeDependent interface {
	TimeDependent() bool
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
	// CustomerIDs lists a static segment's members (customer ids; on
	// creation source ids are accepted too and resolved to ids).
	CustomerIDs []string   `json:"customer_ids,omitempty"`
	SyncStatus  SyncStatus `json:"sync_status"`
	// SyncChecked and SyncTotal are a sync's progress: SyncChecked of
	// SyncTotal customers have been checked against the rule, by the sync
	// running now (SyncStatus Syncing) or by the last one (Synced). They
	// are persisted after every batch, so every replica sees them.
	// SyncTotal is the number of customers when the sync started (0 when
	// the customer store cannot count them, see [CustomerCounter]); a sync
	// that the store helps ([FilterPusher]) reads fewer customers and
	// reaches SyncTotal when it ends. Both are 0 before a rule segment's
	// first sync starts, and for static segments.
	SyncChecked int `json:"sync_checked"`
	SyncTotal   int `json:"sync_total"`
	// SyncedAt is when the last full sync finished; zero before the first.
	SyncedAt  time.Time `json:"synced_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// validate checks the shape of s (not its rule, which the Evaluator
// compiles).
func (s *Segment) validate() error {
	if s.Name == "" {
		return fmt.Errorf("segment: name is required: %w", ErrInvalid)
	}
	switch s.Type {
	case Static:
		if s.Filter != nil || s.Expression != "" {
			return fmt.Errorf("segment %q: a static segment has no filter or expression: %w", s.Name, ErrInvalid)
		}
		if len(s.CustomerIDs) > MaxStaticCustomers {
			return fmt.Errorf("segment %q: a static segment lists at most %d customers, got %d: %w",
				s.Name, MaxStaticCustomers, len(s.CustomerIDs), ErrInvalid)
		}
	case AutoUpdate, Passive:
		if len(s.CustomerIDs) > 0 {
			return fmt.Errorf("segment %q: customer_ids is for static segments only; a %s segment has a rule: %w",
				s.Name, s.Type, ErrInvalid)
		}
		if (s.Filter == nil) == (s.Expression == "") {
			return fmt.Errorf("segment %q: a %s segment needs exactly one of filter and expression: %w",
				s.Name, s.Type, ErrInvalid)
		}
	default:
		return fmt.Errorf("segment %q: type %q is not one of static, auto-update, passive: %w", s.Name, s.Type, ErrInvalid)
	}
	return nil
}

// Change is one customer entering or leaving one segment.
type Change struct {
	SegmentID  string
	CustomerID string
	// Entered is true when the customer joined the segment, false when it
	// left.
	Entered bool
	// Emit is true when the change should be published as an event
	// (EventEntered or EventLeft): the segment is auto-update and the change
	// does not come from the segment's first sync.
	Emit bool
}

// EventType returns EventEntered or EventLeft.
func (c Change) EventType() string {
	if c.Entered {
		return EventEntered
	}
	return EventLeft
}

// Store persists segments and their memberships. Implementations must be
// safe for concurrent use. package store implements it (store.Memory,
// store/postgres); store/storetest checks an implementation.
type Store interface {
	// CreateSegment stores a new segment as given (ID set by the caller).
	// An existing ID fails with ErrConflict.
	CreateSegment(ctx context.Context, s Segment) error

	// GetSegment returns the segment with id, or an error wrapping
	// ErrNotFound.
	GetSegment(ctx context.Context, id string) (Segment, error)

	// Segments iterates over all segments in ID order.
	Segments(ctx context.Context) iter.Seq2[Segment, error]

	// DeleteSegment removes a segment and all its memberships, or returns an
	// error wrapping ErrNotFound.
	DeleteSegment(ctx context.Context, id string) error

	// UpdateSegment replaces the definition of the stored segment s.ID
	// with s's: Name, Type, Filter, Expression, CustomerIDs and UpdatedAt.
	// When s.SyncStatus is set it also replaces the sync fields
	// (SyncStatus, SyncChecked, SyncTotal, SyncedAt), in the same write;
	// when it is empty they are left as stored. ID and CreatedAt are kept;
	// memberships are left as they are. A Filter must come back as given:
	// the same conditions in the same order (Filter.String equal). A
	// missing segment fails with ErrNotFound.
	UpdateSegment(ctx context.Context, s Segment) error

	// SetSyncStatus sets a segment's SyncStatus and UpdatedAt to at; when
	// status is Synced it also sets SyncedAt to at. A missing segment
	// fails with ErrNotFound.
	SetSyncStatus(ctx context.Context, id string, status SyncStatus, at time.Time) error

	// SetSyncProgress sets a segment's SyncChecked and SyncTotal (nothing
	// else, not even UpdatedAt). A missing segment fails with ErrNotFound.
	SetSyncProgress(ctx context.Context, id string, checked, total int) error

	// AddMembers makes the customers members of the segment. Ids already
	// members are left as they are. A missing segment fails with
	// ErrNotFound (and nothing is added).
	AddMembers(ctx context.Context, segmentID string, customerIDs []string) error

	// RemoveMembers ends the customers' membership of the segment. Ids that
	// are not members are ignored. A missing segment fails with ErrNotFound.
	RemoveMembers(ctx context.Context, segmentID string, customerIDs []string) error

	// ChangeMemberships makes one customer a member of the segments in join
	// and ends its membership of those in leave, atomically. Segments that
	// do not exist (deleted meanwhile) are ignored, as are joins of
	// segments the customer is already in and leaves of segments it is not.
	ChangeMemberships(ctx context.Context, customerID string, join, leave []string) error

	// Members iterates over the ids of a segment's members in ascending
	// order, starting after opts.After (a cursor). A missing segment yields
	// an error wrapping ErrNotFound. Iteration stops at the first error.
	Members(ctx context.Context, segmentID string, opts MemberOptions) iter.Seq2[string, error]

	// CountMembers returns how many members a segment has.
	CountMembers(ctx context.Context, segmentID string) (int, error)

	// CustomerSegments returns the ids of the segments a customer is a
	// member of, in ascending order (empty, not an error, when none).
	CustomerSegments(ctx context.Context, customerID string) ([]string, error)
}

// MemberOptions tunes [Store.Members].
type MemberOptions struct {
	// After starts the listing after this customer id (a cursor).
	After string
	// Limit stops after this many ids; 0 means no limit.
	Limit int
}
