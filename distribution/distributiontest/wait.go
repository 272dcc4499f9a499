package distributiontest

import (
	"context"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/distribution"
)

// pollEvery bounds how long a wait goes without reading the store again:
// a change made by another Manager on the same Store (a replica) does not
// signal this one's Changed.
const pollEvery = 50 * time.Millisecond

// WaitFor waits until distribution id reaches status and returns it. It
// wakes on m's changes (Manager.Changed) instead of polling, and fails
// early when the distribution reaches a final status that is not status
// (done, failed or canceled), or when ctx ends (give it a deadline); the
// error then says which status it had.
func WaitFor(ctx context.Context, m *distribution.Manager, id string, status distribution.Status) (distribution.Distribution, error) {
	for {
		ch := m.Changed()
		d, err := m.Distribution(ctx, id)
		if err != nil {
			return d, err
		}
		if d.Status == status {
			return d, nil
		}
		if final(d.Status) {
			return d, fmt.Errorf("distributiontest: distribution %s is %s (stopped: %q), not %s", id, d.Status, d.Report.Stopped, status)
		}
		if err := wait(ctx, ch); err != nil {
			return d, fmt.Errorf("distributiontest: distribution %s is still %s, not %s: %w", id, d.Status, status, err)
		}
	}
}

// WaitIdle waits until m has no work in progress and no job due (see
// Manager.Idle): every send, event and sync started so far has ended.
// Work scheduled for later (a countdown, a retry, a deferral) does not
// count; advance the clock to make it due, then wait again.
func WaitIdle(ctx context.Context, m *distribution.Manager) error {
	for {
		ch := m.Changed()
		if m.Idle() {
			return nil
		}
		if err := wait(ctx, ch); err != nil {
			return fmt.Errorf("distributiontest: the Manager is still busy: %w", err)
		}
	}
}

// WaitUntil waits until cond reports true, re-checking it on every change
// of m. Use it for what WaitFor does not cover ("the segment is synced",
// "three messages reached the fake Intercom").
func WaitUntil(ctx context.Context, m *distribution.Manager, cond func() bool) error {
	for {
		ch := m.Changed()
		if cond() {
			return nil
		}
		if err := wait(ctx, ch); err != nil {
			return fmt.Errorf("distributiontest: condition not met: %w", err)
		}
	}
}

func wait(ctx context.Context, changed <-chan struct{}) error {
	t := time.NewTimer(pollEvery)
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func final(s distribution.Status) bool {
	return s == distribution.StatusDone || s == distribution.StatusFailed || s == distribution.StatusCanceled
}
