package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
)

var (
	_ distribution.CustomerBatchGetter  = (*Store)(nil)
	_ distribution.DeliveryBatchUpdater = (*Store)(nil)
)

// keyedRow scans a leading key column, then hands the rest of the row to
// scanCustomer.
type keyedRow struct {
	pgx.Row
	key *string
}

func (r keyedRow) Scan(dest ...any) error { return r.Row.Scan(append([]any{r.key}, dest...)...) }

// GetCustomers implements distribution.CustomerBatchGetter with one query:
// per id, the customer with that id, else the one with that source_id.
func (s *Store) GetCustomers(ctx context.Context, ids []string) (map[string]customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]customer.Customer, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT q.k, `+customerCols+` FROM (SELECT DISTINCT k FROM unnest($1::text[]) AS u(k) WHERE k <> '') AS q
		CROSS JOIN LATERAL (
			(SELECT 1 AS pri, * FROM customers WHERE id = q.k) UNION ALL
			(SELECT 2 AS pri, * FROM customers WHERE source_id = q.k)
			ORDER BY pri LIMIT 1) AS c`, ids)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("customers: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		c, err := scanCustomer(keyedRow{rows, &key})
		if err != nil {
			return nil, fmt.Errorf("customers: %w", err)
		}
		out[key] = c
	}
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("customers: %w", err))
	}
	return out, nil
}

// UpdateDeliveries implements distribution.DeliveryBatchUpdater with one
// UPDATE ... FROM unnest(...) whose WHERE is each row's compare-and-set
// (and, like UpdateDelivery, commits with synchronous_commit off unless a
// row moves to sending). Only when some rows did not match does a second
// query read them, to tell a conflict from a missing row or changed key
// fields.
func (s *Store) UpdateDeliveries(ctx context.Context, ds []distribution.Delivery, from distribution.DeliveryState) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	errs := make([]error, len(ds))
	n := len(ds)
	var (
		ids, dists, custs, trigs, chans, states, reasons, codes, pubs, provs = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		attempts                                                             = make([]int32, 0, n)
		nexts, updated, sent                                                 = make([]*time.Time, 0, n), make([]time.Time, 0, n), make([]*time.Time, 0, n)
		at                                                                   = make(map[string]int, n) // id -> index in ds
		durable                                                              = false
		details                                                              = make([]string, 0, n)
	)
	for i, d := range ds {
		if j, dup := at[d.ID]; dup {
			return nil, fmt.Errorf("deliveries[%d]: %s repeats deliveries[%d]: %w", i, d.ID, j, distribution.ErrInvalid)
		}
		at[d.ID] = i
		if d.State == distribution.DeliveryScheduled && !d.NextAttemptAt.IsZero() {
			errs[i] = fmt.Errorf("delivery %s: a retry needs UpdateDelivery: %w", d.ID, distribution.ErrInvalid)
			continue
		}
		durable = durable || d.State == distribution.DeliverySending
		ids, dists, custs, trigs, chans = append(ids, d.ID), append(dists, d.DistributionID), append(custs, d.CustomerID), append(trigs, d.TriggerKey), append(chans, d.Channel)
		states, reasons, codes, pubs, provs = append(states, string(d.State)), append(reasons, d.Reason), append(codes, d.Code), append(pubs, d.PublicationID), append(provs, d.ProviderMessageID)
		attempts = append(attempts, int32(d.Attempts))
		nexts, updated, sent = append(nexts, ts(d.NextAttemptAt)), append(updated, ts0(d.UpdatedAt)), append(sent, ts(d.SentAt))
		details = append(details, d.ReasonDetail)
	}
	if len(ids) == 0 {
		return errs, nil
	}
	rows, err := s.pool.Query(ctx, `WITH i AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[],
				$9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $17::text[])
				AS i(id, distribution_id, customer_id, trigger_key, channel, state, reason, attempts, code,
				publication_id, provider_message_id, next_attempt_at, updated_at, sent_at, reason_detail)),
		a AS (SELECT set_config('synchronous_commit', 'off', true) WHERE NOT $16)
		UPDATE deliveries d SET state = i.state, reason = i.reason, attempts = i.attempts, code = i.code,
			publication_id = i.publication_id, provider_message_id = i.provider_message_id,
			next_attempt_at = i.next_attempt_at, updated_at = i.updated_at, sent_at = i.sent_at, reason_detail = i.reason_detail
		FROM i WHERE d.id = i.id AND d.state = $15 AND d.distribution_id = i.distribution_id AND d.customer_id = i.customer_id
			AND d.trigger_key = i.trigger_key AND d.channel = i.channel AND (SELECT count(*) FROM a) >= 0
		RETURNING d.id`,
		ids, dists, custs, trigs, chans, states, reasons, attempts, codes, pubs, provs, nexts, updated, sent, string(from), durable, details)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("update deliveries: %w", err))
	}
	done := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("update deliveries: %w", err)
		}
		done[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("update deliveries: %w", err))
	}
	if len(done) == len(ids) {
		return errs, nil
	}
	// Some did not match: read them to say why (after the write, like
	// UpdateDelivery, so a concurrent move shows as a conflict).
	var missed []string
	for _, id := range ids {
		if !done[id] {
			missed = append(missed, id)
			errs[at[id]] = fmt.Errorf("delivery %q: %w", id, distribution.ErrNotFound)
		}
	}
	// The others are written: a failure to read these is reported on them.
	why := func(err error) []error {
		for _, id := range missed {
			errs[at[id]] = fmt.Errorf("delivery %s: not updated (reading why: %w)", id, ctxErr(ctx, err))
		}
		return errs
	}
	cur, err := s.pool.Query(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = ANY($1)`, missed)
	if err != nil {
		return why(err), nil
	}
	defer cur.Close()
	for cur.Next() {
		c, err := scanDelivery(cur)
		if err != nil {
			return why(err), nil
		}
		i := at[c.ID]
		if c.State != from {
			errs[i] = fmt.Errorf("delivery %s: state is %s, not %s: %w", c.ID, c.State, from, distribution.ErrConflict)
		} else {
			errs[i] = fmt.Errorf("delivery %s: the key fields cannot change: %w", c.ID, distribution.ErrInvalid)
		}
	}
	if err := cur.Err(); err != nil {
		return why(err), nil
	}
	return errs, nil
}
