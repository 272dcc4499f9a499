package store_test

import (
	"context"
	"testing"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
	"github.com/codedrop/codedrop/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}

// TestMemoryHandoffKeepsMaps checks that a handed-off customer's maps are
// kept rather than copied: a replace with Handoff allocates at least the
// two metadata copies (map and array) fewer than a plain one.
func TestMemoryHandoffKeepsMaps(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory()
	c := customer.Customer{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"plan": "gold", "brands": []any{"Nike", "Fenty"}}}
	if _, err := m.UpsertCustomers(ctx, []customer.Customer{c}, customer.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	allocs := func(opts customer.UpsertOptions) float64 {
		batch := make([]customer.Customer, 1)
		return testing.AllocsPerRun(50, func() {
			batch[0] = c
			if _, err := m.UpsertCustomers(ctx, batch, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
	plain, handoff := allocs(customer.UpsertOptions{}), allocs(customer.UpsertOptions{Handoff: true})
	if handoff > plain-2 {
		t.Errorf("allocations per upsert: %v with Handoff, %v without; want at least 2 fewer", handoff, plain)
	}
}
