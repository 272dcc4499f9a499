package postgres_test

import (
	"testing"

	"github.com/codedrop/codedrop/store"
	"github.com/codedrop/codedrop/store/postgres"
	"github.com/codedrop/codedrop/store/storetest"
)

func TestStore(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store { return postgres.New(newPool(t)) })
}
