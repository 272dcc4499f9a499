package segment_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
	"github.com/google/go-cmp/cmp"
)

// clock is a fake clock for the engine.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	ctx   context.Context
	st    *store.Memory
	eng   *segment.Engine
	clock *clock
}

func newFixture(t *testing.T, cfg segment.Config) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), st: store.NewMemory(), clock: &clock{t: time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)}}
	if cfg.Store == nil {
		cfg.Store, cfg.Customers = f.st, f.st
	}
	cfg.Now = f.clock.Now
	eng, err := segment.NewEngine(f.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.eng = eng
	return f
}

// upsert stores customers (by source id) and returns them as stored.
func (f *fixture) upsert(t *testing.T, cs ...customer.Customer) []customer.Customer {
	t.Helper()
	out, err := f.st.UpsertCustomers(f.ctx, cs, customer.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) create(t *testing.T, s segment.Segment) segment.Segment {
	t.Helper()
	s, err := f.eng.Create(f.ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) sync(t *testing.T, id string) []segment.Change {
	t.Helper()
	var changes []segment.Change
	if _, err := f.eng.Sync(f.ctx, id, func(p segment.SyncProgress) { changes = append(changes, p.Changes...) }); err != nil {
		t.Fatal(err)
	}
	return changes
}

// members returns a segment's members as sorted source ids.
func (f *fixture) members(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for cid, err := range f.eng.Members(f.ctx, id, segment.MemberOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.st.GetCustomer(f.ctx, cid)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.SourceID)
	}
	slices.Sort(out)
	return out
}

func src(sourceID, source string, ltv float64) customer.Customer {
	return customer.Customer{SourceID: sourceID, Metadata: customer.Metadata{"source": source, "ltv": ltv}}
}

var intercomFilter = `{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`

func TestEngineCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{})
	s := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	if !strings.HasPrefix(s.ID, "seg_") || s.SyncStatus != segment.Syncing || !s.CreatedAt.Equal(f.clock.Now()) {
		t.Errorf("Create = %+v, want a seg_ id, status syncing, created now", s)
	}
	if got, err := f.st.GetSegment(f.ctx, s.ID); err != nil || got.SyncStatus != segment.Syncing {
		t.Errorf("stored segment = %+v, %v", got, err)
	}
	if diff := cmp.Diff([]string{s.ID}, f.eng.Unsynced()); diff != "" {
		t.Errorf("Unsynced (-want +got):\n%s", diff)
	}

	bad := []struct {
		name string
		s    segment.Segment
		msg  string
	}{
		{"no name", segment.Segment{Type: segment.Passive, Expression: "true"}, "name is required"},
		{"bad type", segment.Segment{Name: "x", Type: "dynamic", Expression: "true"}, `type "dynamic" is not one of`},
		{"no rule", segment.Segment{Name: "x", Type: segment.Passive}, "needs exactly one of filter and expression"},
		{"two rules", segment.Segment{Name: "x", Type: segment.Passive, Expression: "true", Filter: segment.MustParseFilter(intercomFilter)}, "exactly one"},
		{"static with rule", segment.Segment{Name: "x", Type: segment.Static, Expression: "true"}, "a static segment has no filter"},
		{"rule with ids", segment.Segment{Name: "x", Type: segment.Passive, Expression: "true", CustomerIDs: []string{"c"}}, "customer_ids is for static segments"},
		{"bad filter", segment.Segment{Name: "x", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(`{"metadata.ltv":{"conditions":{"$more_than":"lots"}}}`)}, `segment rule: metadata.ltv $more_than: want a number, got "lots"`},
		{"bad expression", segment.Segment{Name: "x", Type: segment.AutoUpdate, Expression: "metadata.ltv >"}, "segment rule: expression: unexpected token EOF"},
	}
	for _, tt := range bad {
		_, err := f.eng.Create(f.ctx, tt.s)
		if !errors.Is(err, segment.ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: Create error = %v, want ErrInvalid containing %q", tt.name, err, tt.msg)
		}
	}
	var fe *segment.FilterError
	if _, err := f.eng.Create(f.ctx, segment.Segment{Name: "x", Type: segment.Passive, Expression: "emial == 1"}); !errors.As(err, &fe) {
		t.Errorf("Create with a bad rule: error %v is not a *FilterError", err)
	}
	n := 0
	for range f.st.Segments(f.ctx) {
		n++
	}
	if n != 1 {
		t.Errorf("store holds %d segments after failed creates, want 1", n)
	}
}

func TestEngineStatic(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{})
	cs := f.upsert(t, src("a", "Web", 1), src("b", "Web", 1))
	s := f.create(t, segment.Segment{Name: "VIP", Type: segment.Static, CustomerIDs: []string{cs[0].ID, "b", "a"}})
	if s.SyncStatus != segment.Synced || len(s.CustomerIDs) != 2 || s.CustomerIDs[1] != cs[1].ID {
		t.Errorf("static Create = %+v, want synced with ids %s, %s", s, cs[0].ID, cs[1].ID)
	}
	if diff := cmp.Diff([]string{"a", "b"}, f.members(t, s.ID)); diff != "" {
		t.Errorf("static members (-want +got):\n%s", diff)
	}
	// Customer changes never touch static memberships.
	if ch, err := f.eng.CustomerChanged(f.ctx, cs[0]); err != nil || len(ch) != 0 {
		t.Errorf("CustomerChanged = %v, %v; want no changes", ch, err)
	}

	_, err := f.eng.Create(f.ctx, segment.Segment{Name: "x", Type: segment.Static, CustomerIDs: []string{"a", "nobody"}})
	if !errors.Is(err, segment.ErrNotFound) || !strings.Contains(err.Error(), "customer_ids[1]") {
		t.Errorf("static with an unknown customer: error = %v, want ErrNotFound naming customer_ids[1]", err)
	}

	// The limit: 20,000 customers.
	ids := make([]string, segment.MaxStaticCustomers+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("cust_%d", i)
	}
	_, err = f.eng.Create(f.ctx, segment.Segment{Name: "too big", Type: segment.Static, CustomerIDs: ids})
	if !errors.Is(err, segment.ErrInvalid) || !strings.Contains(err.Error(), "a static segment lists at most 20000 customers, got 20001") {
		t.Errorf("static over the limit: error = %v", err)
	}
	// Exactly at the limit is fine.
	many := make([]customer.Customer, segment.MaxStaticCustomers)
	for i := range many {
		many[i] = customer.Customer{SourceID: fmt.Sprintf("s%05d", i)}
	}
	stored := f.upsert(t, many...)
	ids = ids[:0]
	for _, c := range stored {
		ids = append(ids, c.ID)
	}
	big, err := f.eng.Create(f.ctx, segment.Segment{Name: "big", Type: segment.Static, CustomerIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.st.CountMembers(f.ctx, big.ID); err != nil || n != segment.MaxStaticCustomers {
		t.Errorf("CountMembers(big) = %d, %v", n, err)
	}
}

func TestEngineSyncAndChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{BatchSize: 2})
	cs := f.upsert(t, src("a", "Intercom", 10), src("b", "Web", 500), src("c", "Intercom", 500), src("d", "Intercom", 1))
	auto := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	passive := f.create(t, segment.Segment{Name: "Big", Type: segment.Passive, Expression: "metadata.ltv > 100"})

	var reports []segment.SyncProgress
	res, err := f.eng.Sync(f.ctx, auto.ID, func(p segment.SyncProgress) { reports = append(reports, p) })
	if err != nil {
		t.Fatal(err)
	}
	if res != (segment.SyncResult{Checked: 4, Entered: 3}) {
		t.Errorf("Sync result = %+v, want 4 checked, 3 entered", res)
	}
	// Batches of 2: progress after 2 and 4 customers, then the final flush.
	var checked []int
	var initial []segment.Change
	for _, p := range reports {
		checked = append(checked, p.Checked)
		initial = append(initial, p.Changes...)
	}
	if diff := cmp.Diff([]int{2, 4, 4}, checked); diff != "" {
		t.Errorf("progress Checked (-want +got):\n%s", diff)
	}
	for _, ch := range initial {
		if ch.Emit || !ch.Entered || ch.SegmentID != auto.ID {
			t.Errorf("first sync change %+v: want entered, not emitted", ch)
		}
	}
	if got, _ := f.st.GetSegment(f.ctx, auto.ID); got.SyncStatus != segment.Synced || !got.SyncedAt.Equal(f.clock.Now()) {
		t.Errorf("after Sync: status %q synced_at %v, want synced now", got.SyncStatus, got.SyncedAt)
	}
	if diff := cmp.Diff([]string{"a", "c", "d"}, f.members(t, auto.ID)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	f.sync(t, passive.ID)
	if diff := cmp.Diff([]string{"b", "c"}, f.members(t, passive.ID)); diff != "" {
		t.Errorf("passive members (-want +got):\n%s", diff)
	}
	if u := f.eng.Unsynced(); len(u) != 0 {
		t.Errorf("Unsynced after syncing = %v", u)
	}

	// b moves to Intercom and gets poorer: it enters the auto-update
	// segment (emitted) and leaves the passive one (not emitted).
	b := cs[1]
	b.Metadata = customer.Metadata{"source": "Intercom", "ltv": 5.0}
	b = f.upsert(t, b)[0]
	changes, err := f.eng.CustomerChanged(f.ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []segment.Change{
		{SegmentID: auto.ID, CustomerID: b.ID, Entered: true, Emit: true},
		{SegmentID: passive.ID, CustomerID: b.ID, Entered: false, Emit: false},
	}
	if auto.ID > passive.ID {
		want[0], want[1] = want[1], want[0]
	}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("CustomerChanged (-want +got):\n%s", diff)
	}
	if changes[0].EventType() != map[bool]string{true: segment.EventEntered, false: segment.EventLeft}[changes[0].Entered] {
		t.Errorf("EventType = %q", changes[0].EventType())
	}
	// The same customer again: nothing changes, nothing is emitted.
	if changes, err := f.eng.CustomerChanged(f.ctx, b); err != nil || len(changes) != 0 {
		t.Errorf("CustomerChanged (unchanged) = %v, %v; want none", changes, err)
	}
	// Leaving an auto-update segment is emitted.
	b.Metadata = customer.Metadata{"source": "Web", "ltv": 5.0}
	b = f.upsert(t, b)[0]
	changes, _ = f.eng.CustomerChanged(f.ctx, b)
	if diff := cmp.Diff([]segment.Change{{SegmentID: auto.ID, CustomerID: b.ID, Entered: false, Emit: true}}, changes); diff != "" {
		t.Errorf("CustomerChanged (leaves) (-want +got):\n%s", diff)
	}
	segs, _ := f.st.CustomerSegments(f.ctx, b.ID)
	if len(segs) != 0 {
		t.Errorf("b's segments = %v, want none", segs)
	}

	// A later full sync emits for auto-update segments: d changed behind the
	// engine's back, and a deleted customer leaves without an event.
	d := cs[3]
	d.Metadata = customer.Metadata{"source": "Web"}
	f.upsert(t, d)
	if err := f.st.DeleteCustomer(f.ctx, cs[0].ID); err != nil {
		t.Fatal(err)
	}
	got := f.sync(t, auto.ID)
	wantSync := []segment.Change{
		{SegmentID: auto.ID, CustomerID: d.ID, Entered: false, Emit: true},
		{SegmentID: auto.ID, CustomerID: cs[0].ID, Entered: false, Emit: false},
	}
	if diff := cmp.Diff(wantSync, got); diff != "" {
		t.Errorf("second Sync changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"c"}, f.members(t, auto.ID)); diff != "" {
		t.Errorf("members after second sync (-want +got):\n%s", diff)
	}
}

func TestEngineCustomerDeleted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{})
	cs := f.upsert(t, src("a", "Intercom", 500))
	auto := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	passive := f.create(t, segment.Segment{Name: "Big", Type: segment.Passive, Expression: "metadata.ltv > 100"})
	static := f.create(t, segment.Segment{Name: "List", Type: segment.Static, CustomerIDs: []string{"a"}})
	f.sync(t, auto.ID)
	f.sync(t, passive.ID)
	changes, err := f.eng.CustomerDeleted(f.ctx, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	emitted := map[string]bool{}
	for _, ch := range changes {
		if ch.Entered || ch.CustomerID != cs[0].ID {
			t.Errorf("CustomerDeleted change %+v", ch)
		}
		emitted[ch.SegmentID] = ch.Emit
	}
	if diff := cmp.Diff(map[string]bool{auto.ID: true, passive.ID: false, static.ID: false}, emitted); diff != "" {
		t.Errorf("CustomerDeleted emits (-want +got):\n%s", diff)
	}
	if segs, _ := f.st.CustomerSegments(f.ctx, cs[0].ID); len(segs) != 0 {
		t.Errorf("segments after delete = %v", segs)
	}
}

// countingEvaluator counts Match calls per segment name.
type countingEvaluator struct {
	segment.DefaultEvaluator
	mu     sync.Mutex
	counts map[string]*atomic.Int64
}

type countingMatcher struct {
	segment.Matcher
	n *atomic.Int64
}

func (m countingMatcher) Match(c *customer.Customer, now time.Time) bool {
	m.n.Add(1)
	return m.Matcher.Match(c, now)
}

func (m countingMatcher) TimeDependent() bool {
	return m.Matcher.(segment.TimeDependent).TimeDependent()
}

func (e *countingEvaluator) Compile(s segment.Segment) (segment.Matcher, error) {
	m, err := e.DefaultEvaluator.Compile(s)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts[s.Name] == nil {
		e.counts[s.Name] = new(atomic.Int64)
	}
	return countingMatcher{m, e.counts[s.Name]}, nil
}

func TestEngineResync(t *testing.T) {
	t.Parallel()
	ev := &countingEvaluator{counts: map[string]*atomic.Int64{}}
	f := newFixture(t, segment.Config{Evaluator: ev})
	start := f.clock.Now()
	f.upsert(t,
		customer.Customer{SourceID: "old", CreatedAt: start.Add(-40 * 24 * time.Hour)},
		customer.Customer{SourceID: "new", CreatedAt: start.Add(-20 * 24 * time.Hour)},
	)
	veteran := f.create(t, segment.Segment{Name: "veteran", Type: segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"created_at":{"conditions":{"$more_than_ago":[30]}}}`)})
	recent := f.create(t, segment.Segment{Name: "recent", Type: segment.Passive, Expression: `now - created_at < duration("720h")`})
	fixed := f.create(t, segment.Segment{Name: "fixed", Type: segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"created_at":{"conditions":{"$after":["2020-01-01"]}}}`)})
	for _, s := range []segment.Segment{veteran, recent, fixed} {
		f.sync(t, s.ID)
	}
	if diff := cmp.Diff([]string{"old"}, f.members(t, veteran.ID)); diff != "" {
		t.Errorf("veteran members (-want +got):\n%s", diff)
	}
	fixedBefore := ev.counts["fixed"].Load()

	// Nothing changes until time passes.
	var changes []segment.Change
	if _, err := f.eng.Resync(f.ctx, func(p segment.SyncProgress) { changes = append(changes, p.Changes...) }); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Errorf("Resync without time passing: %v", changes)
	}
	f.clock.Advance(11 * 24 * time.Hour) // "new" is now 31 days old
	res, err := f.eng.Resync(f.ctx, func(p segment.SyncProgress) { changes = append(changes, p.Changes...) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Entered != 1 || res.Left != 1 || res.Checked != 2 {
		t.Errorf("Resync result = %+v, want 2 checked, 1 entered, 1 left", res)
	}
	newID := f.upsert(t, customer.Customer{SourceID: "new", CreatedAt: start.Add(-20 * 24 * time.Hour)})[0].ID
	want := map[string]segment.Change{
		veteran.ID: {SegmentID: veteran.ID, CustomerID: newID, Entered: true, Emit: true},
		recent.ID:  {SegmentID: recent.ID, CustomerID: newID, Entered: false, Emit: false},
	}
	got := map[string]segment.Change{}
	for _, ch := range changes {
		got[ch.SegmentID] = ch
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Resync changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"new", "old"}, f.members(t, veteran.ID)); diff != "" {
		t.Errorf("veteran members after a month (-want +got):\n%s", diff)
	}
	if n := ev.counts["fixed"].Load(); n != fixedBefore {
		t.Errorf("Resync checked the time-independent segment %d times", n-fixedBefore)
	}
}

func TestEngineCustomerChangedIsCheap(t *testing.T) {
	t.Parallel()
	// Re-checking one customer costs one Match per rule segment, however
	// many customers there are.
	ev := &countingEvaluator{counts: map[string]*atomic.Int64{}}
	f := newFixture(t, segment.Config{Evaluator: ev})
	many := make([]customer.Customer, 300)
	for i := range many {
		many[i] = src(fmt.Sprint(i), "Intercom", float64(i))
	}
	cs := f.upsert(t, many...)
	for i := range 5 {
		s := f.create(t, segment.Segment{Name: fmt.Sprint("s", i), Type: segment.AutoUpdate, Expression: fmt.Sprintf("metadata.ltv > %d", i*50)})
		f.sync(t, s.ID)
	}
	before := map[string]int64{}
	for name, n := range ev.counts {
		before[name] = n.Load()
	}
	if _, err := f.eng.CustomerChanged(f.ctx, cs[7]); err != nil {
		t.Fatal(err)
	}
	for name, n := range ev.counts {
		if d := n.Load() - before[name]; d != 1 {
			t.Errorf("segment %s: %d Match calls for one changed customer, want 1", name, d)
		}
	}
}

func TestEngineSyncSkipsCustomersChangedMeanwhile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{BatchSize: 1})
	cs := f.upsert(t, src("a", "Web", 1), src("b", "Intercom", 1))
	s := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	changedB := false
	_, err := f.eng.Sync(f.ctx, s.ID, func(p segment.SyncProgress) {
		if changedB {
			return
		}
		changedB = true
		// After the first customer, b leaves Intercom; the sync has
		// already read the old b.
		b := cs[1]
		b.Metadata = customer.Metadata{"source": "Web"}
		b = f.upsert(t, b)[0]
		if _, err := f.eng.CustomerChanged(f.ctx, b); err != nil {
			t.Error(err)
		}
		// A second sync of the same segment meanwhile is refused.
		if _, err := f.eng.Sync(f.ctx, s.ID, nil); !errors.Is(err, segment.ErrConflict) {
			t.Errorf("concurrent Sync error = %v, want ErrConflict", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.members(t, s.ID); len(got) != 0 {
		t.Errorf("members = %v: the sync overwrote a fresher customer change", got)
	}
}

func TestEngineReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{})
	cs := f.upsert(t, src("a", "Web", 1))
	synced := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	f.sync(t, synced.ID)
	pending := f.create(t, segment.Segment{Name: "Big", Type: segment.Passive, Expression: "metadata.ltv > 100"})

	// A new engine over the same store (a restart) knows both rules.
	eng2, err := segment.NewEngine(f.ctx, segment.Config{Store: f.st, Customers: f.st, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{pending.ID}, eng2.Unsynced()); diff != "" {
		t.Errorf("Unsynced after restart (-want +got):\n%s", diff)
	}
	a := cs[0]
	a.Metadata = customer.Metadata{"source": "Intercom", "ltv": 200.0}
	a = f.upsert(t, a)[0]
	changes, err := eng2.CustomerChanged(f.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Errorf("CustomerChanged after restart = %+v, want entries in both segments", changes)
	}
	if err := eng2.Delete(f.ctx, pending.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := eng2.Sync(f.ctx, pending.ID, nil); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("Sync(deleted) error = %v, want ErrNotFound", err)
	}
	if _, err := eng2.Explain(f.ctx, pending.ID, a); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("Explain(deleted) error = %v, want ErrNotFound", err)
	}
	ex, err := eng2.Explain(f.ctx, synced.ID, a)
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Matched || ex.SegmentID != synced.ID || ex.CustomerID != a.ID || len(ex.Conditions) != 1 {
		t.Errorf("Explain = %+v", ex)
	}

	// A segment created through another engine (another replica) is
	// adopted when synced.
	other, err := segment.NewEngine(f.ctx, segment.Config{Store: f.st, Customers: f.st, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	late, err := other.Create(f.ctx, segment.Segment{Name: "late", Type: segment.Passive, Expression: `metadata.source == "Intercom"`})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := eng2.Sync(f.ctx, late.ID, nil); err != nil || res.Entered != 1 {
		t.Errorf("Sync(segment of another engine) = %+v, %v; want 1 entered", res, err)
	}
	a.Metadata = customer.Metadata{"source": "Web"}
	a = f.upsert(t, a)[0]
	if changes, err := eng2.CustomerChanged(f.ctx, a); err != nil || len(changes) != 2 {
		t.Errorf("CustomerChanged after adopting = %+v, %v; want leaving two segments", changes, err)
	}

	// A stored rule that no longer compiles stops the engine from starting.
	if err := f.st.CreateSegment(f.ctx, segment.Segment{ID: "seg_bad", Name: "bad", Type: segment.Passive, Expression: "nosuchfield > 1"}); err != nil {
		t.Fatal(err)
	}
	_, err = segment.NewEngine(f.ctx, segment.Config{Store: f.st, Customers: f.st})
	var fe *segment.FilterError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "seg_bad") {
		t.Errorf("NewEngine with a bad stored rule: error = %v, want a *FilterError naming seg_bad", err)
	}
}

func TestNewEngineConfig(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	for _, cfg := range []segment.Config{
		{Customers: st},
		{Store: st},
		{Store: st, Customers: st, BatchSize: -1},
	} {
		if _, err := segment.NewEngine(context.Background(), cfg); !errors.Is(err, segment.ErrInvalid) {
			t.Errorf("NewEngine(%+v) error = %v, want ErrInvalid", cfg, err)
		}
	}
}

func TestEngineSyncCanceled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, segment.Config{BatchSize: 1})
	f.upsert(t, src("a", "Intercom", 1), src("b", "Intercom", 1), src("c", "Intercom", 1))
	s := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	ctx, cancel := context.WithCancel(f.ctx)
	_, err := f.eng.Sync(ctx, s.ID, func(p segment.SyncProgress) {
		if p.Checked == 1 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync error = %v, want context.Canceled", err)
	}
	if got, _ := f.st.GetSegment(f.ctx, s.ID); got.SyncStatus != segment.Syncing {
		t.Errorf("status after a canceled sync = %q, want syncing", got.SyncStatus)
	}
	if diff := cmp.Diff([]string{s.ID}, f.eng.Unsynced()); diff != "" {
		t.Errorf("Unsynced (-want +got):\n%s", diff)
	}
	// Running it again completes it.
	f.sync(t, s.ID)
	if diff := cmp.Diff([]string{"a", "b", "c"}, f.members(t, s.ID)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
}
