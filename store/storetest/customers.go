package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
)

func runCustomers(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("InsertGetBySourceID", func(t *testing.T) {
		st := newStore(t)
		ctx := context.Background()
		got, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: "u1", Name: "Ann"}}, customer.UpsertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].ID == "" || got[0].CreatedAt.IsZero() {
			t.Fatalf("stored customer lacks ID or CreatedAt: %+v", got[0])
		}
		c, err := st.GetCustomer(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != got[0].ID || c.Name != "Ann" {
			t.Fatalf("GetCustomer(u1) = %+v, want %+v", c, got[0])
		}
		if _, err := st.GetCustomer(ctx, "nobody"); !errors.Is(err, customer.ErrNotFound) {
			t.Fatalf("GetCustomer(nobody) error = %v, want ErrNotFound", err)
		}
	})
}
