package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/store/postgres"
)

// Every replica gives its Intercom client the same Budget (one Key per
// Intercom app), so that together they keep to the app's rate limit; the
// Manager's fan-outs are shared in chunks through the Scheduler. Usage
// tells how the budget was used, by replica and by distribution.
func ExampleBudget() {
	ctx := context.Background()
	replica := os.Getenv("HOSTNAME")
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	budget, err := postgres.NewBudget(pool, postgres.BudgetConfig{Key: "app_123", ReplicaID: replica})
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := intercom.NewClient(intercom.Config{Token: os.Getenv("INTERCOM_TOKEN"), RateLimiter: budget})
	if err != nil {
		fmt.Println(err)
		return
	}
	sched, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := distribution.NewManager(distribution.Config{Store: postgres.New(pool), Scheduler: sched,
		Intercom: client, AdminID: os.Getenv("INTERCOM_ADMIN"), ReplicaID: replica})
	if err != nil {
		fmt.Println(err)
		return
	}
	go m.Run(ctx) //nolint:errcheck // runs until ctx ends

	// Later, for the logs (or a dashboard):
	u, err := budget.Usage(ctx, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range u.Windows {
		slog.Info("Intercom budget", "limit", u.Limit, "window", w) // granted, calls, per replica and per distribution
	}
}
