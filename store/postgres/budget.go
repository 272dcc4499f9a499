package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/internal/ids"
)

// Defaults of BudgetConfig's zero values.
const (
	// DefaultBudgetKey names the budget when BudgetConfig.Key is empty.
	DefaultBudgetKey = "intercom"
	// DefaultBudgetLimit is Intercom's default app limit, 10,000 calls a
	// minute, per 10-second window.
	DefaultBudgetLimit = 10000 / 6
	// DefaultBudgetWindow is the length of Intercom's windows.
	DefaultBudgetWindow = 10 * time.Second
	// DefaultBudgetMargin is left unused at each end of a window.
	DefaultBudgetMargin = time.Second
	// DefaultBudgetRetention is how long the accounts of Usage are kept.
	DefaultBudgetRetention = time.Hour
)

// flushEvery bounds how long a replica keeps the calls it made before it
// records them for Usage (they go with its next grant when sooner).
const flushEvery = time.Second

// BudgetConfig configures [NewBudget]. Replicas sharing a budget should
// use the same Key, Limit, Window and Margin. Every zero value is a
// documented default.
type BudgetConfig struct {
	// Key names the budget: one per Intercom app (workspace) whose limit
	// the replicas share. Default DefaultBudgetKey.
	Key string
	// ReplicaID names this replica in the accounts (Usage); give it the
	// Manager's distribution.Config.ReplicaID. Default: a random "rep_..."
	// id.
	ReplicaID string
	// Limit is the calls allowed per window; default DefaultBudgetLimit
	// (1,666). Intercom's X-RateLimit-Limit, when lower, lowers it for
	// every replica.
	Limit int
	// Window is the length of Intercom's accounting windows; default
	// DefaultBudgetWindow (10s).
	Window time.Duration
	// Margin is left unused at both ends of every window (default
	// DefaultBudgetMargin, a second): Intercom's X-RateLimit-Reset is in
	// whole seconds, truncated or rounded, so its real boundary may be up
	// to a second either side of the one it names; the margin also covers
	// the clocks of replicas and Intercom. Less than half the Window.
	Margin time.Duration
	// MaxBlock bounds how many calls a replica takes from the database at
	// once (it takes about twice as many as it has callers waiting);
	// default a tenth of Limit, at most 32. Larger blocks mean fewer round
	// trips, and more calls held by one replica when its work ends.
	MaxBlock int
	// Retention is how long the accounts behind Usage are kept; default
	// DefaultBudgetRetention (an hour).
	Retention time.Duration
	// Clock tells the time and waits; default the system clock. Replicas
	// need synchronized clocks (NTP).
	Clock distribution.Clock
	// Logger receives database errors and window changes; default:
	// discarded.
	Logger *slog.Logger
}

// Budget is an intercom.RateLimiter that replicas of a host share through
// PostgreSQL, so that together they use Intercom's rate limit in full and
// are rarely refused. Give it to every replica's client as
// intercom.Config.RateLimiter.
//
// The budget is one row (rate_budgets) per Key: the current window, how
// many of its calls were given out, the limit, and the windows' phase as
// learned from X-RateLimit-Reset. A replica takes calls in small blocks
// (a transaction under the row's lock), keeps them in memory and hands
// them to its callers; calls are given out only from Margin after a
// window starts to Margin before it ends, so that they land in one of
// Intercom's windows whichever way Intercom rounded its reset. What
// Intercom answers is shared too: a lower X-RateLimit-Limit, calls it
// counted that the budget did not give out (another program on the same
// app), and a 429, which closes the window for every replica until its
// reset and the margin. When the window is used up, callers wait for the
// next one; no busy loop.
//
// Usage reports, per window, what each replica took and the calls made
// per label (intercom.WithCallLabel: package distribution labels calls
// with the distribution id).
//
// It is safe for concurrent use. Create it with [NewBudget].
type Budget struct {
	pool  *pgxpool.Pool
	cfg   BudgetConfig
	rules budgetRules
	clock distribution.Clock
	log   *slog.Logger

	mu       sync.Mutex
	tokens   int       // calls given out and not taken
	win      time.Time // the window they belong to
	from     time.Time // they may be taken from...
	until    time.Time // ...until
	next     time.Time // no call before (the window is used up, a 429, an error)
	nextWake wakeAt    // one timer for the callers waiting for next
	fetch    chan struct{}
	waiting  int // callers in Wait
	failures int // grants failed in a row
	phase    time.Duration
	known    bool     // phase is known
	fb       feedback // for the database, with the next grant
	calls    map[useKey]int
	flushing bool // a flush is armed
}

// useKey is what calls are counted by for Usage: the window (its start
// in Unix nanoseconds) and the label.
type useKey struct {
	window int64
	label  string
}

// wakeAt is a channel closed at a time.
type wakeAt struct {
	at time.Time
	ch chan struct{}
}

var _ intercom.RateLimiter = (*Budget)(nil)

// NewBudget returns a Budget over pool (migrated with [Migrate]). It does
// no I/O. Invalid configuration fails with an error wrapping
// distribution.ErrInvalid naming the field.
func NewBudget(pool *pgxpool.Pool, cfg BudgetConfig) (*Budget, error) {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("postgres: BudgetConfig.%s: %v %s: %w", field, v, why, distribution.ErrInvalid)
	}
	switch {
	case pool == nil:
		return nil, fmt.Errorf("postgres: NewBudget: nil pool: %w", distribution.ErrInvalid)
	case cfg.Limit < 0:
		return nil, bad("Limit", cfg.Limit, "is negative")
	case cfg.Window < 0:
		return nil, bad("Window", cfg.Window, "is negative")
	case cfg.Margin < 0:
		return nil, bad("Margin", cfg.Margin, "is negative")
	case cfg.MaxBlock < 0:
		return nil, bad("MaxBlock", cfg.MaxBlock, "is negative")
	case cfg.Retention < 0:
		return nil, bad("Retention", cfg.Retention, "is negative")
	}
	cfg.Key = or(cfg.Key, DefaultBudgetKey)
	cfg.ReplicaID = or(cfg.ReplicaID, ids.New("rep"))
	cfg.Limit = or(cfg.Limit, DefaultBudgetLimit)
	cfg.Window = or(cfg.Window, DefaultBudgetWindow)
	cfg.Margin = or(cfg.Margin, DefaultBudgetMargin)
	cfg.MaxBlock = or(cfg.MaxBlock, max(1, min(32, cfg.Limit/10)))
	cfg.Retention = or(cfg.Retention, DefaultBudgetRetention)
	if 2*cfg.Margin >= cfg.Window {
		return nil, bad("Margin", cfg.Margin, fmt.Sprintf("leaves nothing of a %v window", cfg.Window))
	}
	b := &Budget{pool: pool, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, calls: map[useKey]int{},
		rules: budgetRules{window: cfg.Window, margin: cfg.Margin, limit: cfg.Limit}}
	if b.clock == nil {
		b.clock = distribution.SystemClock{}
	}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return b, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Wait implements intercom.RateLimiter: it takes one call from the
// replica's block, taking a new block from the database when it is empty,
// and waits for the next window when the budget is used up.
func (b *Budget) Wait(ctx context.Context) error {
	label := intercom.CallLabel(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting++
	defer func() { b.waiting-- }()
	for {
		now := b.clock.Now()
		if b.tokens > 0 && !now.Before(b.from) && now.Before(b.until) && !now.Before(b.next) {
			b.tokens--
			b.calls[useKey{b.win.UnixNano(), label}]++
			b.armFlush()
			return nil
		}
		var wake <-chan struct{}
		switch {
		case now.Before(b.next):
			wake = b.wakeAt(b.next)
		case b.tokens > 0 && now.Before(b.from):
			wake = b.wakeAt(b.from)
		case b.fetch != nil:
			wake = b.fetch
		default:
			b.tokens = 0 // none, or their window is over
			b.fetch = make(chan struct{})
			wake = b.fetch
			go b.refill(max(1, min(b.cfg.MaxBlock, 2*b.waiting)))
		}
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		b.mu.Lock()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// wakeAt returns a channel closed at t (one timer for all who wait for the
// same time).
func (b *Budget) wakeAt(t time.Time) <-chan struct{} {
	if b.nextWake.ch == nil || !b.nextWake.at.Equal(t) {
		ch := make(chan struct{})
		b.clock.AfterFunc(t.Sub(b.clock.Now()), func() { close(ch) })
		b.nextWake = wakeAt{at: t, ch: ch}
	}
	return b.nextWake.ch
}

// refill takes up to want calls from the database for the callers
// waiting, with what this replica heard and counted meanwhile.
func (b *Budget) refill(want int) {
	b.mu.Lock()
	fb, calls := b.take()
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := b.grant(ctx, want, fb, calls)
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() { close(b.fetch); b.fetch = nil }()
	now := b.clock.Now()
	if err != nil {
		b.putBack(fb, calls)
		b.failures++
		wait := min(100*time.Millisecond<<min(b.failures-1, 6), 5*time.Second)
		b.next = now.Add(wait)
		b.log.Warn("taking calls from the shared Intercom budget; trying again", "in", wait, "err", err)
		return
	}
	b.failures = 0
	if !g.windowStart.Equal(b.win) {
		b.tokens = 0
	}
	b.win, b.from, b.until = g.windowStart, g.from, g.until
	b.tokens += g.n
	b.phase, b.known = g.row.phase, g.row.phaseKnown
	if g.n == 0 {
		b.next = g.retryAt
		if !b.next.After(now) {
			b.next = now.Add(10 * time.Millisecond)
		}
	}
}

// take returns (and clears) what is to be written with the next grant.
func (b *Budget) take() (feedback, map[useKey]int) {
	fb, calls := b.fb, b.calls
	b.fb, b.calls = feedback{}, map[useKey]int{}
	return fb, calls
}

// putBack restores what a failed write was to carry.
func (b *Budget) putBack(fb feedback, calls map[useKey]int) {
	b.fb.merge(fb)
	for k, n := range calls {
		b.calls[k] += n
	}
}

// armFlush makes sure the calls counted are written within flushEvery.
func (b *Budget) armFlush() {
	if b.flushing {
		return
	}
	b.flushing = true
	b.clock.AfterFunc(flushEvery, func() { b.flush(context.Background()) })
}

// flush writes what this replica counted and heard, if anything.
func (b *Budget) flush(ctx context.Context) {
	b.mu.Lock()
	b.flushing = false
	if len(b.calls) == 0 && b.fb.empty() {
		b.mu.Unlock()
		return
	}
	fb, calls := b.take()
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := b.grant(ctx, 0, fb, calls); err != nil {
		b.mu.Lock()
		b.putBack(fb, calls)
		b.mu.Unlock()
		b.log.Warn("recording the use of the shared Intercom budget", "err", err)
	}
}

// Observe implements intercom.RateLimiter. It learns the windows' phase
// from X-RateLimit-Reset and Intercom's count of the window from
// X-RateLimit-Remaining (both written with the next grant). A window
// Intercom says is used up (no calls remaining, or a 429) is closed here
// at once until its reset and the margin; a 429 is written to the
// database at once, closing it for every replica.
func (b *Budget) Observe(ctx context.Context, s intercom.RateLimitStatus) {
	if s.Reset.IsZero() {
		return // nothing to place in time
	}
	b.mu.Lock()
	if p := phaseOf(s.Reset, b.cfg.Window); !b.known || p != b.phase {
		b.phase, b.known = p, true
		b.fb.phase, b.fb.phaseSet = p, true
		if phaseOf(b.win, b.cfg.Window) != p {
			b.tokens = 0 // given out for windows Intercom does not keep
		}
	}
	if s.Limit > 0 {
		b.fb.limit = s.Limit
	}
	var heard feedback
	switch {
	case s.Refused:
		heard.end, heard.used = s.Reset, max(s.Limit, b.cfg.Limit)
	case s.Remaining >= 0 && s.Limit > 0:
		heard.end, heard.used = s.Reset, s.Limit-s.Remaining
	}
	exhausted := s.Refused || s.Remaining == 0
	if exhausted {
		resume := s.Reset.Add(b.cfg.Margin)
		if resume.After(b.next) {
			b.next = resume
		}
		if s.Reset.Equal(b.win.Add(b.cfg.Window)) {
			b.tokens = 0
		}
		if s.Refused {
			heard.pausedUntil = resume
		}
	}
	b.fb.merge(heard)
	b.mu.Unlock()
	if exhausted {
		b.flush(ctx) // tell the other replicas now
	}
}
