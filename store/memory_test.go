package store_test

import (
	"testing"

	"github.com/codedrop/codedrop/store"
	"github.com/codedrop/codedrop/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}
