package distribution

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The outcomes of the pipeline's steps: a delivery settled in a final
// state, retried after a transient failure, deferred by a send-time
// policy, or moved back from sending after a provider's rate-limit
// refusal.

// settle moves r's row from scheduled to a final state with a reason (a
// row not stored yet is only changed in r).
func (p *pipeline) settle(ctx context.Context, r *ready, to DeliveryState, reason string) error {
	return p.move(ctx, r, DeliveryScheduled, to, reason, "")
}

// move moves r's row from one state to a final one with a reason and its
// detail.
func (p *pipeline) move(ctx context.Context, r *ready, from, to DeliveryState, reason, detail string) error {
	dl := r.dl
	dl.State, dl.Reason, dl.ReasonDetail, dl.UpdatedAt = to, reason, detail, p.clock.Now()
	dl.NextAttemptAt = time.Time{}
	r.dl = dl
	if r.insert {
		return nil
	}
	if err := p.ledger.UpdateDelivery(ctx, dl, from); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("recording %s (%s): %w", to, reason, err)
	}
	return nil
}

// sendFailed records a failed check or send according to its class.
func (p *pipeline) sendFailed(ctx context.Context, r *ready, from DeliveryState, err error) error {
	class, after := classify(err)
	dl := r.dl
	switch {
	case class == Ambiguous && from == DeliverySending:
		p.log.WarnContext(ctx, "send outcome unknown; not retried", "delivery", dl.ID, "err", err)
		return p.move(ctx, r, from, DeliveryUnknown, err.Error(), "")
	case (class == Transient || class == RateLimited) && dl.Attempts < p.maxAttempts && !r.insert:
		if from == DeliveryScheduled {
			dl.Attempts++ // a failed check counts as an attempt
		}
		delay := p.retryDelay << max(0, dl.Attempts-1)
		if delay > time.Hour || delay <= 0 {
			delay = time.Hour
		}
		delay = max(delay, after)
		if class == RateLimited {
			delay = max(after, time.Second) // refused in line too often: again after the reset, not RetryDelay later
		}
		now := p.clock.Now()
		dl.State, dl.Reason, dl.UpdatedAt, dl.NextAttemptAt = DeliveryScheduled, err.Error(), now, now.Add(delay)
		r.dl = dl
		if uerr := p.ledger.UpdateDelivery(ctx, dl, from); uerr != nil {
			if errors.Is(uerr, ErrConflict) {
				return nil
			}
			return fmt.Errorf("scheduling a retry: %w", uerr)
		}
		p.log.InfoContext(ctx, "transient send failure; retrying", "delivery", dl.ID, "attempt", dl.Attempts, "in", delay, "err", err)
		return p.sched.Schedule(ctx, retryJob(dl.ID, dl.NextAttemptAt))
	default:
		return p.move(ctx, r, from, DeliveryFailed, err.Error(), "")
	}
}

// deferTo keeps r's row scheduled until at, with reason, and arms its job.
// A deferral is not an attempt.
func (p *pipeline) deferTo(ctx context.Context, r *ready, at time.Time, reason string) error {
	dl := r.dl
	dl.State, dl.Reason, dl.UpdatedAt, dl.NextAttemptAt = DeliveryScheduled, reason, p.clock.Now(), at
	r.dl = dl
	if r.insert {
		return nil
	}
	if err := p.ledger.UpdateDelivery(ctx, dl, DeliveryScheduled); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil
		}
		return fmt.Errorf("deferring (%s): %w", reason, err)
	}
	p.log.InfoContext(ctx, "delivery deferred", "delivery", dl.ID, "until", at, "reason", reason)
	return p.sched.Schedule(ctx, retryJob(dl.ID, at))
}

// backOff moves r's row back from sending after the provider refused the
// request for its rate limit (not an attempt), then waits after (a second
// when zero) on the Manager's clock.
func (p *pipeline) backOff(ctx context.Context, r *ready, cause error, after time.Duration) error {
	dl := r.dl
	dl.State, dl.Attempts, dl.UpdatedAt = DeliveryScheduled, dl.Attempts-1, p.clock.Now()
	dl.Reason = "rate limited: " + cause.Error()
	if err := p.ledger.UpdateDelivery(ctx, dl, DeliverySending); err != nil {
		return fmt.Errorf("moving a rate-limited delivery back: %w", err)
	}
	r.dl = dl
	if after <= 0 {
		after = time.Second
	}
	p.log.DebugContext(ctx, "rate limited; sending again", "delivery", dl.ID, "in", after)
	return sleep(ctx, p.clock, after)
}

// sleep waits d on clock, or until ctx ends.
func sleep(ctx context.Context, clock Clock, d time.Duration) error {
	done := make(chan struct{})
	t := clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}
