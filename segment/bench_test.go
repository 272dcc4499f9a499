package segment_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

var benchNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

// benchCustomer is customer i of a synthetic population: a quarter come
// from Intercom, ltv spreads over 0..399, and a few other keys make the
// metadata map realistic.
func benchCustomer(i int) customer.Customer {
	sources := [...]string{"Intercom", "Web", "Shopify", "Import"}
	return customer.Customer{
		SourceID: fmt.Sprintf("user-%07d", i),
		Email:    fmt.Sprintf("user%d@example.com", i),
		Metadata: customer.Metadata{
			"source": sources[i%4],
			"ltv":    float64((i * 7) % 400),
			"plan":   "basic",
			"vip":    i%10 == 0,
		},
		CreatedAt: benchNow.Add(-time.Duration(i%1000) * time.Hour),
	}
}

func handwritten(c *customer.Customer) bool {
	if s, _ := c.Metadata["source"].(string); s != "Intercom" {
		return false
	}
	ltv, _ := c.Metadata["ltv"].(float64)
	return ltv > 100
}

const (
	benchFilter = `{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}},"metadata.ltv":{"conditions":{"$more_than":[100]}}}`
	benchExpr   = `metadata.source == "Intercom" && metadata.ltv > 100`
)

var sink bool

func benchMatch(b *testing.B, match func(c *customer.Customer) bool) {
	cs := make([]customer.Customer, 1000)
	for i := range cs {
		cs[i] = benchCustomer(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sink = match(&cs[i%len(cs)])
	}
	// One op is one customer checked.
}

func BenchmarkFilterHandwritten(b *testing.B) {
	benchMatch(b, handwritten)
}

func BenchmarkFilterJSON(b *testing.B) {
	m, err := segment.DefaultEvaluator{}.CompileFilter(segment.MustParseFilter(benchFilter))
	if err != nil {
		b.Fatal(err)
	}
	benchMatch(b, func(c *customer.Customer) bool { return m.Match(c, benchNow) })
}

func BenchmarkFilterExpr(b *testing.B) {
	m, err := segment.DefaultEvaluator{}.CompileExpression(benchExpr)
	if err != nil {
		b.Fatal(err)
	}
	benchMatch(b, func(c *customer.Customer) bool { return m.Match(c, benchNow) })
}

// BenchmarkFilterExprMixed is an expression that reads a built-in field
// besides metadata: its variables are copied into a pooled environment
// before each run (metadata-only expressions skip that step).
func BenchmarkFilterExprMixed(b *testing.B) {
	m, err := segment.DefaultEvaluator{}.CompileExpression(`metadata.source == "Intercom" && metadata.ltv > 100 && email != ""`)
	if err != nil {
		b.Fatal(err)
	}
	benchMatch(b, func(c *customer.Customer) bool { return m.Match(c, benchNow) })
}

// The rules agree with the handwritten function on the benchmark population.
func TestBenchRulesAgree(t *testing.T) {
	t.Parallel()
	fm, err := segment.DefaultEvaluator{}.CompileFilter(segment.MustParseFilter(benchFilter))
	if err != nil {
		t.Fatal(err)
	}
	em, err := segment.DefaultEvaluator{}.CompileExpression(benchExpr)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range 1000 {
		c := benchCustomer(i)
		want := handwritten(&c)
		if fm.Match(&c, benchNow) != want || em.Match(&c, benchNow) != want {
			t.Fatalf("customer %d: the rules disagree with the handwritten function (%v)", i, want)
		}
		if want {
			n++
		}
	}
	if n == 0 || n == 1000 {
		t.Fatalf("%d of 1000 match: the benchmark population does not exercise both outcomes", n)
	}
}

// populations caches in-memory customer stores by size: building a million
// customers takes a while and happens once per benchmark run.
var populations sync.Map // int -> *store.Memory

func population(b *testing.B, n int) *store.Memory {
	if st, ok := populations.Load(n); ok {
		return st.(*store.Memory)
	}
	st := store.NewMemory()
	batch := make([]customer.Customer, 0, 10000)
	for i := range n {
		batch = append(batch, benchCustomer(i))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := st.UpsertCustomers(context.Background(), batch, customer.UpsertOptions{}); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	populations.Store(n, st)
	runtime.GC() // settle: a collection of the new heap must not run inside the timed loop
	return st
}

// BenchmarkSyncMillion is a full first sync of one segment (a quarter of
// the customers are Intercom, 18% match) over 1,000,000 in-memory
// customers: read every customer, match, write the memberships. Run it with
// -benchtime=1x.
func BenchmarkSyncMillion(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	st := population(b, n)
	eng, err := segment.NewEngine(ctx, segment.Config{Store: st, Customers: st, BatchSize: 10000})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := eng.Create(ctx, segment.Segment{Name: fmt.Sprint("bench ", i), Type: segment.AutoUpdate, Filter: segment.MustParseFilter(benchFilter)})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		res, err := eng.Sync(ctx, s.ID, nil)
		if err != nil {
			b.Fatal(err)
		}
		if res.Checked != n || res.Entered == 0 {
			b.Fatalf("Sync = %+v", res)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/customer")
}

// BenchmarkCustomerChanged re-checks one upserted customer against 100 rule
// segments (half filter JSON, half expressions). One op is one
// CustomerChanged call; the customer alternates between two versions so
// that every call changes memberships (the costly case). The cost does not
// depend on the number of customers in the store.
func BenchmarkCustomerChanged(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			ctx := context.Background()
			customers := population(b, n)
			segs := store.NewMemory() // segments and memberships; customers come from the population
			eng, err := segment.NewEngine(ctx, segment.Config{Store: segs, Customers: customers})
			if err != nil {
				b.Fatal(err)
			}
			for i := range 100 {
				s := segment.Segment{Name: fmt.Sprint("rule ", i), Type: segment.AutoUpdate}
				if i%2 == 0 {
					s.Filter = segment.MustParseFilter(fmt.Sprintf(
						`{"junction":"and","metadata.source":{"conditions":{"$in":["Intercom","Web"]}},"metadata.ltv":{"conditions":{"$more_than":[%d]}}}`, i*4))
				} else {
					s.Expression = fmt.Sprintf(`metadata.plan == "basic" && metadata.ltv > %d`, i*4)
				}
				if _, err := eng.Create(ctx, s); err != nil {
					b.Fatal(err)
				}
			}
			var versions [2]customer.Customer
			for c, err := range customers.Customers(ctx, customer.ListOptions{Limit: 1}) {
				if err != nil {
					b.Fatal(err)
				}
				versions[0], versions[1] = c.Clone(), c.Clone()
			}
			versions[0].Metadata["ltv"], versions[1].Metadata["ltv"] = 0.0, 399.0
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				changes, err := eng.CustomerChanged(ctx, versions[(i+1)%2]) // starts rich: enters about 100 segments
				if err != nil {
					b.Fatal(err)
				}
				if len(changes) == 0 {
					b.Fatal("no membership changed")
				}
			}
		})
	}
}
