// Package distribution delivers unique coupon codes (or plain messages) to
// customers through Intercom in-app messages, emails and any Channel a
// host registers. Its entry point is the [Manager]:
//
//	m, err := distribution.NewManager(distribution.Config{Store: st, Intercom: ic, AdminID: "991267001"})
//	go m.Run(ctx)
//	m.ImportCustomers(ctx, csvFile, customer.ImportOptions{})  // or UpsertCustomer, intercom.SyncContacts
//	seg, _ := m.CreateSegment(ctx, segment.Segment{...})      // syncs in the background
//	camp, _ := m.CreateCampaign(ctx, codes.Campaign{Name: "Welcome", Code: codes.CodeConfig{Pattern: "WELCOME-####"}})
//	d, _ := m.CreateDistribution(ctx, distribution.Distribution{Audience: ..., Campaign: camp.ID, Channels: ...})
//	d, _ = m.Send(ctx, d.ID)                                   // fires ManualDelay after the segment synced
//
// # Manual and automatic distributions
//
// A manual distribution moves draft -> scheduled -> sending -> done (or
// failed when it stopped early, e.g. no codes left). Until it fires it can
// be changed (UpdateDistribution) or canceled (Cancel); afterwards both
// fail with ErrWindowClosed. When it fires, its audience (one customer or
// a segment) is resolved into the delivery ledger: one Delivery per member
// and channel.
//
// An automatic distribution has a Trigger instead of an audience: one
// event type with Voucherify's name (EventTypes), narrowed by segment or
// campaign. It moves draft -> active <-> paused (Activate, Pause). Events
// come from HandleEvent (orders, redemptions, rewards, gift credits,
// loyalty points, publications) and from segment changes (every customer
// write re-checks the auto-update segments). Order and redemption events
// keep the customer's summary, so rules such as
// summary.orders.total_count >= 3 fire customer.segment.entered.
//
// # Segments and Intercom webhooks
//
// Segments lists the segments with their sync status and progress
// (SyncChecked of SyncTotal customers, stored after every batch, so a
// dashboard on any replica sees it). UpdateSegment changes a segment's
// name, rule or type in place (every distribution and trigger pointing at
// it stays): a new rule re-syncs it, firing entered/left for the
// customers who enter or leave an auto-update segment, and a scheduled
// manual distribution to it that has not fired waits for the re-sync and
// counts ManualDelay again. WebhookConfig wires an
// intercom.WebhookHandler to the Manager: contact notifications become
// customer upserts and deletes (so segments and triggers follow), each
// counts against the API limit, and the Store de-duplicates and orders
// them for every replica.
//
// # One pipeline
//
// Every message goes through the same steps, whoever asked for it (a
// manual fan-out, an event, a retry, a teammate's reward via GiveReward):
// admit (consents, the channel's own checks, then the send-time policies:
// Config.QuietHours, Config.FrequencyCaps, Config.Limits) -> publish a
// code (idempotent by distribution, customer and trigger) -> render ->
// the ledger row moves to sending -> Channel.Send -> the row settles:
// sent, skipped (with a reason), failed, unknown (the provider may have
// received it: never repeated) or scheduled again for a retry with
// backoff. A code published by a send emits
// customer.publication.succeeded, queued and handled by Run like any
// other event, never inside the send. A row still in sending after
// Config.InterruptAfter is taken as interrupted and becomes unknown; Run
// checks continuously, so the survivors of a crashed replica resolve its
// sends. RetryFailed re-queues failed rows; Deliveries lists the ledger.
//
// A deferred delivery (quiet hours, a message cap) stays scheduled with
// NextAttemptAt and a reason starting with "deferred:". Fan-outs batch
// their store writes when the store and code source offer it
// (CustomerBatchGetter, DeliveryBatchUpdater, BatchPublisher).
//
// # Templates
//
// Subjects and bodies use merge tags: {{customer.name}},
// {{customer.email}}, {{customer.phone}}, {{customer.source_id}},
// {{customer.id}}, {{customer.metadata.KEY}}, {{voucher.code}},
// {{campaign.name}}, {{distribution.name}}, with an optional default:
// {{customer.name | default: "there"}}. Automatic distributions also see
// their event ({{order.id}}, {{order.amount}}, {{segment.name}},
// {{gift.balance}}, {{loyalty.points}}, {{redemption.id}},
// {{reward.name}}, {{publication.id}}, ...). Values are HTML-escaped in
// bodies (unless the channel is an HTMLBodier saying false), not in
// subjects. Unknown tags are rejected when a distribution is saved, with a
// *TemplateError giving the line and column. Preview renders a
// distribution for a customer without sending.
//
// # Errors
//
// Sentinels for errors.Is: ErrNotFound, ErrConflict, ErrInvalid (the same
// values in every codedrop package), ErrNameTaken (also ErrConflict),
// ErrWindowClosed, ErrNoCodesLeft, ErrChannelNotFound, ErrNoCampaigns,
// ErrLimitExceeded, ErrEventInProgress. Validation errors name the field; a
// template error is a *TemplateError
// with the field, line and column (errors.As). Channels classify
// send errors with TransientError, AmbiguousError or PermanentError; read
// the class back with errors.As on a *SendError:
//
//	d, err := m.UpdateDistribution(ctx, d)
//	switch {
//	case errors.Is(err, distribution.ErrWindowClosed):
//		// it already started sending: too late to edit
//	case errors.Is(err, distribution.ErrInvalid):
//		fmt.Println("fix:", err) // channels[0].body: line 1, column 4: unknown tag in {{customer.nam}}
//	}
//
// # Time, scheduling and tests
//
// Every timed step uses Config.Clock and Config.Scheduler. The default
// Scheduler (NewTimerScheduler) holds one clock timer per job;
// store/postgres has a durable one that replicas share. Package
// distributiontest has a fake clock to advance past the 10-minute delay
// without sleeping, a recording channel, and WaitFor / WaitIdle, which
// wake on Manager.Changed instead of polling.
//
// # Telemetry
//
// The Manager reports to OpenTelemetry through Config.MeterProvider and
// Config.TracerProvider (default: the global providers; this package uses
// the API only): spans per fan-out, send and event (Span* constants),
// metrics of settled deliveries, send duration, events and their lag,
// waiting deliveries and codes per campaign (Metric* constants; the
// README lists them with their attributes). No attribute carries a
// customer's address, a token, a code or error text. Pass the same
// providers to intercom.Config for the Intercom calls.
//
// # Several replicas
//
// Replicas of a host share a Store and a durable Scheduler
// (store/postgres). Such a Scheduler is a SharedScheduler: a manual
// distribution's fan-out is then split into chunks of Config.ChunkSize
// deliveries (JobChunk jobs, in the ledger's order) that any replica
// claims with a lease, one chunk at a time per Manager (Concurrency still
// bounds its sends), so every replica sends part of it and a dead
// replica's chunk is taken over when its lease ends. Intercom's rate limit
// is one app's: give every replica's client one shared budget
// (store/postgres.Budget as intercom.Config.RateLimiter). The Manager
// labels its Intercom calls with the distribution id
// (intercom.WithCallLabel), so the budget tells who uses it. A call
// refused for the rate limit (a send, or a contact lookup in a check) is
// waited out until the reset in line, not pushed back.
//
// Related packages: distribution/rewards (the Rewards inbox app over
// GiveReward), store and store/postgres.
package distribution
