package distribution

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// Deliveries lists ledger records matching f, in the order they were
// created.
func (m *Manager) Deliveries(ctx context.Context, f DeliveryFilter) iter.Seq2[Delivery, error] {
	return m.store.Deliveries(ctx, f)
}

// Delivery returns the ledger record with id (ErrNotFound).
func (m *Manager) Delivery(ctx context.Context, id string) (Delivery, error) {
	return m.store.GetDelivery(ctx, id)
}

// RetryFailed re-queues a distribution's failed deliveries (not unknown
// ones, which may have been sent: reconcile those with the provider
// first) and sends them now; a finished distribution goes back to sending
// until they are final again. An active automatic distribution sends them
// before RetryFailed returns. It returns how many it re-queued.
func (m *Manager) RetryFailed(ctx context.Context, id string) (int, error) {
	d, err := m.store.GetDistribution(ctx, id)
	if err != nil {
		return 0, err
	}
	automatic := d.Mode == Automatic && d.Status == StatusActive
	switch {
	case automatic:
	case d.Status == StatusSending, d.Status == StatusDone, d.Status == StatusFailed:
	default:
		return 0, fmt.Errorf("distribution %s: nothing to retry while it is %s: %w", id, d.Status, ErrConflict)
	}
	var failed []Delivery
	for dl, err := range m.store.Deliveries(ctx, DeliveryFilter{DistributionID: id, States: []DeliveryState{DeliveryFailed}}) {
		if err != nil {
			return 0, err
		}
		failed = append(failed, dl)
	}
	if len(failed) == 0 {
		return 0, nil
	}
	// Reopen the distribution first so the re-queued deliveries are
	// never seen by a finished one.
	for !automatic && d.Status != StatusSending {
		d.Status, d.UpdatedAt = StatusSending, m.clock.Now()
		d.Report.Stopped, d.Report.FinishedAt = "", zeroTime
		if _, err := m.store.UpdateDistribution(ctx, d); errors.Is(err, ErrConflict) {
			if d, err = m.store.GetDistribution(ctx, id); err != nil {
				return 0, err
			}
			continue
		} else if err != nil {
			return 0, err
		}
	}
	n := 0
	var requeued []string
	for _, dl := range failed {
		dl.State, dl.Reason, dl.UpdatedAt, dl.NextAttemptAt = DeliveryScheduled, "", m.clock.Now(), zeroTime
		dl.Attempts = 0
		if err := m.store.UpdateDelivery(ctx, dl, DeliveryFailed); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return n, err
		}
		n++
		requeued = append(requeued, dl.ID)
	}
	if automatic {
		m.sendWaiting(context.WithoutCancel(ctx), id, requeued)
		return n, nil
	}
	return n, m.armSend(ctx, id, m.clock.Now())
}
