package intercom

import (
	"context"
	"fmt"

	"github.com/codedrop/codedrop/customer"
)

// Metadata keys and values set on customers made from Intercom contacts.
const (
	// MetaSource holds SourceIntercom.
	MetaSource = "source"
	// SourceIntercom marks customers that came from Intercom.
	SourceIntercom = "Intercom"
	// MetaIntercomID holds the Intercom contact id: the id to address
	// messages to (Recipient.ID).
	MetaIntercomID = "intercom_id"
	// MetaIntercomRole holds the contact's role, "user" or "lead"
	// (Recipient.Role).
	MetaIntercomRole = "intercom_role"
	// MetaIntercomTags holds the contact's tag names (ids where no name is
	// known) as an array.
	MetaIntercomTags = "intercom_tags"
	// MetaUnsubscribedFromEmails holds the contact's
	// unsubscribed_from_emails flag.
	MetaUnsubscribedFromEmails = "intercom_unsubscribed_from_emails"
	// ContactSourcePrefix starts the SourceID of a contact without an
	// external_id (a lead, usually): "intercom:" + its Intercom id.
	ContactSourcePrefix = "intercom:"
)

// SourceID is the customer SourceID for a contact: its external_id (the
// host's user id) when set, else ContactSourcePrefix + its Intercom id.
// A lead that later gets an external_id therefore changes SourceID.
func SourceID(c Contact) string {
	if c.ExternalID != "" {
		return c.ExternalID
	}
	return ContactSourcePrefix + c.ID
}

// ContactToCustomer maps a contact to a customer: SourceID (see SourceID),
// name, email, phone, custom attributes as metadata (a null attribute
// becomes a nil value, which a merging upsert treats as removal), tags as
// MetaIntercomTags, and the MetaIntercomID, MetaIntercomRole,
// MetaUnsubscribedFromEmails and MetaSource keys, which win over custom
// attributes of the same name. ID, timestamps and consents are left zero
// for the store.
func ContactToCustomer(c Contact) customer.Customer {
	md := make(customer.Metadata, len(c.CustomAttributes)+5)
	for k, v := range c.CustomAttributes {
		md[k] = v
	}
	tags := make([]any, 0, len(c.Tags))
	for _, t := range c.Tags {
		if t.Name != "" {
			tags = append(tags, t.Name)
		} else {
			tags = append(tags, t.ID)
		}
	}
	md[MetaIntercomTags] = tags
	md[MetaIntercomID] = c.ID
	md[MetaIntercomRole] = string(c.Role)
	md[MetaUnsubscribedFromEmails] = c.UnsubscribedFromEmails
	md[MetaSource] = SourceIntercom
	return customer.Customer{
		SourceID: SourceID(c),
		Name:     c.Name,
		Email:    c.Email,
		Phone:    c.Phone,
		Metadata: md,
	}
}

// CustomerWriter is where SyncContacts writes customers; customer.Store
// implements it. It must be safe to call from the goroutine running
// SyncContacts.
type CustomerWriter interface {
	UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error)
}

// SyncOptions tunes SyncContacts.
type SyncOptions struct {
	// BatchSize is the number of customers per UpsertCustomers call.
	// Default 100.
	BatchSize int
	// PerPage is the contacts page size. Default MaxPerPage.
	PerPage int
	// Replace replaces stored customers instead of merging into them
	// (customer.UpsertOptions.Merge false). By default fields the contact
	// leaves empty keep their stored values.
	Replace bool
	// Progress, when set, is called after every batch with the totals so far.
	Progress func(SyncProgress)
}

// SyncProgress counts a sync's work.
type SyncProgress struct {
	Contacts int // contacts read from Intercom
	Upserted int // customers written
	Batches  int // UpsertCustomers calls
}

// SyncContacts walks every contact page and upserts the contacts as
// customers (ContactToCustomer) in batches, resolving tag ids to names
// once through GET /tags. It returns the totals; on error, the totals of
// the work done before it (every earlier batch is stored).
func (c *Client) SyncContacts(ctx context.Context, w CustomerWriter, opts SyncOptions) (SyncProgress, error) {
	var p SyncProgress
	if w == nil {
		return p, fmt.Errorf("%w: SyncContacts: nil CustomerWriter", ErrInvalid)
	}
	size := opts.BatchSize
	if size <= 0 {
		size = 100
	}
	tags, err := c.Tags(ctx)
	if err != nil {
		return p, fmt.Errorf("intercom: sync: listing tags: %w", err)
	}
	names := make(map[string]string, len(tags))
	for _, t := range tags {
		names[t.ID] = t.Name
	}
	batch := make([]customer.Customer, 0, size)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		// Handoff: each customer's maps are fresh (ContactToCustomer) and
		// not used again.
		out, err := w.UpsertCustomers(ctx, batch, customer.UpsertOptions{Merge: !opts.Replace, Handoff: true})
		if err != nil {
			return fmt.Errorf("intercom: sync: upserting batch %d (contacts %d-%d): %w", p.Batches+1, p.Contacts-len(batch)+1, p.Contacts, err)
		}
		p.Upserted += len(out)
		p.Batches++
		batch = batch[:0]
		if opts.Progress != nil {
			opts.Progress(p)
		}
		return nil
	}
	for ct, err := range c.Contacts(ctx, ListOptions{PerPage: opts.PerPage}) {
		if err != nil {
			return p, fmt.Errorf("intercom: sync: listing contacts: %w", err)
		}
		for i, t := range ct.Tags {
			if t.Name == "" {
				ct.Tags[i].Name = names[t.ID]
			}
		}
		p.Contacts++
		batch = append(batch, ContactToCustomer(ct))
		if len(batch) == size {
			if err := flush(); err != nil {
				return p, err
			}
		}
	}
	return p, flush()
}
