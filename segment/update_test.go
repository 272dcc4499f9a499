package segment_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
)

func TestEngineUpdateRule(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{BatchSize: 2})
	cs := f.upsert(t, src("a", "Intercom", 10), src("b", "Web", 500), src("c", "Intercom", 500))
	auto := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	f.sync(t, auto.ID)
	auto, _ = f.st.GetSegment(f.ctx, auto.ID)
	f.clock.Advance(time.Hour)

	// A new rule: big spenders. a leaves, b enters, c stays.
	in := auto
	in.Name = "Big spenders"
	in.Filter = segment.MustParseFilter(`{"junction":"and","metadata.ltv":{"conditions":{"$more_than":[100]}}}`)
	out, changed, err := f.eng.Update(f.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !changed || out.SyncStatus != segment.Syncing || out.Name != "Big spenders" || !out.UpdatedAt.Equal(f.clock.Now()) ||
		!out.CreatedAt.Equal(auto.CreatedAt) || !out.SyncedAt.Equal(auto.SyncedAt) || out.SyncChecked != 0 || out.SyncTotal != 0 {
		t.Errorf("Update = %+v, changed %v; want syncing, renamed, progress 0, created and synced_at kept, changed", out, changed)
	}
	if got, _ := f.st.GetSegment(f.ctx, auto.ID); got.SyncStatus != segment.Syncing || got.Filter.String() != in.Filter.String() {
		t.Errorf("stored after Update: %+v", got)
	}
	// Members stay until the sync checks them.
	if diff := cmp.Diff([]string{"a", "c"}, f.members(t, auto.ID)); diff != "" {
		t.Errorf("members before the re-sync (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{auto.ID}, f.eng.Unsynced()); diff != "" {
		t.Errorf("Unsynced after Update (-want +got):\n%s", diff)
	}
	got := f.sync(t, auto.ID)
	want := []segment.Change{
		{SegmentID: auto.ID, CustomerID: cs[0].ID, Entered: false, Emit: true},
		{SegmentID: auto.ID, CustomerID: cs[1].ID, Entered: true, Emit: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("re-sync changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b", "c"}, f.members(t, auto.ID)); diff != "" {
		t.Errorf("members after the re-sync (-want +got):\n%s", diff)
	}
	if s, _ := f.st.GetSegment(f.ctx, auto.ID); s.SyncStatus != segment.Synced || s.SyncChecked != 3 || s.SyncTotal != 3 {
		t.Errorf("after the re-sync: %s, %d of %d; want synced, 3 of 3", s.SyncStatus, s.SyncChecked, s.SyncTotal)
	}

	// CustomerChanged uses the new rule at once.
	a := cs[0]
	a.Metadata = customer.Metadata{"source": "Intercom", "ltv": 1000.0}
	a = f.upsert(t, a)[0]
	changes, err := f.eng.CustomerChanged(f.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]segment.Change{{SegmentID: auto.ID, CustomerID: a.ID, Entered: true, Emit: true}}, changes); diff != "" {
		t.Errorf("CustomerChanged after Update (-want +got):\n%s", diff)
	}
}

func TestEngineUpdateNameOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{})
	f.upsert(t, src("a", "Intercom", 10))
	s := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	f.sync(t, s.ID)
	before, _ := f.st.GetSegment(f.ctx, s.ID)
	f.clock.Advance(time.Minute)
	s.Name = "From Intercom"
	// The same rule written anew is the same rule.
	s.Filter = segment.MustParseFilter(intercomFilter)
	out, changed, err := f.eng.Update(f.ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if changed || out.SyncStatus != segment.Synced || out.Name != "From Intercom" {
		t.Errorf("Update(name) = %+v, changed %v; want synced, not changed", out, changed)
	}
	got, _ := f.st.GetSegment(f.ctx, s.ID)
	want := before
	want.Name, want.UpdatedAt = "From Intercom", f.clock.Now()
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }), cmp.Comparer(func(a, b *segment.Filter) bool { return a.String() == b.String() })); diff != "" {
		t.Errorf("stored after a rename (-want +got):\n%s", diff)
	}
	if u := f.eng.Unsynced(); len(u) != 0 {
		t.Errorf("Unsynced after a rename = %v", u)
	}
}

func TestEngineUpdateBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{})
	f.upsert(t, src("a", "Intercom", 10))
	s := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	f.sync(t, s.ID)
	before, _ := f.st.GetSegment(f.ctx, s.ID)
	bad := []struct {
		name string
		in   segment.Segment
		msg  string
		is   error
	}{
		{"no id", segment.Segment{Name: "x", Type: segment.Passive, Expression: "true"}, "id is required", segment.ErrInvalid},
		{"no name", segment.Segment{ID: s.ID, Type: segment.Passive, Expression: "true"}, "name is required", segment.ErrInvalid},
		{"bad type", segment.Segment{ID: s.ID, Name: "x", Type: "dynamic", Expression: "true"}, `type "dynamic" is not one of`, segment.ErrInvalid},
		{"no rule", segment.Segment{ID: s.ID, Name: "x", Type: segment.AutoUpdate}, "needs exactly one of filter and expression", segment.ErrInvalid},
		{"bad filter", segment.Segment{ID: s.ID, Name: "x", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(`{"metadata.ltv":{"conditions":{"$more_than":"lots"}}}`)},
			`metadata.ltv $more_than: want a number, got "lots"`, segment.ErrInvalid},
		{"bad expression", segment.Segment{ID: s.ID, Name: "x", Type: segment.Passive, Expression: "metadata.ltv >"}, "expression: unexpected token EOF", segment.ErrInvalid},
		{"unknown static member", segment.Segment{ID: s.ID, Name: "x", Type: segment.Static, CustomerIDs: []string{"a", "nobody"}}, "customer_ids[1]", segment.ErrNotFound},
		{"empty static member", segment.Segment{ID: s.ID, Name: "x", Type: segment.Static, CustomerIDs: []string{""}}, "customer_ids[0] is empty", segment.ErrInvalid},
		{"missing segment", segment.Segment{ID: "seg_none", Name: "x", Type: segment.Passive, Expression: "true"}, "seg_none", segment.ErrNotFound},
	}
	for _, tt := range bad {
		_, _, err := f.eng.Update(f.ctx, tt.in)
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: Update error = %v, want %v containing %q", tt.name, err, tt.is, tt.msg)
		}
	}
	var fe *segment.FilterError
	if _, _, err := f.eng.Update(f.ctx, bad[4].in); !errors.As(err, &fe) || fe.Path != "metadata.ltv" {
		t.Errorf("bad filter: error %v is not a *FilterError on metadata.ltv", err)
	}
	got, _ := f.st.GetSegment(f.ctx, s.ID)
	if got.Name != before.Name || got.Filter.String() != before.Filter.String() || got.SyncStatus != segment.Synced || !got.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("a failed Update changed the segment: %+v, was %+v", got, before)
	}
	if diff := cmp.Diff([]string{"a"}, f.members(t, s.ID)); diff != "" {
		t.Errorf("members after failed updates (-want +got):\n%s", diff)
	}
}

func TestEngineUpdateStatic(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{})
	cs := f.upsert(t, src("a", "Intercom", 10), src("b", "Web", 500), src("c", "Intercom", 500))
	st := f.create(t, segment.Segment{Name: "VIP", Type: segment.Static, CustomerIDs: []string{"a", "b"}})

	// A new list, by source id or id: members follow at once.
	st.CustomerIDs = []string{cs[1].ID, "c"}
	out, changed, err := f.eng.Update(f.ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if !changed || out.SyncStatus != segment.Synced {
		t.Errorf("Update(static) = %+v, changed %v", out, changed)
	}
	if diff := cmp.Diff([]string{"b", "c"}, f.members(t, st.ID)); diff != "" {
		t.Errorf("static members (-want +got):\n%s", diff)
	}
	// The same list in another order changes nothing.
	st.CustomerIDs = []string{cs[2].ID, cs[1].ID}
	if _, changed, err := f.eng.Update(f.ctx, st); err != nil || changed {
		t.Errorf("Update(same list) changed %v, %v; want false", changed, err)
	}

	// Static to rule: syncing; the sync checks the list's members against
	// the rule (a passive segment emits nothing).
	rule := segment.Segment{ID: st.ID, Name: "VIP", Type: segment.Passive, Expression: `metadata.source == "Intercom"`}
	out, changed, err = f.eng.Update(f.ctx, rule)
	if err != nil {
		t.Fatal(err)
	}
	if !changed || out.SyncStatus != segment.Syncing || out.CustomerIDs != nil {
		t.Errorf("Update(static to passive) = %+v, changed %v", out, changed)
	}
	got := f.sync(t, st.ID)
	want := []segment.Change{
		{SegmentID: st.ID, CustomerID: cs[0].ID, Entered: true},
		{SegmentID: st.ID, CustomerID: cs[1].ID, Entered: false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sync after static to passive (-want +got):\n%s", diff)
	}

	// Rule to static: the list replaces the rule's members; the rule is
	// forgotten (a changed customer no longer joins).
	back := segment.Segment{ID: st.ID, Name: "VIP", Type: segment.Static, CustomerIDs: []string{"b"}}
	if _, changed, err := f.eng.Update(f.ctx, back); err != nil || !changed {
		t.Fatalf("Update(passive to static) changed %v, %v", changed, err)
	}
	if diff := cmp.Diff([]string{"b"}, f.members(t, st.ID)); diff != "" {
		t.Errorf("members after passive to static (-want +got):\n%s", diff)
	}
	a := cs[0]
	a.Metadata = customer.Metadata{"source": "Intercom", "ltv": 1.0}
	if changes, err := f.eng.CustomerChanged(f.ctx, f.upsert(t, a)[0]); err != nil || len(changes) != 0 {
		t.Errorf("CustomerChanged after the rule was dropped = %v, %v", changes, err)
	}
}

// TestEngineUpdateSupersedesSync: an Update while a sync runs stops that
// sync (ErrSuperseded) without marking the segment synced; the next sync
// uses the new rule.
func TestEngineUpdateSupersedesSync(t *testing.T) {
	t.Parallel()
	for _, at := range []struct {
		name  string
		batch int // the progress report after which the update comes
	}{{"mid-sync", 1}, {"after the last batch", 4}} {
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, segment.Config{BatchSize: 1})
			f.upsert(t, src("a", "Intercom", 10), src("b", "Web", 500), src("c", "Intercom", 500))
			s := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
			n := 0
			_, err := f.eng.Sync(f.ctx, s.ID, func(p segment.SyncProgress) {
				if n++; n == at.batch {
					in := s
					in.Filter = nil
					in.Expression = "metadata.ltv > 100"
					if _, _, err := f.eng.Update(f.ctx, in); err != nil {
						t.Error(err)
					}
				}
			})
			if !errors.Is(err, segment.ErrSuperseded) {
				t.Fatalf("Sync during an Update = %v, want ErrSuperseded", err)
			}
			if got, _ := f.st.GetSegment(f.ctx, s.ID); got.SyncStatus != segment.Syncing {
				t.Errorf("status after a superseded sync = %s, want syncing", got.SyncStatus)
			}
			f.sync(t, s.ID)
			if diff := cmp.Diff([]string{"b", "c"}, f.members(t, s.ID)); diff != "" {
				t.Errorf("members after the new sync (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEngineSyncProgressPersisted: each batch stores its progress, so a
// reader of the store (another replica) sees it while the sync runs.
func TestEngineSyncProgressPersisted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{BatchSize: 2})
	f.upsert(t, src("a", "Intercom", 10), src("b", "Web", 500), src("c", "Intercom", 500), src("d", "Web", 1), src("e", "Web", 1))
	s := f.create(t, segment.Segment{Name: "Big", Type: segment.Passive, Expression: "metadata.ltv > 100"})
	type seen struct {
		Status         segment.SyncStatus
		Checked, Total int
	}
	var got []seen
	if _, err := f.eng.Sync(f.ctx, s.ID, func(p segment.SyncProgress) {
		stored, err := f.st.GetSegment(f.ctx, s.ID)
		if err != nil {
			t.Error(err)
		}
		got = append(got, seen{stored.SyncStatus, stored.SyncChecked, stored.SyncTotal})
	}); err != nil {
		t.Fatal(err)
	}
	stored, _ := f.st.GetSegment(f.ctx, s.ID)
	got = append(got, seen{stored.SyncStatus, stored.SyncChecked, stored.SyncTotal})
	want := []seen{{segment.Syncing, 2, 5}, {segment.Syncing, 4, 5}, {segment.Syncing, 5, 5}, {segment.Synced, 5, 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored progress during the sync (-want +got):\n%s", diff)
	}
}

// TestEngineRefresh: two engines on one store (two replicas). What one
// creates, updates or deletes governs the other's CustomerChanged once
// it refreshes; a sync there with a replaced rule is superseded, one with
// an unchanged rule is not.
func TestEngineRefresh(t *testing.T) {
	t.Parallel()
	a := newFixture(t, segment.Config{})
	b := &fixture{ctx: a.ctx, st: a.st, clock: a.clock}
	var err error
	if b.eng, err = segment.NewEngine(a.ctx, segment.Config{Store: a.st, Customers: a.st, Now: a.clock.Now}); err != nil {
		t.Fatal(err)
	}
	cs := a.upsert(t, src("ann", "Intercom", 10), src("bob", "Web", 500))
	s := a.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	a.sync(t, s.ID)

	changed := func(f *fixture, c customer.Customer) []segment.Change {
		t.Helper()
		stored := f.upsert(t, c)[0]
		ch, err := f.eng.CustomerChanged(f.ctx, stored)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	// b does not know the segment yet; within maxAge it does not look.
	bob := cs[1]
	bob.Metadata = customer.Metadata{"source": "Intercom", "ltv": 500.0}
	if err := b.eng.Refresh(b.ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if ch := changed(b, bob); len(ch) != 0 {
		t.Errorf("b before refreshing: %v, want no change", ch)
	}
	a.clock.Advance(time.Minute)
	if err := b.eng.Refresh(b.ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	bob.Metadata["x"] = 1.0
	if diff := cmp.Diff([]segment.Change{{SegmentID: s.ID, CustomerID: bob.ID, Entered: true, Emit: true}}, changed(b, bob)); diff != "" {
		t.Errorf("b after refreshing: a's new segment (-want +got):\n%s", diff)
	}

	// a changes the rule; b follows after a refresh.
	s.Filter = segment.MustParseFilter(`{"junction":"and","metadata.ltv":{"conditions":{"$more_than":[100]}}}`)
	if _, _, err := a.eng.Update(a.ctx, s); err != nil {
		t.Fatal(err)
	}
	ann := cs[0]
	ann.Metadata = customer.Metadata{"source": "Web", "ltv": 1000.0}
	if ch := changed(b, ann); len(ch) != 1 || ch[0].Entered { // the old rule: ann (no longer Intercom) leaves
		t.Errorf("b with the stale rule: %v", ch)
	}
	if err := b.eng.Refresh(b.ctx, 0); err != nil {
		t.Fatal(err)
	}
	ann.Metadata["x"] = 1.0
	if diff := cmp.Diff([]segment.Change{{SegmentID: s.ID, CustomerID: ann.ID, Entered: true, Emit: true}}, changed(b, ann)); diff != "" {
		t.Errorf("b with the new rule (-want +got):\n%s", diff)
	}

	// A sync on b: a refresh with the same rule leaves it running; a new
	// rule from a supersedes it.
	n := 0
	_, err = b.eng.Sync(b.ctx, s.ID, func(segment.SyncProgress) {
		if n++; n > 1 {
			return
		}
		if err := b.eng.Refresh(b.ctx, 0); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Errorf("Sync on b across a refresh without changes: %v", err)
	}
	b2, err := segment.NewEngine(a.ctx, segment.Config{Store: a.st, Customers: a.st, Now: a.clock.Now, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	_, err = b2.Sync(b.ctx, s.ID, func(segment.SyncProgress) {
		if n++; n > 1 {
			return
		}
		in := s
		in.Filter, in.Expression = nil, "true"
		if _, _, err := a.eng.Update(a.ctx, in); err != nil {
			t.Error(err)
		}
		if err := b2.Refresh(b.ctx, 0); err != nil {
			t.Error(err)
		}
	})
	if !errors.Is(err, segment.ErrSuperseded) {
		t.Errorf("Sync on b2 when a changed the rule and b2 refreshed = %v, want ErrSuperseded", err)
	}

	// a deletes it; b drops it.
	if err := a.eng.Delete(a.ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Refresh(b.ctx, 0); err != nil {
		t.Fatal(err)
	}
	ann.Metadata["x"] = 2.0
	if ch := changed(b, ann); len(ch) != 0 {
		t.Errorf("b after the segment was deleted: %v", ch)
	}
}
