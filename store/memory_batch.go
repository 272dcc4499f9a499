package store

import (
	"context"
	"fmt"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
)

var (
	_ distribution.CustomerBatchGetter  = (*Memory)(nil)
	_ distribution.DeliveryBatchUpdater = (*Memory)(nil)
)

// GetCustomers implements distribution.CustomerBatchGetter under one read
// lock.
func (m *Memory) GetCustomers(ctx context.Context, ids []string) (map[string]customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]customer.Customer, len(ids))
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, id := range ids {
		if _, dup := out[id]; dup {
			continue
		}
		if r, ok := m.lookupCustomer(id); ok {
			out[id] = r.customer(true)
		}
	}
	return out, nil
}

// UpdateDeliveries implements distribution.DeliveryBatchUpdater under one
// lock.
func (m *Memory) UpdateDeliveries(ctx context.Context, ds []distribution.Delivery, from distribution.DeliveryState) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkDeliveryBatch(ds); err != nil {
		return nil, err
	}
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(ds))
	for n, d := range ds {
		if isRetry(&d) {
			errs[n] = fmt.Errorf("delivery %s: a retry needs UpdateDelivery: %w", d.ID, distribution.ErrInvalid)
			continue
		}
		i, ok := s.dlvByID[d.ID]
		if !ok {
			errs[n] = fmt.Errorf("delivery %q: %w", d.ID, distribution.ErrNotFound)
			continue
		}
		cur := s.dlv[i]
		if cur.State != from {
			errs[n] = fmt.Errorf("delivery %s: state is %s, not %s: %w", d.ID, cur.State, from, distribution.ErrConflict)
			continue
		}
		if cur.Key() != d.Key() {
			errs[n] = fmt.Errorf("delivery %s: the key fields cannot change: %w", d.ID, distribution.ErrInvalid)
			continue
		}
		c := d
		c.CreatedAt = cur.CreatedAt
		s.count(cur, -1)
		s.count(&c, 1)
		s.dlv[i] = &c
	}
	return errs, nil
}

// isRetry reports whether d is a move back to scheduled with a retry time,
// which UpdateDeliveries refuses.
func isRetry(d *distribution.Delivery) bool {
	return d.State == distribution.DeliveryScheduled && !d.NextAttemptAt.IsZero()
}

// checkDeliveryBatch refuses a batch naming one delivery twice.
func checkDeliveryBatch(ds []distribution.Delivery) error {
	seen := make(map[string]int, len(ds))
	for i, d := range ds {
		if j, dup := seen[d.ID]; dup {
			return fmt.Errorf("deliveries[%d]: %s repeats deliveries[%d]: %w", i, d.ID, j, distribution.ErrInvalid)
		}
		seen[d.ID] = i
	}
	return nil
}
