package distribution

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/codedrop/codedrop/internal/errs"
	"github.com/codedrop/codedrop/internal/ids"
)

// CampaignType says where a campaign's codes come from.
type CampaignType string

const (
	// CampaignAutoUpdate generates a code on demand for each publication
	// (after any imported or pre-generated codes are used up). It runs out
	// only when its code space is (nearly) exhausted.
	CampaignAutoUpdate CampaignType = "auto-update"
	// CampaignPool publishes a fixed set of codes (an imported list, a
	// pre-generated count, or both) and then fails with ErrNoCodesLeft.
	CampaignPool CampaignType = "pool"
)

// MaxPoolCount bounds Campaign.Count, the number of codes pre-generated at
// creation.
const MaxPoolCount = 1_000_000

// Campaign is a source of unique codes, like a Voucherify campaign of
// unique codes.
type Campaign struct {
	ID   string // "camp_...", set by CreateCampaign
	Name string // unique among campaigns
	// Type is CampaignAutoUpdate or CampaignPool. Zero value: CampaignPool
	// when Codes or Count is set, CampaignAutoUpdate otherwise.
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
	// CreateCampaign).
	Count     int
	CreatedAt time.Time
}

// CampaignsConfig configures [NewCampaigns]. The zero value is ready to use.
type CampaignsConfig struct {
	// Rand is the source of random bytes for codes. Default: crypto/rand.
	// It is read under the registry's lock, so it need not be safe for
	// concurrent use.
	Rand io.Reader
	// Now is the clock for CreatedAt. Default: time.Now.
	Now func() time.Time
}

// Campaigns is the default, in-memory [CodeSource] and campaign registry.
// Codes are unique across all its campaigns (imported, pre-generated and
// generated on demand). It is safe for concurrent use; its state lives only
// in memory, so idempotency by key holds for the lifetime of the value.
type Campaigns struct {
	now func() time.Time

	mu     sync.Mutex
	rnd    *randBytes
	byID   map[string]*campaignState
	byName map[string]*campaignState
	order  []*campaignState        // in creation order
	codes  map[string]string       // every reserved code -> campaign id
	byKey  map[string]*Publication // publication key -> publication
}

type campaignState struct {
	c    Campaign
	gen  *codeGen
	pool []string // codes to publish first: imported, then pre-generated
	next int      // index of the next code of pool
	pubs []*Publication
}

var _ CodeSource = (*Campaigns)(nil)

// NewCampaigns returns an empty registry.
func NewCampaigns(cfg CampaignsConfig) *Campaigns {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Campaigns{
		now:    cfg.Now,
		rnd:    newRandBytes(cfg.Rand),
		byID:   map[string]*campaignState{},
		byName: map[string]*campaignState{},
		codes:  map[string]string{},
		byKey:  map[string]*Publication{},
	}
}

// CreateCampaign validates camp, reserves its codes and stores it. It
// returns the stored campaign with ID, Type, CreatedAt and the normalized
// Code config set.
//
// Validation errors wrap ErrInvalid and name the field ("name",
// "code.charset", "codes[3]", ...). A name already in use, or an imported
// code that another campaign holds, fails with ErrConflict. A pool's Count
// must leave headroom in its code space: the charset size to the power of
// the number of random characters must be at least 2*Count, so that random
// generation rarely collides (the rule of Voucherify's generator is only
// "space >= count"); otherwise the error names code.pattern or code.length
// and gives both numbers. If the space is shared with other campaigns so
// much that Count codes cannot be found, the call fails with ErrConflict.
// On any error nothing is stored.
func (c *Campaigns) CreateCampaign(ctx context.Context, camp Campaign) (Campaign, error) {
	if err := ctx.Err(); err != nil {
		return Campaign{}, err
	}
	camp, gen, err := validateCampaign(camp)
	if err != nil {
		return Campaign{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.byName[camp.Name]; dup {
		return Campaign{}, fmt.Errorf("name: a campaign named %q already exists: %w", camp.Name, errs.Conflict)
	}
	pool := make([]string, 0, len(camp.Codes)+camp.Count)
	for i, code := range camp.Codes {
		if owner, ok := c.codes[code]; ok {
			return Campaign{}, fmt.Errorf("codes[%d]: code %q already exists in campaign %q: %w", i, code, c.byID[owner].c.Name, errs.Conflict)
		}
		pool = append(pool, code)
	}
	// Codes generated here are checked against the registry and against
	// each other (imported ones included), and only reserved on success.
	local := make(map[string]struct{}, len(camp.Codes)+camp.Count)
	for _, code := range camp.Codes {
		local[code] = struct{}{}
	}
	taken := func(code string) bool {
		if _, ok := local[code]; ok {
			return true
		}
		_, ok := c.codes[code]
		return ok
	}
	for i := range camp.Count {
		code, err := gen.next(c.rnd, taken)
		if err != nil {
			if errors.Is(err, ErrNoCodesLeft) {
				return Campaign{}, fmt.Errorf("count: generated only %d of %d unique codes for %s %q; other campaigns use its space (%v): %w", i, camp.Count, gen.field, gen.describe(), err, errs.Conflict)
			}
			return Campaign{}, err
		}
		local[code] = struct{}{}
		pool = append(pool, code)
	}

	camp.ID = ids.New("camp")
	camp.CreatedAt = c.now()
	st := &campaignState{c: camp, gen: gen, pool: pool}
	st.c.Codes = slices.Clone(camp.Codes)
	for _, code := range pool {
		c.codes[code] = camp.ID
	}
	c.byID[camp.ID] = st
	c.byName[camp.Name] = st
	c.order = append(c.order, st)
	return cloneCampaign(st.c), nil
}

func validateCampaign(camp Campaign) (Campaign, *codeGen, error) {
	if camp.ID != "" {
		return camp, nil, fmt.Errorf("id: %q must be empty, CreateCampaign sets it: %w", camp.ID, errs.Invalid)
	}
	if strings.TrimSpace(camp.Name) == "" {
		return camp, nil, fmt.Errorf("name: required: %w", errs.Invalid)
	}
	if camp.Name != strings.TrimSpace(camp.Name) {
		return camp, nil, fmt.Errorf("name: %q has leading or trailing spaces: %w", camp.Name, errs.Invalid)
	}
	if !utf8.ValidString(camp.Name) || utf8.RuneCountInString(camp.Name) > 200 {
		return camp, nil, fmt.Errorf("name: must be valid UTF-8 of at most 200 characters: %w", errs.Invalid)
	}
	if !camp.CreatedAt.IsZero() {
		return camp, nil, fmt.Errorf("created_at: must be zero, CreateCampaign sets it: %w", errs.Invalid)
	}
	switch camp.Type {
	case "":
		camp.Type = CampaignAutoUpdate
		if len(camp.Codes) > 0 || camp.Count > 0 {
			camp.Type = CampaignPool
		}
	case CampaignAutoUpdate, CampaignPool:
	default:
		return camp, nil, fmt.Errorf("type: unknown campaign type %q (want %q or %q): %w", camp.Type, CampaignAutoUpdate, CampaignPool, errs.Invalid)
	}
	if camp.Count < 0 {
		return camp, nil, fmt.Errorf("count: %d is negative: %w", camp.Count, errs.Invalid)
	}
	if camp.Count > MaxPoolCount {
		return camp, nil, fmt.Errorf("count: %d exceeds %d: %w", camp.Count, MaxPoolCount, errs.Invalid)
	}
	if camp.Type == CampaignPool && len(camp.Codes) == 0 && camp.Count == 0 {
		return camp, nil, fmt.Errorf("count: a pool campaign needs imported codes or a count of codes to generate: %w", errs.Invalid)
	}
	if len(camp.Codes) > MaxPoolCount {
		return camp, nil, fmt.Errorf("codes: %d codes exceed %d: %w", len(camp.Codes), MaxPoolCount, errs.Invalid)
	}
	seen := make(map[string]int, len(camp.Codes))
	for i, code := range camp.Codes {
		if err := validateCode(code); err != nil {
			return camp, nil, fmt.Errorf("codes[%d]: %w", i, err)
		}
		if j, dup := seen[code]; dup {
			return camp, nil, fmt.Errorf("codes[%d]: %q duplicates codes[%d]: %w", i, code, j, errs.Invalid)
		}
		seen[code] = i
	}
	gen, err := compileCode(camp.Code)
	if err != nil {
		return camp, nil, err
	}
	camp.Code = gen.cfg
	if camp.Count > 0 && gen.capacity/2 < uint64(camp.Count) {
		return camp, nil, fmt.Errorf("%s: %s gives only %d possible codes; count %d needs at least %d (2x headroom): %w",
			gen.field, gen.describe(), gen.capacity, camp.Count, 2*uint64(camp.Count), errs.Invalid)
	}
	return camp, gen, nil
}

// validateCode checks one imported code.
func validateCode(code string) error {
	switch {
	case code == "":
		return fmt.Errorf("empty code: %w", errs.Invalid)
	case !utf8.ValidString(code):
		return fmt.Errorf("code %q is not valid UTF-8: %w", code, errs.Invalid)
	case utf8.RuneCountInString(code) > maxCodeLen:
		return fmt.Errorf("code %q is longer than %d characters: %w", code, maxCodeLen, errs.Invalid)
	case strings.IndexFunc(code, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("code %q contains a space or control character: %w", code, errs.Invalid)
	}
	return nil
}

// describe names the code space for error messages.
func (g *codeGen) describe() string {
	sz := len(g.chars)
	if g.field == "code.pattern" {
		return fmt.Sprintf("pattern %q (%d random characters from a charset of %d)", g.cfg.Pattern, g.slots, sz)
	}
	return fmt.Sprintf("length %d (charset of %d characters)", g.cfg.Length, sz)
}

// Campaign returns the campaign with the given id (or unique name). An
// unknown campaign fails with ErrNotFound.
func (c *Campaigns) Campaign(ctx context.Context, id string) (Campaign, error) {
	if err := ctx.Err(); err != nil {
		return Campaign{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lookup(id)
	if err != nil {
		return Campaign{}, err
	}
	return cloneCampaign(st.c), nil
}

// List returns all campaigns in the order they were created.
func (c *Campaigns) List(ctx context.Context) ([]Campaign, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Campaign, len(c.order))
	for i, st := range c.order {
		out[i] = cloneCampaign(st.c)
	}
	return out, nil
}

func (c *Campaigns) lookup(id string) (*campaignState, error) {
	if st, ok := c.byID[id]; ok {
		return st, nil
	}
	if st, ok := c.byName[id]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("campaign %q: %w", id, errs.NotFound)
}

func cloneCampaign(c Campaign) Campaign {
	c.Codes = slices.Clone(c.Codes)
	return c
}

// Publish assigns the next code of the campaign to req.CustomerID: the next
// imported or pre-generated code, then, for an auto-update campaign, a new
// unique code. See [CodeSource] for idempotency and errors. Reusing a key
// for another campaign or customer fails with ErrConflict; the Channel,
// DistributionID and Metadata of a repeated request are ignored (the first
// publication is returned).
func (c *Campaigns) Publish(ctx context.Context, req PublishRequest) (Publication, error) {
	if err := ctx.Err(); err != nil {
		return Publication{}, err
	}
	switch {
	case req.Key == "":
		return Publication{}, fmt.Errorf("key: required: %w", errs.Invalid)
	case req.CampaignID == "":
		return Publication{}, fmt.Errorf("campaign_id: required: %w", errs.Invalid)
	case req.CustomerID == "":
		return Publication{}, fmt.Errorf("customer_id: required: %w", errs.Invalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lookup(req.CampaignID)
	if err != nil {
		return Publication{}, err
	}
	if p, ok := c.byKey[req.Key]; ok {
		if p.CampaignID != st.c.ID || p.CustomerID != req.CustomerID {
			return Publication{}, fmt.Errorf("key %q: already used to publish to customer %q from campaign %q: %w", req.Key, p.CustomerID, p.CampaignName, errs.Conflict)
		}
		return clonePublication(p), nil
	}
	var code string
	switch {
	case st.next < len(st.pool):
		code = st.pool[st.next]
		st.pool[st.next] = "" // the publication holds it now
		st.next++
	case st.c.Type == CampaignAutoUpdate:
		code, err = st.gen.next(c.rnd, func(code string) bool { _, ok := c.codes[code]; return ok })
		if err != nil {
			return Publication{}, fmt.Errorf("campaign %q: %w", st.c.Name, err)
		}
		c.codes[code] = st.c.ID
	default:
		return Publication{}, fmt.Errorf("campaign %q: all %d codes are published: %w", st.c.Name, len(st.pool), ErrNoCodesLeft)
	}
	p := &Publication{
		ID:             ids.New("pub"),
		Key:            req.Key,
		CampaignID:     st.c.ID,
		CampaignName:   st.c.Name,
		Code:           code,
		CustomerID:     req.CustomerID,
		DistributionID: req.DistributionID,
		Channel:        req.Channel,
		Metadata:       maps.Clone(req.Metadata),
		CreatedAt:      c.now(),
	}
	st.pubs = append(st.pubs, p)
	c.byKey[req.Key] = p
	out := *p
	out.Metadata = req.Metadata // the caller's own map; the stored one is a copy
	return out, nil
}

func clonePublication(p *Publication) Publication {
	out := *p
	out.Metadata = maps.Clone(p.Metadata)
	return out
}

// Publications returns the campaign's publications in the order they were
// made. An unknown campaign fails with ErrNotFound.
func (c *Campaigns) Publications(ctx context.Context, campaignID string) ([]Publication, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lookup(campaignID)
	if err != nil {
		return nil, err
	}
	out := make([]Publication, len(st.pubs))
	for i, p := range st.pubs {
		out[i] = clonePublication(p)
	}
	return out, nil
}

// Remaining returns how many codes the campaign can still publish: for a
// pool campaign the codes left, for an auto-update campaign -1 (codes are
// generated on demand; it fails with ErrNoCodesLeft only when its code space
// is nearly exhausted). An unknown campaign fails with ErrNotFound.
func (c *Campaigns) Remaining(ctx context.Context, campaignID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lookup(campaignID)
	if err != nil {
		return 0, err
	}
	if st.c.Type == CampaignAutoUpdate {
		return -1, nil
	}
	return len(st.pool) - st.next, nil
}
