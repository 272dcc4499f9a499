package customer

import (
	"context"
	"fmt"
	"iter"
)

// Store persists customers. Implementations must be safe for concurrent
// use; store/storetest checks one against this contract.
type Store interface {
	// GetCustomer returns the customer whose ID or SourceID is id, or an
	// error wrapping ErrNotFound.
	GetCustomer(ctx context.Context, id string) (Customer, error)

	Writer

	// DeleteCustomer removes the customer whose ID or SourceID is id, or
	// returns an error wrapping ErrNotFound.
	DeleteCustomer(ctx context.Context, id string) error

	// Customers iterates over stored customers in ascending ID order
	// (byte-wise), starting after the ID opts.After (which need not exist).
	// Iteration stops at the first error.
	Customers(ctx context.Context, opts ListOptions) iter.Seq2[Customer, error]
}

// Writer is the part of [Store] that [Import] needs.
//
// UpsertCustomers writes a batch atomically: all or none. Each customer is
// matched by ID when set, else by SourceID when set; a match is updated
// keeping its ID, CreatedAt and Summary, either merged (opts.Merge; see
// [Merge]) or replaced: every profile field takes the new value, except
// that a zero Consents keeps the stored consents and an empty SourceID
// keeps the stored one. No match inserts the customer, with a new ID when
// ID is empty. Changing a set SourceID, or a SourceID that another customer
// holds, fails with an error wrapping ErrConflict. A zero UpdatedAt (or
// CreatedAt on insert) is set to the current time. Customers later in the
// batch see the earlier ones. It returns the stored customers in batch
// order; the caller owns them.
//
// An error caused by one item of the batch should be a [*BatchError]
// naming it, so that a caller can retry the rest.
//
// To observe what an import writes (to keep segment memberships current,
// say), wrap the Writer: the returned customers are the stored ones.
type Writer interface {
	UpsertCustomers(ctx context.Context, cs []Customer, opts UpsertOptions) ([]Customer, error)
}

// UpsertOptions tunes [Writer.UpsertCustomers].
type UpsertOptions struct {
	// Merge keeps the stored values of fields the update leaves empty and
	// merges metadata and consents key by key, instead of replacing the
	// whole profile.
	Merge bool
	// Handoff hands the customers' maps and slices (metadata, consents)
	// over to the store: the caller will not read or change them after
	// the call. A store may then keep them instead of copying them, and
	// the returned customers may share them with the stored ones, so treat
	// those as read-only too; the returned slice may be cs itself. The
	// caller may reuse cs (the slice) for its next batch. A failed call
	// keeps nothing, so the caller may pass the same customers again. Bulk
	// writers such as [Import] set it; a store that ignores it stays
	// correct.
	Handoff bool
}

// ListOptions tunes [Store.Customers].
type ListOptions struct {
	// After starts the listing after this customer ID (a cursor).
	After string
	// Limit stops after this many customers; 0 means no limit.
	Limit int
}

// BatchError reports the item of a batch write that made it fail; nothing
// of the batch was written. Err says why (it wraps ErrConflict, say).
type BatchError struct {
	Index int // position in the batch, from 0
	Err   error
}

// Error returns "batch item N: err".
func (e *BatchError) Error() string { return fmt.Sprintf("batch item %d: %v", e.Index, e.Err) }

// Unwrap returns Err.
func (e *BatchError) Unwrap() error { return e.Err }
