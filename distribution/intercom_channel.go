package distribution

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/intercom"
)

// Metadata keys where an Intercom contacts sync (intercom.SyncContacts)
// keeps a customer's contact.
const (
	metaIntercomID    = intercom.MetaIntercomID
	metaIntercomRole  = intercom.MetaIntercomRole
	metaIntercomUnsub = intercom.MetaUnsubscribedFromEmails
)

// intercomChannel sends in-app messages or emails through an
// intercom.Messenger, from the configured admin to the customer's contact.
type intercomChannel struct {
	name    string
	typ     intercom.MessageType
	adminID string
	ic      *intercomContacts
}

// Name implements Channel.
func (ch *intercomChannel) Name() string { return ch.name }

// Pace implements Pacer: it waits for the Intercom client's rate limit
// (a Messenger without a Wait method is not paced).
func (ch *intercomChannel) Pace(ctx context.Context) error {
	if ch.ic.waiter == nil {
		return nil
	}
	return ch.ic.waiter.Wait(ctx)
}

// Check implements Checker: the customer must have an Intercom contact;
// for email, an email address and not be unsubscribed from emails.
func (ch *intercomChannel) Check(ctx context.Context, c *customer.Customer) (string, error) {
	email := ch.typ == intercom.Email
	if email && c.Email == "" {
		return ReasonNoEmail, nil
	}
	ref, err := ch.ic.resolve(ctx, c, email)
	if err != nil {
		return "", err
	}
	if email && ref.unsub {
		return ReasonEmailUnsubscribe, nil
	}
	return "", nil
}

// Send implements Channel.
func (ch *intercomChannel) Send(ctx context.Context, msg Message) (Receipt, error) {
	ref, err := ch.ic.resolve(ctx, msg.Customer, false)
	if err != nil {
		return Receipt{}, err
	}
	out := intercom.Message{
		Type:        ch.typ,
		Body:        msg.Body,
		FromAdminID: ch.adminID,
		To:          intercom.Recipient{Role: ref.role, ID: ref.id},
		Paced:       ch.ic.waiter != nil, // Pace took this call from the rate limit
	}
	if ch.typ == intercom.Email {
		out.Subject, out.Template = msg.Subject, msg.Template
		if out.Template == "" {
			out.Template = "plain"
		}
	}
	sent, err := ch.ic.ms.SendMessage(ctx, out)
	if err != nil {
		if errors.Is(err, intercom.ErrContactMerged) || errors.Is(err, intercom.ErrNotFound) {
			ch.ic.forget(msg.Customer.ID)
		}
		return Receipt{}, classifyIntercom(err)
	}
	return Receipt{ProviderMessageID: sent.ID}, nil
}

// classifyIntercom maps an Intercom error to a send class: ErrAmbiguous may
// have been sent; a rate limit or a 404 (a contact created moments ago) is
// worth retrying; invalid input, auth and merged contacts are permanent;
// other errors happened before the request was performed (the client
// reports a possibly performed write as ErrAmbiguous) and are retried.
func classifyIntercom(err error) error {
	var ie *intercom.Error
	switch {
	case errors.Is(err, intercom.ErrAmbiguous):
		return AmbiguousError(err)
	case errors.Is(err, intercom.ErrRateLimited):
		var after time.Duration
		if errors.As(err, &ie) && !ie.RateLimitReset.IsZero() {
			after = time.Until(ie.RateLimitReset) // Intercom's wall-clock instant, whatever the Manager's Clock says
		}
		return RateLimitedError(err, after)
	case errors.Is(err, intercom.ErrNotFound):
		return TransientError(err, 0)
	case errors.Is(err, intercom.ErrInvalid), errors.Is(err, intercom.ErrUnauthorized),
		errors.Is(err, intercom.ErrContactMerged):
		return PermanentError(err)
	case errors.As(err, &ie) && ie.StatusCode >= 400 && ie.StatusCode < 500:
		return PermanentError(err)
	case errors.Is(err, context.Canceled):
		return PermanentError(err)
	default:
		return TransientError(err, 0)
	}
}

// labelCalls labels the provider calls made with ctx for distribution
// distID (intercom.WithCallLabel), so that a shared rate budget accounts
// for them per distribution.
func labelCalls(ctx context.Context, distID string) context.Context {
	return intercom.WithCallLabel(ctx, distID)
}

// contactRef is what the channels need of a customer's Intercom contact.
type contactRef struct {
	id    string
	role  intercom.Role
	unsub bool
	known bool // unsub is known (from the contact or the synced metadata)
}

// intercomContacts resolves customers to Intercom contacts: from the id a
// contacts sync keeps in metadata, else by external id = source_id, and
// caches the answer. Concurrent lookups of one customer (its channels are
// processed in parallel) share one request.
type intercomContacts struct {
	ms intercom.Messenger
	// waiter is ms's rate limit when it can be waited on apart from the
	// call (*intercom.Client can): the channel is then a Pacer.
	waiter interface {
		Wait(ctx context.Context) error
	}
	mu       sync.Mutex
	by       map[string]contactRef     // customer id -> contact
	inflight map[string]*contactLookup // customer id -> lookup under way
}

type contactLookup struct {
	done chan struct{}
	ref  contactRef
	err  error
}

func newIntercomContacts(ms intercom.Messenger) *intercomContacts {
	w, _ := ms.(interface {
		Wait(ctx context.Context) error
	})
	return &intercomContacts{ms: ms, waiter: w, by: map[string]contactRef{}, inflight: map[string]*contactLookup{}}
}

func (ic *intercomContacts) forget(customerID string) {
	ic.mu.Lock()
	delete(ic.by, customerID)
	ic.mu.Unlock()
}

// resolve returns c's contact; with needUnsub the unsubscribed flag must
// be known (fetching the contact when the metadata lacks it).
func (ic *intercomContacts) resolve(ctx context.Context, c *customer.Customer, needUnsub bool) (contactRef, error) {
	// Fast path: a synced customer carries what is needed; no cache entry.
	if ref, ok := refFromMetadata(c); ok && (ref.known || !needUnsub) {
		return ref, nil
	}
	for {
		ic.mu.Lock()
		ref, ok := ic.by[c.ID]
		if ok && (ref.known || !needUnsub) {
			ic.mu.Unlock()
			return ref, nil
		}
		if l := ic.inflight[c.ID]; l != nil {
			ic.mu.Unlock()
			select {
			case <-l.done:
			case <-ctx.Done():
				return contactRef{}, TransientError(ctx.Err(), 0)
			}
			if l.err != nil {
				return contactRef{}, l.err
			}
			continue // cached now (perhaps without the flag needUnsub wants)
		}
		l := &contactLookup{done: make(chan struct{})}
		ic.inflight[c.ID] = l
		ic.mu.Unlock()

		l.ref, l.err = ic.lookup(ctx, c, needUnsub)
		ic.mu.Lock()
		if l.err == nil {
			ic.by[c.ID] = l.ref
		}
		delete(ic.inflight, c.ID)
		ic.mu.Unlock()
		close(l.done)
		return l.ref, l.err
	}
}

func (ic *intercomContacts) lookup(ctx context.Context, c *customer.Customer, needUnsub bool) (contactRef, error) {
	if ref, ok := refFromMetadata(c); ok {
		id := ref.id
		if needUnsub && !ref.known {
			ct, err := ic.ms.GetContact(ctx, id)
			if err != nil {
				return contactRef{}, lookupErr(err, "contact "+id)
			}
			ref = refOf(ct)
		}
		return ref, nil
	}
	if c.SourceID != "" {
		ct, err := ic.ms.FindContactByExternalID(ctx, c.SourceID)
		if err != nil {
			return contactRef{}, lookupErr(err, "external_id "+c.SourceID)
		}
		return refOf(ct), nil
	}
	return contactRef{}, PermanentError(fmt.Errorf("%s: the customer has neither metadata.%s nor a source_id", ReasonNoContact, metaIntercomID))
}

// refFromMetadata reads the contact a contacts sync recorded on c.
func refFromMetadata(c *customer.Customer) (contactRef, bool) {
	id, _ := c.Metadata[metaIntercomID].(string)
	if id == "" {
		return contactRef{}, false
	}
	ref := contactRef{id: id, role: intercom.RoleUser}
	if r, _ := c.Metadata[metaIntercomRole].(string); r == string(intercom.RoleLead) {
		ref.role = intercom.RoleLead
	}
	if u, isBool := c.Metadata[metaIntercomUnsub].(bool); isBool {
		ref.unsub, ref.known = u, true
	}
	return ref, true
}

func refOf(ct intercom.Contact) contactRef {
	role := ct.Role
	if role == "" {
		role = intercom.RoleUser
	}
	return contactRef{id: ct.ID, role: role, unsub: ct.UnsubscribedFromEmails, known: true}
}

// lookupErr classifies a failed contact lookup (a read, safe to repeat).
// A 429 is RateLimited: the pipeline waits for the reset and checks
// again, keeping the delivery's place.
func lookupErr(err error, what string) error {
	err = fmt.Errorf("%s (%s): %w", ReasonNoContact, what, err)
	var ie *intercom.Error
	switch {
	case errors.Is(err, intercom.ErrRateLimited):
		var after time.Duration
		if errors.As(err, &ie) && !ie.RateLimitReset.IsZero() {
			after = time.Until(ie.RateLimitReset) // Intercom's wall-clock instant
		}
		return RateLimitedError(err, after)
	case errors.Is(err, intercom.ErrNotFound), errors.Is(err, intercom.ErrContactMerged),
		errors.Is(err, intercom.ErrUnauthorized), errors.Is(err, intercom.ErrInvalid):
		return PermanentError(err)
	default:
		return TransientError(err, 0)
	}
}
