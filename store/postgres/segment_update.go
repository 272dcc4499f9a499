package postgres

import (
	"context"
	"fmt"

	"github.com/codedrop/codedrop/segment"
)

// UpdateSegment implements segment.Store with one UPDATE. The filter is
// stored as json (not jsonb), so its conditions come back in the order
// written.
func (s *Store) UpdateSegment(ctx context.Context, sg segment.Segment) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var filter []byte
	if sg.Filter != nil {
		var err error
		if filter, err = sg.Filter.MarshalJSON(); err != nil {
			return fmt.Errorf("segment %s: filter: %w", sg.ID, err)
		}
	}
	ids := sg.CustomerIDs
	if ids == nil {
		ids = []string{}
	}
	var n int
	err := s.pool.QueryRow(ctx, `WITH upd AS (UPDATE segments SET name = $2, type = $3, filter = $4::json, expression = $5,
				customer_ids = $6, updated_at = $7,
				sync_status  = CASE WHEN $8 = '' THEN sync_status ELSE $8 END,
				sync_checked = CASE WHEN $8 = '' THEN sync_checked ELSE $9 END,
				sync_total   = CASE WHEN $8 = '' THEN sync_total ELSE $10 END,
				synced_at    = CASE WHEN $8 = '' THEN synced_at ELSE $11 END
			WHERE id = $1 RETURNING 1),
		bump AS (`+bumpSegmentsIf("upd")+`)
		SELECT count(*) FROM upd`,
		sg.ID, sg.Name, string(sg.Type), nullJSON(filter), sg.Expression, ids, ts0(sg.UpdatedAt),
		string(sg.SyncStatus), sg.SyncChecked, sg.SyncTotal, ts(sg.SyncedAt)).Scan(&n)
	if err != nil {
		return ctxErr(ctx, err)
	}
	if n == 0 {
		return segmentNotFound(sg.ID)
	}
	return nil
}

// SetSyncProgress implements segment.Store.
func (s *Store) SetSyncProgress(ctx context.Context, id string, checked, total int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE segments SET sync_checked = $2, sync_total = $3 WHERE id = $1`, id, checked, total)
	if err != nil {
		return ctxErr(ctx, err)
	}
	if tag.RowsAffected() == 0 {
		return segmentNotFound(id)
	}
	return nil
}

// CountCustomers implements segment.CustomerCounter (count(*) over the
// customers table, once per segment sync).
func (s *Store) CountCustomers(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM customers`).Scan(&n); err != nil {
		return 0, ctxErr(ctx, err)
	}
	return n, nil
}

var _ segment.CustomerCounter = (*Store)(nil)
