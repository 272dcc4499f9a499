package customer

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrMalformedCSV reports a file that cannot be read as a customer CSV:
// bad quoting, a row with the wrong number of fields, a field larger than
// ImportOptions.MaxFieldBytes, no header row, or a header that is not
// text. The error that wraps it is usually a *csv.ParseError too, with the
// line and column:
//
//	var pe *csv.ParseError
//	if errors.Is(err, customer.ErrMalformedCSV) && errors.As(err, &pe) { ... pe.Line ... }
var ErrMalformedCSV = errors.New("customer: malformed CSV")

// ErrFieldTooLarge is the csv.ParseError.Err of a field larger than
// ImportOptions.MaxFieldBytes.
var ErrFieldTooLarge = errors.New("customer: field too large")

// Field names a built-in customer field that a CSV column can fill. The
// values are the fields' JSON paths, as [FieldError.Field] names them.
type Field string

// The built-in fields a column can map to.
const (
	FieldID                Field = "id"
	FieldSourceID          Field = "source_id"
	FieldName              Field = "name"
	FieldEmail             Field = "email"
	FieldPhone             Field = "phone"
	FieldDescription       Field = "description"
	FieldBirthdate         Field = "birthdate"
	FieldAddressLine1      Field = "address.line_1"
	FieldAddressLine2      Field = "address.line_2"
	FieldAddressCity       Field = "address.city"
	FieldAddressState      Field = "address.state"
	FieldAddressPostalCode Field = "address.postal_code"
	FieldAddressCountry    Field = "address.country"
	FieldTimezone          Field = "timezone" // only through ImportOptions.Columns; Voucherify has no such column
)

// headerField maps a lowercased header name to its field, after
// Voucherify's import conventions (its template uses City, State... and its
// docs the Address_ forms; both are accepted).
func headerField(lname string) (Field, bool) {
	switch lname {
	case "id":
		return FieldID, true
	case "source_id":
		return FieldSourceID, true
	case "name":
		return FieldName, true
	case "email":
		return FieldEmail, true
	case "phone":
		return FieldPhone, true
	case "description":
		return FieldDescription, true
	case "birthdate":
		return FieldBirthdate, true
	case "address_line_1":
		return FieldAddressLine1, true
	case "address_line_2":
		return FieldAddressLine2, true
	case "address_city", "city":
		return FieldAddressCity, true
	case "address_state", "state":
		return FieldAddressState, true
	case "address_postal_code", "postal_code":
		return FieldAddressPostalCode, true
	case "address_country", "country":
		return FieldAddressCountry, true
	}
	return "", false
}

// HeaderField returns the built-in field a CSV header names by default
// (case-insensitively, surrounding spaces ignored), such as FieldAddressCity
// for "City" or "ADDRESS_CITY". ok is false for a metadata column.
func HeaderField(header string) (f Field, ok bool) {
	return headerField(strings.ToLower(strings.TrimSpace(header)))
}

// Column says where a CSV column goes, overriding the default mapping. Set
// exactly one of its fields.
type Column struct {
	Field    Field  // a built-in field
	Metadata string // a metadata key, typed by the schema
	Ignore   bool   // skip the column
}

// ImportMode says how a row updates an existing customer.
type ImportMode int

const (
	// ImportMerge (the default) updates only what the row says: empty
	// cells keep the stored values, metadata merges key by key (a null
	// cell deletes the key) and consents are kept. A file with a few
	// columns can so update a few fields without wiping the rest.
	ImportMerge ImportMode = iota
	// ImportReplace overwrites the whole profile, as Voucherify's CSV
	// import does: fields with empty cells, and metadata keys the row
	// lacks, are cleared. Consents, CreatedAt and Summary are kept.
	ImportReplace
)

// ImportOptions tunes [Import]. The zero value imports with no schema (all
// metadata columns are strings), in merge mode, in batches of 500.
type ImportOptions struct {
	// Schema types and checks the metadata columns; nil keeps them as
	// strings. Every row must carry the schema's required (non-optional)
	// properties, in merge mode too.
	Schema *Schema
	// Columns overrides the mapping of columns, keyed by header name
	// (case-insensitive). A key that names no column of the file is an
	// error.
	Columns map[string]Column
	// Mode says how a row updates an existing customer; ImportMerge by
	// default.
	Mode ImportMode
	// Atomic makes the import all or nothing: every row is parsed and
	// checked first, and the customers are written in one batch only when
	// no row failed (then any failure writes nothing). The parsed
	// customers are held in memory until then, about 1 KiB per row with a
	// few metadata keys: fine for hundreds of thousands of rows, not for
	// unbounded files. Without Atomic, memory stays flat in the file size.
	Atomic bool
	// BatchSize is the number of customers per write; 500 when zero.
	BatchSize int
	// MaxFieldBytes is the largest field accepted; 64 KiB when zero. A
	// larger one stops the import with ErrMalformedCSV (an unterminated
	// quote would otherwise swallow the rest of the file).
	MaxFieldBytes int
	// MaxFailures caps the failures kept in ImportReport.Failures
	// (ImportReport.Failed counts all of them); 1000 when zero, no cap
	// when negative.
	MaxFailures int
	// Progress, when set, is called after each batch is written (each
	// BatchSize rows read, in atomic mode) and at the end. Calls come one
	// at a time, but not necessarily from the goroutine that called
	// Import: batches are written on a goroutine of their own while the
	// next rows are parsed.
	Progress func(Progress)
	// Now stamps CreatedAt (of new customers) and UpdatedAt; time.Now
	// when nil. It is read once per 64 rows.
	Now func() time.Time
}

// Progress says how far an import got.
type Progress struct {
	Rows   int   // data rows read
	Done   int   // customers written
	Failed int   // rows that failed
	Bytes  int64 // bytes of the file read (parsed)
}

// ImportReport is the outcome of [Import].
type ImportReport struct {
	// Done counts the customers written (rows imported), Failed the rows
	// that were not. In atomic mode Done is 0 whenever Failed is not.
	Done   int `json:"done"`
	Failed int `json:"failed"`
	// Failures lists failed rows in file order (at most
	// ImportOptions.MaxFailures of them).
	Failures []*RowError `json:"failures"`
	// Rows counts the data rows read, Bytes the bytes of the file parsed,
	// Line the last line read: how far the import got.
	Rows  int   `json:"rows"`
	Bytes int64 `json:"bytes"`
	Line  int   `json:"line"`
}

// RowError reports a CSV row that was not imported. Err says why: a
// [*FieldError], a [*MetadataError] or the store's error (wrapping
// ErrConflict, say).
type RowError struct {
	Row      int    // data row, from 1 (the header is not counted), as Voucherify counts
	Line     int    // line of the file where the row starts, from 1
	Column   string // the header of the offending column; "" when no single column is at fault
	SourceID string // the row's source_id, if any
	Err      error
}

// Error returns a one-line description naming the row, line and column.
func (e *RowError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "row %d (line %d)", e.Row, e.Line)
	if e.Column != "" {
		fmt.Fprintf(&b, ", column %q", e.Column)
	}
	if e.SourceID != "" {
		fmt.Fprintf(&b, ", source_id %q", e.SourceID)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason())
	return b.String()
}

// Reason returns Err's text.
func (e *RowError) Reason() string {
	if e.Err == nil {
		return "unknown error"
	}
	return e.Err.Error()
}

// Unwrap returns Err.
func (e *RowError) Unwrap() error { return e.Err }

// MarshalJSON writes {"row","line","column","source_id","reason"}.
func (e *RowError) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Row      int    `json:"row"`
		Line     int    `json:"line"`
		Column   string `json:"column"`
		SourceID string `json:"source_id"`
		Reason   string `json:"reason"`
	}{e.Row, e.Line, e.Column, e.SourceID, e.Reason()})
}

// Import reads customers from a CSV file and writes them through w.
//
// The first line is the header. Columns named Id, Source_id, Name, Email,
// Phone, Birthdate, Description, Address_line_1, Address_line_2,
// Address_City or City, Address_State or State, Address_Postal_Code or
// Postal_Code, Address_Country or Country (in any case) fill the built-in
// fields; every other column is a metadata key, parsed by
// opts.Schema ([Schema.Parse]): empty cells are skipped, arrays are
// comma-separated cells. opts.Columns overrides any of this. The file must
// have an Id or a Source_id column, and each row a value in one of them; a
// row whose source_id (or id) exists updates that customer as opts.Mode
// says.
//
// The file is streamed: rows are parsed and written in batches of
// opts.BatchSize, so memory does not grow with the file (except in atomic
// mode). Batches are written in file order, one call at a time, from a
// goroutine of Import's own while the next rows are parsed; Import returns
// only after the last call has returned. A UTF-8 byte order mark, CRLF line ends, quoted fields with
// commas, quotes and line breaks, and empty lines are all fine.
//
// A row that fails (a bad value, a schema rule, a store conflict) is
// reported in the report's Failures as a [*RowError] with its row, line,
// column and source_id, and the rest of the file still imports (unless
// opts.Atomic). A file that cannot be read as CSV stops the import with an
// error wrapping [ErrMalformedCSV]; a failing read, a store failure other
// than a rejected row, or a canceled ctx stop it too. The complete rows
// before a malformed line or a failed read are written (except in atomic
// mode); after a store failure or cancellation the rows not yet written
// are dropped. No row is ever written in part, and the report, returned
// even with an error, says how far the import got.
func Import(ctx context.Context, w Writer, r io.Reader, opts ImportOptions) (*ImportReport, error) {
	imp, err := newImporter(w, opts)
	if err != nil {
		return &ImportReport{}, err
	}
	return imp.run(ctx, r)
}

const (
	defaultBatchSize     = 500
	defaultMaxFieldBytes = 64 << 10
	defaultMaxFailures   = 1000
	readBufferSize       = 64 << 10
	cancelCheckEvery     = 64
)

type colKind uint8

const (
	colIgnore colKind = iota
	colField
	colMeta
)

type column struct {
	header string // as in the file, trimmed
	kind   colKind
	field  Field
	key    string      // metadata key (as the schema spells it)
	prop   *Property   // nil for an undefined key
	cache  *valueCache // recent values of a metadata column
}

type rowMeta struct {
	row, line int
	sourceID  string
}

type importer struct {
	w    Writer
	opts ImportOptions
	up   UpsertOptions
	now  func() time.Time

	cols      []column
	fieldCol  map[Field]string  // field -> header
	metaCol   map[string]string // metadata key -> header
	required  []string          // required schema keys
	idCol     string            // header of the source_id column, else of the id column
	metaCount int
	srcIdx    int // index of the source_id column, or -1
	idIdx     int // index of the id column, or -1
	zones     map[string]bool
	stamp     time.Time // CreatedAt and UpdatedAt of the rows being parsed

	rep    ImportReport
	batch  []Customer // rows parsed, not yet handed to the writer
	meta   []rowMeta
	lr     *guardReader
	cr     *csv.Reader
	bomLen int64

	// The writer goroutine (not in atomic mode).
	pipe   chan *batch   // batches to write
	free   chan *batch   // written batches, for reuse
	exited chan struct{} // closed when the writer returns
	ws     writeState    // the writer's results, owned by it until exited
}

func newImporter(w Writer, opts ImportOptions) (*importer, error) {
	if w == nil {
		return nil, fmt.Errorf("customer import: nil Writer: %w", ErrInvalid)
	}
	if opts.BatchSize < 0 || opts.MaxFieldBytes < 0 {
		return nil, fmt.Errorf("customer import: negative BatchSize or MaxFieldBytes: %w", ErrInvalid)
	}
	if opts.Mode != ImportMerge && opts.Mode != ImportReplace {
		return nil, fmt.Errorf("customer import: unknown mode %d: %w", opts.Mode, ErrInvalid)
	}
	if err := opts.Schema.Check(); err != nil {
		return nil, fmt.Errorf("customer import: %w", err)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = defaultBatchSize
	}
	if opts.MaxFieldBytes == 0 {
		opts.MaxFieldBytes = defaultMaxFieldBytes
	}
	if opts.MaxFailures == 0 {
		opts.MaxFailures = defaultMaxFailures
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &importer{
		w:     w,
		opts:  opts,
		up:    UpsertOptions{Merge: opts.Mode == ImportMerge, Handoff: true},
		now:   now,
		zones: map[string]bool{},
	}, nil
}

// guardReader counts the bytes read and refuses to read more than limit
// bytes past mark, so that an unterminated quote cannot pull the whole
// file into memory.
type guardReader struct {
	r           io.Reader
	n, mark     int64
	limit       int64
	tripped     bool
	readErrSeen error
}

var errRecordTooLarge = errors.New("record too large")

func (g *guardReader) Read(p []byte) (int, error) {
	if room := g.mark + g.limit - g.n; int64(len(p)) > room {
		if room <= 0 {
			g.tripped = true
			return 0, errRecordTooLarge
		}
		p = p[:room]
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	if err != nil && err != io.EOF {
		g.readErrSeen = err
	}
	return n, err
}

const bom = "\xEF\xBB\xBF" // UTF-8 byte order mark

func (imp *importer) run(ctx context.Context, r io.Reader) (*ImportReport, error) {
	rep := &imp.rep
	rep.Failures = []*RowError{}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("customer import: %w", err)
	}
	// Before the header is known, allow a generous header line.
	imp.lr = &guardReader{r: r, limit: int64(imp.opts.MaxFieldBytes)*64 + 1<<20 + readBufferSize}
	br := bufio.NewReaderSize(imp.lr, readBufferSize)
	if b, err := br.Peek(len(bom)); err == nil && string(b) == bom {
		_, _ = br.Discard(len(bom))
		imp.bomLen = int64(len(bom))
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	imp.cr = cr

	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return rep, fmt.Errorf("%w: empty file, no header row", ErrMalformedCSV)
		}
		return rep, imp.readError(err)
	}
	rep.Line = 1
	if err := imp.mapHeader(slices.Clone(header)); err != nil {
		return rep, err
	}
	cr.FieldsPerRecord = len(header)
	imp.lr.mark, imp.lr.limit = imp.lr.n, int64(imp.opts.MaxFieldBytes)*int64(len(header)+1)+readBufferSize

	if imp.opts.Atomic {
		err := imp.readRows(ctx)
		rep.Bytes = imp.offset()
		switch {
		case errors.Is(err, errCanceled):
			err = imp.canceled(ctx)
		case err == nil:
			err = imp.writeAtomic(ctx)
		}
		imp.progress()
		return rep, err
	}

	// Rows are parsed on this goroutine and written on another, so that
	// parsing and writing overlap.
	imp.pipe = make(chan *batch, 1)
	imp.free = make(chan *batch, 2)
	imp.exited = make(chan struct{})
	go imp.writeLoop(ctx)
	err = imp.readRows(ctx)
	if err == nil || errors.Is(err, ErrMalformedCSV) || imp.lr.readErrSeen != nil {
		// Write the complete rows read before the end (or the bad line).
		if werr := imp.send(ctx); werr != nil && err == nil {
			err = werr
		}
	}
	close(imp.pipe)
	<-imp.exited
	rep.Bytes = imp.offset()
	imp.mergeWriter()
	switch {
	case errors.Is(err, errCanceled):
		err = imp.canceled(ctx)
	case err == nil && imp.ws.err != nil:
		err = imp.ws.err
	case err != nil && imp.ws.err != nil && !errors.Is(err, errWriterFailed):
		err = errors.Join(err, imp.ws.err)
	case errors.Is(err, errWriterFailed):
		err = imp.ws.err
	case err == nil && ctx.Err() != nil && rep.Done+rep.Failed < rep.Rows:
		err = imp.canceled(ctx) // canceled while the last batches were written
	}
	imp.progress()
	return rep, err
}

var (
	errCanceled     = errors.New("canceled")      // readRows saw ctx end
	errWriterFailed = errors.New("writer failed") // send saw the writer stop
)

// readRows parses the data rows, handing full batches to the writer (all
// rows are kept, in atomic mode). It returns nil at the end of the file.
func (imp *importer) readRows(ctx context.Context) error {
	rep, cr := &imp.rep, imp.cr
	for {
		if rep.Rows%cancelCheckEvery == 0 {
			if ctx.Err() != nil {
				return errCanceled
			}
			imp.stamp = imp.now() // one clock read per 64 rows: it is not free
		}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return imp.readError(err)
		}
		line, _ := cr.FieldPos(0)
		rep.Rows++
		rep.Line = line
		imp.lr.mark = imp.lr.n
		for i, cell := range rec {
			if len(cell) > imp.opts.MaxFieldBytes {
				l, c := cr.FieldPos(i)
				return fmt.Errorf("%w: %w", ErrMalformedCSV,
					&csv.ParseError{StartLine: line, Line: l, Column: c, Err: fmt.Errorf("%w (%d bytes, the limit is %d)", ErrFieldTooLarge, len(cell), imp.opts.MaxFieldBytes)})
			}
		}
		c, rerr := imp.parseRow(rec, line)
		if rerr != nil {
			imp.fail(rerr)
		} else {
			imp.batch = append(imp.batch, c)
			imp.meta = append(imp.meta, rowMeta{row: rep.Rows, line: line, sourceID: c.SourceID})
		}
		if imp.opts.Atomic {
			if rep.Rows%imp.opts.BatchSize == 0 {
				imp.progress()
			}
			continue
		}
		if len(imp.batch) >= imp.opts.BatchSize {
			if ctx.Err() != nil {
				return errCanceled
			}
			if err := imp.send(ctx); err != nil {
				return err
			}
		}
	}
}

// batch is a slice of parsed rows on its way to the writer, with how far
// the import had got when it was handed over.
type batch struct {
	cs     []Customer
	meta   []rowMeta
	rows   int   // data rows read
	failed int   // rows failed while parsing
	bytes  int64 // bytes read
}

// send hands the pending rows to the writer goroutine and takes a fresh
// buffer. It returns errWriterFailed when the writer has stopped.
func (imp *importer) send(ctx context.Context) error {
	if len(imp.batch) == 0 {
		return nil
	}
	b := &batch{cs: imp.batch, meta: imp.meta, rows: imp.rep.Rows, failed: imp.rep.Failed, bytes: imp.offset()}
	select {
	case imp.pipe <- b:
	case <-imp.exited:
		return errWriterFailed
	}
	select {
	case fb := <-imp.free:
		imp.batch, imp.meta = fb.cs[:0], fb.meta[:0]
	default:
		imp.batch = make([]Customer, 0, imp.opts.BatchSize)
		imp.meta = make([]rowMeta, 0, imp.opts.BatchSize)
	}
	return nil
}

// writeState is what the writer goroutine found; the parsing goroutine
// reads it only after the writer has exited.
type writeState struct {
	done, failed int
	failures     []*RowError
	err          error
	last         Progress // last reported
}

// writeLoop writes the batches it receives until the pipe closes, the
// store fails or ctx ends (then the remaining batches are dropped).
func (imp *importer) writeLoop(ctx context.Context) {
	defer close(imp.exited)
	for b := range imp.pipe {
		if ctx.Err() != nil {
			continue
		}
		if err := imp.write(ctx, b.cs, b.meta); err != nil {
			imp.ws.err = err
			return
		}
		if imp.opts.Progress != nil {
			imp.ws.last = Progress{Rows: b.rows, Done: imp.ws.done, Failed: b.failed + imp.ws.failed, Bytes: b.bytes}
			imp.opts.Progress(imp.ws.last)
		}
		clear(b.cs) // drop references for the garbage collector
		select {
		case imp.free <- b:
		default:
		}
	}
}

// mergeWriter adds the writer's results to the report, keeping failures
// in file order.
func (imp *importer) mergeWriter() {
	ws, rep := &imp.ws, &imp.rep
	rep.Done += ws.done
	rep.Failed += ws.failed
	if len(ws.failures) > 0 {
		rep.Failures = append(rep.Failures, ws.failures...)
		slices.SortStableFunc(rep.Failures, func(a, b *RowError) int { return a.Row - b.Row })
		if imp.opts.MaxFailures >= 0 && len(rep.Failures) > imp.opts.MaxFailures {
			rep.Failures = rep.Failures[:imp.opts.MaxFailures]
		}
	}
}

func (imp *importer) offset() int64 { return imp.cr.InputOffset() + imp.bomLen }

func (imp *importer) canceled(ctx context.Context) error {
	return fmt.Errorf("customer import: stopped after row %d (line %d), %d customers written: %w",
		imp.rep.Rows, imp.rep.Line, imp.rep.Done, ctx.Err())
}

// readError turns an error from the CSV reader into the import's error.
func (imp *importer) readError(err error) error {
	imp.rep.Bytes = imp.offset()
	switch {
	case imp.lr.tripped:
		return fmt.Errorf("%w: %w", ErrMalformedCSV,
			&csv.ParseError{StartLine: imp.rep.Line + 1, Line: imp.rep.Line + 1, Column: 1,
				Err: fmt.Errorf("%w: a record starting after line %d exceeds %d bytes (an unterminated quote?)", ErrFieldTooLarge, imp.rep.Line, imp.lr.limit-readBufferSize)})
	case imp.lr.readErrSeen != nil && errors.Is(err, imp.lr.readErrSeen):
		return fmt.Errorf("customer import: reading the file after line %d: %w", imp.rep.Line, err)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
		return fmt.Errorf("%w: %w (the header has %d columns)", ErrMalformedCSV, err, imp.cr.FieldsPerRecord)
	}
	return fmt.Errorf("%w: %w", ErrMalformedCSV, err)
}

func (imp *importer) mapHeader(header []string) error {
	overrides := make(map[string]Column, len(imp.opts.Columns))
	used := make(map[string]bool, len(imp.opts.Columns))
	for name, c := range imp.opts.Columns {
		set := 0
		if c.Field != "" {
			set++
		}
		if c.Metadata != "" {
			set++
		}
		if c.Ignore {
			set++
		}
		if set != 1 {
			return fmt.Errorf("customer import: Columns[%q]: set exactly one of Field, Metadata and Ignore: %w", name, ErrInvalid)
		}
		if c.Field != "" && !knownField(c.Field) {
			return fmt.Errorf("customer import: Columns[%q]: unknown field %q: %w", name, c.Field, ErrInvalid)
		}
		overrides[strings.ToLower(strings.TrimSpace(name))] = c
	}
	imp.cols = make([]column, len(header))
	imp.fieldCol = map[Field]string{}
	imp.srcIdx, imp.idIdx = -1, -1
	imp.metaCol = map[string]string{}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\uFEFF") // a BOM inside quotes
	}
	for i, h := range header {
		name := strings.TrimSpace(h)
		if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%w: header column %d is not text (is this a CSV file?)", ErrMalformedCSV, i+1)
		}
		col := column{header: name}
		lname := strings.ToLower(name)
		ov, hasOv := overrides[lname]
		if hasOv {
			used[lname] = true
		}
		switch {
		case hasOv && ov.Ignore:
			col.kind = colIgnore
		case hasOv && ov.Field != "":
			col.kind, col.field = colField, ov.Field
		case hasOv:
			if strings.TrimSpace(ov.Metadata) == "" {
				return fmt.Errorf("customer import: Columns[%q]: blank metadata key: %w", name, ErrInvalid)
			}
			col.kind, col.key = colMeta, ov.Metadata
		case name == "":
			return fmt.Errorf("customer import: header column %d has no name (map it with Columns[\"\"] to import or ignore it): %w", i+1, ErrInvalid)
		default:
			if f, ok := headerField(lname); ok {
				col.kind, col.field = colField, f
			} else {
				col.kind, col.key = colMeta, name
			}
		}
		switch col.kind {
		case colField:
			if prev, dup := imp.fieldCol[col.field]; dup {
				return fmt.Errorf("customer import: columns %q and %q both map to %s: %w", prev, name, col.field, ErrInvalid)
			}
			imp.fieldCol[col.field] = name
			switch col.field {
			case FieldSourceID:
				imp.srcIdx = i
			case FieldID:
				imp.idIdx = i
			}
		case colMeta:
			if key, p, ok := imp.opts.Schema.Property(col.key); ok {
				col.key, col.prop = key, &p
			}
			if prev, dup := imp.metaCol[col.key]; dup {
				return fmt.Errorf("customer import: columns %q and %q both map to metadata %q: %w", prev, name, col.key, ErrInvalid)
			}
			imp.metaCol[col.key] = name
			imp.metaCount++
			col.cache = &valueCache{}
		}
		imp.cols[i] = col
	}
	for name := range overrides {
		if !used[name] {
			return fmt.Errorf("customer import: Columns names %q, which the file's header lacks: %w", name, ErrInvalid)
		}
	}
	imp.idCol = imp.fieldCol[FieldSourceID]
	if imp.idCol == "" {
		imp.idCol = imp.fieldCol[FieldID]
	}
	if imp.idCol == "" {
		return fmt.Errorf("customer import: the file has neither a Source_id nor an Id column: %w", ErrInvalid)
	}
	if s := imp.opts.Schema; s != nil {
		for _, key := range sortedKeys(s.Properties) {
			if p := s.Properties[key]; !p.Deleted && !p.Optional {
				imp.required = append(imp.required, key)
			}
		}
	}
	return nil
}

func knownField(f Field) bool {
	switch f {
	case FieldID, FieldSourceID, FieldName, FieldEmail, FieldPhone, FieldDescription, FieldBirthdate,
		FieldAddressLine1, FieldAddressLine2, FieldAddressCity, FieldAddressState,
		FieldAddressPostalCode, FieldAddressCountry, FieldTimezone:
		return true
	}
	return false
}

// parseRow turns one record into a customer, or says why it cannot.
func (imp *importer) parseRow(rec []string, line int) (Customer, *RowError) {
	var c Customer
	rowErr := func(col string, err error) *RowError {
		return &RowError{Row: imp.rep.Rows, Line: line, Column: col, Err: err}
	}
	// The identifiers first, so that every error can name the source_id.
	if imp.srcIdx >= 0 {
		c.SourceID = strings.TrimSpace(rec[imp.srcIdx])
	}
	if imp.idIdx >= 0 {
		c.ID = strings.TrimSpace(rec[imp.idIdx])
	}
	for i, col := range imp.cols {
		cell := rec[i]
		switch col.kind {
		case colField:
			v := strings.TrimSpace(cell)
			if v == "" {
				continue
			}
			switch col.field {
			case FieldName:
				c.Name = v
			case FieldEmail:
				c.Email = v
			case FieldPhone:
				c.Phone = v
			case FieldDescription:
				c.Description = v
			case FieldBirthdate:
				d, err := ParseDate(v)
				if err != nil {
					e := rowErr(col.header, &FieldError{Field: string(FieldBirthdate), Value: v, Reason: fmt.Sprintf("%q is not a date (want YYYY-MM-DD)", v)})
					e.SourceID = c.SourceID
					return Customer{}, e
				}
				c.Birthdate = d
			case FieldAddressLine1:
				c.Address.Line1 = v
			case FieldAddressLine2:
				c.Address.Line2 = v
			case FieldAddressCity:
				c.Address.City = v
			case FieldAddressState:
				c.Address.State = v
			case FieldAddressPostalCode:
				c.Address.PostalCode = v
			case FieldAddressCountry:
				c.Address.Country = v
			case FieldTimezone:
				c.Timezone = v
			}
		case colMeta:
			if strings.TrimSpace(cell) == "" {
				continue
			}
			var v any
			if col.prop == nil {
				if imp.opts.Schema != nil && imp.opts.Schema.AllowDefinedOnly {
					e := rowErr(col.header, &MetadataError{Key: col.key, Rule: RuleDefined, Value: cell, Reason: "property is not defined in the schema"})
					e.SourceID = c.SourceID
					return Customer{}, e
				}
				var hit bool
				if v, hit = col.cache.get(cell); !hit {
					if !utf8.ValidString(cell) {
						e := rowErr(col.header, &MetadataError{Key: col.key, Rule: RuleType, Value: cell, Reason: "invalid UTF-8"})
						e.SourceID = c.SourceID
						return Customer{}, e
					}
					v = cell
					col.cache.put(cell, v)
				}
			} else {
				var err error
				if v, err = col.prop.parseCached(col.key, cell, col.cache); err != nil {
					e := rowErr(col.header, err)
					e.SourceID = c.SourceID
					return Customer{}, e
				}
			}
			if c.Metadata == nil {
				c.Metadata = make(Metadata, imp.metaCount)
			}
			c.Metadata[col.key] = v
		}
	}
	for _, key := range imp.required {
		if v, ok := c.Metadata[key]; !ok || v == nil {
			e := rowErr(imp.metaCol[key], missing(key))
			e.SourceID = c.SourceID
			return Customer{}, e
		}
	}
	if c.SourceID == "" && c.ID == "" {
		return Customer{}, rowErr(imp.idCol, &FieldError{Field: string(FieldSourceID), Reason: "the row has neither a source_id nor an id"})
	}
	if err := c.validate(imp.zoneOK, false); err != nil {
		e := rowErr("", err)
		var fe *FieldError
		if errors.As(err, &fe) {
			e.Column = imp.fieldCol[Field(fe.Field)]
		}
		e.SourceID = c.SourceID
		return Customer{}, e
	}
	c.CreatedAt, c.UpdatedAt = imp.stamp, imp.stamp
	return c, nil
}

func (imp *importer) zoneOK(name string) bool {
	ok, seen := imp.zones[name]
	if !seen {
		ok = knownZone(name)
		if len(imp.zones) < 1000 {
			imp.zones[name] = ok
		}
	}
	return ok
}

func (imp *importer) fail(e *RowError) {
	imp.rep.Failed++
	if imp.opts.MaxFailures < 0 || len(imp.rep.Failures) < imp.opts.MaxFailures {
		imp.rep.Failures = append(imp.rep.Failures, e)
	}
}

// storeFailure records a row the store refused (in the writer's state).
func (imp *importer) storeFailure(m rowMeta, err error) {
	imp.ws.failed++
	if imp.opts.MaxFailures < 0 || len(imp.ws.failures) < imp.opts.MaxFailures {
		imp.ws.failures = append(imp.ws.failures, &RowError{Row: m.row, Line: m.line, Column: imp.idCol, SourceID: m.sourceID, Err: err})
	}
}

// progress reports from the parsing goroutine (atomic mode, and the end).
func (imp *importer) progress() {
	if imp.opts.Progress == nil {
		return
	}
	imp.rep.Bytes = imp.offset()
	p := Progress{Rows: imp.rep.Rows, Done: imp.rep.Done, Failed: imp.rep.Failed, Bytes: imp.rep.Bytes}
	if p != imp.ws.last { // not already reported by the writer
		imp.ws.last = p
		imp.opts.Progress(p)
	}
}

// rowLevel reports whether a store error rejects the rows themselves (and
// other rows may still be written), rather than the store failing.
func rowLevel(ctx context.Context, err error) bool {
	return ctx.Err() == nil && (errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound))
}

// write writes a batch. A batch the store rejects because of one row (a
// *BatchError) is written again without that row; a rejection that names
// no row is retried row by row. It returns an error only when the store
// fails (or ctx ends), not when it refuses rows.
func (imp *importer) write(ctx context.Context, rest []Customer, meta []rowMeta) error {
	for len(rest) > 0 {
		_, err := imp.w.UpsertCustomers(ctx, rest, imp.up)
		if err == nil {
			imp.ws.done += len(rest)
			return nil
		}
		if !rowLevel(ctx, err) {
			return imp.writeError(err, meta[0])
		}
		var be *BatchError
		if errors.As(err, &be) && be.Index >= 0 && be.Index < len(rest) {
			imp.storeFailure(meta[be.Index], be.Err)
			rest = slices.Delete(rest, be.Index, be.Index+1)
			meta = slices.Delete(meta, be.Index, be.Index+1)
			continue
		}
		for i := range rest {
			_, err := imp.w.UpsertCustomers(ctx, rest[i:i+1], imp.up)
			switch {
			case err == nil:
				imp.ws.done++
			case rowLevel(ctx, err):
				imp.storeFailure(meta[i], unwrapBatch(err))
			default:
				return imp.writeError(err, meta[i])
			}
		}
		return nil
	}
	return nil
}

// writeAtomic writes every parsed row in one batch, or nothing when any
// row failed.
func (imp *importer) writeAtomic(ctx context.Context) error {
	defer func() { imp.batch, imp.meta = nil, nil }()
	if imp.rep.Failed > 0 || len(imp.batch) == 0 {
		return nil
	}
	_, err := imp.w.UpsertCustomers(ctx, imp.batch, imp.up)
	if err == nil {
		imp.rep.Done = len(imp.batch)
		return nil
	}
	var be *BatchError
	if rowLevel(ctx, err) && errors.As(err, &be) && be.Index >= 0 && be.Index < len(imp.meta) {
		imp.storeFailure(imp.meta[be.Index], be.Err)
		imp.mergeWriter()
		return nil
	}
	return imp.writeError(err, imp.meta[0])
}

func unwrapBatch(err error) error {
	var be *BatchError
	if errors.As(err, &be) {
		return be.Err
	}
	return err
}

func (imp *importer) writeError(err error, first rowMeta) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("customer import: stopped writing the batch from row %d (line %d): %w", first.row, first.line, err)
	}
	return fmt.Errorf("customer import: writing the batch from row %d (line %d): %w", first.row, first.line, err)
}
