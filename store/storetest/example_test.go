package storetest_test

import (
	"testing"

	"github.com/codedrop/codedrop/store"
	"github.com/codedrop/codedrop/store/storetest"
)

// A host that brings its own database runs the suite from a test in its
// own package, with a constructor that returns an empty store each time.
// Run needs the test's *testing.T, which an Example does not have, so this
// one only compiles; store.Memory runs the suite exactly this way in the
// store package's TestMemory (store/memory_test.go), and store/postgres
// runs it against PostgreSQL.
func ExampleRun() {
	// In mystore_test.go:
	TestMyStore := func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			s := store.NewMemory() // your store, empty: a fresh schema or database per call
			t.Cleanup(func() { /* drop the schema, close the pool */ })
			return s
		})
	}
	// go test -run 'TestMyStore/Customers' runs one part of the suite.
	_ = TestMyStore
}
