package postgres

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/store"
)

// Store is the PostgreSQL implementation of store.Store (customer.Store,
// segment.Store, distribution.Store and distribution.AutomationStore), a
// segment.FilterPusher, and a code source (codes.Source, codes.Registry and
// codes.BatchPublisher, through the [Codes] it holds). It is safe for concurrent use, by several
// goroutines and by several processes sharing the database. Create it
// with [New] after [Migrate].
type Store struct {
	pool  *pgxpool.Pool
	codes *Codes // campaigns, codes and publications (store_codes.go)
	// lookupFirst is UpsertCustomers' guess that a batch holds stored
	// customers: set when a batch written straight in found one, cleared
	// when a batch looked up first found none.
	lookupFirst atomic.Bool
	// contactSlots bounds the transactions UpdateContactState holds open
	// to half the pool, so that the writes its callbacks make always find
	// a connection (webhooks.go).
	contactSlots chan struct{}
}

var _ store.Store = (*Store)(nil)

// New returns a Store over pool. The schema must be migrated ([Migrate]);
// tables are found through the connections' search_path. The Store
// provides codes through a [Codes] on the same pool ([Store.Codes]).
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, codes: NewCodes(pool, nil), contactSlots: make(chan struct{}, max(1, pool.Config().MaxConns/2))}
}

// Pool returns the pool the Store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// pageSize is how many rows a streaming iterator fetches per round trip.
const pageSize = 1000

// SQLSTATE codes the store branches on.
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

func pgCode(err error) (code, constraint string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}

// retryable reports whether a transaction failed only because of a
// concurrent one and may be run again.
func retryable(err error) bool {
	code, _ := pgCode(err)
	return code == serializationFailure || code == deadlockDetected
}

// inTx runs fn in a transaction, again (up to a few times) when it fails
// with a serialization failure or a deadlock.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return inTx(ctx, s.pool, fn)
}

func inTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	var err error
	for range 8 {
		if err = ctx.Err(); err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, pool, fn)
		if !retryable(err) {
			return err
		}
	}
	return err
}

// ts converts a time for a timestamptz column: the zero time is NULL and
// times are rounded down to PostgreSQL's microsecond.
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.Truncate(time.Microsecond)
	return &t
}

// jobAt converts a job's RunAt for jobs.run_at, rounded up to the
// microsecond: a job must never become due before its time (the Manager
// would find it early and drop it).
func jobAt(t time.Time) time.Time {
	if r := t.Truncate(time.Microsecond); r.Before(t) {
		return r.Add(time.Microsecond)
	}
	return t
}

// fromTS converts a nullable timestamptz back (NULL is the zero time).
func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// ctxErr prefers ctx's error to err when ctx has ended, so callers see
// context.Canceled rather than a driver error.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
