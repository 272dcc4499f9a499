// Package postgres is codedrop's PostgreSQL backend: a [Store] that
// implements store.Store (customers, segments and memberships,
// distributions, consents, the delivery ledger, and what automatic
// distributions persist: events, order and redemption summaries, usage
// counters and the frequency-cap send log), a durable [Scheduler]
// that several replicas of a host application share, [Codes], a
// durable codes.Source and codes.Registry (campaigns, codes and
// publications) that the Store provides, so one object wires everything,
// and [Budget], the Intercom rate budget the replicas share. It uses pgx
// (github.com/jackc/pgx/v5).
//
// # Wiring
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	...
//	if err := postgres.Migrate(ctx, pool); err != nil { ... }
//	sched, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{})
//	budget, err := postgres.NewBudget(pool, postgres.BudgetConfig{Key: appID, ReplicaID: replica})
//	client, err := intercom.NewClient(intercom.Config{Token: tok, RateLimiter: budget})
//	...
//	m, err := distribution.NewManager(distribution.Config{
//		Store:     postgres.New(pool), // also the code source (Store.Codes)
//		Scheduler: sched,
//		Intercom:  client, AdminID: adminID, ReplicaID: replica,
//	})
//	...
//	camp, err := m.CreateCampaign(ctx, codes.Campaign{Name: "Welcome", Code: codes.CodeConfig{Pattern: "WELCOME-####"}})
//	go m.Run(ctx) // on every replica
//
// Config.Codes: postgres.NewCodes(pool, now) still works, e.g. for a
// clock of its own.
//
// Every replica runs the same code against the same database: manual
// distributions, their 10-minute countdowns and retries are rows, so any
// replica fires them, a restart loses nothing, and the delivery ledger's
// compare-and-set makes sure no message goes out twice. The Scheduler is a
// distribution.SharedScheduler, so a manual distribution's fan-out goes in
// chunk jobs (distribution.Config.ChunkSize deliveries each) that every
// replica claims in turn, and a dead replica's chunk is taken over when
// its lease ends. The replicas' Intercom clients take their calls from
// one Budget, so together they keep to the app's rate limit.
//
// # Migrations
//
// [Migrate] applies the embedded migrations (migrations/NNNN_name.sql) in
// order, each in its own transaction under pg_advisory_xact_lock (one lock
// per schema), recording them in schema_migrations (version, name,
// applied_at). It is idempotent and safe when several replicas start at
// once. Tables live in the connection's current schema: set search_path
// (pgxpool.Config.ConnConfig.RuntimeParams["search_path"], or
// "?search_path=..." in the DSN) to use another schema than public.
//
// A host that manages its schema with its own tool takes the same SQL
// from [Migrations] (an fs.FS of the NNNN_name.sql files) and applies
// the files in order instead of calling Migrate.
//
// # Tables
//
// customers: id (text, primary key, "C" collation so that ORDER BY id is
// byte order), source_id (unique, NULL when none), name, email, phone,
// description, birthdate (date), address (jsonb), metadata (jsonb, plain
// JSON: dates as "YYYY-MM-DD", datetimes as RFC 3339 UTC strings,
// geopoints as {"lat","lng"}; GIN index jsonb_path_ops for segment rules
// such as metadata @> '{"source":"Intercom"}'), metadata_types (jsonb tags
// that restore the Go types of dates, datetimes and geopoints), consents
// (jsonb), timezone, summary (jsonb), created_at, updated_at.
//
// segments: id, name, type, filter (json, not jsonb: the Voucherify filter
// keeps its key order, so its conditions come back as written),
// expression, customer_ids (text[], static segments), sync_status,
// sync_checked and sync_total (a sync's progress, written after every
// batch), synced_at, created_at, updated_at. segment_members: (segment_id, customer_id)
// primary key, index on (customer_id, segment_id); rows go with their
// segment (DeleteSegment deletes them; writers of memberships lock the
// segment's row). Members need not be stored customers. segments_version:
// one row, moved by every segment write (segment.Versioner).
//
// distributions: seq (creation order), id, name (unique), status,
// revision (compare-and-set), send_at, doc (jsonb, the whole
// distribution.Distribution). consents: seq, id, name (unique),
// description, category, created_at, updated_at.
//
// deliveries (the ledger): seq (insertion order), id, distribution_id,
// customer_id, trigger_key, channel (unique together), state, reason,
// attempts, code, publication_id, provider_message_id, next_attempt_at,
// created_at, updated_at, sent_at. No index covers the columns a send
// changes and the table keeps free space (fillfactor 70), so the updates
// of a send are HOT.
//
// jobs (the Scheduler): id, kind, target, run_at, version (bumped by every
// schedule), locked_by and locked_until (the claim and its lease),
// attempts.
//
// rate_budgets (the Budget): key (primary key: one row per Intercom app),
// window_start, used (calls given out in that window, or counted by
// Intercom when higher), lim, phase_ms (the windows' offset learned from
// X-RateLimit-Reset; NULL until heard), paused_until (after a 429). A
// grant is one transaction holding that row's lock. rate_budget_use:
// (key, window_start, replica, label) primary key, granted (on the rows
// with an empty label), calls; rows older than BudgetConfig.Retention go
// as windows roll.
//
// campaigns: seq, id, name (unique), type, code_config (jsonb, the
// codes.CodeConfig), imported (text[]), count, created_at. codes: seq,
// code (primary key: unique across campaigns), campaign_id,
// publication_id (NULL while in the pool; partial index on the pool).
// publications: seq, id, key (unique: the idempotency key), campaign_id,
// code (unique), customer_id, distribution_id, channel, metadata (jsonb),
// created_at. New codes come from the codes.Generator, as in memory: a
// publication checks its candidates in batches (one statement inserts the
// first that is not in codes), so a small code space is used to its last
// code before ErrNoCodesLeft.
//
// events (distribution.EventStore): seq (insertion order), id (primary
// key: a repeated id is not inserted), type, doc (jsonb, the whole
// distribution.Event without the two columns below), customer_metadata
// and customer_metadata_types (the event's customer data's metadata,
// encoded as customers.metadata and metadata_types; NULL without customer
// data), processed_at (NULL while unprocessed; partial index on seq of
// the unprocessed ones).
//
// orders: (customer_id, id) primary key, status, amount (double
// precision), created_at, updated_at. redemptions: (customer_id, id,
// result) primary key, at. Both reference customers (ON DELETE CASCADE);
// RecordOrder and RecordRedemption lock the customer's row (FOR UPDATE),
// write the record and recompute customers.summary from all of the
// customer's rows (distribution.SummarizeOrders, SummarizeRedemptions) in
// one transaction.
//
// usage_counters (distribution.UsageStore): (meter, period) primary key,
// n (bigint, never negative). AddUsage is one INSERT ... ON CONFLICT DO
// UPDATE ... WHERE, so the cap check and the increment are atomic.
//
// send_log (distribution.SendLog): delivery_id (primary key), customer_id,
// channel, at; index on (customer_id, at). ReserveSend runs under
// pg_advisory_xact_lock(class, hashtext(customer_id)), so reservations for
// one customer are serialized across replicas (the customer need not be
// a stored one). Records stay after their windows pass;
// [Store.PruneSendLog] deletes old ones.
//
// webhook_notifications (intercom.WebhookStore): id (primary key),
// claimed_until (the lease of an in-flight claim), handled_at. A claim is
// one INSERT ... ON CONFLICT DO UPDATE ... WHERE, so of several replicas
// receiving one notification one handles it. intercom_contacts:
// contact_id (primary key), updated_at (the newest version applied),
// source_id, deleted_at. UpdateContactState holds the contact's row
// locked in a transaction while its callback writes the customer, so the
// notifications of one contact apply one at a time across replicas; at
// most half of the pool's connections are held so. PruneWebhookState
// deletes handled ids, lapsed claims and deleted contacts older than the
// retention (the webhook handler calls it hourly).
//
// # Scheduling
//
// [Scheduler] claims due jobs with UPDATE ... WHERE id IN (SELECT ... FOR
// UPDATE SKIP LOCKED) and a lease it renews while the job runs; a job
// whose Scheduler died runs again elsewhere when the lease expires.
// Schedule sends NOTIFY codedrop_jobs, which wakes the listening
// Schedulers early (SchedulerConfig.NoListen turns that off); otherwise
// they poll every SchedulerConfig.PollInterval. A kind in
// SchedulerConfig.KindLimits (by default distribution.JobChunk, one at a
// time) is claimed in its own statement up to its limit, so one replica
// does not take every chunk of a fan-out. Add inserts a job unless its id
// exists; a running one is then released when its handler returns and
// runs once more.
//
// # The shared Intercom budget
//
// [Budget] is an intercom.RateLimiter: its windows follow Intercom's
// (their phase is learned from X-RateLimit-Reset), calls go out only from
// BudgetConfig.Margin after a window starts to the margin before it ends
// (the header is in whole seconds, truncated or rounded), and a replica
// takes them in blocks of about twice its waiting callers (at most
// MaxBlock) in one transaction on the budget's row. Intercom's answers
// are shared: a lower X-RateLimit-Limit, calls Intercom counted beyond the
// budget's, and a 429, which closes the window for every replica until
// the reset and the margin. [Budget.Usage] reports the recent windows by
// replica and by label (a distribution id).
//
// The Store keeps a distribution's send job in step with its row in the
// same transaction: writing a scheduled distribution with a SendAt
// inserts or moves its job (id distribution.SendJobID), writing a draft,
// canceled or re-armed one deletes it; putting a delivery back to
// scheduled with a NextAttemptAt inserts its retry job (id
// distribution.RetryJobID). So a cancel (from any replica) and a
// reschedule commit or roll back together with the distribution, and no
// crash between the Manager's two calls can leave a countdown behind or
// lose one. The Manager's own Schedule and Cancel
// calls that follow are then no-ops in effect.
//
// # Durability
//
// Moving a delivery to sending commits synchronously: it is on disk
// before the provider is called. Publications and the other ledger moves
// commit with synchronous_commit off (one fsync per send instead of
// three): a database crash may lose the last few of them, which leaves a
// delivery in sending (recovery reports it unknown, never sends it again)
// or scheduled before its code was published (it is published again), and
// the next synchronous commit flushes them anyway. The send-time policies'
// writes (AddUsage, ReserveSend) commit the same way, so the one counter
// row every send increments is not held over an fsync: a crash may lose
// the last few counts or send-log records, which lets a message limit or
// a frequency cap allow a few more messages.
//
// # Bulk paths
//
// UpsertCustomers writes a batch of new customers with one COPY that is
// its own transaction (one round trip). A batch that meets stored
// customers (the COPY fails with a unique violation and writes nothing)
// is written the other way: the matched rows are read and locked with one
// query, the batch is planned in Go, and the new customers go in with
// COPY and the stored ones with one UPDATE ... FROM unnest(arrays), a few
// round trips per batch whatever its size. The Store remembers which way
// the last batch needed, so a re-import does not try COPY first each time.
// A concurrent insert of the same source_id makes the batch fail with a
// unique violation and run again (it then updates the other's row), so
// concurrent upserts of one customer keep one row.
// Customers, Members and Deliveries stream in pages with keyset
// pagination (WHERE id > $last ORDER BY id LIMIT n), so a full segment
// sync holds one page of customers in memory and no long transaction.
// Customers (and CustomersMatching) read the next page on a connection of
// their own while the caller goes through the current one, and read rows
// from their wire bytes (one string for a row's text columns, plain
// metadata JSON decoded by hand). A segment sync writes each batch with
// one statement (segment.SyncBatchWriter), committed lazily
// (synchronous_commit off) when it reports no event; the sync's final
// durable write covers it.
//
// # Filter pushdown
//
// [FilterSQL] translates a Voucherify filter into SQL when it uses only
// built-in text fields, top-level metadata keys and the equality,
// presence and text operators (see its doc for the exact subset), and
// [Store.CustomersMatching] streams the matching customers; the result is
// the Go evaluator's (tested on the same data). The Store is a
// segment.FilterPusher: segment.Engine (so distribution.Manager) syncs a
// Filter segment in that subset by reading only the matching customers
// (through the GIN index for metadata equality) and the former members
// they leave out, instead of scanning every customer. That needs the
// default evaluator without a metadata Schema; other filters, expressions
// and evaluators scan.
//
// # Errors
//
// Errors wrap the domain sentinels (customer.ErrNotFound,
// distribution.ErrConflict, distribution.ErrNameTaken, ...) exactly as
// store.Memory does, so errors.Is works the same on both. Context
// cancellation is returned as ctx.Err().
//
// # Tests
//
// The tests need a database: set CODEDROP_TEST_POSTGRES_DSN (for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); without it
// they skip. Each test works in a schema of its own, dropped at the end.
package postgres
