package store

import (
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/segment"
)

// Store is every persistence interface codedrop needs, in one. A host that
// brings its own database implements it and checks it with storetest.Run.
type Store interface {
	customer.Store
	segment.Store
	distribution.Store
	distribution.AutomationStore
}

var _ Store = (*Memory)(nil)

var _ segment.CustomerCounter = (*Memory)(nil)
