package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultUsageWindows is how many windows Budget.Usage reports when asked
// for none: a minute of Intercom's.
const DefaultUsageWindows = 6

// BudgetUsage is what a shared budget allows and how its recent windows
// were used, by replica and by label (distribution).
type BudgetUsage struct {
	// Key names the budget (BudgetConfig.Key).
	Key string
	// Limit is the calls allowed per window now: BudgetConfig.Limit, or
	// Intercom's X-RateLimit-Limit when lower.
	Limit int
	// Window is the windows' length.
	Window time.Duration
	// PausedUntil is set while a 429 keeps every replica waiting.
	PausedUntil time.Time
	// Windows are the latest windows that saw use, newest first.
	Windows []BudgetWindow
}

// BudgetWindow is the use of one window.
type BudgetWindow struct {
	// Start and End bound the window (calls go out from Margin after Start
	// to Margin before End).
	Start, End time.Time
	// Granted counts the calls replicas took from the budget; Calls those
	// they made with them (each replica records them within a second, so
	// the current window's Calls lag a little). Granted less Calls is
	// what replicas hold, or held unused when the window ended.
	Granted, Calls int
	// ByReplica is the use by replica (BudgetConfig.ReplicaID).
	ByReplica map[string]ReplicaUse
	// ByLabel counts the calls by label (intercom.WithCallLabel: a
	// distribution id; "" for calls without a label, such as a contacts
	// sync).
	ByLabel map[string]int
}

// ReplicaUse is one replica's use of one window.
type ReplicaUse struct {
	Granted, Calls int
}

// LogValue implements slog.LogValuer: the window's figures for a log line.
func (w BudgetWindow) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Time("start", w.Start), slog.Int("granted", w.Granted), slog.Int("calls", w.Calls)}
	for _, r := range slices.Sorted(maps.Keys(w.ByReplica)) {
		u := w.ByReplica[r]
		attrs = append(attrs, slog.Group("replica_"+r, slog.Int("granted", u.Granted), slog.Int("calls", u.Calls)))
	}
	for _, l := range slices.Sorted(maps.Keys(w.ByLabel)) {
		name := l
		if name == "" {
			name = "unlabelled"
		}
		attrs = append(attrs, slog.Int("label_"+name, w.ByLabel[l]))
	}
	return slog.GroupValue(attrs...)
}

// Usage returns the budget's limit and the use of its latest windows (at
// most windows of them; DefaultUsageWindows when windows <= 0), from the
// accounts every replica keeps in the database: what a host logs now and
// a dashboard shows later.
func (b *Budget) Usage(ctx context.Context, windows int) (BudgetUsage, error) {
	if windows <= 0 {
		windows = DefaultUsageWindows
	}
	u := BudgetUsage{Key: b.cfg.Key, Limit: b.cfg.Limit, Window: b.cfg.Window}
	var paused *time.Time
	err := b.pool.QueryRow(ctx, `SELECT lim, paused_until FROM rate_budgets WHERE key = $1`, b.cfg.Key).Scan(&u.Limit, &paused)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return u, nil // never used
	case err != nil:
		return u, fmt.Errorf("postgres: budget %q: %w", b.cfg.Key, ctxErr(ctx, err))
	}
	if p := fromTS(paused); p.After(b.clock.Now()) {
		u.PausedUntil = p
	}
	rows, err := b.pool.Query(ctx, `SELECT window_start, replica, label, granted, calls FROM rate_budget_use
		WHERE key = $1 AND window_start IN (
			SELECT DISTINCT window_start FROM rate_budget_use WHERE key = $1 ORDER BY window_start DESC LIMIT $2)
		ORDER BY window_start DESC`, b.cfg.Key, windows)
	if err != nil {
		return u, fmt.Errorf("postgres: budget %q: %w", b.cfg.Key, ctxErr(ctx, err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			start          time.Time
			replica, label string
			granted, calls int
		)
		if err := rows.Scan(&start, &replica, &label, &granted, &calls); err != nil {
			return u, err
		}
		if n := len(u.Windows); n == 0 || !u.Windows[n-1].Start.Equal(start) {
			u.Windows = append(u.Windows, BudgetWindow{Start: start, End: start.Add(b.cfg.Window),
				ByReplica: map[string]ReplicaUse{}, ByLabel: map[string]int{}})
		}
		w := &u.Windows[len(u.Windows)-1]
		w.Granted += granted
		w.Calls += calls
		r := w.ByReplica[replica]
		r.Granted, r.Calls = r.Granted+granted, r.Calls+calls
		w.ByReplica[replica] = r
		if calls > 0 {
			w.ByLabel[label] += calls
		}
	}
	if err := rows.Err(); err != nil {
		return u, fmt.Errorf("postgres: budget %q: %w", b.cfg.Key, ctxErr(ctx, err))
	}
	return u, nil
}
