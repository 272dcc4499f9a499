package distribution

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestTimerScheduler(t *testing.T) {
	t.Parallel()
	clk := NewFakeClock(time.Time{})
	s := NewTimerScheduler(clk)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan string, 10)
	done := make(chan error)
	go func() {
		done <- s.Run(ctx, func(_ context.Context, j Job) error { ran <- j.ID; return nil })
	}()
	now := clk.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Schedule(ctx, Job{ID: "a", RunAt: now.Add(time.Minute)}))
	must(s.Schedule(ctx, Job{ID: "b", RunAt: now.Add(2 * time.Minute)}))
	must(s.Schedule(ctx, Job{ID: "c", RunAt: now.Add(3 * time.Minute)}))
	must(s.Schedule(ctx, Job{ID: "a", RunAt: now.Add(5 * time.Minute)})) // reschedule
	must(s.Cancel(ctx, "c"))

	clk.Advance(2 * time.Minute)
	if got := <-ran; got != "b" {
		t.Fatalf("ran %q at +2m, want b", got)
	}
	clk.Advance(2 * time.Minute) // +4m: a was moved to +5m, c canceled
	select {
	case got := <-ran:
		t.Fatalf("ran %q at +4m, want nothing", got)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(time.Minute)
	if got := <-ran; got != "a" {
		t.Fatalf("ran %q at +5m, want a", got)
	}
	if n := len(s.Pending()); n != 0 {
		t.Fatalf("Pending = %d, want 0", n)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

func TestTimerSchedulerQueuesJobsDueBeforeRun(t *testing.T) {
	t.Parallel()
	s := NewTimerScheduler(NewFakeClock(time.Time{}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Schedule(ctx, Job{ID: "past", RunAt: time.Time{}}); err != nil {
		t.Fatal(err)
	}
	ran := make(chan string, 1)
	go s.Run(ctx, func(_ context.Context, j Job) error { ran <- j.ID; return nil })
	if got := <-ran; got != "past" {
		t.Fatalf("ran %q, want past", got)
	}
}

// endingCtx is a context whose Done is closed while its first Err still
// reports nil: a Run loop sees it end between its checks.
type endingCtx struct {
	context.Context
	errs atomic.Int32
}

func (c *endingCtx) Err() error {
	if c.errs.Add(1) == 1 {
		return nil
	}
	return context.Canceled
}

// TestTimerSchedulerEndingRunKeepsWakeUp: a Run loop whose context ends
// while a wake-up is pending leaves the wake-up for another Run loop
// (select picks the wake-up or ctx.Done at random: repeat).
func TestTimerSchedulerEndingRunKeepsWakeUp(t *testing.T) {
	t.Parallel()
	for range 64 {
		s := NewTimerScheduler(NewFakeClock(time.Time{}))
		s.poke()
		done, cancel := context.WithCancel(context.Background())
		cancel()
		ctx := &endingCtx{Context: done}
		if err := s.Run(ctx, func(context.Context, Job) error { return nil }); err != context.Canceled {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		if len(s.wake) != 1 {
			t.Fatal("a Run loop that ended took a wake-up another loop needed")
		}
	}
}
