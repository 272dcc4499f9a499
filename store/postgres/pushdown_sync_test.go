package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
	"github.com/codedrop/codedrop/store/postgres"
)

// noPushdown hides the Store's segment.FilterPusher: a Manager over it
// scans every customer in its syncs.
type noPushdown struct{ store.Store }

// TestSegmentSyncPushdownThroughManager syncs the same segments through
// two Managers over the same PostgreSQL data, one whose syncs are pushed
// down to SQL and one that scans every customer: the members must be the
// same, after the first sync and after a resync that must remove members
// (changed and deleted customers).
func TestSegmentSyncPushdownThroughManager(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	st := postgres.New(pool)
	data := pushdownData()
	for i := range 200 { // more rows than one page of a batch
		data = append(data, customer.Customer{ID: fmt.Sprintf("cust_bulk_%03d", i), Name: fmt.Sprint("Bulk ", i),
			Metadata: customer.Metadata{"source": []string{"Intercom", "Web", "Other"}[i%3], "other": "y", "ltv": float64(i % 10)}})
	}
	if _, err := st.UpsertCustomers(ctx, data, customer.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := intercomtest.NewServer()
	t.Cleanup(srv.Close)
	var logs syncBuffer
	newManager := func(s distribution.ManagerStore, log *slog.Logger) *distribution.Manager {
		m, err := distribution.NewManager(distribution.Config{Store: s, Intercom: srv.Client(), AdminID: srv.AdminID(), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	pushed := newManager(st, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	scanned := newManager(noPushdown{st}, nil)

	filters := []string{
		`{"metadata.source":{"conditions":{"$is":["Intercom"]}}}`,
		`{"metadata.source":{"conditions":{"$not_in":["Intercom","Web"]}}}`,
		`{"metadata.source":{"conditions":{"$contains":["com"]}}}`,
		`{"metadata.source":{"conditions":{"$is_unknown":""}}}`,
		`{"name":{"conditions":{"$starts_with":["Bulk 1"]}}}`,
		`{"junction":"or","name":{"conditions":{"$is":["Bob"]}},"metadata.source":{"conditions":{"$is":["Web"]}}}`,
		`{"metadata.ltv":{"conditions":{"$more_than":[5]}}}`, // outside the SQL subset: both scan
	}
	const pushable = 6
	type pair struct{ pushed, scanned string }
	segs := make([]pair, len(filters))
	for i, f := range filters {
		for _, side := range []struct {
			m   *distribution.Manager
			id  *string
			tag string
		}{{pushed, &segs[i].pushed, "pushed"}, {scanned, &segs[i].scanned, "scanned"}} {
			s, err := side.m.CreateSegment(ctx, segment.Segment{Name: fmt.Sprintf("%s %d", side.tag, i), Type: segment.AutoUpdate, Filter: segment.MustParseFilter(f)})
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			*side.id = s.ID
		}
	}
	compare := func(round string) (first []string) {
		t.Helper()
		for i, p := range segs {
			for _, s := range []struct {
				m  *distribution.Manager
				id string
			}{{pushed, p.pushed}, {scanned, p.scanned}} {
				waitSynced(t, s.m, s.id)
			}
			a, err := pushed.SegmentMembers(ctx, p.pushed)
			if err != nil {
				t.Fatal(err)
			}
			b, err := scanned.SegmentMembers(ctx, p.scanned)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(b, a); diff != "" {
				t.Errorf("%s: %s: members differ (-scanned +pushed):\n%s", round, filters[i], diff)
			}
			if len(a) == 0 {
				t.Errorf("%s: %s: no members (a weak case)", round, filters[i])
			}
			if i == 0 {
				first = a
			}
		}
		return first
	}
	before := compare("first sync")
	if n := strings.Count(logs.String(), "segment sync pushed down to the store"); n != pushable {
		t.Errorf("%d syncs pushed down, want %d", n, pushable)
	}

	// Behind the Managers' backs: a third of the bulk customers change
	// source, some are deleted; then resync everything.
	var changed []customer.Customer
	for i := 0; i < 200; i += 3 {
		changed = append(changed, customer.Customer{ID: fmt.Sprintf("cust_bulk_%03d", i), Metadata: customer.Metadata{"source": "Web", "other": "y", "ltv": 1.0}})
	}
	if _, err := st.UpsertCustomers(ctx, changed, customer.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 200; i += 10 {
		if err := st.DeleteCustomer(ctx, fmt.Sprintf("cust_bulk_%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range segs {
		if err := pushed.SyncSegment(ctx, p.pushed); err != nil {
			t.Fatal(err)
		}
		if err := scanned.SyncSegment(ctx, p.scanned); err != nil {
			t.Fatal(err)
		}
	}
	after := compare("resync")
	if left := len(before) - len(after); left < 50 {
		t.Errorf("%d members left %s on the resync; want the changed and deleted ones (over 50)", left, filters[0])
	}
	if n := strings.Count(logs.String(), "segment sync pushed down to the store"); n != 2*pushable {
		t.Errorf("%d syncs pushed down, want %d", n, 2*pushable)
	}
}
