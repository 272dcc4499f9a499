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
// becomes unknown: it is never sent twice automatically. RetryFailed
// re-queues failed rows; Deliveries lists the ledger.
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
// a distribution is created or updated, never at send time; Preview
// renders every channel for a real customer without publishing or
// sending.
//
// # Errors
//
// Sentinels for errors.Is: ErrNotFound, ErrConflict, ErrInvalid (the same
// values in every codedrop package), ErrNameTaken (also ErrConflict),
// ErrWindowClosed, ErrNoCodesLeft, ErrChannelNotFound, ErrNoCampaigns.
// Validation errors name the field; template errors also carry a
// *tmpl.Error with the line and column (errors.As). Channels classify
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
