package postgres_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
	"github.com/codedrop/codedrop/store/postgres"
)

// syncCustomer is customer i of the segment sync population: a quarter
// come from Intercom (the members), with a few more metadata keys.
func syncCustomer(i int) customer.Customer {
	sources := [...]string{"Intercom", "Web", "Shopify", "Import"}
	return customer.Customer{
		SourceID: fmt.Sprintf("user-%07d", i),
		Name:     fmt.Sprintf("Customer %d", i),
		Email:    fmt.Sprintf("user%d@example.com", i),
		Metadata: customer.Metadata{"source": sources[i%4], "plan": fmt.Sprintf("plan%d", i%5), "city": fmt.Sprintf("city%d", i%100)},
	}
}

// syncPopulations holds the seeded memory stores by size, shared by the
// runs of -count: seeding a million customers takes a while.
var syncPopulations sync.Map // string -> *store.Memory

func seedSync(b *testing.B, w customer.Writer, n int) {
	ctx := context.Background()
	batch := make([]customer.Customer, 0, 10_000)
	for i := range n {
		batch = append(batch, syncCustomer(i))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := w.UpsertCustomers(ctx, batch, customer.UpsertOptions{}); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// syncPool seeds n customers into a new schema, which lives until b ends.
func syncPool(b *testing.B, n int) *pgxpool.Pool {
	pool := newPool(b)
	seedSync(b, postgres.New(pool), n)
	if _, err := pool.Exec(context.Background(), "VACUUM ANALYZE customers"); err != nil {
		b.Fatal(err)
	}
	return pool
}

// BenchmarkSegmentSyncPostgres is a full first sync of a segment over
// 1,000,000 customers (100,000 with -short) in PostgreSQL, a quarter of
// whom match: with a filter the store evaluates (FilterPusher, served by
// the GIN index on metadata) and with an expression (a scan of every
// customer, matched in Go). memory/filter is the same sync over
// store.Memory. Run it with -benchtime 1x.
func BenchmarkSegmentSyncPostgres(b *testing.B) {
	n := benchN(b, 1_000_000)
	if testing.Short() {
		n = benchN(b, 100_000)
	}
	cases := []struct {
		name string
		seg  segment.Segment
	}{
		{"filter", segment.Segment{Type: segment.AutoUpdate, Filter: segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`)}},
		{"expression", segment.Segment{Type: segment.AutoUpdate, Expression: `metadata.source == "Intercom"`}},
	}
	ctx := context.Background()
	// Seeded here, not in the sub-benchmarks: the schema lives until this
	// benchmark ends.
	var pool *pgxpool.Pool
	if testDSNSet() {
		pool = syncPool(b, n)
	}
	for _, where := range []string{"postgres", "memory"} {
		for _, c := range cases {
			if where == "memory" && c.name != "filter" {
				continue
			}
			b.Run(where+"/"+c.name, func(b *testing.B) {
				var st interface {
					segment.Store
					customer.Store
				}
				if where == "postgres" {
					testDSN(b)
					st = postgres.New(pool)
				} else {
					key := fmt.Sprint("mem", n)
					if m, ok := syncPopulations.Load(key); ok {
						st = m.(*store.Memory)
					} else {
						m := store.NewMemory()
						seedSync(b, m, n)
						syncPopulations.Store(key, m)
						st = m
					}
				}
				eng, err := segment.NewEngine(ctx, segment.Config{Store: st, Customers: st})
				if err != nil {
					b.Fatal(err)
				}
				var total, client, server time.Duration
				for i := range b.N {
					s := c.seg
					s.Name = fmt.Sprintf("%s %d %d", c.name, i, time.Now().UnixNano())
					s, err := eng.Create(ctx, s)
					if err != nil {
						b.Fatal(err)
					}
					runtime.GC()
					tracer.reset()
					c0, s0 := procCPU(), serverCPU(b, pool)
					start := time.Now()
					res, err := eng.Sync(ctx, s.ID, nil)
					total += time.Since(start)
					client += procCPU() - c0
					if where == "postgres" {
						server += serverCPU(b, pool) - s0
					}
					if where == "postgres" && os.Getenv("CODEDROP_PG_TRACE") != "" {
						tracer.print()
					}
					if err != nil {
						b.Fatal(err)
					}
					if res.Entered != n/4 {
						b.Fatalf("Sync = %+v, want %d entered", res, n/4)
					}
					if err := eng.Delete(ctx, s.ID); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(total.Seconds()/float64(b.N), "s/sync")
				b.ReportMetric(client.Seconds()/float64(b.N), "client-cpu-s/sync")
				if where == "postgres" {
					b.ReportMetric(server.Seconds()/float64(b.N), "server-cpu-s/sync")
				}
			})
		}
	}
}

// serverCPU is the CPU time the PostgreSQL server processes of pool's
// connections have used (they run on this machine in the benchmarks):
// on a shared machine it says more about the work done than wall time.
// Processes are found by application_name, which openPool sets to the
// schema; 0 when /proc cannot tell.
func serverCPU(b *testing.B, pool *pgxpool.Pool) time.Duration {
	if pool == nil {
		return 0
	}
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE application_name = current_schema()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces): utime and
		// stime are the 12th and 13th, in clock ticks of 10 ms.
		_, rest, _ := strings.Cut(string(stat), ") ")
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		for _, v := range f[11:13] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += time.Duration(n) * 10 * time.Millisecond
		}
	}
	return total
}
