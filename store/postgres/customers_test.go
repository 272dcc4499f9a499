package postgres_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
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
		{SourceID: "e6", Birthdate: customer.Date{Year: 0, Month: time.February, Day: 28}, Name: "tab\there, cr\r, \\N, \\.",
			CreatedAt: ts(-99, time.March, 4, 5, 6, 7, 8), UpdatedAt: ts(10000, time.January, 1, 0, 0, 0, 999999),
			Metadata: customer.Metadata{"k\\ey\t": "v\\al\\\"ue\n"}},
		{SourceID: "e7", Birthdate: customer.Date{Year: 12345, Month: time.June, Day: 7}},
	}
	// Each alone (most columns left out of the COPY), then all in one
	// batch (every column sent) in a fresh schema.
	for _, batches := range [][][]customer.Customer{
		{edge[0:1], edge[1:2], edge[2:3], edge[3:4], edge[4:5], edge[5:6], edge[6:7]},
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
		// A listing reads the rows from their wire bytes (not through
		// pgx's Scan, as GetCustomer does): the same customers, value for
		// value (times in the same location).
		for listed, err := range st.Customers(ctx, customer.ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.GetCustomer(ctx, listed.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, listed); diff != "" {
				t.Errorf("Customers vs GetCustomer of %s (-get +list):\n%s", got.SourceID, diff)
			}
			for _, p := range [][2]time.Time{{got.CreatedAt, listed.CreatedAt}, {got.UpdatedAt, listed.UpdatedAt}} {
				if p[0].Location() != p[1].Location() || p[0] != p[1] {
					t.Errorf("Customers gave %s time %v, GetCustomer %v", got.SourceID, p[1], p[0])
				}
			}
		}
	}
}

// A batch larger than one chunk of the COPY stream reads back whole.
func TestUpsertCustomersLargeBatch(t *testing.T) {
	t.Parallel()
	st := postgres.New(newPool(t))
	ctx := context.Background()
	in := make([]customer.Customer, 3000)
	for i := range in {
		in[i] = customer.Customer{SourceID: fmt.Sprintf("u%05d", i), Name: strings.Repeat("n", i%50)}
		if i%3 != 0 {
			in[i].Metadata = customer.Metadata{"i": float64(i), "s": strings.Repeat("x", i%200), "tags": []any{"a", float64(i % 7)}}
		}
		if i%500 == 7 {
			in[i].Metadata = customer.Metadata{"d": customer.Date{Year: 2020, Month: time.January, Day: 1 + i%28}}
			in[i].Birthdate = customer.Date{Year: 1980, Month: time.May, Day: 1 + i%28}
		}
	}
	got, err := st.UpsertCustomers(ctx, in, customer.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var stored []customer.Customer
	for c, err := range st.Customers(ctx, customer.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, c)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	if diff := cmp.Diff(got, stored, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("stored customers differ from the returned ones (-returned +stored):\n%s", diff)
	}
}

// Batches of new customers go straight in, batches with stored ones are
// looked up first, and the store switches between the two as the batches
// change; concurrent batches over the same customers, in different
// orders, keep one row per customer and lose no update.
func TestUpsertCustomersNewAndStoredBatches(t *testing.T) {
	t.Parallel()
	st := postgres.New(newPool(t))
	ctx := context.Background()
	batch := func(from, to int, name string) []customer.Customer {
		var cs []customer.Customer
		for i := from; i < to; i++ {
			cs = append(cs, customer.Customer{SourceID: fmt.Sprintf("u%04d", i), Name: name, Metadata: customer.Metadata{"n": name}})
		}
		return cs
	}
	for _, step := range []struct {
		from, to int
		name     string
	}{
		{0, 100, "a"},   // new
		{100, 200, "b"}, // new
		{150, 250, "c"}, // half stored
		{300, 400, "d"}, // new again
		{0, 400, "e"},   // all stored, or new
		{400, 500, "f"},
	} {
		got, err := st.UpsertCustomers(ctx, batch(step.from, step.to, step.name), customer.UpsertOptions{Merge: true})
		if err != nil {
			t.Fatalf("batch %s: %v", step.name, err)
		}
		for i, c := range got {
			stored, err := st.GetCustomer(ctx, c.SourceID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.ID != c.ID || stored.Name != step.name || stored.Metadata["n"] != step.name || c.SourceID != fmt.Sprintf("u%04d", step.from+i) {
				t.Fatalf("batch %s: returned %+v, stored %+v", step.name, c, stored)
			}
		}
	}
	if n := countCustomers(t, st); n != 500 {
		t.Fatalf("%d customers, want 500", n)
	}

	// Concurrent, overlapping batches in different orders.
	const workers, rounds, n = 4, 10, 120
	errc := make(chan error, workers*rounds)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for r := range rounds {
				cs := batch(1000, 1000+n, fmt.Sprint("w", w))
				for i := range cs {
					cs[i].Metadata = customer.Metadata{fmt.Sprint("w", w): float64(r)}
				}
				if (w+r)%2 == 1 {
					slices.Reverse(cs)
				}
				if _, err := st.UpsertCustomers(ctx, cs, customer.UpsertOptions{Merge: true}); err != nil {
					errc <- err
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	close(errc)
	for err := range errc {
		t.Errorf("concurrent batch: %v", err)
	}
	if n := countCustomers(t, st); n != 500+120 {
		t.Fatalf("%d customers after the concurrent batches, want %d", n, 500+120)
	}
	for i := 1000; i < 1000+n; i++ {
		c, err := st.GetCustomer(ctx, fmt.Sprintf("u%04d", i))
		if err != nil {
			t.Fatal(err)
		}
		for w := range workers { // merged: every worker's last round is there
			if c.Metadata[fmt.Sprint("w", w)] != float64(rounds-1) {
				t.Fatalf("customer %s: metadata %v, want w0..w%d = %d", c.SourceID, c.Metadata, workers-1, rounds-1)
			}
		}
	}
}

func countCustomers(t *testing.T, st *postgres.Store) int {
	t.Helper()
	n := 0
	for _, err := range st.Customers(context.Background(), customer.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}
