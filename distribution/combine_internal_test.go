package distribution

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCombiner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                 string
		callers, max, inflig int
	}{
		{"one at a time", 8, 8, 1},
		{"batches capped", 20, 4, 1},
		{"two in flight", 16, 8, 2},
		{"single caller", 1, 8, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				running, peak atomic.Int32
				gate          = make(chan struct{})
				first         atomic.Bool
				mu            sync.Mutex
				sizes         []int
			)
			var c *combiner[int, int]
			c = newCombiner(tc.max, tc.inflig, func(_ context.Context, qs []int) ([]int, []error) {
				n := running.Add(1)
				defer running.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				if first.CompareAndSwap(false, true) {
					<-gate // hold the first batch until everyone else waits or runs
				}
				mu.Lock()
				sizes = append(sizes, len(qs))
				mu.Unlock()
				rs, errs := make([]int, len(qs)), make([]error, len(qs))
				for i, q := range qs {
					rs[i] = 2 * q
					if q%5 == 0 {
						errs[i] = errors.New("five")
					}
				}
				return rs, errs
			})
			var wg sync.WaitGroup
			for i := range tc.callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := c.do(context.Background(), i)
					if r != 2*i || (err != nil) != (i%5 == 0) {
						t.Errorf("do(%d) = %d, %v", i, r, err)
					}
				}()
			}
			// One in flight: release the first batch once all the others
			// wait, so that they share batches. (With more in flight they
			// run meanwhile.)
			for tc.inflig == 1 {
				c.mu.Lock()
				queued := len(c.pending)
				c.mu.Unlock()
				if queued == tc.callers-1 {
					break
				}
				runtime.Gosched()
			}
			close(gate)
			wg.Wait()
			total := 0
			for _, n := range sizes {
				if n > tc.max {
					t.Errorf("a batch of %d calls, max %d", n, tc.max)
				}
				total += n
			}
			if total != tc.callers {
				t.Errorf("batches hold %d calls, want %d", total, tc.callers)
			}
			if p := int(peak.Load()); p > tc.inflig {
				t.Errorf("%d batches ran at once, at most %d allowed", p, tc.inflig)
			}
			if tc.inflig == 1 && tc.callers > 1 && len(sizes) == tc.callers {
				t.Errorf("no two calls shared a batch: %v", sizes)
			}
			if c.running != 0 || len(c.pending) != 0 {
				t.Errorf("after the calls: running %d, pending %d", c.running, len(c.pending))
			}
		})
	}
}

// fakeBatchStore records UpdateDeliveries calls.
type fakeBatchStore struct {
	mu      sync.Mutex
	batches [][]Delivery
}

func (f *fakeBatchStore) UpdateDeliveries(_ context.Context, ds []Delivery, from DeliveryState) ([]error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, append([]Delivery(nil), ds...))
	errs := make([]error, len(ds))
	for i, d := range ds {
		if from != DeliverySending || d.State != DeliverySent {
			errs[i] = ErrInvalid
		}
	}
	return errs, nil
}

func TestSentFlusherWritesEverythingByClose(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, sentBatch, 3*sentBatch + 7} {
		st := &fakeBatchStore{}
		f := newSentFlusher(context.Background(), st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		for i := range n {
			f.add(Delivery{ID: DeliveryID(DeliveryKey{"d", string(rune('a' + i%26)), time.Duration(i).String(), "c"}), State: DeliverySent})
		}
		f.close()
		seen := map[string]bool{}
		for _, b := range st.batches {
			if len(b) == 0 || len(b) > sentBatch {
				t.Errorf("n=%d: a write of %d outcomes (1 to %d expected)", n, len(b), sentBatch)
			}
			for _, d := range b {
				if seen[d.ID] {
					t.Errorf("n=%d: %s written twice", n, d.ID)
				}
				seen[d.ID] = true
			}
		}
		if len(seen) != n {
			t.Errorf("n=%d: %d outcomes written by close", n, len(seen))
		}
	}
}

// fakeUsage is a UsageStore counting writes.
type fakeUsage struct {
	mu     sync.Mutex
	n      map[string]int64
	writes int
}

func (u *fakeUsage) AddUsage(_ context.Context, meter string, period time.Time, n, _ int64) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := meter + period.String()
	u.n[k] = max(0, u.n[k]+n)
	u.writes++
	return u.n[k], nil
}

func (u *fakeUsage) Usage(_ context.Context, meter string, period time.Time) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[meter+period.String()], nil
}

func TestUsageReserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p2 := p1.AddDate(0, 0, 1)
	tests := []struct {
		name           string
		takes1, gives1 int // in period p1
		takes2         int // then in period p2
		want1, want2   int64
		maxWrites      int
	}{
		{"none", 0, 0, 0, 0, 0, 0},
		{"one", 1, 0, 0, 1, 0, 2}, // a block, then the unused part back
		{"blocks", 3*usageBlock + 5, 0, 0, 3*usageBlock + 5, 0, 5},
		{"given back", 100, 30, 0, 70, 0, 3},
		{"period change", 10, 2, 7, 8, 7, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUsage{n: map[string]int64{}}
			r := &usageReserve{usage: u, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			for range tc.takes1 {
				if err := r.take(ctx, "messages/day", p1); err != nil {
					t.Fatal(err)
				}
			}
			if got, _ := u.Usage(ctx, "messages/day", p1); got < int64(tc.takes1) {
				t.Errorf("during the fan-out: usage %d, below the %d counts taken", got, tc.takes1)
			}
			for range tc.gives1 {
				r.give(ctx, "messages/day", p1)
			}
			for range tc.takes2 {
				if err := r.take(ctx, "messages/day", p2); err != nil {
					t.Fatal(err)
				}
			}
			r.close(ctx)
			if got, _ := u.Usage(ctx, "messages/day", p1); got != tc.want1 {
				t.Errorf("usage of period 1 = %d, want %d", got, tc.want1)
			}
			if got, _ := u.Usage(ctx, "messages/day", p2); got != tc.want2 {
				t.Errorf("usage of period 2 = %d, want %d", got, tc.want2)
			}
			if u.writes > tc.maxWrites {
				t.Errorf("%d writes, want at most %d", u.writes, tc.maxWrites)
			}
		})
	}
}

// A call through a combiner makes no garbage of its own once warm: a
// fan-out's every send goes through one.
func TestCombinerReusesCalls(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop calls")
	}
	rs, errs := make([]Delivery, 1), make([]error, 1)
	c := newCombiner(8, 1, func(_ context.Context, qs []Delivery) ([]Delivery, []error) {
		rs[0] = qs[0]
		return rs, errs
	})
	ctx := context.Background()
	dl := Delivery{ID: "dlv_1", State: DeliverySending}
	if n := testing.AllocsPerRun(100, func() {
		if r, err := c.do(ctx, dl); err != nil || r.ID != dl.ID {
			t.Fatalf("do = %+v, %v", r, err)
		}
	}); n > 0 {
		t.Errorf("a combined call allocates %v times, want 0", n)
	}
}
