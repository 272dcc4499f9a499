package distribution

import (
	"context"
	"errors"
	"time"
)

// JobRecover re-checks a distribution's deliveries (Target: its id) that a
// starting Manager found in sending too recently to call them interrupted;
// it runs once their bound (Config.InterruptAfter) has passed.
const JobRecover = "recover"

// interruptMargin is added to SendTimeout for the default InterruptAfter:
// the store writes around the provider call and the clock difference
// between replicas.
const interruptMargin = time.Minute

// interruptBound is how long a delivery may stay in sending before it is
// taken as interrupted (its sender gone).
func (m *Manager) interruptBound() time.Duration {
	if m.interruptAfter > 0 {
		return m.interruptAfter
	}
	return m.sendTimeout + interruptMargin
}

// recoverSending runs at startup for a distribution that may have
// deliveries in sending: those older than interruptBound become unknown
// (their sender is gone); younger ones may be in flight on another
// replica sharing the Store, so a JobRecover job re-checks them once they
// reach the bound.
func (m *Manager) recoverSending(ctx context.Context, distID string) error {
	bound := m.interruptBound()
	newest, err := m.markInterrupted(ctx, distID, m.clock.Now().Add(-bound))
	if err != nil || newest.IsZero() {
		return err
	}
	at := newest.Add(bound)
	m.log.Info("deliveries in sending may be in flight elsewhere; re-checking them later", "distribution", distID, "at", at)
	return m.sched.Schedule(ctx, recoverJob(distID, at))
}

// recheckSending runs a JobRecover job: the deliveries recoverSending saw
// in sending (updated at or before j.RunAt less the bound) and still in
// sending now become unknown. Later sends are not its business: they
// started after the recovery, from a live Manager. A manual distribution
// whose deliveries are then all final is finished.
func (m *Manager) recheckSending(ctx context.Context, j Job) error {
	if _, err := m.markInterrupted(ctx, j.Target, j.RunAt.Add(-m.interruptBound())); err != nil {
		return err
	}
	if err := m.finish(ctx, j.Target); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// markInterrupted turns distID's deliveries in sending last updated at or
// before cutoff into unknown: the provider may have received them, so
// they are never sent again automatically. It returns the latest UpdatedAt
// of the deliveries in sending it left (zero when none).
func (m *Manager) markInterrupted(ctx context.Context, distID string, cutoff time.Time) (newest time.Time, err error) {
	var stuck []Delivery
	for dl, err := range m.store.Deliveries(ctx, DeliveryFilter{DistributionID: distID, States: []DeliveryState{DeliverySending}}) {
		if err != nil {
			return time.Time{}, err
		}
		if dl.UpdatedAt.After(cutoff) {
			if dl.UpdatedAt.After(newest) {
				newest = dl.UpdatedAt
			}
			continue
		}
		stuck = append(stuck, dl)
	}
	now := m.clock.Now()
	for _, dl := range stuck {
		dl.State, dl.Reason, dl.UpdatedAt = DeliveryUnknown, ReasonInterrupted, now
		if err := m.store.UpdateDelivery(ctx, dl, DeliverySending); err != nil {
			if errors.Is(err, ErrConflict) {
				continue // its sender recorded it meanwhile
			}
			return time.Time{}, err
		}
		m.log.Warn("delivery interrupted mid-send; marked unknown", "delivery", dl.ID, "distribution", distID, "customer", dl.CustomerID)
	}
	return newest, nil
}

func recoverJob(distID string, at time.Time) Job {
	return Job{ID: JobRecover + ":" + distID, Kind: JobRecover, Target: distID, RunAt: at}
}
