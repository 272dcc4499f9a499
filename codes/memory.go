package codes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/codedrop/codedrop/internal/ids"
)

// Config configures [NewMemory]. The zero value is ready to use.
type Config struct {
	// Rand is the source of random bytes for codes. Default: crypto/rand.
	// It is read under the Memory's lock, so it need not be safe for
	// concurrent use.
	Rand io.Reader
	// Now is the clock for CreatedAt. Default: time.Now.
	Now func() time.Time
}

// Memory is the in-memory [Source] and [Registry]: campaigns, their codes
// and publications live in the value. Codes are unique across all its
// campaigns (imported, pre-generated and generated on demand). It is safe
// for concurrent use; idempotency by key holds for the lifetime of the
// value. store.Memory holds one, so a store.NewMemory() provides codes.
type Memory struct {
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
	gen  *Generator
	pool []string // codes to publish first: imported, then pre-generated
	next int      // index of the next code of pool
	pubs []*Publication
}

var (
	_ Source   = (*Memory)(nil)
	_ Registry = (*Memory)(nil)
)

// NewMemory returns an empty in-memory source.
func NewMemory(cfg Config) *Memory {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Memory{
		now:    cfg.Now,
		rnd:    newRandBytes(cfg.Rand),
		byID:   map[string]*campaignState{},
		byName: map[string]*campaignState{},
		codes:  map[string]string{},
		byKey:  map[string]*Publication{},
	}
}

// CreateCampaign implements [Registry]: it validates camp
// ([ValidateCampaign]), reserves its codes and stores it. It returns the
// stored campaign with ID, Type, CreatedAt and the normalized Code config
// set.
//
// Validation errors wrap ErrInvalid and name the field ("name",
// "code.charset", "codes[3]", ...). A name already in use, or an imported
// code that another campaign holds, fails with ErrConflict. If the space
// is shared with other campaigns so much that Count codes cannot be found,
// the call fails with ErrConflict naming count. On any error nothing is
// stored.
func (c *Memory) CreateCampaign(ctx context.Context, camp Campaign) (Campaign, error) {
	if err := ctx.Err(); err != nil {
		return Campaign{}, err
	}
	camp, gen, err := ValidateCampaign(camp)
	if err != nil {
		return Campaign{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.byName[camp.Name]; dup {
		return Campaign{}, fmt.Errorf("name: a campaign named %q already exists: %w", camp.Name, ErrConflict)
	}
	for i, code := range camp.Codes {
		if owner, ok := c.codes[code]; ok {
			return Campaign{}, fmt.Errorf("codes[%d]: code %q already exists in campaign %q: %w", i, code, c.byID[owner].c.Name, ErrConflict)
		}
	}
	// Codes generated here are checked against the registry and the
	// imported ones, and only reserved on success.
	imported := make(map[string]struct{}, len(camp.Codes))
	for _, code := range camp.Codes {
		imported[code] = struct{}{}
	}
	generated, err := gen.findN(c.rnd, camp.Count, func(code string) bool {
		if _, ok := imported[code]; ok {
			return true
		}
		_, ok := c.codes[code]
		return ok
	})
	if err != nil {
		if errors.Is(err, ErrNoCodesLeft) {
			return Campaign{}, fmt.Errorf("count: generated only %d of %d unique codes from %v; other campaigns use its space (%v): %w", len(generated), camp.Count, gen, err, ErrConflict)
		}
		return Campaign{}, err
	}
	pool := make([]string, 0, len(camp.Codes)+len(generated))
	pool = append(append(pool, camp.Codes...), generated...)

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

// Campaign implements [Registry]: it returns the campaign with the given
// id (or unique name). An unknown campaign fails with ErrNotFound.
func (c *Memory) Campaign(ctx context.Context, id string) (Campaign, error) {
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
func (c *Memory) List(ctx context.Context) ([]Campaign, error) {
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

func (c *Memory) lookup(id string) (*campaignState, error) {
	if st, ok := c.byID[id]; ok {
		return st, nil
	}
	if st, ok := c.byName[id]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("campaign %q: %w", id, ErrNotFound)
}

func cloneCampaign(c Campaign) Campaign {
	c.Codes = slices.Clone(c.Codes)
	return c
}

// Publish implements [Source]: it assigns the next code of the campaign to
// req.CustomerID: the next imported or pre-generated code, then, for an
// auto-update campaign, a new unique code (see [Generator]). Reusing a key
// for another campaign or customer fails with ErrConflict; the Channel,
// DistributionID and Metadata of a repeated request are ignored (the first
// publication is returned).
func (c *Memory) Publish(ctx context.Context, req PublishRequest) (Publication, error) {
	if err := ctx.Err(); err != nil {
		return Publication{}, err
	}
	if err := req.Validate(); err != nil {
		return Publication{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lookup(req.CampaignID)
	if err != nil {
		return Publication{}, err
	}
	if p, ok := c.byKey[req.Key]; ok {
		if p.CampaignID != st.c.ID || p.CustomerID != req.CustomerID {
			return Publication{}, fmt.Errorf("key %q: already used to publish to customer %q from campaign %q: %w", req.Key, p.CustomerID, p.CampaignName, ErrConflict)
		}
		return clonePublication(p), nil
	}
	var code string
	switch {
	case st.next < len(st.pool):
		code = st.pool[st.next]
		st.pool[st.next] = "" // the publication holds it now
		st.next++
	case st.c.Type == AutoUpdate:
		code, err = st.gen.find(c.rnd, func(code string) bool { _, ok := c.codes[code]; return ok })
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
func (c *Memory) Publications(ctx context.Context, campaignID string) ([]Publication, error) {
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
// is used up). An unknown campaign fails with ErrNotFound.
func (c *Memory) Remaining(ctx context.Context, campaignID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lookup(campaignID)
	if err != nil {
		return 0, err
	}
	if st.c.Type == AutoUpdate {
		return -1, nil
	}
	return len(st.pool) - st.next, nil
}

// Published returns how many codes the campaign has published (one per
// publication; a repeated request is not counted again). An unknown
// campaign fails with ErrNotFound.
func (c *Memory) Published(ctx context.Context, campaignID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lookup(campaignID)
	if err != nil {
		return 0, err
	}
	return len(st.pubs), nil
}
