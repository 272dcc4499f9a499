// Package schedulertest is a conformance suite for implementations of
// distribution.Scheduler, like storetest for stores: the in-process
// distribution.TimerScheduler and the durable store/postgres Scheduler
// both run it, so the two cannot drift. A host with its own Scheduler
// runs it too:
//
//	func TestMyScheduler(t *testing.T) {
//		schedulertest.Run(t, func(t *testing.T) schedulertest.Env {
//			clk := distributiontest.NewFakeClock(time.Time{})
//			return schedulertest.Env{Scheduler: NewMyScheduler(clk), Now: clk.Now, Advance: clk.Advance}
//		})
//	}
//
// The suite moves time only through Env.Advance, so with a fake clock it
// is deterministic and fast: it waits on conditions (a job handed out)
// with a deadline, and proves that a job was not handed out by handing
// out a later "barrier" job first. Every subtest runs in parallel with a
// fresh Env.
package schedulertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
)

// DefaultSettle is Env.Settle's default.
const DefaultSettle = 20 * time.Millisecond

// waitTimeout bounds every wait for something that must happen.
const waitTimeout = 20 * time.Second

// Env is one Scheduler under test and the means to move its time.
type Env struct {
	// Scheduler is the Scheduler under test, holding no jobs.
	Scheduler distribution.Scheduler
	// Now returns the time Scheduler decides by (the Now of the Clock it
	// was given).
	Now func() time.Time
	// Advance moves that time forward by d: a FakeClock's Advance. The
	// suite moves time by nothing else, and relies on the Scheduler to
	// notice by its own means (timers, polling).
	Advance func(d time.Duration)
	// Peer, when not nil, is a second Scheduler over the same jobs as
	// Scheduler (another replica on the same database): a job scheduled
	// or canceled through one is scheduled or canceled for both, and the
	// two together hand each job out once. Leave it nil for a Scheduler
	// whose jobs are its own (TimerScheduler).
	Peer distribution.Scheduler
	// Settle is how long the suite watches for a hand-out that must not
	// happen, after a barrier job showed that the Scheduler looked at its
	// jobs; default DefaultSettle. A polling Scheduler may want a few of
	// its poll intervals. It never slows down a passing wait for
	// something that must happen.
	Settle time.Duration
}

// Run runs the conformance suite, each case a parallel subtest with its
// own Env from newScheduler. The Add cases run for a
// distribution.SharedScheduler and are skipped for others.
func Run(t *testing.T, newScheduler func(t *testing.T) Env) {
	t.Helper()
	for _, c := range []struct {
		name string
		fn   func(*testing.T, func(*testing.T) Env)
	}{
		{"DueJobHandedOutOnce", testDueJobHandedOutOnce},
		{"FutureJobWaitsForItsTime", testFutureJobWaitsForItsTime},
		{"ScheduleReplacesJobWithSameID", testScheduleReplacesJobWithSameID},
		{"CancelRemovesJob", testCancelRemovesJob},
		{"RescheduleWhileRunning", testRescheduleWhileRunning},
		{"JobsScheduledBeforeRun", testJobsScheduledBeforeRun},
		{"PastRunAtIsDueAtOnce", testPastRunAtIsDueAtOnce},
		{"ManyJobsEachHandedOutOnce", testManyJobsEachHandedOutOnce},
		{"HandlersRunConcurrently", testHandlersRunConcurrently},
		{"RunReturnsAfterItsHandlers", testRunReturnsAfterItsHandlers},
		{"EndedRunHandsOutNothing", testEndedRunHandsOutNothing},
		{"TwoRunLoopsHandOutEachJobOnce", testTwoRunLoopsHandOutEachJobOnce},
		{"TwoSchedulersShareJobs", testTwoSchedulersShareJobs},
		{"AddNewJob", testAddNewJob},
		{"AddLeavesPendingJob", testAddLeavesPendingJob},
		{"AddWhileRunningRunsOnceMore", testAddWhileRunningRunsOnceMore},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newScheduler)
		})
	}
}

// handout is one job handed to a handler, and the Scheduler's time then.
type handout struct {
	job distribution.Job
	at  time.Time
}

// harness is one subtest's Env, the jobs it scheduled and what was handed
// out.
type harness struct {
	t   *testing.T
	env Env

	mu        sync.Mutex
	scheduled map[string][]distribution.Job // every scheduled version by id
	got       []handout
	changed   chan struct{} // closed (and replaced) on every hand-out
	seq       int
}

func newHarness(t *testing.T, newScheduler func(*testing.T) Env) *harness {
	t.Helper()
	env := newScheduler(t)
	switch {
	case env.Scheduler == nil:
		t.Fatal("schedulertest: Env.Scheduler is nil")
	case env.Now == nil || env.Advance == nil:
		t.Fatal("schedulertest: Env.Now and Env.Advance are required")
	}
	if env.Settle <= 0 {
		env.Settle = DefaultSettle
	}
	h := &harness{t: t, env: env, scheduled: map[string][]distribution.Job{}, changed: make(chan struct{})}
	t.Cleanup(h.checkHandouts)
	return h
}

// job returns a job due d from now with a fresh id starting with name.
func (h *harness) job(name string, d time.Duration) distribution.Job {
	h.mu.Lock()
	h.seq++
	id := fmt.Sprintf("%s-%d", name, h.seq)
	h.mu.Unlock()
	return distribution.Job{ID: id, Kind: "schedulertest", Target: "target of " + id, RunAt: h.env.Now().Add(d)}
}

// schedule schedules j through s (the Env's Scheduler when nil).
func (h *harness) schedule(s distribution.Scheduler, j distribution.Job) {
	h.t.Helper()
	if s == nil {
		s = h.env.Scheduler
	}
	h.mu.Lock()
	h.scheduled[j.ID] = append(h.scheduled[j.ID], j)
	h.mu.Unlock()
	if err := s.Schedule(context.Background(), j); err != nil {
		h.t.Fatalf("Schedule(%+v) = %v", j, err)
	}
}

// cancel cancels id through s (the Env's Scheduler when nil).
func (h *harness) cancel(s distribution.Scheduler, id string) {
	h.t.Helper()
	if s == nil {
		s = h.env.Scheduler
	}
	if err := s.Cancel(context.Background(), id); err != nil {
		h.t.Fatalf("Cancel(%q) = %v, want nil", id, err)
	}
}

// record is a handler: it records j at the Scheduler's time.
func (h *harness) record(_ context.Context, j distribution.Job) error {
	at := h.env.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, handout{job: j, at: at})
	close(h.changed)
	h.changed = make(chan struct{})
	return nil
}

// count returns how often id was handed out.
func (h *harness) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, g := range h.got {
		if g.job.ID == id {
			n++
		}
	}
	return n
}

// handedOut returns the hand-outs of id.
func (h *harness) handedOut(id string) []handout {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []handout
	for _, g := range h.got {
		if g.job.ID == id {
			out = append(out, g)
		}
	}
	return out
}

// waitFor waits until cond (checked after every hand-out) holds, failing
// the test after waitTimeout.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	if !h.watch(waitTimeout, cond) {
		h.t.Fatalf("schedulertest: %s did not happen within %v", what, waitTimeout)
	}
}

// never fails the test if cond comes to hold within Env.Settle.
func (h *harness) never(what string, cond func() bool) {
	h.t.Helper()
	if h.watch(h.env.Settle, cond) {
		h.t.Fatalf("schedulertest: %s", what)
	}
}

// watch reports whether cond holds within d.
func (h *harness) watch(d time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		h.mu.Lock()
		changed := h.changed
		h.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return cond()
		}
	}
}

// waitJob waits until id was handed out n times in all.
func (h *harness) waitJob(id string, n int) {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("job %s handed out %d time(s)", id, n), func() bool { return h.count(id) >= n })
}

// recv waits until ch is closed (or receives), failing the test after
// waitTimeout.
func (h *harness) recv(ch <-chan struct{}, what string) {
	h.t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		h.t.Fatalf("schedulertest: waited %v for %s", waitTimeout, what)
	}
}

// barrier schedules a job due now and waits for it: the Scheduler has
// looked at its jobs since the barrier was scheduled.
func (h *harness) barrier() {
	h.t.Helper()
	j := h.job("barrier", 0)
	h.schedule(nil, j)
	h.waitJob(j.ID, 1)
}

// notHandedOut fails the test if any of ids is (or comes to be, within
// Settle) handed out.
func (h *harness) notHandedOut(why string, ids ...string) {
	h.t.Helper()
	h.never(fmt.Sprintf("%v handed out (%s)", ids, why), func() bool {
		for _, id := range ids {
			if h.count(id) > 0 {
				return true
			}
		}
		return false
	})
}

// run runs handle (h.record when nil) on s until the test ends or the
// returned stop is called; stop returns Run's error. A Run that does not
// return context.Canceled when stopped fails the test.
func (h *harness) run(s distribution.Scheduler, handle func(context.Context, distribution.Job) error) (stop func() error) {
	h.t.Helper()
	if s == nil {
		s = h.env.Scheduler
	}
	if handle == nil {
		handle = h.record
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, handle) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(waitTimeout):
				err = fmt.Errorf("Run did not return within %v of its context ending", waitTimeout)
			}
			if !errors.Is(err, context.Canceled) {
				h.t.Errorf("schedulertest: Run = %v after its context was canceled, want context.Canceled", err)
			}
		})
		return err
	}
	h.t.Cleanup(func() { stop() })
	return stop
}

// checkHandouts checks every hand-out: a job as the suite scheduled it
// (the cases check which version), never before its time.
func (h *harness) checkHandouts() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.got {
		if g.at.Before(g.job.RunAt) {
			h.t.Errorf("schedulertest: job %s handed out at %v, before its RunAt %v", g.job.ID, g.at, g.job.RunAt)
		}
		versions := h.scheduled[g.job.ID]
		if !slices.ContainsFunc(versions, func(want distribution.Job) bool {
			return g.job.Kind == want.Kind && g.job.Target == want.Target && sameTime(g.job.RunAt, want.RunAt)
		}) {
			h.t.Errorf("schedulertest: handed out %+v, want it as scheduled: one of %+v", g.job, versions)
		}
	}
}

// sameTime allows the microsecond rounding of a database.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Microsecond && d < time.Microsecond
}
