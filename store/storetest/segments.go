package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
	"github.com/google/go-cmp/cmp"
)

func runSegments(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rule := func(id string) segment.Segment {
		return segment.Segment{
			ID: id, Name: "Intercom users " + id, Type: segment.AutoUpdate,
			Filter:     segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`),
			SyncStatus: segment.Syncing, CreatedAt: at, UpdatedAt: at,
		}
	}
	members := func(t *testing.T, st store.Store, id string, opts segment.MemberOptions) []string {
		t.Helper()
		var out []string
		for cid, err := range st.Members(ctx, id, opts) {
			if err != nil {
				t.Fatalf("Members(%s): %v", id, err)
			}
			out = append(out, cid)
		}
		return out
	}
	// Times come back equal as instants; a database may change the location.
	cmpOpts := cmp.Options{cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })}

	t.Run("CreateGetList", func(t *testing.T) {
		st := newStore(t)
		s2, s1 := rule("seg_2"), rule("seg_1")
		static := segment.Segment{ID: "seg_3", Name: "VIP", Type: segment.Static, CustomerIDs: []string{"cust_a", "cust_b"},
			SyncStatus: segment.Synced, SyncedAt: at, CreatedAt: at, UpdatedAt: at}
		expr := segment.Segment{ID: "seg_4", Name: "Big spenders", Type: segment.Passive, Expression: `metadata.ltv > 100`,
			SyncStatus: segment.Syncing, CreatedAt: at, UpdatedAt: at}
		for _, s := range []segment.Segment{s2, s1, static, expr} {
			if err := st.CreateSegment(ctx, s); err != nil {
				t.Fatalf("CreateSegment(%s): %v", s.ID, err)
			}
		}
		got, err := st.GetSegment(ctx, "seg_3")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(static, got, cmpOpts); diff != "" {
			t.Errorf("GetSegment(seg_3) mismatch (-want +got):\n%s", diff)
		}
		got, err = st.GetSegment(ctx, "seg_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Filter.String() != s1.Filter.String() || got.Type != segment.AutoUpdate || got.Name != s1.Name {
			t.Errorf("GetSegment(seg_1) = %+v (filter %s), want %+v", got, got.Filter, s1)
		}
		var ids []string
		for s, err := range st.Segments(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s.ID)
			if s.ID == "seg_4" && s.Expression != expr.Expression {
				t.Errorf("Segments: seg_4 expression = %q, want %q", s.Expression, expr.Expression)
			}
		}
		if diff := cmp.Diff([]string{"seg_1", "seg_2", "seg_3", "seg_4"}, ids); diff != "" {
			t.Errorf("Segments ids (-want +got):\n%s", diff)
		}
	})

	t.Run("Update", func(t *testing.T) { t.Parallel(); testSegmentUpdate(t, newStore) })
	t.Run("SyncProgress", func(t *testing.T) { t.Parallel(); testSegmentSyncProgress(t, newStore) })
	t.Run("FilterRoundTrip", func(t *testing.T) { t.Parallel(); testSegmentFilterRoundTrip(t, newStore) })

	t.Run("Errors", func(t *testing.T) {
		st := newStore(t)
		if err := st.CreateSegment(ctx, rule("seg_1")); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSegment(ctx, rule("seg_1")); !errors.Is(err, segment.ErrConflict) {
			t.Errorf("CreateSegment(duplicate) = %v, want ErrConflict", err)
		}
		if _, err := st.GetSegment(ctx, "seg_none"); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("GetSegment(missing) = %v, want ErrNotFound", err)
		}
		if err := st.DeleteSegment(ctx, "seg_none"); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("DeleteSegment(missing) = %v, want ErrNotFound", err)
		}
		if err := st.SetSyncStatus(ctx, "seg_none", segment.Synced, at); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("SetSyncStatus(missing) = %v, want ErrNotFound", err)
		}
		if err := st.AddMembers(ctx, "seg_none", []string{"cust_a"}); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("AddMembers(missing segment) = %v, want ErrNotFound", err)
		}
		if err := st.RemoveMembers(ctx, "seg_none", []string{"cust_a"}); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("RemoveMembers(missing segment) = %v, want ErrNotFound", err)
		}
		if _, err := st.CountMembers(ctx, "seg_none"); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("CountMembers(missing segment) = %v, want ErrNotFound", err)
		}
		for _, err := range st.Members(ctx, "seg_none", segment.MemberOptions{}) {
			if !errors.Is(err, segment.ErrNotFound) {
				t.Errorf("Members(missing segment) error = %v, want ErrNotFound", err)
			}
			break
		}
		if segs, err := st.CustomerSegments(ctx, "cust_nobody"); err != nil || len(segs) != 0 {
			t.Errorf("CustomerSegments(unknown customer) = %v, %v; want none, nil", segs, err)
		}
	})

	t.Run("SyncStatus", func(t *testing.T) {
		st := newStore(t)
		if err := st.CreateSegment(ctx, rule("seg_1")); err != nil {
			t.Fatal(err)
		}
		later := at.Add(time.Hour)
		if err := st.SetSyncStatus(ctx, "seg_1", segment.Synced, later); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetSegment(ctx, "seg_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.SyncStatus != segment.Synced || !got.SyncedAt.Equal(later) || !got.UpdatedAt.Equal(later) {
			t.Errorf("after SetSyncStatus(synced): status %q, synced_at %v, updated_at %v; want synced, %v, %v",
				got.SyncStatus, got.SyncedAt, got.UpdatedAt, later, later)
		}
		evenLater := later.Add(time.Hour)
		if err := st.SetSyncStatus(ctx, "seg_1", segment.Syncing, evenLater); err != nil {
			t.Fatal(err)
		}
		got, _ = st.GetSegment(ctx, "seg_1")
		if got.SyncStatus != segment.Syncing || !got.SyncedAt.Equal(later) {
			t.Errorf("after SetSyncStatus(syncing): status %q, synced_at %v; want syncing, %v (kept)", got.SyncStatus, got.SyncedAt, later)
		}
	})

	t.Run("Membership", func(t *testing.T) {
		st := newStore(t)
		for _, id := range []string{"seg_1", "seg_2"} {
			if err := st.CreateSegment(ctx, rule(id)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.AddMembers(ctx, "seg_1", []string{"cust_c", "cust_a", "cust_b"}); err != nil {
			t.Fatal(err)
		}
		// Adding again is harmless.
		if err := st.AddMembers(ctx, "seg_1", []string{"cust_a", "cust_d"}); err != nil {
			t.Fatal(err)
		}
		if err := st.AddMembers(ctx, "seg_2", []string{"cust_a"}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"cust_a", "cust_b", "cust_c", "cust_d"}, members(t, st, "seg_1", segment.MemberOptions{})); diff != "" {
			t.Errorf("Members(seg_1) (-want +got):\n%s", diff)
		}
		if n, err := st.CountMembers(ctx, "seg_1"); err != nil || n != 4 {
			t.Errorf("CountMembers(seg_1) = %d, %v; want 4", n, err)
		}
		if diff := cmp.Diff([]string{"cust_c", "cust_d"}, members(t, st, "seg_1", segment.MemberOptions{After: "cust_b"})); diff != "" {
			t.Errorf("Members(seg_1, after cust_b) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"cust_a", "cust_b"}, members(t, st, "seg_1", segment.MemberOptions{Limit: 2})); diff != "" {
			t.Errorf("Members(seg_1, limit 2) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"cust_c"}, members(t, st, "seg_1", segment.MemberOptions{After: "cust_bb", Limit: 1})); diff != "" {
			t.Errorf("Members(seg_1, after cust_bb (not a member), limit 1) (-want +got):\n%s", diff)
		}
		segs, err := st.CustomerSegments(ctx, "cust_a")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"seg_1", "seg_2"}, segs); diff != "" {
			t.Errorf("CustomerSegments(cust_a) (-want +got):\n%s", diff)
		}

		if err := st.RemoveMembers(ctx, "seg_1", []string{"cust_a", "cust_x"}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"cust_b", "cust_c", "cust_d"}, members(t, st, "seg_1", segment.MemberOptions{})); diff != "" {
			t.Errorf("Members(seg_1) after remove (-want +got):\n%s", diff)
		}
		segs, _ = st.CustomerSegments(ctx, "cust_a")
		if diff := cmp.Diff([]string{"seg_2"}, segs); diff != "" {
			t.Errorf("CustomerSegments(cust_a) after remove (-want +got):\n%s", diff)
		}

		// Deleting a segment ends its memberships.
		if err := st.DeleteSegment(ctx, "seg_2"); err != nil {
			t.Fatal(err)
		}
		if segs, _ := st.CustomerSegments(ctx, "cust_a"); len(segs) != 0 {
			t.Errorf("CustomerSegments(cust_a) after deleting seg_2 = %v, want none", segs)
		}
		if _, err := st.GetSegment(ctx, "seg_2"); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("GetSegment(deleted) = %v, want ErrNotFound", err)
		}
		// Recreating it starts empty.
		if err := st.CreateSegment(ctx, rule("seg_2")); err != nil {
			t.Fatal(err)
		}
		if got := members(t, st, "seg_2", segment.MemberOptions{}); len(got) != 0 {
			t.Errorf("Members(recreated seg_2) = %v, want none", got)
		}
	})

	t.Run("ChangeMemberships", func(t *testing.T) {
		st := newStore(t)
		for _, id := range []string{"seg_1", "seg_2", "seg_3", "seg_4"} {
			if err := st.CreateSegment(ctx, rule(id)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.AddMembers(ctx, "seg_2", []string{"cust_a"}); err != nil {
			t.Fatal(err)
		}
		if err := st.AddMembers(ctx, "seg_4", []string{"cust_a", "cust_b"}); err != nil {
			t.Fatal(err)
		}
		// Joins in any order, a join of a segment already joined, a leave of
		// a segment not joined, and a segment that does not exist.
		if err := st.ChangeMemberships(ctx, "cust_a", []string{"seg_3", "seg_gone", "seg_1", "seg_2"}, []string{"seg_4", "seg_1x"}); err != nil {
			t.Fatal(err)
		}
		segs, err := st.CustomerSegments(ctx, "cust_a")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"seg_1", "seg_2", "seg_3"}, segs); diff != "" {
			t.Errorf("CustomerSegments(cust_a) (-want +got):\n%s", diff)
		}
		for seg, want := range map[string][]string{"seg_1": {"cust_a"}, "seg_2": {"cust_a"}, "seg_3": {"cust_a"}, "seg_4": {"cust_b"}} {
			if diff := cmp.Diff(want, members(t, st, seg, segment.MemberOptions{})); diff != "" {
				t.Errorf("Members(%s) (-want +got):\n%s", seg, diff)
			}
		}
		if err := st.ChangeMemberships(ctx, "cust_a", nil, []string{"seg_3", "seg_1", "seg_2"}); err != nil {
			t.Fatal(err)
		}
		if segs, _ := st.CustomerSegments(ctx, "cust_a"); len(segs) != 0 {
			t.Errorf("CustomerSegments(cust_a) after leaving all = %v", segs)
		}
		if n, _ := st.CountMembers(ctx, "seg_1"); n != 0 {
			t.Errorf("CountMembers(seg_1) = %d, want 0", n)
		}
	})

	t.Run("ManyMembers", func(t *testing.T) {
		st := newStore(t)
		if err := st.CreateSegment(ctx, rule("seg_1")); err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range 2500 {
			want = append(want, fmt.Sprintf("cust_%05d", i))
		}
		shuffled := slices.Clone(want)
		slices.Reverse(shuffled)
		for chunk := range slices.Chunk(shuffled, 1000) {
			if err := st.AddMembers(ctx, "seg_1", chunk); err != nil {
				t.Fatal(err)
			}
		}
		// Page through with a cursor, as a distribution does.
		var got []string
		after := ""
		for {
			page := members(t, st, "seg_1", segment.MemberOptions{After: after, Limit: 700})
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("paged Members (-want +got):\n%s", diff)
		}
	})

	t.Run("ReturnedValuesAreCopies", func(t *testing.T) {
		st := newStore(t)
		s := segment.Segment{ID: "seg_1", Name: "VIP", Type: segment.Static, CustomerIDs: []string{"cust_a"}, SyncStatus: segment.Synced}
		if err := st.CreateSegment(ctx, s); err != nil {
			t.Fatal(err)
		}
		s.CustomerIDs[0] = "changed"
		got, _ := st.GetSegment(ctx, "seg_1")
		got.CustomerIDs[0] = "changed too"
		again, _ := st.GetSegment(ctx, "seg_1")
		if diff := cmp.Diff([]string{"cust_a"}, again.CustomerIDs); diff != "" {
			t.Errorf("stored CustomerIDs changed through a caller's slice (-want +got):\n%s", diff)
		}
		if err := st.AddMembers(ctx, "seg_1", []string{"cust_a"}); err != nil {
			t.Fatal(err)
		}
		segs, _ := st.CustomerSegments(ctx, "cust_a")
		segs[0] = "changed"
		if segs, _ := st.CustomerSegments(ctx, "cust_a"); !slices.Equal(segs, []string{"seg_1"}) {
			t.Errorf("CustomerSegments changed through a returned slice: %v", segs)
		}
	})
}
