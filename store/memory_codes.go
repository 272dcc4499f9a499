package store

import (
	"context"

	"github.com/codedrop/codedrop/codes"
)

// Memory provides codes: it holds a *codes.Memory (campaigns, their codes
// and publications), so a distribution.Manager on a store.Memory publishes
// from it without Config.Codes, and every Manager on the same Memory sees
// the same campaigns.
var (
	_ codes.Source   = (*Memory)(nil)
	_ codes.Registry = (*Memory)(nil)
)

// Codes returns the in-memory code source the store holds.
func (m *Memory) Codes() *codes.Memory { return m.codes }

// Publish implements codes.Source (see codes.Memory.Publish).
func (m *Memory) Publish(ctx context.Context, req codes.PublishRequest) (codes.Publication, error) {
	return m.codes.Publish(ctx, req)
}

// CreateCampaign implements codes.Registry (see
// codes.Memory.CreateCampaign).
func (m *Memory) CreateCampaign(ctx context.Context, c codes.Campaign) (codes.Campaign, error) {
	return m.codes.CreateCampaign(ctx, c)
}

// Campaign implements codes.Registry: the campaign with the given id or
// unique name (ErrNotFound when none).
func (m *Memory) Campaign(ctx context.Context, idOrName string) (codes.Campaign, error) {
	return m.codes.Campaign(ctx, idOrName)
}

// Publications returns the campaign's publications in the order they
// were made (see codes.Memory.Publications).
func (m *Memory) Publications(ctx context.Context, campaignID string) ([]codes.Publication, error) {
	return m.codes.Publications(ctx, campaignID)
}

// Remaining returns how many codes the campaign can still publish, -1 for
// an auto-update campaign (see codes.Memory.Remaining).
func (m *Memory) Remaining(ctx context.Context, campaignID string) (int, error) {
	return m.codes.Remaining(ctx, campaignID)
}

// Published returns how many codes the campaign has published (see
// codes.Memory.Published).
func (m *Memory) Published(ctx context.Context, campaignID string) (int, error) {
	return m.codes.Published(ctx, campaignID)
}
