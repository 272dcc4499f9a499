package distribution

import "sync"

// activity counts the Manager's work in progress (jobs being handled,
// background syncs and sends, calls such as HandleEvent) and broadcasts
// every change of it, for Changed and Idle. Safe for concurrent use.
type activity struct {
	mu      sync.Mutex
	busy    int
	changed chan struct{} // closed (and replaced) on every change
}

// begin counts one piece of work in progress; the returned func ends it.
func (a *activity) begin() (end func()) {
	a.mu.Lock()
	a.busy++
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.busy--
			a.broadcastLocked()
			a.mu.Unlock()
		})
	}
}

// notify broadcasts a change (a state written) without work ending.
func (a *activity) notify() {
	a.mu.Lock()
	a.broadcastLocked()
	a.mu.Unlock()
}

func (a *activity) broadcastLocked() {
	if a.changed != nil {
		close(a.changed)
		a.changed = nil
	}
}

// next returns a channel closed at the next change.
func (a *activity) next() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.changed == nil {
		a.changed = make(chan struct{})
	}
	return a.changed
}

func (a *activity) idle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.busy == 0
}

// idleScheduler is an optional interface of a Scheduler that tells how
// many jobs are due or being handled and signals when that changes.
// TimerScheduler implements it, so Idle sees work that is about to start.
type idleScheduler interface {
	busyJobs() int
	notifyOnChange(f func())
}

// Changed returns a channel that is closed at the Manager's next change:
// a piece of work (a job, a fan-out, an event, a background sync) ends,
// or a call through the Manager changes a distribution. Take it before
// reading the state you wait on, then wait on it and read again:
//
//	for {
//		ch := m.Changed()
//		if d, _ := m.Distribution(ctx, id); d.Status == distribution.StatusDone {
//			break
//		}
//		select {
//		case <-ch:
//		case <-ctx.Done():
//			return ctx.Err()
//		}
//	}
//
// A change made by another replica sharing the Store is not seen: poll as
// well when several replicas run. distributiontest.WaitFor and WaitIdle
// wrap this for tests; a dashboard can push updates with it.
func (m *Manager) Changed() <-chan struct{} { return m.act.next() }

// Idle reports whether the Manager has no work in progress and, with a
// Scheduler that can tell (TimerScheduler), no job due now. Work
// scheduled for later (a countdown, a retry, a deferral) does not count:
// advance the clock to make it due.
func (m *Manager) Idle() bool {
	if !m.act.idle() {
		return false
	}
	if is, ok := m.sched.(idleScheduler); ok && is.busyJobs() > 0 {
		return false
	}
	return true
}
