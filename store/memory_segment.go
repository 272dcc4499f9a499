package store

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/codedrop/codedrop/segment"
)

var (
	_ segment.MembershipBatcher = (*Memory)(nil)
	_ segment.Versioner         = (*Memory)(nil)
	_ segment.SyncBatchWriter   = (*Memory)(nil)
)

// segmentMembers is one segment's membership.
type segmentMembers struct {
	set    map[string]struct{}
	sorted []string // the set in ascending order; nil when stale
}

func (m *Memory) getSegment(id string) (*segment.Segment, error) {
	s, ok := m.segments[id]
	if !ok {
		return nil, fmt.Errorf("segment %q: %w", id, segment.ErrNotFound)
	}
	return s, nil
}

func cloneSegment(s segment.Segment) segment.Segment {
	s.CustomerIDs = slices.Clone(s.CustomerIDs)
	return s
}

// CreateSegment implements segment.Store.
func (m *Memory) CreateSegment(ctx context.Context, s segment.Segment) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.ID == "" {
		return fmt.Errorf("segment %q: ID is required: %w", s.Name, segment.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.segments[s.ID]; ok {
		return fmt.Errorf("segment %q already exists: %w", s.ID, segment.ErrConflict)
	}
	c := cloneSegment(s)
	m.segments[s.ID] = &c
	m.members[s.ID] = &segmentMembers{set: map[string]struct{}{}}
	m.segVersion++
	return nil
}

// GetSegment implements segment.Store.
func (m *Memory) GetSegment(ctx context.Context, id string) (segment.Segment, error) {
	if err := ctx.Err(); err != nil {
		return segment.Segment{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, err := m.getSegment(id)
	if err != nil {
		return segment.Segment{}, err
	}
	return cloneSegment(*s), nil
}

// Segments implements segment.Store.
func (m *Memory) Segments(ctx context.Context) iter.Seq2[segment.Segment, error] {
	return func(yield func(segment.Segment, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(segment.Segment{}, err)
			return
		}
		m.mu.RLock()
		out := make([]segment.Segment, 0, len(m.segments))
		for _, s := range m.segments {
			out = append(out, cloneSegment(*s))
		}
		m.mu.RUnlock()
		slices.SortFunc(out, func(a, b segment.Segment) int { return strings.Compare(a.ID, b.ID) })
		for _, s := range out {
			if !yield(s, nil) {
				return
			}
		}
	}
}

// DeleteSegment implements segment.Store.
func (m *Memory) DeleteSegment(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.getSegment(id); err != nil {
		return err
	}
	for cid := range m.members[id].set {
		m.unlinkCustomer(cid, id)
	}
	delete(m.segments, id)
	delete(m.members, id)
	m.segVersion++
	return nil
}

// SetSyncStatus implements segment.Store.
func (m *Memory) SetSyncStatus(ctx context.Context, id string, status segment.SyncStatus, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if status != segment.Syncing && status != segment.Synced {
		return fmt.Errorf("segment %q: sync status %q: %w", id, status, segment.ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getSegment(id)
	if err != nil {
		return err
	}
	c := *s // stored values are replaced, never changed in place
	c.SyncStatus, c.UpdatedAt = status, at
	if status == segment.Synced {
		c.SyncedAt = at
	}
	m.segments[id] = &c
	m.segVersion++
	return nil
}

// UpdateSegment implements segment.Store.
func (m *Memory) UpdateSegment(ctx context.Context, s segment.Segment) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, err := m.getSegment(s.ID)
	if err != nil {
		return err
	}
	c := *cur // stored values are replaced, never changed in place
	c.Name, c.Type, c.Filter, c.Expression = s.Name, s.Type, s.Filter, s.Expression
	c.CustomerIDs, c.UpdatedAt = slices.Clone(s.CustomerIDs), s.UpdatedAt
	if s.SyncStatus != "" {
		c.SyncStatus, c.SyncChecked, c.SyncTotal, c.SyncedAt = s.SyncStatus, s.SyncChecked, s.SyncTotal, s.SyncedAt
	}
	m.segments[s.ID] = &c
	m.segVersion++
	return nil
}

// SetSyncProgress implements segment.Store.
func (m *Memory) SetSyncProgress(ctx context.Context, id string, checked, total int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getSegment(id)
	if err != nil {
		return err
	}
	c := *s
	c.SyncChecked, c.SyncTotal = checked, total
	m.segments[id] = &c
	return nil
}

// AddMembers implements segment.Store.
func (m *Memory) AddMembers(ctx context.Context, segmentID string, customerIDs []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.getSegment(segmentID); err != nil {
		return err
	}
	m.addMembers(segmentID, customerIDs)
	return nil
}

// addMembers is AddMembers of an existing segment; m.mu must be held for
// writing.
func (m *Memory) addMembers(segmentID string, customerIDs []string) {
	sm := m.members[segmentID]
	for _, cid := range customerIDs {
		if _, ok := sm.set[cid]; ok {
			continue
		}
		sm.set[cid] = struct{}{}
		sm.sorted = nil
		segs := m.custSegments[cid]
		i, _ := slices.BinarySearch(segs, segmentID)
		m.custSegments[cid] = slices.Insert(segs, i, segmentID)
	}
}

// RemoveMembers implements segment.Store.
func (m *Memory) RemoveMembers(ctx context.Context, segmentID string, customerIDs []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.getSegment(segmentID); err != nil {
		return err
	}
	m.removeMembers(segmentID, customerIDs)
	return nil
}

// removeMembers is RemoveMembers of an existing segment; m.mu must be
// held for writing.
func (m *Memory) removeMembers(segmentID string, customerIDs []string) {
	sm := m.members[segmentID]
	for _, cid := range customerIDs {
		if _, ok := sm.set[cid]; !ok {
			continue
		}
		delete(sm.set, cid)
		sm.sorted = nil
		m.unlinkCustomer(cid, segmentID)
	}
}

// WriteSyncBatch implements segment.SyncBatchWriter under one lock.
func (m *Memory) WriteSyncBatch(ctx context.Context, b segment.SyncBatch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getSegment(b.SegmentID)
	if err != nil {
		return err
	}
	m.addMembers(b.SegmentID, b.Add)
	m.removeMembers(b.SegmentID, b.Remove)
	if b.Total >= 0 {
		c := *s // stored values are replaced, never changed in place
		c.SyncChecked, c.SyncTotal = b.Checked, b.Total
		m.segments[b.SegmentID] = &c
	}
	return nil
}

// ChangeMemberships implements segment.Store.
func (m *Memory) ChangeMemberships(ctx context.Context, customerID string, join, leave []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.changeMemberships(customerID, join, leave)
	return nil
}

// ChangeMembershipsBatch implements segment.MembershipBatcher under one
// lock.
func (m *Memory) ChangeMembershipsBatch(ctx context.Context, changes []segment.MembershipChange) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range changes {
		m.changeMemberships(c.CustomerID, c.Join, c.Leave)
	}
	return nil
}

// CustomersSegments implements segment.MembershipBatcher under one read
// lock.
func (m *Memory) CustomersSegments(ctx context.Context, customerIDs []string) (map[string][]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.custSegments) == 0 {
		return out, nil
	}
	for _, id := range customerIDs {
		if segs := m.custSegments[id]; len(segs) > 0 {
			out[id] = slices.Clone(segs)
		}
	}
	return out, nil
}

// SegmentsVersion implements segment.Versioner.
func (m *Memory) SegmentsVersion(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.segVersion, nil
}

// changeMemberships is ChangeMemberships; m.mu must be held for writing.
func (m *Memory) changeMemberships(customerID string, join, leave []string) {
	joined, missing := join, false // join without segments that do not exist
	for i, id := range join {
		sm, ok := m.members[id]
		if !ok {
			if !missing { // the first missing segment: copy the ones before it
				missing = true
				joined = append(make([]string, 0, len(join)), join[:i]...)
			}
			continue
		}
		if _, member := sm.set[customerID]; !member {
			sm.set[customerID] = struct{}{}
			sm.sorted = nil
		}
		if missing {
			joined = append(joined, id)
		}
	}
	if !slices.IsSorted(joined) { // the engine passes them sorted
		joined = slices.Sorted(slices.Values(joined))
	}
	left := leave
	if !slices.IsSorted(left) {
		left = slices.Sorted(slices.Values(left))
	}
	for _, id := range left {
		if sm, ok := m.members[id]; ok {
			if _, member := sm.set[customerID]; member {
				delete(sm.set, customerID)
				sm.sorted = nil
			}
		}
	}
	// The customer's new segment list: (old - left) merged with joined, all
	// sorted. A new slice: CustomerSegments hands out copies of the old one.
	old := m.custSegments[customerID]
	segs := make([]string, 0, len(old)+len(joined))
	l, j := 0, 0
	for _, id := range old {
		for l < len(left) && left[l] < id {
			l++
		}
		if l < len(left) && left[l] == id {
			continue
		}
		for j < len(joined) && joined[j] < id {
			segs = append(segs, joined[j])
			j++
		}
		if j < len(joined) && joined[j] == id {
			j++
		}
		segs = append(segs, id)
	}
	segs = append(segs, joined[j:]...)
	segs = slices.Compact(segs)
	if len(segs) == 0 {
		delete(m.custSegments, customerID)
	} else {
		m.custSegments[customerID] = segs
	}
}

// unlinkCustomer drops segmentID from a customer's segment list; m.mu must
// be held for writing.
func (m *Memory) unlinkCustomer(cid, segmentID string) {
	segs := m.custSegments[cid]
	if i, ok := slices.BinarySearch(segs, segmentID); ok {
		// A new slice: CustomerSegments may have handed out the old one.
		segs = slices.Delete(slices.Clone(segs), i, i+1)
	}
	if len(segs) == 0 {
		delete(m.custSegments, cid)
		return
	}
	m.custSegments[cid] = segs
}

// Members implements segment.Store. The listing is a snapshot taken when
// iteration starts.
func (m *Memory) Members(ctx context.Context, segmentID string, opts segment.MemberOptions) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := ctx.Err(); err != nil {
			yield("", err)
			return
		}
		m.mu.Lock()
		if _, err := m.getSegment(segmentID); err != nil {
			m.mu.Unlock()
			yield("", err)
			return
		}
		sm := m.members[segmentID]
		if sm.sorted == nil {
			sm.sorted = make([]string, 0, len(sm.set))
			for cid := range sm.set {
				sm.sorted = append(sm.sorted, cid)
			}
			slices.Sort(sm.sorted)
		}
		ids := sm.sorted // never changed in place: a write sets it to nil
		m.mu.Unlock()
		start := 0
		if opts.After != "" {
			start, _ = slices.BinarySearch(ids, opts.After)
			if start < len(ids) && ids[start] == opts.After {
				start++
			}
		}
		for n, cid := range ids[start:] {
			if opts.Limit > 0 && n >= opts.Limit {
				return
			}
			if n%1024 == 1023 {
				if err := ctx.Err(); err != nil {
					yield("", err)
					return
				}
			}
			if !yield(cid, nil) {
				return
			}
		}
	}
}

// CountMembers implements segment.Store.
func (m *Memory) CountMembers(ctx context.Context, segmentID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if _, err := m.getSegment(segmentID); err != nil {
		return 0, err
	}
	return len(m.members[segmentID].set), nil
}

// CustomerSegments implements segment.Store.
func (m *Memory) CustomerSegments(ctx context.Context, customerID string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Clone(m.custSegments[customerID]), nil
}
