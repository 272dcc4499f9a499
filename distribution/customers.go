package distribution

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
)

// UpsertCustomer creates or updates one customer (matched by ID, else
// SourceID; see customer.Store) and re-checks it against every rule
// segment. It returns the stored customer.
func (m *Manager) UpsertCustomer(ctx context.Context, c customer.Customer, opts customer.UpsertOptions) (customer.Customer, error) {
	out, err := m.UpsertCustomers(ctx, []customer.Customer{c}, opts)
	if err != nil {
		return customer.Customer{}, err
	}
	return out[0], nil
}

// UpsertCustomers writes a batch of customers atomically (see
// customer.Store.UpsertCustomers) and re-checks them against every rule
// segment (segment.Engine.CustomersChanged: one membership read and one
// write for the batch, nothing when no rule segment exists). The rules
// are those in the Store when the call began: a segment created, updated
// or deleted through another replica before then governs the re-check
// (segment.Engine.RefreshSince; with a Store that keeps a segments
// version, as store.Memory and store/postgres do, that costs one small
// read shared by concurrent calls).
//
// Zero CreatedAt (kept by the store for existing customers) and UpdatedAt
// are stamped with the Manager's clock.
func (m *Manager) UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	since := time.Now()
	if err := m.init(ctx); err != nil {
		return nil, err
	}
	now := m.clock.Now()
	stamped := cs
	if !opts.Handoff { // the caller's slice is its own
		stamped = make([]customer.Customer, len(cs))
		copy(stamped, cs)
	}
	for i := range stamped {
		c := &stamped[i]
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		if c.UpdatedAt.IsZero() {
			c.UpdatedAt = now
		}
	}
	out, err := m.store.UpsertCustomers(ctx, stamped, opts)
	if err != nil {
		return nil, err
	}
	if err := m.segments.RefreshSince(ctx, since); err != nil {
		m.log.WarnContext(ctx, "refreshing segment rules from the store", "err", err)
	}
	changes, err := m.segments.CustomersChanged(ctx, out)
	if err != nil {
		return out, fmt.Errorf("customers %s...: updating segment memberships: %w", out[0].ID, err)
	}
	m.segmentChanged(ctx, changes, "")
	return out, nil
}

// Customer returns the customer whose id or source_id is id.
func (m *Manager) Customer(ctx context.Context, id string) (customer.Customer, error) {
	return m.store.GetCustomer(ctx, id)
}

// Customers iterates over the stored customers (see customer.Store).
func (m *Manager) Customers(ctx context.Context, opts customer.ListOptions) iter.Seq2[customer.Customer, error] {
	return m.store.Customers(ctx, opts)
}

// DeleteCustomer removes a customer and its segment memberships.
func (m *Manager) DeleteCustomer(ctx context.Context, id string) error {
	if err := m.init(ctx); err != nil {
		return err
	}
	c, err := m.store.GetCustomer(ctx, id)
	if err != nil {
		return err
	}
	if err := m.store.DeleteCustomer(ctx, c.ID); err != nil {
		return err
	}
	_, err = m.segments.CustomerDeleted(ctx, c.ID)
	return err
}

// CreateSegment validates and stores a segment. A rule segment starts
// syncing (every customer is checked against it in the background) and
// becomes synced when done; manual distributions to it wait for that.
func (m *Manager) CreateSegment(ctx context.Context, s segment.Segment) (segment.Segment, error) {
	if err := m.init(ctx); err != nil {
		return segment.Segment{}, err
	}
	out, err := m.segments.Create(ctx, s)
	if err != nil {
		return segment.Segment{}, err
	}
	if out.SyncStatus != segment.Synced {
		m.syncSegment(ctx, out.ID)
	}
	return out, nil
}

// DeleteSegment removes a segment and its memberships. A draft or
// scheduled distribution to it fails at send time with ErrNotFound.
func (m *Manager) DeleteSegment(ctx context.Context, id string) error {
	if err := m.init(ctx); err != nil {
		return err
	}
	return m.segments.Delete(ctx, id)
}

// Segment returns the segment with id.
func (m *Manager) Segment(ctx context.Context, id string) (segment.Segment, error) {
	return m.store.GetSegment(ctx, id)
}

// SyncSegment re-checks every customer against segment id in the
// background (the segment is syncing meanwhile).
func (m *Manager) SyncSegment(ctx context.Context, id string) error {
	if err := m.init(ctx); err != nil {
		return err
	}
	if _, err := m.store.GetSegment(ctx, id); err != nil {
		return err
	}
	if err := m.store.SetSyncStatus(ctx, id, segment.Syncing, m.clock.Now()); err != nil {
		return err
	}
	m.syncSegment(ctx, id)
	return nil
}

// syncSegment runs a full sync of segment id in the background and then
// arms the distributions waiting for it. If a sync of id is already
// running here, that one runs again when it ends (UpdateSegment changed
// the rule, or SyncSegment asked for a fresh pass).
func (m *Manager) syncSegment(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	m.mu.Lock()
	if _, busy := m.syncing[id]; busy {
		m.syncing[id] = true // run again
		m.mu.Unlock()
		return
	}
	m.syncing[id] = false
	m.mu.Unlock()
	end := m.act.begin()
	m.bg.Go(func() {
		defer end()
		for {
			res, err := m.segments.Sync(ctx, id, func(p segment.SyncProgress) { m.segmentChanged(ctx, p.Changes, "") })
			m.mu.Lock()
			again := m.syncing[id]
			if again {
				m.syncing[id] = false
			} else {
				delete(m.syncing, id)
			}
			m.mu.Unlock()
			switch {
			case again:
				continue
			case errors.Is(err, segment.ErrSuperseded):
				m.log.InfoContext(ctx, "segment sync superseded by an update", "segment", id)
				return
			case err != nil:
				m.log.ErrorContext(ctx, "segment sync failed", "segment", id, "err", err)
				return
			}
			m.log.InfoContext(ctx, "segment synced", "segment", id, "checked", res.Checked)
			m.armWaiting(ctx, id)
			return
		}
	})
}

// ImportCustomers imports customers from a CSV file (see customer.Import:
// streaming, per-row errors with line numbers) and re-checks each written
// customer against every rule segment. opts.Now defaults to the
// Manager's clock.
func (m *Manager) ImportCustomers(ctx context.Context, r io.Reader, opts customer.ImportOptions) (*customer.ImportReport, error) {
	if opts.Now == nil {
		opts.Now = m.clock.Now
	}
	return customer.Import(ctx, managerWriter{m}, r, opts)
}

// managerWriter routes an import's batches through the Manager.
type managerWriter struct{ m *Manager }

// UpsertCustomers implements customer.Writer.
func (w managerWriter) UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	return w.m.UpsertCustomers(ctx, cs, opts)
}

// SegmentMembers returns the ids of a segment's members, in ascending
// order.
func (m *Manager) SegmentMembers(ctx context.Context, id string) ([]string, error) {
	var out []string
	for cid, err := range m.store.Members(ctx, id, segment.MemberOptions{}) {
		if err != nil {
			return nil, err
		}
		out = append(out, cid)
	}
	return out, nil
}

// CountSegmentMembers returns how many members a segment has; the store
// counts them, so none is read (the dashboard shows it per segment).
func (m *Manager) CountSegmentMembers(ctx context.Context, id string) (int, error) {
	return m.store.CountMembers(ctx, id)
}
