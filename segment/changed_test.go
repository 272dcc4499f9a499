package segment_test

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// countingStore counts the membership and segment reads and writes of a
// store.Memory, and can hold CustomerSegments of one customer until
// released.
type countingStore struct {
	*store.Memory
	reads, batchReads, writes, batchWrites, segmentReads, versionReads atomic.Int64

	holdID  string
	held    chan struct{} // closed when CustomerSegments(holdID) waits
	release chan struct{}
}

func (s *countingStore) CustomerSegments(ctx context.Context, id string) ([]string, error) {
	s.reads.Add(1)
	if s.holdID != "" && id == s.holdID {
		close(s.held)
		<-s.release
	}
	return s.Memory.CustomerSegments(ctx, id)
}

func (s *countingStore) CustomersSegments(ctx context.Context, ids []string) (map[string][]string, error) {
	s.batchReads.Add(1)
	return s.Memory.CustomersSegments(ctx, ids)
}

func (s *countingStore) ChangeMemberships(ctx context.Context, id string, join, leave []string) error {
	s.writes.Add(1)
	return s.Memory.ChangeMemberships(ctx, id, join, leave)
}

func (s *countingStore) ChangeMembershipsBatch(ctx context.Context, changes []segment.MembershipChange) error {
	s.batchWrites.Add(1)
	return s.Memory.ChangeMembershipsBatch(ctx, changes)
}

func (s *countingStore) Segments(ctx context.Context) iter.Seq2[segment.Segment, error] {
	s.segmentReads.Add(1)
	return s.Memory.Segments(ctx)
}

func (s *countingStore) SegmentsVersion(ctx context.Context) (int64, error) {
	s.versionReads.Add(1)
	return s.Memory.SegmentsVersion(ctx)
}

// plainStore is a segment.Store with none of the optional interfaces.
type plainStore struct{ segment.Store }

// changedFixture is an engine over a counting store with three rule
// segments (two auto-update, one passive) and a static one, synced over
// customers a..d.
func changedFixture(t *testing.T, plain bool) (*fixture, *countingStore, []customer.Customer) {
	t.Helper()
	cst := &countingStore{Memory: store.NewMemory()}
	var st segment.Store = cst
	if plain {
		st = plainStore{cst}
	}
	f := newFixture(t, segment.Config{Store: st, Customers: cst.Memory})
	f.st = cst.Memory
	cs := f.upsert(t, src("a", "Intercom", 10), src("b", "Web", 200), src("c", "Intercom", 300), src("d", "Shop", 1))
	for _, s := range []segment.Segment{
		{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)},
		{Name: "rich", Type: segment.AutoUpdate, Expression: "metadata.ltv > 100"},
		{Name: "quiet", Type: segment.Passive, Expression: `metadata.source == "Web"`},
	} {
		f.sync(t, f.create(t, s).ID)
	}
	f.create(t, segment.Segment{Name: "static", Type: segment.Static, CustomerIDs: []string{cs[0].ID, cs[3].ID}})
	return f, cst, cs
}

// memberships returns every customer's segments, by source id.
func (f *fixture) memberships(t *testing.T, cs []customer.Customer) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, c := range cs {
		segs, err := f.st.CustomerSegments(f.ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[c.SourceID] = segs
	}
	return out
}

// TestCustomersChangedAsOneByOne: a batch gives the changes and the
// memberships of CustomerChanged called for each customer in turn, a
// customer written twice in the batch included, with or without the
// store's batch methods.
func TestCustomersChangedAsOneByOne(t *testing.T) {
	t.Parallel()
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			t.Parallel()
			batch, _, cs := changedFixture(t, plain)
			one, _, _ := changedFixture(t, plain)
			edit := func(c customer.Customer, source string, ltv float64) customer.Customer {
				c.Metadata = customer.Metadata{"source": source, "ltv": ltv}
				return c
			}
			// IDs differ between the fixtures: edit each fixture's own.
			written := func(cs []customer.Customer) []customer.Customer {
				return []customer.Customer{
					edit(cs[0], "Web", 500),      // leaves Intercom, enters rich and quiet
					edit(cs[1], "Web", 200),      // unchanged
					edit(cs[2], "Shop", 300),     // leaves Intercom
					edit(cs[0], "Intercom", 500), // back to Intercom, leaves quiet
					edit(cs[3], "Intercom", 1),   // enters Intercom
				}
			}
			oneCS := one.upsert(t, written(one.upsert(t, src("a", "", 0), src("b", "", 0), src("c", "", 0), src("d", "", 0)))...)
			var want []segment.Change
			for _, c := range oneCS {
				ch, err := one.eng.CustomerChanged(one.ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, ch...)
			}
			got, err := batch.eng.CustomersChanged(batch.ctx, batch.upsert(t, written(cs)...))
			if err != nil {
				t.Fatal(err)
			}
			// Compare by source id and segment name: ids differ.
			type change struct {
				Customer, Segment string
				Entered, Emit     bool
			}
			norm := func(f *fixture, chs []segment.Change) []change {
				var out []change
				for _, ch := range chs {
					c, err := f.st.GetCustomer(f.ctx, ch.CustomerID)
					if err != nil {
						t.Fatal(err)
					}
					s, err := f.st.GetSegment(f.ctx, ch.SegmentID)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, change{c.SourceID, s.Name, ch.Entered, ch.Emit})
				}
				return out
			}
			if len(want) == 0 {
				t.Fatal("the one-by-one run changed nothing: the test does not exercise anything")
			}
			if diff := cmp.Diff(norm(one, want), norm(batch, got)); diff != "" {
				t.Errorf("batch changes vs one by one (-one +batch):\n%s", diff)
			}
			names := func(f *fixture, m map[string][]string) map[string][]string {
				for k, ids := range m {
					for i, id := range ids {
						s, err := f.st.GetSegment(f.ctx, id)
						if err != nil {
							t.Fatal(err)
						}
						ids[i] = s.Name
					}
					m[k] = ids
				}
				return m
			}
			if diff := cmp.Diff(names(one, one.memberships(t, oneCS)), names(batch, batch.memberships(t, cs)), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("memberships after the batch vs one by one (-one +batch):\n%s", diff)
			}
		})
	}
}

// TestCustomersChangedCalls: a batch costs one membership read and one
// write with a MembershipBatcher; with no rule segment it costs nothing.
func TestCustomersChangedCalls(t *testing.T) {
	t.Parallel()
	f, cst, cs := changedFixture(t, false)
	for i := range cs {
		cs[i].Metadata = customer.Metadata{"source": "Intercom", "ltv": 1000.0}
	}
	reads, writes := cst.reads.Load(), cst.writes.Load()
	changes, err := f.eng.CustomersChanged(f.ctx, f.upsert(t, cs...))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 {
		t.Fatal("no change")
	}
	if got := [4]int64{cst.batchReads.Load(), cst.batchWrites.Load(), cst.reads.Load() - reads, cst.writes.Load() - writes}; got != [4]int64{1, 1, 0, 0} {
		t.Errorf("batch reads, batch writes, reads, writes = %v, want [1 1 0 0]", got)
	}

	empty := &countingStore{Memory: store.NewMemory()}
	g := newFixture(t, segment.Config{Store: empty, Customers: empty.Memory})
	g.st = empty.Memory
	static := g.upsert(t, src("a", "Web", 1))
	g.create(t, segment.Segment{Name: "static", Type: segment.Static, CustomerIDs: []string{static[0].ID}})
	if changes, err := g.eng.CustomersChanged(g.ctx, g.upsert(t, src("a", "Intercom", 1), src("b", "Web", 2))); err != nil || changes != nil {
		t.Errorf("CustomersChanged with no rule segment = %v, %v; want nothing", changes, err)
	}
	if got := empty.reads.Load() + empty.batchReads.Load() + empty.writes.Load() + empty.batchWrites.Load(); got != 0 {
		t.Errorf("%d membership reads and writes with no rule segment, want 0", got)
	}
}

// TestCustomersChangedParallel: a change of one customer waiting on the
// store does not hold up a change of another customer; changes of one
// customer take turns, so concurrent writes of it emit one entered.
func TestCustomersChangedParallel(t *testing.T) {
	t.Parallel()
	cst := &countingStore{Memory: store.NewMemory(), held: make(chan struct{}), release: make(chan struct{})}
	f := newFixture(t, segment.Config{Store: cst, Customers: cst.Memory})
	f.st = cst.Memory
	var cs []customer.Customer
	for i := range 20 {
		cs = append(cs, src(fmt.Sprint("c", i), "Web", 1))
	}
	cs = f.upsert(t, cs...)
	f.sync(t, f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)}).ID)

	// Hold cs[0]'s read; another customer's change still completes.
	cst.holdID = cs[0].ID
	slow := make(chan error, 1)
	go func() {
		_, err := f.eng.CustomerChanged(f.ctx, cs[0])
		slow <- err
	}()
	<-cst.held
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := f.eng.CustomerChanged(ctx, cs[19])
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("a change of another customer waited for the held one")
	}
	close(cst.release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}

	// 8 goroutines write cs[5] into Intercom at once: one entered.
	c := cs[5]
	c.Metadata = customer.Metadata{"source": "Intercom"}
	c = f.upsert(t, c)[0]
	var wg sync.WaitGroup
	var entered atomic.Int64
	for range 8 {
		wg.Go(func() {
			changes, err := f.eng.CustomersChanged(f.ctx, []customer.Customer{c, cs[6]})
			if err != nil {
				t.Error(err)
			}
			for _, ch := range changes {
				if ch.Entered && ch.CustomerID == c.ID {
					entered.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := entered.Load(); n != 1 {
		t.Errorf("%d entered changes for one customer written concurrently, want 1", n)
	}
}

// TestRefreshSince: another engine's new segment governs the next
// re-check after RefreshSince, with no clock moving; when nothing changed
// RefreshSince reads the version only, once for callers whose work began
// before one check started.
func TestRefreshSince(t *testing.T) {
	t.Parallel()
	cst := &countingStore{Memory: store.NewMemory()}
	a := newFixture(t, segment.Config{Store: cst, Customers: cst.Memory})
	a.st = cst.Memory
	b := &fixture{ctx: a.ctx, st: a.st, clock: a.clock}
	var err error
	if b.eng, err = segment.NewEngine(a.ctx, segment.Config{Store: cst, Customers: cst.Memory, Now: a.clock.Now}); err != nil {
		t.Fatal(err)
	}
	ann := a.upsert(t, src("ann", "Web", 1))[0]
	s := a.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	a.sync(t, s.ID)

	ann.Metadata = customer.Metadata{"source": "Intercom"}
	ann = b.upsert(t, ann)[0]
	if err := b.eng.RefreshSince(b.ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	ch, err := b.eng.CustomerChanged(b.ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]segment.Change{{SegmentID: s.ID, CustomerID: ann.ID, Entered: true, Emit: true}}, ch); diff != "" {
		t.Errorf("b after RefreshSince: a's new segment (-want +got):\n%s", diff)
	}

	segs, vers := cst.segmentReads.Load(), cst.versionReads.Load()
	since := time.Now()
	for range 3 {
		if err := b.eng.RefreshSince(b.ctx, since); err != nil {
			t.Fatal(err)
		}
	}
	if got := [2]int64{cst.segmentReads.Load() - segs, cst.versionReads.Load() - vers}; got != [2]int64{0, 1} {
		t.Errorf("segment reads, version reads of 3 RefreshSince with nothing changed = %v, want [0 1]", got)
	}
}

// lazyStore records the Lazy flag of each sync batch.
type lazyStore struct {
	*store.Memory
	mu   sync.Mutex
	lazy []bool
}

func (s *lazyStore) WriteSyncBatch(ctx context.Context, b segment.SyncBatch) error {
	s.mu.Lock()
	s.lazy = append(s.lazy, b.Lazy)
	s.mu.Unlock()
	return s.Memory.WriteSyncBatch(ctx, b)
}

func (s *lazyStore) take() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.lazy
	s.lazy = nil
	return out
}

// TestSyncBatchLazy: a Sync's batches may be written lazily unless they
// report a change as an event (a later sync of an auto-update segment);
// a Resync's never are.
func TestSyncBatchLazy(t *testing.T) {
	t.Parallel()
	ls := &lazyStore{Memory: store.NewMemory()}
	f := newFixture(t, segment.Config{Store: ls, Customers: ls.Memory, BatchSize: 2})
	f.st = ls.Memory
	cs := []customer.Customer{src("a", "Intercom", 1), src("b", "Web", 1), src("c", "Web", 1)}
	for i := range cs {
		cs[i].CreatedAt = f.clock.Now()
	}
	cs = f.upsert(t, cs...)
	auto := f.create(t, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	passive := f.create(t, segment.Segment{Name: "Web", Type: segment.Passive, Expression: `metadata.source == "Web"`})
	f.sync(t, auto.ID)
	f.sync(t, passive.ID)
	if got := ls.take(); !slices.Equal(got, []bool{true, true, true, true}) {
		t.Errorf("first syncs: Lazy = %v, want all true", got)
	}
	// c moves to Intercom behind the engine's back; the next syncs find it.
	c := cs[2]
	c.Metadata = customer.Metadata{"source": "Intercom"}
	f.upsert(t, c)
	f.sync(t, auto.ID)    // batch 1 (a, b): no change; batch 2 (c): c enters, an event
	f.sync(t, passive.ID) // c leaves a passive segment: no event
	if got := ls.take(); !slices.Equal(got, []bool{true, false, true, true}) {
		t.Errorf("second syncs: Lazy = %v, want [true false true true]", got)
	}
	recent := f.create(t, segment.Segment{Name: "Recent", Type: segment.Passive, Expression: `now - created_at < duration("1h")`})
	f.sync(t, recent.ID)
	ls.take()
	f.clock.Advance(2 * time.Hour) // they all leave
	if _, err := f.eng.Resync(f.ctx, nil); err != nil {
		t.Fatal(err)
	}
	got := ls.take()
	if len(got) == 0 {
		t.Fatal("the Resync wrote no batch")
	}
	for _, l := range got {
		if l {
			t.Errorf("Resync batches: Lazy = %v, want all false", got)
			break
		}
	}
}
