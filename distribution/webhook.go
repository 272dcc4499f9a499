package distribution

import (
	"context"
	"errors"
	"fmt"

	"github.com/codedrop/codedrop/intercom"
)

// The Manager is what an Intercom webhook handler writes customers to and
// counts its calls with.
var (
	_ intercom.WebhookCustomers = (*Manager)(nil)
	_ intercom.InboundMeter     = (*Manager)(nil)
)

// WebhookConfig returns the configuration of an intercom.WebhookHandler
// that keeps the Manager's customers current from Intercom's contact
// notifications (created, updated, leads, unsubscribes, tags, deletions;
// see intercom.WebhookHandler): its writes go through UpsertCustomer and
// DeleteCustomer, so auto-update segments and their entered/left
// triggers follow. Every notification is counted against the API limit
// (CountInbound); over Config.Limits.API the handler answers 429 and
// handles nothing. When the Store implements intercom.WebhookStore
// (store.Memory and store/postgres do) it holds the de-duplication and
// the per-contact order, so replicas sharing it handle each notification
// once and in order.
//
// secret is the Intercom app's client_secret. The host may set more
// fields before building the handler: OnContact or OnNotification for its
// own handling (they run after the Manager's), Tags (an *intercom.Client)
// to name tags, Retention, MaxBodyBytes.
//
//	h, err := intercom.NewWebhookHandler(m.WebhookConfig(os.Getenv("INTERCOM_CLIENT_SECRET")))
//	mux.Handle("/webhooks/intercom", h)
func (m *Manager) WebhookConfig(secret string) intercom.WebhookConfig {
	cfg := intercom.WebhookConfig{
		Secret:    secret,
		Customers: m,
		Meter:     webhookMeter{m},
		Now:       m.clock.Now,
		Logger:    m.log,
	}
	if ws, ok := m.store.(intercom.WebhookStore); ok {
		cfg.Store = ws
	}
	return cfg
}

// webhookMeter is CountInbound with its limit error also matching
// intercom.ErrInboundLimit, so the handler answers 429.
type webhookMeter struct{ m *Manager }

func (w webhookMeter) CountInbound(ctx context.Context) error {
	err := w.m.CountInbound(ctx)
	if errors.Is(err, ErrLimitExceeded) {
		return fmt.Errorf("%w (%w)", err, intercom.ErrInboundLimit)
	}
	return err
}
