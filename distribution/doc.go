// Package distribution delivers unique coupon codes (or plain messages) to
// customers through Intercom in-app messages, emails and any channel a
// host registers. Its heart is the [Manager].
//
// # The flow
//
// A host creates a Manager on a store (store.NewMemory() is the in-memory
// default) and an Intercom messenger, runs it, and drives everything
// through it, so segment memberships and sync status stay current:
//
//	m, err := distribution.NewManager(distribution.Config{Store: st, Intercom: ic, AdminID: "991267001"})
//	go m.Run(ctx)
//	m.ImportCustomers(ctx, csvFile, customer.ImportOptions{})   // or UpsertCustomer, intercom SyncContacts(ctx, m, ...)
//	seg, _ := m.CreateSegment(ctx, segment.Segment{...})       // syncs in the background
//	camp, _ := m.CreateCampaign(ctx, distribution.Campaign{Name: "Welcome", Code: distribution.CodeConfig{Pattern: "WELCOME-####"}})
//	d, _ := m.CreateDistribution(ctx, distribution.Distribution{Audience: ..., Campaign: camp.ID, Channels: ...})
//	d, _ = m.Send(ctx, d.ID)                                    // fires ManualDelay after the segment synced
//
// A manual distribution moves draft -> scheduled -> sending -> done (or
// failed when it stopped early, e.g. no codes left). Until it fires it can
// be changed (UpdateDistribution) or canceled (Cancel); afterwards both
// fail with ErrWindowClosed. When it fires, the audience is resolved once
// into the delivery ledger: one Delivery per member and channel.
//
// # Segments
//
// Segments lists the segments with their sync status and progress
// (SyncChecked of SyncTotal customers, stored after every batch, so a
// dashboard on any replica sees it). UpdateSegment changes a segment's
// name, rule or type in place (its id, and every distribution and trigger
// pointing at it, stay): a new rule or type re-syncs it, firing
// entered/left for the customers who enter or leave an auto-update
// segment, and a scheduled manual distribution to it that has not fired
// waits for the re-sync and counts ManualDelay again.
//
// # Intercom webhooks
//
// WebhookConfig wires an intercom.WebhookHandler to the Manager: contact
// notifications become UpsertCustomer / DeleteCustomer calls (so segments
// and their triggers follow), each notification counts against the API
// limit, and the Store (when it implements intercom.WebhookStore, as
// store.Memory and store/postgres do) de-duplicates and orders them for
// every replica.
//
// # Processing one recipient
//
// Each delivery goes through the same steps, each safe to repeat: consent
// check (every required consent granted and not unsubscribed, unless
// Consents.Disabled; a channel's own checks such as "customer has no
// email") -> code publication (CodeSource.Publish, idempotent by
// distribution, customer and trigger, so all channels of a recipient carry
// one code and a restart never publishes a second) -> template rendering
// -> the ledger row moves to sending -> Channel.Send -> the row moves to
// sent, skipped (with a reason), failed (with the error), unknown (the
// provider may have received it) or back to scheduled for a retry with
// backoff (a transient error). A row found in sending after a restart
// becomes unknown once it is older than Config.InterruptAfter (until
// then another replica may be sending it): it is never sent twice
// automatically. RetryFailed
// re-queues failed rows; Deliveries lists the ledger.
//
// # Automatic distributions
//
// An automatic distribution (Mode Automatic) has a Trigger instead of an
// Audience: one event type with Voucherify's name (EventTypes), narrowed
// by segment (customer.segment.entered / left: the segment is required and
// must be auto-update) or by campaign (voucher, redemption, reward and
// publication events). It moves draft -> active <-> paused (Activate,
// Pause), and can be updated while active. Events arrive through
// HandleEvent (order created/updated/paid/canceled, gift credits, loyalty
// points, redemption and its rollback, reward, publication) or from
// segment changes: every customer write re-checks the auto-update
// segments, and an entered/left change fires the segment triggers. Each
// matching active distribution processes the event's customer through the
// pipeline below, with the event id as the trigger key, before HandleEvent
// returns:
//
//	d, _ := m.CreateDistribution(ctx, distribution.Distribution{Name: "Thanks", Mode: distribution.Automatic,
//		Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Campaign: camp.ID,
//		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Thanks for {{order.id}}: {{voucher.code}}"}}})
//	m.Activate(ctx, d.ID)
//	err := m.HandleEvent(ctx, distribution.Event{ID: "evt_1", Type: distribution.EventOrderPaid, CustomerID: "u1",
//		Order: &distribution.Order{ID: "ord_1", Amount: 4990}})
//
// A repeated event id sends nothing. An unknown source_id with Customer
// data creates the customer. Order events keep the customer's order
// summary (SummarizeOrders: each order counted once by id; an update
// changes its amount; a cancel removes it) and redemption events its
// redemption counts, so rules such as summary.orders.total_count >= 3
// move customers into segments and fire customer.segment.entered. A code
// published by any distribution emits customer.publication.succeeded; a
// distribution on that trigger sends the published code ({{voucher.code}})
// and may not publish one itself, so there are no loops. Matching uses an
// index by event type (and segment or campaign): the cost of an event does
// not grow with the number of distributions. With several replicas, call
// ReloadTriggers after activations elsewhere.
//
// # Send-time policies
//
// Before a code is published, every delivery (manual or automatic) passes
// three policies, in this order:
//
//   - Config.QuietHours: a daily window ("21:00"-"08:00") in the customer's
//     IANA time zone (workspace default otherwise), by the local wall
//     clock, so it holds on daylight-saving change days. A send inside is
//     deferred to the window's end (reason ReasonQuietHours) or dropped
//     (ReasonQuietHoursDropped); IgnoreQuietHours bypasses it.
//   - Config.FrequencyCaps: at most Max messages per customer per rolling
//     Window, per channel or overall, across all distributions; a capped
//     delivery is skipped ("frequency capped: 2 per 24h0m0s"). A
//     Transactional distribution is neither capped nor counted.
//   - Config.Limits: outbound messages count against the webhook
//     (message) limit per period; over the cap a send is deferred to the
//     next period (ReasonDeferredLimit) or skipped (ReasonLimitExceeded).
//     Inbound calls from Intercom are counted with CountInbound, which
//     returns ErrLimitExceeded over the API cap. Usage reports both.
//
// A deferred delivery stays scheduled with NextAttemptAt set and a reason
// starting with "deferred:" (list them with DeliveryFilter{Reason:
// "deferred"}); Run sends it when the time comes. A message that is not
// sent after all (a failure, no codes left) gives back what it counted.
// Without a message cap, a fan-out counts its messages ahead in blocks of
// 64 and gives back what it did not use when it ends, so while it runs
// (or after a crash) the message usage may be up to a block too high,
// never too low.
//
// A fan-out batches its store writes when the store and code source
// offer it (CustomerBatchGetter, DeliveryBatchUpdater, BatchPublisher;
// store.Memory and store/postgres do): customers are loaded per chunk,
// codes published per batch, deliveries moved to sending together when
// their send workers are ready at the same time (a delivery is in
// sending only right before its own send), and sent outcomes recorded in
// batches within milliseconds.
//
// # Rewards from the inbox
//
// Manager.RewardsApp is the Rewards Intercom app (Canvas Kit): its
// handlers serve the Inbox initialize and submit URLs and the Messenger
// initialize URL. A teammate sees the conversation's customer (found by
// the contact's external id = source_id, or the Intercom id a contacts
// sync keeps in metadata) and the predefined rewards they may receive
// (consents checked), picks one, and the customer gets a code from the
// reward's campaign as the teammate's reply or as a Messenger card. Each
// send is a Delivery in the same ledger (DistributionID
// RewardDistributionID(reward), TriggerKey ConversationTrigger(conv)), so
// a double click never gives two codes. Every verified request counts
// against the API limit (CountInbound).
//
// # Templates
//
// Subjects and bodies use merge tags: {{customer.name}},
// {{customer.email}}, {{customer.phone}}, {{customer.source_id}},
// {{customer.id}}, {{customer.metadata.KEY}}, {{voucher.code}},
// {{campaign.name}}, {{distribution.name}}, with an optional default:
// {{customer.name | default: "there"}}. Values are HTML-escaped in bodies,
// not in email subjects. Unknown tags and syntax errors are rejected when
// a distribution is created or updated, never at send time. Automatic
// distributions also see their event: {{order.id}}, {{order.status}},
// {{order.amount}}, {{order.items_count}}, {{order.items}} (order events);
// {{segment.id}}, {{segment.name}}; {{gift.amount}}, {{gift.balance}};
// {{loyalty.points}}, {{loyalty.balance}}; {{redemption.id}},
// {{redemption.amount}}; {{reward.id}}, {{reward.name}}, {{reward.type}};
// {{publication.id}}; and, for events carrying a voucher and a
// distribution that publishes none, the event's {{voucher.code}} and
// {{campaign.name}}. A tag the trigger can never provide is rejected when
// the distribution is saved. Preview
// renders every channel for a real customer without publishing or
// sending.
//
// # Errors
//
// Sentinels for errors.Is: ErrNotFound, ErrConflict, ErrInvalid (the same
// values in every codedrop package), ErrNameTaken (also ErrConflict),
// ErrWindowClosed, ErrNoCodesLeft, ErrChannelNotFound, ErrNoCampaigns,
// ErrLimitExceeded.
// Validation errors name the field; template errors also carry a
// *TemplateError with the line and column (errors.As). Channels classify
// send errors with TransientError, AmbiguousError or PermanentError; read
// the class back with errors.As on a *SendError:
//
//	d, err := m.UpdateDistribution(ctx, d)
//	switch {
//	case errors.Is(err, distribution.ErrWindowClosed):
//		// it already started sending: too late to edit
//	case errors.Is(err, distribution.ErrInvalid):
//		fmt.Println("fix:", err) // e.g. channels[0].body: line 1, column 4: unknown tag in {{customer.nam}}
//	}
//
//	var se *distribution.SendError
//	if errors.As(err, &se) && se.Class == distribution.Transient { /* retried later */ }
//
// # Time and scheduling
//
// Every timed step uses Config.Clock and Config.Scheduler. The default
// Scheduler (NewTimerScheduler) holds one clock timer per job, no polling;
// tests pass NewFakeClock and Advance it past the 10-minute delay without
// sleeping.
package distribution
