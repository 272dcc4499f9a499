package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codedrop/codedrop/distribution"
)

// syncSendJob makes the jobs table agree with a distribution just written
// in tx: a scheduled distribution with a SendAt has its send job at that
// time (inserted, or moved when SendAt changed); a draft or canceled one
// has none. Other statuses leave the job alone (a sending distribution's
// job may be running). So a cancel, an edit that restarts the countdown
// and the countdown itself commit or roll back together with the row,
// whichever replica makes them; the Manager's own Schedule and Cancel
// calls that follow find the work done.
func syncSendJob(ctx context.Context, tx pgx.Tx, d *distribution.Distribution) error {
	id := distribution.SendJobID(d.ID)
	switch {
	case d.Status == distribution.StatusScheduled && !d.SendAt.IsZero():
		_, err := tx.Exec(ctx, `INSERT INTO jobs (id, kind, target, run_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET run_at = excluded.run_at, kind = excluded.kind, target = excluded.target,
				version = jobs.version + 1, locked_by = NULL, locked_until = NULL
			WHERE jobs.run_at IS DISTINCT FROM excluded.run_at;
			`, id, distribution.JobSend, d.ID, jobAt(d.SendAt))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel)
		return err
	case d.Status == distribution.StatusScheduled, d.Status == distribution.StatusDraft, d.Status == distribution.StatusCanceled:
		_, err := tx.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, id)
		return err
	}
	return nil
}

func scanDistribution(row pgx.Row) (distribution.Distribution, error) {
	var (
		d   distribution.Distribution
		doc []byte
		rev int64
	)
	if err := row.Scan(&doc, &rev); err != nil {
		return d, err
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return d, fmt.Errorf("stored distribution: %w", err)
	}
	d.Revision = rev
	return d, nil
}

func nameTaken(what, name string) error {
	return fmt.Errorf("name %q is used by another %s: %w", name, what, distribution.ErrNameTaken)
}

// CreateDistribution implements distribution.Store.
func (s *Store) CreateDistribution(ctx context.Context, d distribution.Distribution) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.ID == "" {
		return fmt.Errorf("distribution %q: id: required: %w", d.Name, distribution.ErrInvalid)
	}
	d.Revision = 1
	doc, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("distribution %s: %w", d.ID, err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO distributions (id, name, status, revision, send_at, doc) VALUES ($1, $2, $3, 1, $4, $5::jsonb)`,
			d.ID, d.Name, string(d.Status), ts(d.SendAt), string(doc)); err != nil {
			return err
		}
		if err := bumpTriggers(ctx, tx, &d); err != nil {
			return err
		}
		return syncSendJob(ctx, tx, &d)
	})
	switch code, cons := pgCode(err); {
	case code == uniqueViolation && cons == "distributions_name_key":
		return nameTaken("distribution", d.Name)
	case code == uniqueViolation:
		return fmt.Errorf("distribution %s already exists: %w", d.ID, distribution.ErrConflict)
	}
	return ctxErr(ctx, err)
}

// GetDistribution implements distribution.Store.
func (s *Store) GetDistribution(ctx context.Context, id string) (distribution.Distribution, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Distribution{}, err
	}
	d, err := scanDistribution(s.pool.QueryRow(ctx, `SELECT doc, revision FROM distributions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("distribution %q: %w", id, distribution.ErrNotFound)
	}
	return d, ctxErr(ctx, err)
}

// UpdateDistribution implements distribution.Store: a compare-and-set on
// revision, in a transaction that also keeps the distribution's send job
// in step (see the package doc, Scheduling).
func (s *Store) UpdateDistribution(ctx context.Context, d distribution.Distribution) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	want := d.Revision
	d.Revision = want + 1
	doc, err := json.Marshal(d)
	if err != nil {
		return 0, fmt.Errorf("distribution %s: %w", d.ID, err)
	}
	var stored int64
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE distributions SET name = $3, status = $4, revision = revision + 1, send_at = $5, doc = $6::jsonb
			WHERE id = $1 AND revision = $2`, d.ID, want, d.Name, string(d.Status), ts(d.SendAt), string(doc))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			err := tx.QueryRow(ctx, `SELECT revision FROM distributions WHERE id = $1`, d.ID).Scan(&stored)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("distribution %q: %w", d.ID, distribution.ErrNotFound)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("distribution %s: revision %d is stale (stored %d): %w", d.ID, want, stored, distribution.ErrConflict)
		}
		if err := bumpTriggers(ctx, tx, &d); err != nil {
			return err
		}
		return syncSendJob(ctx, tx, &d)
	})
	if code, cons := pgCode(err); code == uniqueViolation && cons == "distributions_name_key" {
		return 0, nameTaken("distribution", d.Name)
	}
	if err != nil {
		return 0, ctxErr(ctx, err)
	}
	return d.Revision, nil
}

// bumpTriggers moves the triggers version in tx when d is automatic: the
// row lock makes writers of automatic distributions take turns, so the
// version a reader sees covers every write committed before it.
func bumpTriggers(ctx context.Context, tx pgx.Tx, d *distribution.Distribution) error {
	if d.Mode != distribution.Automatic {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE triggers_version SET v = v + 1`)
	return err
}

// TriggersVersion implements distribution.Store.
func (s *Store) TriggersVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT v FROM triggers_version`).Scan(&v)
	return v, ctxErr(ctx, err)
}

// ListDistributions implements distribution.Store.
func (s *Store) ListDistributions(ctx context.Context, statuses ...distribution.Status) ([]distribution.Distribution, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := make([]string, len(statuses))
	for i, x := range statuses {
		st[i] = string(x)
	}
	rows, err := s.pool.Query(ctx, `SELECT doc, revision FROM distributions
		WHERE cardinality($1::text[]) = 0 OR status = ANY($1) ORDER BY seq`, st)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	defer rows.Close()
	var out []distribution.Distribution
	for rows.Next() {
		d, err := scanDistribution(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, ctxErr(ctx, rows.Err())
}

const consentCols = `id, name, description, category, created_at, updated_at`

func scanConsent(row pgx.Row) (distribution.Consent, error) {
	var c distribution.Consent
	err := row.Scan(&c.ID, &c.Name, &c.Description, &c.Category, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// CreateConsent implements distribution.Store.
func (s *Store) CreateConsent(ctx context.Context, c distribution.Consent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.ID == "" {
		return fmt.Errorf("consent %q: id: required: %w", c.Name, distribution.ErrInvalid)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO consents (`+consentCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.ID, c.Name, c.Description, c.Category, ts0(c.CreatedAt), ts0(c.UpdatedAt))
	switch code, cons := pgCode(err); {
	case code == uniqueViolation && cons == "consents_name_key":
		return nameTaken("consent", c.Name)
	case code == uniqueViolation:
		return fmt.Errorf("consent %s already exists: %w", c.ID, distribution.ErrConflict)
	}
	return ctxErr(ctx, err)
}

// ts0 is ts for a NOT NULL column: the zero time is stored as itself.
func ts0(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// GetConsent implements distribution.Store.
func (s *Store) GetConsent(ctx context.Context, id string) (distribution.Consent, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Consent{}, err
	}
	c, err := scanConsent(s.pool.QueryRow(ctx, `SELECT `+consentCols+` FROM consents WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("consent %q: %w", id, distribution.ErrNotFound)
	}
	return c, ctxErr(ctx, err)
}

// UpdateConsent implements distribution.Store.
func (s *Store) UpdateConsent(ctx context.Context, c distribution.Consent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE consents SET name = $2, description = $3, category = $4, created_at = $5, updated_at = $6 WHERE id = $1`,
		c.ID, c.Name, c.Description, c.Category, ts0(c.CreatedAt), ts0(c.UpdatedAt))
	if code, cons := pgCode(err); code == uniqueViolation && cons == "consents_name_key" {
		return nameTaken("consent", c.Name)
	}
	if err != nil {
		return ctxErr(ctx, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("consent %q: %w", c.ID, distribution.ErrNotFound)
	}
	return nil
}

// DeleteConsent implements distribution.Store.
func (s *Store) DeleteConsent(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM consents WHERE id = $1`, id)
	if err != nil {
		return ctxErr(ctx, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("consent %q: %w", id, distribution.ErrNotFound)
	}
	return nil
}

// ListConsents implements distribution.Store.
func (s *Store) ListConsents(ctx context.Context) ([]distribution.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+consentCols+` FROM consents ORDER BY seq`)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	defer rows.Close()
	out := []distribution.Consent{}
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, ctxErr(ctx, rows.Err())
}
