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
)

const customerCols = `id, source_id, name, email, phone, description, birthdate, address,
	metadata, metadata_types, consents, timezone, summary, created_at, updated_at`

// scanCustomer reads one row of customerCols.
func scanCustomer(row pgx.Row) (customer.Customer, error) {
	var (
		c                                   customer.Customer
		src                                 *string
		birth                               *time.Time
		addr, meta, types, consents, summry []byte
	)
	if err := row.Scan(&c.ID, &src, &c.Name, &c.Email, &c.Phone, &c.Description, &birth, &addr,
		&meta, &types, &consents, &c.Timezone, &summry, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return c, err
	}
	if src != nil {
		c.SourceID = *src
	}
	if birth != nil {
		c.Birthdate = customer.DateOf(*birth)
	}
	var err error
	if c.Metadata, err = decodeMetadata(meta, types); err != nil {
		return c, fmt.Errorf("customer %s: %w", c.ID, err)
	}
	for _, f := range []struct {
		b []byte
		v any
	}{{addr, &c.Address}, {consents, &c.Consents}, {summry, &c.Summary}} {
		if err := json.Unmarshal(f.b, f.v); err != nil {
			return c, fmt.Errorf("customer %s: %w", c.ID, err)
		}
	}
	return c, nil
}

// GetCustomer implements customer.Store.
func (s *Store) GetCustomer(ctx context.Context, id string) (customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return customer.Customer{}, err
	}
	if id == "" {
		return customer.Customer{}, fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	// The id first; the source_id only when no id matches.
	c, err := scanCustomer(s.pool.QueryRow(ctx, `SELECT `+customerCols+` FROM (
		(SELECT 1 AS pri, * FROM customers WHERE id = $1) UNION ALL
		(SELECT 2 AS pri, * FROM customers WHERE source_id = $1)) AS c ORDER BY pri LIMIT 1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return customer.Customer{}, fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	if err != nil {
		return customer.Customer{}, ctxErr(ctx, fmt.Errorf("customer %q: %w", id, err))
	}
	return c, nil
}

// UpsertCustomers implements customer.Store. The batch is one transaction:
// the stored customers it matches are read and locked (SELECT ... FOR
// UPDATE) in one query, the changes are planned in Go exactly as the
// contract says, and the rows are written with COPY (new ones) and one
// UPDATE over arrays (stored ones), whatever the batch size. A concurrent
// batch inserting the same new source_id makes one of them retry (it then
// finds and updates the other's row), so concurrent upserts of one
// customer keep one row.
func (s *Store) UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return []customer.Customer{}, nil
	}
	var out []customer.Customer
	var err error
	for range 10 {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			var e error
			out, e = upsertTx(ctx, tx, cs, opts)
			return e
		})
		if code, _ := pgCode(err); code != uniqueViolation {
			break
		}
		// A concurrent batch inserted one of our ids or source ids: plan again.
	}
	if code, cons := pgCode(err); code == uniqueViolation {
		return nil, fmt.Errorf("upsert customers: %s: %w", cons, customer.ErrConflict)
	}
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	return out, nil
}

func upsertTx(ctx context.Context, tx pgx.Tx, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	now := time.Now().Truncate(time.Microsecond)
	var idList, srcList []string
	for _, c := range cs {
		if c.ID != "" {
			idList = append(idList, c.ID)
		}
		if c.SourceID != "" {
			srcList = append(srcList, c.SourceID)
		}
	}
	stored := map[string]*customer.Customer{} // by ID
	storedSrc := map[string]string{}          // SourceID -> ID
	rows, err := tx.Query(ctx, `SELECT `+customerCols+` FROM customers
		WHERE id = ANY($1) OR source_id = ANY($2) ORDER BY id FOR UPDATE`, idList, srcList)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		c, err := scanCustomer(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		stored[c.ID] = &c
		if c.SourceID != "" {
			storedSrc[c.SourceID] = c.ID
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// The plan, as store.Memory makes it.
	pending := make(map[string]*customer.Customer, len(cs))
	pendingSrc := map[string]string{}
	var order []string
	get := func(id string) *customer.Customer {
		if c, ok := pending[id]; ok {
			return c
		}
		return stored[id]
	}
	srcOwner := func(src string) string {
		if id, ok := pendingSrc[src]; ok {
			return id
		}
		return storedSrc[src]
	}
	out := make([]customer.Customer, len(cs))
	for n, in := range cs {
		var prev *customer.Customer
		if in.ID != "" {
			prev = get(in.ID)
		} else if in.SourceID != "" {
			if id := srcOwner(in.SourceID); id != "" {
				prev = get(id)
			}
		}
		var next customer.Customer
		if prev != nil {
			if opts.Merge {
				next = customer.Merge(*prev, in)
			} else {
				next = in.Clone()
				next.ID = prev.ID
				if next.SourceID == "" {
					next.SourceID = prev.SourceID
				}
				if next.Consents.IsZero() {
					next.Consents = prev.Consents.Clone()
				}
			}
			if prev.SourceID != "" && in.SourceID != "" && in.SourceID != prev.SourceID {
				return nil, &customer.BatchError{Index: n, Err: fmt.Errorf("customer %s: source_id %q cannot change to %q: %w",
					prev.ID, prev.SourceID, in.SourceID, customer.ErrConflict)}
			}
			next.CreatedAt = prev.CreatedAt
			next.Summary = prev.Summary
			if in.UpdatedAt.IsZero() {
				next.UpdatedAt = now
			}
		} else {
			next = in.Clone()
			if next.ID == "" {
				next.ID = customer.NewID()
			}
			if next.CreatedAt.IsZero() {
				next.CreatedAt = now
			}
			if next.UpdatedAt.IsZero() {
				next.UpdatedAt = next.CreatedAt
			}
		}
		if next.SourceID != "" {
			if owner := srcOwner(next.SourceID); owner != "" && owner != next.ID {
				return nil, &customer.BatchError{Index: n, Err: fmt.Errorf("customer %s: source_id %q belongs to customer %s: %w",
					next.ID, next.SourceID, owner, customer.ErrConflict)}
			}
			pendingSrc[next.SourceID] = next.ID
		}
		if _, ok := pending[next.ID]; !ok {
			order = append(order, next.ID)
		}
		c := next
		pending[next.ID] = &c
		out[n] = next.Clone()
	}
	if err := writeCustomers(ctx, tx, order, pending, stored); err != nil {
		return nil, err
	}
	return out, nil
}

// customerColumns are the columns of customerCols, for COPY.
var customerColumns = []string{"id", "source_id", "name", "email", "phone", "description", "birthdate", "address",
	"metadata", "metadata_types", "consents", "timezone", "summary", "created_at", "updated_at"}

// customerRow is one customer as the values of customerColumns (jsonb
// columns as JSON text).
func customerRow(c *customer.Customer) ([]any, error) {
	var src *string
	if c.SourceID != "" {
		src = &c.SourceID
	}
	var birth *time.Time
	if !c.Birthdate.IsZero() {
		b := c.Birthdate.In(time.UTC)
		birth = &b
	}
	plain, tags, err := encodeMetadata(c.Metadata)
	if err != nil {
		return nil, fmt.Errorf("customer %s: %w", c.ID, err)
	}
	row := []any{c.ID, src, c.Name, c.Email, c.Phone, c.Description, birth, nil,
		string(plain), string(tags), nil, c.Timezone, nil, ts0(c.CreatedAt), ts0(c.UpdatedAt)}
	for _, f := range []struct {
		i    int
		zero bool
		v    any
	}{{7, c.Address == customer.Address{}, c.Address}, {10, c.Consents.IsZero(), c.Consents}, {12, c.Summary == customer.Summary{}, c.Summary}} {
		if f.zero {
			row[f.i] = "{}"
			continue
		}
		b, err := json.Marshal(f.v)
		if err != nil {
			return nil, fmt.Errorf("customer %s: %w", c.ID, err)
		}
		row[f.i] = string(b)
	}
	return row, nil
}

// writeCustomers writes the final value of each planned customer: new
// ones with COPY (the fastest way into a table; a concurrent insert of
// the same id or source_id fails the batch with a unique violation, and
// UpsertCustomers plans it again), stored ones with one UPDATE ... FROM
// unnest.
func writeCustomers(ctx context.Context, tx pgx.Tx, order []string, pending, stored map[string]*customer.Customer) error {
	var fresh, old [][]any
	for _, id := range order {
		row, err := customerRow(pending[id])
		if err != nil {
			return err
		}
		if stored[id] != nil {
			old = append(old, row)
		} else {
			fresh = append(fresh, row)
		}
	}
	if len(fresh) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"customers"}, customerColumns, pgx.CopyFromRows(fresh)); err != nil {
			return err
		}
	}
	if len(old) == 0 {
		return nil
	}
	cols := make([][]any, len(customerColumns))
	for i := range cols {
		cols[i] = make([]any, len(old))
		for j, row := range old {
			cols[i][j] = row[i]
		}
	}
	args := make([]any, len(cols))
	for i, col := range cols {
		switch i {
		case 6: // birthdate, as text: a timestamptz would turn into a date in the session's time zone
			ds := make([]*string, len(col))
			for j, v := range col {
				if t, ok := v.(*time.Time); ok && t != nil {
					d := t.Format(time.DateOnly)
					ds[j] = &d
				}
			}
			args[i] = ds
		case 13, 14: // created_at, updated_at
			ts := make([]*time.Time, len(col))
			for j, v := range col {
				switch v := v.(type) {
				case *time.Time:
					ts[j] = v
				case time.Time:
					ts[j] = &v
				}
			}
			args[i] = ts
		case 1: // source_id
			ss := make([]*string, len(col))
			for j, v := range col {
				ss[j], _ = v.(*string)
			}
			args[i] = ss
		default:
			ss := make([]string, len(col))
			for j, v := range col {
				ss[j], _ = v.(string)
			}
			args[i] = ss
		}
	}
	_, err := tx.Exec(ctx, `UPDATE customers SET
			source_id = u.source_id, name = u.name, email = u.email, phone = u.phone, description = u.description,
			birthdate = u.birthdate::date, address = u.address::jsonb, metadata = u.metadata::jsonb,
			metadata_types = u.metadata_types::jsonb, consents = u.consents::jsonb, timezone = u.timezone,
			summary = u.summary::jsonb, created_at = u.created_at, updated_at = u.updated_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[])
			AS u(id, source_id, name, email, phone, description, birthdate, address,
			metadata, metadata_types, consents, timezone, summary, created_at, updated_at)
		WHERE customers.id = u.id`, args...)
	return err
}

// DeleteCustomer implements customer.Store. Segment memberships are left
// to the caller (segment.Engine.CustomerDeleted), as with store.Memory.
func (s *Store) DeleteCustomer(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM customers WHERE id = (
		SELECT id FROM customers WHERE id = $1 OR source_id = $1 ORDER BY id = $1 DESC LIMIT 1)`, id)
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("customer %q: %w", id, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	return nil
}

// Customers implements customer.Store. It streams: customers are read in
// pages of a thousand by keyset pagination on the primary key (WHERE id >
// last ORDER BY id LIMIT n), so a full scan of millions of customers
// holds one page in memory and no long transaction or snapshot. Customers
// written during the iteration may or may not be seen.
func (s *Store) Customers(ctx context.Context, opts customer.ListOptions) iter.Seq2[customer.Customer, error] {
	return s.pageCustomers(ctx, opts, "TRUE", nil, "list customers")
}

// pageCustomers streams the customers for which the SQL condition where
// holds (its parameters, args, start at $3), in ID order, by keyset
// pagination in pages of pageSize; what names the listing in errors.
func (s *Store) pageCustomers(ctx context.Context, opts customer.ListOptions, where string, args []any, what string) iter.Seq2[customer.Customer, error] {
	query := `SELECT ` + customerCols + ` FROM customers WHERE id > $1 AND (` + where + `) ORDER BY id LIMIT $2`
	return func(yield func(customer.Customer, error) bool) {
		after, count := opts.After, 0
		buf := make([]customer.Customer, 0, pageSize)
		for {
			if err := ctx.Err(); err != nil {
				yield(customer.Customer{}, err)
				return
			}
			limit := pageSize
			if opts.Limit > 0 {
				limit = min(limit, opts.Limit-count)
			}
			buf = buf[:0]
			rows, err := s.pool.Query(ctx, query, append([]any{after, limit}, args...)...)
			if err == nil {
				for rows.Next() {
					c, serr := scanCustomer(rows)
					if serr != nil {
						err = serr
						break
					}
					buf = append(buf, c)
				}
				rows.Close()
				if err == nil {
					err = rows.Err()
				}
			}
			if err != nil {
				yield(customer.Customer{}, ctxErr(ctx, fmt.Errorf("%s: %w", what, err)))
				return
			}
			for _, c := range buf {
				count++
				if !yield(c, nil) {
					return
				}
			}
			if len(buf) < limit || (opts.Limit > 0 && count >= opts.Limit) {
				return
			}
			after = buf[len(buf)-1].ID
		}
	}
}
