// Package intercomtest runs an in-memory Intercom API over real HTTP for
// tests and examples: seeded contacts and admins, recorded messages,
// contacts, tags and data attributes, OAuth authorize and token endpoints
// that approve at once, X-RateLimit-* headers with an optional enforced
// limit, and fault injection (429 bursts, 5xx, latency, dropped
// connections).
//
// The enforced limit (RateLimit) counts fixed windows as Intercom does;
// RateLimitPhase shifts them off the client's whole seconds and
// RateLimitReset(ResetTruncate) makes X-RateLimit-Reset name the second
// before the real reset, the harder case for a client. Windows tells what
// each window served and refused (budget use, 429s).
//
//	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "u1"}))
//	defer srv.Close()
//	client := srv.Client() // an *intercom.Client wired to srv
//	...
//	msgs := srv.Messages() // what Intercom received
//
// For Canvas Kit apps, CanvasRequest signs a request as Intercom does,
// CanvasCall builds the documented bodies, and Server.Inbox plays a
// teammate using an app in a conversation (initialize, submit, and the
// Messenger card Intercom inserts for card_creation_options, recorded in
// Server.Cards; replies the app posts are in Server.Replies).
//
// The request path that sends messages is kept lean (no logging, O(1)
// recording) so that benchmarks can push many messages through it.
package intercomtest
