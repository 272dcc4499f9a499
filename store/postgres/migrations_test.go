package postgres_test

import (
	"context"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/store/postgres"
)

// TestMigrationsFS: the files are NNNN_name.sql, numbered 1..SchemaVersion
// without gaps.
func TestMigrationsFS(t *testing.T) {
	t.Parallel()
	entries, err := fs.ReadDir(postgres.Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != postgres.SchemaVersion() {
		t.Fatalf("%d files, SchemaVersion %d", len(entries), postgres.SchemaVersion())
	}
	for i, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if v, err := strconv.Atoi(num); !ok || err != nil || v != i+1 || len(num) != 4 || !strings.HasSuffix(e.Name(), ".sql") {
			t.Errorf("file %d is %q, want %04d_name.sql", i, e.Name(), i+1)
		}
	}
}

// TestMigrationsByHand: applying the files of Migrations in order, as a
// host's own tool would, gives the schema Migrate gives.
func TestMigrationsByHand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testDSN(t)
	migrated := newPool(t)
	// An empty schema, migrated by hand.
	admin := openPool(t, dsn, "public", 1)
	var suffix string
	if err := admin.QueryRow(ctx, `SELECT substr(md5(random()::text), 1, 12)`).Scan(&suffix); err != nil {
		t.Fatal(err)
	}
	schema := "codedrop_test_byhand_" + suffix
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping %s: %v", schema, err)
		}
	})
	byHand := openPool(t, dsn, schema, 2)
	names, err := fs.Glob(postgres.Migrations(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		sql, err := fs.ReadFile(postgres.Migrations(), name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := byHand.Exec(ctx, string(sql)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	want, got := columns(t, migrated), columns(t, byHand)
	want = slices.DeleteFunc(want, func(c string) bool { return strings.HasPrefix(c, "schema_migrations.") })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("columns by hand vs Migrate (-Migrate +by hand):\n%s", diff)
	}
}

// columns lists table.column type of the pool's current schema.
func columns(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT table_name || '.' || column_name || ' ' || data_type
		FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, column_name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no columns")
	}
	return out
}
