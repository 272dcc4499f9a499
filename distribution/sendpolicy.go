package distribution

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// Reasons of the message limit: a deferred delivery stays scheduled with
// ReasonDeferredLimit and NextAttemptAt at the next period's start; a
// skipped one records ReasonLimitExceeded (ErrLimitExceeded's condition).
const (
	ReasonDeferredLimit = "deferred: message limit reached"
	ReasonLimitExceeded = "message limit exceeded"
)

// hold is what admit reserved for one send; release gives it back when
// the message is not sent after all.
type hold struct {
	capped  string // delivery id recorded in the send log
	counted time.Time
	res     *usageReserve // counted from this reservation (else in the store)
}

func (m *Manager) release(ctx context.Context, h hold) {
	if h.capped != "" {
		if err := m.store.ReleaseSend(ctx, h.capped); err != nil {
			m.log.Error("releasing a frequency-cap record", "delivery", h.capped, "err", err)
		}
	}
	if h.res != nil {
		h.res.give(ctx, counter(MeterMessages, m.limits.Messages), h.counted)
		return
	}
	if !h.counted.IsZero() {
		if _, err := m.usage.AddUsage(ctx, counter(MeterMessages, m.limits.Messages), h.counted, -1, 0); err != nil {
			m.log.Error("releasing message usage", "err", err)
		}
	}
}

// admit applies the send-time policies to a delivery about to be sent:
// quiet hours (defer or drop), frequency caps (skip) and the message limit
// (defer or skip). ok is false when the delivery was deferred or skipped
// (already recorded); otherwise the returned hold must be released if
// the message is not sent.
func (m *Manager) admit(ctx context.Context, r *run, dl Delivery, c *customer.Customer) (h hold, ok bool, err error) {
	now := m.clock.Now()
	if m.quiet.on && !r.d.IgnoreQuietHours {
		loc := m.quiet.location(c.Timezone, m.location)
		if end, in := m.quiet.until(now, loc); in {
			if m.quiet.drop {
				return h, false, m.settle(ctx, dl, DeliveryScheduled, DeliverySkipped, ReasonQuietHoursDropped)
			}
			return h, false, m.deferTo(ctx, dl, end, ReasonQuietHours)
		}
	}
	if len(m.caps) > 0 && !r.d.Transactional {
		if caps := capsFor(m.caps, dl.Channel); len(caps) > 0 {
			i, err := m.store.ReserveSend(ctx, SendRecord{DeliveryID: dl.ID, CustomerID: dl.CustomerID, Channel: dl.Channel, At: now}, caps)
			if err != nil {
				return h, false, fmt.Errorf("checking frequency caps: %w", err)
			}
			if i >= 0 {
				return h, false, m.settle(ctx, dl, DeliveryScheduled, DeliverySkipped, ReasonFrequencyCapped+": "+caps[i].String())
			}
			h.capped = dl.ID
		}
	}
	start, end := m.periodOf(m.limits.Messages, now)
	if r.b != nil && m.limits.Messages.Max <= 0 {
		// Uncapped: counted from a block the fan-out counted ahead.
		err = r.b.usage.take(ctx, counter(MeterMessages, m.limits.Messages), start)
		h.res = r.b.usage
	} else {
		_, err = m.usage.AddUsage(ctx, counter(MeterMessages, m.limits.Messages), start, 1, m.limits.Messages.Max)
	}
	if errors.Is(err, ErrLimitExceeded) {
		m.release(ctx, h)
		meter := MeterMessagesDeferred
		if m.limits.OverLimit == OverLimitSkip {
			meter = MeterMessagesSkipped
		}
		if _, err := m.usage.AddUsage(ctx, counter(meter, m.limits.Messages), start, 1, 0); err != nil {
			m.log.Error("counting a send over the message limit", "err", err)
		}
		m.log.Warn("message limit reached", "delivery", dl.ID, "max", m.limits.Messages.Max, "period_end", end, "action", m.limits.OverLimit)
		if m.limits.OverLimit == OverLimitSkip {
			return hold{}, false, m.settle(ctx, dl, DeliveryScheduled, DeliverySkipped, ReasonLimitExceeded)
		}
		return hold{}, false, m.deferTo(ctx, dl, end, ReasonDeferredLimit)
	}
	if err != nil {
		h.res = nil // nothing taken
		m.release(ctx, h)
		return hold{}, false, fmt.Errorf("counting message usage: %w", err)
	}
	h.counted = start
	return h, true, nil
}

// deferTo keeps dl scheduled until at, with reason, and arms its job. A
// deferral is not an attempt.
func (m *Manager) deferTo(ctx context.Context, dl Delivery, at time.Time, reason string) error {
	dl.State, dl.Reason, dl.UpdatedAt, dl.NextAttemptAt = DeliveryScheduled, reason, m.clock.Now(), at
	if err := m.store.UpdateDelivery(ctx, dl, DeliveryScheduled); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil
		}
		return fmt.Errorf("deferring (%s): %w", reason, err)
	}
	m.log.Info("delivery deferred", "delivery", dl.ID, "until", at, "reason", reason)
	return m.sched.Schedule(ctx, retryJob(dl.ID, at))
}

// isAmbiguous reports whether a send error means the message may have been
// sent.
func isAmbiguous(err error) bool {
	class, _ := classify(err)
	return class == Ambiguous
}
