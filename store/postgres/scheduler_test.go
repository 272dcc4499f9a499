package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/store/postgres"
)

// runScheduler runs s until the test ends, sending handled job ids to the
// returned channel.
func runScheduler(t *testing.T, s *postgres.Scheduler, handle func(context.Context, distribution.Job) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, handle) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
}

func expectJob(t *testing.T, ran <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ran:
		if got != want {
			t.Fatalf("ran %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("job %q did not run", want)
	}
}

func expectNothing(t *testing.T, ran <-chan string) {
	t.Helper()
	select {
	case got := <-ran:
		t.Fatalf("ran %q, want nothing", got)
	case <-time.After(150 * time.Millisecond):
	}
}

// TestSchedulerDurable schedules with one Scheduler and runs with another
// (a restart, or another replica): jobs live in the database.
func TestSchedulerDurable(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	clk := distributiontest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := postgres.SchedulerConfig{PollInterval: 20 * time.Millisecond, Clock: clk, Logger: slog.Default()}
	before, err := postgres.NewScheduler(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	for _, j := range []distribution.Job{
		{ID: "a", Kind: "k", Target: "ta", RunAt: now.Add(time.Minute)},
		{ID: "b", Kind: "k", Target: "tb", RunAt: now.Add(2 * time.Minute)},
		{ID: "c", Kind: "k", Target: "tc", RunAt: now.Add(3 * time.Minute)},
		{ID: "a", Kind: "k", Target: "ta", RunAt: now.Add(5 * time.Minute)}, // reschedule
	} {
		if err := before.Schedule(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if err := before.Cancel(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := before.Cancel(ctx, "unknown"); err != nil {
		t.Fatalf("Cancel(unknown) = %v, want nil", err)
	}

	after, err := postgres.NewScheduler(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan string, 10)
	runScheduler(t, after, func(_ context.Context, j distribution.Job) error {
		if j.Target != "t"+j.ID || j.Kind != "k" {
			t.Errorf("job %+v lost its kind or target", j)
		}
		ran <- j.ID
		return nil
	})
	expectNothing(t, ran)
	clk.Advance(2 * time.Minute)
	expectJob(t, ran, "b")
	clk.Advance(2 * time.Minute) // +4m: a moved to +5m, c canceled
	expectNothing(t, ran)
	clk.Advance(time.Minute)
	expectJob(t, ran, "a")
	expectNothing(t, ran)
	// A job's row goes once its handler has returned.
	waitFor(t, "no job pending", func() bool {
		p, err := after.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(p) == 0
	})
}

// TestSchedulerReplicasRunEachJobOnce has three Schedulers share 300 due
// jobs.
func TestSchedulerReplicasRunEachJobOnce(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	var mu sync.Mutex
	count := map[string]int{}
	var total sync.WaitGroup
	const n = 300
	total.Add(n)
	for range 3 {
		s, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{PollInterval: 10 * time.Millisecond, MaxRunning: 4})
		if err != nil {
			t.Fatal(err)
		}
		runScheduler(t, s, func(_ context.Context, j distribution.Job) error {
			time.Sleep(time.Millisecond) // let the others claim meanwhile
			mu.Lock()
			count[j.ID]++
			mu.Unlock()
			total.Done()
			return nil
		})
	}
	s, _ := postgres.NewScheduler(pool, postgres.SchedulerConfig{})
	for i := range n {
		if err := s.Schedule(ctx, distribution.Job{ID: fmt.Sprint("j", i), Kind: "k", RunAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { total.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("jobs did not all run")
	}
	time.Sleep(100 * time.Millisecond) // a job run twice would show now
	mu.Lock()
	defer mu.Unlock()
	if len(count) != n {
		t.Fatalf("%d distinct jobs ran, want %d", len(count), n)
	}
	for id, c := range count {
		if c != 1 {
			t.Errorf("job %s ran %d times", id, c)
		}
	}
}

// TestSchedulerLeaseExpiry: a job claimed by a Scheduler that died runs
// again once its lease has expired, and not before.
func TestSchedulerLeaseExpiry(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	clk := distributiontest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := postgres.SchedulerConfig{PollInterval: 20 * time.Millisecond, Clock: clk, Lease: time.Minute}
	dead, _ := postgres.NewScheduler(pool, cfg)
	if err := dead.Schedule(ctx, distribution.Job{ID: "x", Kind: "k", RunAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	// The dead replica had claimed it (as its Run would) and vanished.
	if _, err := pool.Exec(ctx, `UPDATE jobs SET locked_by = 'dead', locked_until = $1`, clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	live, _ := postgres.NewScheduler(pool, cfg)
	ran := make(chan string, 4)
	runScheduler(t, live, func(_ context.Context, j distribution.Job) error { ran <- j.ID; return nil })
	expectNothing(t, ran)
	clk.Advance(61 * time.Second)
	expectJob(t, ran, "x")
}

// TestSchedulerRescheduleWhileRunning: a job rescheduled while its handler
// runs is not lost when the handler returns.
func TestSchedulerRescheduleWhileRunning(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	s, _ := postgres.NewScheduler(pool, postgres.SchedulerConfig{PollInterval: 20 * time.Millisecond})
	if err := s.Schedule(ctx, distribution.Job{ID: "x", Kind: "k", RunAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ran := make(chan string, 4)
	first := true
	runScheduler(t, s, func(ctx context.Context, j distribution.Job) error {
		if first {
			first = false
			if err := s.Schedule(ctx, distribution.Job{ID: "x", Kind: "k", RunAt: time.Now()}); err != nil {
				t.Error(err)
			}
		}
		ran <- j.ID
		return nil
	})
	expectJob(t, ran, "x")
	expectJob(t, ran, "x")
	expectNothing(t, ran)
}

// TestSchedulerNotifyWakesEarly: with an hour-long poll interval, a job
// scheduled from another Scheduler (another replica) runs at once because
// Schedule NOTIFYs the listeners.
func TestSchedulerNotifyWakesEarly(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	s, _ := postgres.NewScheduler(pool, postgres.SchedulerConfig{PollInterval: time.Hour})
	other, _ := postgres.NewScheduler(pool, postgres.SchedulerConfig{})
	// A first job, due already, shows that Run made its first claim.
	if err := other.Schedule(ctx, distribution.Job{ID: "first", Kind: "k", RunAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ran := make(chan string, 2)
	runScheduler(t, s, func(_ context.Context, j distribution.Job) error { ran <- j.ID; return nil })
	expectJob(t, ran, "first")
	time.Sleep(200 * time.Millisecond) // Run is waiting for a wake-up or the poll
	if err := other.Schedule(ctx, distribution.Job{ID: "woken", Kind: "k", RunAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	expectJob(t, ran, "woken")
}
