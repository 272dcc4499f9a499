package postgres

import (
	"context"
	"slices"

	"github.com/codedrop/codedrop/segment"
)

var (
	_ segment.Versioner         = (*Store)(nil)
	_ segment.MembershipBatcher = (*Store)(nil)
)

// bumpSegmentsIf is the statement (for a WITH clause or after one) that
// moves the segments version when the data-modifying WITH query cte
// changed a row: in the same statement, so the same transaction. The row
// lock makes segment writers take turns, so a reader that sees a version
// sees every write committed before it.
func bumpSegmentsIf(cte string) string {
	return `UPDATE segments_version SET v = v + 1 WHERE EXISTS (SELECT 1 FROM ` + cte + `)`
}

// SegmentsVersion implements segment.Versioner.
func (s *Store) SegmentsVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT v FROM segments_version`).Scan(&v)
	return v, ctxErr(ctx, err)
}

// CustomersSegments implements segment.MembershipBatcher with one query
// (served by the index on segment_members (customer_id, segment_id)).
func (s *Store) CustomersSegments(ctx context.Context, customerIDs []string) (map[string][]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	if len(customerIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT customer_id, segment_id FROM segment_members
		WHERE customer_id = ANY($1) ORDER BY customer_id, segment_id`, customerIDs)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	defer rows.Close()
	var cid, sid string
	for rows.Next() {
		if err := rows.Scan(&cid, &sid); err != nil {
			return nil, ctxErr(ctx, err)
		}
		out[cid] = append(out[cid], sid)
	}
	return out, ctxErr(ctx, rows.Err())
}

// ChangeMembershipsBatch implements segment.MembershipBatcher with one
// statement, as ChangeMemberships does for one customer (locking each
// segment joined once).
func (s *Store) ChangeMembershipsBatch(ctx context.Context, changes []segment.MembershipChange) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var jc, js, lc, ls []string
	for _, c := range changes {
		for _, id := range c.Join {
			if !slices.Contains(c.Leave, id) { // a join and a leave: out, as if the join came first
				jc, js = append(jc, c.CustomerID), append(js, id)
			}
		}
		for _, id := range c.Leave {
			lc, ls = append(lc, c.CustomerID), append(ls, id)
		}
	}
	if len(jc) == 0 && len(lc) == 0 {
		return nil
	}
	var err error
	for range 5 {
		_, err = s.pool.Exec(ctx, `WITH g AS (SELECT id FROM segments WHERE id = ANY($2) FOR KEY SHARE),
			j AS (
				INSERT INTO segment_members (segment_id, customer_id)
				SELECT g.id, u.c FROM unnest($1::text[], $2::text[]) AS u(c, seg) JOIN g ON g.id = u.seg
				ON CONFLICT DO NOTHING),
			l AS (DELETE FROM segment_members m USING unnest($3::text[], $4::text[]) AS d(c, s)
				WHERE m.customer_id = d.c AND m.segment_id = d.s)
			SELECT 1`, nonNil(jc), nonNil(js), nonNil(lc), nonNil(ls))
		// A segment deleted while the statement ran fails its foreign
		// key: run it again, without it.
		if code, _ := pgCode(err); code != foreignKeyViolation {
			break
		}
	}
	return ctxErr(ctx, err)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var _ segment.SyncBatchWriter = (*Store)(nil)

// WriteSyncBatch implements segment.SyncBatchWriter with one statement
// (so one transaction and one round trip): the segment's row is locked
// (FOR UPDATE when the progress is set, else FOR KEY SHARE, which is
// enough to keep a concurrent DeleteSegment waiting), the members added
// and removed, the progress set; a Lazy batch commits with
// synchronous_commit off. The members are inserted without ON CONFLICT
// first, which costs less: a sync adds customers that were not members
// when it began; when one is already a member, the statement (which wrote
// nothing) runs again with ON CONFLICT DO NOTHING.
func (s *Store) WriteSyncBatch(ctx context.Context, b segment.SyncBatch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lock := "FOR KEY SHARE"
	if b.Total >= 0 {
		lock = "FOR UPDATE"
	}
	lazy := ""
	if b.Lazy {
		lazy = `a AS (SELECT set_config('synchronous_commit', 'off', true)),`
	}
	run := func(onConflict string) (int, error) {
		var n int
		err := s.pool.QueryRow(ctx, `WITH `+lazy+` s AS (SELECT id FROM segments WHERE id = $1 `+lock+`),
			ins AS (INSERT INTO segment_members (segment_id, customer_id)
				SELECT s.id, c FROM s, unnest($2::text[]) AS c `+onConflict+`),
			del AS (DELETE FROM segment_members WHERE segment_id = (SELECT id FROM s) AND customer_id = ANY($3)),
			prog AS (UPDATE segments SET sync_checked = $4, sync_total = $5 WHERE id = (SELECT id FROM s) AND $5 >= 0)
			SELECT count(*) FROM s`, b.SegmentID, nonNil(b.Add), nonNil(b.Remove), b.Checked, b.Total).Scan(&n)
		return n, err
	}
	n, err := run("")
	if code, _ := pgCode(err); code == uniqueViolation {
		n, err = run("ON CONFLICT DO NOTHING")
	}
	if err != nil {
		return ctxErr(ctx, err)
	}
	if n == 0 {
		return segmentNotFound(b.SegmentID)
	}
	return nil
}
