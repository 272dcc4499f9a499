package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
	"github.com/codedrop/codedrop/store/postgres"
)

// Benchmarks compare PostgreSQL with the memory store on the same work;
// run the pairs together and compare ns/op:
//
//	CODEDROP_TEST_POSTGRES_DSN=... go test -run '^$' -bench . -benchtime 1x ./store/postgres
//
// CODEDROP_BENCH_N overrides the sizes (100,000 rows for imports, 10,000
// recipients for fan-outs), CODEDROP_BENCH_CONCURRENCY the Manager's
// Concurrency in both fan-outs (default 8).

func benchN(b *testing.B, def int, env ...string) int {
	name := "CODEDROP_BENCH_N"
	if len(env) > 0 {
		name = env[0]
	}
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return def
}

// importCSV is a customers file of n rows with a few metadata columns.
func importCSV(n int) []byte {
	var buf bytes.Buffer
	buf.WriteString("source_id,name,email,phone,source,plan,city_pref\n")
	for i := range n {
		fmt.Fprintf(&buf, "u%07d,Customer %d,c%d@example.com,+48 600 %06d,Intercom,plan%d,city%d\n", i, i, i, i, i%5, i%100)
	}
	return buf.Bytes()
}

func benchImport(b *testing.B, newStore func(b *testing.B) customer.Writer) {
	benchImportInto(b, newStore, false)
}

// benchImportInto imports the rows into a new store, after importing them
// once untimed when again is set (every row then updates a customer).
func benchImportInto(b *testing.B, newStore func(b *testing.B) customer.Writer, again bool) {
	n := benchN(b, 100_000)
	data := importCSV(n)
	ctx := context.Background()
	var cpu cpuMeter
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		w := newStore(b)
		if again {
			if _, err := customer.Import(ctx, w, bytes.NewReader(data), customer.ImportOptions{BatchSize: 1000}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		cpu.start()
		rep, err := customer.Import(ctx, w, bytes.NewReader(data), customer.ImportOptions{BatchSize: 1000})
		cpu.stop()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Done != n {
			b.Fatalf("imported %d of %d rows: %+v", rep.Done, n, rep.Failures)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	cpu.report(b, n*b.N, "row")
	if os.Getenv("CODEDROP_PG_TRACE") != "" {
		tracer.print()
	}
}

// BenchmarkImportCSVPostgres imports 100,000 CSV rows into PostgreSQL.
func BenchmarkImportCSVPostgres(b *testing.B) {
	testDSN(b)
	benchImport(b, func(b *testing.B) customer.Writer { return postgres.New(newPool(b)) })
}

// BenchmarkImportCSVMemory is the baseline: the same rows into store.Memory.
func BenchmarkImportCSVMemory(b *testing.B) {
	benchImport(b, func(*testing.B) customer.Writer { return store.NewMemory() })
}

// BenchmarkReimportCSVPostgres imports the 100,000 rows into PostgreSQL
// again: every row updates a stored customer (merge mode).
func BenchmarkReimportCSVPostgres(b *testing.B) {
	testDSN(b)
	benchImportInto(b, func(b *testing.B) customer.Writer { return postgres.New(newPool(b)) }, true)
}

// BenchmarkReimportCSVMemory is its baseline over store.Memory.
func BenchmarkReimportCSVMemory(b *testing.B) {
	benchImportInto(b, func(*testing.B) customer.Writer { return store.NewMemory() }, true)
}

// fanoutEnv is one Manager ready to send a manual distribution to n
// Intercom customers.
type fanoutEnv struct {
	m    *distribution.Manager
	clk  *distributiontest.FakeClock
	srv  *intercomtest.Server
	d    distribution.Distribution
	stop func()
}

func benchFanout(b *testing.B, pg bool) {
	n := benchN(b, 10_000)
	ctx := context.Background()
	srv := newIntercom(b, n)
	var cpu cpuMeter
	for range b.N {
		b.StopTimer()
		clk := distributiontest.NewFakeClock(time.Time{})
		cfg := distribution.Config{Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: clk, Concurrency: benchN(b, distribution.DefaultConcurrency, "CODEDROP_BENCH_CONCURRENCY")}
		var codes interface {
			CreateCampaign(context.Context, distribution.Campaign) (distribution.Campaign, error)
		}
		if pg {
			pool := newPool(b)
			st := postgres.New(pool)
			seedCustomers(b, st, n)
			sched, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{PollInterval: 10 * time.Millisecond, Clock: clk})
			if err != nil {
				b.Fatal(err)
			}
			pc := postgres.NewCodes(pool, nil)
			cfg.Store, cfg.Scheduler, cfg.Codes, codes = st, sched, pc, pc
		} else {
			st := store.NewMemory()
			batch := make([]customer.Customer, 0, n)
			for i := range n {
				batch = append(batch, intercomContactCustomer(i))
			}
			if _, err := st.UpsertCustomers(ctx, batch, customer.UpsertOptions{}); err != nil {
				b.Fatal(err)
			}
			cfg.Store = st
		}
		m, err := distribution.NewManager(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if !pg {
			codes = m.Campaigns()
		}
		runCtx, cancel := context.WithCancel(ctx)
		runDone := make(chan error, 1)
		go func() { runDone <- m.Run(runCtx) }()
		seg, err := m.CreateSegment(ctx, segment.Segment{Name: "all", Type: segment.Passive, Filter: segment.MustParseFilter(intercomFilter)})
		if err != nil {
			b.Fatal(err)
		}
		waitSynced(b, m, seg.ID)
		camp, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "bench", Type: distribution.CampaignAutoUpdate, Code: distribution.CodeConfig{Pattern: "BENCH-########"}})
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
		waitFor(b, "the countdown", func() bool { d, _ = m.Distribution(ctx, d.ID); return !d.SendAt.IsZero() })
		sent0 := srv.MessageCount()
		b.StartTimer()
		cpu.start()
		clk.Advance(distribution.DefaultManualDelay)
		// Wait for the messages on the server's counter (cheap, in
		// process), then for the status: polling the store all along
		// would load it, and a coarse poll would blur the result.
		for i := 0; srv.MessageCount()-sent0 < n; i++ {
			time.Sleep(time.Millisecond)
			if i%200 == 199 { // every 0.2 s, to see a failure
				if d, err = m.Distribution(ctx, d.ID); err != nil {
					b.Fatal(err)
				}
				if d.Status == distribution.StatusFailed {
					b.Fatalf("distribution failed: %+v", d.Report)
				}
			}
		}
		for {
			if d, err = m.Distribution(ctx, d.ID); err != nil {
				b.Fatal(err)
			}
			if d.Status == distribution.StatusDone {
				break
			}
			if d.Status == distribution.StatusFailed {
				b.Fatalf("distribution failed: %+v", d.Report)
			}
			time.Sleep(2 * time.Millisecond)
		}
		cpu.stop()
		b.StopTimer()
		if d.Report.Sent != n || srv.MessageCount()-sent0 != n {
			b.Fatalf("sent %d (server got %d), want %d", d.Report.Sent, srv.MessageCount()-sent0, n)
		}
		cancel()
		<-runDone
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "recipients/s")
	cpu.report(b, n*b.N, "recipient")
	if pg && os.Getenv("CODEDROP_PG_TRACE") != "" {
		tracer.print()
	}
}

// BenchmarkFanoutPostgres sends a manual distribution with an in-app
// message and a code to 10,000 customers through one Manager over
// PostgreSQL (store, durable scheduler, PostgreSQL codes) and
// intercomtest on loopback.
func BenchmarkFanoutPostgres(b *testing.B) {
	testDSN(b)
	benchFanout(b, true)
}

// BenchmarkFanoutMemory is the baseline: the same distribution over
// store.Memory, the timer scheduler and in-memory campaigns.
func BenchmarkFanoutMemory(b *testing.B) { benchFanout(b, false) }

// cpuMeter measures the CPU time of the timed sections of a benchmark:
// this process's (the client: Manager, fake Intercom, pgx) and, where
// /proc/stat is readable, the whole machine's (so also the PostgreSQL
// server's), to tell which side a ratio comes from.
type cpuMeter struct {
	proc, machine time.Duration
	p0, m0        time.Duration
	machineOK     bool
}

func (c *cpuMeter) start() {
	c.p0 = procCPU()
	c.m0, c.machineOK = machineCPU()
}

func (c *cpuMeter) stop() {
	c.proc += procCPU() - c.p0
	m, ok := machineCPU()
	c.machine += m - c.m0
	c.machineOK = c.machineOK && ok
}

// report adds client-cpu-µs/<unit> and, when known, machine-cpu-µs/<unit>.
func (c *cpuMeter) report(b *testing.B, items int, unit string) {
	b.ReportMetric(float64(c.proc.Microseconds())/float64(items), "client-cpu-µs/"+unit)
	if c.machineOK {
		b.ReportMetric(float64(c.machine.Microseconds())/float64(items), "machine-cpu-µs/"+unit)
	}
}

func procCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU is the busy time of all CPUs from /proc/stat (user, nice,
// system, irq, softirq, steal), in clock ticks of 10 ms.
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, false
		}
		busy += v
	}
	return time.Duration(busy) * 10 * time.Millisecond, true
}
