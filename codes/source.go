package codes

import (
	"context"
	"fmt"
	"time"
)

// Source publishes codes to customers. A host plugs its own coupon system
// (or Voucherify's publications API) in by implementing it; [Memory] is
// the in-memory default and store/postgres.Codes the durable one. The
// conformance suite codes/codestest checks an implementation.
//
// Implementations must be safe for concurrent use.
type Source interface {
	// Publish assigns one code to req.CustomerID. It is idempotent by
	// req.Key: the same key returns the same Publication (and never
	// consumes a second code), even after a restart for durable sources.
	//
	// Errors: ErrNoCodesLeft (errors.Is) when the campaign has no code
	// left; ErrNotFound for an unknown campaign; ErrInvalid for a request
	// missing Key, CampaignID or CustomerID; ErrConflict when Key was
	// already used for another campaign or customer.
	Publish(ctx context.Context, req PublishRequest) (Publication, error)
}

// Registry is an optional interface of a [Source] that holds its own
// campaigns: a distribution.Manager creates campaigns through it
// (Manager.CreateCampaign) and checks and resolves the campaigns that
// distributions, triggers and rewards name. [Memory] and
// store/postgres.Codes implement it, and so do the stores that provide
// codes (store.Memory, store/postgres.Store).
//
// Implementations must be safe for concurrent use.
type Registry interface {
	// CreateCampaign validates c (see [ValidateCampaign]), reserves its
	// codes and stores it. It returns the stored campaign with ID, Type,
	// CreatedAt and the normalized Code config set. A name already in use,
	// or an imported code another campaign holds, fails with ErrConflict;
	// on any error nothing is stored.
	CreateCampaign(ctx context.Context, c Campaign) (Campaign, error)
	// Campaign returns the campaign with the given id or unique name. An
	// unknown campaign fails with ErrNotFound.
	Campaign(ctx context.Context, idOrName string) (Campaign, error)
}

// BatchPublisher is an optional interface of a [Source]: a fan-out that
// finds it publishes the codes of several deliveries in one call.
// store/postgres.Codes implements it.
//
// Implementations must be safe for concurrent use.
type BatchPublisher interface {
	// PublishBatch is Publish for every request, with the same
	// idempotency and errors, per request: pubs[i] and errs[i] are
	// reqs[i]'s result. Requests do not fail each other.
	PublishBatch(ctx context.Context, reqs []PublishRequest) (pubs []Publication, errs []error)
}

// PublishRequest asks a [Source] for one code for one customer.
type PublishRequest struct {
	// Key makes Publish idempotent, e.g. distribution id + customer id +
	// trigger key. Required.
	Key string
	// CampaignID is the campaign to take the code from. Required. A
	// Source that is a [Registry] also accepts the campaign's unique name.
	CampaignID string
	// CustomerID receives the code. Required.
	CustomerID string
	// DistributionID is the distribution publishing the code (empty for a
	// publication made outside a distribution).
	DistributionID string
	// Channel is the channel the code is sent through; it may be empty for a
	// send through several channels.
	Channel string
	// Metadata is optional and stored with the publication.
	Metadata map[string]any
}

// Validate checks the fields every request needs (Key, CampaignID,
// CustomerID). The error wraps ErrInvalid and starts with the field
// ("key: required"). A Source calls it before anything else.
func (r PublishRequest) Validate() error {
	switch {
	case r.Key == "":
		return fmt.Errorf("key: required: %w", ErrInvalid)
	case r.CampaignID == "":
		return fmt.Errorf("campaign_id: required: %w", ErrInvalid)
	case r.CustomerID == "":
		return fmt.Errorf("customer_id: required: %w", ErrInvalid)
	}
	return nil
}

// Publication records that a code was assigned to a customer.
type Publication struct {
	ID             string // "pub_..."
	Key            string // the PublishRequest.Key that created it
	CampaignID     string
	CampaignName   string
	Code           string
	CustomerID     string
	DistributionID string
	Channel        string
	Metadata       map[string]any
	CreatedAt      time.Time
}
