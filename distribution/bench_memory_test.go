package distribution_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// nopChannel accepts every message and keeps nothing, so that a memory
// benchmark measures what the library keeps, not a fake provider's
// records.
type nopChannel struct{}

func (nopChannel) Name() string { return "nop" }
func (nopChannel) Send(_ context.Context, msg distribution.Message) (distribution.Receipt, error) {
	return distribution.Receipt{ProviderMessageID: "m-" + msg.Delivery.ID[4:12]}, nil
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkFanoutMemory sends a manual distribution with a code to
// benchSize customers of a memory store through a channel that keeps
// nothing, and reports the heap the fan-out leaves behind per delivered
// recipient (the ledger, the publications, anything cached) after a full
// collection, and how far above the starting heap it peaked while
// sending. With the default GOGC=100 the collector lets the heap grow to
// twice what it found live, so the peak is about the starting heap (the
// customers: start-B/recipient) plus twice what the fan-out keeps and
// what it allocates while a collection marks (alloc-B/recipient, all it
// allocates, sets that part):
//
//	go test -run=^$ -bench=FanoutMemory -benchtime=1x ./distribution
func BenchmarkFanoutMemory(b *testing.B) {
	n := benchSize(b)
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		st := store.NewMemory()
		clk := distributiontest.NewFakeClock(time.Time{})
		m, err := distribution.NewManager(distribution.Config{Store: st, Clock: clk, Concurrency: benchConcurrency,
			Channels: []distribution.Channel{nopChannel{}}})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		runDone := make(chan error, 1)
		go func() { runDone <- m.Run(runCtx) }()
		batch := make([]customer.Customer, 0, 1000)
		for i := range n {
			batch = append(batch, customer.Customer{SourceID: fmt.Sprintf("u%07d", i), Name: fmt.Sprintf("Customer %d", i),
				Metadata: customer.Metadata{"source": "Intercom"}})
			if len(batch) == cap(batch) || i == n-1 {
				if _, err := st.UpsertCustomers(ctx, batch, customer.UpsertOptions{}); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		seg, err := m.CreateSegment(ctx, segment.Segment{Name: "all", Type: segment.Passive, Filter: segment.MustParseFilter(intercomFilter)})
		if err != nil {
			b.Fatal(err)
		}
		camp, err := m.CreateCampaign(ctx, distribution.Campaign{Name: "bench", Type: distribution.CampaignAutoUpdate, Code: distribution.CodeConfig{Pattern: "BENCH-########"}})
		if err != nil {
			b.Fatal(err)
		}
		d, err := m.CreateDistribution(ctx, distribution.Distribution{Name: "bench", Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID,
			Channels: []distribution.ChannelMessage{{Channel: "nop", Body: "Hi {{customer.name}}, your code: {{voucher.code}}"}}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Send(ctx, d.ID); err != nil {
			b.Fatal(err)
		}
		if err := distributiontest.WaitIdle(ctx, m); err != nil { // the segment synced, the countdown armed
			b.Fatal(err)
		}
		before := heapInUse()
		var ms0 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		stopPeak := memPeak()
		b.StartTimer()

		clk.Advance(distribution.DefaultManualDelay)
		if d, err = distributiontest.WaitFor(ctx, m, d.ID, distribution.StatusDone); err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		peak := stopPeak()
		var ms1 runtime.MemStats
		runtime.ReadMemStats(&ms1)
		after := heapInUse()
		if f := os.Getenv("CODEDROP_BENCH_HEAP"); f != "" {
			writeHeap(b, f)
		}
		if d.Report.Sent != n {
			b.Fatalf("sent %d, want %d", d.Report.Sent, n)
		}
		b.ReportMetric(float64(int64(after)-int64(before))/float64(n), "kept-B/recipient")
		b.ReportMetric(float64(int64(peak)-int64(before))/float64(n), "peak-B/recipient")
		b.ReportMetric(float64(n), "recipients")
		b.ReportMetric(float64(before)/float64(n), "start-B/recipient")
		b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(n), "alloc-B/recipient")
		cancel()
		<-runDone
		runtime.KeepAlive(m)
		runtime.KeepAlive(st)
		b.StartTimer()
	}
}
