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
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store"
)

// runBatch checks the optional batch interfaces a fan-out upgrades to
// (distribution.CustomerBatchGetter, distribution.DeliveryBatchUpdater);
// a store without them skips these tests.
func runBatch(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("GetCustomers", func(t *testing.T) { testGetCustomers(t, newStore) })
	t.Run("UpdateDeliveries", func(t *testing.T) { testUpdateDeliveries(t, newStore) })
	t.Run("UpdateDeliveriesRace", func(t *testing.T) { testUpdateDeliveriesRace(t, newStore) })
}

func testGetCustomers(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := newStore(t)
	g, ok := st.(distribution.CustomerBatchGetter)
	if !ok {
		t.Skip("the store is not a distribution.CustomerBatchGetter")
	}
	// cust_b is one customer's ID and another's SourceID: the ID wins.
	upsert(t, st, customer.UpsertOptions{},
		customer.Customer{ID: "cust_a", SourceID: "cust_b", Name: "A", Metadata: map[string]any{"plan": "gold"}, CreatedAt: at(1), UpdatedAt: at(1)},
		customer.Customer{ID: "cust_b", SourceID: "src_b", Name: "B", CreatedAt: at(2), UpdatedAt: at(2)},
		customer.Customer{ID: "cust_c", SourceID: "src_c", Name: "C", CreatedAt: at(3), UpdatedAt: at(3)},
	)
	tests := []struct {
		name string
		ids  []string
		want map[string]string // asked id -> customer ID
	}{
		{"by id", []string{"cust_a", "cust_c"}, map[string]string{"cust_a": "cust_a", "cust_c": "cust_c"}},
		{"by source id", []string{"src_b", "src_c"}, map[string]string{"src_b": "cust_b", "src_c": "cust_c"}},
		{"id wins over source id", []string{"cust_b"}, map[string]string{"cust_b": "cust_b"}},
		{"missing ids are absent", []string{"cust_nope", "cust_a", "src_nope"}, map[string]string{"cust_a": "cust_a"}},
		{"repeated and empty ids", []string{"cust_a", "", "cust_a", "src_c"}, map[string]string{"cust_a": "cust_a", "src_c": "cust_c"}},
		{"none", nil, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := g.GetCustomers(ctx, tc.ids)
			if err != nil {
				t.Fatalf("GetCustomers(%q): %v", tc.ids, err)
			}
			gotIDs := map[string]string{}
			for k, c := range got {
				gotIDs[k] = c.ID
			}
			if diff := cmp.Diff(tc.want, gotIDs); diff != "" {
				t.Fatalf("GetCustomers(%q) ids (-want +got):\n%s", tc.ids, diff)
			}
			for k, c := range got {
				if diff := cmp.Diff(mustGet(t, st, c.ID), c, timeOpt, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("GetCustomers(%q)[%q] differs from GetCustomer (-want +got):\n%s", tc.ids, k, diff)
				}
			}
		})
	}
	t.Run("caller owns the result", func(t *testing.T) {
		got, err := g.GetCustomers(ctx, []string{"cust_a"})
		if err != nil {
			t.Fatal(err)
		}
		got["cust_a"].Metadata["plan"] = "changed"
		if plan := mustGet(t, st, "cust_a").Metadata["plan"]; plan != "gold" {
			t.Fatalf("stored plan = %v after changing a returned customer, want gold", plan)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := g.GetCustomers(cctx, []string{"cust_a"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("GetCustomers error = %v, want context.Canceled", err)
		}
	})
}

// batchDelivery is a scheduled delivery of distr_1 to custID.
func batchDelivery(custID string) distribution.Delivery {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	k := distribution.DeliveryKey{DistributionID: "distr_1", CustomerID: custID, TriggerKey: distribution.ManualTrigger, Channel: distribution.IntercomInApp}
	return distribution.Delivery{
		ID: distribution.DeliveryID(k), DistributionID: "distr_1", CustomerID: custID, TriggerKey: distribution.ManualTrigger,
		Channel: distribution.IntercomInApp, State: distribution.DeliveryScheduled, CreatedAt: t0, UpdatedAt: t0,
	}
}

func testUpdateDeliveries(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	t1 := time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)
	sending := func(d distribution.Delivery) distribution.Delivery {
		d.State, d.Attempts, d.UpdatedAt, d.Code, d.PublicationID = distribution.DeliverySending, d.Attempts+1, t1, "CODE-"+d.CustomerID, "pub_"+d.CustomerID
		return d
	}
	sent := func(d distribution.Delivery) distribution.Delivery {
		d = sending(d)
		d.State, d.ProviderMessageID, d.SentAt = distribution.DeliverySent, "msg_"+d.CustomerID, t1
		return d
	}
	type row struct {
		d       distribution.Delivery
		wantErr error // nil, or what errors.Is must match
	}
	tests := []struct {
		name string
		// setup moves the stored deliveries (a..e inserted scheduled)
		// before the batch.
		setup      func(t *testing.T, st store.Store, d map[string]distribution.Delivery)
		from       distribution.DeliveryState
		rows       func(d map[string]distribution.Delivery) []row
		wantStates map[string]distribution.DeliveryState
	}{
		{
			name: "all move",
			from: distribution.DeliveryScheduled,
			rows: func(d map[string]distribution.Delivery) []row {
				return []row{{sending(d["a"]), nil}, {sending(d["b"]), nil}, {sending(d["c"]), nil}}
			},
			wantStates: map[string]distribution.DeliveryState{"a": "sending", "b": "sending", "c": "sending", "d": "scheduled", "e": "scheduled"},
		},
		{
			name: "per row compare-and-set",
			setup: func(t *testing.T, st store.Store, d map[string]distribution.Delivery) {
				if err := st.UpdateDelivery(ctx, sending(d["b"]), distribution.DeliveryScheduled); err != nil {
					t.Fatal(err)
				}
			},
			from: distribution.DeliveryScheduled,
			rows: func(d map[string]distribution.Delivery) []row {
				changedKey := sending(d["c"])
				changedKey.Channel = distribution.IntercomEmail
				retry := d["d"]
				retry.NextAttemptAt, retry.Reason = t1.Add(time.Minute), "timeout"
				return []row{
					{sending(d["a"]), nil},
					{sending(d["b"]), distribution.ErrConflict}, // another worker took it
					{changedKey, distribution.ErrInvalid},
					{retry, distribution.ErrInvalid}, // retries need UpdateDelivery
					{sending(batchDelivery("cust_nope")), distribution.ErrNotFound},
					{sending(d["e"]), nil},
				}
			},
			wantStates: map[string]distribution.DeliveryState{"a": "sending", "b": "sending", "c": "scheduled", "d": "scheduled", "e": "sending"},
		},
		{
			name: "sent outcomes",
			setup: func(t *testing.T, st store.Store, d map[string]distribution.Delivery) {
				for _, k := range []string{"a", "b"} {
					if err := st.UpdateDelivery(ctx, sending(d[k]), distribution.DeliveryScheduled); err != nil {
						t.Fatal(err)
					}
				}
			},
			from: distribution.DeliverySending,
			rows: func(d map[string]distribution.Delivery) []row {
				return []row{{sent(d["a"]), nil}, {sent(d["c"]), distribution.ErrConflict}, {sent(d["b"]), nil}}
			},
			wantStates: map[string]distribution.DeliveryState{"a": "sent", "b": "sent", "c": "scheduled", "d": "scheduled", "e": "scheduled"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			u, ok := st.(distribution.DeliveryBatchUpdater)
			if !ok {
				t.Skip("the store is not a distribution.DeliveryBatchUpdater")
			}
			d := map[string]distribution.Delivery{}
			var all []distribution.Delivery
			for _, k := range []string{"a", "b", "c", "d", "e"} {
				d[k] = batchDelivery("cust_" + k)
				all = append(all, d[k])
			}
			if _, err := st.InsertDeliveries(ctx, all); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, st, d)
			}
			rows := tc.rows(d)
			batch := make([]distribution.Delivery, len(rows))
			for i, r := range rows {
				batch[i] = r.d
			}
			errs, err := u.UpdateDeliveries(ctx, batch, tc.from)
			if err != nil {
				t.Fatalf("UpdateDeliveries: %v", err)
			}
			if len(errs) != len(rows) {
				t.Fatalf("UpdateDeliveries returned %d errors for %d deliveries", len(errs), len(rows))
			}
			for i, r := range rows {
				switch {
				case r.wantErr == nil && errs[i] != nil:
					t.Errorf("row %d (%s): error %v, want nil", i, r.d.CustomerID, errs[i])
				case r.wantErr != nil && !errors.Is(errs[i], r.wantErr):
					t.Errorf("row %d (%s): error %v, want %v", i, r.d.CustomerID, errs[i], r.wantErr)
				case r.wantErr == nil:
					got, err := st.GetDelivery(ctx, r.d.ID)
					if err != nil {
						t.Fatal(err)
					}
					want := r.d
					want.CreatedAt = d["a"].CreatedAt
					if diff := cmp.Diff(want, got, timeOpt); diff != "" {
						t.Errorf("row %d (%s) stored (-want +got):\n%s", i, r.d.CustomerID, diff)
					}
				}
			}
			states := map[string]distribution.DeliveryState{}
			counts := map[distribution.DeliveryState]int{}
			for k, dl := range d {
				got, err := st.GetDelivery(ctx, dl.ID)
				if err != nil {
					t.Fatal(err)
				}
				states[k] = got.State
				counts[got.State]++
			}
			if diff := cmp.Diff(tc.wantStates, states); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
			cnt, err := st.CountDeliveries(ctx, "distr_1")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(counts, cnt.States); diff != "" {
				t.Errorf("CountDeliveries (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("repeated id", func(t *testing.T) {
		st := newStore(t)
		u, ok := st.(distribution.DeliveryBatchUpdater)
		if !ok {
			t.Skip("the store is not a distribution.DeliveryBatchUpdater")
		}
		a, b := batchDelivery("cust_a"), batchDelivery("cust_b")
		if _, err := st.InsertDeliveries(ctx, []distribution.Delivery{a, b}); err != nil {
			t.Fatal(err)
		}
		if _, err := u.UpdateDeliveries(ctx, []distribution.Delivery{sending(a), sending(b), sending(a)}, distribution.DeliveryScheduled); !errors.Is(err, distribution.ErrInvalid) {
			t.Fatalf("UpdateDeliveries with a repeated id: error = %v, want ErrInvalid", err)
		}
		for _, dl := range []distribution.Delivery{a, b} {
			if got, _ := st.GetDelivery(ctx, dl.ID); got.State != distribution.DeliveryScheduled {
				t.Errorf("%s is %s after a refused batch, want scheduled", dl.CustomerID, got.State)
			}
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		st := newStore(t)
		u, ok := st.(distribution.DeliveryBatchUpdater)
		if !ok {
			t.Skip("the store is not a distribution.DeliveryBatchUpdater")
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := u.UpdateDeliveries(cctx, []distribution.Delivery{sending(batchDelivery("cust_a"))}, distribution.DeliveryScheduled); !errors.Is(err, context.Canceled) {
			t.Fatalf("UpdateDeliveries error = %v, want context.Canceled", err)
		}
	})
}

// testUpdateDeliveriesRace has workers claim overlapping batches of the
// same deliveries: each delivery is claimed by exactly one of them.
func testUpdateDeliveriesRace(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := newStore(t)
	u, ok := st.(distribution.DeliveryBatchUpdater)
	if !ok {
		t.Skip("the store is not a distribution.DeliveryBatchUpdater")
	}
	const n, workers = 32, 8
	all := make([]distribution.Delivery, n)
	for i := range all {
		all[i] = batchDelivery(fmt.Sprintf("cust_%02d", i))
	}
	if _, err := st.InsertDeliveries(ctx, all); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		wins = map[string]int{}
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Worker w claims 10 deliveries from w*4 on: neighbours overlap.
			var batch []distribution.Delivery
			for i := range 10 {
				d := all[(w*4+i)%n]
				d.State, d.Attempts = distribution.DeliverySending, 1
				batch = append(batch, d)
			}
			errs, err := u.UpdateDeliveries(ctx, batch, distribution.DeliveryScheduled)
			if err != nil {
				t.Errorf("UpdateDeliveries: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for i, err := range errs {
				switch {
				case err == nil:
					wins[batch[i].ID]++
				case !errors.Is(err, distribution.ErrConflict):
					t.Errorf("losing claim of %s = %v, want ErrConflict", batch[i].CustomerID, err)
				}
			}
		}()
	}
	wg.Wait()
	for _, d := range all {
		if wins[d.ID] != 1 {
			t.Errorf("%s claimed %d times, want 1", d.CustomerID, wins[d.ID])
		}
	}
}
