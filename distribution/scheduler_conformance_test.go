package distribution_test

import (
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/distribution/schedulertest"
)

func TestTimerSchedulerConformance(t *testing.T) {
	t.Parallel()
	schedulertest.Run(t, func(t *testing.T) schedulertest.Env {
		clk := distributiontest.NewFakeClock(time.Time{})
		return schedulertest.Env{Scheduler: distribution.NewTimerScheduler(clk), Now: clk.Now, Advance: clk.Advance}
	})
}
