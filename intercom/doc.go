// Package intercom is a client for Intercom's REST API (messages, contacts,
// data attributes, tags), its OAuth connect flow, webhook verification and
// the Canvas Kit protocol, with client-side rate limiting and typed errors.
// It imports only package customer from codedrop.
//
// Package intercom/intercomtest provides a fake Intercom server for tests
// and examples.
package intercom
