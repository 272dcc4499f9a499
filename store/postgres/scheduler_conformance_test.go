package postgres_test

import (
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/distribution/schedulertest"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestSchedulerConformance runs schedulertest on a Scheduler and a peer
// (a second replica) over one fresh schema per case. Time is a FakeClock;
// only the polling (every 5ms) is real.
func TestSchedulerConformance(t *testing.T) {
	t.Parallel()
	testDSN(t)
	schedulertest.Run(t, func(t *testing.T) schedulertest.Env {
		pool := openPool(t, testDSN(t), newSchema(t), 8)
		clk := distributiontest.NewFakeClock(time.Time{})
		// A lease far longer than any Advance: the suite's handlers never
		// run long enough to lose one.
		cfg := postgres.SchedulerConfig{PollInterval: 5 * time.Millisecond, Lease: 1000 * time.Hour, Clock: clk}
		s, err := postgres.NewScheduler(pool, cfg)
		if err != nil {
			t.Fatal(err)
		}
		peer, err := postgres.NewScheduler(pool, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return schedulertest.Env{Scheduler: s, Peer: peer, Now: clk.Now, Advance: clk.Advance, Settle: 50 * time.Millisecond}
	})
}
