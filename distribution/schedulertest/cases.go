package schedulertest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
)

// testDueJobHandedOutOnce: a due job reaches the handler once, as
// scheduled.
func testDueJobHandedOutOnce(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	h.run(nil, nil)
	j := h.job("due", 0)
	h.schedule(nil, j)
	h.waitJob(j.ID, 1)
	h.barrier()
	h.never("a due job was handed out twice", func() bool { return h.count(j.ID) > 1 })
}

// testFutureJobWaitsForItsTime: a job is not handed out before its RunAt,
// and is once the time comes.
func testFutureJobWaitsForItsTime(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	h.run(nil, nil)
	j := h.job("future", 10*time.Minute)
	h.schedule(nil, j)
	h.barrier()
	h.notHandedOut("due in 10 minutes", j.ID)
	h.env.Advance(10*time.Minute - time.Second)
	h.barrier()
	h.notHandedOut("due in a second", j.ID)
	h.env.Advance(time.Second)
	h.waitJob(j.ID, 1)
	if g := h.handedOut(j.ID)[0]; g.at.Before(j.RunAt) {
		t.Fatalf("handed out at %v, before its RunAt %v", g.at, j.RunAt)
	}
	h.barrier()
	h.never("a job was handed out twice", func() bool { return h.count(j.ID) > 1 })
}

// testScheduleReplacesJobWithSameID: scheduling an ID again moves the job
// (later or earlier) and replaces its Kind and Target; it runs once, at
// the new time.
func testScheduleReplacesJobWithSameID(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	// Due before any Run, then moved away: it is no longer due.
	undue := h.job("undue", 0)
	h.schedule(nil, undue)
	undue.RunAt = undue.RunAt.Add(2 * time.Minute)
	h.schedule(nil, undue)
	h.run(nil, nil)
	later := h.job("later", time.Minute)
	earlier := h.job("earlier", 5*time.Minute)
	h.schedule(nil, later)
	h.schedule(nil, earlier)
	later.RunAt, later.Kind, later.Target = later.RunAt.Add(4*time.Minute), "moved", "moved target"
	earlier.RunAt = earlier.RunAt.Add(-3 * time.Minute)
	h.schedule(nil, later)   // +1m -> +5m
	h.schedule(nil, earlier) // +5m -> +2m
	h.barrier()
	h.notHandedOut("moved from now to +2m", undue.ID)

	h.env.Advance(2 * time.Minute)
	h.waitJob(earlier.ID, 1)
	h.waitJob(undue.ID, 1)
	h.barrier()
	h.notHandedOut("moved from +1m to +5m, now +2m", later.ID)
	h.env.Advance(3 * time.Minute)
	h.waitJob(later.ID, 1)
	g := h.handedOut(later.ID)[0].job
	if g.Kind != "moved" || g.Target != "moved target" || !sameTime(g.RunAt, later.RunAt) {
		t.Errorf("handed out %+v, want the replacement %+v", g, later)
	}
	h.barrier()
	h.never("a replaced job was handed out twice", func() bool {
		return h.count(later.ID) > 1 || h.count(earlier.ID) > 1 || h.count(undue.ID) > 1
	})
}

// testCancelRemovesJob: a canceled job, pending or already due, is never
// handed out; canceling an unknown or finished job is no error.
func testCancelRemovesJob(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	due := h.job("due", 0) // due, but no Run yet
	future := h.job("future", time.Minute)
	kept := h.job("kept", time.Minute)
	h.schedule(nil, due)
	h.schedule(nil, future)
	h.schedule(nil, kept)
	h.cancel(nil, due.ID)
	h.cancel(nil, future.ID)
	h.cancel(nil, "never-scheduled")
	h.run(nil, nil)
	h.env.Advance(time.Minute)
	h.waitJob(kept.ID, 1)
	h.barrier()
	h.notHandedOut("canceled", due.ID, future.ID)
	h.cancel(nil, kept.ID) // already handed out
	h.cancel(nil, due.ID)  // canceled twice
}

// testRescheduleWhileRunning: a job scheduled again while its handler
// runs is a new job: handed out again at its new time, not before, and
// not lost when the first handler returns.
func testRescheduleWhileRunning(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	j := h.job("again", 0)
	again := j
	again.RunAt, again.Target = again.RunAt.Add(time.Minute), "second run"
	var first atomic.Bool
	h.run(nil, func(ctx context.Context, got distribution.Job) error {
		if got.ID == j.ID && first.CompareAndSwap(false, true) {
			h.schedule(nil, again)
		}
		return h.record(ctx, got)
	})
	h.schedule(nil, j)
	h.waitJob(j.ID, 1)
	h.barrier()
	h.never("a job rescheduled by its handler a minute ahead ran again at once", func() bool { return h.count(j.ID) > 1 })
	h.env.Advance(time.Minute)
	h.waitJob(j.ID, 2)
	if g := h.handedOut(j.ID); g[0].job.Target != j.Target || g[1].job.Target != again.Target {
		t.Errorf("handed out %+v then %+v, want the first version then the second", g[0].job, g[1].job)
	}
	h.barrier()
	h.never("a rescheduled job ran a third time", func() bool { return h.count(j.ID) > 2 })
}

// testJobsScheduledBeforeRun: jobs scheduled while no Run is active are
// handed out when Run starts (the due ones) or when their time comes.
func testJobsScheduledBeforeRun(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	now := h.job("now", 0)
	past := h.job("past", -time.Hour)
	later := h.job("later", time.Minute)
	for _, j := range []distribution.Job{now, past, later} {
		h.schedule(nil, j)
	}
	h.run(nil, nil)
	h.waitJob(now.ID, 1)
	h.waitJob(past.ID, 1)
	h.barrier()
	h.notHandedOut("due in a minute", later.ID)
	h.env.Advance(time.Minute)
	h.waitJob(later.ID, 1)
}

// testPastRunAtIsDueAtOnce: a job whose RunAt has passed (or is the zero
// time) is handed out without the time moving.
func testPastRunAtIsDueAtOnce(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	h.run(nil, nil)
	past := h.job("past", -24*time.Hour)
	zero := h.job("zero", 0)
	zero.RunAt = time.Time{}
	h.schedule(nil, past)
	h.schedule(nil, zero)
	h.waitJob(past.ID, 1)
	h.waitJob(zero.ID, 1)
}

// manyJobs is how many jobs the bulk cases schedule.
const manyJobs = 120

// scheduleMany schedules manyJobs jobs through the given Schedulers in
// turn, a third due now and the rest a minute or two from now, and returns
// their ids.
func (h *harness) scheduleMany(via ...distribution.Scheduler) []string {
	h.t.Helper()
	ids := make([]string, manyJobs)
	for i := range ids {
		j := h.job("bulk", time.Duration(i%3)*time.Minute)
		h.schedule(via[i%len(via)], j)
		ids[i] = j.ID
	}
	return ids
}

// waitEachOnce advances the time past the bulk jobs, waits for all of them
// and checks that none was handed out twice.
func (h *harness) waitEachOnce(ids []string) {
	h.t.Helper()
	h.env.Advance(time.Minute)
	h.env.Advance(time.Minute)
	all := func() bool {
		for _, id := range ids {
			if h.count(id) == 0 {
				return false
			}
		}
		return true
	}
	h.waitFor(fmt.Sprintf("all %d jobs handed out", len(ids)), all)
	h.barrier()
	h.never("a job was handed out twice", func() bool {
		for _, id := range ids {
			if h.count(id) > 1 {
				return true
			}
		}
		return false
	})
}

// testManyJobsEachHandedOutOnce: many jobs, scheduled while Run runs,
// each reach the handler exactly once.
func testManyJobsEachHandedOutOnce(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	h.run(nil, nil)
	h.waitEachOnce(h.scheduleMany(h.env.Scheduler))
}

// testHandlersRunConcurrently: Run does not wait for one handler before
// starting the next: two due jobs whose handlers each wait for the other
// both start.
func testHandlersRunConcurrently(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	var started atomic.Int32
	both := make(chan struct{})
	var stuck atomic.Bool
	h.run(nil, func(ctx context.Context, j distribution.Job) error {
		if started.Add(1) == 2 {
			close(both)
		}
		wait, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		select {
		case <-both:
		case <-wait.Done():
			stuck.Store(true)
		}
		return h.record(ctx, j)
	})
	a, b := h.job("a", 0), h.job("b", 0)
	h.schedule(nil, a)
	h.schedule(nil, b)
	h.waitJob(a.ID, 1)
	h.waitJob(b.ID, 1)
	if stuck.Load() {
		t.Fatal("the second handler did not start while the first ran: Run runs handlers one at a time")
	}
}

// testRunReturnsAfterItsHandlers: when its context ends, Run returns the
// context's error, but only after the handlers it started have returned;
// their context ends with Run's.
func testRunReturnsAfterItsHandlers(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	inHandler, sawEnd, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	var finished atomic.Bool
	stop := h.run(nil, func(ctx context.Context, j distribution.Job) error {
		first := false
		once.Do(func() { first = true })
		if !first { // handed out again: the cases that count hand-outs fail
			return h.record(ctx, j)
		}
		close(inHandler)
		wait, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		select {
		case <-ctx.Done():
			close(sawEnd)
		case <-wait.Done():
		}
		<-release
		finished.Store(true)
		return h.record(ctx, j)
	})
	j := h.job("slow", 0)
	h.schedule(nil, j)
	h.recv(inHandler, "the handler of a due job to start")
	returned := make(chan struct{})
	go func() { stop(); close(returned) }() // stop checks Run's error
	select {
	case <-sawEnd:
	case <-time.After(waitTimeout):
		close(release)
		t.Fatal("the handler's context did not end with Run's")
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.env.Settle)
	defer cancel()
	select {
	case <-returned:
		t.Errorf("Run returned while its handler was still running")
	case <-ctx.Done():
	}
	close(release)
	h.recv(returned, "Run to return after its handler")
	if !finished.Load() {
		t.Error("Run returned before its handler finished")
	}
}

// testEndedRunHandsOutNothing: a Run whose context has already ended
// returns its error without handing out the due jobs, which the next Run
// hands out.
func testEndedRunHandsOutNothing(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	j := h.job("due", 0)
	h.schedule(nil, j)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	// Call it until Settle has passed: by then a due job is ready to be
	// handed out however the Scheduler learns of it (a timer that fired,
	// a poll).
	settle, stop := context.WithTimeout(context.Background(), h.env.Settle)
	defer stop()
	for calls := 0; calls == 0 || settle.Err() == nil; calls++ {
		if err := h.env.Scheduler.Run(ended, h.record); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run with an ended context = %v, want context.Canceled", err)
		}
		if h.count(j.ID) != 0 {
			t.Fatalf("a Run whose context had ended handed out %s (to a handler that cannot do its work: the job is lost)", j.ID)
		}
		runtime.Gosched()
	}
	h.run(nil, nil)
	h.waitJob(j.ID, 1)
}

// testTwoRunLoopsHandOutEachJobOnce: two Run loops on one Scheduler never
// hand one job out twice.
func testTwoRunLoopsHandOutEachJobOnce(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	h.run(nil, nil)
	h.run(nil, nil)
	h.waitEachOnce(h.scheduleMany(h.env.Scheduler))
}

// testTwoSchedulersShareJobs (when Env.Peer is set): jobs scheduled
// through either Scheduler are handed out once by the two together; a
// job canceled through one is canceled for both.
func testTwoSchedulersShareJobs(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	peer := h.env.Peer
	if peer == nil {
		t.Skip("Env.Peer is nil: the Scheduler's jobs are its own")
	}
	canceled := h.job("canceled", time.Minute)
	h.schedule(nil, canceled)
	h.cancel(peer, canceled.ID)
	h.run(nil, nil)
	h.run(peer, nil)
	h.waitEachOnce(h.scheduleMany(h.env.Scheduler, peer))
	h.notHandedOut("canceled through the peer", canceled.ID)
}
