package distribution

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/internal/ids"
	"github.com/codedrop/codedrop/segment"
)

// HandleEvent applies an event to its customer and sends every active
// automatic distribution whose trigger it matches to that customer. When
// it returns, each of those messages is sent, skipped, failed or deferred
// (see Deliveries; the trigger key of the deliveries is the event id).
// EnqueueEvent is the asynchronous intake.
//
//   - A repeated event id is ignored (nil error, nothing sent again) once
//     the event is processed; an id already used by an event of another
//     type fails with ErrConflict. An unfinished event is resumed (the
//     replica that accepted it died), or, while another call or replica
//     processes it, HandleEvent fails with ErrEventInProgress.
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
// The event is stored first, claimed by this Manager; if the process
// dies before it is processed, another replica's Run finishes it once the
// claim lapses (seconds), without a restart.
//
// A bad event fails with an error wrapping ErrInvalid that names the
// field (an unknown customer with ErrNotFound); nothing is stored for it.
func (m *Manager) HandleEvent(ctx context.Context, e Event) (err error) {
	ctx, span := m.tel.startEvent(ctx, SpanEventHandle, e.ID, e.Type)
	defer func() { spanEnd(span, err) }()
	if err := m.init(ctx); err != nil {
		return err
	}
	defer m.act.begin()()
	since := time.Now()
	e, stored, err := m.acceptEvent(ctx, e)
	switch {
	case err != nil:
		return err
	case stored != nil && !stored.ProcessedAt.IsZero():
		m.log.DebugContext(ctx, "repeated event ignored", "event", e.ID)
		return nil
	case stored != nil: // unfinished: resume it, unless it is in progress
		return m.resumeEvent(ctx, e.ID, since, true)
	}
	c, err := m.eventCustomer(ctx, &e)
	if err != nil {
		return err
	}
	e.ResolvedCustomerID = c.ID
	now := m.clock.Now()
	e.ClaimedBy, e.ClaimedUntil = m.claimant(), now.Add(m.eventLease)
	inserted, err := m.store.InsertEvent(ctx, e)
	if err != nil {
		return fmt.Errorf("distribution: event %q: %w", e.ID, err)
	}
	if !inserted { // a concurrent call with the same id stored it first
		return m.resumeEvent(ctx, e.ID, since, true)
	}
	return m.runClaimed(ctx, e, since)
}

// EnqueueEvent is the intake for a host's webhook endpoint: it checks e
// like HandleEvent, stores it and returns; Run processes it within
// moments, on this replica or another (see HandleEvent for what
// processing does). A repeated id returns nil (the event is stored
// already). A bad event fails with ErrInvalid naming the field, and an
// unknown customer without Customer data with ErrNotFound; nothing is
// stored for it.
func (m *Manager) EnqueueEvent(ctx context.Context, e Event) error {
	if err := m.init(ctx); err != nil {
		return err
	}
	e, stored, err := m.acceptEvent(ctx, e)
	if err != nil || stored != nil {
		return err // stored already: processed, or Run finishes it
	}
	c, err := m.store.GetCustomer(ctx, e.CustomerID)
	switch {
	case err == nil:
		e.ResolvedCustomerID = c.ID
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("distribution: event %q: customer_id: %w", e.ID, err)
	case e.Customer == nil:
		return fmt.Errorf("distribution: event %q: customer_id: no customer has id or source_id %q (send customer data to create one): %w",
			e.ID, e.CustomerID, ErrNotFound)
	}
	return m.enqueue(ctx, e)
}

// acceptEvent validates a host's event and looks its id up among the
// stored events: stored is the event stored under that id (nil when
// new); an id used by an event of another type fails with ErrConflict.
func (m *Manager) acceptEvent(ctx context.Context, e Event) (_ Event, stored *Event, _ error) {
	e = e.Clone()
	if err := validateEvent(&e, true); err != nil {
		return e, nil, err
	}
	m.tel.eventReceived(ctx, e.Type)
	if e.At.IsZero() {
		e.At = m.clock.Now()
	}
	e.ResolvedCustomerID, e.ProcessedAt, e.ClaimedBy, e.ClaimedUntil = "", time.Time{}, "", time.Time{}
	prev, err := m.store.GetEvent(ctx, e.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return e, nil, nil
	case err != nil:
		return e, nil, fmt.Errorf("distribution: event %q: %w", e.ID, err)
	case prev.Type != e.Type:
		return e, nil, fmt.Errorf("distribution: event %q: id: already used by a %s event: %w", e.ID, prev.Type, ErrConflict)
	}
	return e, &prev, nil
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
func (m *Manager) processEvent(ctx context.Context, e Event, c customer.Customer, since time.Time) error {
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
		// The rules as in the store when handling began (another
		// replica's segment edits), as for profile writes.
		if err := m.segments.RefreshSince(ctx, since); err != nil {
			m.log.WarnContext(ctx, "refreshing segment rules from the store", "event", e.ID, "err", err)
		}
		changes, err := m.segments.CustomerChanged(ctx, c)
		if err != nil {
			return fmt.Errorf("distribution: event %q: updating segment memberships: %w", e.ID, err)
		}
		m.segmentChanged(ctx, changes, e.ID)
	}
	if err := m.dispatch(ctx, &e, c.ID, since); err != nil {
		return err
	}
	if err := m.store.MarkEventProcessed(ctx, e.ID, m.clock.Now()); err != nil {
		return fmt.Errorf("distribution: event %q: %w", e.ID, err)
	}
	return nil
}

// ReasonNotActive is the reason of an event's delivery canceled because
// its distribution was paused (or changed) by another call or replica
// while the event was being matched.
const ReasonNotActive = "distribution not active"

// dispatch sends every active distribution e matches to customer custID,
// through the pipeline, one delivery per distribution and channel
// (trigger key: the event id). The trigger index is made current as of
// since (when handling began) before matching, and again after the
// deliveries are recorded: a distribution paused meanwhile gets its new
// deliveries canceled (ReasonNotActive) and sends nothing, one activated
// meanwhile is matched too.
func (m *Manager) dispatch(ctx context.Context, e *Event, custID string, since time.Time) error {
	if err := m.triggers.fresh(ctx, since); err != nil {
		return fmt.Errorf("distribution: event %q: %w", e.ID, err)
	}
	recorded := map[string][]Delivery{} // distribution id -> its deliveries of e
	var matches []*autoEntry
	for round := 0; ; round++ {
		matches = m.triggers.match(e)
		var batch []Delivery
		now := m.clock.Now()
		for _, en := range matches {
			if _, ok := recorded[en.d.ID]; !ok {
				batch = appendDeliveries(batch, &en.d, custID, e.ID, now)
			}
		}
		if len(batch) == 0 {
			break
		}
		if err := m.record(ctx, e, batch, recorded); err != nil {
			return err
		}
		if round > 0 {
			break // matched twice: what was activated meanwhile is in
		}
		// Read the store again, after the deliveries were written.
		if err := m.triggers.fresh(ctx, time.Now()); err != nil {
			return fmt.Errorf("distribution: event %q: %w", e.ID, err)
		}
	}
	for id, dls := range recorded {
		if m.triggers.active(id, 0) {
			continue
		}
		for _, dl := range dls {
			if dl.State != DeliveryScheduled {
				continue
			}
			dl.State, dl.Reason, dl.UpdatedAt = DeliveryCanceled, ReasonNotActive, m.clock.Now()
			if err := m.pipe.ledger.UpdateDelivery(ctx, dl, DeliveryScheduled); err != nil && !errors.Is(err, ErrConflict) {
				return fmt.Errorf("distribution: event %q: canceling delivery %s: %w", e.ID, dl.ID, err)
			}
		}
		m.log.InfoContext(ctx, "distribution no longer active; its deliveries of the event canceled", "distribution", id, "event", e.ID)
	}
	sendCtx := context.WithoutCancel(ctx)
	for _, en := range matches {
		pl := en.plan.withEvent(e)
		for _, dl := range recorded[en.d.ID] {
			if _, err := m.pipe.deliver(sendCtx, pl, dl, deliverOpts{}); err != nil {
				m.log.ErrorContext(ctx, "delivery step failed; it stays scheduled", "delivery", dl.ID, "event", e.ID, "err", err)
			}
		}
	}
	return nil
}

// record inserts batch (e's deliveries) and adds them, as stored, to
// recorded by distribution.
func (m *Manager) record(ctx context.Context, e *Event, batch []Delivery, recorded map[string][]Delivery) error {
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
	for _, dl := range batch {
		recorded[dl.DistributionID] = append(recorded[dl.DistributionID], dl)
	}
	return nil
}

// segmentChanged turns emitted segment changes into segment events and
// handles those that some active distribution is waiting for. cause is the
// id of the event behind the change ("" for a profile write or a sync),
// which makes the segment event's id deterministic.
func (m *Manager) segmentChanged(ctx context.Context, changes []segment.Change, cause string) {
	since := time.Now()
	fresh := false
	for _, ch := range changes {
		if !ch.Emit {
			continue
		}
		if !fresh {
			if err := m.triggers.fresh(ctx, since); err != nil {
				m.log.ErrorContext(ctx, "segment events not handled", "err", err)
				return
			}
			fresh = true
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
		if err := m.handleInternal(ctx, e, since); err != nil {
			m.log.ErrorContext(ctx, "handling a segment event", "event", id, "customer", ch.CustomerID, "segment", ch.SegmentID, "err", err)
		}
	}
}

// handleInternal stores an event the Manager made, claimed, and
// processes it (a repeat of a processed one does nothing).
func (m *Manager) handleInternal(ctx context.Context, e Event, since time.Time) error {
	now := m.clock.Now()
	e.ClaimedBy, e.ClaimedUntil = m.claimant(), now.Add(m.eventLease)
	inserted, err := m.store.InsertEvent(ctx, e)
	if err != nil {
		return err
	}
	if !inserted {
		err := m.resumeEvent(ctx, e.ID, since, false)
		if errors.Is(err, ErrEventInProgress) {
			return nil // another replica handles it
		}
		return err
	}
	return m.runClaimed(ctx, e, since)
}
