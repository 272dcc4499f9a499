package store_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store"
)

// memoryCSV is a customers file of n rows: source_id, name, email, phone,
// city, country and meta text metadata columns, whose values repeat
// (plans, sources, tiers) or, with unique, are each customer's own.
func memoryCSV(n, meta int, unique bool) []byte {
	var buf bytes.Buffer
	buf.Grow(n * (90 + 8*meta))
	buf.WriteString("source_id,name,email,phone,city,country")
	for _, c := range []string{"plan", "source", "tier", "team", "lang"}[:meta] {
		buf.WriteString("," + c)
	}
	buf.WriteByte('\n')
	cities := [...]string{"Warsaw", "Berlin", "Lisbon", "Oslo", "Rome", "Paris", "Madrid"}
	countries := [...]string{"PL", "DE", "PT", "NO", "IT", "FR", "ES"}
	sources := [...]string{"Intercom", "Web", "Shopify", "Import"}
	for i := range n {
		fmt.Fprintf(&buf, "u%07d,Customer %d,c%d@example.com,+48 600 %06d,%s,%s", i, i, i, i%1000000, cities[i%7], countries[i%7])
		vals := [...]string{fmt.Sprintf("plan%d", i%5), sources[i%4], fmt.Sprintf("tier%d", i%3), fmt.Sprintf("team%d", i%50), "en"}
		if unique {
			for j := range vals {
				vals[j] = fmt.Sprintf("v%d-%07d", j, i)
			}
		}
		for _, v := range vals[:meta] {
			buf.WriteString("," + v)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// BenchmarkMemoryPerCustomer imports 1,000,000 customers (100,000 with
// -short) through a Manager into store.NewMemory() and reports the heap
// they hold after a GC (HeapAlloc growth per customer), with 2 and with 5
// metadata fields whose values repeat (as plans and tiers do), and with 5
// fields of values every customer has its own. Run it with -benchtime 1x.
func BenchmarkMemoryPerCustomer(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	for _, c := range []struct {
		meta   int
		unique bool
	}{{2, false}, {5, false}, {5, true}} {
		name := fmt.Sprintf("meta=%d", c.meta)
		if c.unique {
			name += "/unique"
		}
		b.Run(name, func(b *testing.B) {
			data := memoryCSV(n, c.meta, c.unique)
			ctx := context.Background()
			var per float64
			for range b.N {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				before := ms.HeapAlloc
				st := store.NewMemory()
				m, err := distribution.NewManager(distribution.Config{Store: st})
				if err != nil {
					b.Fatal(err)
				}
				rep, err := m.ImportCustomers(ctx, bytes.NewReader(data), customer.ImportOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if rep.Done != n {
					b.Fatalf("imported %d of %d rows: %+v", rep.Done, n, rep.Failures)
				}
				runtime.GC()
				runtime.ReadMemStats(&ms)
				per += float64(ms.HeapAlloc-before) / float64(n)
				runtime.KeepAlive(st)
				runtime.KeepAlive(m)
			}
			b.ReportMetric(per/float64(b.N), "heap-B/customer")
		})
	}
}
