package distributiontest

import (
	"context"
	"strconv"
	"sync"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
)

// Channel is a distribution.Channel for tests: it records every message the
// Manager sends through it and succeeds, unless told to fail (FailNext,
// FailCustomer) or to skip a customer (SkipCustomer, through
// distribution.Checker). Register it with distribution.Config.Channels and
// name it in a distribution's ChannelMessage.Channel.
//
// A successful send returns the receipt "<name>-<n>", n counting the
// calls from 1. An error is returned as given: classify it with
// distribution.TransientError (retried), AmbiguousError (may have been
// sent, never repeated) or PermanentError; an unclassified error is
// permanent.
//
// It is safe for concurrent use. Create one with NewChannel.
type Channel struct {
	// PlainText makes HTMLBody report false, so the Manager renders
	// bodies without HTML escaping (as for SMS). Set it before the
	// Manager first uses the channel.
	PlainText bool

	name string

	mu         sync.Mutex
	calls      []Call
	seq        int
	next       []error
	byCustomer map[string]error
	skip       map[string]string
}

// Call is one call of Channel.Send: the message as the Manager gave it and
// what Send returned.
type Call struct {
	Message distribution.Message
	Receipt distribution.Receipt
	Err     error
}

var (
	_ distribution.Channel = (*Channel)(nil)
	_ distribution.Checker = (*Channel)(nil)
)

// NewChannel returns a recording Channel named name (the value of
// ChannelMessage.Channel that selects it).
func NewChannel(name string) *Channel {
	return &Channel{name: name, byCustomer: map[string]error{}, skip: map[string]string{}}
}

// Name implements distribution.Channel.
func (c *Channel) Name() string { return c.name }

// HTMLBody reports whether bodies are HTML (escaped by the Manager): true
// unless PlainText is set.
func (c *Channel) HTMLBody() bool { return !c.PlainText }

// Check implements distribution.Checker: the reason given to SkipCustomer
// for cust (by ID or SourceID), else "" (reachable). It never fails.
func (c *Channel) Check(_ context.Context, cust *customer.Customer) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.skip[cust.ID]; ok {
		return r, nil
	}
	return c.skip[cust.SourceID], nil
}

// Send implements distribution.Channel: it records msg and returns the
// next error queued by FailNext if any, else the error FailCustomer set
// for msg.Customer, else a receipt. It does not look at ctx.
func (c *Channel) Send(_ context.Context, msg distribution.Message) (distribution.Receipt, error) {
	if msg.Customer != nil {
		cust := *msg.Customer // the caller may reuse its customer
		msg.Customer = &cust
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	var err error
	switch {
	case len(c.next) > 0:
		err = c.next[0]
		c.next = c.next[1:]
	case msg.Customer != nil:
		if e, ok := c.byCustomer[msg.Customer.ID]; ok {
			err = e
		} else {
			err = c.byCustomer[msg.Customer.SourceID]
		}
	}
	call := Call{Message: msg, Err: err}
	if err == nil {
		call.Receipt = distribution.Receipt{ProviderMessageID: c.name + "-" + strconv.Itoa(c.seq)}
	}
	c.calls = append(c.calls, call)
	return call.Receipt, err
}

// FailNext queues results for the next calls of Send, one per call in
// order, after any queued before: a non-nil error fails that call, nil
// lets it succeed. Queued results come before FailCustomer's.
func (c *Channel) FailNext(errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next = append(c.next, errs...)
}

// FailCustomer makes every send to the customer whose ID or SourceID is
// id return err; a nil err undoes it.
func (c *Channel) FailCustomer(id string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		delete(c.byCustomer, id)
		return
	}
	c.byCustomer[id] = err
}

// SkipCustomer makes Check report reason for the customer whose ID or
// SourceID is id, so the Manager skips its deliveries on this channel with
// that reason before publishing a code; an empty reason undoes it.
func (c *Channel) SkipCustomer(id, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if reason == "" {
		delete(c.skip, id)
		return
	}
	c.skip[id] = reason
}

// Calls returns every call of Send so far, in the order they were made.
func (c *Channel) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Messages returns the messages of the successful calls of Send, in the
// order they were sent.
func (c *Channel) Messages() []distribution.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []distribution.Message
	for _, call := range c.calls {
		if call.Err == nil {
			out = append(out, call.Message)
		}
	}
	return out
}

// Reset forgets the recorded calls; queued and per-customer errors and
// skips stay, and receipts keep counting.
func (c *Channel) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}
