package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
	"github.com/codedrop/codedrop/store/postgres"
)

// The Manager's customer write path against the store's own, as a host
// feels it: each benchmark runs both in the same process, alternating
// which goes first, and reports the rate of each and their ratio
// (manager/store: 1 is store speed), and this process's CPU time per item
// of each side (with PostgreSQL the server's is not in it). ns/op counts
// both sides and their set-up: read the custom metrics.
//
//	go test -run '^$' -bench 'ManagerImport|ManagerUpsert' -benchtime 1x -count 3 ./store/postgres
//
// Without CODEDROP_TEST_POSTGRES_DSN only the memory halves run.

// managerCSV is a customers file of n rows: source_id, name, email,
// phone, city, country and meta metadata columns (text, no schema).
func managerCSV(n, meta int) []byte {
	var buf bytes.Buffer
	buf.WriteString("source_id,name,email,phone,city,country")
	metaCols := []string{"plan", "source", "tier", "team", "lang"}[:meta]
	for _, c := range metaCols {
		buf.WriteString("," + c)
	}
	buf.WriteByte('\n')
	cities := [...]string{"Warsaw", "Berlin", "Lisbon", "Oslo", "Rome", "Paris", "Madrid"}
	countries := [...]string{"PL", "DE", "PT", "NO", "IT", "FR", "ES"}
	sources := [...]string{"Intercom", "Web", "Shopify", "Import"}
	for i := range n {
		fmt.Fprintf(&buf, "u%07d,Customer %d,c%d@example.com,+48 600 %06d,%s,%s", i, i, i, i%1000000, cities[i%7], countries[i%7])
		vals := []string{fmt.Sprintf("plan%d", i%5), sources[i%4], fmt.Sprintf("tier%d", i%3), fmt.Sprintf("team%d", i%50), "en"}
		for _, v := range vals[:meta] {
			buf.WriteString("," + v)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// pairRuns alternates which side of a pair runs first across the runs of
// a process (-count), so that neither always meets a warmer machine.
var pairRuns atomic.Int64

// pair collects the timed sections of a pair benchmark: wall time and
// this process's CPU time (which a machine shared with other work blurs
// less).
type pair struct {
	mgr, st       time.Duration
	mgrCPU, stCPU time.Duration
	items         int // per side
}

// run times both sides once each, in alternating order. side returns
// the wall time of its timed section and that section's CPU time.
func (p *pair) run(b *testing.B, items int, side func(b *testing.B, viaManager bool) (wall, cpu time.Duration)) {
	first := pairRuns.Add(1)%2 == 0
	for _, via := range []bool{first, !first} {
		d, c := side(b, via)
		if via {
			p.mgr, p.mgrCPU = p.mgr+d, p.mgrCPU+c
		} else {
			p.st, p.stCPU = p.st+d, p.stCPU+c
		}
	}
	p.items += items
}

func (p *pair) report(b *testing.B, unit string) {
	b.ReportMetric(float64(p.items)/p.mgr.Seconds(), "manager-"+unit+"/s")
	b.ReportMetric(float64(p.items)/p.st.Seconds(), "store-"+unit+"/s")
	b.ReportMetric(p.st.Seconds()/p.mgr.Seconds(), "manager/store")
	b.ReportMetric(float64(p.mgrCPU.Nanoseconds())/float64(p.items), "manager-cpu-ns/"+unit)
	b.ReportMetric(float64(p.stCPU.Nanoseconds())/float64(p.items), "store-cpu-ns/"+unit)
}

// benchStores are the stores the Manager benchmarks run on.
func benchStores(b *testing.B) []struct {
	name string
	open func(b *testing.B) distribution.ManagerStore
} {
	out := []struct {
		name string
		open func(b *testing.B) distribution.ManagerStore
	}{{"memory", func(*testing.B) distribution.ManagerStore { return store.NewMemory() }}}
	if testDSNSet() {
		out = append(out, struct {
			name string
			open func(b *testing.B) distribution.ManagerStore
		}{"postgres", func(b *testing.B) distribution.ManagerStore { return postgres.New(newPool(b)) }})
	}
	return out
}

// benchRuleSegments creates an auto-update filter segment and a passive
// expression segment through m and waits until both are synced.
func benchRuleSegments(b *testing.B, m *distribution.Manager) {
	ctx := context.Background()
	for _, s := range []segment.Segment{
		{Name: "intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)},
		{Name: "plan0", Type: segment.Passive, Expression: `metadata.plan == "plan0"`},
	} {
		out, err := m.CreateSegment(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		waitSynced(b, m, out.ID)
	}
}

// BenchmarkManagerImport imports 200,000 CSV rows (20,000 with -short)
// through Manager.ImportCustomers and, alternating, straight into the
// same kind of store with customer.Import, with no segment and with two
// rule segments (one auto-update, one passive; the store-only side has
// none to keep).
func BenchmarkManagerImport(b *testing.B) {
	n := benchN(b, 200_000)
	if testing.Short() {
		n = benchN(b, 20_000)
	}
	data := managerCSV(n, 2)
	ctx := context.Background()
	for _, st := range benchStores(b) {
		for _, segs := range []int{0, 2} {
			b.Run(fmt.Sprintf("%s/segments=%d", st.name, segs), func(b *testing.B) {
				var p pair
				for range b.N {
					p.run(b, n, func(b *testing.B, viaManager bool) (time.Duration, time.Duration) {
						s := st.open(b)
						var rep *customer.ImportReport
						var cpu0 time.Duration
						var err error
						var start time.Time
						if viaManager {
							m, merr := distribution.NewManager(distribution.Config{Store: s})
							if merr != nil {
								b.Fatal(merr)
							}
							if segs > 0 {
								benchRuleSegments(b, m)
							}
							tracer.reset()
							cpu0, start = procCPU(), time.Now()
							rep, err = m.ImportCustomers(ctx, bytes.NewReader(data), customer.ImportOptions{BatchSize: 1000})
						} else {
							cpu0, start = procCPU(), time.Now()
							rep, err = customer.Import(ctx, s, bytes.NewReader(data), customer.ImportOptions{BatchSize: 1000})
						}
						d, cpu := time.Since(start), procCPU()-cpu0
						if viaManager && st.name == "postgres" && os.Getenv("CODEDROP_PG_TRACE") != "" {
							tracer.print()
						}
						if err != nil {
							b.Fatal(err)
						}
						if rep.Done != n {
							b.Fatalf("imported %d of %d rows: %+v", rep.Done, n, rep.Failures)
						}
						return d, cpu
					})
				}
				p.report(b, "rows")
			})
		}
	}
}

// BenchmarkManagerUpsertConcurrent upserts new customers one at a time
// from 1, 4 and 16 goroutines through Manager.UpsertCustomer and,
// alternating, straight into the store: 50,000 upserts in memory, 2,000
// in PostgreSQL (a tenth with -short); with no segment and with two rule
// segments (see BenchmarkManagerImport).
func BenchmarkManagerUpsertConcurrent(b *testing.B) {
	ctx := context.Background()
	for _, st := range benchStores(b) {
		n := 50_000
		if st.name == "postgres" {
			n = 2_000
		}
		if testing.Short() {
			n /= 10
		}
		for _, c := range []struct{ segs, g int }{{0, 1}, {0, 4}, {0, 16}, {2, 1}, {2, 16}} {
			g := c.g
			b.Run(fmt.Sprintf("%s/segments=%d/goroutines=%d", st.name, c.segs, g), func(b *testing.B) {
				var p pair
				for range b.N {
					p.run(b, n, func(b *testing.B, viaManager bool) (time.Duration, time.Duration) {
						s := st.open(b)
						upsert := func(c customer.Customer) error {
							_, err := s.UpsertCustomers(ctx, []customer.Customer{c}, customer.UpsertOptions{})
							return err
						}
						if viaManager {
							m, err := distribution.NewManager(distribution.Config{Store: s})
							if err != nil {
								b.Fatal(err)
							}
							if c.segs > 0 {
								benchRuleSegments(b, m)
							}
							if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "warm-up"}, customer.UpsertOptions{}); err != nil {
								b.Fatal(err)
							}
							upsert = func(c customer.Customer) error {
								_, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{})
								return err
							}
						}
						var next atomic.Int64
						var wg sync.WaitGroup
						errs := make(chan error, g)
						cpu0, start := procCPU(), time.Now()
						for range g {
							wg.Add(1)
							go func() {
								defer wg.Done()
								for {
									i := int(next.Add(1)) - 1
									if i >= n {
										return
									}
									c := customer.Customer{SourceID: fmt.Sprintf("u%07d", i), Name: fmt.Sprintf("Customer %d", i),
										Email: fmt.Sprintf("c%d@example.com", i), Metadata: customer.Metadata{"plan": fmt.Sprintf("plan%d", i%5)}}
									if err := upsert(c); err != nil {
										errs <- err
										return
									}
								}
							}()
						}
						wg.Wait()
						d, cpu := time.Since(start), procCPU()-cpu0
						close(errs)
						if err := <-errs; err != nil {
							b.Fatal(err)
						}
						return d, cpu
					})
				}
				p.report(b, "upserts")
			})
		}
	}
}
