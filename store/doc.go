// Package store holds implementations of the persistence interfaces that
// codedrop's domain packages define next to their types (customer.Store,
// segment.Store, distribution.Store), and [Store], their union, which a
// host implements to plug in its own database.
//
// [NewMemory] is the zero-setup, in-memory default (it keeps customers in
// a compact form, about 300 bytes for a customer with a few text fields
// and metadata values, and decodes them on read); store/postgres is the
// production implementation. Both also provide codes: campaigns and
// publications live beside everything else (a [Memory] holds a
// *codes.Memory, see [Memory.Codes]), so a distribution.Manager made on
// the store without Config.Codes publishes from it, and every Manager on
// the same store sees the same campaigns. store/storetest is the
// conformance suite every implementation runs (with codes/codestest for a
// store that provides codes):
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return newMyStore(t) })
//	}
package store
