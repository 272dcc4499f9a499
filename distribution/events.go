package distribution

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/internal/ids"
	"github.com/codedrop/codedrop/segment"
)

// JobEvent processes a queued event (Target: the event id): a publication
// event a send emitted, or an event accepted earlier and not finished.
const JobEvent = "event"

// EventJobID returns the ID of the job that processes queued event
// eventID ("event:" + eventID); see SendJobID.
func EventJobID(eventID string) string { return JobEvent + ":" + eventID }

func eventJob(eventID string, at time.Time) Job {
	return Job{ID: EventJobID(eventID), Kind: JobEvent, Target: eventID, RunAt: at}
}

// HandleEvent applies an event to its customer and sends every active
// automatic distribution whose trigger it matches to that customer. When
// it returns, each of those messages is sent, skipped, failed or deferred
// (see Deliveries; the trigger key of the deliveries is the event id).
//
//   - A repeated event id is ignored (nil error, nothing sent again); an
//     id already used by an event of another type fails with ErrConflict.
//   - The customer is CustomerID (an id or source_id); an unknown
//     source_id with Customer data creates the customer.
//   - Order events update the customer's order summary (see
//     SummarizeOrders) and redemption events its redemption counts, and
//     re-check its segments: a customer entering an auto-update segment
//     fires customer.segment.entered distributions within this call.
//   - A code published by a distribution emits
//     customer.publication.succeeded, which distributions on that trigger
//     (never publishing themselves) send on. That event is queued and
//     processed by Run shortly after, never inside the send that
//     published the code.
//
// A bad event fails with an error wrapping ErrInvalid that names the
// field (an unknown customer with ErrNotFound); nothing is stored for it.
func (m *Manager) HandleEvent(ctx context.Context, e Event) error {
	if err := m.init(ctx); err != nil {
		return err
	}
	defer m.act.begin()()
	e = e.Clone()
	if err := validateEvent(&e, true); err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = m.clock.Now()
	}
	if prev, err := m.store.GetEvent(ctx, e.ID); err == nil {
		if prev.Type != e.Type {
			return fmt.Errorf("distribution: event %q: id: already used by a %s event: %w", e.ID, prev.Type, ErrConflict)
		}
		m.log.DebugContext(ctx, "repeated event ignored", "event", e.ID)
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("distribution: event %q: %w", e.ID, err)
	}
	c, err := m.eventCustomer(ctx, &e)
	if err != nil {
		return err
	}
	e.ResolvedCustomerID = c.ID
	inserted, err := m.store.InsertEvent(ctx, e)
	if err != nil {
		return fmt.Errorf("distribution: event %q: %w", e.ID, err)
	}
	if !inserted {
		return nil // a concurrent call with the same id handles it
	}
	return m.processEvent(ctx, e, c)
}

// eventCustomer finds (or creates) e's customer.
func (m *Manager) eventCustomer(ctx context.Context, e *Event) (customer.Customer, error) {
	c, err := m.store.GetCustomer(ctx, e.CustomerID)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return c, fmt.Errorf("distribution: event %q: customer_id: %w", e.ID, err)
	}
	if e.Customer == nil {
		return c, fmt.Errorf("distribution: event %q: customer_id: no customer has id or source_id %q (send customer data to create one): %w",
			e.ID, e.CustomerID, ErrNotFound)
	}
	nc := *e.Customer
	nc.SourceID, nc.Summary = e.CustomerID, customer.Summary{}
	c, err = m.UpsertCustomer(ctx, nc, customer.UpsertOptions{})
	if err != nil {
		return c, fmt.Errorf("distribution: event %q: customer: %w", e.ID, err)
	}
	m.log.InfoContext(ctx, "customer created from an event", "event", e.ID, "customer", c.ID, "source_id", c.SourceID)
	return c, nil
}

// processEvent applies a stored event from a host: summaries, segment
// changes, then the matching distributions; it marks the event processed.
// Each step may be repeated (after a crash) without effect.
func (m *Manager) processEvent(ctx context.Context, e Event, c customer.Customer) error {
	changed := false
	var err error
	switch {
	case e.Order != nil:
		o := OrderRecord{ID: e.Order.ID, Status: e.Order.Status, Amount: e.Order.Amount, CreatedAt: e.Order.CreatedAt, UpdatedAt: e.At}
		if o.CreatedAt.IsZero() {
			o.CreatedAt = e.At
		}
		c, err = m.store.RecordOrder(ctx, c.ID, o)
		changed = true
	case e.Redemption != nil:
		result := RedemptionSucceeded
		if e.Type == EventRedemptionRollback {
			result = RedemptionRolledBack
		}
		c, err = m.store.RecordRedemption(ctx, c.ID, RedemptionRecord{ID: e.Redemption.ID, Result: result, At: e.At})
		changed = true
	}
	if err != nil {
		return fmt.Errorf("distribution: event %q: updating the customer summary: %w", e.ID, err)
	}
	if changed {
		changes, err := m.segments.CustomerChanged(ctx, c)
		if err != nil {
			return fmt.Errorf("distribution: event %q: updating segment memberships: %w", e.ID, err)
		}
		m.segmentChanged(ctx, changes, e.ID)
	}
	if err := m.dispatch(ctx, &e, c.ID); err != nil {
		return err
	}
	if err := m.store.MarkEventProcessed(ctx, e.ID, m.clock.Now()); err != nil {
		return fmt.Errorf("distribution: event %q: %w", e.ID, err)
	}
	return nil
}

// dispatch sends every distribution e matches to customer custID, through
// the pipeline, one delivery per distribution and channel (trigger key:
// the event id).
func (m *Manager) dispatch(ctx context.Context, e *Event, custID string) error {
	matches := m.triggers.match(e)
	if len(matches) == 0 {
		return nil
	}
	now := m.clock.Now()
	var batch []Delivery
	for _, en := range matches {
		batch = append(batch, newDeliveries(en.d, custID, e.ID, now)...)
	}
	n, err := m.store.InsertDeliveries(ctx, batch)
	if err != nil {
		return fmt.Errorf("distribution: event %q: recording deliveries: %w", e.ID, err)
	}
	if n < len(batch) { // handled before (a repeat after a crash): use the stored state
		for i := range batch {
			if batch[i], err = m.store.GetDelivery(ctx, batch[i].ID); err != nil {
				return fmt.Errorf("distribution: event %q: %w", e.ID, err)
			}
		}
	}
	sendCtx := context.WithoutCancel(ctx)
	i := 0
	for _, en := range matches {
		pl := en.plan.withEvent(e)
		for range en.d.Channels {
			dl := batch[i]
			i++
			if _, err := m.pipe.deliver(sendCtx, pl, dl, deliverOpts{}); err != nil {
				m.log.ErrorContext(ctx, "delivery step failed; it stays scheduled", "delivery", dl.ID, "event", e.ID, "err", err)
			}
		}
	}
	return nil
}

// segmentChanged turns emitted segment changes into segment events and
// handles those that some active distribution is waiting for. cause is the
// id of the event behind the change ("" for a profile write or a sync),
// which makes the segment event's id deterministic.
func (m *Manager) segmentChanged(ctx context.Context, changes []segment.Change, cause string) {
	for _, ch := range changes {
		if !ch.Emit {
			continue
		}
		typ := ch.EventType()
		seg := &EventSegment{ID: ch.SegmentID}
		if !m.triggers.listens(&Event{Type: typ, Segment: seg}) {
			continue
		}
		if s, err := m.store.GetSegment(ctx, ch.SegmentID); err == nil {
			seg.Name = s.Name
		}
		id := ids.New("evt")
		if cause != "" {
			id = cause + "/" + typ + "/" + ch.SegmentID
		}
		e := Event{ID: id, Type: typ, CustomerID: ch.CustomerID, ResolvedCustomerID: ch.CustomerID, At: m.clock.Now(), Segment: seg}
		if err := m.handleInternal(ctx, e); err != nil {
			m.log.ErrorContext(ctx, "handling a segment event", "event", id, "customer", ch.CustomerID, "segment", ch.SegmentID, "err", err)
		}
	}
}

// handleInternal stores and dispatches an event the Manager made.
func (m *Manager) handleInternal(ctx context.Context, e Event) error {
	inserted, err := m.store.InsertEvent(ctx, e)
	if err != nil {
		return err
	}
	if !inserted {
		prev, err := m.store.GetEvent(ctx, e.ID)
		if err != nil {
			return err
		}
		if !prev.ProcessedAt.IsZero() {
			return nil
		}
		e = prev
	}
	if err := m.dispatch(ctx, &e, e.ResolvedCustomerID); err != nil {
		return err
	}
	return m.store.MarkEventProcessed(ctx, e.ID, m.clock.Now())
}

// emitPublication queues customer.publication.succeeded for a code the
// pipeline published, when some active distribution listens. It is the
// pipeline's emit: the event is stored and processed by a JobEvent,
// never inside the send that published the code.
func (m *Manager) emitPublication(ctx context.Context, dl *Delivery, pub Publication) {
	e := Event{ID: "publication:" + pub.ID, Type: EventPublication, CustomerID: dl.CustomerID, ResolvedCustomerID: dl.CustomerID,
		At:          m.clock.Now(),
		Voucher:     &EventVoucher{Code: pub.Code, CampaignID: pub.CampaignID, Campaign: pub.CampaignName},
		Publication: &EventPublished{ID: pub.ID, DistributionID: pub.DistributionID}}
	if !m.triggers.listens(&e) {
		return
	}
	if err := m.enqueue(ctx, e); err != nil {
		m.log.ErrorContext(ctx, "queueing a publication event", "event", e.ID, "err", err)
	}
}

// enqueue stores e (unless stored) and schedules its processing.
func (m *Manager) enqueue(ctx context.Context, e Event) error {
	inserted, err := m.store.InsertEvent(ctx, e)
	if err != nil {
		return err
	}
	if !inserted {
		prev, err := m.store.GetEvent(ctx, e.ID)
		if err != nil {
			return err
		}
		if !prev.ProcessedAt.IsZero() {
			return nil
		}
	}
	return m.sched.Schedule(ctx, eventJob(e.ID, m.clock.Now()))
}

// runEvent runs a JobEvent: it resumes the event with id unless it is
// processed already. Every step is idempotent, so an event a crash
// interrupted is finished without sending anything twice.
func (m *Manager) runEvent(ctx context.Context, id string) error {
	e, err := m.store.GetEvent(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || !e.ProcessedAt.IsZero() {
		return err
	}
	return m.resume(ctx, e)
}

// resume processes stored event e again from the start.
func (m *Manager) resume(ctx context.Context, e Event) error {
	if id, ok := strings.CutPrefix(e.ID, "existing:"); ok {
		d, err := m.store.GetDistribution(ctx, id)
		if err != nil || d.Status != StatusActive {
			return err
		}
		return m.sendExisting(ctx, d, e)
	}
	if e.Segment != nil || e.Publication != nil {
		return m.handleInternal(ctx, e)
	}
	c, err := m.store.GetCustomer(ctx, e.ResolvedCustomerID)
	if err != nil {
		return err
	}
	return m.processEvent(ctx, e, c)
}
