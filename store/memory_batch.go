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
	s := &m.dist
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkBatch(ds); err != nil {
		return nil, err
	}
	errs := make([]error, len(ds))
	for n := range ds {
		d := &ds[n]
		if isRetry(d) {
			errs[n] = fmt.Errorf("delivery %s: a retry needs UpdateDelivery: %w", d.ID, distribution.ErrInvalid)
			continue
		}
		errs[n] = s.update(&ds[n], from)
	}
	return errs, nil
}

// isRetry reports whether d is a move back to scheduled with a retry time,
// which UpdateDeliveries refuses.
func isRetry(d *distribution.Delivery) bool {
	return d.State == distribution.DeliveryScheduled && !d.NextAttemptAt.IsZero()
}

// checkBatch refuses a batch naming one delivery twice (s.mu held for
// writing: it uses s.seen).
func (s *distMemory) checkBatch(ds []distribution.Delivery) error {
	if len(ds) <= 16 { // a few comparisons beat clearing the map
		for i := range ds {
			for j := range i {
				if ds[i].ID == ds[j].ID {
					return fmt.Errorf("deliveries[%d]: %s repeats deliveries[%d]: %w", i, ds[i].ID, j, distribution.ErrInvalid)
				}
			}
		}
		return nil
	}
	seen := s.scratch()
	for i, d := range ds {
		if j, dup := seen[d.ID]; dup {
			return fmt.Errorf("deliveries[%d]: %s repeats deliveries[%d]: %w", i, d.ID, j, distribution.ErrInvalid)
		}
		seen[d.ID] = i
	}
	return nil
}
