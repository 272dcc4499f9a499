package rewards

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/intercom"
)

func displayName(c *customer.Customer) string {
	for _, s := range []string{c.Name, c.Email, c.SourceID, c.ID} {
		if s != "" {
			return s
		}
	}
	return "customer"
}

func customerLine(c *customer.Customer) string {
	parts := []string{"Customer " + c.SourceID}
	if c.SourceID == "" {
		parts[0] = "Customer " + c.ID
	}
	if c.Email != "" {
		parts = append(parts, c.Email)
	}
	return strings.Join(parts, " · ")
}

// customerOf resolves the request's contact to a customer: by external id
// (= source_id), by the "intercom:<id>" source id of a contact without
// one, or by the Intercom id a contacts sync keeps in metadata
// (intercom.MetaIntercomID); else by the customer id the app stored in the
// canvas. A canvas explains an unknown customer.
func (a *App) customerOf(ctx context.Context, req *intercom.CanvasRequest) (customer.Customer, *intercom.CanvasResponse, error) {
	ct := req.Contact
	if ct == nil {
		ct = req.User
	}
	if ct != nil {
		c, err := a.findContact(ctx, ct)
		if err == nil {
			return c, nil, nil
		}
		if !errors.Is(err, customer.ErrNotFound) {
			return customer.Customer{}, nil, err
		}
		who := ct.Name
		if who == "" {
			who = ct.Email
		}
		if who == "" {
			who = "contact " + ct.ID
		}
		msg := fmt.Sprintf("%s is not a known customer (no customer with source_id %q or Intercom id %q). Import or sync the customer first.", who, ct.ExternalID, ct.ID)
		if ct.ExternalID == "" {
			msg = fmt.Sprintf("%s is not a known customer (no external id, and no customer with Intercom id %q). Import or sync the customer first.", who, ct.ID)
		}
		return customer.Customer{}, errorCanvas("Customer unknown", msg, false), nil
	}
	if id, _ := req.StoredData[storedCustomer].(string); id != "" {
		c, err := a.m.Customer(ctx, id)
		if err == nil {
			return c, nil, nil
		}
		if !errors.Is(err, customer.ErrNotFound) {
			return customer.Customer{}, nil, err
		}
	}
	return customer.Customer{}, errorCanvas("Customer unknown", "This conversation has no contact that is a known customer.", false), nil
}

func (a *App) findContact(ctx context.Context, ct *intercom.Contact) (customer.Customer, error) {
	if ct.ExternalID != "" {
		c, err := a.m.Customer(ctx, ct.ExternalID)
		if !errors.Is(err, customer.ErrNotFound) {
			return c, err
		}
	}
	if ct.ID == "" {
		return customer.Customer{}, fmt.Errorf("contact without id: %w", customer.ErrNotFound)
	}
	c, err := a.m.Customer(ctx, intercom.ContactSourcePrefix+ct.ID)
	if !errors.Is(err, customer.ErrNotFound) {
		return c, err
	}
	// The Intercom id a contacts sync keeps in metadata: cached, else a
	// scan of the customers (once per contact).
	a.mu.Lock()
	cached := a.byIntcID[ct.ID]
	a.mu.Unlock()
	if cached != "" {
		c, err := a.m.Customer(ctx, cached)
		if err == nil && c.Metadata[intercom.MetaIntercomID] == ct.ID {
			return c, nil
		}
		if err != nil && !errors.Is(err, customer.ErrNotFound) {
			return c, err
		}
	}
	for c, err := range a.m.Customers(ctx, customer.ListOptions{}) {
		if err != nil {
			return customer.Customer{}, err
		}
		if id, _ := c.Metadata[intercom.MetaIntercomID].(string); id == ct.ID {
			a.mu.Lock()
			a.byIntcID[ct.ID] = c.ID
			a.mu.Unlock()
			return a.m.Customer(ctx, c.ID) // a copy of our own
		}
	}
	return customer.Customer{}, fmt.Errorf("contact %s: %w", ct.ID, customer.ErrNotFound)
}
