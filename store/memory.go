package store

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/segment"
)

// Memory is an in-memory [Store] that provides codes too (a codes.Source
// and codes.Registry, see memory_codes.go), safe for concurrent use. Its
// zero value is not usable; call [NewMemory]. Data lives as long as the
// value does.
type Memory struct {
	mu sync.RWMutex

	// Stored customers are never changed in place (a write stores a new
	// pointer), so readers may share them outside the lock.
	cust      map[string]*customer.Customer // by ID
	custBySrc map[string]*customer.Customer // by SourceID; the same pointers as cust
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
	segVersion   int64                      // segment.Versioner: moved by every segment write

	dist  distMemory    // distributions, consents, deliveries (memory_distribution.go)
	auto  autoMemory    // events, summaries, usage, send log (memory_automation.go)
	codes *codes.Memory // campaigns and publications (memory_codes.go); its own lock

	hooks intercom.MemoryWebhookStore // webhook de-duplication and contact order (memory_webhook.go)
}

// NewMemory returns an empty in-memory store. It provides codes too
// (codes.Source and codes.Registry, see [Memory.Codes]), with random codes
// from crypto/rand and CreatedAt from time.Now.
func NewMemory() *Memory {
	return &Memory{
		codes: codes.NewMemory(codes.Config{}),

		cust:      map[string]*customer.Customer{},
		custBySrc: map[string]*customer.Customer{},

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
	if c, ok := m.custBySrc[id]; ok {
		return c, true
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

// UpsertCustomers implements customer.Store. With opts.Handoff the
// store keeps the given customers' maps rather than copying them.
func (m *Memory) UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	// With Handoff the caller gave cs up: it becomes the result (written
	// after the last check), which saves a copy of every customer.
	var out []customer.Customer
	var stored []*customer.Customer
	if opts.Handoff {
		stored = make([]*customer.Customer, len(cs))
	} else {
		out = make([]customer.Customer, len(cs))
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	// Each write applies at once (later customers of the batch see the
	// earlier ones) and leaves an undo record, so that a failure puts the
	// store back as it was: no lookaside maps for the batch.
	undo := make([]custUndo, 0, len(cs))
	newFrom := len(m.custNew)
	fail := func(n int, err error) ([]customer.Customer, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			u := &undo[i]
			if u.prev != nil {
				m.cust[u.id] = u.prev
			} else {
				delete(m.cust, u.id)
			}
			if u.src != "" {
				if u.srcOwner != nil {
					m.custBySrc[u.src] = u.srcOwner
				} else {
					delete(m.custBySrc, u.src)
				}
			}
		}
		clear(m.custNew[newFrom:])
		m.custNew = m.custNew[:newFrom]
		return nil, &customer.BatchError{Index: n, Err: err}
	}
	for n := range cs {
		in := &cs[n]
		var prev *customer.Customer
		if in.ID != "" {
			prev = m.cust[in.ID]
		} else if in.SourceID != "" {
			prev = m.custBySrc[in.SourceID]
		}
		// next is the stored value. Its maps are the store's own (copies,
		// unless handed off); out[n] may share them with the caller's.
		next := new(customer.Customer)
		shared := false       // next's maps are in's (but kept consents)
		keptConsents := false // next.Consents are prev's
		if prev != nil {
			if prev.SourceID != "" && in.SourceID != "" && in.SourceID != prev.SourceID {
				return fail(n, fmt.Errorf("customer %s: source_id %q cannot change to %q: %w",
					prev.ID, prev.SourceID, in.SourceID, customer.ErrConflict))
			}
			if opts.Merge {
				*next = customer.Merge(*prev, *in)
			} else {
				*next, shared = *in, true
				next.ID = prev.ID
				if next.SourceID == "" {
					next.SourceID = prev.SourceID
				}
				if next.Consents.IsZero() {
					next.Consents, keptConsents = prev.Consents, true // prev is never changed in place: share
				}
			}
			next.CreatedAt = prev.CreatedAt
			next.Summary = prev.Summary // kept by the library from events, not by profile writes
			if in.UpdatedAt.IsZero() {
				next.UpdatedAt = now
			}
		} else {
			*next, shared = *in, true
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
		u := custUndo{id: next.ID, prev: prev}
		if next.SourceID != "" {
			owner := m.custBySrc[next.SourceID]
			if owner != nil && owner.ID != next.ID {
				return fail(n, fmt.Errorf("customer %s: source_id %q belongs to customer %s: %w",
					next.ID, next.SourceID, owner.ID, customer.ErrConflict))
			}
			u.src, u.srcOwner = next.SourceID, owner
		}
		switch {
		case opts.Handoff: // everything may be shared
			stored[n] = next
		case shared:
			out[n] = *next
			// The stored value gets copies of the caller's maps; the
			// returned one keeps the caller's own (one clone, not two).
			next.Metadata = in.Metadata.Clone()
			if keptConsents {
				out[n].Consents = next.Consents.Clone()
			} else {
				next.Consents = in.Consents.Clone()
			}
		default:
			out[n] = next.Clone()
		}
		undo = append(undo, u)
		if prev == nil {
			m.custNew = append(m.custNew, next.ID)
		}
		m.cust[next.ID] = next
		if u.src != "" {
			m.custBySrc[u.src] = next
		}
	}
	if opts.Handoff {
		for n, c := range stored {
			cs[n] = *c
		}
		return cs, nil
	}
	return out, nil
}

// custUndo restores what one write of UpsertCustomers changed.
type custUndo struct {
	id       string
	prev     *customer.Customer // m.cust[id] before, nil when absent
	src      string             // the SourceID key written, if any
	srcOwner *customer.Customer // m.custBySrc[src] before, nil when absent
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

// CountCustomers implements segment.CustomerCounter.
func (m *Memory) CountCustomers(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.cust), nil
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
