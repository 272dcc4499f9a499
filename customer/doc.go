// Package customer holds customer profiles, their typed metadata and its
// schema, marketing consents, and a streaming CSV import.
//
// It is the leaf of codedrop: every other package imports it and it imports
// none of them. Persistence is behind the small [Store] interface defined
// here; package store provides an in-memory implementation and
// store/postgres a PostgreSQL one.
//
// Errors that callers branch on are [ErrNotFound], [ErrConflict] and
// [ErrInvalid] (the same values as distribution.ErrNotFound and friends),
// and [*RowError] for a bad CSV row:
//
//	rep, err := customer.Import(ctx, st, file, customer.ImportOptions{Schema: schema})
//	for _, f := range rep.Failures {
//		var rowErr *customer.RowError = f
//		log.Printf("line %d, column %q: %v", rowErr.Line, rowErr.Column, rowErr.Err)
//	}
package customer
