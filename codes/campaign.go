package codes

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// CampaignType says where a campaign's codes come from.
type CampaignType string

const (
	// AutoUpdate generates a code on demand for each publication (after
	// any imported or pre-generated codes are used up). It runs out only
	// when its code space is used up (see [Generator]).
	AutoUpdate CampaignType = "auto-update"
	// Pool publishes a fixed set of codes (an imported list, a
	// pre-generated count, or both) and then fails with ErrNoCodesLeft.
	Pool CampaignType = "pool"
)

// MaxPoolCount bounds Campaign.Count, the number of codes pre-generated at
// creation, and the number of imported codes.
const MaxPoolCount = 1_000_000

// maxNameLen bounds Campaign.Name, in characters.
const maxNameLen = 200

// Campaign is a source of unique codes, like a Voucherify campaign of
// unique codes.
type Campaign struct {
	ID   string // "camp_...", set by CreateCampaign
	Name string // unique among campaigns
	// Type is AutoUpdate or Pool. Zero value: Pool when Codes or Count is
	// set, AutoUpdate otherwise.
	Type CampaignType
	// Code configures generated codes. CreateCampaign returns it normalized
	// (Charset and Length filled in with their defaults).
	Code CodeConfig
	// Codes are imported codes, published first and in this order. They are
	// copied literally (not checked against Code) and must be unique across
	// all campaigns.
	Codes []string
	// Count codes are generated from Code at creation and published after
	// Codes. The code space must hold at least twice Count codes (see
	// ValidateCampaign).
	Count     int
	CreatedAt time.Time
}

// ValidateCampaign checks c as every [Registry.CreateCampaign] of codedrop
// does, before anything is stored, and returns it normalized (Type and
// Code filled in with their defaults) with the generator of its code
// config. A Registry implementation calls it first.
//
// Errors wrap ErrInvalid and name the field ("id", "name", "created_at",
// "type", "count", "codes[3]", "code.charset", ...). A pool's Count must
// leave headroom in its code space: the charset size to the power of the
// number of random characters must be at least 2*Count, so that random
// generation rarely collides (the rule of Voucherify's generator is only
// "space >= count"); otherwise the error names code.pattern or code.length
// and gives both numbers.
func ValidateCampaign(c Campaign) (Campaign, *Generator, error) {
	if c.ID != "" {
		return c, nil, fmt.Errorf("id: %q must be empty, CreateCampaign sets it: %w", c.ID, ErrInvalid)
	}
	if strings.TrimSpace(c.Name) == "" {
		return c, nil, fmt.Errorf("name: required: %w", ErrInvalid)
	}
	if c.Name != strings.TrimSpace(c.Name) {
		return c, nil, fmt.Errorf("name: %q has leading or trailing spaces: %w", c.Name, ErrInvalid)
	}
	if !utf8.ValidString(c.Name) || utf8.RuneCountInString(c.Name) > maxNameLen {
		return c, nil, fmt.Errorf("name: must be valid UTF-8 of at most %d characters: %w", maxNameLen, ErrInvalid)
	}
	if !c.CreatedAt.IsZero() {
		return c, nil, fmt.Errorf("created_at: must be zero, CreateCampaign sets it: %w", ErrInvalid)
	}
	switch c.Type {
	case "":
		c.Type = AutoUpdate
		if len(c.Codes) > 0 || c.Count > 0 {
			c.Type = Pool
		}
	case AutoUpdate, Pool:
	default:
		return c, nil, fmt.Errorf("type: unknown campaign type %q (want %q or %q): %w", c.Type, AutoUpdate, Pool, ErrInvalid)
	}
	if c.Count < 0 {
		return c, nil, fmt.Errorf("count: %d is negative: %w", c.Count, ErrInvalid)
	}
	if c.Count > MaxPoolCount {
		return c, nil, fmt.Errorf("count: %d exceeds %d: %w", c.Count, MaxPoolCount, ErrInvalid)
	}
	if c.Type == Pool && len(c.Codes) == 0 && c.Count == 0 {
		return c, nil, fmt.Errorf("count: a pool campaign needs imported codes or a count of codes to generate: %w", ErrInvalid)
	}
	if len(c.Codes) > MaxPoolCount {
		return c, nil, fmt.Errorf("codes: %d codes exceed %d: %w", len(c.Codes), MaxPoolCount, ErrInvalid)
	}
	seen := make(map[string]int, len(c.Codes))
	for i, code := range c.Codes {
		if err := validateCode(code); err != nil {
			return c, nil, fmt.Errorf("codes[%d]: %w", i, err)
		}
		if j, dup := seen[code]; dup {
			return c, nil, fmt.Errorf("codes[%d]: %q duplicates codes[%d]: %w", i, code, j, ErrInvalid)
		}
		seen[code] = i
	}
	gen, err := NewGenerator(c.Code)
	if err != nil {
		return c, nil, err
	}
	c.Code = gen.cfg
	if c.Count > 0 && gen.capacity/2 < uint64(c.Count) {
		return c, nil, fmt.Errorf("%s: %s gives only %d possible codes; count %d needs at least %d (2x headroom): %w",
			gen.field, gen, gen.capacity, c.Count, 2*uint64(c.Count), ErrInvalid)
	}
	return c, gen, nil
}

// validateCode checks one imported code.
func validateCode(code string) error {
	switch {
	case code == "":
		return fmt.Errorf("empty code: %w", ErrInvalid)
	case !utf8.ValidString(code):
		return fmt.Errorf("code %q is not valid UTF-8: %w", code, ErrInvalid)
	case utf8.RuneCountInString(code) > maxCodeLen:
		return fmt.Errorf("code %q is longer than %d characters: %w", code, maxCodeLen, ErrInvalid)
	case strings.IndexFunc(code, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("code %q contains a space or control character: %w", code, ErrInvalid)
	}
	return nil
}
