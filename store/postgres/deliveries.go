package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codedrop/codedrop/distribution"
)

const deliveryCols = `id, distribution_id, customer_id, trigger_key, channel, state, reason, attempts, code,
	publication_id, provider_message_id, next_attempt_at, created_at, updated_at, sent_at, reason_detail`

func scanDelivery(row pgx.Row) (distribution.Delivery, error) {
	var (
		d            distribution.Delivery
		next, sentAt *time.Time
	)
	err := row.Scan(&d.ID, &d.DistributionID, &d.CustomerID, &d.TriggerKey, &d.Channel, &d.State, &d.Reason, &d.Attempts, &d.Code,
		&d.PublicationID, &d.ProviderMessageID, &next, &d.CreatedAt, &d.UpdatedAt, &sentAt, &d.ReasonDetail)
	d.NextAttemptAt, d.SentAt = fromTS(next), fromTS(sentAt)
	return d, err
}

// InsertDeliveries implements distribution.Store with one INSERT ... ON
// CONFLICT DO NOTHING over arrays per batch.
func (s *Store) InsertDeliveries(ctx context.Context, ds []distribution.Delivery) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := len(ds)
	if n == 0 {
		return 0, nil
	}
	var (
		ids, dists, custs, trigs, chans, states, reasons, codes, pubs, provs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		attempts                                                             = make([]int32, n)
		nexts, created, updated, sent                                        = make([]*time.Time, n), make([]time.Time, n), make([]time.Time, n), make([]*time.Time, n)
		details                                                              = make([]string, n)
	)
	for i, d := range ds {
		if d.ID == "" || d.DistributionID == "" || d.CustomerID == "" || d.Channel == "" {
			return 0, fmt.Errorf("deliveries[%d]: id, distribution_id, customer_id and channel are required: %w", i, distribution.ErrInvalid)
		}
		ids[i], dists[i], custs[i], trigs[i], chans[i] = d.ID, d.DistributionID, d.CustomerID, d.TriggerKey, d.Channel
		states[i], reasons[i], codes[i], pubs[i], provs[i] = string(d.State), d.Reason, d.Code, d.PublicationID, d.ProviderMessageID
		attempts[i] = int32(d.Attempts)
		nexts[i], created[i], updated[i], sent[i] = ts(d.NextAttemptAt), ts0(d.CreatedAt), ts0(d.UpdatedAt), ts(d.SentAt)
		details[i] = d.ReasonDetail
	}
	// WITH ORDINALITY keeps the batch order in seq (insertion order).
	tag, err := s.pool.Exec(ctx, `INSERT INTO deliveries (`+deliveryCols+`)
		SELECT id, distribution_id, customer_id, trigger_key, channel, state, reason, attempts, code,
			publication_id, provider_message_id, next_attempt_at, created_at, updated_at, sent_at, reason_detail
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[],
			$10::text[], $11::text[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::text[])
			WITH ORDINALITY AS u(id, distribution_id, customer_id, trigger_key, channel, state, reason, attempts, code,
			publication_id, provider_message_id, next_attempt_at, created_at, updated_at, sent_at, reason_detail, ord)
		ORDER BY ord
		ON CONFLICT (distribution_id, customer_id, trigger_key, channel) DO NOTHING`,
		ids, dists, custs, trigs, chans, states, reasons, attempts, codes, pubs, provs, nexts, created, updated, sent, details)
	if code, _ := pgCode(err); code == uniqueViolation {
		return 0, fmt.Errorf("deliveries: an id is taken by another key: %w", distribution.ErrConflict)
	}
	if err != nil {
		return 0, ctxErr(ctx, err)
	}
	return int(tag.RowsAffected()), nil
}

// GetDelivery implements distribution.Store.
func (s *Store) GetDelivery(ctx context.Context, id string) (distribution.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Delivery{}, err
	}
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("delivery %q: %w", id, distribution.ErrNotFound)
	}
	return d, ctxErr(ctx, err)
}

// UpdateDelivery implements distribution.Store: a compare-and-set on the
// state. A delivery put back to scheduled with a NextAttemptAt (a retry)
// gets its retry job in the same transaction, so the retry survives a
// crash between the two writes.
func (s *Store) UpdateDelivery(ctx context.Context, d distribution.Delivery, from distribution.DeliveryState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	retry := d.State == distribution.DeliveryScheduled && !d.NextAttemptAt.IsZero()
	// One statement (one round trip, one commit): the compare-and-set and,
	// for a retry, its job and the NOTIFY that wakes the Schedulers.
	//
	// Only the move to sending must be on disk before the statement
	// returns (the provider is called next). Every other move commits
	// with synchronous_commit off: a database crash could lose it, which
	// leaves the delivery in its previous state, and the Manager's
	// recovery then makes a lost "sent" unknown (never sent again) and
	// re-checks a lost "skipped". The next synchronous commit (the next
	// delivery's move to sending) flushes it anyway.
	var updated, jobs int
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE deliveries SET state = $6, reason = $7, attempts = $8, code = $9, publication_id = $10,
				provider_message_id = $11, next_attempt_at = $12, updated_at = $13, sent_at = $14, reason_detail = $22
			WHERE id = $1 AND state = $2 AND distribution_id = $3 AND customer_id = $4 AND trigger_key = $5 AND channel = $15
			RETURNING id),
		j AS (
			INSERT INTO jobs (id, kind, target, run_at) SELECT $16, $17, u.id, $21 FROM u WHERE $18
			ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, target = excluded.target, run_at = excluded.run_at,
				version = jobs.version + 1, locked_by = NULL, locked_until = NULL
			RETURNING id),
		n AS (SELECT pg_notify($19, '') FROM j),
		a AS (SELECT set_config('synchronous_commit', 'off', true) WHERE $20)
		SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM n) + (SELECT count(*) FROM a)`,
		d.ID, string(from), d.DistributionID, d.CustomerID, d.TriggerKey, string(d.State), d.Reason, int32(d.Attempts), d.Code,
		d.PublicationID, d.ProviderMessageID, ts(d.NextAttemptAt), ts0(d.UpdatedAt), ts(d.SentAt), d.Channel,
		distribution.RetryJobID(d.ID), distribution.JobRetry, retry, notifyChannel, d.State != distribution.DeliverySending, jobAt(d.NextAttemptAt),
		d.ReasonDetail).Scan(&updated, &jobs)
	if err != nil {
		return ctxErr(ctx, err)
	}
	if updated == 1 {
		return nil
	}
	cur, err := s.GetDelivery(ctx, d.ID)
	switch {
	case err != nil:
		return err
	case cur.State != from:
		return fmt.Errorf("delivery %s: state is %s, not %s: %w", d.ID, cur.State, from, distribution.ErrConflict)
	default:
		return fmt.Errorf("delivery %s: the key fields cannot change: %w", d.ID, distribution.ErrInvalid)
	}
}

// Deliveries implements distribution.Store. It streams in insertion order
// (the seq column), in pages, with the filter evaluated by PostgreSQL.
func (s *Store) Deliveries(ctx context.Context, f distribution.DeliveryFilter) iter.Seq2[distribution.Delivery, error] {
	return func(yield func(distribution.Delivery, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(distribution.Delivery{}, err)
			return
		}
		var after int64
		if f.After != "" {
			err := s.pool.QueryRow(ctx, `SELECT seq FROM deliveries WHERE id = $1`, f.After).Scan(&after)
			if errors.Is(err, pgx.ErrNoRows) {
				yield(distribution.Delivery{}, fmt.Errorf("list deliveries after %q: %w", f.After, distribution.ErrNotFound))
				return
			}
			if err != nil {
				yield(distribution.Delivery{}, ctxErr(ctx, err))
				return
			}
		}
		// Only the predicates the filter uses, so that the planner picks
		// the (distribution_id, seq) or (customer_id, seq) index.
		var (
			where string
			args  []any
		)
		add := func(pred string, v any) {
			args = append(args, v)
			where += fmt.Sprintf(" AND "+pred, len(args))
		}
		if f.DistributionID != "" {
			add("distribution_id = $%d", f.DistributionID)
		}
		if f.CustomerID != "" {
			add("customer_id = $%d", f.CustomerID)
		}
		if f.TriggerKey != "" {
			add("trigger_key = $%d", f.TriggerKey)
		}
		if f.Channel != "" {
			add("channel = $%d", f.Channel)
		}
		if len(f.States) > 0 {
			states := make([]string, len(f.States))
			for i, st := range f.States {
				states[i] = string(st)
			}
			add("state = ANY($%d)", states)
		}
		if f.Reason != "" {
			add("starts_with(reason, $%d)", f.Reason)
		}
		query := fmt.Sprintf(`SELECT seq, %s FROM deliveries WHERE seq > $%d%s ORDER BY seq LIMIT $%d`,
			deliveryCols, len(args)+1, where, len(args)+2)
		count := 0
		type row struct {
			seq int64
			d   distribution.Delivery
		}
		buf := make([]row, 0, pageSize)
		for {
			if err := ctx.Err(); err != nil {
				yield(distribution.Delivery{}, err)
				return
			}
			limit := pageSize
			if f.Limit > 0 {
				limit = min(limit, f.Limit-count)
			}
			buf = buf[:0]
			rows, err := s.pool.Query(ctx, query, append(args, after, limit)...)
			if err == nil {
				for rows.Next() {
					var r row
					if r.d, err = scanDelivery(seqRow{&r.seq, rows}); err != nil {
						break
					}
					buf = append(buf, r)
				}
				rows.Close()
				if err == nil {
					err = rows.Err()
				}
			}
			if err != nil {
				yield(distribution.Delivery{}, ctxErr(ctx, fmt.Errorf("list deliveries: %w", err)))
				return
			}
			for _, r := range buf {
				count++
				if !yield(r.d, nil) {
					return
				}
			}
			if len(buf) < limit || (f.Limit > 0 && count >= f.Limit) {
				return
			}
			after = buf[len(buf)-1].seq
		}
	}
}

// CountDeliveries implements distribution.Store with one GROUP BY.
func (s *Store) CountDeliveries(ctx context.Context, distributionID string) (distribution.DeliveryCounts, error) {
	out := distribution.DeliveryCounts{
		States:  map[distribution.DeliveryState]int{},
		Reasons: map[distribution.DeliveryState]map[string]int{},
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	rows, err := s.pool.Query(ctx, `SELECT state, reason, count(*) FROM deliveries WHERE distribution_id = $1 GROUP BY state, reason`, distributionID)
	if err != nil {
		return out, ctxErr(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			st     distribution.DeliveryState
			reason string
			n      int
		)
		if err := rows.Scan(&st, &reason, &n); err != nil {
			return out, err
		}
		out.States[st] += n
		if st == distribution.DeliverySkipped || st == distribution.DeliveryFailed {
			if out.Reasons[st] == nil {
				out.Reasons[st] = map[string]int{}
			}
			out.Reasons[st][reason] += n
		}
	}
	return out, ctxErr(ctx, rows.Err())
}
