package fresh

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Callers whose work began before a check share it; a caller that began
// after it gets a check of its own.
func TestSinceSharesChecks(t *testing.T) {
	t.Parallel()
	var g Gate
	var checks atomic.Int32
	release := make(chan struct{})
	check := func(context.Context) (bool, error) {
		checks.Add(1)
		<-release
		return true, nil
	}
	ctx := context.Background()
	before := time.Now()
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Go(func() { close(started); _ = g.Since(ctx, before, check) })
	<-started
	for range 4 {
		wg.Go(func() {
			if err := g.Since(ctx, before, check); err != nil {
				t.Error(err)
			}
		})
	}
	close(release)
	wg.Wait()
	if n := checks.Load(); n != 1 {
		t.Errorf("%d checks for callers that all began before the first, want 1", n)
	}
	if err := g.Since(ctx, time.Now(), check); err != nil || checks.Load() != 2 {
		t.Errorf("a caller that began after the check: err %v, %d checks, want a second check", err, checks.Load())
	}
}

// A failed check does not count: the next caller checks again.
func TestSinceRetriesAfterAFailure(t *testing.T) {
	t.Parallel()
	var g Gate
	boom := errors.New("boom")
	since := time.Now()
	if err := g.Since(context.Background(), since, func(context.Context) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	ran := false
	if err := g.Since(context.Background(), since, func(context.Context) (bool, error) { ran = true; return true, nil }); err != nil || !ran {
		t.Errorf("after a failure: err %v, ran %v; want a new check", err, ran)
	}
}
