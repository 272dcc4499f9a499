package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
	"github.com/codedrop/codedrop/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}

// TestMemoryKeepsNoCallerMaps: the store keeps compact copies of what it
// is given, with or without Handoff, so changing the given maps or the
// returned ones afterwards changes nothing stored; with Handoff the result
// is written into the given slice, which saves the result's allocation.
// (It replaces TestMemoryHandoffKeepsMaps, which checked that Handoff
// kept the given maps instead of copying them: the store keeps no maps
// now.)
func TestMemoryKeepsNoCallerMaps(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory()
	c := customer.Customer{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"plan": "gold", "brands": []any{"Nike", "Fenty"}},
		Consents: customer.Consents{Status: map[string]customer.ConsentStatus{"cnst_news": {Granted: true}}}}
	want := c.Clone()
	for _, opts := range []customer.UpsertOptions{{}, {Handoff: true}, {Merge: true}, {Merge: true, Handoff: true}} {
		in := []customer.Customer{c.Clone()}
		out, err := m.UpsertCustomers(ctx, in, opts)
		if err != nil {
			t.Fatal(err)
		}
		if opts.Handoff && &out[0] != &in[0] {
			t.Errorf("%+v: the result is not the given slice", opts)
		}
		for _, x := range []customer.Customer{in[0], out[0]} {
			x.Metadata["plan"] = "changed"
			x.Metadata["brands"].([]any)[0] = "changed"
			x.Consents.Status["cnst_news"] = customer.ConsentStatus{}
		}
		got, err := m.GetCustomer(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.Metadata, got.Metadata); diff != "" {
			t.Errorf("%+v: stored metadata changed with the caller's maps (-want +got):\n%s", opts, diff)
		}
		if !got.Consents.Granted("cnst_news") {
			t.Errorf("%+v: stored consents changed with the caller's map", opts)
		}
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
	if plain, handoff := allocs(customer.UpsertOptions{}), allocs(customer.UpsertOptions{Handoff: true}); handoff >= plain {
		t.Errorf("allocations per upsert: %v with Handoff, %v without; want fewer", handoff, plain)
	}
}
