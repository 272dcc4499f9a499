package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/internal/hashidx"
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

	// deliveries (memory_ledger.go): rows in chunks, found by their key's
	// hash (index) or, for an id not made by distribution.DeliveryID, by
	// oddIDs.
	rows   [][]dlvRow
	nrows  uint32
	index  hashidx.Index
	oddIDs map[string]uint32
	odd    map[uint32]*dlvOdd // what a row cannot hold (see dlvRow)
	// interned values of rows
	routes   []dlvRoute
	routeIdx map[dlvRoute]uint32
	states   []distribution.DeliveryState
	locs     []*time.Location
	dlvDist  map[string][]uint32 // distribution id -> row positions, in order
	seen     map[string]int      // scratch of a batch write (see scratch)
	// counts per distribution, kept on every write so CountDeliveries
	// (polled for progress) does not scan.
	dlvCount map[string]*dlvCounts
}

type dlvCounts struct {
	states  map[distribution.DeliveryState]int
	reasons map[distribution.DeliveryState]map[string]int
}

// count adds delta to the counts of a delivery of distribution dist in
// state st with reason (s.mu held for writing).
func (s *distMemory) count(dist string, st distribution.DeliveryState, reason string, delta int) {
	c := s.dlvCount[dist]
	if c == nil {
		c = &dlvCounts{states: map[distribution.DeliveryState]int{}, reasons: map[distribution.DeliveryState]map[string]int{}}
		s.dlvCount[dist] = c
	}
	c.states[st] += delta
	if c.states[st] == 0 {
		delete(c.states, st)
	}
	if st == distribution.DeliverySkipped || st == distribution.DeliveryFailed {
		r := c.reasons[st]
		if r == nil {
			r = map[string]int{}
			c.reasons[st] = r
		}
		r[reason] += delta
		if r[reason] == 0 {
			delete(r, reason)
			if len(r) == 0 {
				delete(c.reasons, st)
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
		d.routeIdx = map[dlvRoute]uint32{}
		d.states = []distribution.DeliveryState{distribution.DeliveryScheduled, distribution.DeliverySending, distribution.DeliverySent,
			distribution.DeliverySkipped, distribution.DeliveryFailed, distribution.DeliveryUnknown, distribution.DeliveryCanceled}
		d.locs = []*time.Location{time.UTC, time.Local}
		d.dlvDist = map[string][]uint32{}
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
