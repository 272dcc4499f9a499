package intercom

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// WebhookCustomers is where a [WebhookHandler] writes the customers that
// contact notifications imply. distribution.Manager implements it: its
// writes re-check segment memberships, so auto-update segments and their
// entered/left triggers follow. Customer and DeleteCustomer find a
// customer by id or source_id and report a missing one with an error
// matching customer.ErrNotFound. Implementations must be safe for
// concurrent use.
type WebhookCustomers interface {
	Customer(ctx context.Context, id string) (customer.Customer, error)
	UpsertCustomer(ctx context.Context, c customer.Customer, opts customer.UpsertOptions) (customer.Customer, error)
	DeleteCustomer(ctx context.Context, id string) error
}

// InboundMeter counts calls coming in from Intercom against the
// workspace's API limit (Intercom's webhooks consume it).
// distribution.Manager implements it; an error matching ErrInboundLimit
// says the cap is reached (distribution.Manager.WebhookConfig wires a
// Manager so that its limit error matches).
type InboundMeter interface {
	CountInbound(ctx context.Context) error
}

// ErrInboundLimit reports that the cap on inbound calls is reached: the
// WebhookHandler answers 429 and does not handle the notification.
var ErrInboundLimit = errors.New("intercom: inbound call limit reached")

// TagLister lists the workspace's tags; *Client implements it.
type TagLister interface {
	Tags(ctx context.Context) ([]Tag, error)
}

// syncContact applies a contact notification to the customers, in order
// with the other notifications about the contact.
func (h *WebhookHandler) syncContact(ctx context.Context, ev ContactEvent) error {
	return h.contacts.UpdateContactState(ctx, ev.Contact.ID, func(cur ContactState) (ContactState, error) {
		if ev.Kind == ContactDeleted {
			return h.deleteContact(ctx, ev, cur)
		}
		log := h.log.With("id", ev.Notification.ID, "topic", ev.Notification.Topic, "contact", ev.Contact.ID)
		if !cur.DeletedAt.IsZero() {
			log.InfoContext(ctx, "intercom webhook: contact was deleted; notification dropped")
			return cur, nil
		}
		ver := ev.Contact.UpdatedAt
		if ver.IsZero() {
			ver = ev.Notification.CreatedAt
		}
		if !ver.IsZero() && ver.Before(cur.UpdatedAt) {
			log.InfoContext(ctx, "intercom webhook: older than the contact's last applied update; dropped",
				"version", ver, "applied", cur.UpdatedAt)
			return cur, nil
		}
		var c customer.Customer
		if ev.Kind == ContactTagAdded || ev.Kind == ContactTagRemoved {
			var err error
			if c, err = h.tagChange(ctx, ev, cur); err != nil {
				return cur, err
			}
		} else {
			contact := ev.Contact
			contact.Tags = h.tags.name(ctx, h, contact.Tags)
			c = ContactToCustomer(contact)
		}
		stored, err := h.cfg.Customers.UpsertCustomer(ctx, c, customer.UpsertOptions{Merge: true})
		if err != nil {
			return cur, fmt.Errorf("intercom webhook %s: contact %s: upserting customer %q: %w", ev.Notification.ID, ev.Contact.ID, c.SourceID, err)
		}
		next := cur
		if ver.After(next.UpdatedAt) {
			next.UpdatedAt = ver
		}
		next.SourceID = stored.SourceID
		return next, nil
	})
}

// tagChange returns the upsert a tag notification implies: the stored
// customer's intercom_tags with the tag added or removed, or, for a
// customer not stored yet, the contact mapped as SyncContacts does.
func (h *WebhookHandler) tagChange(ctx context.Context, ev ContactEvent, cur ContactState) (customer.Customer, error) {
	tag := *ev.Tag
	if tag.Name == "" {
		tag = h.tags.name(ctx, h, []Tag{tag})[0]
	} else {
		h.tags.learn(tag)
	}
	var stored customer.Customer
	err := customer.ErrNotFound
	for _, src := range candidates(SourceID(ev.Contact), cur.SourceID) {
		if stored, err = h.cfg.Customers.Customer(ctx, src); !errors.Is(err, customer.ErrNotFound) {
			break
		}
	}
	switch {
	case errors.Is(err, customer.ErrNotFound):
		contact := ev.Contact
		contact.Tags = h.tags.name(ctx, h, contact.Tags)
		ev.Contact, ev.Tag = contact, &tag
		return ev.Customer(), nil
	case err != nil:
		return customer.Customer{}, fmt.Errorf("intercom webhook %s: contact %s: reading the customer: %w", ev.Notification.ID, ev.Contact.ID, err)
	}
	var tags []any
	if list, ok := stored.Metadata[MetaIntercomTags].([]any); ok {
		for _, t := range list {
			if t != tag.Name && t != tag.ID {
				tags = append(tags, t)
			}
		}
	}
	if ev.Kind == ContactTagAdded {
		label := tag.Name
		if label == "" {
			label = tag.ID
		}
		tags = append(tags, label)
	}
	if tags == nil {
		tags = []any{}
	}
	md := customer.Metadata{MetaIntercomTags: tags, MetaIntercomID: ev.Contact.ID, MetaSource: SourceIntercom}
	if ev.Contact.Role != "" {
		md[MetaIntercomRole] = string(ev.Contact.Role)
	}
	return customer.Customer{SourceID: stored.SourceID, Metadata: md}, nil
}

// deleteContact deletes the customers the contact was written as, and
// remembers that the contact is gone.
func (h *WebhookHandler) deleteContact(ctx context.Context, ev ContactEvent, cur ContactState) (ContactState, error) {
	if !cur.DeletedAt.IsZero() {
		return cur, nil
	}
	deleted := 0
	for _, src := range candidates(ev.Contact.ExternalID, cur.SourceID, ContactSourcePrefix+ev.Contact.ID) {
		err := h.cfg.Customers.DeleteCustomer(ctx, src)
		switch {
		case errors.Is(err, customer.ErrNotFound):
		case err != nil:
			return cur, fmt.Errorf("intercom webhook %s: contact %s: deleting customer %q: %w", ev.Notification.ID, ev.Contact.ID, src, err)
		default:
			deleted++
		}
	}
	if deleted == 0 {
		h.log.InfoContext(ctx, "intercom webhook: no customer for the deleted contact", "id", ev.Notification.ID, "contact", ev.Contact.ID)
	}
	next := cur
	next.DeletedAt = ev.Notification.CreatedAt
	if next.DeletedAt.IsZero() {
		next.DeletedAt = h.now()
	}
	return next, nil
}

// candidates returns the non-empty ids, without repeats, in order.
func candidates(ids ...string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// tagRefresh is how often the tag names are listed again at most.
const tagRefresh = time.Minute

// tagCache maps tag ids to names for contacts whose inline tags have no
// names.
type tagCache struct {
	mu     sync.Mutex
	names  map[string]string
	listed time.Time
}

func (c *tagCache) learn(t Tag) {
	if t.ID == "" || t.Name == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[string]string{}
	}
	c.names[t.ID] = t.Name
}

// name fills in the names of tags that have none, listing the tags
// (Config.Tags) when one is unknown, at most once per tagRefresh. It
// returns a new slice when it changes anything.
func (c *tagCache) name(ctx context.Context, h *WebhookHandler, tags []Tag) []Tag {
	missing := false
	for _, t := range tags {
		missing = missing || t.Name == ""
	}
	if !missing {
		return tags
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(tags)
	unknown := false
	for i := range out {
		if out[i].Name == "" {
			out[i].Name = c.names[out[i].ID]
			unknown = unknown || out[i].Name == ""
		}
	}
	if !unknown || h.cfg.Tags == nil || !c.listed.IsZero() && h.now().Sub(c.listed) < tagRefresh {
		return out
	}
	c.listed = h.now()
	list, err := h.cfg.Tags.Tags(ctx)
	if err != nil {
		h.log.WarnContext(ctx, "intercom webhook: listing tags failed; unknown tags are recorded by id", "err", err)
		return out
	}
	if c.names == nil {
		c.names = map[string]string{}
	}
	for _, t := range list {
		c.names[t.ID] = t.Name
	}
	for i := range out {
		if out[i].Name == "" {
			out[i].Name = c.names[out[i].ID]
		}
	}
	return out
}
