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
	"github.com/codedrop/codedrop/internal/ids"
	"github.com/codedrop/codedrop/segment"
)

// automation is the Manager's state for automatic distributions and the
// send-time policies.
type automation struct {
	limits Limits
	usage  UsageStore
	caps   []FrequencyCap
	quiet  quiet
	auto   autoState

	tzMu sync.Mutex
	tzs  map[string]*time.Location // IANA name -> zone (nil: unknown)
}

// initAutomation checks the automation part of cfg; it returns the invalid
// field and why, or "".
func (m *Manager) initAutomation(cfg Config) (field, msg string) {
	if f, msg := cfg.Limits.validate(); f != "" {
		return f, msg
	}
	if f, msg := validateCaps(cfg.FrequencyCaps, m.channels); f != "" {
		return f, msg
	}
	q, f, msg := cfg.QuietHours.compile()
	if f != "" {
		return f, msg
	}
	m.limits = cfg.Limits
	m.usage = cfg.Store
	m.caps = append([]FrequencyCap(nil), cfg.FrequencyCaps...)
	m.quiet = q
	m.auto.all = map[string]*autoEntry{}
	m.auto.seen = map[string]int{}
	m.tzs = map[string]*time.Location{}
	return "", ""
}

// location returns the zone named tz, or nil when unknown (cached).
func (m *Manager) location(tz string) *time.Location {
	m.tzMu.Lock()
	defer m.tzMu.Unlock()
	if l, ok := m.tzs[tz]; ok {
		return l
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		m.log.Warn("unknown customer time zone; using the default", "timezone", tz)
		l = nil
	}
	m.tzs[tz] = l
	return l
}

// Activate starts an automatic distribution (a draft or paused one): from
// now on each event matching its trigger sends to the event's customer. A
// customer.segment.entered trigger with IncludeExisting also sends, on the
// first activation only, to the customers already in the segment (in the
// background; each delivery has trigger key "existing:" + the id).
// Activating a manual distribution fails with ErrConflict (use Send), an
// active one is returned unchanged.
func (m *Manager) Activate(ctx context.Context, id string) (Distribution, error) {
	for {
		d, err := m.store.GetDistribution(ctx, id)
		if err != nil {
			return Distribution{}, err
		}
		if d.Mode != Automatic {
			return Distribution{}, fmt.Errorf("distribution %s: a manual distribution is sent (Send), not activated: %w", id, ErrConflict)
		}
		switch d.Status {
		case StatusActive:
			return d, nil
		case StatusDraft, StatusPaused:
		default:
			return Distribution{}, fmt.Errorf("distribution %s: cannot activate: it is %s: %w", id, d.Status, ErrConflict)
		}
		if err := m.validate(ctx, &d); err != nil {
			return Distribution{}, err
		}
		// Deliveries deferred while it was paused (taken before events
		// can add new ones, which their own calls send).
		waiting, err := m.scheduledDeliveries(ctx, id)
		if err != nil {
			return Distribution{}, err
		}
		d.Status, d.UpdatedAt = StatusActive, m.clock.Now()
		rev, err := m.store.UpdateDistribution(ctx, d)
		if errors.Is(err, ErrConflict) && !errors.Is(err, ErrNameTaken) {
			continue
		}
		if err != nil {
			return Distribution{}, fmt.Errorf("distribution %s: %w", id, err)
		}
		d.Revision = rev
		m.indexDistribution(d)
		m.log.Info("automatic distribution active", "distribution", id, "trigger", d.Trigger.Event)
		if d.Trigger.IncludeExisting {
			if err := m.startExisting(ctx, d); err != nil {
				return d, err
			}
		}
		if len(waiting) > 0 {
			m.runBackground(ctx, func(ctx context.Context) { m.sendWaiting(ctx, id, waiting) })
		}
		return d, nil
	}
}

// Pause stops an active automatic distribution: events are ignored until
// Activate. Deliveries already deferred (quiet hours, limits) wait for the
// next activation. Pausing a paused one returns it unchanged.
func (m *Manager) Pause(ctx context.Context, id string) (Distribution, error) {
	for {
		d, err := m.store.GetDistribution(ctx, id)
		if err != nil {
			return Distribution{}, err
		}
		switch {
		case d.Mode != Automatic:
			return Distribution{}, fmt.Errorf("distribution %s: only automatic distributions pause: %w", id, ErrConflict)
		case d.Status == StatusPaused:
			return d, nil
		case d.Status != StatusActive:
			return Distribution{}, fmt.Errorf("distribution %s: cannot pause: it is %s: %w", id, d.Status, ErrConflict)
		}
		d.Status, d.UpdatedAt = StatusPaused, m.clock.Now()
		rev, err := m.store.UpdateDistribution(ctx, d)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return Distribution{}, err
		}
		d.Revision = rev
		m.indexDistribution(d)
		return d, nil
	}
}

func (m *Manager) runBackground(ctx context.Context, f func(context.Context)) {
	ctx = context.WithoutCancel(ctx)
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		f(ctx)
	}()
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
	m.runBackground(ctx, func(ctx context.Context) {
		if err := m.sendExisting(ctx, d, ev); err != nil {
			m.log.Error("sending to the segment's existing members", "distribution", d.ID, "err", err)
		}
	})
	return nil
}

// sendExisting inserts one delivery per current member and channel of the
// trigger's segment and sends them.
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
		batch = append(batch, newDeliveries(d, cid, ev.ID, now)...)
		if len(batch) >= resolveBatch*len(d.Channels) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := m.store.MarkEventProcessed(ctx, ev.ID, m.clock.Now()); err != nil {
		return err
	}
	r, err := m.newRun(d)
	if err != nil {
		return err
	}
	return m.process(ctx, r, DeliveryFilter{DistributionID: d.ID, TriggerKey: ev.ID, States: []DeliveryState{DeliveryScheduled}})
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
	r, err := m.newRun(d)
	if err != nil {
		m.log.Error("automatic distribution does not compile", "distribution", id, "err", err)
		return
	}
	for _, did := range deliveryIDs {
		dl, err := m.store.GetDelivery(ctx, did)
		if err != nil {
			m.log.Error("loading a waiting delivery", "delivery", did, "err", err)
			continue
		}
		if err := m.deliver(ctx, r, dl, false); err != nil {
			m.log.Error("delivery step failed; it stays scheduled", "delivery", did, "err", err)
		}
	}
}

func newDeliveries(d Distribution, customerID, triggerKey string, now time.Time) []Delivery {
	out := make([]Delivery, len(d.Channels))
	for i, ch := range d.Channels {
		k := DeliveryKey{d.ID, customerID, triggerKey, ch.Channel}
		out[i] = Delivery{ID: DeliveryID(k), DistributionID: d.ID, CustomerID: customerID, TriggerKey: triggerKey,
			Channel: ch.Channel, State: DeliveryScheduled, CreatedAt: now, UpdatedAt: now}
	}
	return out
}

// HandleEvent applies an event to its customer and sends every active
// automatic distribution whose trigger it matches to that customer. When
// it returns, each message is sent, skipped, failed or deferred (see
// Deliveries; the trigger key of the deliveries is the event id).
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
//     (never publishing themselves) send on.
//
// A bad event fails with an error wrapping ErrInvalid that names the
// field (an unknown customer with ErrNotFound); nothing is stored for it.
func (m *Manager) HandleEvent(ctx context.Context, e Event) error {
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
		m.log.Debug("repeated event ignored", "event", e.ID)
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
	m.log.Info("customer created from an event", "event", e.ID, "customer", c.ID, "source_id", c.SourceID)
	return c, nil
}

// processEvent applies a stored event: summaries, segment changes, then
// the matching distributions; it marks the event processed. Each step may
// be repeated (after a crash) without effect.
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

// dispatch sends every distribution e matches to customer custID.
func (m *Manager) dispatch(ctx context.Context, e *Event, custID string) error {
	matches := m.auto.idx.Load().match(e)
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
		r := en.newRun()
		r.ev = e
		for range en.d.Channels {
			dl := batch[i]
			i++
			if err := m.deliver(sendCtx, r, dl, false); err != nil {
				m.log.Error("delivery step failed; it stays scheduled", "delivery", dl.ID, "event", e.ID, "err", err)
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
	ix := m.auto.idx.Load()
	for _, ch := range changes {
		if !ch.Emit {
			continue
		}
		typ := ch.EventType()
		seg := &EventSegment{ID: ch.SegmentID}
		if !ix.has(typ) || len(ix.match(&Event{Type: typ, Segment: seg})) == 0 {
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
			m.log.Error("handling a segment event", "event", id, "customer", ch.CustomerID, "segment", ch.SegmentID, "err", err)
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

// published emits customer.publication.succeeded for a code a
// distribution published, when some active distribution listens.
func (m *Manager) published(ctx context.Context, dl *Delivery, pub Publication) {
	ix := m.auto.idx.Load()
	if !ix.has(EventPublication) {
		return
	}
	e := Event{ID: "publication:" + pub.ID, Type: EventPublication, CustomerID: dl.CustomerID, ResolvedCustomerID: dl.CustomerID,
		At:          m.clock.Now(),
		Voucher:     &EventVoucher{Code: pub.Code, CampaignID: pub.CampaignID, Campaign: pub.CampaignName},
		Publication: &EventPublished{ID: pub.ID, DistributionID: pub.DistributionID}}
	if len(ix.match(&e)) == 0 {
		return
	}
	if err := m.handleInternal(ctx, e); err != nil {
		m.log.Error("handling a publication event", "event", e.ID, "err", err)
	}
}

// eventData adds the triggering event of an automatic delivery to what its
// templates see.
func (m *Manager) eventData(ctx context.Context, r *run, dl *Delivery, data *renderData) error {
	if r.d.Mode != Automatic {
		return nil
	}
	ev := r.ev
	if ev == nil || ev.ID != dl.TriggerKey {
		e, err := m.store.GetEvent(ctx, dl.TriggerKey)
		if err != nil {
			return fmt.Errorf("loading event %q: %w", dl.TriggerKey, err)
		}
		ev = &e
	}
	data.extra = ev.lookup
	if r.d.Campaign == "" && ev.Voucher != nil {
		data.code, data.campaignName = ev.Voucher.Code, ev.Voucher.Campaign
		dl.Code = ev.Voucher.Code
	}
	return nil
}

// lookup resolves the event's template tags.
func (e *Event) lookup(path string) (string, bool) {
	num := func(v float64) (string, bool) { return strconv.FormatFloat(v, 'f', -1, 64), true }
	obj, field, _ := strings.Cut(path, ".")
	switch obj {
	case "segment":
		if e.Segment != nil {
			switch field {
			case "id":
				return e.Segment.ID, true
			case "name":
				return e.Segment.Name, e.Segment.Name != ""
			}
		}
	case "order":
		if o := e.Order; o != nil {
			switch field {
			case "id":
				return o.ID, true
			case "status":
				return o.Status, true
			case "amount":
				return num(o.Amount)
			case "items_count":
				n := 0
				for _, it := range o.Items {
					n += it.Quantity
				}
				return strconv.Itoa(n), true
			case "items":
				parts := make([]string, 0, len(o.Items))
				for _, it := range o.Items {
					name := it.Name
					if name == "" {
						name = it.ProductID
					}
					parts = append(parts, fmt.Sprintf("%d × %s", it.Quantity, name))
				}
				return strings.Join(parts, ", "), len(parts) > 0
			}
		}
	case "gift", "loyalty":
		if b := e.Balance; b != nil {
			switch field {
			case "amount", "points":
				return num(b.Added)
			case "balance":
				return num(b.Balance)
			}
		}
	case "redemption":
		if r := e.Redemption; r != nil {
			switch field {
			case "id":
				return r.ID, true
			case "amount":
				return num(r.Amount)
			}
		}
	case "reward":
		if r := e.Reward; r != nil {
			switch field {
			case "id":
				return r.ID, r.ID != ""
			case "name":
				return r.Name, r.Name != ""
			case "type":
				return r.Type, r.Type != ""
			}
		}
	case "publication":
		if p := e.Publication; p != nil && field == "id" {
			return p.ID, p.ID != ""
		}
	}
	return "", false
}

// snapshotAutomatic runs when the Manager is made, before it can handle
// anything: deliveries of automatic distributions caught mid-send by an
// earlier process become unknown (see recoverSending: recent ones are
// re-checked later, as another replica may be sending them), and the
// events it accepted but did not finish are kept for Run to resume.
func (m *Manager) snapshotAutomatic(ctx context.Context) error {
	ds, err := m.store.ListDistributions(ctx, StatusActive, StatusPaused)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Mode != Automatic {
			continue
		}
		if err := m.recoverSending(ctx, d.ID); err != nil {
			return err
		}
		if d.Status == StatusActive {
			waiting, err := m.scheduledDeliveries(ctx, d.ID)
			if err != nil {
				return err
			}
			if len(waiting) > 0 {
				m.auto.waiting = append(m.auto.waiting, waitingDeliveries{d.ID, waiting})
			}
		}
	}
	for e, err := range m.store.UnprocessedEvents(ctx) {
		if err != nil {
			return err
		}
		m.auto.pending = append(m.auto.pending, e)
	}
	return nil
}

// recoverAutomatic resumes, when Run starts, the automatic work an earlier
// process left: unfinished events are handled again (each step is
// idempotent) and scheduled deliveries of active distributions are sent or
// re-armed.
func (m *Manager) recoverAutomatic(ctx context.Context) error {
	m.mu.Lock()
	pending, waiting := m.auto.pending, m.auto.waiting
	m.auto.pending, m.auto.waiting = nil, nil
	m.mu.Unlock()
	for _, e := range pending {
		if id, ok := strings.CutPrefix(e.ID, "existing:"); ok {
			d, err := m.store.GetDistribution(ctx, id)
			if err == nil && d.Status == StatusActive {
				m.runBackground(ctx, func(ctx context.Context) {
					if err := m.sendExisting(ctx, d, e); err != nil {
						m.log.Error("sending to the segment's existing members", "distribution", d.ID, "err", err)
					}
				})
			}
			continue
		}
		var err error
		if e.Segment != nil || strings.HasPrefix(e.ID, "publication:") {
			err = m.handleInternal(ctx, e)
		} else {
			var c customer.Customer
			if c, err = m.store.GetCustomer(ctx, e.ResolvedCustomerID); err == nil {
				err = m.processEvent(ctx, e, c)
			}
		}
		if err != nil {
			m.log.Error("resuming an event", "event", e.ID, "err", err)
		}
	}
	for _, w := range waiting {
		m.runBackground(ctx, func(ctx context.Context) { m.sendWaiting(ctx, w.distID, w.ids) })
	}
	return nil
}

// waitingDeliveries are scheduled deliveries of one distribution found at
// startup.
type waitingDeliveries struct {
	distID string
	ids    []string
}
