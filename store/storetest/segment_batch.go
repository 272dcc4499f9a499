package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// runSegmentBatch checks the optional interfaces segment.Engine upgrades
// to (segment.Versioner, segment.MembershipBatcher,
// segment.CustomerScanner, segment.SyncBatchWriter); a store without them
// skips these tests.
func runSegmentBatch(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, st store.Store)
	}{
		{"SegmentsVersion", testSegmentsVersion},
		{"CustomersSegments", testCustomersSegments},
		{"ChangeMembershipsBatch", testChangeMembershipsBatch},
		{"ScanCustomers", testScanCustomers},
		{"WriteSyncBatch", testWriteSyncBatch},
		{"DeleteSegmentRace", testDeleteSegmentRace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

var batchAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func batchSegment(id string, typ segment.Type) segment.Segment {
	s := segment.Segment{ID: id, Name: "segment " + id, Type: typ, SyncStatus: segment.Syncing, CreatedAt: batchAt, UpdatedAt: batchAt}
	if typ == segment.Static {
		s.SyncStatus = segment.Synced
	} else {
		s.Expression = "true"
	}
	return s
}

// testSegmentsVersion: every committed create, update, sync status change
// and delete of a segment moves the version; sync progress and
// membership writes do not.
func testSegmentsVersion(t *testing.T, st store.Store) {
	ctx := context.Background()
	v, ok := st.(segment.Versioner)
	if !ok {
		t.Skip("the store is not a segment.Versioner")
	}
	version := func() int64 {
		t.Helper()
		n, err := v.SegmentsVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	s := batchSegment("seg_v", segment.AutoUpdate)
	steps := []struct {
		name  string
		moves bool
		do    func() error
	}{
		{"CreateSegment", true, func() error { return st.CreateSegment(ctx, s) }},
		{"SetSyncProgress", false, func() error { return st.SetSyncProgress(ctx, s.ID, 1, 2) }},
		{"AddMembers", false, func() error { return st.AddMembers(ctx, s.ID, []string{"cust_a"}) }},
		{"ChangeMemberships", false, func() error { return st.ChangeMemberships(ctx, "cust_b", []string{s.ID}, nil) }},
		{"RemoveMembers", false, func() error { return st.RemoveMembers(ctx, s.ID, []string{"cust_a"}) }},
		{"SetSyncStatus", true, func() error { return st.SetSyncStatus(ctx, s.ID, segment.Synced, batchAt) }},
		{"UpdateSegment", true, func() error {
			u := s
			u.Expression, u.UpdatedAt = "false", batchAt.Add(time.Second)
			return st.UpdateSegment(ctx, u)
		}},
		{"DeleteSegment", true, func() error { return st.DeleteSegment(ctx, s.ID) }},
	}
	prev := version()
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		cur := version()
		if moved := cur != prev; moved != step.moves {
			t.Errorf("%s: version %d -> %d, want moved = %v", step.name, prev, cur, step.moves)
		}
		prev = cur
	}
}

// batchMembers sets up three segments (one static) and memberships of
// cust_a (two segments), cust_b (one) and cust_c (none).
func batchMembers(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []segment.Segment{batchSegment("seg_1", segment.AutoUpdate), batchSegment("seg_2", segment.Passive), batchSegment("seg_3", segment.Static)} {
		if err := st.CreateSegment(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddMembers(ctx, "seg_3", []string{"cust_a"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddMembers(ctx, "seg_1", []string{"cust_a", "cust_b"}); err != nil {
		t.Fatal(err)
	}
}

func testCustomersSegments(t *testing.T, st store.Store) {
	ctx := context.Background()
	b, ok := st.(segment.MembershipBatcher)
	if !ok {
		t.Skip("the store is not a segment.MembershipBatcher")
	}
	batchMembers(t, st)
	tests := []struct {
		name string
		ids  []string
		want map[string][]string
	}{
		{"members and not", []string{"cust_c", "cust_b", "cust_a"}, map[string][]string{"cust_a": {"seg_1", "seg_3"}, "cust_b": {"seg_1"}}},
		{"repeated ids", []string{"cust_b", "cust_b"}, map[string][]string{"cust_b": {"seg_1"}}},
		{"unknown ids", []string{"cust_nope"}, map[string][]string{}},
		{"none", nil, map[string][]string{}},
	}
	for _, tc := range tests {
		got, err := b.CustomersSegments(ctx, tc.ids)
		if err != nil {
			t.Fatalf("%s: CustomersSegments(%q): %v", tc.name, tc.ids, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: CustomersSegments(%q) (-want +got):\n%s", tc.name, tc.ids, diff)
		}
		for id, segs := range got {
			one, err := st.CustomerSegments(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(one, segs); diff != "" {
				t.Errorf("%s: CustomersSegments[%s] differs from CustomerSegments (-one +batch):\n%s", tc.name, id, diff)
			}
		}
	}
}

func testChangeMembershipsBatch(t *testing.T, st store.Store) {
	ctx := context.Background()
	b, ok := st.(segment.MembershipBatcher)
	if !ok {
		t.Skip("the store is not a segment.MembershipBatcher")
	}
	batchMembers(t, st)
	err := b.ChangeMembershipsBatch(ctx, []segment.MembershipChange{
		{CustomerID: "cust_a", Join: []string{"seg_2"}, Leave: []string{"seg_1"}},             // seg_3 (static) stays
		{CustomerID: "cust_b", Join: []string{"seg_1", "seg_2", "seg_gone"}},                  // already in seg_1; seg_gone does not exist
		{CustomerID: "cust_c", Join: []string{"seg_1"}, Leave: []string{"seg_2", "seg_gone"}}, // not in seg_2
	})
	if err != nil {
		t.Fatalf("ChangeMembershipsBatch: %v", err)
	}
	want := map[string][]string{"cust_a": {"seg_2", "seg_3"}, "cust_b": {"seg_1", "seg_2"}, "cust_c": {"seg_1"}}
	for id, segs := range want {
		got, err := st.CustomerSegments(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(segs, got); diff != "" {
			t.Errorf("CustomerSegments(%s) after the batch (-want +got):\n%s", id, diff)
		}
	}
	var members []string
	for id, err := range st.Members(ctx, "seg_1", segment.MemberOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, id)
	}
	if diff := cmp.Diff([]string{"cust_b", "cust_c"}, members); diff != "" {
		t.Errorf("Members(seg_1) after the batch (-want +got):\n%s", diff)
	}
	if err := b.ChangeMembershipsBatch(ctx, nil); err != nil {
		t.Errorf("ChangeMembershipsBatch(nil): %v", err)
	}
}

// testScanCustomers: ScanCustomers shows what Customers yields, in the
// same order, from a cursor, and stops when told.
func testScanCustomers(t *testing.T, st store.Store) {
	ctx := context.Background()
	sc, ok := st.(segment.CustomerScanner)
	if !ok {
		t.Skip("the store is not a segment.CustomerScanner")
	}
	var cs []customer.Customer
	for i := range 1100 { // more than a page or chunk
		c := customer.Customer{SourceID: fmt.Sprintf("u%04d", i), Name: fmt.Sprint("Customer ", i), CreatedAt: at(1), UpdatedAt: at(1)}
		switch i % 3 {
		case 0:
			c.Metadata = customer.Metadata{"plan": fmt.Sprint("plan", i%5), "n": float64(i)}
		case 1:
			c.Metadata = customer.Metadata{"tags": []any{"a", fmt.Sprint(i)}}
		}
		cs = append(cs, c)
	}
	upsert(t, st, customer.UpsertOptions{}, cs...)
	list := func(after string) []customer.Customer {
		var out []customer.Customer
		for c, err := range st.Customers(ctx, customer.ListOptions{After: after}) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c.Clone())
		}
		return out
	}
	scan := func(after string, limit int) []customer.Customer {
		var out []customer.Customer
		err := sc.ScanCustomers(ctx, after, func(c *customer.Customer) bool {
			out = append(out, c.Clone())
			return limit == 0 || len(out) < limit
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := list("")
	if diff := cmp.Diff(all, scan("", 0), timeOpt, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ScanCustomers vs Customers (-Customers +Scan):\n%s", diff)
	}
	after := all[499].ID
	if diff := cmp.Diff(list(after), scan(after, 0), timeOpt, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ScanCustomers after %s vs Customers (-Customers +Scan):\n%s", after, diff)
	}
	if got := scan("", 7); len(got) != 7 || got[6].ID != all[6].ID {
		t.Errorf("ScanCustomers stopped after 7 gave %d customers", len(got))
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := sc.ScanCustomers(canceled, "", func(*customer.Customer) bool { return true }); err == nil {
		t.Error("ScanCustomers with a canceled context: no error")
	}
}

// testWriteSyncBatch: a sync batch adds and removes members and sets the
// progress (or leaves it, with a negative total) in one write; a missing
// segment writes nothing.
func testWriteSyncBatch(t *testing.T, st store.Store) {
	ctx := context.Background()
	w, ok := st.(segment.SyncBatchWriter)
	if !ok {
		t.Skip("the store is not a segment.SyncBatchWriter")
	}
	batchMembers(t, st) // seg_1: cust_a, cust_b
	members := func(id string) []string {
		var out []string
		for cid, err := range st.Members(ctx, id, segment.MemberOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, cid)
		}
		return out
	}
	progress := func(id string) [2]int {
		s, err := st.GetSegment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return [2]int{s.SyncChecked, s.SyncTotal}
	}
	if err := w.WriteSyncBatch(ctx, segment.SyncBatch{SegmentID: "seg_1", Add: []string{"cust_c", "cust_a"}, Remove: []string{"cust_b", "cust_nope"}, Checked: 30, Total: 100}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cust_a", "cust_c"}, members("seg_1")); diff != "" {
		t.Errorf("members after the batch (-want +got):\n%s", diff)
	}
	if got := progress("seg_1"); got != [2]int{30, 100} {
		t.Errorf("progress = %v, want [30 100]", got)
	}
	if segs, err := st.CustomerSegments(ctx, "cust_c"); err != nil || !cmp.Equal(segs, []string{"seg_1"}) {
		t.Errorf("CustomerSegments(cust_c) = %v, %v; want [seg_1]", segs, err)
	}
	if err := w.WriteSyncBatch(ctx, segment.SyncBatch{SegmentID: "seg_1", Remove: []string{"cust_a"}, Checked: 99, Total: -1, Lazy: true}); err != nil {
		t.Fatal(err)
	}
	if got := progress("seg_1"); got != [2]int{30, 100} {
		t.Errorf("progress after a batch with a negative total = %v, want it left at [30 100]", got)
	}
	if diff := cmp.Diff([]string{"cust_c"}, members("seg_1")); diff != "" {
		t.Errorf("members after the second batch (-want +got):\n%s", diff)
	}
	if err := w.WriteSyncBatch(ctx, segment.SyncBatch{SegmentID: "seg_gone", Add: []string{"cust_a"}, Checked: 1, Total: 2}); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("WriteSyncBatch of a missing segment = %v, want ErrNotFound", err)
	}
	if segs, err := st.CustomerSegments(ctx, "cust_a"); err != nil || !cmp.Equal(segs, []string{"seg_3"}) {
		t.Errorf("CustomerSegments(cust_a) = %v, %v; want [seg_3]", segs, err)
	}
}

// testDeleteSegmentRace: membership writes racing a DeleteSegment leave
// no membership of the deleted segment behind (a store may delete them
// with the segment, as a foreign key would, or lock against them).
func testDeleteSegmentRace(t *testing.T, st store.Store) {
	ctx := context.Background()
	for round := range 5 {
		id := fmt.Sprintf("seg_race%d", round)
		if err := st.CreateSegment(ctx, batchSegment(id, segment.Passive)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 20 {
					cid := fmt.Sprintf("cust_r%d_%d_%d", round, w, i)
					var err error
					switch (w + i) % 4 {
					case 0:
						err = st.AddMembers(ctx, id, []string{cid, cid + "x"})
					case 1:
						err = st.ChangeMemberships(ctx, cid, []string{id}, nil)
					case 2:
						if b, ok := st.(segment.MembershipBatcher); ok {
							err = b.ChangeMembershipsBatch(ctx, []segment.MembershipChange{{CustomerID: cid, Join: []string{id}}, {CustomerID: cid + "y", Join: []string{id}}})
						}
					case 3:
						if sw, ok := st.(segment.SyncBatchWriter); ok {
							err = sw.WriteSyncBatch(ctx, segment.SyncBatch{SegmentID: id, Add: []string{cid}, Checked: i, Total: 20, Lazy: i%2 == 0})
						}
					}
					if err != nil && !errors.Is(err, segment.ErrNotFound) {
						t.Error(err)
					}
				}
			})
		}
		wg.Go(func() {
			if err := st.DeleteSegment(ctx, id); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		for w := range 4 {
			for i := range 20 {
				cid := fmt.Sprintf("cust_r%d_%d_%d", round, w, i)
				for _, c := range []string{cid, cid + "x", cid + "y"} {
					segs, err := st.CustomerSegments(ctx, c)
					if err != nil {
						t.Fatal(err)
					}
					if len(segs) > 0 {
						t.Fatalf("customer %s is still a member of %v after the segment was deleted", c, segs)
					}
				}
			}
		}
	}
}
