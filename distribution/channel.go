package distribution

import (
	"context"

	"github.com/codedrop/codedrop/customer"
)

// Channel delivers one rendered message to one customer through one
// provider. The built-in channels are IntercomInApp and IntercomEmail;
// hosts register their own with Config.Channels. Implementations must be
// safe for concurrent use.
type Channel interface {
	// Name is the value of ChannelMessage.Channel that selects it.
	Name() string
	// Send delivers msg and returns the provider's message id. Errors
	// should be classified with TransientError (not sent, retry later) or
	// AmbiguousError (may have been sent: never repeated automatically);
	// any other error is permanent (not sent, not retried).
	// msg.Delivery.ID is stable across attempts: pass it to the provider
	// as an idempotency key when it supports one.
	Send(ctx context.Context, msg Message) (Receipt, error)
}

// Checker is an optional interface of a Channel: before a code is
// published, the Manager asks whether the customer can be reached at all.
// A non-empty skip reason skips the delivery (recorded with that reason);
// an error fails it (classified like Send's).
type Checker interface {
	Check(ctx context.Context, c *customer.Customer) (skip string, err error)
}

// Message is one rendered message for one customer.
type Message struct {
	// Delivery is the ledger record being sent (State is sending).
	Delivery Delivery
	Customer *customer.Customer
	// Subject (email channels) and Body are rendered; Template is the
	// channel's template name, as configured.
	Subject, Body, Template string
	// Code is the published code, empty for a plain message.
	Code string
}

// Pacer is an optional interface of a Channel whose provider limits its
// request rate. The Manager calls Pace right before it moves a delivery to
// sending, and Send right after, so a delivery is in sending only while
// its request can actually be in flight: waiting for the rate limit
// happens before, and a crash then leaves the delivery scheduled, not
// unknown. Pace blocks until the provider would accept one more request
// and takes it from the budget; Send must then not wait for the rate
// limit again. It returns ctx's error if ctx ends first.
type Pacer interface {
	Pace(ctx context.Context) error
}

// HTMLBodier is an optional interface of a Channel: it says whether the
// channel's bodies are HTML. Template values are HTML-escaped in the
// bodies of a channel that does not implement it or returns true (the
// built-in Intercom channels), and inserted as they are when it returns
// false (an SMS channel, say). Email subjects are never escaped.
type HTMLBodier interface {
	HTMLBody() bool
}

// Receipt is a channel's answer to a sent message.
type Receipt struct {
	// ProviderMessageID is the provider's id for the message.
	ProviderMessageID string
	// pending: the message was handed over and the provider confirms it
	// later (a reward card Intercom inserts when it calls back); the
	// delivery stays in sending until then.
	pending bool
}
