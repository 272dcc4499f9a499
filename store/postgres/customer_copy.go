package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codedrop/codedrop/customer"
)

// copyRow holds the JSON of a row's jsonb columns that is encoded before
// the COPY, nil for '{}' (and for plain metadata, which the COPY encodes
// as it goes).
type copyRow struct {
	meta, types, address, consents, summy []byte
}

// The columns of customerColumns, by index.
const (
	colID = iota
	colSourceID
	colName
	colEmail
	colPhone
	colDescription
	colBirthdate
	colAddress
	colMetadata
	colMetadataTypes
	colConsents
	colTimezone
	colSummary
	colCreatedAt
	colUpdatedAt
)

// isDefault reports whether column col of c holds what the column's
// default stores (false for id, created_at and updated_at, which have
// none): a batch in which every row does leaves the column out of the
// COPY, less for the server to read.
func isDefault(col int, c *customer.Customer, r *copyRow) bool {
	switch col {
	case colSourceID:
		return c.SourceID == ""
	case colName:
		return c.Name == ""
	case colEmail:
		return c.Email == ""
	case colPhone:
		return c.Phone == ""
	case colDescription:
		return c.Description == ""
	case colBirthdate:
		return c.Birthdate.IsZero()
	case colAddress:
		return r.address == nil
	case colMetadata:
		return len(c.Metadata) == 0
	case colMetadataTypes:
		return r.types == nil
	case colConsents:
		return r.consents == nil
	case colTimezone:
		return c.Timezone == ""
	case colSummary:
		return r.summy == nil
	}
	return false
}

// copySource is the data of a COPY FROM (text format) of new customers,
// encoded as the COPY reads it (an io.Reader), so that the server works
// on the first rows while the next are encoded.
//
// Text, not binary: PostgreSQL 15 buffers the rows of a COPY by their
// count and their input size, and binary input counts as no size, so
// binary COPY buffers 1000 rows, each with a tuple slot whose creation
// and release cost grows with the number of slots; text input is
// flushed every 64 KiB. Same-run comparisons of the two formats on the
// benchmark's rows: text is about 12% cheaper for the server, timestamp
// parsing included.
type copySource struct {
	cols []int // the columns sent, indexes of customerColumns
	cs   []*customer.Customer
	rows []copyRow
	// plan, when set, plans row i (sets cs[i]) before it is encoded.
	plan func(i int)

	mu      sync.Mutex // held by Read; copyTo closes the source under it
	closed  bool
	next    int    // the next row to encode
	buf     []byte // encoded, from off on not yet read
	off     int
	scratch []byte // a row's metadata JSON
}

// errCopyClosed is what a copySource reads once its COPY has returned.
var errCopyClosed = errors.New("postgres: COPY source read after the COPY returned")

// copyTo runs the COPY on conn. pgconn reads src on a goroutine of its
// own, which an error may leave behind: src is closed before copyTo
// returns, so that no Read touches the batch after that.
func (src *copySource) copyTo(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.PgConn().CopyFrom(ctx, src, src.statement())
	src.mu.Lock()
	src.closed = true
	src.mu.Unlock()
	return err
}

// copyChunk is about how much a copySource encodes per Read.
const copyChunk = 32 << 10

// encodeCopy prepares the COPY FROM writing cs as new rows: what can fail
// is encoded now (metadata with typed values, address, consents,
// summary), the rest as the COPY reads it. Columns that hold their
// default in every row are left out.
func encodeCopy(cs []*customer.Customer) (*copySource, error) {
	src := &copySource{cs: cs, rows: make([]copyRow, len(cs))}
	var err error
	for i, c := range cs {
		r := &src.rows[i]
		if len(c.Metadata) > 0 && !plainOnly(c.Metadata) {
			var tags []byte
			if r.meta, tags, err = encodeMetadata(c.Metadata); err != nil {
				return nil, fmt.Errorf("customer %s: %w", c.ID, err)
			}
			if string(tags) != "{}" {
				r.types = tags
			}
		}
		// The rest are rare in bulk writes: only non-zero values are
		// marshaled (and boxed).
		if c.Address != (customer.Address{}) {
			r.address, err = json.Marshal(c.Address)
		}
		if err == nil && !c.Consents.IsZero() {
			r.consents, err = json.Marshal(c.Consents)
		}
		if err == nil && c.Summary != (customer.Summary{}) {
			r.summy, err = json.Marshal(c.Summary)
		}
		if err != nil {
			return nil, fmt.Errorf("customer %s: %w", c.ID, err)
		}
	}
	src.cols = make([]int, 0, len(customerColumns))
	for col := range customerColumns {
		keep := false
		for j := 0; j < len(cs) && !keep; j++ {
			keep = !isDefault(col, cs[j], &src.rows[j])
		}
		if keep {
			src.cols = append(src.cols, col)
		}
	}
	src.buf = make([]byte, 0, copyChunk+4<<10)
	return src, nil
}

// statement returns the COPY statement.
func (src *copySource) statement() string {
	names := make([]string, len(src.cols))
	for i, col := range src.cols {
		names[i] = customerColumns[col]
	}
	return `COPY customers (` + strings.Join(names, ", ") + `) FROM STDIN`
}

// Read implements io.Reader.
func (src *copySource) Read(p []byte) (int, error) {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.closed {
		return 0, errCopyClosed
	}
	if src.off == len(src.buf) {
		if src.next == len(src.cs) {
			return 0, io.EOF
		}
		src.buf, src.off = src.buf[:0], 0
		for ; src.next < len(src.cs) && len(src.buf) < copyChunk; src.next++ {
			if src.plan != nil {
				src.plan(src.next)
			}
			c, r := src.cs[src.next], &src.rows[src.next]
			for i, col := range src.cols {
				if i > 0 {
					src.buf = append(src.buf, '\t')
				}
				src.buf = src.appendField(src.buf, col, c, r)
			}
			src.buf = append(src.buf, '\n')
		}
	}
	n := copy(p, src.buf[src.off:])
	src.off += n
	return n, nil
}

// appendField appends column col of c in COPY's text format.
func (src *copySource) appendField(b []byte, col int, c *customer.Customer, r *copyRow) []byte {
	switch col {
	case colID:
		return appendCopyText(b, c.ID)
	case colSourceID:
		if c.SourceID == "" {
			return append(b, `\N`...)
		}
		return appendCopyText(b, c.SourceID)
	case colName:
		return appendCopyText(b, c.Name)
	case colEmail:
		return appendCopyText(b, c.Email)
	case colPhone:
		return appendCopyText(b, c.Phone)
	case colDescription:
		return appendCopyText(b, c.Description)
	case colBirthdate:
		if c.Birthdate.IsZero() {
			return append(b, `\N`...)
		}
		y, m, d := c.Birthdate.In(time.UTC).Date() // as time.Date normalizes it
		return appendDate(b, y, m, d)
	case colAddress:
		return appendCopyJSON(b, r.address)
	case colMetadata:
		js := r.meta
		if js == nil && len(c.Metadata) > 0 {
			src.scratch, _ = appendPlainJSON(src.scratch[:0], c.Metadata) // encodeCopy checked plainOnly
			js = src.scratch
		}
		return appendCopyJSON(b, js)
	case colMetadataTypes:
		return appendCopyJSON(b, r.types)
	case colConsents:
		return appendCopyJSON(b, r.consents)
	case colTimezone:
		return appendCopyText(b, c.Timezone)
	case colSummary:
		return appendCopyJSON(b, r.summy)
	case colCreatedAt:
		return appendTimestamptz(b, ts0(c.CreatedAt))
	case colUpdatedAt:
		return appendTimestamptz(b, ts0(c.UpdatedAt))
	}
	panic(fmt.Sprintf("postgres: no customers column %d", col))
}

// appendCopyText appends s escaped for COPY's text format: backslash,
// tab, newline and carriage return as backslash sequences.
func appendCopyText(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc byte
		switch s[i] {
		case '\\':
			esc = '\\'
		case '\t':
			esc = 't'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\', esc)
		start = i + 1
	}
	return append(b, s[start:]...)
}

// appendCopyJSON appends JSON text (nil for '{}') for COPY's text format.
// JSON holds no raw tab, newline or carriage return, only the backslashes
// of its escapes, which are doubled.
func appendCopyJSON(b, js []byte) []byte {
	if js == nil {
		return append(b, "{}"...)
	}
	for {
		i := bytes.IndexByte(js, '\\')
		if i < 0 {
			return append(b, js...)
		}
		b = append(b, js[:i+1]...)
		b = append(b, '\\')
		js = js[i+1:]
	}
}

// appendDate appends a date as PostgreSQL reads it: YYYY-MM-DD, with BC
// for years before 1 (year 0 is 1 BC).
func appendDate(b []byte, y int, m time.Month, d int) []byte {
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	if y < 1000 {
		b = append(b, "000"[:3-digits(y)]...)
	}
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
	if bc {
		b = append(b, " BC"...)
	}
	return b
}

// digits returns the number of decimal digits of 0 < n < 1000.
func digits(n int) int {
	switch {
	case n < 10:
		return 1
	case n < 100:
		return 2
	}
	return 3
}

// appendTimestamptz appends t (already rounded to the microsecond) in UTC
// as PostgreSQL reads it: YYYY-MM-DD HH:MM:SS.ffffff+00 (BC after the
// offset for years before 1).
func appendTimestamptz(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, m, d := t.Date()
	bc := y <= 0
	b = appendDate(b, y, m, d)
	if bc {
		b = b[:len(b)-3]
	}
	hh, mm, ss := t.Clock()
	us := t.Nanosecond() / 1000
	b = append(b, ' ', byte('0'+hh/10), byte('0'+hh%10), ':', byte('0'+mm/10), byte('0'+mm%10), ':', byte('0'+ss/10), byte('0'+ss%10),
		'.', byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10), byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10), '+', '0', '0')
	if bc {
		b = append(b, " BC"...)
	}
	return b
}
