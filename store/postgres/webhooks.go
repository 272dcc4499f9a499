package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codedrop/codedrop/intercom"
)

var _ intercom.WebhookStore = (*Store)(nil)

// ClaimNotification implements intercom.WebhookStore with one INSERT ...
// ON CONFLICT DO UPDATE ... WHERE: the check and the claim are atomic, so
// of several replicas receiving one notification exactly one claims it.
func (s *Store) ClaimNotification(ctx context.Context, id string, now time.Time, lease time.Duration) (intercom.ClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var claimed bool
	var handled *time.Time
	err := s.pool.QueryRow(ctx, `WITH c AS (
			INSERT INTO webhook_notifications AS w (id, claimed_until) VALUES ($1, $3)
			ON CONFLICT (id) DO UPDATE SET claimed_until = excluded.claimed_until
				WHERE w.handled_at IS NULL AND w.claimed_until <= $2
			RETURNING true AS claimed)
		SELECT EXISTS (SELECT 1 FROM c), (SELECT handled_at FROM webhook_notifications WHERE id = $1)`,
		id, ts0(now), ts0(now.Add(lease))).Scan(&claimed, &handled)
	switch {
	case err != nil:
		return 0, ctxErr(ctx, err)
	case claimed:
		return intercom.Claimed, nil
	case handled != nil:
		return intercom.AlreadyHandled, nil
	}
	return intercom.InFlight, nil
}

// FinishNotification implements intercom.WebhookStore.
func (s *Store) FinishNotification(ctx context.Context, id string, handled bool, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	if handled {
		_, err = s.pool.Exec(ctx, `UPDATE webhook_notifications SET handled_at = $2, claimed_until = NULL
			WHERE id = $1 AND handled_at IS NULL`, id, ts0(now))
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM webhook_notifications WHERE id = $1 AND handled_at IS NULL`, id)
	}
	return ctxErr(ctx, err)
}

// UpdateContactState implements intercom.WebhookStore: fn runs inside a
// transaction that holds the contact's intercom_contacts row locked (an
// INSERT ... ON CONFLICT DO UPDATE locks it, new or not), so the
// notifications of one contact are applied one at a time across replicas,
// and a replica that dies releases the lock with its connection. fn's own
// writes use other connections; at most half the pool's connections are
// held by these transactions at once, so they always find one (a pool of
// one connection is refused with an error).
func (s *Store) UpdateContactState(ctx context.Context, contactID string, fn func(intercom.ContactState) (intercom.ContactState, error)) error {
	if s.pool.Config().MaxConns < 2 {
		// fn's writes would wait for the one connection the transaction holds.
		return fmt.Errorf("postgres: UpdateContactState needs a pool of at least 2 connections, not %d", s.pool.Config().MaxConns)
	}
	select {
	case s.contactSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.contactSlots }()
	var fnErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			cur                intercom.ContactState
			updated, deletedAt *time.Time
		)
		err := tx.QueryRow(ctx, `INSERT INTO intercom_contacts AS c (contact_id) VALUES ($1)
			ON CONFLICT (contact_id) DO UPDATE SET contact_id = c.contact_id
			RETURNING updated_at, source_id, deleted_at`, contactID).Scan(&updated, &cur.SourceID, &deletedAt)
		if err != nil {
			return err
		}
		cur.UpdatedAt, cur.DeletedAt = fromTS(updated), fromTS(deletedAt)
		next, err := fn(cur)
		if err != nil {
			fnErr = err
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE intercom_contacts SET updated_at = $2, source_id = $3, deleted_at = $4 WHERE contact_id = $1`,
			contactID, ts(next.UpdatedAt), next.SourceID, ts(next.DeletedAt))
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("postgres: contact %s: %w", contactID, ctxErr(ctx, err))
	}
	return nil
}

// PruneWebhookState implements intercom.WebhookStore.
func (s *Store) PruneWebhookState(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := tx.Exec(ctx, `DELETE FROM webhook_notifications WHERE coalesce(handled_at, claimed_until) < $1`, ts0(before))
		if err != nil {
			return err
		}
		b, err := tx.Exec(ctx, `DELETE FROM intercom_contacts WHERE deleted_at < $1`, ts0(before))
		if err != nil {
			return err
		}
		n = a.RowsAffected() + b.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: pruning webhook state: %w", ctxErr(ctx, err))
	}
	return int(n), nil
}
