package postgres

import (
	"context"

	"github.com/codedrop/codedrop/codes"
)

// Store provides codes: it holds a [Codes] on the same pool, so a
// distribution.Manager on a postgres.Store publishes from the campaigns,
// codes and publications tables without Config.Codes.
var (
	_ codes.Source         = (*Store)(nil)
	_ codes.Registry       = (*Store)(nil)
	_ codes.BatchPublisher = (*Store)(nil)
)

// Codes returns the code source the Store holds (made by [New] with
// time.Now as its clock).
func (s *Store) Codes() *Codes { return s.codes }

// Publish implements codes.Source (see [Codes.Publish]).
func (s *Store) Publish(ctx context.Context, req codes.PublishRequest) (codes.Publication, error) {
	return s.codes.Publish(ctx, req)
}

// PublishBatch implements codes.BatchPublisher (see [Codes.PublishBatch]).
func (s *Store) PublishBatch(ctx context.Context, reqs []codes.PublishRequest) ([]codes.Publication, []error) {
	return s.codes.PublishBatch(ctx, reqs)
}

// CreateCampaign implements codes.Registry (see [Codes.CreateCampaign]).
func (s *Store) CreateCampaign(ctx context.Context, c codes.Campaign) (codes.Campaign, error) {
	return s.codes.CreateCampaign(ctx, c)
}

// Campaign implements codes.Registry (see [Codes.Campaign]).
func (s *Store) Campaign(ctx context.Context, idOrName string) (codes.Campaign, error) {
	return s.codes.Campaign(ctx, idOrName)
}

// Publications returns the campaign's publications in the order they
// were made (see [Codes.Publications]).
func (s *Store) Publications(ctx context.Context, campaignID string) ([]codes.Publication, error) {
	return s.codes.Publications(ctx, campaignID)
}

// Remaining returns how many pool codes the campaign can still publish,
// -1 for an auto-update campaign (see [Codes.Remaining]).
func (s *Store) Remaining(ctx context.Context, campaignID string) (int, error) {
	return s.codes.Remaining(ctx, campaignID)
}

// Published returns how many codes the campaign has published (see
// [Codes.Published]).
func (s *Store) Published(ctx context.Context, campaignID string) (int, error) {
	return s.codes.Published(ctx, campaignID)
}
