package distribution_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// benchSize is the audience of the fan-out benchmarks: 100,000 unless
// CODEDROP_BENCH_N says otherwise (for quick runs while developing).
func benchSize(b *testing.B) int {
	if s := os.Getenv("CODEDROP_BENCH_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 100_000
}

const benchConcurrency = distribution.DefaultConcurrency

// benchServer seeds an intercomtest server with n contacts.
func benchServer(n int) *intercomtest.Server {
	cs := make([]intercom.Contact, n)
	for i := range cs {
		cs[i] = intercom.Contact{ID: fmt.Sprintf("c%07d", i), ExternalID: fmt.Sprintf("u%07d", i), Name: fmt.Sprintf("Customer %d", i)}
	}
	return intercomtest.NewServer(intercomtest.Contacts(cs...))
}

// memPeak samples the heap in use until stop is called.
func memPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// cpuTime is the process's user+system CPU time: less sensitive than wall
// time to other processes on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// BenchmarkManualFanout sends a manual distribution with an in-app
// message and a code to a segment of benchSize customers (synced from
// Intercom: their contact id is in metadata) through intercomtest on
// loopback. Compare with BenchmarkRawFanout, run with -benchtime=1x:
//
//	go test -run=^$ -bench=Fanout -benchtime=1x ./distribution
func BenchmarkManualFanout(b *testing.B) {
	n := benchSize(b)
	srv := benchServer(n)
	defer srv.Close()
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		st := store.NewMemory()
		clk := distributiontest.NewFakeClock(time.Time{})
		m, err := distribution.NewManager(distribution.Config{Store: st, Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: clk, Concurrency: benchConcurrency})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		runDone := make(chan error, 1)
		go func() { runDone <- m.Run(runCtx) }()
		batch := make([]customer.Customer, 0, 1000)
		for i := range n {
			batch = append(batch, intercom.ContactToCustomer(intercom.Contact{ID: fmt.Sprintf("c%07d", i), Role: intercom.RoleUser, ExternalID: fmt.Sprintf("u%07d", i), Name: fmt.Sprintf("Customer %d", i)}))
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
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "<p>Hi {{customer.name}}, your code: <b>{{voucher.code}}</b></p>"}}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Send(ctx, d.ID); err != nil {
			b.Fatal(err)
		}
		for d.SendAt.IsZero() {
			time.Sleep(time.Millisecond)
			d, _ = m.Distribution(ctx, d.ID)
		}
		sent0 := srv.MessageCount()
		runtime.GC()
		before := mallocs()
		stopPeak := memPeak()
		cpu0 := cpuTime()
		b.StartTimer()

		clk.Advance(distribution.DefaultManualDelay)
		for d.Status != distribution.StatusDone {
			time.Sleep(20 * time.Millisecond)
			if d, err = m.Distribution(ctx, d.ID); err != nil {
				b.Fatal(err)
			}
			if d.Status == distribution.StatusFailed {
				b.Fatalf("distribution failed: %+v", d.Report)
			}
		}

		b.StopTimer()
		cpu := cpuTime() - cpu0
		peak := stopPeak()
		allocs := mallocs() - before
		if f := os.Getenv("CODEDROP_BENCH_HEAP"); f != "" {
			writeHeap(b, f)
		}
		if d.Report.Sent != n || srv.MessageCount()-sent0 != n {
			b.Fatalf("sent %d (server got %d), want %d", d.Report.Sent, srv.MessageCount()-sent0, n)
		}
		b.ReportMetric(float64(allocs)/float64(n), "allocs/recipient")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/recipient")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(n), "recipients")
		cancel()
		<-runDone
		b.StartTimer()
	}
}

// BenchmarkRawFanout is the baseline: the same number of bare POST
// /messages requests, with bodies like codedrop's, at the same
// concurrency, to the same kind of server.
func BenchmarkRawFanout(b *testing.B) {
	n := benchSize(b)
	srv := benchServer(n)
	defer srv.Close()
	hc := srv.HTTPClient()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		before := mallocs()
		stopPeak := memPeak()
		cpu0 := cpuTime()
		b.StartTimer()
		work := make(chan int, benchConcurrency*4)
		var wg sync.WaitGroup
		var failed atomic.Int64
		for range benchConcurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					body, _ := json.Marshal(map[string]any{
						"message_type": "inapp",
						"body":         fmt.Sprintf("<p>Hi Customer %d, your code: <b>BENCH-%08d</b></p>", i, i),
						"from":         map[string]string{"type": "admin", "id": srv.AdminID()},
						"to":           map[string]string{"type": "user", "id": fmt.Sprintf("c%07d", i)},
					})
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/messages", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+srv.Token())
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept", "application/json")
					req.Header.Set("Intercom-Version", intercom.DefaultVersion)
					resp, err := hc.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
					}
				}
			}()
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
		b.StopTimer()
		cpu := cpuTime() - cpu0
		peak := stopPeak()
		allocs := mallocs() - before
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d requests failed", f)
		}
		b.ReportMetric(float64(allocs)/float64(n), "allocs/recipient")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/recipient")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(n), "recipients")
		b.StartTimer()
	}
}

// writeHeap writes a heap profile of what is live (for finding what the
// peak is made of).
func writeHeap(b *testing.B, path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
