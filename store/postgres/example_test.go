package postgres_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store/postgres"
)

// A host wires the Manager to PostgreSQL: the store, the durable
// scheduler and the code source share one pool. Every replica does the
// same and runs m.Run.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		fmt.Println(err)
		return
	}
	sched, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := distribution.NewManager(distribution.Config{
		Store:     postgres.New(pool),
		Scheduler: sched,
		Codes:     postgres.NewCodes(pool, nil),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	go m.Run(ctx) //nolint:errcheck // runs until ctx ends
}

// A host that manages its schema with its own migration tool takes the
// SQL files from Migrations and applies them in name order, instead of
// calling Migrate.
func ExampleMigrations() {
	names, err := fs.Glob(postgres.Migrations(), "*.sql")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range names {
		sql, err := fs.ReadFile(postgres.Migrations(), name)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(name, len(sql) > 0) // hand sql to the tool
	}
	fmt.Println("schema version", postgres.SchemaVersion())
	// Output:
	// 0001_init.sql true
	// 0002_automation.sql true
	// 0003_segment_sync.sql true
	// 0004_webhooks.sql true
	// 0005_replicas.sql true
	// 0006_reason_detail.sql true
	// 0007_segment_writes.sql true
	// 0008_rate_budget.sql true
	// schema version 8
}
