package distribution

import (
	"context"
	"iter"
)

// Store persists distributions, consent definitions and the delivery
// ledger. store.Memory implements it; store/storetest checks any
// implementation. Implementations must be safe for concurrent use and
// must return copies (callers may change what they get).
type Store interface {
	// CreateDistribution inserts d. A taken ID or Name fails with
	// ErrConflict.
	CreateDistribution(ctx context.Context, d Distribution) error
	// GetDistribution returns the distribution with id, or ErrNotFound.
	GetDistribution(ctx context.Context, id string) (Distribution, error)
	// UpdateDistribution replaces the stored distribution d.ID if its
	// stored Status is from (compare-and-set), else fails with
	// ErrConflict; a Name another distribution holds fails with
	// ErrConflict; a missing one with ErrNotFound.
	UpdateDistribution(ctx context.Context, d Distribution, from Status) error
	// ListDistributions returns the distributions with one of statuses
	// (all when none are given), oldest first.
	ListDistributions(ctx context.Context, statuses ...Status) ([]Distribution, error)

	// CreateConsent inserts c; a taken ID or Name fails with ErrConflict.
	CreateConsent(ctx context.Context, c Consent) error
	// GetConsent returns the consent with id, or ErrNotFound.
	GetConsent(ctx context.Context, id string) (Consent, error)
	// UpdateConsent replaces the stored consent c.ID (ErrNotFound,
	// ErrConflict on a taken Name).
	UpdateConsent(ctx context.Context, c Consent) error
	// DeleteConsent removes the consent with id, or fails with ErrNotFound.
	DeleteConsent(ctx context.Context, id string) error
	// ListConsents returns every consent, oldest first.
	ListConsents(ctx context.Context) ([]Consent, error)

	// InsertDeliveries inserts the deliveries whose key (DistributionID,
	// CustomerID, TriggerKey, Channel) is not stored yet and leaves the
	// others unchanged; it returns how many it inserted. The batch is
	// atomic.
	InsertDeliveries(ctx context.Context, ds []Delivery) (int, error)
	// GetDelivery returns the delivery with id, or ErrNotFound.
	GetDelivery(ctx context.Context, id string) (Delivery, error)
	// UpdateDelivery replaces the stored delivery d.ID if its stored State
	// is from (compare-and-set), else fails with ErrConflict (ErrNotFound
	// when missing). The key fields cannot change.
	UpdateDelivery(ctx context.Context, d Delivery, from DeliveryState) error
	// Deliveries iterates over the deliveries matching f in insertion
	// order. Deliveries changed during the iteration may be seen in either
	// state. Iteration stops at the first error.
	Deliveries(ctx context.Context, f DeliveryFilter) iter.Seq2[Delivery, error]
	// CountDeliveries counts a distribution's deliveries.
	CountDeliveries(ctx context.Context, distributionID string) (DeliveryCounts, error)
}
