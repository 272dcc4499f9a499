// Package intercom is codedrop's Intercom integration: a REST client
// (admin-initiated messages, contacts, tags, data attributes, admins,
// conversation replies), the OAuth connect flow, a webhook handler, and
// the mapping of Intercom contacts to codedrop customers. It imports only
// package customer from codedrop.
//
// # Client
//
//	c, err := intercom.NewClient(intercom.Config{Token: tok, BaseURL: intercom.EUBaseURL})
//	sent, err := c.SendMessage(ctx, intercom.Message{
//		Type: intercom.InApp, Body: "Your code: WELCOME-7Q2X",
//		FromAdminID: "991267001", To: intercom.Recipient{Role: intercom.RoleUser, ID: contactID},
//	})
//
// Every request carries Authorization: Bearer, Accept: application/json,
// Intercom-Version (DefaultVersion unless Config.Version) and a User-Agent.
// Tokens never appear in logs or errors.
//
// The client paces calls with a limiter shaped like Intercom's limit
// (10,000 calls a minute in 10-second windows, see RateLimit), slows down
// when X-RateLimit-Remaining runs low (pausing until X-RateLimit-Reset at
// zero), and waits out a 429 until the reset before retrying. That
// limiter is one process's; Config.RateLimiter replaces it with a budget
// several processes share (store/postgres.Budget), which hears every
// answer's X-RateLimit-* headers and 429s, and WithCallLabel says on whose
// behalf calls are made. Reads are retried after 5xx and network errors with
// backoff. A write that may have reached Intercom (POST /messages after a
// 5xx or a connection lost after sending) is never repeated: its error
// matches ErrAmbiguous and the caller decides. Nothing retries after the
// context is done.
//
// # Telemetry
//
// The client reports to OpenTelemetry through Config.MeterProvider and
// Config.TracerProvider (default: the global providers, no-ops until the
// host installs an SDK; this package uses the API only):
//
//   - a client span per HTTP request (a retry is a span of its own),
//     following OTel's HTTP client conventions: named "{method}
//     {url.template}" ("POST /messages", "GET /contacts/{id}"), with
//     http.request.method, url.template, server.address, server.port,
//     http.response.status_code, http.request.resend_count and error.type
//     (the status code, or timeout, canceled, token, _OTHER). Ids in the
//     path are never recorded (no url.full), nor headers or bodies;
//   - codedrop.intercom.request.duration (histogram, s): every request by
//     method, url.template, status and error.type; its count is the number
//     of calls, 429s included;
//   - codedrop.intercom.rate_limit.wait.duration (histogram, s): how long
//     each call (and each Client.Wait) waited for the client's rate limit.
//
// # Errors
//
// Failed calls return an *Error (HTTP status, request id, every entry of
// Intercom's error.list) that matches the sentinels with errors.Is:
//
//	_, err := c.FindContactByExternalID(ctx, userID)
//	switch {
//	case errors.Is(err, intercom.ErrNotFound): // no such user
//	case errors.Is(err, intercom.ErrContactMerged):
//		var ie *intercom.Error
//		errors.As(err, &ie) // ie.CanonicalContactID is the surviving contact
//	case errors.Is(err, intercom.ErrAmbiguous): // a write may have happened
//	}
//
// # Contacts to customers
//
// ContactToCustomer maps a contact to a customer.Customer (external_id ->
// SourceID, custom attributes and tags -> metadata, metadata.source =
// "Intercom", the contact id and role under MetaIntercomID and
// MetaIntercomRole). Client.SyncContacts walks every contact page into a
// CustomerWriter in batches; WebhookHandler keeps customers current from
// contact notifications with the same mapping (WebhookConfig.Customers).
//
// # Connect and webhooks
//
// OAuth provides the start and callback handlers of Intercom's OAuth flow
// with a signed, browser-bound state. WebhookHandler verifies
// X-Hub-Signature, counts each notification (WebhookConfig.Meter), drops
// repeats, writes contact topics to WebhookConfig.Customers (creates,
// updates, unsubscribes and tag changes as upserts, deletions as deletes;
// an older notification never overwrites a newer one) and hands them to
// the host as ContactEvent. With WebhookConfig.Store (store.Memory,
// store/postgres) the de-duplication and the per-contact order are shared
// by every replica; handled ids are kept DefaultWebhookRetention (7 days).
// distribution.Manager.WebhookConfig wires all of it to a Manager:
//
//	h, err := intercom.NewWebhookHandler(m.WebhookConfig(clientSecret))
//	mux.Handle("/webhooks/intercom", h)
//
// # Canvas Kit apps
//
// ParseCanvasRequest decodes the requests of the Inbox and Messenger
// flows (CanvasRequest: workspace, admin, conversation, contact, context,
// current canvas, input values, stored data, card creation options);
// CanvasResponse, Canvas and the components (TextComponent,
// ButtonComponent, ListComponent, SingleSelectComponent,
// DropdownComponent, DividerComponent, SpacerComponent, in a
// CanvasContent; SubmitAction for their CanvasAction, CanvasCompleted for
// the CanvasEvent that ends a flow) build the answer, and Validate checks Canvas Kit's rules (2 to 10 options, 64 KB of
// content and of stored data). NewCanvasHandler serves one Canvas Kit URL:
// it checks X-Body-Signature (hex HMAC-SHA256 of the raw body keyed with
// the client secret, constant time) before anything else and answers 401
// when it is missing or wrong. Package distribution/rewards (the Rewards app) is built
// on it. The former names Event, Content, Action, Completed and Submit
// are deprecated aliases of CanvasEvent, CanvasContent, CanvasAction,
// CanvasCompleted and SubmitAction.
//
// Package intercom/intercomtest provides an in-memory Intercom server and a
// FakeMessenger for tests and examples.
package intercom
