// Package storetest is the conformance suite for codedrop stores. Every
// implementation of store.Store (the in-memory one, PostgreSQL, a host's
// own) runs it to prove it behaves as the domain packages expect:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return newMyStore(t) })
//	}
//
// newStore must return an empty store each time it is called; it may use
// t.Cleanup to release it. A store that also provides codes (codes.Source
// and codes.Registry) runs codes/codestest as the subtest Codes.
//
// store.Memory runs the suite this way in the store package's TestMemory
// (store/memory_test.go); store/postgres runs it against PostgreSQL, each
// call in a schema of its own.
package storetest

import (
	"testing"

	"github.com/codedrop/codedrop/codes/codestest"
	"github.com/codedrop/codedrop/store"
)

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	t.Run("Customers", func(t *testing.T) { runCustomers(t, newStore) })
	t.Run("Segments", func(t *testing.T) { runSegments(t, newStore) })
	t.Run("SegmentBatch", func(t *testing.T) { runSegmentBatch(t, newStore) })
	t.Run("Distributions", func(t *testing.T) { runDistributions(t, newStore) })
	t.Run("Automation", func(t *testing.T) { runAutomation(t, newStore) })
	t.Run("Batch", func(t *testing.T) { runBatch(t, newStore) })
	t.Run("Codes", func(t *testing.T) { runCodes(t, newStore) })
	t.Run("Webhooks", func(t *testing.T) { runWebhooks(t, newStore) })
	t.Run("Replicas", func(t *testing.T) { runReplicas(t, newStore) })
}

// runCodes runs codes/codestest against a store that provides codes
// (codes.Source and codes.Registry, as store.Memory and store/postgres
// do); it skips for a store that does not.
func runCodes(t *testing.T, newStore func(t *testing.T) store.Store) {
	if _, ok := newStore(t).(codestest.Source); !ok {
		t.Skip("the store does not provide codes (codes.Source and codes.Registry)")
	}
	codestest.Run(t, func(t *testing.T) codestest.Source { return newStore(t).(codestest.Source) })
}
