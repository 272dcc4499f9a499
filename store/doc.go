// Package store holds implementations of the persistence interfaces that
// codedrop's domain packages define next to their types (customer.Store,
// segment.Store, distribution.Store), and [Store], their union, which a
// host implements to plug in its own database.
//
// [NewMemory] is the zero-setup, in-memory default; store/postgres is the
// production implementation; store/storetest is the conformance suite every
// implementation runs:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return newMyStore(t) })
//	}
package store
