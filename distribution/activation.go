package distribution

import (
	"context"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/segment"
)

// Activate starts an automatic distribution (a draft or paused one): from
// now on each event matching its trigger sends to the event's customer. A
// customer.segment.entered trigger with IncludeExisting also sends, on the
// first activation only, to the customers already in the segment (in the
// background; each delivery has trigger key "existing:" + the id).
// Activating a manual distribution fails with ErrConflict (use Send), an
// active one is returned unchanged.
func (m *Manager) Activate(ctx context.Context, id string) (Distribution, error) {
	if err := m.init(ctx); err != nil {
		return Distribution{}, err
	}
	defer m.act.begin()()
	var waiting []string
	d, changed, err := m.transition(ctx, id, "activate", StatusActive, func(d *Distribution) (bool, error) {
		if d.Mode != Automatic {
			return false, fmt.Errorf("distribution %s: a manual distribution is sent (Send), not activated: %w", id, ErrConflict)
		}
		switch d.Status {
		case StatusActive:
			return true, nil
		case StatusDraft, StatusPaused:
		default:
			return false, fmt.Errorf("distribution %s: cannot activate: it is %s: %w", id, d.Status, ErrConflict)
		}
		if err := m.validate(ctx, d); err != nil {
			return false, err
		}
		// Deliveries deferred while it was paused (taken before events
		// can add new ones, which their own calls send).
		var err error
		waiting, err = m.scheduledDeliveries(ctx, id)
		return false, err
	})
	if err != nil || !changed {
		return d, err
	}
	m.triggers.index(ctx, d)
	m.log.InfoContext(ctx, "automatic distribution active", "distribution", id, "trigger", d.Trigger.Event)
	if d.Trigger.IncludeExisting {
		if err := m.startExisting(ctx, d); err != nil {
			return d, err
		}
	}
	if err := m.rearm(ctx, waiting); err != nil {
		return d, err
	}
	return d, nil
}

// rearm schedules a retry job for each of the given scheduled deliveries,
// at once or at its NextAttemptAt (a durable Scheduler keeps them, so any
// replica sends them).
func (m *Manager) rearm(ctx context.Context, deliveryIDs []string) error {
	now := m.clock.Now()
	for _, id := range deliveryIDs {
		dl, err := m.store.GetDelivery(ctx, id)
		if err != nil {
			return err
		}
		if dl.State != DeliveryScheduled {
			continue
		}
		if err := m.sched.Schedule(ctx, retryJob(dl.ID, maxTime(now, dl.NextAttemptAt))); err != nil {
			return err
		}
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Pause stops an active automatic distribution: events are ignored until
// Activate. Deliveries already deferred (quiet hours, limits) wait for the
// next activation. Pausing a paused one returns it unchanged.
func (m *Manager) Pause(ctx context.Context, id string) (Distribution, error) {
	if err := m.init(ctx); err != nil {
		return Distribution{}, err
	}
	defer m.act.begin()()
	d, _, err := m.transition(ctx, id, "pause", StatusPaused, func(d *Distribution) (bool, error) {
		switch {
		case d.Mode != Automatic:
			return false, fmt.Errorf("distribution %s: only automatic distributions pause: %w", id, ErrConflict)
		case d.Status == StatusPaused:
			return true, nil
		case d.Status != StatusActive:
			return false, fmt.Errorf("distribution %s: cannot pause: it is %s: %w", id, d.Status, ErrConflict)
		}
		return false, nil
	})
	if err != nil {
		return Distribution{}, err
	}
	m.triggers.index(ctx, d)
	return d, nil
}

// runBackground runs f in the background (counted as work in progress),
// with ctx's values but not its cancellation; Run waits for it.
func (m *Manager) runBackground(ctx context.Context, f func(context.Context)) {
	ctx = context.WithoutCancel(ctx)
	end := m.act.begin()
	m.bg.Go(func() {
		defer end()
		f(ctx)
	})
}

// existingKey is the trigger key (and event id) of the IncludeExisting
// sends of distribution id.
func existingKey(id string) string { return "existing:" + id }

// startExisting records the IncludeExisting event of d once and sends to
// the segment's current members in the background.
func (m *Manager) startExisting(ctx context.Context, d Distribution) error {
	seg, err := m.store.GetSegment(ctx, d.Trigger.SegmentID)
	if err != nil {
		return fmt.Errorf("distribution %s: trigger.segment_id: %w", d.ID, err)
	}
	ev := Event{ID: existingKey(d.ID), Type: EventSegmentEntered, At: m.clock.Now(),
		Segment: &EventSegment{ID: seg.ID, Name: seg.Name}}
	inserted, err := m.store.InsertEvent(ctx, ev)
	if err != nil {
		return fmt.Errorf("distribution %s: recording the existing-members event: %w", d.ID, err)
	}
	if !inserted {
		return nil // an earlier activation sent (or is sending) them
	}
	// A job, so that any replica (this one at once) sends them, and takes
	// over if this one dies (see runEvent).
	return m.sched.Schedule(ctx, eventJob(ev.ID, m.clock.Now()))
}

// sendExisting inserts one delivery per current member and channel of the
// trigger's segment, sends them and marks the event processed. Repeated
// (by the replica that takes it over), it inserts the missing deliveries
// and sends those still scheduled.
func (m *Manager) sendExisting(ctx context.Context, d Distribution, ev Event) error {
	now := m.clock.Now()
	batch := make([]Delivery, 0, resolveBatch*len(d.Channels))
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := m.store.InsertDeliveries(ctx, batch)
		batch = batch[:0]
		return err
	}
	for cid, err := range m.store.Members(ctx, d.Trigger.SegmentID, segment.MemberOptions{}) {
		if err != nil {
			return err
		}
		batch = appendDeliveries(batch, &d, cid, ev.ID, now)
		if len(batch) >= resolveBatch*len(d.Channels) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	pl, err := newPlan(d, m.channels)
	if err != nil {
		return err
	}
	ds := m.store.Deliveries(ctx, DeliveryFilter{DistributionID: d.ID, TriggerKey: ev.ID, States: []DeliveryState{DeliveryScheduled}})
	if err := m.pipe.fanout(ctx, pl.withEvent(&ev), ds, m.concurrency); err != nil {
		return err
	}
	return m.store.MarkEventProcessed(ctx, ev.ID, m.clock.Now())
}

// scheduledDeliveries returns the ids of distribution id's scheduled
// deliveries.
func (m *Manager) scheduledDeliveries(ctx context.Context, id string) ([]string, error) {
	var out []string
	for dl, err := range m.store.Deliveries(ctx, DeliveryFilter{DistributionID: id, States: []DeliveryState{DeliveryScheduled}}) {
		if err != nil {
			return nil, err
		}
		out = append(out, dl.ID)
	}
	return out, nil
}

// sendWaiting sends (or re-arms, when their time has not come) the given
// scheduled deliveries of an active automatic distribution.
func (m *Manager) sendWaiting(ctx context.Context, id string, deliveryIDs []string) {
	d, err := m.store.GetDistribution(ctx, id)
	if err != nil || d.Status != StatusActive {
		return
	}
	pl, err := newPlan(d, m.channels)
	if err != nil {
		m.log.ErrorContext(ctx, "automatic distribution does not compile", "distribution", id, "err", err)
		return
	}
	for _, did := range deliveryIDs {
		dl, err := m.store.GetDelivery(ctx, did)
		if err != nil {
			m.log.ErrorContext(ctx, "loading a waiting delivery", "delivery", did, "err", err)
			continue
		}
		if _, err := m.pipe.deliver(ctx, pl, dl, deliverOpts{}); err != nil {
			m.log.ErrorContext(ctx, "delivery step failed; it stays scheduled", "delivery", did, "err", err)
		}
	}
}

// appendDeliveries appends the scheduled deliveries of d to one customer
// for one trigger, one per channel, to dst (a batch: no slice of its own
// per customer).
func appendDeliveries(dst []Delivery, d *Distribution, customerID, triggerKey string, now time.Time) []Delivery {
	for _, ch := range d.Channels {
		k := DeliveryKey{d.ID, customerID, triggerKey, ch.Channel}
		dst = append(dst, Delivery{ID: DeliveryID(k), DistributionID: d.ID, CustomerID: customerID, TriggerKey: triggerKey,
			Channel: ch.Channel, State: DeliveryScheduled, CreatedAt: now, UpdatedAt: now})
	}
	return dst
}
