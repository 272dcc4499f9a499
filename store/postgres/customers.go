package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codedrop/codedrop/customer"
)

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

// UpsertCustomers implements customer.Store. Each batch is atomic, and
// written one of two ways:
//
//   - Straight in, when recent batches held only new customers (an import
//     of new customers): the batch is planned as new customers and written
//     with one COPY, which is a transaction of its own (one round
//     trip). A stored customer among them fails the COPY with a unique
//     violation on id or source_id, which writes nothing; the batch is
//     then written the second way.
//   - Looked up first: in one transaction, the stored customers the batch
//     matches are read and locked (SELECT ... FOR UPDATE, sent with the
//     BEGIN in one round trip), the changes are planned in Go exactly as
//     the contract says, and the rows are written with one COPY
//     (new ones) and one UPDATE over arrays (stored ones), whatever the
//     batch size, before the COMMIT.
//
// A concurrent batch inserting the same new id or source_id makes one of
// them plan again (it then finds and updates the other's row), so
// concurrent upserts of one customer keep one row.
func (s *Store) UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return []customer.Customer{}, nil
	}
	if !s.lookupFirst.Load() {
		src, out, err := planNew(cs, opts, time.Now().Truncate(time.Microsecond))
		if err != nil {
			return nil, err
		}
		if src != nil {
			err = s.copyNew(ctx, src)
			if err == nil {
				return out, nil
			}
			if code, _ := pgCode(err); code != uniqueViolation && !retryable(err) {
				return nil, ctxErr(ctx, err)
			}
			// Some were stored, or a concurrent batch inserting some of
			// the same customers deadlocked with this one.
			s.lookupFirst.Store(true)
		}
	}
	var out []customer.Customer
	var found bool
	var err error
	for range 10 {
		if err = ctx.Err(); err != nil {
			break
		}
		out, found, err = s.upsertOnce(ctx, cs, opts)
		if code, _ := pgCode(err); code != uniqueViolation && !retryable(err) {
			break
		}
		// A concurrent batch inserted one of our ids or source ids (plan
		// again), or the transaction deadlocked with another.
	}
	if code, cons := pgCode(err); code == uniqueViolation {
		return nil, fmt.Errorf("upsert customers: %s: %w", cons, customer.ErrConflict)
	}
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	if !found {
		s.lookupFirst.Store(false) // all new: try the next batch straight in
	}
	return out, nil
}

// planNew plans cs as new customers, to be written straight in. src is
// nil when that plan fails with a batch error (which may be another one
// with what is stored: the lookup path says). Most batches hold no ID or
// source_id twice: each customer is then planned on its own, by the COPY
// as it reads it, and out is complete once the COPY is.
func planNew(cs []customer.Customer, opts customer.UpsertOptions, now time.Time) (src *copySource, out []customer.Customer, err error) {
	if !distinctKeys(cs) {
		p, err := planUpsert(cs, opts, now, nil, nil)
		if err != nil {
			return nil, nil, nil // a batch error
		}
		if err := p.encodeFresh(); err != nil {
			return nil, nil, err
		}
		return p.copy, p.out, nil
	}
	// The planned customers differ from cs only in ID, CreatedAt and
	// UpdatedAt, columns the COPY always has: cs stands for them until
	// they are planned.
	rows := make([]*customer.Customer, len(cs))
	for i := range cs {
		rows[i] = &cs[i]
	}
	if src, err = encodeCopy(rows); err != nil {
		return nil, nil, err
	}
	out = make([]customer.Customer, len(cs))
	src.plan = func(i int) {
		next := cs[i] // with Handoff the result may share the given maps
		if !opts.Handoff {
			next = next.Clone()
		}
		stampNew(&next, now)
		out[i] = next
		rows[i] = &out[i] // the COPY only reads it
	}
	return src, out, nil
}

// stampNew gives a customer about to be inserted its ID and timestamps,
// where the caller left them zero.
func stampNew(c *customer.Customer, now time.Time) {
	if c.ID == "" {
		c.ID = customer.NewID()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
}

// distinctKeys reports whether no two customers of cs share an ID or a
// source_id.
func distinctKeys(cs []customer.Customer) bool {
	var ids map[string]struct{}
	srcs := make(map[string]struct{}, len(cs))
	for _, c := range cs {
		if c.ID != "" {
			if ids == nil {
				ids = make(map[string]struct{}, len(cs))
			}
			if _, dup := ids[c.ID]; dup {
				return false
			}
			ids[c.ID] = struct{}{}
		}
		if c.SourceID != "" {
			if _, dup := srcs[c.SourceID]; dup {
				return false
			}
			srcs[c.SourceID] = struct{}{}
		}
	}
	return true
}

// copyNew writes new customers with one COPY outside any transaction
// block: a transaction of its own, all rows or none.
func (s *Store) copyNew(ctx context.Context, src *copySource) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer pc.Release()
	return src.copyTo(ctx, pc.Conn())
}

// lookupSQL reads and locks the stored customers a batch matches.
const lookupSQL = `SELECT ` + customerCols + ` FROM customers
	WHERE id = ANY($1) OR source_id = ANY($2) ORDER BY id FOR UPDATE`

// upsertOnce makes one attempt at writing the batch cs, in a transaction
// on a connection of its own, and reports whether it matched stored
// customers. It manages the transaction itself rather than through
// pgx.Tx so that BEGIN goes with the lookup. A connection left in a
// transaction (a failed ROLLBACK) is dropped by the pool when it is
// released.
func (s *Store) upsertOnce(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) (out []customer.Customer, found bool, err error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	defer pc.Release()
	conn := pc.Conn()
	defer func() {
		if err != nil && conn.PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
	}()
	p, err := upsertTx(ctx, conn, cs, opts)
	if err != nil {
		return nil, false, err
	}
	if _, err = conn.Exec(ctx, "COMMIT"); err != nil {
		return nil, false, err
	}
	return p.out, len(p.stored) > 0, nil
}

// upsertTx begins a transaction on conn and writes cs in it, and returns
// what it wrote; the caller commits or rolls back.
func upsertTx(ctx context.Context, conn *pgx.Conn, cs []customer.Customer, opts customer.UpsertOptions) (*upsertPlan, error) {
	now := time.Now().Truncate(time.Microsecond)
	idList := make([]string, 0, len(cs))
	srcList := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.ID != "" {
			idList = append(idList, c.ID)
		}
		if c.SourceID != "" {
			srcList = append(srcList, c.SourceID)
		}
	}
	var stored map[string]*customer.Customer // by ID
	var storedSrc map[string]string          // SourceID -> ID
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lookupSQL, idList, srcList).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			c, err := scanCustomer(rows)
			if err != nil {
				return err
			}
			if stored == nil {
				stored, storedSrc = map[string]*customer.Customer{}, map[string]string{}
			}
			stored[c.ID] = &c
			if c.SourceID != "" {
				storedSrc[c.SourceID] = c.ID
			}
		}
		return rows.Err()
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	p, err := planUpsert(cs, opts, now, stored, storedSrc)
	if err != nil {
		return nil, err
	}
	if err := p.encodeFresh(); err != nil {
		return nil, err
	}
	if err := p.write(ctx, conn); err != nil {
		return nil, err
	}
	return p, nil
}

// upsertPlan is what a batch writes and returns.
type upsertPlan struct {
	out    []customer.Customer           // the result, in batch order
	final  []customer.Customer           // the final value of each customer written, in first-seen order
	stored map[string]*customer.Customer // the stored customers the batch matched, by ID
	copy   *copySource                   // the COPY of the new customers (encodeFresh)
}

// planUpsert plans cs over the stored customers it matches, as
// store.Memory does: a *customer.BatchError names an item that cannot be
// written.
func planUpsert(cs []customer.Customer, opts customer.UpsertOptions, now time.Time,
	stored map[string]*customer.Customer, storedSrc map[string]string) (*upsertPlan, error) {
	p := &upsertPlan{
		out:    make([]customer.Customer, len(cs)),
		final:  make([]customer.Customer, 0, len(cs)), // never grows: pointers into it stay valid
		stored: stored,
	}
	pending := make(map[string]int, len(cs))       // ID -> index in final
	pendingSrc := make(map[string]string, len(cs)) // SourceID -> ID
	get := func(id string) *customer.Customer {
		if i, ok := pending[id]; ok {
			return &p.final[i]
		}
		return stored[id]
	}
	srcOwner := func(src string) string {
		if id, ok := pendingSrc[src]; ok {
			return id
		}
		return storedSrc[src]
	}
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
				next = in // shares in's maps: the plan only reads them, out gets a clone
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
			next = in
			stampNew(&next, now)
		}
		if next.SourceID != "" {
			if owner := srcOwner(next.SourceID); owner != "" && owner != next.ID {
				return nil, &customer.BatchError{Index: n, Err: fmt.Errorf("customer %s: source_id %q belongs to customer %s: %w",
					next.ID, next.SourceID, owner, customer.ErrConflict)}
			}
			pendingSrc[next.SourceID] = next.ID
		}
		if i, ok := pending[next.ID]; ok {
			p.final[i] = next
		} else {
			pending[next.ID] = len(p.final)
			p.final = append(p.final, next)
		}
		p.out[n] = next.Clone()
	}
	return p, nil
}

// encodeFresh prepares the COPY of the plan's new customers.
func (p *upsertPlan) encodeFresh() error {
	var fresh []*customer.Customer
	for i := range p.final {
		if p.stored[p.final[i].ID] == nil {
			fresh = append(fresh, &p.final[i])
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	var err error
	p.copy, err = encodeCopy(fresh)
	return err
}

// customerColumns are the columns of customerCols: customerRow's values,
// the arrays of the UPDATE of stored customers.
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

// write writes the final value of each planned customer: new ones with
// one COPY (the fastest way into a table; a concurrent insert of
// the same id or source_id fails the batch with a unique violation, and
// UpsertCustomers plans it again), stored ones with one UPDATE ... FROM
// unnest.
func (p *upsertPlan) write(ctx context.Context, conn *pgx.Conn) error {
	if p.copy != nil {
		if err := p.copy.copyTo(ctx, conn); err != nil {
			return err
		}
	}
	var old [][]any
	for i := range p.final {
		if p.stored[p.final[i].ID] == nil {
			continue
		}
		row, err := customerRow(&p.final[i])
		if err != nil {
			return err
		}
		old = append(old, row)
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
	_, err := conn.Exec(ctx, `UPDATE customers SET
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
