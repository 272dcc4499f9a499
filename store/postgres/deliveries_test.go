package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestInsertDeliveriesConcurrent: replicas resolving one audience at the
// same time insert the same deliveries concurrently (their ids derive
// from their keys). Each key is inserted once; no call fails (a unique
// violation on the id, which ON CONFLICT on the key does not cover, once
// failed the whole distribution).
func TestInsertDeliveriesConcurrent(t *testing.T) {
	t.Parallel()
	const (
		replicas = 4
		rounds   = 10
		n        = 600
		batch    = 200
	)
	ctx := context.Background()
	schema := newSchema(t)
	dsn := testDSN(t)
	var stores []*postgres.Store
	for range replicas {
		stores = append(stores, postgres.New(openPool(t, dsn, schema, 2)))
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for round := range rounds {
		distID := fmt.Sprint("distr_", round)
		all := make([]distribution.Delivery, n)
		for i := range all {
			k := distribution.DeliveryKey{DistributionID: distID, CustomerID: fmt.Sprintf("cust_%04d", i), TriggerKey: distribution.ManualTrigger, Channel: "c"}
			all[i] = distribution.Delivery{ID: distribution.DeliveryID(k), DistributionID: k.DistributionID, CustomerID: k.CustomerID,
				TriggerKey: k.TriggerKey, Channel: k.Channel, State: distribution.DeliveryScheduled, CreatedAt: now, UpdatedAt: now}
		}
		var inserted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, st := range stores {
			wg.Go(func() {
				<-start
				for i := 0; i < n; i += batch {
					k, err := st.InsertDeliveries(ctx, all[i:i+batch])
					if err != nil {
						t.Errorf("round %d: InsertDeliveries: %v", round, err)
						return
					}
					inserted.Add(int64(k))
				}
			})
		}
		close(start)
		wg.Wait()
		cnt, err := stores[0].CountDeliveries(ctx, distID)
		if err != nil {
			t.Fatal(err)
		}
		if got := inserted.Load(); got != n || cnt.States[distribution.DeliveryScheduled] != n {
			t.Errorf("round %d: %d inserted, %d stored; want %d each", round, got, cnt.States[distribution.DeliveryScheduled], n)
		}
	}
}
