package postgres_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store/postgres"
)

// The binary COPY that writes new customers encodes dates, timestamps and
// JSON itself: edge values must read back as they were written, whether a
// batch leaves a column out (empty in every row) or not.
func TestUpsertCustomersCopyEdgeValues(t *testing.T) {
	t.Parallel()
	st := postgres.New(newPool(t))
	ctx := context.Background()
	ts := func(y int, mo time.Month, d, h, mi, s, us int) time.Time {
		return time.Date(y, mo, d, h, mi, s, us*1000, time.UTC)
	}
	edge := []customer.Customer{
		{SourceID: "e1", Birthdate: customer.Date{Year: 1969, Month: time.December, Day: 31},
			CreatedAt: ts(1969, time.December, 31, 23, 59, 59, 999999), UpdatedAt: ts(2000, time.January, 1, 0, 0, 0, 1)},
		{SourceID: "e2", Birthdate: customer.Date{Year: 1600, Month: time.February, Day: 29},
			CreatedAt: ts(1999, time.December, 31, 23, 59, 59, 999999), UpdatedAt: ts(2262, time.April, 11, 23, 47, 16, 854775)},
		{SourceID: "e3", Birthdate: customer.Date{Year: 2000, Month: time.January, Day: 1}, Name: "Zoë \"Q\" <b>&</b>",
			Email: "z@example.com", Phone: "+1", Description: "a\tb\nc\\d", Timezone: "America/New_York",
			Address:   customer.Address{City: "Kraków", Country: "PL"},
			Consents:  customer.Consents{Unsubscribed: true, UnsubscribedAt: ts(2020, time.May, 5, 5, 5, 5, 5)},
			Summary:   customer.Summary{Orders: customer.OrderSummary{TotalCount: 1, TotalAmount: 2.5}},
			CreatedAt: ts(2024, time.February, 29, 12, 0, 0, 123456), UpdatedAt: ts(2024, time.February, 29, 12, 0, 0, 123456),
			Metadata: customer.Metadata{
				"s": "quote \" backslash \\ ctl \x01 sep \u2028 emoji 😀", "<&>": "html",
				"f": 1e-7, "big": 1e21, "neg": -0.5, "int": 123456789.0, "t": true, "arr": []any{"a", 2.0, false},
				"d": customer.Date{Year: 1901, Month: time.June, Day: 30}, "dt": ts(1950, time.March, 1, 2, 3, 4, 5),
				"geo": customer.GeoPoint{Lat: -33.86, Lng: 151.2}, "obj": map[string]any{"n": 1.5},
			}},
		{SourceID: "e4", Metadata: customer.Metadata{"max": math.MaxFloat64, "min": math.SmallestNonzeroFloat64}},
		{ID: "cus_explicit", Name: "no source id"},
	}
	// Each alone (most columns left out of the COPY), then all in one
	// batch (every column sent) in a fresh schema.
	for _, batches := range [][][]customer.Customer{
		{edge[0:1], edge[1:2], edge[2:3], edge[3:4], edge[4:5]},
		{edge},
	} {
		st := st
		if len(batches) == 1 {
			st = postgres.New(newPool(t))
		}
		for _, b := range batches {
			got, err := st.UpsertCustomers(ctx, b, customer.UpsertOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, in := range b {
				want := in.Clone()
				if want.ID == "" {
					want.ID = got[i].ID
				}
				if want.UpdatedAt.IsZero() {
					want.UpdatedAt = got[i].UpdatedAt
				}
				if want.CreatedAt.IsZero() {
					want.CreatedAt = got[i].CreatedAt
				}
				if diff := cmp.Diff(want, got[i], cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("returned %s (-want +got):\n%s", in.SourceID, diff)
				}
				stored, err := st.GetCustomer(ctx, want.ID)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, stored, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
					t.Errorf("stored %s (-want +got):\n%s", in.SourceID, diff)
				}
			}
		}
	}
}
