package codes

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	order  []*campaignState  // in creation order
	codes  map[string]uint32 // pool codes (imported, pre-generated) -> their campaign's index in order
	pubs   pubTable          // publications (memory_publications.go)
}

type campaignState struct {
	c    Campaign
	idx  uint32 // in Memory.order
	gen  *Generator
	pool []string // codes to publish first: imported, then pre-generated
	next int      // index of the next code of pool
	pubs []uint32 // positions in Memory.pubs, in order
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
		codes:  map[string]uint32{},
		pubs:   newPubTable(),
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
		if owner, ok := c.owner(code); ok {
			return Campaign{}, fmt.Errorf("codes[%d]: code %q already exists in campaign %q: %w", i, code, c.order[owner].c.Name, ErrConflict)
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
		_, ok := c.owner(code)
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
	st := &campaignState{c: camp, idx: uint32(len(c.order)), gen: gen, pool: pool}
	st.c.Codes = slices.Clone(camp.Codes)
	for _, code := range pool {
		c.codes[code] = st.idx
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

// owner returns the index of the campaign holding code (c.mu held):
// its pool holds it (c.codes), or it was generated for a publication
// (c.pubs.generated).
func (c *Memory) owner(code string) (uint32, bool) {
	if camp, ok := c.codes[code]; ok {
		return camp, true
	}
	if pos, ok := c.pubs.findCode(code); ok {
		return c.pubs.routes[c.pubs.rec(pos).route].camp, true
	}
	return 0, false
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
