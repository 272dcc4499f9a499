package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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
		if string(f.b) == "{}" { // the column default, the zero value: most rows
			continue
		}
		if err := json.Unmarshal(f.b, f.v); err != nil {
			return c, fmt.Errorf("customer %s: %w", c.ID, err)
		}
	}
	return c, nil
}

// rawScanner reads rows of customerCols from their wire bytes instead of
// through pgx's Scan: the text columns of a row become one string (not
// seven), the jsonb columns are decoded where they lie (not copied
// first). A full scan of a million customers spends most of its client
// time here. It reads what scanCustomer reads, for the formats pgx asks
// for; newRawScanner says when it cannot (scanCustomer then reads).
type rawScanner struct {
	binary [15]bool // per column: binary format (else text)
	buf    []byte
}

// newRawScanner returns a rawScanner for rows, or nil when a column's
// type or format is not one it reads.
func newRawScanner(rows pgx.Rows) *rawScanner {
	fds := rows.FieldDescriptions()
	if len(fds) != len(customerColumns) {
		return nil
	}
	want := [15]uint32{pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.DateOID,
		pgtype.JSONBOID, pgtype.JSONBOID, pgtype.JSONBOID, pgtype.JSONBOID, pgtype.TextOID, pgtype.JSONBOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID}
	rs := &rawScanner{}
	for i, fd := range fds {
		if fd.DataTypeOID != want[i] {
			return nil
		}
		rs.binary[i] = fd.Format == pgtype.BinaryFormatCode
		if rs.binary[i] && (want[i] == pgtype.TextOID) || !rs.binary[i] && (want[i] == pgtype.DateOID || want[i] == pgtype.TimestamptzOID) {
			return nil // binary text or text times: not worth reading here
		}
	}
	return rs
}

// scan reads the current row.
func (rs *rawScanner) scan(vals [][]byte) (customer.Customer, error) {
	var c customer.Customer
	// The text columns, in one string.
	texts := [...]int{colID, colSourceID, colName, colEmail, colPhone, colDescription, colTimezone}
	b := rs.buf[:0]
	for _, col := range texts {
		b = append(b, vals[col]...)
	}
	all := string(b)
	rs.buf = b
	for _, col := range texts {
		n := len(vals[col])
		s := all[:n]
		all = all[n:]
		switch col {
		case colID:
			c.ID = s
		case colSourceID:
			c.SourceID = s // NULL: ""
		case colName:
			c.Name = s
		case colEmail:
			c.Email = s
		case colPhone:
			c.Phone = s
		case colDescription:
			c.Description = s
		case colTimezone:
			c.Timezone = s
		}
	}
	if v := vals[colBirthdate]; v != nil {
		if len(v) != 4 {
			return c, fmt.Errorf("customer %s: birthdate: %d bytes", c.ID, len(v))
		}
		days := int32(binary.BigEndian.Uint32(v))
		c.Birthdate = customer.DateOf(time.Date(2000, 1, 1+int(days), 0, 0, 0, 0, time.UTC))
	}
	var err error
	meta, types := rs.jsonb(vals, colMetadata), rs.jsonb(vals, colMetadataTypes)
	if c.Metadata, err = decodeMetadata(meta, types); err != nil {
		return c, fmt.Errorf("customer %s: %w", c.ID, err)
	}
	// The rest are '{}' (their zero value) in most rows; json.Unmarshal
	// gets a pointer of its own so that c stays on the stack.
	if js := rs.jsonb(vals, colAddress); string(js) != "{}" {
		var a customer.Address
		if err := json.Unmarshal(js, &a); err != nil {
			return c, fmt.Errorf("customer %s: address: %w", c.ID, err)
		}
		c.Address = a
	}
	if js := rs.jsonb(vals, colConsents); string(js) != "{}" {
		var cs customer.Consents
		if err := json.Unmarshal(js, &cs); err != nil {
			return c, fmt.Errorf("customer %s: consents: %w", c.ID, err)
		}
		c.Consents = cs
	}
	if js := rs.jsonb(vals, colSummary); string(js) != "{}" {
		var sm customer.Summary
		if err := json.Unmarshal(js, &sm); err != nil {
			return c, fmt.Errorf("customer %s: summary: %w", c.ID, err)
		}
		c.Summary = sm
	}
	if c.CreatedAt, err = pgTimestamptz(vals[colCreatedAt]); err != nil {
		return c, fmt.Errorf("customer %s: created_at: %w", c.ID, err)
	}
	if c.UpdatedAt, err = pgTimestamptz(vals[colUpdatedAt]); err != nil {
		return c, fmt.Errorf("customer %s: updated_at: %w", c.ID, err)
	}
	return c, nil
}

// pgTimestamptz decodes a binary timestamptz (microseconds since
// 2000-01-01 UTC) in the local time zone, as pgx does.
func pgTimestamptz(v []byte) (time.Time, error) {
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("%d bytes, want 8", len(v))
	}
	us := int64(binary.BigEndian.Uint64(v)) + 946684800*1_000_000
	return time.Unix(us/1_000_000, us%1_000_000*1000), nil
}

// jsonb returns column col's JSON text (without the binary format's
// version byte).
func (rs *rawScanner) jsonb(vals [][]byte, col int) []byte {
	v := vals[col]
	if rs.binary[col] && len(v) > 0 {
		return v[1:]
	}
	return v
}

// scanRows reads every row of rows into buf with a rawScanner, or with
// scanCustomer when the rows are not in the formats it reads.
func scanRows(rows pgx.Rows, buf []customer.Customer) ([]customer.Customer, error) {
	rs := newRawScanner(rows)
	for rows.Next() {
		var c customer.Customer
		var err error
		if rs != nil {
			c, err = rs.scan(rows.RawValues())
		} else {
			c, err = scanCustomer(rows)
		}
		if err != nil {
			return buf, err
		}
		buf = append(buf, c)
	}
	return buf, rows.Err()
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
// The next page is read (on a connection of its own) while the caller
// goes through the current one, so that the database and the caller work
// at the same time on a long scan.
func (s *Store) pageCustomers(ctx context.Context, opts customer.ListOptions, where string, args []any, what string) iter.Seq2[customer.Customer, error] {
	query := `SELECT ` + customerCols + ` FROM customers WHERE id > $1 AND (` + where + `) ORDER BY id LIMIT $2`
	type page struct {
		cs    []customer.Customer
		limit int
		err   error
	}
	// fetch reads a page into buf (a spent page's, or nil).
	fetch := func(after string, count int, buf []customer.Customer) page {
		if err := ctx.Err(); err != nil {
			return page{err: err}
		}
		limit := pageSize
		if opts.Limit > 0 {
			limit = min(limit, opts.Limit-count)
		}
		if cap(buf) < limit {
			buf = make([]customer.Customer, 0, limit)
		}
		buf = buf[:0]
		rows, err := s.pool.Query(ctx, query, append([]any{after, limit}, args...)...)
		if err == nil {
			buf, err = scanRows(rows, buf)
			rows.Close()
		}
		if err != nil {
			return page{err: ctxErr(ctx, fmt.Errorf("%s: %w", what, err))}
		}
		return page{cs: buf, limit: limit}
	}
	return func(yield func(customer.Customer, error) bool) {
		count := 0
		cur := fetch(opts.After, 0, nil)
		var spent []customer.Customer // the page before cur: yielded (as copies), so reusable
		for {
			if cur.err != nil {
				yield(customer.Customer{}, cur.err)
				return
			}
			var next chan page
			if n := len(cur.cs); n == cur.limit && (opts.Limit == 0 || count+n < opts.Limit) {
				next = make(chan page, 1) // the goroutine never waits for us
				after, counted, buf := cur.cs[n-1].ID, count+n, spent
				go func() { next <- fetch(after, counted, buf) }()
			}
			for _, c := range cur.cs {
				count++
				if !yield(c, nil) {
					return
				}
			}
			if next == nil {
				return
			}
			spent = cur.cs
			clear(spent) // let go of the customers' strings and maps
			cur = <-next
		}
	}
}
