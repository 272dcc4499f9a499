package distribution

import (
	"context"
	"errors"
	"fmt"
)

// errStale reports a lost compare-and-set: the distribution's revision
// changed since it was read. It is internal: the loops that read again
// and retry match it, and only it (never ErrNameTaken, which also
// matches ErrConflict). What escapes a loop still matches ErrConflict.
var errStale = errors.New("distribution: revision changed concurrently")

// maxCASAttempts bounds every compare-and-set retry loop: a store that
// keeps answering ErrConflict ends the loop instead of spinning.
const maxCASAttempts = 16

// casDistribution is Store.UpdateDistribution with a lost compare-and-set
// (ErrConflict that is not ErrNameTaken) marked errStale.
func (m *Manager) casDistribution(ctx context.Context, d Distribution) (int64, error) {
	rev, err := m.store.UpdateDistribution(ctx, d)
	if err != nil && errors.Is(err, ErrConflict) && !errors.Is(err, ErrNameTaken) {
		return 0, fmt.Errorf("%w: %w", errStale, err)
	}
	return rev, err
}

// retryStale runs attempt until it returns anything but errStale, at most
// maxCASAttempts times; what names the operation in the error that ends
// a loop that never won.
func retryStale(ctx context.Context, what string, attempt func() error) error {
	for range maxCASAttempts {
		err := attempt()
		if !errors.Is(err, errStale) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("distribution: %s: the distribution changed concurrently %d times in a row; try again: %w", what, maxCASAttempts, ErrConflict)
}

// transition moves distribution id to status to by compare-and-set and
// returns it as stored. check looks at the stored distribution first: an
// error refuses the move; same true leaves it unchanged (returned with
// changed false). Lost races are retried (retryStale); op names the
// operation in errors.
func (m *Manager) transition(ctx context.Context, id, op string, to Status, check func(d *Distribution) (same bool, err error)) (d Distribution, changed bool, err error) {
	err = retryStale(ctx, op+" "+id, func() error {
		var err error
		if d, err = m.store.GetDistribution(ctx, id); err != nil {
			return err
		}
		same, err := check(&d)
		if err != nil || same {
			return err
		}
		d.Status, d.UpdatedAt = to, m.clock.Now()
		rev, err := m.casDistribution(ctx, d)
		if err != nil {
			return fmt.Errorf("distribution %s: %w", id, err)
		}
		d.Revision, changed = rev, true
		return nil
	})
	return d, changed, err
}
