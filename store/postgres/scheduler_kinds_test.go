package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestSchedulerKindLimits: a Scheduler runs at most KindLimits[kind] jobs
// of a kind at once (one chunk by default) and leaves the others of that
// kind to its peers, while it keeps running jobs of other kinds.
func TestSchedulerKindLimits(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	cfg := postgres.SchedulerConfig{PollInterval: 10 * time.Millisecond}
	a, err := postgres.NewScheduler(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := postgres.NewScheduler(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	holder := map[string]string{} // chunk job -> scheduler that ran it
	release := make(chan struct{})
	started := make(chan string, 16)
	handler := func(name string) func(context.Context, distribution.Job) error {
		return func(ctx context.Context, j distribution.Job) error {
			mu.Lock()
			holder[j.ID] = name
			mu.Unlock()
			started <- j.ID
			if j.Kind == distribution.JobChunk {
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
			return nil
		}
	}
	runScheduler(t, a, handler("a"))
	runScheduler(t, b, handler("b"))
	for i := range 3 {
		if err := a.Schedule(ctx, distribution.Job{ID: fmt.Sprint("chunk-", i), Kind: distribution.JobChunk, Target: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(n int) []string {
		t.Helper()
		var got []string
		for range n {
			select {
			case id := <-started:
				got = append(got, id)
			case <-time.After(10 * time.Second):
				t.Fatalf("only %v started, want %d jobs", got, n)
			}
		}
		return got
	}
	wait(2) // one chunk each
	// A job of another kind still runs meanwhile.
	if err := b.Schedule(ctx, distribution.Job{ID: "event", Kind: distribution.JobEvent, Target: "e"}); err != nil {
		t.Fatal(err)
	}
	if got := wait(1); got[0] != "event" {
		t.Fatalf("started %v, want the event job (the third chunk waits)", got)
	}
	expectNothing(t, started)
	mu.Lock()
	if holder["chunk-0"] == holder["chunk-1"] {
		t.Errorf("chunks 0 and 1 both ran on %s, want one on each Scheduler", holder["chunk-0"])
	}
	mu.Unlock()
	release <- struct{}{} // one chunk ends; its Scheduler takes the third
	if got := wait(1); got[0] != "chunk-2" {
		t.Fatalf("started %v, want chunk-2", got)
	}
	close(release)
}

func TestSchedulerKindLimitsValidation(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	_, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{KindLimits: map[string]int{distribution.JobChunk: 0}})
	if !errors.Is(err, distribution.ErrInvalid) {
		t.Errorf("a zero kind limit: err = %v, want ErrInvalid", err)
	}
}
