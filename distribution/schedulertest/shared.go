package schedulertest

import (
	"context"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
)

// shared returns h's Scheduler as a SharedScheduler, or skips t when it
// is not one.
func (h *harness) shared() distribution.SharedScheduler {
	h.t.Helper()
	s, ok := h.env.Scheduler.(distribution.SharedScheduler)
	if !ok {
		h.t.Skip("not a distribution.SharedScheduler")
	}
	return s
}

// add adds j through s, recording it as scheduled when it was added, and
// returns what Add reported.
func (h *harness) add(s distribution.SharedScheduler, j distribution.Job) bool {
	h.t.Helper()
	added, err := s.Add(context.Background(), j)
	if err != nil {
		h.t.Fatalf("Add(%+v) = %v", j, err)
	}
	if added {
		h.mu.Lock()
		h.scheduled[j.ID] = append(h.scheduled[j.ID], j)
		h.mu.Unlock()
	}
	return added
}

// testAddNewJob: Add schedules a job whose ID is unknown, and says so.
func testAddNewJob(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	s := h.shared()
	h.run(nil, nil)
	j := h.job("added", 0)
	if !h.add(s, j) {
		t.Fatal("Add of a new job reported false")
	}
	h.waitJob(j.ID, 1)
	h.barrier()
	h.never("an added job was handed out twice", func() bool { return h.count(j.ID) > 1 })
}

// testAddLeavesPendingJob: Add of the ID of a pending job changes nothing
// (not its time, not its target).
func testAddLeavesPendingJob(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	s := h.shared()
	j := h.job("pending", 10*time.Minute)
	h.schedule(nil, j)
	other := j
	other.RunAt, other.Target = h.env.Now(), "not this one"
	if h.add(s, other) {
		t.Fatal("Add of a pending job's ID reported true")
	}
	h.run(nil, nil)
	h.barrier()
	h.notHandedOut("Add moved a pending job", j.ID)
	h.env.Advance(10 * time.Minute)
	h.waitJob(j.ID, 1)
	if g := h.handedOut(j.ID)[0].job; g.Target != j.Target {
		t.Errorf("handed out %+v, want the pending one %+v", g, j)
	}
}

// testAddWhileRunningRunsOnceMore: Add of the ID of a running job does not
// start it again while it runs; it is handed out once more after its
// handler returns, and not a third time.
func testAddWhileRunningRunsOnceMore(t *testing.T, newScheduler func(*testing.T) Env) {
	h := newHarness(t, newScheduler)
	s := h.shared()
	j := h.job("running", 0)
	started, release := make(chan struct{}), make(chan struct{})
	running := make(chan bool, 1)
	running <- false
	h.run(nil, func(ctx context.Context, got distribution.Job) error {
		if got.ID != j.ID {
			return h.record(ctx, got)
		}
		if <-running {
			t.Errorf("job %s handed out while it was running", j.ID)
		}
		running <- true
		err := h.record(ctx, got)
		if h.count(j.ID) == 1 {
			close(started)
			<-release
		}
		<-running
		running <- false
		return err
	})
	h.schedule(nil, j)
	h.recv(started, "the job to start")
	if h.add(s, j) {
		t.Fatal("Add of a running job's ID reported true")
	}
	h.barrier()
	h.never("a running job was handed out again before it returned", func() bool { return h.count(j.ID) > 1 })
	close(release)
	h.waitJob(j.ID, 2)
	h.barrier()
	h.never("a job added while running ran a third time", func() bool { return h.count(j.ID) > 2 })
}
