package store

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
)

// Memory is an in-memory [Store], safe for concurrent use. Its zero value
// is not usable; call [NewMemory]. Data lives as long as the value does.
type Memory struct {
	mu sync.RWMutex

	// Stored customers are never changed in place (a write stores a new
	// pointer), so readers may share them outside the lock.
	cust      map[string]*customer.Customer // by ID
	custBySrc map[string]string             // SourceID -> ID
	// custOrder holds IDs in ascending order, possibly with deleted ones
	// (skipped when read); custNew holds IDs inserted since, unsorted.
	// Listing folds custNew into custOrder (a sort of the new IDs and a
	// merge), so a run of inserts costs one sort, not one shift each.
	custOrder []string
	custNew   []string
	custDead  int // deleted IDs still in custOrder

	// segments (memory_segment.go); stored values are replaced, never
	// changed in place.
	segments     map[string]*segment.Segment
	members      map[string]*segmentMembers // by segment ID
	custSegments map[string][]string        // customer ID -> sorted segment IDs

	dist distMemory // distributions, consents, deliveries (memory_distribution.go)
	auto autoMemory // events, summaries, usage, send log (memory_automation.go)
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		cust:      map[string]*customer.Customer{},
		custBySrc: map[string]string{},

		segments:     map[string]*segment.Segment{},
		members:      map[string]*segmentMembers{},
		custSegments: map[string][]string{},
	}
}

func (m *Memory) lookupCustomer(id string) (*customer.Customer, bool) {
	if id == "" {
		return nil, false
	}
	if c, ok := m.cust[id]; ok {
		return c, true
	}
	if cid, ok := m.custBySrc[id]; ok {
		return m.cust[cid], true
	}
	return nil, false
}

// GetCustomer implements customer.Store.
func (m *Memory) GetCustomer(ctx context.Context, id string) (customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return customer.Customer{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.lookupCustomer(id)
	if !ok {
		return customer.Customer{}, fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	return c.Clone(), nil
}

// UpsertCustomers implements customer.Store.
func (m *Memory) UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()

	// Plan every write first so that a failure leaves the store unchanged.
	// pending holds this batch's results by ID, pendingSrc SourceID -> ID.
	type write struct {
		c     *customer.Customer
		isNew bool // not in m.cust
	}
	pending := make(map[string]*write, len(cs))
	pendingSrc := make(map[string]string, len(cs))
	order := make([]string, 0, len(cs)) // IDs of pending, in first-write order
	get := func(id string) *customer.Customer {
		if w, ok := pending[id]; ok {
			return w.c
		}
		return m.cust[id]
	}
	srcOwner := func(src string) string {
		if id, ok := pendingSrc[src]; ok {
			return id
		}
		return m.custBySrc[src]
	}
	out := make([]customer.Customer, len(cs))
	for n, in := range cs {
		var prev *customer.Customer
		srcLooked, srcID := false, "" // srcOwner(in.SourceID), when looked up
		if in.ID != "" {
			prev = get(in.ID)
		} else if in.SourceID != "" {
			srcLooked, srcID = true, srcOwner(in.SourceID)
			if srcID != "" {
				prev = get(srcID)
			}
		}
		// next is the stored value; its maps are the store's own. The
		// returned copy reuses the caller's maps where next's equal them,
		// so that a plain insert clones once, not twice.
		var next customer.Customer
		sharesInput, keptConsents := false, false
		if prev != nil {
			if opts.Merge {
				next = customer.Merge(*prev, in)
			} else {
				next = in.Clone()
				sharesInput = true
				next.ID = prev.ID
				if next.SourceID == "" {
					next.SourceID = prev.SourceID
				}
				if next.Consents.IsZero() {
					next.Consents = prev.Consents.Clone()
					keptConsents = true
				}
			}
			if prev.SourceID != "" && in.SourceID != "" && in.SourceID != prev.SourceID {
				return nil, &customer.BatchError{Index: n, Err: fmt.Errorf("customer %s: source_id %q cannot change to %q: %w",
					prev.ID, prev.SourceID, in.SourceID, customer.ErrConflict)}
			}
			next.CreatedAt = prev.CreatedAt
			next.Summary = prev.Summary // kept by the library from events, not by profile writes
			if in.UpdatedAt.IsZero() {
				next.UpdatedAt = now
			}
		} else {
			next = in.Clone()
			sharesInput = true
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
			owner := srcID
			if !srcLooked || next.SourceID != in.SourceID {
				owner = srcOwner(next.SourceID)
			}
			if owner != "" && owner != next.ID {
				return nil, &customer.BatchError{Index: n, Err: fmt.Errorf("customer %s: source_id %q belongs to customer %s: %w",
					next.ID, next.SourceID, owner, customer.ErrConflict)}
			}
			pendingSrc[next.SourceID] = next.ID
		}
		c := &next
		if w, ok := pending[next.ID]; ok {
			w.c = c
		} else {
			order = append(order, next.ID)
			pending[next.ID] = &write{c: c, isNew: prev == nil}
		}
		if sharesInput {
			out[n] = next
			out[n].Metadata = in.Metadata
			out[n].Consents = in.Consents
			if keptConsents {
				out[n].Consents = next.Consents.Clone()
			}
		} else {
			out[n] = c.Clone()
		}
	}
	for _, id := range order {
		w := pending[id]
		c := w.c
		if w.isNew {
			m.custNew = append(m.custNew, id)
		}
		m.cust[id] = c
		if c.SourceID != "" {
			m.custBySrc[c.SourceID] = id
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
	c, ok := m.lookupCustomer(id)
	if !ok {
		return fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	delete(m.cust, c.ID)
	if c.SourceID != "" {
		delete(m.custBySrc, c.SourceID)
	}
	m.custDead++
	return nil
}

// sortCustomers folds custNew into custOrder and drops deleted IDs when
// they make up half of it. Callers hold m.mu for writing.
func (m *Memory) sortCustomers() {
	if len(m.custNew) == 0 && m.custDead <= len(m.custOrder)/2 {
		return
	}
	slices.Sort(m.custNew) // linear when already in order, as ids.New makes them
	if m.custDead == 0 && (len(m.custOrder) == 0 || len(m.custNew) == 0 || m.custOrder[len(m.custOrder)-1] < m.custNew[0]) {
		// Nothing deleted (so no duplicates either: an ID comes back only
		// after a delete) and the new IDs all sort after the old ones, the
		// usual case with time-ordered ids: append, no lookups.
		m.custOrder, m.custNew = append(m.custOrder, m.custNew...), nil
		return
	}
	merged := make([]string, 0, len(m.cust))
	a, b := m.custOrder, m.custNew
	push := func(id string) {
		// Skip deleted IDs and duplicates (an ID deleted and inserted again).
		if _, live := m.cust[id]; live && (len(merged) == 0 || merged[len(merged)-1] != id) {
			merged = append(merged, id)
		}
	}
	for len(a) > 0 && len(b) > 0 {
		if a[0] <= b[0] {
			push(a[0])
			a = a[1:]
		} else {
			push(b[0])
			b = b[1:]
		}
	}
	for _, id := range a {
		push(id)
	}
	for _, id := range b {
		push(id)
	}
	m.custOrder, m.custNew, m.custDead = merged, nil, 0
}

// Customers implements customer.Store. Customers come in ascending ID
// order. The yielded values share metadata and consent maps with the
// store: treat them as read-only and Clone one before changing it.
// (Sharing keeps a full scan of a million customers cheap; the store
// itself never changes a stored value in place.) Customers written during
// the iteration may or may not be seen.
func (m *Memory) Customers(ctx context.Context, opts customer.ListOptions) iter.Seq2[customer.Customer, error] {
	return func(yield func(customer.Customer, error) bool) {
		const chunk = 512
		buf := make([]*customer.Customer, 0, chunk)
		after, count := opts.After, 0
		for {
			if err := ctx.Err(); err != nil {
				yield(customer.Customer{}, err)
				return
			}
			buf = buf[:0]
			m.mu.RLock()
			if len(m.custNew) > 0 || m.custDead > len(m.custOrder)/2 {
				m.mu.RUnlock()
				m.mu.Lock()
				m.sortCustomers()
				m.mu.Unlock()
				m.mu.RLock()
			}
			i, found := slices.BinarySearch(m.custOrder, after)
			if found {
				i++
			}
			for ; i < len(m.custOrder) && len(buf) < chunk; i++ {
				if c, ok := m.cust[m.custOrder[i]]; ok {
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
			after = buf[len(buf)-1].ID
		}
	}
}
