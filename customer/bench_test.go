package customer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
)

// benchSchema types the five metadata columns of the generated file.
var benchSchema = &customer.Schema{Properties: map[string]customer.Property{
	"tier":   {Type: customer.TypeString, Eq: []any{"bronze", "silver", "gold"}},
	"ltv":    {Type: customer.TypeNumber, Optional: true, Gte: ptr(0.0)},
	"vip":    {Type: customer.TypeBoolean, Optional: true},
	"signup": {Type: customer.TypeDatetime, Optional: true},
	"brands": {Type: customer.TypeString, Array: true, Optional: true},
}}

// benchHeader has 10 built-in columns and 5 metadata columns.
const benchHeader = "Source_id,Name,Email,Phone,Description,Birthdate,Address_line_1,City,Postal_Code,Country,tier,ltv,vip,signup,brands\n"

var tiers = [...]string{"bronze", "silver", "gold"}

// appendRow appends generated data row i.
func appendRow(b []byte, i int) []byte {
	b = append(b, "user-"...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = fmt.Appendf(b, ",Customer %d,user%d@example.com,+48 600 %06d,\"Imported, row %d\",19%02d-%02d-%02d,%d Main St,Warsaw,00-%03d,Poland,%s,%d.5,%t,2022-05-%02dT10:00:00Z,\"Nike,Fenty,Reebok\"\n",
		i, i, i%1000000, i, 50+i%50, 1+i%12, 1+i%28, i%1000, i%1000, tiers[i%3], i%5000, i%2 == 0, 1+i%28)
	return b
}

func genCSV(rows int) []byte {
	b := append(make([]byte, 0, rows*200), benchHeader...)
	for i := range rows {
		b = appendRow(b, i)
	}
	return b
}

// rowReader streams rows generated on the fly: a file of any size that is
// never in memory.
type rowReader struct {
	rows, next int
	buf, pend  []byte
}

func (r *rowReader) Read(p []byte) (int, error) {
	for len(r.pend) == 0 {
		if r.next > r.rows {
			return 0, io.EOF
		}
		r.buf = r.buf[:0]
		if r.next == 0 {
			r.buf = append(r.buf, benchHeader...)
		} else {
			for j := 0; j < 64 && r.next <= r.rows; j++ {
				r.buf = appendRow(r.buf, r.next-1)
				r.next++
			}
			r.pend = r.buf
			break
		}
		r.next++
		r.pend = r.buf
	}
	n := copy(p, r.pend)
	r.pend = r.pend[n:]
	return n, nil
}

// discard is a Writer that keeps nothing, to measure the importer alone.
type discard struct{}

func (discard) UpsertCustomers(_ context.Context, cs []customer.Customer, _ customer.UpsertOptions) ([]customer.Customer, error) {
	return cs, nil
}

const benchRows = 100_000

// cpuTime returns the CPU time (user and system) the process has used: on
// a shared machine it varies less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkParseCSV(b *testing.B) {
	data := genCSV(benchRows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		r.ReuseRecord = true
		n := 0
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchRows+1 {
			b.Fatalf("read %d records", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*benchRows), "cpu-ns/row")
}

func benchImport(b *testing.B, newWriter func() customer.Writer) {
	data := genCSV(benchRows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	for b.Loop() {
		rep, err := customer.Import(context.Background(), newWriter(), bytes.NewReader(data), customer.ImportOptions{Schema: benchSchema})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Done != benchRows {
			b.Fatalf("done %d, failures %v", rep.Done, rep.Failures[:min(3, len(rep.Failures))])
		}
	}
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*benchRows), "allocs/row")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*benchRows), "cpu-ns/row")
}

// BenchmarkImportCSV imports 100,000 rows into the memory store.
func BenchmarkImportCSV(b *testing.B) {
	benchImport(b, func() customer.Writer { return store.NewMemory() })
}

// BenchmarkImportCSVDiscard imports the same rows into a writer that
// keeps nothing: the importer's own cost.
func BenchmarkImportCSVDiscard(b *testing.B) {
	benchImport(b, func() customer.Writer { return discard{} })
}

// BenchmarkImportMemory1M streams 1,000,000 generated rows (about 200 MB)
// into a discarding writer and reports the peak heap in use, sampled after
// every batch: it must stay flat (a few MB), not grow with the file.
func BenchmarkImportMemory1M(b *testing.B) {
	const rows = 1_000_000
	for b.Loop() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		var peak uint64
		var bytesRead int64
		rep, err := customer.Import(context.Background(), discard{}, &rowReader{rows: rows}, customer.ImportOptions{
			Schema:    benchSchema,
			BatchSize: 500,
			Progress: func(p customer.Progress) {
				if (p.Done/500)%20 == 0 { // every 10,000 rows
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				}
				bytesRead = p.Bytes
			},
		})
		if err != nil || rep.Done != rows {
			b.Fatalf("done %d, err %v", rep.Done, err)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-heap-growth-MB")
		b.ReportMetric(float64(bytesRead)/(1<<20), "file-MB")
	}
}

// BenchmarkImportFloor is the least any import into this data model does:
// bare encoding/csv, one Customer with a Metadata map of the five typed
// values per row (no validation, no schema, no error reporting), kept in
// two maps as a store would. It bounds what Import can reach.
func BenchmarkImportFloor(b *testing.B) {
	data := genCSV(benchRows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		byID := map[string]*customer.Customer{}
		bySrc := map[string]*customer.Customer{}
		r := csv.NewReader(bytes.NewReader(data))
		r.ReuseRecord = true
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			c := &customer.Customer{ID: customer.NewID(), SourceID: rec[0], Name: rec[1], Email: rec[2], Phone: rec[3], Description: rec[4],
				Address: customer.Address{Line1: rec[6], City: rec[7], PostalCode: rec[8], Country: rec[9]}}
			c.Birthdate, _ = customer.ParseDate(rec[5])
			ltv, _ := strconv.ParseFloat(rec[11], 64)
			signup, _ := time.Parse(time.RFC3339, rec[13])
			brands := strings.Split(rec[14], ",")
			arr := make([]any, len(brands))
			for i, s := range brands {
				arr[i] = s
			}
			c.Metadata = customer.Metadata{"tier": rec[10], "ltv": ltv, "vip": rec[12] == "true", "signup": signup, "brands": arr}
			byID[c.ID] = c
			bySrc[c.SourceID] = c
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
}
