package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
)

// This file implements distribution.AutomationStore: events, order and
// redemption summaries, usage counters and the frequency-cap send log.

// InsertEvent implements distribution.EventStore with INSERT ... ON
// CONFLICT (id) DO NOTHING: of two concurrent inserts of one id, the
// second waits for the first and reports false.
func (s *Store) InsertEvent(ctx context.Context, e distribution.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	doc, meta, types, err := encodeEvent(e)
	if err != nil {
		return false, fmt.Errorf("event %q: %w", e.ID, err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO events (id, type, doc, customer_metadata, customer_metadata_types, processed_at, claimed_by, claimed_until)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.Type, doc, meta, types, ts(e.ProcessedAt), e.ClaimedBy, ts(e.ClaimedUntil))
	if err != nil {
		return false, ctxErr(ctx, fmt.Errorf("event %q: %w", e.ID, err))
	}
	return tag.RowsAffected() == 1, nil
}

// encodeEvent returns the columns of e: its JSON without the customer's
// metadata, and that metadata with its type tags (nil without a customer).
func encodeEvent(e distribution.Event) (doc, meta, types []byte, err error) {
	if e.Customer != nil {
		if meta, types, err = encodeMetadata(e.Customer.Metadata); err != nil {
			return nil, nil, nil, err
		}
		c := *e.Customer
		c.Metadata = nil
		e.Customer = &c
	}
	e.ProcessedAt = time.Time{} // the processed_at, claimed_by and claimed_until columns
	e.ClaimedBy, e.ClaimedUntil = "", time.Time{}
	doc, err = json.Marshal(e)
	return doc, meta, types, err
}

const eventCols = `doc, customer_metadata, customer_metadata_types, processed_at, coalesce(claimed_by, ''), claimed_until`

func scanEvent(row pgx.Row) (distribution.Event, error) {
	var (
		e                distribution.Event
		doc, meta, types []byte
		processed, until *time.Time
		claimedBy        string
	)
	if err := row.Scan(&doc, &meta, &types, &processed, &claimedBy, &until); err != nil {
		return e, err
	}
	if err := json.Unmarshal(doc, &e); err != nil {
		return e, fmt.Errorf("event: %w", err)
	}
	if e.Customer != nil && meta != nil {
		m, err := decodeMetadata(meta, types)
		if err != nil {
			return e, fmt.Errorf("event %q: customer: %w", e.ID, err)
		}
		if len(m) > 0 {
			e.Customer.Metadata = m
		}
	}
	e.ProcessedAt = fromTS(processed)
	e.ClaimedBy, e.ClaimedUntil = claimedBy, fromTS(until)
	return e, nil
}

// GetEvent implements distribution.EventStore.
func (s *Store) GetEvent(ctx context.Context, id string) (distribution.Event, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Event{}, err
	}
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return distribution.Event{}, fmt.Errorf("event %q: %w", id, distribution.ErrNotFound)
	}
	if err != nil {
		return distribution.Event{}, ctxErr(ctx, fmt.Errorf("event %q: %w", id, err))
	}
	return e, nil
}

// MarkEventProcessed implements distribution.EventStore.
func (s *Store) MarkEventProcessed(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE events SET processed_at = $2, claimed_by = NULL, claimed_until = NULL WHERE id = $1`, id, ts(at))
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("event %q: %w", id, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("event %q: %w", id, distribution.ErrNotFound)
	}
	return nil
}

// ClaimEvent implements distribution.EventStore: one conditional UPDATE,
// so of two concurrent claims at most one succeeds.
func (s *Store) ClaimEvent(ctx context.Context, id, owner string, now, until time.Time) (distribution.Event, bool, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Event{}, false, err
	}
	e, err := scanEvent(s.pool.QueryRow(ctx, `UPDATE events SET claimed_by = $2, claimed_until = $4
		WHERE id = $1 AND processed_at IS NULL AND (claimed_by IS NULL OR claimed_by = $2 OR claimed_until <= $3)
		RETURNING `+eventCols, id, owner, now, until))
	if err == nil {
		return e, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return distribution.Event{}, false, ctxErr(ctx, fmt.Errorf("event %q: claiming: %w", id, err))
	}
	e, err = s.GetEvent(ctx, id) // processed, claimed by another, or missing
	return e, false, err
}

// UnprocessedEvents implements distribution.EventStore. It streams in
// pages (keyset pagination on the insertion sequence, through a partial
// index), so no transaction stays open while the caller works.
func (s *Store) UnprocessedEvents(ctx context.Context) iter.Seq2[distribution.Event, error] {
	return func(yield func(distribution.Event, error) bool) {
		var after int64
		for {
			if err := ctx.Err(); err != nil {
				yield(distribution.Event{}, err)
				return
			}
			rows, err := s.pool.Query(ctx, `SELECT seq, `+eventCols+` FROM events
				WHERE processed_at IS NULL AND seq > $1 ORDER BY seq LIMIT $2`, after, pageSize)
			if err != nil {
				yield(distribution.Event{}, ctxErr(ctx, fmt.Errorf("unprocessed events: %w", err)))
				return
			}
			var page []distribution.Event
			for rows.Next() {
				var seq int64
				e, err := scanEvent(seqRow{&seq, rows})
				if err != nil {
					rows.Close()
					yield(distribution.Event{}, fmt.Errorf("unprocessed events: %w", err))
					return
				}
				after = seq
				page = append(page, e)
			}
			if err := rows.Err(); err != nil {
				yield(distribution.Event{}, ctxErr(ctx, fmt.Errorf("unprocessed events: %w", err)))
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) < pageSize {
				return
			}
		}
	}
}

// seqRow scans a leading seq column into *seq before the rest.
type seqRow struct {
	seq *int64
	row pgx.Row
}

func (r seqRow) Scan(dest ...any) error {
	return r.row.Scan(append([]any{r.seq}, dest...)...)
}

// RecordOrder implements distribution.SummaryStore. In one transaction it
// locks the customer's row, upserts the order (keeping the stored
// created_at when o's is zero or later), reads all the customer's orders
// and writes the summary SummarizeOrders computes over them.
func (s *Store) RecordOrder(ctx context.Context, customerID string, o distribution.OrderRecord) (customer.Customer, error) {
	return s.updateSummary(ctx, customerID, "record order", func(tx pgx.Tx, c *customer.Customer) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orders AS o (customer_id, id, status, amount, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (customer_id, id) DO UPDATE SET status = excluded.status, amount = excluded.amount,
				updated_at = excluded.updated_at,
				created_at = CASE WHEN o.created_at IS NOT NULL AND (excluded.created_at IS NULL OR excluded.created_at > o.created_at)
					THEN o.created_at ELSE excluded.created_at END`,
			customerID, o.ID, o.Status, o.Amount, ts(o.CreatedAt), ts(o.UpdatedAt)); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT id, status, amount, created_at, updated_at FROM orders WHERE customer_id = $1 ORDER BY id`, customerID)
		all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (distribution.OrderRecord, error) {
			var r distribution.OrderRecord
			var created, updated *time.Time
			err := row.Scan(&r.ID, &r.Status, &r.Amount, &created, &updated)
			r.CreatedAt, r.UpdatedAt = fromTS(created), fromTS(updated)
			return r, err
		})
		c.Summary.Orders = distribution.SummarizeOrders(all)
		return err
	})
}

// RecordRedemption implements distribution.SummaryStore, as RecordOrder:
// one transaction that locks the customer's row, inserts the redemption
// unless (id, result) is stored, and writes the summary
// SummarizeRedemptions computes over all of them.
func (s *Store) RecordRedemption(ctx context.Context, customerID string, r distribution.RedemptionRecord) (customer.Customer, error) {
	return s.updateSummary(ctx, customerID, "record redemption", func(tx pgx.Tx, c *customer.Customer) error {
		if _, err := tx.Exec(ctx, `INSERT INTO redemptions (customer_id, id, result, at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, customerID, r.ID, r.Result, ts(r.At)); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT id, result, at FROM redemptions WHERE customer_id = $1 ORDER BY id, result`, customerID)
		all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (distribution.RedemptionRecord, error) {
			var r distribution.RedemptionRecord
			var at *time.Time
			err := row.Scan(&r.ID, &r.Result, &at)
			r.At = fromTS(at)
			return r, err
		})
		c.Summary.Redemptions = distribution.SummarizeRedemptions(all)
		return err
	})
}

// updateSummary is the transaction RecordOrder and RecordRedemption share:
// it locks the customer's row, lets record store the event and update
// the summary, and writes the summary back.
func (s *Store) updateSummary(ctx context.Context, customerID, op string, record func(pgx.Tx, *customer.Customer) error) (customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return customer.Customer{}, err
	}
	var out customer.Customer
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c, err := lockCustomer(ctx, tx, customerID)
		if err != nil {
			return err
		}
		if err := record(tx, &c); err != nil {
			return err
		}
		if err := writeSummary(ctx, tx, c); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return customer.Customer{}, summaryErr(ctx, op, customerID, err)
	}
	return out, nil
}

// errNoCustomer marks a summary write for an unknown customer.
var errNoCustomer = errors.New("no such customer")

// lockCustomer reads and locks (FOR UPDATE) the customer whose ID is id.
func lockCustomer(ctx context.Context, tx pgx.Tx, id string) (customer.Customer, error) {
	c, err := scanCustomer(tx.QueryRow(ctx, `SELECT `+customerCols+` FROM customers WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, errNoCustomer
	}
	return c, err
}

func writeSummary(ctx context.Context, tx pgx.Tx, c customer.Customer) error {
	b, err := json.Marshal(c.Summary)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE customers SET summary = $2 WHERE id = $1`, c.ID, b)
	return err
}

func summaryErr(ctx context.Context, op, customerID string, err error) error {
	if errors.Is(err, errNoCustomer) {
		return fmt.Errorf("%s: customer %q: %w", op, customerID, customer.ErrNotFound)
	}
	return ctxErr(ctx, fmt.Errorf("%s: customer %q: %w", op, customerID, err))
}

// AddUsage implements distribution.UsageStore with one INSERT ... ON
// CONFLICT DO UPDATE ... WHERE, so the cap check and the increment are
// atomic (the row lock serializes concurrent adds to one counter).
func (s *Store) AddUsage(ctx context.Context, meter string, period time.Time, n, max int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p := period.Truncate(time.Microsecond)
	var cur int64
	// synchronous_commit off: every send counts its message on one row
	// per period, so a synchronous commit would hold that row's lock over
	// an fsync and serialize the sends. A database crash may lose the last
	// few counts (the limit then allows a few more messages); the next
	// synchronous commit (a delivery's move to sending) flushes them.
	err := s.pool.QueryRow(ctx, `WITH a AS (SELECT set_config('synchronous_commit', 'off', true)),
		u AS (INSERT INTO usage_counters AS u (meter, period, n)
			SELECT $1, $2, greatest(0, $3::bigint) WHERE NOT ($3::bigint > 0 AND $4::bigint > 0 AND $3::bigint > $4::bigint)
			ON CONFLICT (meter, period) DO UPDATE SET n = greatest(0, u.n + $3::bigint)
				WHERE NOT ($3::bigint > 0 AND $4::bigint > 0 AND u.n + $3::bigint > $4::bigint)
			RETURNING n)
		SELECT n + 0 * (SELECT count(*) FROM a) FROM u`, meter, p, n, max).Scan(&cur)
	if err == nil {
		return cur, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, ctxErr(ctx, fmt.Errorf("usage %s: %w", meter, err))
	}
	// Over the cap: nothing changed.
	if cur, err = s.Usage(ctx, meter, period); err != nil {
		return 0, err
	}
	return cur, fmt.Errorf("%s: %d of %d used: %w", meter, cur, max, distribution.ErrLimitExceeded)
}

// Usage implements distribution.UsageStore.
func (s *Store) Usage(ctx context.Context, meter string, period time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT n FROM usage_counters WHERE meter = $1 AND period = $2`,
		meter, period.Truncate(time.Microsecond)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, ctxErr(ctx, fmt.Errorf("usage %s: %w", meter, err))
	}
	return n, nil
}

// sendLogLock is the first key of the transaction-level advisory locks
// (pg_advisory_xact_lock(sendLogLock, hashtext(customer_id))) that
// serialize ReserveSend per customer. The two-key lock space is apart from
// Migrate's one-key lock.
const sendLogLock = 0x636f6463 // "codc"

// ReserveSend implements distribution.SendLog. It runs in one
// transaction under an advisory lock on the customer (customers in the
// send log need not be stored ones, so no row lock would do): the
// delivery id is looked up, each cap counts the customer's records in its
// window with one query, and the record is inserted when none is reached.
// Records are kept after their windows pass; [Store.PruneSendLog] deletes
// old ones.
func (s *Store) ReserveSend(ctx context.Context, rec distribution.SendRecord, caps []distribution.FrequencyCap) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	at := rec.At.Truncate(time.Microsecond)
	since := make([]time.Time, len(caps))
	channels := make([]string, len(caps))
	maxes := make([]int64, len(caps))
	for i, c := range caps {
		since[i] = rec.At.Add(-c.Window).Truncate(time.Microsecond)
		channels[i] = c.Channel
		maxes[i] = int64(c.Max)
	}
	reached := -1
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		reached = -1
		// synchronous_commit off, as the other ledger moves: a database
		// crash may lose the record (a cap then allows one more message);
		// the delivery's move to sending, which follows, flushes it.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2)), set_config('synchronous_commit', 'off', true)`,
			sendLogLock, rec.CustomerID); err != nil {
			return err
		}
		var (
			dup   bool
			first *int64
		)
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM send_log WHERE delivery_id = $6),
			(SELECT min(c.i) FROM unnest($2::timestamptz[], $3::text[], $4::bigint[]) WITH ORDINALITY AS c(since, channel, max, i)
				WHERE (SELECT count(*) FROM send_log s WHERE s.customer_id = $1 AND s.at > c.since AND s.at <= $5
					AND (c.channel = '' OR s.channel = c.channel)) >= c.max)`,
			rec.CustomerID, since, channels, maxes, at, rec.DeliveryID).Scan(&dup, &first); err != nil {
			return err
		}
		if dup {
			return nil
		}
		if first != nil {
			reached = int(*first) - 1
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO send_log (delivery_id, customer_id, channel, at) VALUES ($1, $2, $3, $4) ON CONFLICT (delivery_id) DO NOTHING`,
			rec.DeliveryID, rec.CustomerID, rec.Channel, at)
		return err
	})
	if err != nil {
		return -1, ctxErr(ctx, fmt.Errorf("reserve send %q: %w", rec.DeliveryID, err))
	}
	return reached, nil
}

// ReleaseSend implements distribution.SendLog.
func (s *Store) ReleaseSend(ctx context.Context, deliveryID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM send_log WHERE delivery_id = $1`, deliveryID); err != nil {
		return ctxErr(ctx, fmt.Errorf("release send %q: %w", deliveryID, err))
	}
	return nil
}

// PruneSendLog deletes the send-log records (distribution.SendRecord)
// sent before before and returns how many it deleted. ReserveSend keeps
// every record, since only the caller knows the longest frequency-cap
// window; a host may call PruneSendLog now and then with a time older
// than that window (now minus the longest FrequencyCap.Window) to keep
// the table small. Records it deletes no longer count against any cap.
func (s *Store) PruneSendLog(ctx context.Context, before time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM send_log WHERE at < $1`, before.Truncate(time.Microsecond))
	if err != nil {
		return 0, ctxErr(ctx, fmt.Errorf("prune send log: %w", err))
	}
	return tag.RowsAffected(), nil
}
