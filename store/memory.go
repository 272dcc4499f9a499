package store

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
)

// Memory is an in-memory [Store], safe for concurrent use. Its zero value
// is not usable; call [NewMemory]. Data lives as long as the value does.
type Memory struct {
	mu sync.RWMutex

	// customers in insertion order; a deleted slot is nil. Stored values are
	// never changed in place (a write stores a new pointer), so readers may
	// share them outside the lock.
	customers []*customer.Customer
	custByID  map[string]int
	custBySrc map[string]int

	// segments (memory_segment.go); stored values are replaced, never
	// changed in place.
	segments     map[string]*segment.Segment
	members      map[string]*segmentMembers // by segment ID
	custSegments map[string][]string        // customer ID -> sorted segment IDs

	dist distMemory // distributions, consents, deliveries (memory_distribution.go)
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		custByID:  map[string]int{},
		custBySrc: map[string]int{},

		segments:     map[string]*segment.Segment{},
		members:      map[string]*segmentMembers{},
		custSegments: map[string][]string{},
	}
}

func (m *Memory) lookupCustomer(id string) (int, bool) {
	if i, ok := m.custByID[id]; ok {
		return i, true
	}
	i, ok := m.custBySrc[id]
	return i, ok
}

// GetCustomer implements customer.Store.
func (m *Memory) GetCustomer(ctx context.Context, id string) (customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return customer.Customer{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	i, ok := m.lookupCustomer(id)
	if !ok || id == "" {
		return customer.Customer{}, fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	return m.customers[i].Clone(), nil
}

// UpsertCustomers implements customer.Store.
func (m *Memory) UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()

	// Plan every write first so a failure leaves the store unchanged.
	type write struct {
		slot int // index into m.customers, or -1 for an append
		c    *customer.Customer
	}
	writes := make([]write, 0, len(cs))
	pending := map[string]int{}    // ID -> index in writes, for this batch
	pendingSrc := map[string]int{} // SourceID -> index in writes
	out := make([]customer.Customer, len(cs))
	for n, in := range cs {
		var (
			prev    *customer.Customer
			prevIdx = -1
			wIdx    = -1
		)
		if in.ID != "" {
			if w, ok := pending[in.ID]; ok {
				wIdx, prev = w, writes[w].c
			} else if i, ok := m.custByID[in.ID]; ok {
				prevIdx, prev = i, m.customers[i]
			}
		} else if in.SourceID != "" {
			if w, ok := pendingSrc[in.SourceID]; ok {
				wIdx, prev = w, writes[w].c
			} else if i, ok := m.custBySrc[in.SourceID]; ok {
				prevIdx, prev = i, m.customers[i]
			}
		}
		var next customer.Customer
		if prev != nil {
			if opts.Merge {
				next = customer.Merge(*prev, in)
			} else {
				next = in.Clone()
				next.ID = prev.ID
				if next.SourceID == "" {
					next.SourceID = prev.SourceID
				}
			}
			if prev.SourceID != "" && next.SourceID != prev.SourceID {
				return nil, fmt.Errorf("customer %s (row %d of batch): source_id %q cannot change to %q: %w",
					prev.ID, n, prev.SourceID, next.SourceID, customer.ErrConflict)
			}
			next.CreatedAt = prev.CreatedAt
			next.Summary = prev.Summary // kept by the library from events, not by profile writes
			if in.UpdatedAt.IsZero() {
				next.UpdatedAt = now
			}
		} else {
			next = in.Clone()
			if next.ID == "" {
				next.ID = customer.NewID()
			}
			if next.CreatedAt.IsZero() {
				next.CreatedAt = now
			}
			if next.UpdatedAt.IsZero() {
				next.UpdatedAt = next.CreatedAt
			}
		}
		if next.SourceID != "" {
			owner := ""
			if w, ok := pendingSrc[next.SourceID]; ok {
				owner = writes[w].c.ID
			} else if i, ok := m.custBySrc[next.SourceID]; ok {
				owner = m.customers[i].ID
			}
			if owner != "" && owner != next.ID {
				return nil, fmt.Errorf("customer %s (row %d of batch): source_id %q belongs to customer %s: %w",
					next.ID, n, next.SourceID, owner, customer.ErrConflict)
			}
		}
		c := &next
		if wIdx >= 0 {
			writes[wIdx].c = c
		} else {
			wIdx = len(writes)
			writes = append(writes, write{slot: prevIdx, c: c})
			pending[c.ID] = wIdx
		}
		if c.SourceID != "" {
			pendingSrc[c.SourceID] = wIdx
		}
		out[n] = c.Clone()
	}
	for _, w := range writes {
		if w.slot >= 0 {
			m.customers[w.slot] = w.c
		} else {
			w.slot = len(m.customers)
			m.customers = append(m.customers, w.c)
			m.custByID[w.c.ID] = w.slot
		}
		if w.c.SourceID != "" {
			m.custBySrc[w.c.SourceID] = w.slot
		}
	}
	return out, nil
}

// DeleteCustomer implements customer.Store.
func (m *Memory) DeleteCustomer(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.lookupCustomer(id)
	if !ok || id == "" {
		return fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	c := m.customers[i]
	m.customers[i] = nil
	delete(m.custByID, c.ID)
	if c.SourceID != "" {
		delete(m.custBySrc, c.SourceID)
	}
	return nil
}

// Customers implements customer.Store. Customers come in insertion order.
// The yielded values share metadata and consent maps with the store: treat
// them as read-only and Clone one before changing it. (Sharing keeps a full
// scan of a million customers cheap; the store itself never changes a
// stored value in place.)
func (m *Memory) Customers(ctx context.Context, opts customer.ListOptions) iter.Seq2[customer.Customer, error] {
	return func(yield func(customer.Customer, error) bool) {
		const chunk = 512
		buf := make([]*customer.Customer, 0, chunk)
		pos, count := 0, 0
		m.mu.RLock()
		if opts.After != "" {
			i, ok := m.custByID[opts.After]
			if !ok {
				m.mu.RUnlock()
				yield(customer.Customer{}, fmt.Errorf("list customers after %q: %w", opts.After, customer.ErrNotFound))
				return
			}
			pos = i + 1
		}
		m.mu.RUnlock()
		for {
			if err := ctx.Err(); err != nil {
				yield(customer.Customer{}, err)
				return
			}
			buf = buf[:0]
			m.mu.RLock()
			for ; pos < len(m.customers) && len(buf) < chunk; pos++ {
				if c := m.customers[pos]; c != nil {
					buf = append(buf, c)
				}
			}
			m.mu.RUnlock()
			if len(buf) == 0 {
				return
			}
			for _, c := range buf {
				if opts.Limit > 0 && count >= opts.Limit {
					return
				}
				count++
				if !yield(*c, nil) {
					return
				}
			}
		}
	}
}
