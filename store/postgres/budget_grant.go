package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// grant is one transaction on the budget's row: it applies fb, gives out
// up to want calls (none for want 0: a write of fb and calls only) and
// records them with the calls this replica made, by window and label.
func (b *Budget) grant(ctx context.Context, want int, fb feedback, calls map[useKey]int) (grant, error) {
	var g grant
	err := inTx(ctx, b.pool, func(tx pgx.Tx) error {
		now := b.clock.Now()
		row, err := b.lockRow(ctx, tx, now)
		if err != nil {
			return err
		}
		g = b.rules.grant(row, now, want, fb)
		r := g.row
		var phase *int64
		if r.phaseKnown {
			p := r.phase.Milliseconds()
			phase = &p
		}
		batch := &pgx.Batch{}
		batch.Queue(`UPDATE rate_budgets SET window_start = $2, used = $3, lim = $4, phase_ms = $5, paused_until = $6 WHERE key = $1`,
			b.cfg.Key, ts0(r.windowStart), r.used, r.lim, phase, ts(r.pausedUntil))
		if g.rolled {
			batch.Queue(`DELETE FROM rate_budget_use WHERE key = $1 AND window_start < $2`, b.cfg.Key, ts0(now.Add(-b.cfg.Retention)))
		}
		if q := b.useRows(g, calls); len(q.windows) > 0 {
			batch.Queue(`INSERT INTO rate_budget_use (key, window_start, replica, label, granted, calls)
				SELECT $1, w, $2, l, g, c FROM unnest($3::timestamptz[], $4::text[], $5::int[], $6::int[]) AS u(w, l, g, c)
				ON CONFLICT (key, window_start, replica, label) DO UPDATE
					SET granted = rate_budget_use.granted + excluded.granted, calls = rate_budget_use.calls + excluded.calls`,
				b.cfg.Key, b.cfg.ReplicaID, q.windows, q.labels, q.granted, q.calls)
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		if g.rolled {
			b.log.Debug("Intercom budget: new window", "key", b.cfg.Key, "start", r.windowStart, "limit", r.lim, "replica", b.cfg.ReplicaID)
		}
		return nil
	})
	if err != nil {
		return grant{}, ctxErr(ctx, err)
	}
	return g, nil
}

// lockRow reads the budget's row (created when missing) and locks it
// until the transaction ends.
func (b *Budget) lockRow(ctx context.Context, tx pgx.Tx, now time.Time) (budgetRow, error) {
	var (
		row    budgetRow
		phase  *int64
		paused *time.Time
	)
	err := tx.QueryRow(ctx, `INSERT INTO rate_budgets (key, window_start, lim) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET key = excluded.key
		RETURNING window_start, used, lim, phase_ms, paused_until`,
		b.cfg.Key, ts0(windowAt(now, b.cfg.Window, 0)), b.cfg.Limit).Scan(&row.windowStart, &row.used, &row.lim, &phase, &paused)
	if err != nil {
		return row, err
	}
	if phase != nil {
		row.phase, row.phaseKnown = time.Duration(*phase)*time.Millisecond, true
	}
	row.pausedUntil = fromTS(paused)
	return row, nil
}

// useQuery is rate_budget_use rows to add, as columns.
type useQuery struct {
	windows        []time.Time
	labels         []string
	granted, calls []int32
}

// useRows returns the accounts to add: the calls by window and label, and
// g's calls given out (on the window's row with an empty label).
func (b *Budget) useRows(g grant, calls map[useKey]int) useQuery {
	var q useQuery
	add := func(window int64, label string, granted, n int) {
		q.windows = append(q.windows, time.Unix(0, window).Truncate(time.Microsecond))
		q.labels = append(q.labels, label)
		q.granted, q.calls = append(q.granted, int32(granted)), append(q.calls, int32(n))
	}
	gk := useKey{g.windowStart.UnixNano(), ""}
	if g.n > 0 {
		add(gk.window, "", g.n, calls[gk])
	}
	for k, n := range calls {
		if g.n > 0 && k == gk {
			continue // with the grant
		}
		add(k.window, k.label, 0, n)
	}
	return q
}
