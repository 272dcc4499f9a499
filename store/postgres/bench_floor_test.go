package postgres_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store/postgres"
)

// rawRows turns the rows of importCSV into what BenchmarkRawCopyPostgres
// copies: id, source_id, name, email, phone, metadata (JSON text),
// created_at and updated_at, with no validation.
func rawRows(b *testing.B, data []byte) [][]any {
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		b.Fatal(err)
	}
	keys := append([]string(nil), head[4:]...)
	now := time.Now()
	var rows [][]any
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			b.Fatal(err)
		}
		meta := make(map[string]string, len(keys))
		for i, k := range keys {
			meta[k] = rec[4+i]
		}
		js, err := json.Marshal(meta)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, []any{customer.NewID(), rec[0], rec[1], rec[2], rec[3], string(js), now, now})
	}
}

// rawCopy copies rows into pool's customers table with pgx's CopyFrom.
func rawCopy(b *testing.B, pool *pgxpool.Pool, rows [][]any) {
	n, err := pool.CopyFrom(context.Background(), pgx.Identifier{"customers"},
		[]string{"id", "source_id", "name", "email", "phone", "metadata", "created_at", "updated_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	if int(n) != len(rows) {
		b.Fatalf("copied %d of %d rows", n, len(rows))
	}
}

// BenchmarkRawCopyPostgres is the floor of a PostgreSQL import: pgx's
// CopyFrom of the rows BenchmarkImportCSVPostgres imports (100,000; parsed
// and encoded before the clock starts, no validation) into the same
// customers table with the same indexes, in one COPY.
func BenchmarkRawCopyPostgres(b *testing.B) {
	testDSN(b)
	rows := rawRows(b, importCSV(benchN(b, 100_000)))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		pool := newPool(b)
		b.StartTimer()
		rawCopy(b, pool, rows)
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkImportCSVPostgresVsRawCopy runs BenchmarkImportCSVPostgres's
// import (1000-row batches, each its own transaction), and alternately
// BenchmarkRawCopyPostgres's copy (one COPY) and the same CopyFrom in
// 1000-row transactions, each into a fresh schema, and reports the three
// and the import's ratios (in time) to the two floors, with the client's
// and the server's CPU time per row.
func BenchmarkImportCSVPostgresVsRawCopy(b *testing.B) {
	testDSN(b)
	n := benchN(b, 100_000)
	if testing.Short() {
		n = benchN(b, 20_000)
	}
	data := importCSV(n)
	rows := rawRows(b, data)
	ctx := context.Background()
	const (
		sideImport = iota
		sideRaw
		sideRawBatched
	)
	names := [...]string{"import", "raw", "raw1000"}
	var wall [3]time.Duration
	var cpu [3][2]time.Duration // [side][client, server]
	for i := range b.N {
		order := []int{sideImport, sideRaw, sideRawBatched}
		k := (int(pairRuns.Add(1)) + i) % 3
		order = append(order[k:], order[:k]...) // rotate who goes first
		for _, side := range order {
			pool := newPool(b)
			c0, s0 := procCPU(), serverCPU(b, pool)
			start := time.Now()
			switch side {
			case sideImport:
				rep, err := customer.Import(ctx, postgres.New(pool), bytes.NewReader(data), customer.ImportOptions{BatchSize: 1000})
				if err != nil {
					b.Fatal(err)
				}
				if rep.Done != n {
					b.Fatalf("imported %d of %d rows: %+v", rep.Done, n, rep.Failures)
				}
			case sideRaw:
				rawCopy(b, pool, rows)
			case sideRawBatched:
				for j := 0; j < len(rows); j += 1000 {
					rawCopy(b, pool, rows[j:min(j+1000, len(rows))])
				}
			}
			wall[side] += time.Since(start)
			cpu[side][0] += procCPU() - c0
			cpu[side][1] += serverCPU(b, pool) - s0
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n*b.N) }
	for side, name := range names {
		b.ReportMetric(per(wall[side]), name+"-ns/row")
		b.ReportMetric(per(cpu[side][0]), name+"-client-cpu-ns/row")
		b.ReportMetric(per(cpu[side][1]), name+"-server-cpu-ns/row")
	}
	b.ReportMetric(wall[sideImport].Seconds()/wall[sideRaw].Seconds(), "import/raw")
	b.ReportMetric(wall[sideImport].Seconds()/wall[sideRawBatched].Seconds(), "import/raw1000")
}
