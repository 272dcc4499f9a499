package distribution

import "github.com/codedrop/codedrop/codes"

// Names that moved to package codes. They are aliases, so values of both
// packages mix freely; new code uses package codes.

// CodeSource publishes codes to customers.
//
// Deprecated: use codes.Source.
type CodeSource = codes.Source

// Campaign is a source of unique codes.
//
// Deprecated: use codes.Campaign.
type Campaign = codes.Campaign

// CampaignType says where a campaign's codes come from.
//
// Deprecated: use codes.CampaignType.
type CampaignType = codes.CampaignType

// CodeConfig describes how a campaign generates codes.
//
// Deprecated: use codes.CodeConfig.
type CodeConfig = codes.CodeConfig

// Campaigns is the in-memory code source and campaign registry.
//
// Deprecated: use codes.Memory.
type Campaigns = codes.Memory

// CampaignsConfig configures NewCampaigns.
//
// Deprecated: use codes.Config.
type CampaignsConfig = codes.Config

// PublishRequest asks a code source for one code for one customer.
//
// Deprecated: use codes.PublishRequest.
type PublishRequest = codes.PublishRequest

// Publication records that a code was assigned to a customer.
//
// Deprecated: use codes.Publication.
type Publication = codes.Publication

// BatchPublisher is an optional interface of a code source that publishes
// several codes in one call.
//
// Deprecated: use codes.BatchPublisher.
type BatchPublisher = codes.BatchPublisher

// ErrNoCodesLeft reports that a campaign cannot publish another code.
//
// Deprecated: use codes.ErrNoCodesLeft (the same value).
var ErrNoCodesLeft = codes.ErrNoCodesLeft

// NewCampaigns returns an empty in-memory code source.
//
// Deprecated: use codes.NewMemory.
func NewCampaigns(cfg CampaignsConfig) *Campaigns { return codes.NewMemory(cfg) }

// Campaign types.
//
// Deprecated: use codes.AutoUpdate and codes.Pool.
const (
	CampaignAutoUpdate = codes.AutoUpdate
	CampaignPool       = codes.Pool
)

// Character sets of CodeConfig.Charset.
//
// Deprecated: use codes.CharsetAlphanumeric and the other codes.Charset*
// names.
const (
	CharsetAlphanumeric = codes.CharsetAlphanumeric
	CharsetAlphabetic   = codes.CharsetAlphabetic
	CharsetLowercase    = codes.CharsetLowercase
	CharsetUppercase    = codes.CharsetUppercase
	CharsetNumbers      = codes.CharsetNumbers
)

// Code limits.
//
// Deprecated: use codes.DefaultCodeLength and codes.MaxPoolCount.
const (
	DefaultCodeLength = codes.DefaultCodeLength
	MaxPoolCount      = codes.MaxPoolCount
)
