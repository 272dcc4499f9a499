package intercom

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// Notification is Intercom's webhook envelope (type notification_event).
type Notification struct {
	// ID is the notification id ("notif_..."), unique per event; repeated
	// deliveries carry the same id.
	ID               string
	Topic            string
	AppID            string
	CreatedAt        time.Time
	FirstSentAt      time.Time
	DeliveryAttempts int
	// Item is data.item, the raw JSON of the object the event is about.
	Item json.RawMessage
}

type wireNotification struct {
	Type             string `json:"type"`
	ID               string `json:"id"`
	Topic            string `json:"topic"`
	AppID            string `json:"app_id"`
	CreatedAt        int64  `json:"created_at"`
	FirstSentAt      int64  `json:"first_sent_at"`
	DeliveryAttempts int    `json:"delivery_attempts"`
	Data             struct {
		Item json.RawMessage `json:"item"`
	} `json:"data"`
}

// ContactEventKind says what happened to a contact.
type ContactEventKind int

// The contact event kinds.
const (
	// ContactChanged: created, updated, signed up, email added or changed,
	// unsubscribed, archived or unarchived; Contact is the new state.
	ContactChanged ContactEventKind = iota + 1
	// ContactDeleted: the contact is gone (contact.deleted,
	// contact.user.deleted, contact.lead.deleted); Contact has its id (and
	// external_id when Intercom sent it).
	ContactDeleted
	// ContactTagAdded and ContactTagRemoved: Tag was attached to or
	// removed from Contact.
	ContactTagAdded
	ContactTagRemoved
)

// String returns the kind's name.
func (k ContactEventKind) String() string {
	switch k {
	case ContactChanged:
		return "changed"
	case ContactDeleted:
		return "deleted"
	case ContactTagAdded:
		return "tag_added"
	case ContactTagRemoved:
		return "tag_removed"
	}
	return fmt.Sprintf("ContactEventKind(%d)", int(k))
}

// ContactEvent is a contact.* webhook notification, decoded.
type ContactEvent struct {
	Notification Notification
	Kind         ContactEventKind
	Contact      Contact
	// Tag is set for ContactTagAdded and ContactTagRemoved.
	Tag *Tag
}

// Customer returns the customer update the event implies
// (ContactToCustomer of the contact; for a tag event the tag is added to or
// removed from the contact's tags first). For ContactDeleted use
// SourceID(e.Contact) to find the customer to delete.
func (e ContactEvent) Customer() customer.Customer {
	c := e.Contact
	if e.Tag != nil {
		tags := make([]Tag, 0, len(c.Tags)+1)
		for _, t := range c.Tags {
			if t.ID != e.Tag.ID {
				tags = append(tags, t)
			}
		}
		if e.Kind == ContactTagAdded {
			tags = append(tags, *e.Tag)
		}
		c.Tags = tags
	}
	return ContactToCustomer(c)
}

// ParseContactEvent decodes a contact.* notification. It reports false for
// other topics.
func ParseContactEvent(n Notification) (ContactEvent, bool, error) {
	if !strings.HasPrefix(n.Topic, "contact.") {
		return ContactEvent{}, false, nil
	}
	ev := ContactEvent{Notification: n, Kind: ContactChanged}
	switch {
	case strings.HasSuffix(n.Topic, ".tag.deleted"):
		ev.Kind = ContactTagRemoved
	case n.Topic == "contact.deleted" || strings.HasSuffix(n.Topic, ".deleted"):
		ev.Kind = ContactDeleted
	case strings.HasSuffix(n.Topic, ".tag.created"):
		ev.Kind = ContactTagAdded
	}
	if ev.Kind == ContactTagAdded || ev.Kind == ContactTagRemoved {
		var item struct {
			Tag     *Tag        `json:"tag"`
			Contact wireContact `json:"contact"`
		}
		if err := json.Unmarshal(n.Item, &item); err != nil {
			return ContactEvent{}, true, fmt.Errorf("%w: webhook %s (%s): data.item: %w", ErrInvalid, n.ID, n.Topic, err)
		}
		if item.Tag == nil || item.Tag.ID == "" || item.Contact.ID == "" {
			return ContactEvent{}, true, fmt.Errorf("%w: webhook %s (%s): data.item needs a tag and a contact", ErrInvalid, n.ID, n.Topic)
		}
		ev.Tag, ev.Contact = item.Tag, item.Contact.contact()
		return ev, true, nil
	}
	var w wireContact
	if err := json.Unmarshal(n.Item, &w); err != nil {
		return ContactEvent{}, true, fmt.Errorf("%w: webhook %s (%s): data.item: %w", ErrInvalid, n.ID, n.Topic, err)
	}
	if w.ID == "" {
		return ContactEvent{}, true, fmt.Errorf("%w: webhook %s (%s): data.item has no contact id", ErrInvalid, n.ID, n.Topic)
	}
	ev.Contact = w.contact()
	return ev, true, nil
}
