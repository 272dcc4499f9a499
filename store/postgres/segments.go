package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codedrop/codedrop/segment"
)

const segmentCols = `id, name, type, filter, expression, customer_ids, sync_status, sync_checked, sync_total, synced_at, created_at, updated_at`

func scanSegment(row pgx.Row) (segment.Segment, error) {
	var (
		s        segment.Segment
		filter   []byte
		syncedAt *time.Time
	)
	if err := row.Scan(&s.ID, &s.Name, &s.Type, &filter, &s.Expression, &s.CustomerIDs, &s.SyncStatus, &s.SyncChecked, &s.SyncTotal, &syncedAt, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return s, err
	}
	if len(filter) > 0 {
		f, err := segment.ParseFilter(filter)
		if err != nil {
			return s, fmt.Errorf("segment %s: stored filter: %w", s.ID, err)
		}
		s.Filter = f
	}
	if len(s.CustomerIDs) == 0 {
		s.CustomerIDs = nil
	}
	s.SyncedAt = fromTS(syncedAt)
	return s, nil
}

func segmentNotFound(id string) error { return fmt.Errorf("segment %q: %w", id, segment.ErrNotFound) }

// CreateSegment implements segment.Store.
func (s *Store) CreateSegment(ctx context.Context, sg segment.Segment) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if sg.ID == "" {
		return fmt.Errorf("segment %q: ID is required: %w", sg.Name, segment.ErrInvalid)
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
	_, err := s.pool.Exec(ctx, `WITH ins AS (
			INSERT INTO segments (`+segmentCols+`) VALUES ($1, $2, $3, $4::json, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING 1)
		`+bumpSegmentsIf("ins"),
		sg.ID, sg.Name, string(sg.Type), nullJSON(filter), sg.Expression, ids, string(sg.SyncStatus), sg.SyncChecked, sg.SyncTotal,
		ts(sg.SyncedAt), ts0(sg.CreatedAt), ts0(sg.UpdatedAt))
	if code, _ := pgCode(err); code == uniqueViolation {
		return fmt.Errorf("segment %q already exists: %w", sg.ID, segment.ErrConflict)
	}
	return ctxErr(ctx, err)
}

func nullJSON(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

// GetSegment implements segment.Store.
func (s *Store) GetSegment(ctx context.Context, id string) (segment.Segment, error) {
	if err := ctx.Err(); err != nil {
		return segment.Segment{}, err
	}
	sg, err := scanSegment(s.pool.QueryRow(ctx, `SELECT `+segmentCols+` FROM segments WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return segment.Segment{}, segmentNotFound(id)
	}
	return sg, ctxErr(ctx, err)
}

// Segments implements segment.Store.
func (s *Store) Segments(ctx context.Context) iter.Seq2[segment.Segment, error] {
	return func(yield func(segment.Segment, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(segment.Segment{}, err)
			return
		}
		rows, err := s.pool.Query(ctx, `SELECT `+segmentCols+` FROM segments ORDER BY id`)
		if err != nil {
			yield(segment.Segment{}, ctxErr(ctx, err))
			return
		}
		var out []segment.Segment
		for rows.Next() {
			sg, err := scanSegment(rows)
			if err != nil {
				rows.Close()
				yield(segment.Segment{}, err)
				return
			}
			out = append(out, sg)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			yield(segment.Segment{}, ctxErr(ctx, err))
			return
		}
		for _, sg := range out {
			if !yield(sg, nil) {
				return
			}
		}
	}
}

// DeleteSegment implements segment.Store. Its memberships go with it, in
// the same transaction: the segment's row first (which waits for writers
// of memberships holding it FOR KEY SHARE), then, with a new snapshot,
// every membership, so none written meanwhile is left behind.
func (s *Store) DeleteSegment(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, `WITH del AS (DELETE FROM segments WHERE id = $1 RETURNING 1),
			bump AS (`+bumpSegmentsIf("del")+`)
			SELECT count(*) FROM del`, id).Scan(&n)
		if err != nil {
			return ctxErr(ctx, err)
		}
		if n == 0 {
			return segmentNotFound(id)
		}
		_, err = tx.Exec(ctx, `DELETE FROM segment_members WHERE segment_id = $1`, id)
		return ctxErr(ctx, err)
	})
}

// SetSyncStatus implements segment.Store.
func (s *Store) SetSyncStatus(ctx context.Context, id string, status segment.SyncStatus, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if status != segment.Syncing && status != segment.Synced {
		return fmt.Errorf("segment %q: sync status %q: %w", id, status, segment.ErrInvalid)
	}
	var n int
	err := s.pool.QueryRow(ctx, `WITH upd AS (UPDATE segments SET sync_status = $2, updated_at = $3,
			synced_at = CASE WHEN $2 = 'synced' THEN $3 ELSE synced_at END WHERE id = $1 RETURNING 1),
		bump AS (`+bumpSegmentsIf("upd")+`)
		SELECT count(*) FROM upd`, id, string(status), ts0(at)).Scan(&n)
	if err != nil {
		return ctxErr(ctx, err)
	}
	if n == 0 {
		return segmentNotFound(id)
	}
	return nil
}

// AddMembers implements segment.Store with one statement: the segment's
// row is locked (FOR KEY SHARE: it cannot be deleted under us, and a
// missing one is ErrNotFound), and the ids are inserted.
func (s *Store) AddMembers(ctx context.Context, segmentID string, customerIDs []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.WriteSyncBatch(ctx, segment.SyncBatch{SegmentID: segmentID, Add: customerIDs, Total: -1})
}

// ChangeMemberships implements segment.Store with one statement (so
// atomically): an INSERT of the joins into segments that exist, whose
// rows it locks (FOR KEY SHARE, so that a concurrent DeleteSegment waits
// for it and then deletes what it inserted), and a DELETE of the leaves.
// A join and a leave of one segment leave the customer out, as if the
// join came first. Against a schema that still has the foreign key of
// segment_members (before migration 6), a segment deleted while the
// statement runs fails the key; the statement then runs again and
// ignores it.
func (s *Store) ChangeMemberships(ctx context.Context, customerID string, join, leave []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if join == nil {
		join = []string{}
	}
	if leave == nil {
		leave = []string{}
	}
	var err error
	for range 5 {
		_, err = s.pool.Exec(ctx, `WITH j AS (
				INSERT INTO segment_members (segment_id, customer_id)
				SELECT id, $1 FROM segments WHERE id = ANY($2) AND NOT (id = ANY($3)) FOR KEY SHARE
				ON CONFLICT DO NOTHING),
			l AS (DELETE FROM segment_members WHERE customer_id = $1 AND segment_id = ANY($3))
			SELECT 1`, customerID, join, leave)
		if code, _ := pgCode(err); code != foreignKeyViolation {
			break
		}
	}
	return ctxErr(ctx, err)
}

// RemoveMembers implements segment.Store.
func (s *Store) RemoveMembers(ctx context.Context, segmentID string, customerIDs []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.segmentExists(ctx, segmentID); err != nil {
		return err
	}
	if len(customerIDs) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM segment_members WHERE segment_id = $1 AND customer_id = ANY($2)`, segmentID, customerIDs)
	return ctxErr(ctx, err)
}

func (s *Store) segmentExists(ctx context.Context, id string) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM segments WHERE id = $1)`, id).Scan(&ok); err != nil {
		return ctxErr(ctx, err)
	}
	if !ok {
		return segmentNotFound(id)
	}
	return nil
}

// Members implements segment.Store. It streams member ids in pages
// (keyset pagination on the primary key).
func (s *Store) Members(ctx context.Context, segmentID string, opts segment.MemberOptions) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := ctx.Err(); err != nil {
			yield("", err)
			return
		}
		if err := s.segmentExists(ctx, segmentID); err != nil {
			yield("", err)
			return
		}
		after, count := opts.After, 0
		const page = 5000
		buf := make([]string, 0, page)
		for {
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			limit := page
			if opts.Limit > 0 {
				limit = min(limit, opts.Limit-count)
			}
			buf = buf[:0]
			rows, err := s.pool.Query(ctx, `SELECT customer_id FROM segment_members
				WHERE segment_id = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3`, segmentID, after, limit)
			if err == nil {
				var id string
				for rows.Next() {
					if err = rows.Scan(&id); err != nil {
						break
					}
					buf = append(buf, id)
				}
				rows.Close()
				if err == nil {
					err = rows.Err()
				}
			}
			if err != nil {
				yield("", ctxErr(ctx, err))
				return
			}
			for _, id := range buf {
				count++
				if !yield(id, nil) {
					return
				}
			}
			if len(buf) < limit || (opts.Limit > 0 && count >= opts.Limit) {
				return
			}
			after = buf[len(buf)-1]
		}
	}
}

// CountMembers implements segment.Store.
func (s *Store) CountMembers(ctx context.Context, segmentID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	var exists bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM segments WHERE id = $1),
		(SELECT count(*) FROM segment_members WHERE segment_id = $1)`, segmentID).Scan(&exists, &n)
	if err != nil {
		return 0, ctxErr(ctx, err)
	}
	if !exists {
		return 0, segmentNotFound(segmentID)
	}
	return n, nil
}

// CustomerSegments implements segment.Store.
func (s *Store) CustomerSegments(ctx context.Context, customerID string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT segment_id FROM segment_members WHERE customer_id = $1 ORDER BY segment_id`, customerID)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, ctxErr(ctx, err)
}
