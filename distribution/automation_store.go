package distribution

import (
	"context"
	"iter"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// AutomationStore is what automatic distributions and the send-time
// policies persist, beside Store: events, order and redemption summaries,
// usage counters and the send log of frequency caps. store.Memory
// implements it; store/storetest checks any implementation.
type AutomationStore interface {
	EventStore
	SummaryStore
	UsageStore
	SendLog
}

// EventStore keeps the events the Manager accepted: the durable queue of
// events to process (claimed by one replica at a time), so a repeated
// event id is ignored and a deferred or retried delivery can still render
// the event's payload. Implementations must be safe for concurrent use and
// return copies.
type EventStore interface {
	// InsertEvent stores e (with its ClaimedBy and ClaimedUntil: an
	// event may be inserted claimed) unless an event with e.ID is stored
	// already, and reports whether it inserted it (atomically: of two
	// concurrent inserts of one id, one reports true).
	InsertEvent(ctx context.Context, e Event) (bool, error)
	// ClaimEvent claims the unprocessed event id for owner until until,
	// unless another owner holds a claim that has not expired at now
	// (ClaimedUntil after now). It returns the event as stored after the
	// call and whether owner holds the claim; a processed event is never
	// claimed (ProcessedAt is set). Claiming an event owner holds renews
	// it. An unknown id fails with ErrNotFound. It is atomic: of two
	// concurrent claims, at most one succeeds.
	ClaimEvent(ctx context.Context, id, owner string, now, until time.Time) (Event, bool, error)
	// GetEvent returns the event with id, or ErrNotFound.
	GetEvent(ctx context.Context, id string) (Event, error)
	// MarkEventProcessed sets the ProcessedAt of event id and drops its
	// claim (ErrNotFound when missing).
	MarkEventProcessed(ctx context.Context, id string, at time.Time) error
	// UnprocessedEvents iterates over the events whose ProcessedAt is
	// zero, in insertion order. Iteration stops at the first error.
	UnprocessedEvents(ctx context.Context) iter.Seq2[Event, error]
}

// SummaryStore keeps the orders and redemptions behind customer.Summary.
// Implementations must be safe for concurrent use; each call is atomic.
type SummaryStore interface {
	// RecordOrder stores o as order o.ID of the customer whose ID is
	// customerID, replacing a stored order with that ID (keeping the
	// stored CreatedAt when o's is zero or later), then sets the
	// customer's Summary.Orders to SummarizeOrders over all of its orders
	// and returns the updated customer. An unknown customer fails with
	// ErrNotFound.
	RecordOrder(ctx context.Context, customerID string, o OrderRecord) (customer.Customer, error)
	// RecordRedemption stores r for the customer whose ID is customerID
	// unless a redemption with r.ID and r.Result is stored for it, then
	// sets the customer's Summary.Redemptions to SummarizeRedemptions over
	// all of them and returns the updated customer (ErrNotFound).
	RecordRedemption(ctx context.Context, customerID string, r RedemptionRecord) (customer.Customer, error)
}

// SendLog records the messages sent to each customer, for frequency caps.
// Implementations must be safe for concurrent use; ReserveSend must be
// atomic per customer (two concurrent reservations never both pass a cap
// with room for one).
type SendLog interface {
	// ReserveSend records rec unless a cap in caps is reached for
	// rec.CustomerID at rec.At: a cap is reached when the records of the
	// customer with At in (rec.At-cap.Window, rec.At] (and Channel equal
	// to cap.Channel, when set) number cap.Max or more. It returns the
	// index in caps of the first cap reached, or -1 when it recorded rec.
	// A rec.DeliveryID already recorded returns -1 and records nothing.
	ReserveSend(ctx context.Context, rec SendRecord, caps []FrequencyCap) (int, error)
	// ReleaseSend removes the record of deliveryID (the message was not
	// sent after all); an unknown id is not an error.
	ReleaseSend(ctx context.Context, deliveryID string) error
}

// SendRecord is one message counted by frequency caps.
type SendRecord struct {
	DeliveryID string
	CustomerID string
	Channel    string
	At         time.Time
}
