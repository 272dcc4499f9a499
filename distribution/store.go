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
	// CreateDistribution inserts d with Revision 1 (whatever d.Revision
	// says). A taken ID fails with ErrConflict, a taken Name with
	// ErrNameTaken.
	CreateDistribution(ctx context.Context, d Distribution) error
	// GetDistribution returns the distribution with id, or ErrNotFound.
	GetDistribution(ctx context.Context, id string) (Distribution, error)
	// UpdateDistribution replaces the stored distribution d.ID if its
	// stored Revision equals d.Revision (compare-and-set) and stores it
	// with Revision+1, returning the new revision; a changed Revision
	// fails with ErrConflict, a Name another distribution holds with
	// ErrNameTaken; a missing distribution fails with ErrNotFound.
	UpdateDistribution(ctx context.Context, d Distribution) (int64, error)
	// ListDistributions returns the distributions with one of statuses
	// (all when none are given), oldest first.
	ListDistributions(ctx context.Context, statuses ...Status) ([]Distribution, error)
	// TriggersVersion returns a number that changes (grows) whenever a
	// CreateDistribution or UpdateDistribution of an automatic
	// distribution commits. A Manager compares it with the version of
	// its cached trigger index, so an activation, pause or update made by
	// any replica governs every replica at once.
	TriggersVersion(ctx context.Context) (int64, error)

	// CreateConsent inserts c; a taken ID fails with ErrConflict, a
	// taken Name with ErrNameTaken.
	CreateConsent(ctx context.Context, c Consent) error
	// GetConsent returns the consent with id, or ErrNotFound.
	GetConsent(ctx context.Context, id string) (Consent, error)
	// UpdateConsent replaces the stored consent c.ID (ErrNotFound,
	// ErrNameTaken).
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
