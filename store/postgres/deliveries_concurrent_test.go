package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestInsertDeliveriesConcurrently: replicas resolving one audience at
// once insert the same deliveries; each is inserted once, and neither
// fails (a row another transaction inserts meanwhile is not taken for an
// id used by another key).
func TestInsertDeliveriesConcurrently(t *testing.T) {
	t.Parallel()
	st := postgres.New(newPool(t))
	ctx := context.Background()
	now := time.Now()
	for round := range 40 {
		d := distribution.Distribution{ID: fmt.Sprint("dst_", round), Channels: []distribution.ChannelMessage{{Channel: "c"}}}
		batch := make([]distribution.Delivery, 0, 300)
		for i := range cap(batch) {
			k := distribution.DeliveryKey{DistributionID: d.ID, CustomerID: fmt.Sprint("cust_", i), TriggerKey: "manual", Channel: "c"}
			batch = append(batch, distribution.Delivery{ID: distribution.DeliveryID(k), DistributionID: d.ID, CustomerID: k.CustomerID,
				TriggerKey: k.TriggerKey, Channel: k.Channel, State: distribution.DeliveryScheduled, CreatedAt: now, UpdatedAt: now})
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for range 6 {
			wg.Go(func() {
				n, err := st.InsertDeliveries(ctx, batch)
				if err != nil {
					t.Errorf("round %d: %v", round, err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			})
		}
		wg.Wait()
		if total != len(batch) {
			t.Errorf("round %d: %d inserted in all, want %d", round, total, len(batch))
		}
	}
}
