package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// queryStats is a pgx tracer that sums time per statement (for
// profiling benchmarks: CODEDROP_PG_TRACE=1).
type queryStats struct {
	mu sync.Mutex
	m  map[string]*[2]int64
}

type traceKey struct{}

func (q *queryStats) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s := strings.Join(strings.Fields(d.SQL), " ")
	if len(s) > 70 {
		s = s[:70]
	}
	return context.WithValue(ctx, traceKey{}, [2]any{s, time.Now()})
}

func (q *queryStats) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	v, _ := ctx.Value(traceKey{}).([2]any)
	s, _ := v[0].(string)
	start, _ := v[1].(time.Time)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = map[string]*[2]int64{}
	}
	e := q.m[s]
	if e == nil {
		e = &[2]int64{}
		q.m[s] = e
	}
	e[0]++
	e[1] += int64(time.Since(start))
}

// TraceCopyFromStart and TraceCopyFromEnd count a COPY as a statement
// named after its table.
func (q *queryStats) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, [2]any{"COPY " + d.TableName.Sanitize(), time.Now()})
}

func (q *queryStats) TraceCopyFromEnd(ctx context.Context, c *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	q.TraceQueryEnd(ctx, c, pgx.TraceQueryEndData{})
}

// TraceBatchStart and TraceBatchEnd count a batch as one statement named
// after its queries (TraceBatchQuery ignores them one by one).
func (q *queryStats) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	var names []string
	for _, qq := range d.Batch.QueuedQueries {
		names = append(names, strings.Join(strings.Fields(qq.SQL), " "))
	}
	s := "BATCH " + strings.Join(names, "; ")
	if len(s) > 70 {
		s = s[:70]
	}
	return context.WithValue(ctx, traceKey{}, [2]any{s, time.Now()})
}

func (q *queryStats) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (q *queryStats) TraceBatchEnd(ctx context.Context, c *pgx.Conn, _ pgx.TraceBatchEndData) {
	q.TraceQueryEnd(ctx, c, pgx.TraceQueryEndData{})
}

func (q *queryStats) print() {
	q.mu.Lock()
	defer q.mu.Unlock()
	type row struct {
		s    string
		n, d int64
	}
	var rows []row
	for s, e := range q.m {
		rows = append(rows, row{s, e[0], e[1]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].d > rows[j].d })
	for _, r := range rows {
		fmt.Fprintf(os.Stderr, "%8d %10v %8v/q  %s\n", r.n, time.Duration(r.d).Round(time.Millisecond), time.Duration(r.d/r.n).Round(time.Microsecond), r.s)
	}
}

var tracer = &queryStats{}

// reset forgets the statements counted so far.
func (q *queryStats) reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.m = nil
}
