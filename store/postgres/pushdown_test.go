package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store/postgres"
)

// pushdownData is customers whose metadata and fields exercise every case
// the SQL translation must agree with Go on.
func pushdownData() []customer.Customer {
	day := customer.Date{Year: 2024, Month: 2, Day: 29}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	values := []any{
		"Intercom", "intercom", "Intercom ", "", "Intercomx", "xIntercom", "Web", nil, 5.0, "5", true, "true",
		day, at, time.Time{}, customer.Date{}, customer.GeoPoint{Lat: 1, Lng: 2},
		[]any{}, []any{"Intercom"}, []any{"Web", "Intercom"}, []any{[]any{"Intercom"}}, []any{"", "Web"},
		[]any{day, "Intercom"}, []any{day}, []any{5.0, true}, []any{"Intercom", nil},
		map[string]any{"x": "Intercom"}, map[string]any{},
		"2024-02-29", "In", "com",
	}
	var out []customer.Customer
	for i, v := range values {
		c := customer.Customer{ID: fmt.Sprintf("cust_%03d", i), Metadata: customer.Metadata{"source": v, "other": "y"}}
		switch i % 4 {
		case 0:
			c.Name, c.Email = "Ann Intercom", "ann@example.com"
			c.Address.Country = "Poland"
		case 1:
			c.Name, c.SourceID = "Bob", fmt.Sprint("src-", i)
			c.Address.City = "Warsaw"
		case 2:
			c.Email = "intercom@example.org"
		}
		out = append(out, c)
	}
	out = append(out, customer.Customer{ID: "cust_nometa"})
	return out
}

// TestFilterPushdownEqualsGo evaluates filters in PostgreSQL
// (CustomersMatching) and in Go (segment.DefaultEvaluator) over the same
// customers: the results must be the same.
func TestFilterPushdownEqualsGo(t *testing.T) {
	t.Parallel()
	st := postgres.New(newPool(t))
	ctx := context.Background()
	data := pushdownData()
	if _, err := st.UpsertCustomers(ctx, data, customer.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	var stored []customer.Customer
	for c, err := range st.Customers(ctx, customer.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, c.Clone())
	}
	now := time.Now()
	for _, src := range []string{
		`{"metadata.source":{"conditions":{"$is":["Intercom"]}}}`,
		`{"metadata.source":{"conditions":{"$in":["Intercom","Web"]}}}`,
		`{"metadata.source":{"conditions":{"$is_not":["Intercom"]}}}`,
		`{"metadata.source":{"conditions":{"$not_in":["Intercom","Web"]}}}`,
		`{"metadata.source":{"conditions":{"$has_value":""}}}`,
		`{"metadata.source":{"conditions":{"$is_unknown":""}}}`,
		`{"metadata.missing":{"conditions":{"$is_unknown":""}}}`,
		`{"metadata.source":{"conditions":{"$contains":["com"]}}}`,
		`{"metadata.source":{"conditions":{"$not_contain":["com"]}}}`,
		`{"metadata.source":{"conditions":{"$starts_with":["In","20"]}}}`,
		`{"metadata.source":{"conditions":{"$ends_with":["com","29"]}}}`,
		`{"name":{"conditions":{"$is":["Bob"]}}}`,
		`{"name":{"conditions":{"$contains":["Inter"]}}}`,
		`{"email":{"conditions":{"$ends_with":["example.com"]}}}`,
		`{"source_id":{"conditions":{"$has_value":""}}}`,
		`{"source_id":{"conditions":{"$is_unknown":""}}}`,
		`{"address.country":{"conditions":{"$in":["Poland"]}}}`,
		`{"address.city":{"conditions":{"$is_not":["Warsaw"]}}}`,
		`{"junction":"or","name":{"conditions":{"$is":["Bob"]}},"metadata.source":{"conditions":{"$is":["Web"]}}}`,
		`{"junction":"and","metadata.other":{"conditions":{"$is":["y"]}},"metadata.source":{"conditions":{"$starts_with":["In"]}},
		  "groups":[{"junction":"or","email":{"conditions":{"$has_value":""}},"address.city":{"conditions":{"$is":["Warsaw"]}}}]}`,
	} {
		f := segment.MustParseFilter(src)
		m, err := segment.DefaultEvaluator{}.CompileFilter(f)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		var want []string
		for i := range stored {
			if m.Match(&stored[i], now) {
				want = append(want, stored[i].ID)
			}
		}
		seq, ok := st.CustomersMatching(ctx, f, customer.ListOptions{})
		if !ok {
			t.Errorf("%s: not pushed down", src)
			continue
		}
		var got []string
		for c, err := range seq {
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			got = append(got, c.ID)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: SQL and Go disagree (-go +sql):\n%s", src, diff)
		}
		if len(want) == 0 || len(want) == len(stored) {
			t.Logf("%s selects %d of %d customers (a weak case)", src, len(want), len(stored))
		}
	}
	// Filters outside the subset are refused, not approximated.
	for _, src := range []string{
		`{"metadata.source":{"conditions":{"$is":["5"]}}}`,
		`{"metadata.source":{"conditions":{"$is":["2024-02-29"]}}}`,
		`{"metadata.source":{"conditions":{"$is":[5]}}}`,
		`{"metadata.ltv":{"conditions":{"$more_than":[5]}}}`,
		`{"metadata.a.b":{"conditions":{"$is":["x"]}}}`,
		`{"created_at":{"conditions":{"$after":["2024-01-01"]}}}`,
	} {
		if _, _, ok := postgres.FilterSQL(segment.MustParseFilter(src), 0); ok {
			t.Errorf("%s: pushed down, want refused", src)
		}
	}
}
