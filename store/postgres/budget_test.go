package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/store/postgres"
)

// budgetBase is a whole multiple of 10 seconds.
var budgetBase = time.Unix(1_800_000_000, 0)

// newBudgets returns one Budget per replica name over pool, sharing one
// key, 10 calls per 10-second window, on clk.
func newBudgets(t *testing.T, pool *pgxpool.Pool, clk distribution.Clock, names ...string) []*postgres.Budget {
	t.Helper()
	var out []*postgres.Budget
	for _, name := range names {
		b, err := postgres.NewBudget(pool, postgres.BudgetConfig{ReplicaID: name, Limit: 10, MaxBlock: 3, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// waitAsync runs b.Wait(ctx) and returns a channel with its result.
func waitAsync(ctx context.Context, b *postgres.Budget) <-chan error {
	done := make(chan error, 1)
	go func() { done <- b.Wait(ctx) }()
	return done
}

// blocked fails t unless done stays empty while the budget waits on clk.
func blocked(t *testing.T, clk *distributiontest.FakeClock, done <-chan error, timers int) {
	t.Helper()
	waitFor(t, "Wait to wait on the clock", func() bool { return clk.Pending() >= timers || len(done) > 0 })
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v, want it to wait for the next window", err)
	default:
	}
}

func recv(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
	}
}

// TestBudgetSharedByReplicas: two replicas take calls from one window of
// 10 in small blocks; together they never get more, the one that finds it
// used up waits for the next window (after the margin), and Usage tells
// who used what, by replica and by label.
func TestBudgetSharedByReplicas(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	clk := distributiontest.NewFakeClock(budgetBase.Add(2 * time.Second))
	bs := newBudgets(t, pool, clk, "a", "b")
	ctxs := []context.Context{intercom.WithCallLabel(context.Background(), "dst_1"), intercom.WithCallLabel(context.Background(), "dst_2")}
	// a and b in turn: each takes blocks of 2 (twice its one caller), so
	// the 9th call is a's from its last block and b's 5th finds none.
	for i := range 9 {
		if err := bs[i%2].Wait(ctxs[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	done := waitAsync(ctxs[1], bs[1])
	blocked(t, clk, done, 2) // its flush timer and the wait
	clk.Advance(9*time.Second - time.Millisecond)
	blocked(t, clk, done, 1)
	clk.Advance(time.Millisecond) // +11s: the next window, plus the margin
	recv(t, done)

	var u postgres.BudgetUsage
	waitFor(t, "the calls to be recorded", func() bool {
		var err error
		if u, err = bs[0].Usage(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		return len(u.Windows) == 2 && u.Windows[1].Calls == 9 && u.Windows[0].Granted > 0
	})
	w := u.Windows[1] // the first window
	if !w.Start.Equal(budgetBase) || w.Granted != 10 || u.Limit != 10 {
		t.Errorf("first window %+v (limit %d), want 10 granted from %v", w, u.Limit, budgetBase)
	}
	if a, b := w.ByReplica["a"], w.ByReplica["b"]; a != (postgres.ReplicaUse{Granted: 6, Calls: 5}) || b != (postgres.ReplicaUse{Granted: 4, Calls: 4}) {
		t.Errorf("by replica: a %+v, b %+v; want a 6 granted 5 made, b 4 and 4", a, b)
	}
	if w.ByLabel["dst_1"] != 5 || w.ByLabel["dst_2"] != 4 {
		t.Errorf("by label %v, want dst_1 5, dst_2 4", w.ByLabel)
	}
}

// TestBudget429ClosesWindowForAll: a 429 heard by one replica closes the
// window for every replica until Intercom's reset and the margin.
func TestBudget429ClosesWindowForAll(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	clk := distributiontest.NewFakeClock(budgetBase.Add(2 * time.Second))
	bs := newBudgets(t, pool, clk, "a", "b")
	ctx := context.Background()
	if err := bs[0].Wait(ctx); err != nil {
		t.Fatal(err)
	}
	bs[0].Observe(ctx, intercom.RateLimitStatus{At: clk.Now(), Limit: 10, Remaining: 0, Reset: budgetBase.Add(10 * time.Second), Refused: true})
	u, err := bs[1].Usage(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := budgetBase.Add(11 * time.Second); !u.PausedUntil.Equal(want) {
		t.Errorf("PausedUntil = %v, want %v (the reset and the margin)", u.PausedUntil, want)
	}
	a, b := waitAsync(ctx, bs[0]), waitAsync(ctx, bs[1])
	blocked(t, clk, a, 2)
	blocked(t, clk, b, 3)
	clk.Advance(9 * time.Second)
	recv(t, a)
	recv(t, b)
}

// TestBudgetLearnsPhase: X-RateLimit-Reset moves the windows to
// Intercom's: calls go out a margin after its boundaries, not the
// budget's first guess.
func TestBudgetLearnsPhase(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	clk := distributiontest.NewFakeClock(budgetBase.Add(2 * time.Second))
	bs := newBudgets(t, pool, clk, "a")
	ctx := context.Background()
	// Intercom's window ends at +3s: the budget's window is [-7s, +3s),
	// whose calls go out until +2s; the next from +4s.
	bs[0].Observe(ctx, intercom.RateLimitStatus{At: clk.Now(), Limit: 10, Remaining: 7, Reset: budgetBase.Add(3 * time.Second)})
	done := waitAsync(ctx, bs[0])
	blocked(t, clk, done, 1)
	clk.Advance(2*time.Second - time.Millisecond)
	blocked(t, clk, done, 1)
	clk.Advance(time.Millisecond)
	recv(t, done)
	u, err := bs[0].Usage(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Windows) != 1 || !u.Windows[0].Start.Equal(budgetBase.Add(3*time.Second)) {
		t.Errorf("windows %+v, want one from +3s", u.Windows)
	}
}

func TestNewBudgetValidation(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	for _, cfg := range []postgres.BudgetConfig{
		{Limit: -1}, {Window: -time.Second}, {Margin: 5 * time.Second}, {MaxBlock: -2}, {Retention: -time.Hour},
	} {
		if _, err := postgres.NewBudget(pool, cfg); !errors.Is(err, distribution.ErrInvalid) {
			t.Errorf("NewBudget(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
	if _, err := postgres.NewBudget(nil, postgres.BudgetConfig{}); !errors.Is(err, distribution.ErrInvalid) {
		t.Errorf("NewBudget(nil pool) = %v, want ErrInvalid", err)
	}
}
