package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/store/postgres"
)

// dsnEnv names the environment variable holding the test database's DSN.
const dsnEnv = "CODEDROP_TEST_POSTGRES_DSN"

// testDSN returns the test database's DSN or skips t.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skipf("%s is not set; skipping the PostgreSQL tests (e.g. %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable')", dsnEnv, dsnEnv)
	}
	return dsn
}

// testDSNSet reports whether the test database is configured.
func testDSNSet() bool { return os.Getenv(dsnEnv) != "" }

// newSchema creates a fresh schema (dropped in t.Cleanup), migrates it
// and returns its name.
func newSchema(t testing.TB) string {
	t.Helper()
	dsn := testDSN(t)
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "codedrop_test_" + hex.EncodeToString(b[:])
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
		admin.Close()
	})
	pool := openPool(t, dsn, schema, 4)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return schema
}

// openPool opens a pool whose connections use schema (closed in
// t.Cleanup, before the schema is dropped).
func openPool(t testing.TB, dsn, schema string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = schema // benchmarks find their server processes by it
	if os.Getenv("CODEDROP_PG_TRACE") != "" {
		cfg.ConnConfig.Tracer = tracer
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newPool returns a pool on a fresh, migrated schema.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	schema := newSchema(t)
	return openPool(t, testDSN(t), schema, 16)
}
