package distribution

import (
	"context"

	"github.com/codedrop/codedrop/customer"
)

// CustomerBatchGetter is an optional interface of a [ManagerStore]: a
// fan-out that finds it loads the customers of a chunk of deliveries in
// one call instead of one GetCustomer each. store.Memory and the
// PostgreSQL store implement it; store/storetest checks it.
//
// Implementations must be safe for concurrent use.
type CustomerBatchGetter interface {
	// GetCustomers returns the customers whose ID or SourceID is one of
	// ids, keyed by the id asked for (an ID match wins over a SourceID
	// match, as in GetCustomer). An id that matches nothing is absent from
	// the map; that is not an error. The caller owns the returned values.
	GetCustomers(ctx context.Context, ids []string) (map[string]customer.Customer, error)
}

// DeliveryBatchUpdater is an optional interface of a [Store]: a fan-out
// that finds it moves deliveries to sending, and records sent outcomes,
// many per call. store.Memory and the PostgreSQL store implement it;
// store/storetest checks it.
//
// Implementations must be safe for concurrent use.
type DeliveryBatchUpdater interface {
	// UpdateDeliveries is UpdateDelivery(ctx, ds[i], from) for every i in
	// one write: each delivery is a compare-and-set of its own, applied
	// together. It returns one error per delivery, in order: nil when it
	// was stored, else what UpdateDelivery would return (ErrConflict when
	// the stored state is not from, ErrNotFound, ErrInvalid for changed
	// key fields); such a delivery is left unchanged and does not stop the
	// others. A move back to scheduled with a NextAttemptAt (a retry,
	// which needs its job) is refused per delivery with ErrInvalid: use
	// UpdateDelivery. The same ID twice in ds fails the whole call with
	// ErrInvalid. A non-nil error means nothing was written.
	//
	// As with UpdateDelivery, a move to sending must be durable when the
	// call returns; other moves may be made durable lazily.
	UpdateDeliveries(ctx context.Context, ds []Delivery, from DeliveryState) ([]error, error)
}
