package segment_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// pushStore is a memory store that is a segment.FilterPusher: it selects
// with the Go evaluator, counts its calls and full scans, and can be told
// to refuse, to add a customer the rule does not match or to leave out
// one it does.
type pushStore struct {
	*store.Memory
	refuse      bool
	extra, omit string // source ids
	pushed      atomic.Int32
	scanned     atomic.Int32
}

func (p *pushStore) Customers(ctx context.Context, opts customer.ListOptions) iter.Seq2[customer.Customer, error] {
	p.scanned.Add(1)
	return p.Memory.Customers(ctx, opts)
}

// ScanCustomers is a full scan too (segment.CustomerScanner, which the
// embedded store.Memory provides).
func (p *pushStore) ScanCustomers(ctx context.Context, after string, fn func(*customer.Customer) bool) error {
	p.scanned.Add(1)
	return p.Memory.ScanCustomers(ctx, after, fn)
}

func (p *pushStore) CustomersMatching(ctx context.Context, f *segment.Filter, opts customer.ListOptions) (iter.Seq2[customer.Customer, error], bool) {
	p.pushed.Add(1)
	if p.refuse {
		return nil, false
	}
	m, err := segment.DefaultEvaluator{}.CompileFilter(f)
	if err != nil {
		return func(yield func(customer.Customer, error) bool) { yield(customer.Customer{}, err) }, true
	}
	return func(yield func(customer.Customer, error) bool) {
		for c, err := range p.Memory.Customers(ctx, opts) {
			if err != nil {
				yield(c, err)
				return
			}
			if (m.Match(&c, time.Time{}) || c.SourceID == p.extra) && c.SourceID != p.omit {
				if !yield(c, nil) {
					return
				}
			}
		}
	}, true
}

var _ segment.FilterPusher = (*pushStore)(nil)

// pushFixture is an engine over a pushStore.
func pushFixture(t *testing.T, ev segment.Evaluator) (*pushStore, *segment.Engine) {
	t.Helper()
	ps := &pushStore{Memory: store.NewMemory()}
	eng, err := segment.NewEngine(context.Background(), segment.Config{Store: ps, Customers: ps, Evaluator: ev, BatchSize: 2,
		Now: func() time.Time { return time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return ps, eng
}

func syncChanges(t *testing.T, eng *segment.Engine, id string) (segment.SyncResult, []segment.Change) {
	t.Helper()
	var changes []segment.Change
	res, err := eng.Sync(context.Background(), id, func(p segment.SyncProgress) { changes = append(changes, p.Changes...) })
	if err != nil {
		t.Fatal(err)
	}
	return res, changes
}

func memberSources(t *testing.T, ps *pushStore, eng *segment.Engine, id string) []string {
	t.Helper()
	var out []string
	for cid, err := range eng.Members(context.Background(), id, segment.MemberOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := ps.GetCustomer(context.Background(), cid)
		if err != nil {
			out = append(out, "deleted:"+cid)
			continue
		}
		out = append(out, c.SourceID)
	}
	slices.Sort(out)
	return out
}

// TestEngineSyncPushesDown checks that the sync of a Filter segment reads
// the customers the FilterPusher selects instead of scanning them all,
// and that the membership diff still removes the members it leaves out:
// one that no longer matches leaves (emitted), a deleted one is removed
// (not emitted).
func TestEngineSyncPushesDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ps, eng := pushFixture(t, nil)
	cs, err := ps.UpsertCustomers(ctx, []customer.Customer{src("a", "Intercom", 1), src("b", "Web", 1), src("c", "Intercom", 1),
		src("d", "Intercom", 1), src("e", "Web", 1)}, customer.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seg, err := eng.Create(ctx, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := syncChanges(t, eng, seg.ID)
	if ps.pushed.Load() != 1 || ps.scanned.Load() != 0 {
		t.Fatalf("first sync: %d pushdowns, %d full scans; want 1 and 0", ps.pushed.Load(), ps.scanned.Load())
	}
	if res != (segment.SyncResult{Checked: 3, Entered: 3}) {
		t.Errorf("first sync = %+v; want the 3 selected customers checked and entered", res)
	}
	if diff := cmp.Diff([]string{"a", "c", "d"}, memberSources(t, ps, eng, seg.ID)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}

	// Behind the engine's back: d moves to Web, b to Intercom, a is deleted.
	d, b := cs[3], cs[1]
	d.Metadata = customer.Metadata{"source": "Web"}
	b.Metadata = customer.Metadata{"source": "Intercom"}
	if _, err := ps.UpsertCustomers(ctx, []customer.Customer{d, b}, customer.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ps.DeleteCustomer(ctx, cs[0].ID); err != nil {
		t.Fatal(err)
	}
	res, changes := syncChanges(t, eng, seg.ID)
	if ps.pushed.Load() != 2 || ps.scanned.Load() != 0 {
		t.Fatalf("second sync: %d pushdowns, %d full scans; want 2 and 0", ps.pushed.Load(), ps.scanned.Load())
	}
	slices.SortFunc(changes, func(x, y segment.Change) int { return strings.Compare(x.CustomerID, y.CustomerID) })
	want := []segment.Change{
		{SegmentID: seg.ID, CustomerID: cs[0].ID, Entered: false, Emit: false}, // deleted
		{SegmentID: seg.ID, CustomerID: cs[1].ID, Entered: true, Emit: true},
		{SegmentID: seg.ID, CustomerID: cs[3].ID, Entered: false, Emit: true}, // no longer matches
	}
	slices.SortFunc(want, func(x, y segment.Change) int { return strings.Compare(x.CustomerID, y.CustomerID) })
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("second sync changes (-want +got):\n%s", diff)
	}
	// b and c selected, d looked up (a is gone: not checked).
	if res != (segment.SyncResult{Checked: 3, Entered: 1, Left: 2}) {
		t.Errorf("second sync = %+v", res)
	}
	if diff := cmp.Diff([]string{"b", "c"}, memberSources(t, ps, eng, seg.ID)); diff != "" {
		t.Errorf("members after the second sync (-want +got):\n%s", diff)
	}

	// The compiled rule has the last word: a selected customer it does not
	// match does not enter, a member it still matches but the store left
	// out stays.
	ps.extra, ps.omit = "e", "c"
	if _, changes := syncChanges(t, eng, seg.ID); len(changes) != 0 {
		t.Errorf("sync with a store disagreeing with the rule: changes %+v, want none", changes)
	}
	if diff := cmp.Diff([]string{"b", "c"}, memberSources(t, ps, eng, seg.ID)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
}

// TestEngineSyncPushdownFallsBack checks the cases that scan every
// customer: a store that refuses the filter, an expression segment, and
// an evaluator with a metadata schema.
func TestEngineSyncPushdownFallsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := &customer.Schema{}
	for _, tc := range []struct {
		name       string
		ev         segment.Evaluator
		refuse     bool
		seg        segment.Segment
		wantPushed int32
	}{
		{"refused", nil, true, segment.Segment{Filter: segment.MustParseFilter(intercomFilter)}, 1},
		{"expression", nil, false, segment.Segment{Expression: `metadata.source == "Intercom"`}, 0},
		{"schema", segment.DefaultEvaluator{Schema: schema}, false, segment.Segment{Filter: segment.MustParseFilter(intercomFilter)}, 0},
		{"other evaluator", wrappedEvaluator{}, false, segment.Segment{Filter: segment.MustParseFilter(intercomFilter)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, eng := pushFixture(t, tc.ev)
			ps.refuse = tc.refuse
			if _, err := ps.UpsertCustomers(ctx, []customer.Customer{src("a", "Intercom", 1), src("b", "Web", 1)}, customer.UpsertOptions{}); err != nil {
				t.Fatal(err)
			}
			s := tc.seg
			s.Name, s.Type = "S", segment.Passive
			s, err := eng.Create(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			res, _ := syncChanges(t, eng, s.ID)
			if ps.pushed.Load() != tc.wantPushed || ps.scanned.Load() != 1 {
				t.Errorf("%d pushdowns, %d full scans; want %d and 1", ps.pushed.Load(), ps.scanned.Load(), tc.wantPushed)
			}
			if res.Checked != 2 {
				t.Errorf("checked %d, want every customer (2)", res.Checked)
			}
			if diff := cmp.Diff([]string{"a"}, memberSources(t, ps, eng, s.ID)); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
		})
	}
}

// wrappedEvaluator is an Evaluator other than DefaultEvaluator (its
// results need not be the ones a FilterPusher reproduces).
type wrappedEvaluator struct{}

func (wrappedEvaluator) Compile(s segment.Segment) (segment.Matcher, error) {
	if s.Filter == nil {
		return nil, errors.New("filters only")
	}
	return segment.DefaultEvaluator{}.Compile(s)
}
