package distribution

import (
	"context"
	"fmt"
	"strings"
)

// CreateConsent stores a consent definition and returns it with its id.
// Name is required and unique (ErrNameTaken).
func (m *Manager) CreateConsent(ctx context.Context, c Consent) (Consent, error) {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		return Consent{}, fmt.Errorf("consent: name: required: %w", ErrInvalid)
	}
	now := m.clock.Now()
	c.ID, c.CreatedAt, c.UpdatedAt = newConsentID(), now, now
	if err := m.store.CreateConsent(ctx, c); err != nil {
		return Consent{}, fmt.Errorf("consent %q: %w", c.Name, err)
	}
	return c, nil
}

// Consent returns the consent definition with id.
func (m *Manager) Consent(ctx context.Context, id string) (Consent, error) {
	return m.store.GetConsent(ctx, id)
}

// Consents lists the consent definitions, oldest first.
func (m *Manager) Consents(ctx context.Context) ([]Consent, error) {
	return m.store.ListConsents(ctx)
}

// UpdateConsent changes a consent's name, description and category.
func (m *Manager) UpdateConsent(ctx context.Context, c Consent) (Consent, error) {
	cur, err := m.store.GetConsent(ctx, c.ID)
	if err != nil {
		return Consent{}, err
	}
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		return Consent{}, fmt.Errorf("consent %s: name: required: %w", c.ID, ErrInvalid)
	}
	c.CreatedAt, c.UpdatedAt = cur.CreatedAt, m.clock.Now()
	if err := m.store.UpdateConsent(ctx, c); err != nil {
		return Consent{}, fmt.Errorf("consent %s: %w", c.ID, err)
	}
	return c, nil
}

// DeleteConsent removes a consent definition that no draft, scheduled or
// sending distribution requires (ErrConflict otherwise).
func (m *Manager) DeleteConsent(ctx context.Context, id string) error {
	ds, err := m.store.ListDistributions(ctx, StatusDraft, StatusScheduled, StatusSending)
	if err != nil {
		return err
	}
	for _, d := range ds {
		for _, req := range d.Consents.Required {
			if req == id {
				return fmt.Errorf("consent %s: required by distribution %s (%q): %w", id, d.ID, d.Name, ErrConflict)
			}
		}
	}
	return m.store.DeleteConsent(ctx, id)
}
