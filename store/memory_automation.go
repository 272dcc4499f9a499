package store

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
)

// autoMemory holds the distribution.AutomationStore part of Memory under
// its own lock: events, usage counters and the send log. Orders and
// redemptions live under Memory.mu with the customers they summarize. The
// zero value is ready.
type autoMemory struct {
	mu sync.Mutex

	events    map[string]*distribution.Event
	eventList []string // ids in insertion order
	unproc    map[string]bool

	usage map[usageKey]int64

	sends      map[string][]distribution.SendRecord // customer id -> records, oldest first
	sendByDlv  map[string]string                    // delivery id -> customer id
	maxWindow  time.Duration                        // the longest window seen (older records are dropped)
	orders     map[string]map[string]distribution.OrderRecord
	redemption map[string]map[[2]string]distribution.RedemptionRecord
}

type usageKey struct {
	meter  string
	period int64 // UnixNano of the period start
}

func (a *autoMemory) init() {
	if a.events == nil {
		a.events = map[string]*distribution.Event{}
		a.unproc = map[string]bool{}
		a.usage = map[usageKey]int64{}
		a.sends = map[string][]distribution.SendRecord{}
		a.sendByDlv = map[string]string{}
		a.orders = map[string]map[string]distribution.OrderRecord{}
		a.redemption = map[string]map[[2]string]distribution.RedemptionRecord{}
	}
}

// InsertEvent implements distribution.EventStore.
func (m *Memory) InsertEvent(ctx context.Context, e distribution.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	a := &m.auto
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	if _, ok := a.events[e.ID]; ok {
		return false, nil
	}
	c := e.Clone()
	a.events[e.ID] = &c
	a.eventList = append(a.eventList, e.ID)
	if c.ProcessedAt.IsZero() {
		a.unproc[e.ID] = true
	}
	return true, nil
}

// GetEvent implements distribution.EventStore.
func (m *Memory) GetEvent(ctx context.Context, id string) (distribution.Event, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Event{}, err
	}
	a := &m.auto
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.events[id]
	if !ok {
		return distribution.Event{}, fmt.Errorf("event %q: %w", id, distribution.ErrNotFound)
	}
	return e.Clone(), nil
}

// MarkEventProcessed implements distribution.EventStore.
func (m *Memory) MarkEventProcessed(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a := &m.auto
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.events[id]
	if !ok {
		return fmt.Errorf("event %q: %w", id, distribution.ErrNotFound)
	}
	c := e.Clone()
	c.ProcessedAt = at
	c.ClaimedBy, c.ClaimedUntil = "", time.Time{}
	a.events[id] = &c
	delete(a.unproc, id)
	return nil
}

// ClaimEvent implements distribution.EventStore.
func (m *Memory) ClaimEvent(ctx context.Context, id, owner string, now, until time.Time) (distribution.Event, bool, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Event{}, false, err
	}
	a := &m.auto
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.events[id]
	if !ok {
		return distribution.Event{}, false, fmt.Errorf("event %q: %w", id, distribution.ErrNotFound)
	}
	if !e.ProcessedAt.IsZero() || e.ClaimedBy != "" && e.ClaimedBy != owner && e.ClaimedUntil.After(now) {
		return e.Clone(), false, nil
	}
	c := e.Clone()
	c.ClaimedBy, c.ClaimedUntil = owner, until
	a.events[id] = &c
	return c.Clone(), true, nil
}

// UnprocessedEvents implements distribution.EventStore.
func (m *Memory) UnprocessedEvents(ctx context.Context) iter.Seq2[distribution.Event, error] {
	return func(yield func(distribution.Event, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(distribution.Event{}, err)
			return
		}
		a := &m.auto
		a.mu.Lock()
		var out []distribution.Event
		if len(a.unproc) > 0 {
			for _, id := range a.eventList {
				if a.unproc[id] {
					out = append(out, a.events[id].Clone())
				}
			}
		}
		a.mu.Unlock()
		for _, e := range out {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// AddUsage implements distribution.UsageStore.
func (m *Memory) AddUsage(ctx context.Context, meter string, period time.Time, n, max int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	a := &m.auto
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	k := usageKey{meter, period.UnixNano()}
	cur := a.usage[k]
	if n > 0 && max > 0 && cur+n > max {
		return cur, fmt.Errorf("%s: %d of %d used: %w", meter, cur, max, distribution.ErrLimitExceeded)
	}
	cur = max64(0, cur+n)
	a.usage[k] = cur
	return cur, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// Usage implements distribution.UsageStore.
func (m *Memory) Usage(ctx context.Context, meter string, period time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	a := &m.auto
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.usage[usageKey{meter, period.UnixNano()}], nil
}

// ReserveSend implements distribution.SendLog.
func (m *Memory) ReserveSend(ctx context.Context, rec distribution.SendRecord, caps []distribution.FrequencyCap) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	a := &m.auto
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	if _, ok := a.sendByDlv[rec.DeliveryID]; ok {
		return -1, nil
	}
	recs := a.sends[rec.CustomerID]
	for _, c := range caps {
		a.maxWindow = max(a.maxWindow, c.Window)
	}
	// Drop records no window can see any more.
	drop := 0
	for drop < len(recs) && !recs[drop].At.After(rec.At.Add(-a.maxWindow)) {
		delete(a.sendByDlv, recs[drop].DeliveryID)
		drop++
	}
	recs = recs[drop:]
	for i, c := range caps {
		since := rec.At.Add(-c.Window)
		n := 0
		for _, r := range recs {
			if r.At.After(since) && !r.At.After(rec.At) && (c.Channel == "" || r.Channel == c.Channel) {
				n++
			}
		}
		if n >= c.Max {
			a.sends[rec.CustomerID] = recs
			return i, nil
		}
	}
	// Keep the records in time order.
	at := len(recs)
	for at > 0 && recs[at-1].At.After(rec.At) {
		at--
	}
	a.sends[rec.CustomerID] = slices.Insert(recs, at, rec)
	a.sendByDlv[rec.DeliveryID] = rec.CustomerID
	return -1, nil
}

// ReleaseSend implements distribution.SendLog.
func (m *Memory) ReleaseSend(ctx context.Context, deliveryID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a := &m.auto
	a.mu.Lock()
	defer a.mu.Unlock()
	cid, ok := a.sendByDlv[deliveryID]
	if !ok {
		return nil
	}
	delete(a.sendByDlv, deliveryID)
	a.sends[cid] = slices.DeleteFunc(a.sends[cid], func(r distribution.SendRecord) bool { return r.DeliveryID == deliveryID })
	return nil
}

// RecordOrder implements distribution.SummaryStore.
func (m *Memory) RecordOrder(ctx context.Context, customerID string, o distribution.OrderRecord) (customer.Customer, error) {
	return m.updateSummary(ctx, customerID, func(a *autoMemory, s *customer.Summary) {
		os := a.orders[customerID]
		if os == nil {
			os = map[string]distribution.OrderRecord{}
			a.orders[customerID] = os
		}
		if prev, ok := os[o.ID]; ok && !prev.CreatedAt.IsZero() && (o.CreatedAt.IsZero() || o.CreatedAt.After(prev.CreatedAt)) {
			o.CreatedAt = prev.CreatedAt
		}
		os[o.ID] = o
		s.Orders = distribution.SummarizeOrders(slices.Collect(maps.Values(os)))
	})
}

// RecordRedemption implements distribution.SummaryStore.
func (m *Memory) RecordRedemption(ctx context.Context, customerID string, r distribution.RedemptionRecord) (customer.Customer, error) {
	return m.updateSummary(ctx, customerID, func(a *autoMemory, s *customer.Summary) {
		rs := a.redemption[customerID]
		if rs == nil {
			rs = map[[2]string]distribution.RedemptionRecord{}
			a.redemption[customerID] = rs
		}
		k := [2]string{r.ID, r.Result}
		if _, ok := rs[k]; !ok {
			rs[k] = r
		}
		s.Redemptions = distribution.SummarizeRedemptions(slices.Collect(maps.Values(rs)))
	})
}

// updateSummary records an order or redemption with record, under both
// locks, and stores the customer with the summary record recomputed: one
// atomic step, as distribution.SummaryStore requires.
func (m *Memory) updateSummary(ctx context.Context, customerID string, record func(a *autoMemory, s *customer.Summary)) (customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return customer.Customer{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.cust[customerID]
	if !ok {
		return customer.Customer{}, fmt.Errorf("customer %q: %w", customerID, customer.ErrNotFound)
	}
	next := r.customer(true)
	a := &m.auto
	a.mu.Lock()
	a.init()
	record(a, &next.Summary)
	a.mu.Unlock()
	nr := m.encode(&next, r.id, r.src)
	m.cust[r.id] = nr
	if r.src != "" {
		m.custBySrc[r.src] = nr // the same pointer under both keys
	}
	return nr.customer(true), nil
}
