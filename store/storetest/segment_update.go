package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

var (
	segAt       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sameInstant = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
)

// testSegmentUpdate: UpdateSegment replaces the definition, keeps ID and
// CreatedAt, leaves the sync fields unless SyncStatus is set, keeps the
// members, and fails with ErrNotFound for a missing segment.
func testSegmentUpdate(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := newStore(t)
	orig := segment.Segment{
		ID: "seg_1", Name: "Intercom users", Type: segment.AutoUpdate,
		Filter:     segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`),
		SyncStatus: segment.Synced, SyncChecked: 40, SyncTotal: 40, SyncedAt: segAt, CreatedAt: segAt, UpdatedAt: segAt,
	}
	if err := st.CreateSegment(ctx, orig); err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembers(ctx, "seg_1", []string{"cust_a", "cust_b"}); err != nil {
		t.Fatal(err)
	}

	// The definition only: the sync fields stay as stored.
	later := segAt.Add(time.Hour)
	def := segment.Segment{ID: "seg_1", Name: "Big spenders", Type: segment.Passive, Expression: `metadata.ltv > 100`,
		SyncChecked: 1, SyncTotal: 2, CreatedAt: later, UpdatedAt: later}
	if err := st.UpdateSegment(ctx, def); err != nil {
		t.Fatal(err)
	}
	want := orig
	want.Name, want.Type, want.Filter, want.Expression, want.UpdatedAt = def.Name, def.Type, nil, def.Expression, later
	got, err := st.GetSegment(ctx, "seg_1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, sameInstant); diff != "" {
		t.Errorf("after UpdateSegment without SyncStatus (-want +got):\n%s", diff)
	}

	// With SyncStatus: the sync fields too, in the same write.
	evenLater := later.Add(time.Hour)
	resync := segment.Segment{ID: "seg_1", Name: "VIP", Type: segment.Static, CustomerIDs: []string{"cust_b", "cust_c"},
		SyncStatus: segment.Syncing, SyncChecked: 0, SyncTotal: 7, UpdatedAt: evenLater}
	if err := st.UpdateSegment(ctx, resync); err != nil {
		t.Fatal(err)
	}
	want = resync
	want.CreatedAt = segAt
	got, _ = st.GetSegment(ctx, "seg_1")
	if diff := cmp.Diff(want, got, sameInstant); diff != "" {
		t.Errorf("after UpdateSegment with SyncStatus (-want +got):\n%s", diff)
	}
	var ids []string
	for id, err := range st.Members(ctx, "seg_1", segment.MemberOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if diff := cmp.Diff([]string{"cust_a", "cust_b"}, ids); diff != "" {
		t.Errorf("UpdateSegment changed the members (-want +got):\n%s", diff)
	}
	resync.CustomerIDs[0] = "changed"
	if got, _ := st.GetSegment(ctx, "seg_1"); got.CustomerIDs[0] != "cust_b" {
		t.Errorf("stored CustomerIDs changed through the caller's slice: %v", got.CustomerIDs)
	}

	if err := st.UpdateSegment(ctx, segment.Segment{ID: "seg_none", Name: "x", Type: segment.Passive, Expression: "true"}); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("UpdateSegment(missing) = %v, want ErrNotFound", err)
	}
	if _, err := st.GetSegment(ctx, "seg_none"); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("UpdateSegment(missing) created it: %v", err)
	}
}

// testSegmentSyncProgress: SetSyncProgress sets the two counters and
// nothing else; SetSyncStatus leaves them.
func testSegmentSyncProgress(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := newStore(t)
	s := segment.Segment{ID: "seg_1", Name: "Big spenders", Type: segment.Passive, Expression: `metadata.ltv > 100`,
		SyncStatus: segment.Syncing, CreatedAt: segAt, UpdatedAt: segAt}
	if err := st.CreateSegment(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSyncProgress(ctx, "seg_1", 1000, 2500); err != nil {
		t.Fatal(err)
	}
	want := s
	want.SyncChecked, want.SyncTotal = 1000, 2500
	got, err := st.GetSegment(ctx, "seg_1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, sameInstant); diff != "" {
		t.Errorf("after SetSyncProgress (-want +got):\n%s", diff)
	}
	later := segAt.Add(time.Minute)
	if err := st.SetSyncStatus(ctx, "seg_1", segment.Synced, later); err != nil {
		t.Fatal(err)
	}
	for s, err := range st.Segments(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if s.SyncChecked != 1000 || s.SyncTotal != 2500 || s.SyncStatus != segment.Synced {
			t.Errorf("Segments after SetSyncStatus: %d of %d, %s; want 1000 of 2500, synced", s.SyncChecked, s.SyncTotal, s.SyncStatus)
		}
	}
	if err := st.SetSyncProgress(ctx, "seg_none", 1, 1); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("SetSyncProgress(missing) = %v, want ErrNotFound", err)
	}

	// A store that counts customers counts them all.
	if cc, ok := st.(segment.CustomerCounter); ok {
		if _, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: "a"}, {SourceID: "b"}, {SourceID: "c"}}, customer.UpsertOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteCustomer(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if n, err := cc.CountCustomers(ctx); err != nil || n != 2 {
			t.Errorf("CountCustomers = %d, %v; want 2", n, err)
		}
	}
}

// testSegmentFilterRoundTrip: a Voucherify filter comes back as written,
// conditions in their order (JSON object keys in the order given), through
// CreateSegment and UpdateSegment.
func testSegmentFilterRoundTrip(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := newStore(t)
	filters := []string{
		// Long keys before short ones, as a dashboard writes them; jsonb
		// would sort them by length.
		`{"junction":"and","metadata.club_level":{"conditions":{"$in":["Gold","Silver"]}},"address.country":{"conditions":{"$is":["Poland"]}},"email":{"conditions":{"$ends_with":["@acme.com"]}}}`,
		`{"junction":"or","metadata.ltv":{"junction":"or","conditions":{"$more_than":[100],"$less_than":[10]}},"created_at":{"conditions":{"$more_than_ago":[30]}},"groups":[{"junction":"and","summary.orders.total_count":{"conditions":{"$count_more":[2]}},"name":{"conditions":{"$has_value":[]}}}]}`,
	}
	s := segment.Segment{ID: "seg_1", Name: "Round trip", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(filters[0]),
		SyncStatus: segment.Syncing, CreatedAt: segAt, UpdatedAt: segAt}
	if err := st.CreateSegment(ctx, s); err != nil {
		t.Fatal(err)
	}
	check := func(step, want string) {
		t.Helper()
		got, err := st.GetSegment(ctx, "seg_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Filter == nil || got.Filter.String() != want {
			t.Errorf("%s: filter = %s\nwant            %s", step, got.Filter, want)
		}
		if diff := cmp.Diff(segment.MustParseFilter(want), got.Filter); diff != "" {
			t.Errorf("%s: parsed filter (-want +got):\n%s", step, diff)
		}
	}
	check("CreateSegment", filters[0])
	s.Filter = segment.MustParseFilter(filters[1])
	if err := st.UpdateSegment(ctx, s); err != nil {
		t.Fatal(err)
	}
	check("UpdateSegment", filters[1])
}
