package store

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/codedrop/codedrop/distribution"
)

// distMemory holds the distribution.Store part of Memory under its own
// lock (sends never wait for customer writes). The zero value is ready.
type distMemory struct {
	mu sync.RWMutex

	dists    map[string]*distribution.Distribution
	distList []string          // ids in creation order
	distName map[string]string // name -> id
	triggers int64             // TriggersVersion

	consents    map[string]*distribution.Consent
	consentList []string
	consentName map[string]string

	// deliveries; a stored *Delivery is replaced, never changed in place,
	// so iterators may hand it out after unlocking.
	dlv     []*distribution.Delivery // creation order
	dlvByID map[string]int
	dlvKey  map[distribution.DeliveryKey]int
	dlvDist map[string][]int // distribution id -> indexes, in order
	// counts per distribution, kept on every write so CountDeliveries
	// (polled for progress) does not scan.
	dlvCount map[string]*dlvCounts
}

type dlvCounts struct {
	states  map[distribution.DeliveryState]int
	reasons map[distribution.DeliveryState]map[string]int
}

func (s *distMemory) count(d *distribution.Delivery, delta int) {
	c := s.dlvCount[d.DistributionID]
	if c == nil {
		c = &dlvCounts{states: map[distribution.DeliveryState]int{}, reasons: map[distribution.DeliveryState]map[string]int{}}
		s.dlvCount[d.DistributionID] = c
	}
	c.states[d.State] += delta
	if c.states[d.State] == 0 {
		delete(c.states, d.State)
	}
	if d.State == distribution.DeliverySkipped || d.State == distribution.DeliveryFailed {
		r := c.reasons[d.State]
		if r == nil {
			r = map[string]int{}
			c.reasons[d.State] = r
		}
		r[d.Reason] += delta
		if r[d.Reason] == 0 {
			delete(r, d.Reason)
			if len(r) == 0 {
				delete(c.reasons, d.State)
			}
		}
	}
}

func (d *distMemory) init() {
	if d.dists == nil {
		d.dists = map[string]*distribution.Distribution{}
		d.distName = map[string]string{}
		d.consents = map[string]*distribution.Consent{}
		d.consentName = map[string]string{}
		d.dlvByID = map[string]int{}
		d.dlvKey = map[distribution.DeliveryKey]int{}
		d.dlvDist = map[string][]int{}
		d.dlvCount = map[string]*dlvCounts{}
	}
}

// CreateDistribution implements distribution.Store.
func (m *Memory) CreateDistribution(ctx context.Context, d distribution.Distribution) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.ID == "" {
		return fmt.Errorf("distribution %q: id: required: %w", d.Name, distribution.ErrInvalid)
	}
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if _, ok := s.dists[d.ID]; ok {
		return fmt.Errorf("distribution %s already exists: %w", d.ID, distribution.ErrConflict)
	}
	if other, ok := s.distName[d.Name]; ok {
		return fmt.Errorf("name %q is used by distribution %s: %w", d.Name, other, distribution.ErrNameTaken)
	}
	c := d.Clone()
	c.Revision = 1
	s.bumpTriggers(&c)
	s.dists[d.ID] = &c
	s.distList = append(s.distList, d.ID)
	s.distName[d.Name] = d.ID
	return nil
}

// GetDistribution implements distribution.Store.
func (m *Memory) GetDistribution(ctx context.Context, id string) (distribution.Distribution, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Distribution{}, err
	}
	s := &m.dist
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.dists[id]
	if !ok {
		return distribution.Distribution{}, fmt.Errorf("distribution %q: %w", id, distribution.ErrNotFound)
	}
	return d.Clone(), nil
}

// UpdateDistribution implements distribution.Store.
func (m *Memory) UpdateDistribution(ctx context.Context, d distribution.Distribution) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	cur, ok := s.dists[d.ID]
	if !ok {
		return 0, fmt.Errorf("distribution %q: %w", d.ID, distribution.ErrNotFound)
	}
	if cur.Revision != d.Revision {
		return 0, fmt.Errorf("distribution %s: revision %d is stale (stored %d): %w", d.ID, d.Revision, cur.Revision, distribution.ErrConflict)
	}
	if other, ok := s.distName[d.Name]; ok && other != d.ID {
		return 0, fmt.Errorf("name %q is used by distribution %s: %w", d.Name, other, distribution.ErrNameTaken)
	}
	c := d.Clone()
	c.Revision = cur.Revision + 1
	s.bumpTriggers(&c)
	delete(s.distName, cur.Name)
	s.distName[c.Name] = c.ID
	s.dists[d.ID] = &c
	return c.Revision, nil
}

// bumpTriggers moves the triggers version when d is automatic (s.mu held).
func (s *distMemory) bumpTriggers(d *distribution.Distribution) {
	if d.Mode == distribution.Automatic {
		s.triggers++
	}
}

// TriggersVersion implements distribution.Store.
func (m *Memory) TriggersVersion(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s := &m.dist
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.triggers, nil
}

// ListDistributions implements distribution.Store.
func (m *Memory) ListDistributions(ctx context.Context, statuses ...distribution.Status) ([]distribution.Distribution, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &m.dist
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []distribution.Distribution
	for _, id := range s.distList {
		d := s.dists[id]
		if len(statuses) == 0 || slices.Contains(statuses, d.Status) {
			out = append(out, d.Clone())
		}
	}
	return out, nil
}

// CreateConsent implements distribution.Store.
func (m *Memory) CreateConsent(ctx context.Context, c distribution.Consent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.ID == "" {
		return fmt.Errorf("consent %q: id: required: %w", c.Name, distribution.ErrInvalid)
	}
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if _, ok := s.consents[c.ID]; ok {
		return fmt.Errorf("consent %s already exists: %w", c.ID, distribution.ErrConflict)
	}
	if other, ok := s.consentName[c.Name]; ok {
		return fmt.Errorf("name %q is used by consent %s: %w", c.Name, other, distribution.ErrNameTaken)
	}
	s.consents[c.ID] = &c
	s.consentList = append(s.consentList, c.ID)
	s.consentName[c.Name] = c.ID
	return nil
}

// GetConsent implements distribution.Store.
func (m *Memory) GetConsent(ctx context.Context, id string) (distribution.Consent, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Consent{}, err
	}
	s := &m.dist
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.consents[id]
	if !ok {
		return distribution.Consent{}, fmt.Errorf("consent %q: %w", id, distribution.ErrNotFound)
	}
	return *c, nil
}

// UpdateConsent implements distribution.Store.
func (m *Memory) UpdateConsent(ctx context.Context, c distribution.Consent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	cur, ok := s.consents[c.ID]
	if !ok {
		return fmt.Errorf("consent %q: %w", c.ID, distribution.ErrNotFound)
	}
	if other, ok := s.consentName[c.Name]; ok && other != c.ID {
		return fmt.Errorf("name %q is used by consent %s: %w", c.Name, other, distribution.ErrNameTaken)
	}
	delete(s.consentName, cur.Name)
	s.consentName[c.Name] = c.ID
	s.consents[c.ID] = &c
	return nil
}

// DeleteConsent implements distribution.Store.
func (m *Memory) DeleteConsent(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consents[id]
	if !ok {
		return fmt.Errorf("consent %q: %w", id, distribution.ErrNotFound)
	}
	delete(s.consents, id)
	delete(s.consentName, c.Name)
	s.consentList = slices.DeleteFunc(s.consentList, func(x string) bool { return x == id })
	return nil
}

// ListConsents implements distribution.Store.
func (m *Memory) ListConsents(ctx context.Context) ([]distribution.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &m.dist
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]distribution.Consent, 0, len(s.consentList))
	for _, id := range s.consentList {
		out = append(out, *s.consents[id])
	}
	return out, nil
}

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
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	// Check first so the batch is atomic.
	seen := make(map[string]bool, len(ds))
	for i, d := range ds {
		if _, ok := s.dlvKey[d.Key()]; ok {
			continue
		}
		if _, ok := s.dlvByID[d.ID]; ok || seen[d.ID] {
			return 0, fmt.Errorf("deliveries[%d]: id %s is taken by another key: %w", i, d.ID, distribution.ErrConflict)
		}
		seen[d.ID] = true
	}
	n := 0
	for _, d := range ds {
		k := d.Key()
		if _, ok := s.dlvKey[k]; ok {
			continue
		}
		c := d
		i := len(s.dlv)
		s.dlv = append(s.dlv, &c)
		s.dlvByID[c.ID] = i
		s.dlvKey[k] = i
		s.dlvDist[c.DistributionID] = append(s.dlvDist[c.DistributionID], i)
		s.count(&c, 1)
		n++
	}
	return n, nil
}

// GetDelivery implements distribution.Store.
func (m *Memory) GetDelivery(ctx context.Context, id string) (distribution.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Delivery{}, err
	}
	s := &m.dist
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.dlvByID[id]
	if !ok {
		return distribution.Delivery{}, fmt.Errorf("delivery %q: %w", id, distribution.ErrNotFound)
	}
	return *s.dlv[i], nil
}

// UpdateDelivery implements distribution.Store.
func (m *Memory) UpdateDelivery(ctx context.Context, d distribution.Delivery, from distribution.DeliveryState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.dlvByID[d.ID]
	if !ok {
		return fmt.Errorf("delivery %q: %w", d.ID, distribution.ErrNotFound)
	}
	cur := s.dlv[i]
	if cur.State != from {
		return fmt.Errorf("delivery %s: state is %s, not %s: %w", d.ID, cur.State, from, distribution.ErrConflict)
	}
	if cur.Key() != d.Key() {
		return fmt.Errorf("delivery %s: the key fields cannot change: %w", d.ID, distribution.ErrInvalid)
	}
	c := d
	c.CreatedAt = cur.CreatedAt
	s.count(cur, -1)
	s.count(&c, 1)
	s.dlv[i] = &c
	return nil
}

// Deliveries implements distribution.Store.
func (m *Memory) Deliveries(ctx context.Context, f distribution.DeliveryFilter) iter.Seq2[distribution.Delivery, error] {
	return func(yield func(distribution.Delivery, error) bool) {
		const chunk = 512
		s := &m.dist
		buf := make([]*distribution.Delivery, 0, chunk)
		pos, count := 0, 0
		s.mu.RLock()
		if f.After != "" {
			i, ok := s.dlvByID[f.After]
			if !ok {
				s.mu.RUnlock()
				yield(distribution.Delivery{}, fmt.Errorf("list deliveries after %q: %w", f.After, distribution.ErrNotFound))
				return
			}
			if f.DistributionID != "" {
				idx := s.dlvDist[f.DistributionID]
				pos, _ = slices.BinarySearch(idx, i)
				if pos < len(idx) && idx[pos] == i {
					pos++
				}
			} else {
				pos = i + 1
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
			if f.DistributionID != "" {
				idx := s.dlvDist[f.DistributionID]
				for ; pos < len(idx) && len(buf) < chunk; pos++ {
					if d := s.dlv[idx[pos]]; f.Match(d) {
						buf = append(buf, d)
					}
				}
				if pos >= len(idx) && len(buf) == 0 {
					s.mu.RUnlock()
					return
				}
			} else {
				for ; pos < len(s.dlv) && len(buf) < chunk; pos++ {
					if d := s.dlv[pos]; f.Match(d) {
						buf = append(buf, d)
					}
				}
				if pos >= len(s.dlv) && len(buf) == 0 {
					s.mu.RUnlock()
					return
				}
			}
			s.mu.RUnlock()
			for _, d := range buf {
				if f.Limit > 0 && count >= f.Limit {
					return
				}
				count++
				if !yield(*d, nil) {
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
