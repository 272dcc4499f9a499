package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
)

// TestMemoryRoundTrip: whatever a customer holds comes back from the
// compact records as it was given, value for value and type for type
// (times as instants in the same location).
func TestMemoryRoundTrip(t *testing.T) {
	t.Parallel()
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	utc := time.Date(2026, 3, 1, 12, 30, 15, 123456789, time.UTC)
	full := customer.Customer{
		ID: "cust_full", SourceID: "src-full", Name: "Zoë \t\n", Email: "z@example.com", Phone: "+48 600", Description: "a\x00b",
		Birthdate: customer.Date{Year: 1990, Month: 2, Day: 28}, Timezone: "Europe/Warsaw",
		Address: customer.Address{Line1: "1 Main St", Line2: "flat 2", City: "Warsaw", State: "maz", PostalCode: "00-001", Country: "PL"},
		Consents: customer.Consents{Unsubscribed: true, UnsubscribedAt: utc,
			Status: map[string]customer.ConsentStatus{"cnst_a": {Granted: true, At: utc}}},
		Summary:   customer.Summary{Orders: customer.OrderSummary{TotalCount: 2, TotalAmount: 30}},
		CreatedAt: utc, UpdatedAt: utc.Add(time.Hour),
	}
	tests := []struct {
		name string
		c    customer.Customer
	}{
		{"bare", customer.Customer{SourceID: "bare", CreatedAt: utc, UpdatedAt: utc}},
		{"every field", full},
		{"scalars", customer.Customer{SourceID: "scalars", CreatedAt: utc, UpdatedAt: utc, Metadata: customer.Metadata{
			"s": "text", "empty": "", "n": 3.25, "neg": -0.5, "nan-free big": 1e300, "t": true, "f": false, "null": nil,
			"date": customer.Date{Year: 2024, Month: 12, Day: 31}, "old date": customer.Date{Year: -44, Month: 3, Day: 15},
			"datetime": utc, "unicode": "żółw"}}},
		{"arrays", customer.Customer{SourceID: "arrays", CreatedAt: utc, UpdatedAt: utc, Metadata: customer.Metadata{
			"tags": []any{"a", "b"}, "mixed": []any{1.0, "x", true, nil, customer.Date{Year: 2020, Month: 1, Day: 1}, utc}, "none": []any{}}}},
		{"empty metadata map", customer.Customer{SourceID: "empty", CreatedAt: utc, UpdatedAt: utc, Metadata: customer.Metadata{}}},
		{"an object: metadata kept whole", customer.Customer{SourceID: "object", CreatedAt: utc, UpdatedAt: utc, Metadata: customer.Metadata{
			"plan": "gold", "obj": map[string]any{"k": []any{"v", map[string]any{"deep": 1.0}}}}}},
		{"a geopoint", customer.Customer{SourceID: "geo", CreatedAt: utc, UpdatedAt: utc, Metadata: customer.Metadata{
			"where": customer.GeoPoint{Lat: 52.2, Lng: 21}}}},
		{"a datetime elsewhere", customer.Customer{SourceID: "zoned", CreatedAt: utc, UpdatedAt: utc, Metadata: customer.Metadata{
			"at": utc.In(warsaw)}}},
		{"a nested array", customer.Customer{SourceID: "nested", CreatedAt: utc, UpdatedAt: utc, Metadata: customer.Metadata{
			"grid": []any{[]any{"a"}}}}},
		{"a nil array", customer.Customer{SourceID: "nilarr", CreatedAt: utc, UpdatedAt: utc, Metadata: customer.Metadata{
			"arr": []any(nil)}}},
		{"a value of another type", customer.Customer{SourceID: "int", CreatedAt: utc, UpdatedAt: utc, Metadata: customer.Metadata{
			"n": 7}}},
		{"local times", customer.Customer{SourceID: "local", CreatedAt: utc.Local(), UpdatedAt: utc.Add(time.Second).Local()}},
		{"times elsewhere", customer.Customer{SourceID: "warsaw", CreatedAt: utc.In(warsaw), UpdatedAt: utc.In(warsaw)}},
		{"times out of the nanosecond range", customer.Customer{SourceID: "ancient", CreatedAt: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
			UpdatedAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	ctx := context.Background()
	m := store.NewMemory()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.c.Clone()
			out, err := m.UpsertCustomers(ctx, []customer.Customer{in}, customer.UpsertOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.c.Clone()
			want.ID = out[0].ID
			got, err := m.GetCustomer(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			// Exact: the same types and values (reflect.DeepEqual), and
			// times in the same location.
			if !reflect.DeepEqual(want.Metadata, got.Metadata) || !reflect.DeepEqual(want.Consents, got.Consents) {
				t.Errorf("metadata or consents differ:\n got %#v %#v\nwant %#v %#v", got.Metadata, got.Consents, want.Metadata, want.Consents)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("GetCustomer (-want +got):\n%s", diff)
			}
			for _, p := range [][2]time.Time{{want.CreatedAt, got.CreatedAt}, {want.UpdatedAt, got.UpdatedAt}} {
				if p[0].Location() != p[1].Location() {
					t.Errorf("time %v came back in %v", p[0], p[1].Location())
				}
			}
			for c, err := range m.Customers(ctx, customer.ListOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				if c.ID == want.ID {
					if diff := cmp.Diff(want, c); diff != "" {
						t.Errorf("Customers (-want +got):\n%s", diff)
					}
				}
			}
		})
	}
}

// TestMemoryManyShapes: customers with more distinct metadata key sets
// than the store interns keep their metadata all the same.
func TestMemoryManyShapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := store.NewMemory()
	const n = 1500
	batch := make([]customer.Customer, n)
	for i := range batch {
		batch[i] = customer.Customer{SourceID: fmt.Sprint("u", i), Metadata: customer.Metadata{fmt.Sprint("key", i): float64(i), "plan": "gold"}}
	}
	if _, err := m.UpsertCustomers(ctx, batch, customer.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1023, 1024, n - 1} {
		c, err := m.GetCustomer(ctx, fmt.Sprint("u", i))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(batch[i].Metadata, c.Metadata); diff != "" {
			t.Errorf("customer %d metadata (-want +got):\n%s", i, diff)
		}
	}
}

// TestMemoryRepeatedValuesShared: decoding repeated metadata values (a
// plan, a source) allocates only the customer's map: the boxed values are
// shared.
func TestMemoryRepeatedValuesShared(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory()
	batch := make([]customer.Customer, 100)
	for i := range batch {
		batch[i] = customer.Customer{SourceID: fmt.Sprint("u", i), Metadata: customer.Metadata{"plan": fmt.Sprint("plan", i%3), "ltv": float64(i % 4), "vip": i%2 == 0}}
	}
	if _, err := m.UpsertCustomers(ctx, batch, customer.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := m.GetCustomer(ctx, "u7"); err != nil {
			t.Fatal(err)
		}
	})
	mapAllocs := testing.AllocsPerRun(20, func() {
		sinkMeta = make(customer.Metadata, 3)
		sinkMeta["plan"], sinkMeta["ltv"], sinkMeta["vip"] = "", 0.0, false
	})
	if allocs > mapAllocs {
		t.Errorf("GetCustomer allocates %v times, want %v (the metadata map)", allocs, mapAllocs)
	}
}

var sinkMeta customer.Metadata
