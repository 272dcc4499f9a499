package store

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
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

	// Stored customers are compact records (memory_record.go), never
	// changed in place (a write stores a new pointer), so readers decode
	// them outside the lock.
	cust      map[string]*custRec // by ID
	custBySrc map[string]*custRec // by SourceID; the same pointers as cust
	shapes    shapes              // interned metadata key sets
	recBuf    []byte              // encode's scratch
	upsertBuf []customer.Customer // UpsertCustomers' scratch
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

		cust:      map[string]*custRec{},
		custBySrc: map[string]*custRec{},

		segments:     map[string]*segment.Segment{},
		members:      map[string]*segmentMembers{},
		custSegments: map[string][]string{},
	}
}

func (m *Memory) lookupCustomer(id string) (*custRec, bool) {
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
	r, ok := m.lookupCustomer(id)
	m.mu.RUnlock()
	if !ok {
		return customer.Customer{}, fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	return r.customer(true), nil
}

// UpsertCustomers implements customer.Store. The store keeps compact
// copies of what it is given, never the given maps, so Handoff changes
// nothing but where the result is written (cs itself).
func (m *Memory) UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()

	// Each write applies at once (later customers of the batch see the
	// earlier ones) and leaves an undo record, so that a failure puts the
	// store back as it was: no lookaside maps for the batch. The results
	// go to cs (with Handoff) or a new slice only after the last check.
	res := slices.Grow(m.upsertBuf[:0], len(cs))[:len(cs)]
	defer func() { clear(res); m.upsertBuf = res[:0] }()
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
		var prev *custRec
		if in.ID != "" {
			prev = m.cust[in.ID]
		} else if in.SourceID != "" {
			prev = m.custBySrc[in.SourceID]
		}
		next := &res[n]
		var id string
		if prev != nil {
			if prev.src != "" && in.SourceID != "" && in.SourceID != prev.src {
				return fail(n, fmt.Errorf("customer %s: source_id %q cannot change to %q: %w",
					prev.id, prev.src, in.SourceID, customer.ErrConflict))
			}
			old := prev.customer(true)
			if opts.Merge {
				*next = customer.Merge(old, *in)
			} else {
				*next = *in
				next.ID = prev.id
				if next.SourceID == "" {
					next.SourceID = prev.src
				}
				if next.Consents.IsZero() {
					next.Consents = old.Consents
				}
			}
			next.CreatedAt = old.CreatedAt
			next.Summary = old.Summary // kept by the library from events, not by profile writes
			if in.UpdatedAt.IsZero() {
				next.UpdatedAt = now
			}
			id = prev.id
		} else {
			*next = *in
			if next.ID == "" {
				next.ID = customer.NewID()
				id = next.ID // a string of its own
			} else {
				id = strings.Clone(next.ID) // may be part of a larger string (a CSV line)
			}
			if next.CreatedAt.IsZero() {
				next.CreatedAt = now
			}
			if next.UpdatedAt.IsZero() {
				next.UpdatedAt = next.CreatedAt
			}
		}
		u := custUndo{id: id, prev: prev}
		var src string
		if next.SourceID != "" {
			owner := m.custBySrc[next.SourceID]
			if owner != nil && owner.id != id {
				return fail(n, fmt.Errorf("customer %s: source_id %q belongs to customer %s: %w",
					next.ID, next.SourceID, owner.id, customer.ErrConflict))
			}
			if prev != nil && prev.src == next.SourceID {
				src = prev.src
			} else {
				src = strings.Clone(next.SourceID)
			}
			u.src, u.srcOwner = src, owner
		}
		rec := m.encode(next, id, src)
		undo = append(undo, u)
		if prev == nil {
			m.custNew = append(m.custNew, id)
		}
		m.cust[id] = rec
		if src != "" {
			m.custBySrc[src] = rec
		}
	}
	out := cs
	if !opts.Handoff {
		out = make([]customer.Customer, len(cs))
	}
	copy(out, res)
	return out, nil
}

// custUndo restores what one write of UpsertCustomers changed.
type custUndo struct {
	id       string
	prev     *custRec // m.cust[id] before, nil when absent
	src      string   // the SourceID key written, if any
	srcOwner *custRec // m.custBySrc[src] before, nil when absent
}

// DeleteCustomer implements customer.Store.
func (m *Memory) DeleteCustomer(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.lookupCustomer(id)
	if !ok {
		return fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	delete(m.cust, r.id)
	if r.src != "" {
		delete(m.custBySrc, r.src)
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
// order. The yielded values may share consent maps (and metadata holding
// objects or geopoints) with the store: treat them as read-only and
// Clone one before changing it. (Sharing keeps a full scan of a million
// customers cheap; the store itself never changes a stored value in
// place.) Customers written during the iteration may or may not be seen.
func (m *Memory) Customers(ctx context.Context, opts customer.ListOptions) iter.Seq2[customer.Customer, error] {
	return func(yield func(customer.Customer, error) bool) {
		count := 0
		err := m.scan(ctx, opts.After, func(r *custRec) bool {
			if opts.Limit > 0 && count >= opts.Limit {
				return false
			}
			count++
			return yield(r.customer(false), nil)
		})
		if err != nil {
			yield(customer.Customer{}, err)
		}
	}
}

var _ segment.CustomerScanner = (*Memory)(nil)

// ScanCustomers implements segment.CustomerScanner: the customers come
// in ascending ID order, each decoded into the same Customer and
// metadata map, so a full scan allocates almost nothing per customer.
func (m *Memory) ScanCustomers(ctx context.Context, after string, fn func(c *customer.Customer) bool) error {
	var c customer.Customer
	var meta customer.Metadata
	return m.scan(ctx, after, func(r *custRec) bool {
		if meta == nil && r.shape != nil {
			meta = make(customer.Metadata, len(r.shape.keys))
		}
		r.decode(&c, meta, false)
		return fn(&c)
	})
}

// scan calls fn with the records after the ID after, in ascending ID
// order, collected 512 at a time under the read lock, until fn returns
// false. It returns ctx's error if ctx ends.
func (m *Memory) scan(ctx context.Context, after string, fn func(r *custRec) bool) error {
	const chunk = 512
	buf := make([]*custRec, 0, chunk)
	for {
		if err := ctx.Err(); err != nil {
			return err
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
			if r, ok := m.cust[m.custOrder[i]]; ok {
				buf = append(buf, r)
			}
		}
		m.mu.RUnlock()
		if len(buf) == 0 {
			return nil
		}
		for _, r := range buf {
			if !fn(r) {
				return nil
			}
		}
		after = buf[len(buf)-1].id
	}
}
