package distribution_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/codedrop/codedrop/distribution"
)

// recordingScheduler is a TimerScheduler that records the jobs scheduled.
type recordingScheduler struct {
	*distribution.TimerScheduler
	mu   sync.Mutex
	jobs []distribution.Job
}

func (r *recordingScheduler) Schedule(ctx context.Context, j distribution.Job) error {
	r.mu.Lock()
	r.jobs = append(r.jobs, j)
	r.mu.Unlock()
	return r.TimerScheduler.Schedule(ctx, j)
}

func (r *recordingScheduler) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, j := range r.jobs {
		out = append(out, j.ID)
	}
	return out
}

// TestJobIDs checks that the Manager schedules a manual send's countdown
// under SendJobID, the id durable stores (store/postgres) keep in step
// with the distribution's row, and that the ids have their documented
// format.
func TestJobIDs(t *testing.T) {
	t.Parallel()
	if got := distribution.SendJobID("distr_1"); got != "send:distr_1" {
		t.Errorf("SendJobID = %q", got)
	}
	if got := distribution.RetryJobID("dlv_1"); got != "retry:dlv_1" {
		t.Errorf("RetryJobID = %q", got)
	}
	e := newEnv(t)
	rec := &recordingScheduler{TimerScheduler: distribution.NewTimerScheduler(e.clk)}
	e.start(func(c *distribution.Config) { c.Scheduler = rec })
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	d := e.create(distribution.Distribution{
		Name: "Hello", Audience: distribution.Audience{CustomerID: "u1"},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Hello"}},
	})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.waitArmed(d.ID)
	if ids := rec.ids(); !slices.Contains(ids, distribution.SendJobID(d.ID)) {
		t.Errorf("scheduled jobs %q; want %q", ids, distribution.SendJobID(d.ID))
	}
}
