package store_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store"
)

// BenchmarkMemoryLedger runs the ledger writes and reads of a fan-out of
// 100,000 recipients on a memory store: the deliveries inserted in
// batches of 500, each moved to sending and then to sent in batches of
// 16 and 256 (as the fan-out's combiner and flusher write them), listed
// by distribution and state, then read one by one. It reports the time
// per delivery of each step and the heap the ledger keeps per delivery:
//
//	go test -run=^$ -bench=MemoryLedger -benchtime=1x ./store
func BenchmarkMemoryLedger(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cust := make([]string, n)
	for i := range cust {
		cust[i] = fmt.Sprintf("cust_%026d", i)
	}
	var insert, sending, sent, list, get time.Duration
	var kept uint64
	for range b.N {
		b.StopTimer()
		st := store.NewMemory()
		before := heapAlloc() // the ids the caller makes count: a store may keep them
		ds := make([]distribution.Delivery, n)
		for i := range ds {
			k := distribution.DeliveryKey{DistributionID: "distr_1", CustomerID: cust[i], TriggerKey: distribution.ManualTrigger, Channel: "intercom_inapp"}
			ds[i] = distribution.Delivery{ID: distribution.DeliveryID(k), DistributionID: k.DistributionID, CustomerID: k.CustomerID,
				TriggerKey: k.TriggerKey, Channel: k.Channel, State: distribution.DeliveryScheduled, CreatedAt: at, UpdatedAt: at}
		}
		b.StartTimer()

		t0 := time.Now()
		for i := 0; i < n; i += 500 {
			if _, err := st.InsertDeliveries(ctx, ds[i:i+500]); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		update := func(size int, from distribution.DeliveryState, change func(d *distribution.Delivery)) {
			batch := make([]distribution.Delivery, 0, size)
			for i := range ds {
				change(&ds[i])
				if batch = append(batch, ds[i]); len(batch) == size || i == n-1 {
					errs, err := st.UpdateDeliveries(ctx, batch, from)
					if err != nil || errs[0] != nil {
						b.Fatal(err, errs[0])
					}
					batch = batch[:0]
				}
			}
		}
		update(16, distribution.DeliveryScheduled, func(d *distribution.Delivery) {
			d.State, d.Attempts, d.UpdatedAt = distribution.DeliverySending, 1, at.Add(time.Minute)
		})
		t2 := time.Now()
		update(256, distribution.DeliverySending, func(d *distribution.Delivery) {
			d.State, d.Code, d.PublicationID, d.ProviderMessageID = distribution.DeliverySent, "CODE-12345678", "pub_01jq3k8m5x2v7c9d0e4f6g8h1j", "msg_1"
			d.SentAt, d.UpdatedAt = at.Add(2*time.Minute), at.Add(2*time.Minute)
		})
		t3 := time.Now()
		count := 0
		for _, err := range st.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: "distr_1", States: []distribution.DeliveryState{distribution.DeliverySent}}) {
			if err != nil {
				b.Fatal(err)
			}
			count++
		}
		t4 := time.Now()
		for i := range ds {
			if _, err := st.GetDelivery(ctx, ds[i].ID); err != nil {
				b.Fatal(err)
			}
		}
		t5 := time.Now()

		b.StopTimer()
		if count != n {
			b.Fatalf("listed %d deliveries, want %d", count, n)
		}
		insert, sending, sent, list, get = insert+t1.Sub(t0), sending+t2.Sub(t1), sent+t3.Sub(t2), list+t4.Sub(t3), get+t5.Sub(t4)
		ds = nil
		kept += heapAlloc() - before
		runtime.KeepAlive(st)
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*n) }
	b.ReportMetric(per(insert), "insert-ns/delivery")
	b.ReportMetric(per(sending), "sending-ns/delivery")
	b.ReportMetric(per(sent), "sent-ns/delivery")
	b.ReportMetric(per(list), "list-ns/delivery")
	b.ReportMetric(per(get), "get-ns/delivery")
	b.ReportMetric(float64(kept)/float64(b.N*n), "kept-B/delivery")
}

// heapAlloc is the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkMemoryGetDelivery reads one delivery (sent, with a code and a
// publication) by id from a ledger of 100,000.
func BenchmarkMemoryGetDelivery(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := store.NewMemory()
	ids := make([]string, n)
	for i := 0; i < n; i += 500 {
		ds := make([]distribution.Delivery, 500)
		for j := range ds {
			k := distribution.DeliveryKey{DistributionID: "distr_1", CustomerID: fmt.Sprintf("cust_%026d", i+j), TriggerKey: distribution.ManualTrigger, Channel: "intercom_inapp"}
			ds[j] = distribution.Delivery{ID: distribution.DeliveryID(k), DistributionID: k.DistributionID, CustomerID: k.CustomerID,
				TriggerKey: k.TriggerKey, Channel: k.Channel, State: distribution.DeliverySent, Attempts: 1, CreatedAt: at, UpdatedAt: at, SentAt: at,
				Code: "CODE-12345678", PublicationID: "pub_01jq3k8m5x2v7c9d0e4f6g8h1j", ProviderMessageID: "msg_1"}
			ids[i+j] = ds[j].ID
		}
		if _, err := st.InsertDeliveries(ctx, ds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := st.GetDelivery(ctx, ids[i%n]); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}
