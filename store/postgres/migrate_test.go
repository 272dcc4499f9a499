package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestMigrateConcurrentAndIdempotent starts four "replicas" migrating one
// empty schema at once, then migrates again.
func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	t.Parallel()
	pool := newPool(t) // migrated once already
	ctx := context.Background()
	// Drop every table of the schema, whatever the migrations created.
	if _, err := pool.Exec(ctx, `DO $$ DECLARE t text; BEGIN
		FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
			EXECUTE format('DROP TABLE %I CASCADE', t);
		END LOOP; END $$`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- postgres.Migrate(ctx, pool) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	var n, v int
	if err := pool.QueryRow(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != postgres.SchemaVersion() || v != postgres.SchemaVersion() {
		t.Fatalf("schema_migrations has %d rows up to version %d, want %d", n, v, postgres.SchemaVersion())
	}
	// A database newer than the code is refused.
	if _, err := pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool); err == nil {
		t.Fatal("Migrate accepted a database newer than the code")
	}
}

// TestSendJobFollowsTheDistributionRow checks the transactional coupling:
// the store alone (no Scheduler call) creates, moves and deletes a
// distribution's send job, and a delivery's retry job.
func TestSendJobFollowsTheDistributionRow(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	st := postgres.New(pool)
	sched, _ := postgres.NewScheduler(pool, postgres.SchedulerConfig{})
	at := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	jobs := func() []distribution.Job {
		t.Helper()
		js, err := sched.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	d := distribution.Distribution{ID: "distr_1", Name: "d", Mode: distribution.Manual, Status: distribution.StatusDraft,
		Audience: distribution.Audience{CustomerID: "cust_1"}, CreatedAt: at, UpdatedAt: at}
	if err := st.CreateDistribution(ctx, d); err != nil {
		t.Fatal(err)
	}
	if js := jobs(); len(js) != 0 {
		t.Fatalf("draft has jobs %+v", js)
	}
	d.Revision, d.Status, d.SendAt = 1, distribution.StatusScheduled, at.Add(10*time.Minute)
	rev, err := st.UpdateDistribution(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	want := []distribution.Job{{ID: distribution.SendJobID("distr_1"), Kind: distribution.JobSend, Target: "distr_1", RunAt: d.SendAt}}
	if diff := cmp.Diff(want, jobs(), cmpopts.EquateApproxTime(0)); diff != "" {
		t.Fatalf("jobs after scheduling (-want +got):\n%s", diff)
	}
	d.Revision, d.SendAt = rev, at.Add(20*time.Minute) // a reschedule
	if rev, err = st.UpdateDistribution(ctx, d); err != nil {
		t.Fatal(err)
	}
	if js := jobs(); len(js) != 1 || !js[0].RunAt.Equal(d.SendAt) {
		t.Fatalf("jobs after the reschedule = %+v, want one at %v", js, d.SendAt)
	}
	stale := d
	stale.Status = distribution.StatusCanceled // with a stale revision: nothing changes
	if _, err := st.UpdateDistribution(ctx, stale); err == nil {
		t.Fatal("stale update succeeded")
	}
	if js := jobs(); len(js) != 1 {
		t.Fatalf("a failed update removed the job: %+v", js)
	}
	d.Revision, d.Status = rev, distribution.StatusCanceled
	if _, err := st.UpdateDistribution(ctx, d); err != nil {
		t.Fatal(err)
	}
	if js := jobs(); len(js) != 0 {
		t.Fatalf("jobs after the cancel = %+v, want none", js)
	}

	k := distribution.DeliveryKey{DistributionID: "distr_1", CustomerID: "cust_1", TriggerKey: distribution.ManualTrigger, Channel: "x"}
	dl := distribution.Delivery{ID: distribution.DeliveryID(k), DistributionID: k.DistributionID, CustomerID: k.CustomerID, TriggerKey: k.TriggerKey,
		Channel: k.Channel, State: distribution.DeliverySending, CreatedAt: at, UpdatedAt: at}
	if _, err := st.InsertDeliveries(ctx, []distribution.Delivery{dl}); err != nil {
		t.Fatal(err)
	}
	dl.State, dl.NextAttemptAt, dl.Reason = distribution.DeliveryScheduled, at.Add(time.Minute), "503"
	if err := st.UpdateDelivery(ctx, dl, distribution.DeliverySending); err != nil {
		t.Fatal(err)
	}
	want = []distribution.Job{{ID: distribution.RetryJobID(dl.ID), Kind: distribution.JobRetry, Target: dl.ID, RunAt: dl.NextAttemptAt}}
	if diff := cmp.Diff(want, jobs()); diff != "" {
		t.Fatalf("jobs after a transient failure (-want +got):\n%s", diff)
	}
}

// TestMetadataTypesRoundTrip stores every metadata type, nested ones
// too, and reads the same Go values back.
func TestMetadataTypesRoundTrip(t *testing.T) {
	t.Parallel()
	st := postgres.New(newPool(t))
	ctx := context.Background()
	at := time.Date(2026, 2, 3, 4, 5, 6, 789000, time.UTC)
	day := customer.Date{Year: 2024, Month: 2, Day: 29}
	md := customer.Metadata{
		"s": "x", "n": 1.5, "b": false, "null": nil, "d": day, "t": at, "g": customer.GeoPoint{Lat: -1, Lng: 2.5},
		"dates":  []any{day, customer.Date{Year: 1999, Month: 12, Day: 31}},
		"mixed":  []any{"a", 2.0, true, nil},
		"obj":    map[string]any{"when": at, "inner": map[string]any{"day": day}, "list": []any{"z"}},
		"string": "2024-02-29", // a string that looks like a date stays a string
	}
	out, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: "u", Metadata: md}}, customer.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetCustomer(ctx, out[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(md, got.Metadata, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Fatalf("metadata (-want +got):\n%s", diff)
	}
	var plain string
	if err := st.Pool().QueryRow(ctx, `SELECT metadata->>'d' FROM customers`).Scan(&plain); err != nil || plain != "2024-02-29" {
		t.Fatalf("metadata->>'d' = %q, %v; want the plain date", plain, err)
	}
}

// TestDatesIgnoreSessionTimeZone stores birthdates (insert and update
// paths) through sessions in far-apart time zones.
func TestDatesIgnoreSessionTimeZone(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	ctx := context.Background()
	day := customer.Date{Year: 1990, Month: 3, Day: 4}
	for _, tz := range []string{"Pacific/Kiritimati", "America/Adak"} {
		cfg := openPool(t, testDSN(t), schema, 2).Config()
		cfg.ConnConfig.RuntimeParams["timezone"] = tz
		pool, err := pgxpoolWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		st := postgres.New(pool)
		src := "u-" + tz
		for _, merge := range []bool{false, true} { // insert, then update
			out, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: src, Birthdate: day, Name: tz}}, customer.UpsertOptions{Merge: merge})
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.GetCustomer(ctx, out[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Birthdate != day {
				t.Errorf("%s (merge %v): birthdate = %v, want %v", tz, merge, got.Birthdate, day)
			}
		}
	}
}

var pgxpoolWithConfig = pgxpool.NewWithConfig
