package distribution

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// JobRecover re-checks a distribution's deliveries (Target: its id) that
// recovery found in sending too recently to call them interrupted; it
// runs once their bound (Config.InterruptAfter) has passed.
const JobRecover = "recover"

// interruptMargin is added to SendTimeout for the default InterruptAfter:
// the store writes around the provider call and the clock difference
// between replicas.
const interruptMargin = time.Minute

// interruptBound is how long a delivery may stay in sending before it is
// taken as interrupted (its sender gone): one rule for every kind of
// delivery (manual, automatic, reward).
func (m *Manager) interruptBound() time.Duration {
	if m.interruptAfter > 0 {
		return m.interruptAfter
	}
	return m.sendTimeout + interruptMargin
}

func recoverJob(distID string, at time.Time) Job {
	return Job{ID: JobRecover + ":" + distID, Kind: JobRecover, Target: distID, RunAt: at}
}

// recover resumes, when Run starts, the work an earlier process left:
// unsynced segments are synced, scheduled distributions re-armed, sending
// ones resumed, unfinished events queued again, deliveries of active
// automatic distributions waiting since before the start sent or
// re-armed; then it sweeps the deliveries left in sending (see sweep).
func (m *Manager) recover(ctx context.Context) error {
	for _, id := range m.segments.Unsynced() {
		m.syncSegment(ctx, id)
	}
	m.mu.Lock()
	snap := m.snap
	m.snap = snapshot{}
	m.mu.Unlock()
	for _, e := range snap.events {
		if err := m.sched.Schedule(ctx, eventJob(e.ID, maxTime(m.clock.Now(), e.ClaimedUntil))); err != nil {
			return fmt.Errorf("distribution: resuming event %s: %w", e.ID, err)
		}
	}
	for _, w := range snap.waiting {
		if err := m.rearm(ctx, w.ids); err != nil {
			return fmt.Errorf("distribution: re-arming the deliveries of %s: %w", w.distID, err)
		}
	}
	ds, err := m.store.ListDistributions(ctx, StatusScheduled, StatusSending)
	if err != nil {
		return fmt.Errorf("distribution: recovering: %w", err)
	}
	for _, d := range ds {
		var err error
		switch {
		case d.Status == StatusScheduled && d.SendAt.IsZero():
			err = m.armIfSynced(ctx, d.ID)
		case d.Status == StatusScheduled:
			err = m.armSend(ctx, d.ID, d.SendAt)
		case d.Status == StatusSending:
			err = m.armSend(ctx, d.ID, m.clock.Now())
		}
		if err != nil {
			return fmt.Errorf("distribution: recovering %s: %w", d.ID, err)
		}
	}
	return m.sweep(ctx)
}

// snapshot is the automatic work an earlier process left, taken when the
// Manager first touches the store (before it can add work of its own) and
// resumed by Run.
type snapshot struct {
	events  []Event
	waiting []waitingDeliveries
}

// waitingDeliveries are scheduled deliveries of one distribution found at
// startup.
type waitingDeliveries struct {
	distID string
	ids    []string
}

// takeSnapshot records the events accepted and not finished and the
// scheduled deliveries of active automatic distributions.
func (m *Manager) takeSnapshot(ctx context.Context, active []Distribution) (snapshot, error) {
	var snap snapshot
	for _, d := range active {
		if d.Mode != Automatic {
			continue
		}
		waiting, err := m.scheduledDeliveries(ctx, d.ID)
		if err != nil {
			return snap, err
		}
		if len(waiting) > 0 {
			snap.waiting = append(snap.waiting, waitingDeliveries{d.ID, waiting})
		}
	}
	for e, err := range m.store.UnprocessedEvents(ctx) {
		if err != nil {
			return snap, err
		}
		snap.events = append(snap.events, e)
	}
	return snap, nil
}

// sweep resolves the deliveries in sending (of any distribution, or
// reward): those in sending longer than interruptBound become unknown,
// as their sender is gone (the provider may have received them, so they
// are never sent again automatically), and their distributions are
// finished when nothing is left to send; younger ones may be in flight on
// another replica sharing the Store, so a JobRecover job re-checks them
// once they reach the bound.
func (m *Manager) sweep(ctx context.Context) error {
	defer m.act.begin()()
	bound := m.interruptBound()
	cutoff := m.clock.Now().Add(-bound)
	newest := map[string]time.Time{} // distribution -> latest UpdatedAt of a young one
	var stuck []Delivery
	for dl, err := range m.store.Deliveries(ctx, DeliveryFilter{States: []DeliveryState{DeliverySending}}) {
		if err != nil {
			return err
		}
		if dl.UpdatedAt.After(cutoff) {
			if dl.UpdatedAt.After(newest[dl.DistributionID]) {
				newest[dl.DistributionID] = dl.UpdatedAt
			}
			continue
		}
		stuck = append(stuck, dl)
	}
	touched, err := m.interrupt(ctx, stuck)
	if err != nil {
		return err
	}
	for id := range touched {
		if err := m.finish(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	for id, at := range newest {
		at = at.Add(bound)
		m.log.InfoContext(ctx, "deliveries in sending may be in flight elsewhere; re-checking them later", "distribution", id, "at", at)
		if err := m.sched.Schedule(ctx, recoverJob(id, at)); err != nil {
			return err
		}
	}
	return m.sweepEvents(ctx)
}

// sweepEvents queues again the events no live replica holds: unclaimed
// ones accepted more than a lease ago (their job may have been lost, e.g.
// a crash between storing and scheduling) and those whose claim lapsed.
// Jobs are keyed by event, so queueing one twice is harmless.
func (m *Manager) sweepEvents(ctx context.Context) error {
	now := m.clock.Now()
	for e, err := range m.store.UnprocessedEvents(ctx) {
		if err != nil {
			return err
		}
		if e.ClaimedBy == "" && e.At.Add(m.eventLease).After(now) || e.ClaimedUntil.After(now) {
			continue
		}
		if err := m.sched.Schedule(ctx, eventJob(e.ID, now)); err != nil {
			return err
		}
	}
	return nil
}

// recheckSending runs a JobRecover job: the deliveries of j.Target in
// sending since j.RunAt less the bound (or longer) become unknown. Later
// sends are not its business: they started after the sweep, from a live
// Manager. A manual distribution whose deliveries are then all final is
// finished.
func (m *Manager) recheckSending(ctx context.Context, j Job) error {
	cutoff := j.RunAt.Add(-m.interruptBound())
	var stuck []Delivery
	for dl, err := range m.store.Deliveries(ctx, DeliveryFilter{DistributionID: j.Target, States: []DeliveryState{DeliverySending}}) {
		if err != nil {
			return err
		}
		if !dl.UpdatedAt.After(cutoff) {
			stuck = append(stuck, dl)
		}
	}
	if _, err := m.interrupt(ctx, stuck); err != nil {
		return err
	}
	if err := m.finish(ctx, j.Target); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// interrupt turns the deliveries ds (found in sending) into unknown and
// returns the distributions it changed. A delivery this Manager is
// sending itself is left to its send (see inFlight).
func (m *Manager) interrupt(ctx context.Context, ds []Delivery) (map[string]bool, error) {
	touched := map[string]bool{}
	now := m.clock.Now()
	for _, dl := range ds {
		if m.pipe.sending.has(dl.ID) {
			continue
		}
		dl.State, dl.Reason, dl.UpdatedAt = DeliveryUnknown, ReasonInterrupted, now
		if err := m.pipe.ledger.UpdateDelivery(ctx, dl, DeliverySending); err != nil {
			if errors.Is(err, ErrConflict) {
				continue // its sender recorded it meanwhile
			}
			return touched, err
		}
		touched[dl.DistributionID] = true
		m.log.WarnContext(ctx, "delivery interrupted mid-send; marked unknown", "delivery", dl.ID, "distribution", dl.DistributionID, "customer", dl.CustomerID)
	}
	return touched, nil
}
