package store

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"unique"

	"github.com/codedrop/codedrop/distribution"
)

// The delivery ledger of Memory, in compact rows (see dlvRow).

// InsertDeliveries implements distribution.Store.
func (m *Memory) InsertDeliveries(ctx context.Context, ds []distribution.Delivery) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for i, d := range ds {
		if d.ID == "" || d.DistributionID == "" || d.CustomerID == "" || d.Channel == "" {
			return 0, fmt.Errorf("deliveries[%d]: id, distribution_id, customer_id and channel are required: %w", i, distribution.ErrInvalid)
		}
	}
	hashes := make([][16]byte, len(ds))
	for i := range ds {
		d := &ds[i]
		hashes[i] = keyHash(d.DistributionID, d.CustomerID, d.TriggerKey, d.Channel)
	}
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	// Check first so the batch is atomic.
	seen := s.scratch()
	for i := range ds {
		d := &ds[i]
		if _, ok := s.findKey(hashes[i], d); ok {
			continue
		}
		if _, ok := s.findID(d.ID); ok {
			return 0, fmt.Errorf("deliveries[%d]: id %s is taken by another key: %w", i, d.ID, distribution.ErrConflict)
		}
		if _, ok := seen[d.ID]; ok {
			return 0, fmt.Errorf("deliveries[%d]: id %s is taken by another key: %w", i, d.ID, distribution.ErrConflict)
		}
		if _, err := s.stateOf(d.State); err != nil {
			return 0, fmt.Errorf("deliveries[%d]: %w", i, err)
		}
		seen[d.ID] = i
	}
	n := 0
	for i := range ds {
		d := &ds[i]
		h := hashes[i]
		if _, ok := s.findKey(h, d); ok {
			continue
		}
		pos := s.nrows
		if pos&(rowChunk-1) == 0 {
			s.rows = append(s.rows, make([]dlvRow, rowChunk))
		}
		r := s.row(pos)
		*r = dlvRow{hash: h, cust: d.CustomerID, trigger: d.TriggerKey, route: s.routeOf(d.DistributionID, d.Channel)}
		oddID := ""
		if p, ok := parseDeliveryID(d.ID); !ok || p != h {
			oddID = d.ID
		}
		odd, err := s.encode(r, d, d.CreatedAt, oddID)
		if err != nil { // checked above
			*r = dlvRow{}
			return n, err
		}
		s.nrows++
		s.setOdd(pos, odd)
		if oddID != "" {
			if s.oddIDs == nil {
				s.oddIDs = map[string]uint32{}
			}
			s.oddIDs[oddID] = pos
		}
		s.index.Add(hashOf(&h), pos, func(pos uint32) uint64 { return hashOf(&s.row(pos).hash) })
		s.dlvDist[d.DistributionID] = append(s.dlvDist[d.DistributionID], pos)
		s.count(d.DistributionID, d.State, d.Reason, 1)
		n++
	}
	return n, nil
}

// scratch returns s.seen, empty (s.mu held for writing): the map a batch
// write uses to find an id it names twice, kept between batches so that
// a fan-out's writes make no garbage of it.
func (s *distMemory) scratch() map[string]int {
	if s.seen == nil {
		s.seen = map[string]int{}
	}
	clear(s.seen)
	return s.seen
}

// GetDelivery implements distribution.Store.
func (m *Memory) GetDelivery(ctx context.Context, id string) (distribution.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Delivery{}, err
	}
	s := &m.dist
	s.mu.RLock()
	defer s.mu.RUnlock()
	pos, ok := s.findID(id)
	if !ok {
		return distribution.Delivery{}, fmt.Errorf("delivery %q: %w", id, distribution.ErrNotFound)
	}
	return s.delivery(pos, id), nil
}

// UpdateDelivery implements distribution.Store.
func (m *Memory) UpdateDelivery(ctx context.Context, d distribution.Delivery, from distribution.DeliveryState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.update(&d, from)
}

// update is UpdateDelivery under the lock.
func (s *distMemory) update(d *distribution.Delivery, from distribution.DeliveryState) error {
	pos, ok := s.findID(d.ID)
	if !ok {
		return fmt.Errorf("delivery %q: %w", d.ID, distribution.ErrNotFound)
	}
	r := s.row(pos)
	if cur := s.states[r.state]; cur != from {
		return fmt.Errorf("delivery %s: state is %s, not %s: %w", d.ID, cur, from, distribution.ErrConflict)
	}
	if !s.sameKey(r, d) {
		return fmt.Errorf("delivery %s: the key fields cannot change: %w", d.ID, distribution.ErrInvalid)
	}
	var oddID string
	if r.flags&rowOddID != 0 {
		oddID = s.odd[pos].id
	}
	next := *r
	odd, err := s.encode(&next, d, s.createdAt(pos, r), oddID)
	if err != nil {
		return fmt.Errorf("delivery %s: %w", d.ID, err)
	}
	dist := s.routes[r.route].dist
	s.count(dist, s.states[r.state], s.reason(r), -1)
	s.count(dist, d.State, d.Reason, 1)
	*r = next
	s.setOdd(pos, odd)
	return nil
}

// reason returns the row's reason.
func (s *distMemory) reason(r *dlvRow) string {
	if r.reason == (unique.Handle[dlvReason]{}) {
		return ""
	}
	return r.reason.Value().reason
}

// Deliveries implements distribution.Store.
func (m *Memory) Deliveries(ctx context.Context, f distribution.DeliveryFilter) iter.Seq2[distribution.Delivery, error] {
	return func(yield func(distribution.Delivery, error) bool) {
		const chunk = 512
		s := &m.dist
		var buf []distribution.Delivery
		pos, count := 0, 0
		s.mu.RLock()
		if f.After != "" {
			after, ok := s.findID(f.After)
			if !ok {
				s.mu.RUnlock()
				yield(distribution.Delivery{}, fmt.Errorf("list deliveries after %q: %w", f.After, distribution.ErrNotFound))
				return
			}
			if f.DistributionID != "" {
				idx := s.dlvDist[f.DistributionID]
				pos, _ = slices.BinarySearch(idx, after)
				if pos < len(idx) && idx[pos] == after {
					pos++
				}
			} else {
				pos = int(after) + 1
			}
		}
		s.mu.RUnlock()
		for {
			if err := ctx.Err(); err != nil {
				yield(distribution.Delivery{}, err)
				return
			}
			buf = buf[:0]
			s.mu.RLock()
			var done bool
			if f.DistributionID != "" {
				idx := s.dlvDist[f.DistributionID]
				for ; pos < len(idx) && len(buf) < chunk; pos++ {
					if s.match(s.row(idx[pos]), &f) {
						buf = append(buf, s.delivery(idx[pos], ""))
					}
				}
				done = pos >= len(idx)
			} else {
				for ; pos < int(s.nrows) && len(buf) < chunk; pos++ {
					if s.match(s.row(uint32(pos)), &f) {
						buf = append(buf, s.delivery(uint32(pos), ""))
					}
				}
				done = pos >= int(s.nrows)
			}
			s.mu.RUnlock()
			if done && len(buf) == 0 {
				return
			}
			for _, d := range buf {
				if f.Limit > 0 && count >= f.Limit {
					return
				}
				count++
				if !yield(d, nil) {
					return
				}
			}
		}
	}
}

// CountDeliveries implements distribution.Store.
func (m *Memory) CountDeliveries(ctx context.Context, distributionID string) (distribution.DeliveryCounts, error) {
	if err := ctx.Err(); err != nil {
		return distribution.DeliveryCounts{}, err
	}
	s := &m.dist
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := distribution.DeliveryCounts{
		States:  map[distribution.DeliveryState]int{},
		Reasons: map[distribution.DeliveryState]map[string]int{},
	}
	if c := s.dlvCount[distributionID]; c != nil {
		for st, n := range c.states {
			out.States[st] = n
		}
		for st, rs := range c.reasons {
			m := make(map[string]int, len(rs))
			for r, n := range rs {
				m[r] = n
			}
			out.Reasons[st] = m
		}
	}
	return out, nil
}
