package distribution

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// The event queue: events are stored, claimed by one replica at a time
// (a lease renewed while it works) and processed by HandleEvent or by a
// JobEvent on any replica; a replica that dies leaves its events to the
// others once their claim lapses.

// JobEvent processes a queued event (Target: the event id): a publication
// event a send emitted, or an event accepted earlier and not finished.
const JobEvent = "event"

// EventJobID returns the ID of the job that processes queued event
// eventID ("event:" + eventID); see SendJobID.
func EventJobID(eventID string) string { return JobEvent + ":" + eventID }

func eventJob(eventID string, at time.Time) Job {
	return Job{ID: EventJobID(eventID), Kind: JobEvent, Target: eventID, RunAt: at}
}

// ErrEventInProgress: HandleEvent was called with the id of an event
// that another call (or another replica) accepted and is still
// processing. Nothing was done; the event finishes there, or is taken
// over if that replica dies. Call again later to learn the outcome (nil
// once processed).
var ErrEventInProgress = errors.New("distribution: the event is being processed elsewhere")

// claimant returns a new claim owner: this replica's id and a number of
// its own, so that two calls processing one event on the same replica do
// not share a claim (the second is told the event is in progress).
func (m *Manager) claimant() string {
	return m.replica + "/" + strconv.FormatUint(m.claims.Add(1), 36)
}

// DefaultEventLease is how long a replica's claim on an event holds without
// renewal; the claim is renewed every third of it while the event is
// processed, and another replica takes the event over once it ends.
const DefaultEventLease = 15 * time.Second

// emitPublication queues customer.publication.succeeded for a code the
// pipeline published, when some active distribution listens. It is the
// pipeline's emit: the event is stored and processed by a JobEvent,
// never inside the send that published the code.
func (m *Manager) emitPublication(ctx context.Context, dl *Delivery, pub Publication, since time.Time) {
	at := m.clock.Now()
	if err := m.triggers.fresh(ctx, since); err != nil {
		m.log.ErrorContext(ctx, "publication event not queued", "event", "publication:"+pub.ID, "err", err)
		return
	}
	if !m.triggers.listensTo(EventPublication) {
		return // the common case in a fan-out: no event to build
	}
	e := Event{ID: "publication:" + pub.ID, Type: EventPublication, CustomerID: dl.CustomerID, ResolvedCustomerID: dl.CustomerID,
		At:          at,
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

// runEvent runs a JobEvent: it claims the stored event id and processes
// it, unless it is processed already or another replica holds it (then
// the job comes back when that claim lapses).
func (m *Manager) runEvent(ctx context.Context, id string) (err error) {
	ctx, span := m.tel.startEvent(ctx, SpanEventProcess, id, "")
	defer func() { spanEnd(span, err) }()
	err = m.resumeEvent(ctx, id, time.Now(), false)
	if errors.Is(err, ErrEventInProgress) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// resumeEvent claims the stored event id and processes it again from the
// start (every step is idempotent). A processed event is left alone; one
// another replica holds fails with ErrEventInProgress, after scheduling
// its take-over when the claim lapses unless sync (the caller reports
// it).
func (m *Manager) resumeEvent(ctx context.Context, id string, since time.Time, sync bool) error {
	now := m.clock.Now()
	e, ok, err := m.store.ClaimEvent(ctx, id, m.claimant(), now, now.Add(m.eventLease))
	if err != nil {
		return fmt.Errorf("distribution: event %q: %w", id, err)
	}
	if !e.ProcessedAt.IsZero() {
		return nil
	}
	if !ok {
		if !sync {
			if err := m.sched.Schedule(ctx, eventJob(id, e.ClaimedUntil)); err != nil {
				return err
			}
		}
		return fmt.Errorf("distribution: event %q: claimed by %s until %s: %w", id, e.ClaimedBy, e.ClaimedUntil.Format(time.RFC3339), ErrEventInProgress)
	}
	return m.runClaimed(ctx, e, since)
}

// runClaimed processes event e, which this Manager holds a claim on: it
// schedules a job at the claim's end (so another replica finishes e if
// this one dies), renews the claim and moves that job while it works, and
// cancels the job once e is processed.
func (m *Manager) runClaimed(ctx context.Context, e Event, since time.Time) error {
	if err := m.sched.Schedule(ctx, eventJob(e.ID, e.ClaimedUntil)); err != nil {
		return fmt.Errorf("distribution: event %q: %w", e.ID, err)
	}
	stop := m.keepClaim(ctx, e.ID, e.ClaimedBy)
	err := m.processStored(ctx, e, since)
	stop()
	if err != nil {
		return err // the job takes it over when the claim lapses
	}
	m.tel.eventProcessed(ctx, &e, m.clock.Now())
	return m.sched.Cancel(ctx, EventJobID(e.ID))
}

// keepClaim renews owner's claim on event id (and moves its job) every
// third of the lease until the returned stop is called.
func (m *Manager) keepClaim(ctx context.Context, id, owner string) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var renew func()
	var mu sync.Mutex
	var t Timer
	renew = func() {
		if ctx.Err() != nil {
			return
		}
		now := m.clock.Now()
		e, ok, err := m.store.ClaimEvent(ctx, id, owner, now, now.Add(m.eventLease))
		switch {
		case err != nil:
			m.log.WarnContext(ctx, "renewing an event claim", "event", id, "err", err)
		case !ok:
			return // processed, or lost to another replica
		default:
			if err := m.sched.Schedule(ctx, eventJob(id, e.ClaimedUntil)); err != nil {
				m.log.WarnContext(ctx, "moving an event's take-over job", "event", id, "err", err)
			}
		}
		mu.Lock()
		if ctx.Err() == nil {
			t = m.clock.AfterFunc(m.eventLease/3, renew)
		}
		mu.Unlock()
	}
	mu.Lock()
	t = m.clock.AfterFunc(m.eventLease/3, renew)
	mu.Unlock()
	return func() {
		mu.Lock()
		cancel()
		t.Stop()
		mu.Unlock()
	}
}

// processStored processes stored event e (claimed) according to its kind.
func (m *Manager) processStored(ctx context.Context, e Event, since time.Time) error {
	if id, ok := strings.CutPrefix(e.ID, "existing:"); ok {
		d, err := m.store.GetDistribution(ctx, id)
		if err != nil {
			return err
		}
		if d.Status != StatusActive {
			return m.store.MarkEventProcessed(ctx, e.ID, m.clock.Now())
		}
		return m.sendExisting(ctx, d, e)
	}
	if e.Segment != nil || e.Publication != nil && e.ResolvedCustomerID != "" {
		if err := m.dispatch(ctx, &e, e.ResolvedCustomerID, since); err != nil {
			return err
		}
		return m.store.MarkEventProcessed(ctx, e.ID, m.clock.Now())
	}
	var c customer.Customer
	var err error
	if e.ResolvedCustomerID == "" { // queued by EnqueueEvent for a customer to create
		c, err = m.eventCustomer(ctx, &e)
	} else {
		c, err = m.store.GetCustomer(ctx, e.ResolvedCustomerID)
	}
	if err != nil {
		return err
	}
	e.ResolvedCustomerID = c.ID
	return m.processEvent(ctx, e, c, since)
}
