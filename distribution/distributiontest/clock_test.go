package distributiontest_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
)

var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// waitN receives n values from ch or fails at the test's deadline.
func waitN[T any](t *testing.T, ch <-chan T, n int) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []T
	for len(out) < n {
		select {
		case v := <-ch:
			out = append(out, v)
		case <-ctx.Done():
			t.Fatalf("got %d of %d values: %v", len(out), n, out)
		}
	}
	return out
}

func TestFakeClockTimers(t *testing.T) {
	t.Parallel()
	var clk distribution.Clock = distributiontest.NewFakeClock(start)
	fc := clk.(*distributiontest.FakeClock)
	if !fc.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", fc.Now(), start)
	}
	fired := make(chan string, 8)
	at := func(name string) func() { return func() { fired <- name } }
	clk.AfterFunc(2*time.Minute, at("after 2m"))
	fc.AtFunc(start.Add(time.Minute), at("at +1m"))
	stopped := clk.AfterFunc(time.Minute, at("stopped"))
	fc.AtFunc(start.Add(-time.Hour), at("past")) // fires at once
	if got := waitN(t, fired, 1); got[0] != "past" {
		t.Fatalf("fired %v first, want past", got)
	}
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop = false on a pending timer, or true twice")
	}
	if n := fc.Pending(); n != 2 {
		t.Fatalf("Pending = %d, want 2", n)
	}

	fc.Set(start.Add(-time.Hour)) // never backwards
	if !fc.Now().Equal(start) {
		t.Fatalf("Set to the past moved the clock to %v", fc.Now())
	}
	fc.Advance(90 * time.Second)
	if got := waitN(t, fired, 1); got[0] != "at +1m" {
		t.Fatalf("fired %v at +90s, want at +1m", got)
	}
	fc.Set(start.Add(time.Hour))
	if got := waitN(t, fired, 1); got[0] != "after 2m" {
		t.Fatalf("fired %v, want after 2m", got)
	}
	if n := fc.Pending(); n != 0 {
		t.Errorf("Pending = %d after all fired", n)
	}
}

func TestFakeClockDrivesTimerScheduler(t *testing.T) {
	t.Parallel()
	clk := distributiontest.NewFakeClock(start)
	s := distribution.NewTimerScheduler(clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan string, 4)
	go s.Run(ctx, func(_ context.Context, j distribution.Job) error { ran <- j.ID; return nil })
	for i, id := range []string{"b", "a"} {
		if err := s.Schedule(ctx, distribution.Job{ID: id, RunAt: start.Add(time.Duration(i+1) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := clk.Pending(); n != 2 {
		t.Fatalf("Pending = %d timers, want one per job", n)
	}
	clk.Advance(time.Minute)
	clk.Advance(time.Minute)
	if diff := cmp.Diff([]string{"b", "a"}, waitN(t, ran, 2), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("ran (-want +got):\n%s", diff)
	}
}
