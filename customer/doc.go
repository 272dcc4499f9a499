// Package customer holds customer profiles, their typed metadata and its
// schema, marketing consents, and a streaming CSV import.
//
// It is the leaf of codedrop: every other package imports it and it imports
// none of them. Persistence is behind the small [Store] interface defined
// here (and [Writer], the part of it [Import] needs); package store
// provides an in-memory implementation and store/postgres a PostgreSQL one.
//
// # Metadata and its schema
//
// [Metadata] values are typed (string, float64, bool, [Date], time.Time,
// map[string]any, [GeoPoint], []any). A [Schema], read from Voucherify's
// metadata schema JSON with [ParseSchema], checks a map with
// [Schema.Validate] and turns CSV cells into typed values with
// [Schema.Parse]. [Customer.Validate] checks the built-in fields.
//
// # CSV import
//
// [Import] streams a CSV file into a [Writer] in batches, mapping
// Voucherify's column names (Source_id, Email, Address_City or City, ...)
// to fields and every other column to metadata. Bad rows are reported, the
// rest imports; [ImportOptions] sets the schema, the column mapping, merge
// or replace updates and all-or-nothing mode.
//
// # Errors
//
// Errors that callers branch on are [ErrNotFound], [ErrConflict] and
// [ErrInvalid] (the same values as distribution.ErrNotFound and friends)
// and [ErrMalformedCSV]; typed errors carry the details: [*RowError] (a
// CSV row), [*FieldError] (a built-in field), [*MetadataError] (a schema
// rule), [*BatchError] (the item of a batch write a store refused).
//
//	rep, err := customer.Import(ctx, st, file, customer.ImportOptions{Schema: schema})
//	if errors.Is(err, customer.ErrMalformedCSV) {
//		// not a CSV file we can read; rep says how far it got
//	}
//	for _, f := range rep.Failures {
//		var me *customer.MetadataError
//		if errors.As(f, &me) {
//			log.Printf("line %d: metadata %s breaks rule %s", f.Line, me.Key, me.Rule)
//		}
//	}
package customer
