package distribution

import (
	"context"
	"sync"
	"time"
)

// Job kinds the Manager schedules.
const (
	// JobSend fires a scheduled manual distribution (Target: its id).
	JobSend = "send"
	// JobRetry retries one delivery after a transient failure (Target: the
	// delivery id).
	JobRetry = "retry"
	// JobChunk sends one chunk of a manual distribution's deliveries
	// (Config.ChunkSize of them, in the ledger's order), with a
	// SharedScheduler: any replica claims it. Target: the distribution id,
	// the delivery the chunk starts after and the one it ends with,
	// separated by "/" (empty at either end of the ledger).
	JobChunk = "chunk"
)

// SendJobID returns the ID of the job that fires scheduled manual
// distribution distributionID ("send:" + distributionID). A durable Store
// that keeps that job in step with the distribution's row (as
// store/postgres does) must use this ID, so that the Manager's own
// Schedule and Cancel calls find the same job.
func SendJobID(distributionID string) string { return JobSend + ":" + distributionID }

// RetryJobID returns the ID of the job that retries delivery deliveryID
// ("retry:" + deliveryID); see SendJobID.
func RetryJobID(deliveryID string) string { return JobRetry + ":" + deliveryID }

// Job is a timed piece of work.
type Job struct {
	// ID is unique; scheduling a job with the ID of a pending one replaces
	// it (a reschedule).
	ID     string
	Kind   string
	Target string
	RunAt  time.Time
}

// Scheduler holds timed jobs and hands each due one to the Manager. The
// in-process default (NewTimerScheduler) keeps jobs in memory; a durable
// one (store/postgres) keeps them in the database so that several replicas
// share them. Implementations must be safe for concurrent use.
type Scheduler interface {
	// Schedule adds job, or moves the pending job with the same ID to
	// job.RunAt. A job whose RunAt has passed is due at once.
	Schedule(ctx context.Context, job Job) error
	// Cancel removes the pending job with jobID; cancelling an unknown or
	// already-run job is not an error.
	Cancel(ctx context.Context, jobID string) error
	// Run hands every due job to handle, concurrently, until ctx ends; it
	// then waits for the handlers it started and returns ctx's error. A
	// job is handed out once, also when several Run loops (or replicas
	// sharing a durable Scheduler's jobs) run at once; handle's error is
	// the handler's to log. handle's context ends when ctx does. Once ctx
	// has ended no job is handed out: due jobs wait for the next Run.
	// Package distribution/schedulertest is the conformance suite.
	Run(ctx context.Context, handle func(context.Context, Job) error) error
}

// SharedScheduler is an optional interface of a Scheduler whose jobs
// several replicas share (store/postgres's Scheduler): each due job goes
// to one replica, and a replica that dies lets its jobs go to others when
// their lease ends. With one, the Manager splits a manual distribution's
// fan-out into JobChunk jobs that any replica claims, so every replica
// sends part of it and a dead replica's chunk is taken over. It should
// hand one replica a bounded number of JobChunk jobs at a time (one, for
// store/postgres), so that the others get the rest; a Manager works one
// chunk at a time.
type SharedScheduler interface {
	Scheduler
	// Add schedules job unless a job with its ID is pending (then it
	// leaves it as it is) or running (then the job is handed out once
	// more after its handler returns, never at the same time). It
	// reports whether it added a job.
	Add(ctx context.Context, job Job) (added bool, err error)
}

// TimerScheduler is the in-process Scheduler: one Clock timer per pending
// job (no polling), due jobs queued until Run hands them out. Jobs are
// lost when the process ends; the Manager re-creates them at startup from
// the Store (scheduled distributions, pending retries).
type TimerScheduler struct {
	clock Clock

	mu      sync.Mutex
	pending map[string]*timerJob
	due     []Job
	running int    // handlers started by Run and not returned
	notify  func() // see notifyOnChange
	wake    chan struct{}
}

// atFuncer is the optional AtFunc method of a Clock (see Clock).
type atFuncer interface {
	AtFunc(at time.Time, f func()) Timer
}

type timerJob struct {
	job   Job
	timer Timer
}

// NewTimerScheduler returns an in-process Scheduler driven by clock (the
// system clock when nil).
func NewTimerScheduler(clock Clock) *TimerScheduler {
	if clock == nil {
		clock = SystemClock{}
	}
	return &TimerScheduler{clock: clock, pending: map[string]*timerJob{}, wake: make(chan struct{}, 1)}
}

// Schedule implements Scheduler.
func (s *TimerScheduler) Schedule(ctx context.Context, job Job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(job.ID)
	tj := &timerJob{job: job}
	s.pending[job.ID] = tj
	if at, ok := s.clock.(atFuncer); ok {
		tj.timer = at.AtFunc(job.RunAt, func() { s.fire(tj) })
	} else {
		tj.timer = s.clock.AfterFunc(job.RunAt.Sub(s.clock.Now()), func() { s.fire(tj) })
	}
	return nil
}

func (s *TimerScheduler) fire(tj *timerJob) {
	s.mu.Lock()
	if s.pending[tj.job.ID] != tj { // canceled or replaced meanwhile
		s.mu.Unlock()
		return
	}
	delete(s.pending, tj.job.ID)
	s.due = append(s.due, tj.job)
	s.mu.Unlock()
	s.poke()
}

// poke wakes one waiting Run loop (or the next to wait).
func (s *TimerScheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.changed()
}

func (s *TimerScheduler) removeLocked(id string) {
	if tj, ok := s.pending[id]; ok {
		tj.timer.Stop()
		delete(s.pending, id)
	}
	for i, j := range s.due {
		if j.ID == id {
			s.due = append(s.due[:i], s.due[i+1:]...)
			break
		}
	}
}

// Cancel implements Scheduler.
func (s *TimerScheduler) Cancel(ctx context.Context, jobID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(jobID)
	return nil
}

// busyJobs returns how many jobs are due (by the clock, even if their
// timer has not fired yet) or being handled (idleScheduler).
func (s *TimerScheduler) busyJobs() int {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.due) + s.running
	for _, tj := range s.pending {
		if !tj.job.RunAt.After(now) {
			n++
		}
	}
	return n
}

// notifyOnChange sets f to be called when a job becomes due or its
// handler returns (idleScheduler).
func (s *TimerScheduler) notifyOnChange(f func()) {
	s.mu.Lock()
	s.notify = f
	s.mu.Unlock()
}

func (s *TimerScheduler) changed() {
	s.mu.Lock()
	f := s.notify
	s.mu.Unlock()
	if f != nil {
		f()
	}
}

// Pending returns the jobs not yet handed out (for tests and diagnostics),
// in no particular order.
func (s *TimerScheduler) Pending() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, 0, len(s.pending)+len(s.due))
	for _, tj := range s.pending {
		out = append(out, tj.job)
	}
	return append(out, s.due...)
}

// Run implements Scheduler.
func (s *TimerScheduler) Run(ctx context.Context, handle func(context.Context, Job) error) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		// Never hand a job to a handler whose context has ended (also when
		// the select below picked a wake-up over ctx.Done): it could not do
		// its work and the job would be lost; it stays due for the next
		// Run. The wake-up this loop may have taken goes back for another
		// Run loop still running.
		if err := ctx.Err(); err != nil {
			s.poke()
			return err
		}
		s.mu.Lock()
		jobs := s.due
		s.due = nil
		s.running += len(jobs)
		s.mu.Unlock()
		for _, j := range jobs {
			wg.Go(func() {
				defer func() {
					s.mu.Lock()
					s.running--
					s.mu.Unlock()
					s.changed()
				}()
				_ = handle(ctx, j)
			})
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		}
	}
}
