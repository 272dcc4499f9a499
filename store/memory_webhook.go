package store

import (
	"context"
	"time"

	"github.com/codedrop/codedrop/intercom"
)

// Memory keeps the state of Intercom webhooks (intercom.WebhookStore) for
// the handlers of this process: pass it as intercom.WebhookConfig.Store.
var _ intercom.WebhookStore = (*Memory)(nil)

// ClaimNotification implements intercom.WebhookStore.
func (m *Memory) ClaimNotification(ctx context.Context, id string, now time.Time, lease time.Duration) (intercom.ClaimResult, error) {
	return m.hooks.ClaimNotification(ctx, id, now, lease)
}

// FinishNotification implements intercom.WebhookStore.
func (m *Memory) FinishNotification(ctx context.Context, id string, handled bool, now time.Time) error {
	return m.hooks.FinishNotification(ctx, id, handled, now)
}

// UpdateContactState implements intercom.WebhookStore. The contact's lock
// is not the store's: fn may write customers.
func (m *Memory) UpdateContactState(ctx context.Context, contactID string, fn func(intercom.ContactState) (intercom.ContactState, error)) error {
	return m.hooks.UpdateContactState(ctx, contactID, fn)
}

// PruneWebhookState implements intercom.WebhookStore.
func (m *Memory) PruneWebhookState(ctx context.Context, before time.Time) (int, error) {
	return m.hooks.PruneWebhookState(ctx, before)
}
