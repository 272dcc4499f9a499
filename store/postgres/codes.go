package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/internal/ids"
)

// Codes is a durable codes.Source and codes.Registry, the PostgreSQL
// counterpart of codes.Memory (both pass codes/codestest): campaigns, their codes
// and publications live in the campaigns, codes and publications tables,
// so several replicas publish from one pool of codes and a publication is
// idempotent by key across restarts (publications.key is unique). Codes
// are unique across all campaigns (codes.code is the primary key).
//
// Publish takes the next unpublished pool code with FOR UPDATE SKIP
// LOCKED (concurrent publishers never wait for each other), or for an
// auto-update campaign whose pool is used up inserts the first free
// candidate of the codes.Generator (random codes, then every code of a
// small space), so it finds every free code before ErrNoCodesLeft. It is
// safe for concurrent use. [Store] holds a Codes, so postgres.New(pool)
// provides codes too.
type Codes struct {
	pool *pgxpool.Pool
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]*campaignState // by id and by name
}

// campaignState is a cached campaign and whether its pool is used up.
type campaignState struct {
	campaignRow
	poolEmpty atomic.Bool
}

var (
	_ codes.Source         = (*Codes)(nil)
	_ codes.Registry       = (*Codes)(nil)
	_ codes.BatchPublisher = (*Codes)(nil)
)

// NewCodes returns a Codes over pool (migrated with [Migrate]). now is
// the clock for CreatedAt (time.Now when nil).
func NewCodes(pool *pgxpool.Pool, now func() time.Time) *Codes {
	if now == nil {
		now = time.Now
	}
	return &Codes{pool: pool, now: now}
}

// CreateCampaign implements codes.Registry: it validates camp with
// codes.ValidateCampaign (the in-memory source's fields and errors),
// stores it and its pool of codes (imported ones first, then Count
// generated ones) in one transaction, and returns it with ID, Type,
// CreatedAt and the normalized Code config set. Generated codes are drawn
// by the codes.Generator and inserted in batches; the ones another
// campaign holds are drawn again, so a pool fails with ErrConflict (naming
// count) only when its space has no free code left.
func (c *Codes) CreateCampaign(ctx context.Context, camp codes.Campaign) (codes.Campaign, error) {
	if err := ctx.Err(); err != nil {
		return codes.Campaign{}, err
	}
	camp, gen, err := codes.ValidateCampaign(camp)
	if err != nil {
		return codes.Campaign{}, err
	}
	camp.ID = ids.New("camp")
	camp.CreatedAt = c.now().Truncate(time.Microsecond)
	cfgJSON, err := json.Marshal(camp.Code)
	if err != nil {
		return codes.Campaign{}, err
	}
	imported := camp.Codes
	if imported == nil {
		imported = []string{}
	}
	err = inTx(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO campaigns (id, name, type, code_config, imported, count, created_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
			camp.ID, camp.Name, string(camp.Type), string(cfgJSON), imported, camp.Count, camp.CreatedAt); err != nil {
			if code, cons := pgCode(err); code == uniqueViolation && cons == "campaigns_name_key" {
				return fmt.Errorf("name: a campaign named %q already exists: %w", camp.Name, codes.ErrConflict)
			}
			return err
		}
		if len(camp.Codes) > 0 {
			var taken string
			err := tx.QueryRow(ctx, `SELECT code FROM codes WHERE code = ANY($1) ORDER BY array_position($1, code) LIMIT 1`, camp.Codes).Scan(&taken)
			if err == nil {
				return fmt.Errorf("codes[%d]: code %q already exists in another campaign: %w", slices.Index(camp.Codes, taken), taken, codes.ErrConflict)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO codes (code, campaign_id)
				SELECT code, $1 FROM unnest($2::text[]) WITH ORDINALITY AS u(code, ord) ORDER BY ord`, camp.ID, camp.Codes); err != nil {
				return err
			}
		}
		return generatePool(ctx, tx, camp, gen)
	})
	if err != nil {
		return codes.Campaign{}, ctxErr(ctx, err)
	}
	return camp, nil
}

// poolBatch bounds the generated codes of one INSERT.
const poolBatch = 10_000

// generatePool inserts camp.Count codes drawn by gen, in batches. Each
// batch holds codes not drawn before; the ones another campaign holds are
// skipped by ON CONFLICT and not drawn again, so the search ends when the
// pool is complete or gen finds no code left.
func generatePool(ctx context.Context, tx pgx.Tx, camp codes.Campaign, gen *codes.Generator) error {
	drawn := make(map[string]struct{}, len(camp.Codes)+camp.Count)
	for _, code := range camp.Codes {
		drawn[code] = struct{}{}
	}
	taken := func(code string) bool { _, ok := drawn[code]; return ok }
	for left := camp.Count; left > 0; {
		batch, findErr := gen.FindN(nil, min(left, poolBatch), taken)
		if len(batch) > 0 {
			for _, code := range batch {
				drawn[code] = struct{}{}
			}
			tag, err := tx.Exec(ctx, `INSERT INTO codes (code, campaign_id)
				SELECT code, $1 FROM unnest($2::text[]) WITH ORDINALITY AS u(code, ord) ORDER BY ord ON CONFLICT DO NOTHING`, camp.ID, batch)
			if err != nil {
				return err
			}
			left -= int(tag.RowsAffected())
		}
		if findErr != nil && left > 0 {
			if errors.Is(findErr, codes.ErrNoCodesLeft) {
				return fmt.Errorf("count: generated only %d of %d unique codes from %v; other campaigns use its space (%v): %w", camp.Count-left, camp.Count, gen, findErr, codes.ErrConflict)
			}
			return findErr
		}
	}
	return nil
}

type campaignRow struct {
	camp codes.Campaign
	gen  *codes.Generator
}

func (c *Codes) lookup(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, idOrName string, withCodes bool) (campaignRow, error) {
	var (
		r   campaignRow
		cfg []byte
	)
	err := q.QueryRow(ctx, `SELECT id, name, type, code_config, CASE WHEN $2 THEN imported ELSE '{}' END, count, created_at
		FROM campaigns WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1`, idOrName, withCodes).
		Scan(&r.camp.ID, &r.camp.Name, &r.camp.Type, &cfg, &r.camp.Codes, &r.camp.Count, &r.camp.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("campaign %q: %w", idOrName, codes.ErrNotFound)
	}
	if err != nil {
		return r, ctxErr(ctx, err)
	}
	if len(r.camp.Codes) == 0 {
		r.camp.Codes = nil
	}
	if err := json.Unmarshal(cfg, &r.camp.Code); err != nil {
		return r, fmt.Errorf("campaign %s: code config: %w", r.camp.ID, err)
	}
	r.gen, err = codes.NewGenerator(r.camp.Code)
	return r, err
}

// Campaign returns the campaign with the given id or unique name
// (ErrNotFound when none).
func (c *Codes) Campaign(ctx context.Context, idOrName string) (codes.Campaign, error) {
	r, err := c.lookup(ctx, c.pool, idOrName, true)
	return r.camp, err
}

const pubCols = `p.id, p.key, p.campaign_id, c.name, p.code, p.customer_id, p.distribution_id, p.channel, p.metadata, p.created_at`

func scanPublication(row pgx.Row) (codes.Publication, error) {
	var (
		p    codes.Publication
		meta []byte
	)
	if err := row.Scan(&p.ID, &p.Key, &p.CampaignID, &p.CampaignName, &p.Code, &p.CustomerID, &p.DistributionID, &p.Channel, &meta, &p.CreatedAt); err != nil {
		return p, err
	}
	if len(meta) > 0 && string(meta) != "null" {
		if err := json.Unmarshal(meta, &p.Metadata); err != nil {
			return p, err
		}
	}
	return p, nil
}

// errLostKey rolls back a publication whose key a concurrent Publish
// took.
var errLostKey = errors.New("postgres: publication key taken concurrently")

// campaign returns the publishing state of a campaign by id or name,
// cached: campaigns never change once created.
func (c *Codes) campaign(ctx context.Context, idOrName string) (*campaignState, error) {
	c.mu.Lock()
	st := c.cache[idOrName]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	r, err := c.lookup(ctx, c.pool, idOrName, false)
	if err != nil {
		return nil, err
	}
	var pooled int
	if err := c.pool.QueryRow(ctx, `SELECT count(*) FROM codes WHERE campaign_id = $1 AND publication_id IS NULL`, r.camp.ID).Scan(&pooled); err != nil {
		return nil, ctxErr(ctx, err)
	}
	st = &campaignState{campaignRow: r}
	st.poolEmpty.Store(pooled == 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = map[string]*campaignState{}
	}
	if cur := c.cache[r.camp.ID]; cur != nil {
		return cur, nil
	}
	c.cache[r.camp.ID], c.cache[r.camp.Name] = st, st
	return st, nil
}

// insertPub ends the statements of Publish: it inserts the publication of
// the code in k (the request's $1-$8) unless its key ex exists, and
// selects the code, whether the publication was inserted and whether the
// key existed. synchronous_commit off: the delivery's move to sending,
// which follows and is synchronous, flushes the publication to disk with
// it (the WAL is written in order) before any message goes out.
const insertPub = `a AS (SELECT set_config('synchronous_commit', 'off', true)),
	p AS (INSERT INTO publications (id, key, campaign_id, code, customer_id, distribution_id, channel, metadata, created_at)
		SELECT $1, $2, $3, k.code, $4, $5, $6, $7::jsonb, $8 FROM k ON CONFLICT (key) DO NOTHING RETURNING id)
	SELECT (SELECT code FROM k), (SELECT count(*) FROM p) + 0 * (SELECT count(*) FROM a), EXISTS (SELECT 1 FROM ex)`

// Publish implements codes.Source (see Codes for how). The
// usual publication is one statement, one round trip: a CTE that checks
// the key, takes a pool code (or inserts a generated one) and inserts
// the publication.
func (c *Codes) Publish(ctx context.Context, req codes.PublishRequest) (codes.Publication, error) {
	if err := ctx.Err(); err != nil {
		return codes.Publication{}, err
	}
	if err := req.Validate(); err != nil {
		return codes.Publication{}, err
	}
	var meta *string
	if req.Metadata != nil {
		b, err := json.Marshal(req.Metadata)
		if err != nil {
			return codes.Publication{}, fmt.Errorf("metadata: %v: %w", err, codes.ErrInvalid)
		}
		s := string(b)
		meta = &s
	}
	camp, err := c.campaign(ctx, req.CampaignID)
	if err != nil {
		return codes.Publication{}, err
	}
	p := codes.Publication{
		ID: ids.New("pub"), Key: req.Key, CampaignID: camp.camp.ID, CampaignName: camp.camp.Name,
		CustomerID: req.CustomerID, DistributionID: req.DistributionID, Channel: req.Channel,
		Metadata: maps.Clone(req.Metadata), CreatedAt: c.now().Truncate(time.Microsecond),
	}
	args := func(extra ...any) []any {
		return append([]any{p.ID, p.Key, p.CampaignID, p.CustomerID, p.DistributionID, p.Channel, meta, p.CreatedAt}, extra...)
	}
	for wait := 0; !camp.poolEmpty.Load(); wait++ {
		var (
			code     *string
			inserted int
			exists   bool
		)
		// In a transaction, so that a publication that loses its key to a
		// concurrent Publish rolls back and its code was never seen taken
		// (another publisher would have concluded the pool was empty).
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			err := tx.QueryRow(ctx, `WITH ex AS (SELECT 1 FROM publications WHERE key = $2),
				k AS (UPDATE codes SET publication_id = $1 WHERE code = (
					SELECT code FROM codes WHERE campaign_id = $3 AND publication_id IS NULL AND NOT EXISTS (SELECT 1 FROM ex)
					ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING code),
				`+insertPub, args()...).Scan(&code, &inserted, &exists)
			if err == nil && code != nil && inserted == 0 {
				return errLostKey // roll back: the code goes back to the pool
			}
			return err
		})
		switch {
		case errors.Is(err, errLostKey), err == nil && exists:
			return c.existing(ctx, req, camp)
		case err != nil:
			return codes.Publication{}, ctxErr(ctx, err)
		case code != nil:
			p.Code = *code
			return p, nil
		}
		// No free code nobody holds. Codes held by statements that may
		// yet give them back count as left: wait for them.
		var held bool
		if err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM codes WHERE campaign_id = $1 AND publication_id IS NULL)`, camp.camp.ID).Scan(&held); err != nil {
			return codes.Publication{}, ctxErr(ctx, err)
		}
		if !held {
			camp.poolEmpty.Store(true) // a pool never grows
			break
		}
		if wait >= 100 {
			return codes.Publication{}, fmt.Errorf("campaign %q: pool codes stay locked by other publishers", camp.camp.Name)
		}
		select {
		case <-ctx.Done():
			return codes.Publication{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	if camp.camp.Type != codes.AutoUpdate {
		if pub, err := c.existing(ctx, req, camp); err == nil || !errors.Is(err, codes.ErrNotFound) {
			return pub, err
		}
		return codes.Publication{}, fmt.Errorf("campaign %q: all codes are published: %w", camp.camp.Name, codes.ErrNoCodesLeft)
	}
	return c.publishNew(ctx, req, camp, p, args)
}

// scanBatch is how many candidates of a code search one statement checks
// after the first (which checks one: usually the first random code is
// free).
const scanBatch = 1024

// raceRetries bounds how often one batch of candidates is checked again
// after a concurrent publisher took the free code the statement chose.
const raceRetries = 8

// publishNew publishes a new code of an auto-update campaign: it
// walks the codes.Generator's candidates (random codes, then every code
// of a small space) in batches, and one statement per batch inserts the
// first free one with the publication. It fails with ErrNoCodesLeft only
// when no candidate was free, as codes.Memory does.
func (c *Codes) publishNew(ctx context.Context, req codes.PublishRequest, camp *campaignState, p codes.Publication, args func(...any) []any) (codes.Publication, error) {
	cands := camp.gen.Candidates(nil)
	for n := 1; ; n = scanBatch {
		batch, err := cands.Next(n)
		if err != nil {
			return codes.Publication{}, err
		}
		if len(batch) == 0 {
			return codes.Publication{}, fmt.Errorf("campaign %q: %w", camp.camp.Name, cands.Exhausted())
		}
		for race := 0; ; race++ {
			var (
				got      *string
				inserted int
				exists   bool
				free     int
			)
			err = c.pool.QueryRow(ctx, `WITH ex AS (SELECT 1 FROM publications WHERE key = $2),
				f AS (SELECT g.code FROM unnest($9::text[]) WITH ORDINALITY AS g(code, ord)
					WHERE NOT EXISTS (SELECT 1 FROM ex) AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.code = g.code)
					ORDER BY g.ord LIMIT 1),
				k AS (INSERT INTO codes (code, campaign_id, publication_id) SELECT code, $3, $1 FROM f
					ON CONFLICT DO NOTHING RETURNING code),
				`+insertPub+`, (SELECT count(*) FROM f)`, args(batch)...).Scan(&got, &inserted, &exists, &free)
			switch {
			case err != nil:
				return codes.Publication{}, ctxErr(ctx, err)
			case exists:
				return c.existing(ctx, req, camp)
			case got != nil && inserted == 1:
				p.Code = *got
				return p, nil
			case got != nil:
				// A concurrent Publish took the key: give the code back.
				if _, err := c.pool.Exec(ctx, `DELETE FROM codes WHERE code = $1 AND publication_id = $2`, *got, p.ID); err != nil {
					return codes.Publication{}, ctxErr(ctx, err)
				}
				return c.existing(ctx, req, camp)
			case free > 0 && race < raceRetries:
				continue // a concurrent publisher took the code chosen: check the batch again
			}
			break // every candidate of the batch exists (in any campaign): the next batch
		}
	}
}

// existing returns the publication made with req.Key, checking that it is
// for the same campaign and customer.
func (c *Codes) existing(ctx context.Context, req codes.PublishRequest, camp *campaignState) (codes.Publication, error) {
	p, err := scanPublication(c.pool.QueryRow(ctx, `SELECT `+pubCols+` FROM publications p JOIN campaigns c ON c.id = p.campaign_id WHERE p.key = $1`, req.Key))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("publication %q: %w", req.Key, codes.ErrNotFound)
	}
	if err != nil {
		return p, ctxErr(ctx, err)
	}
	if p.CampaignID != camp.camp.ID || p.CustomerID != req.CustomerID {
		return codes.Publication{}, fmt.Errorf("key %q: already used to publish to customer %q from campaign %q: %w", req.Key, p.CustomerID, p.CampaignName, codes.ErrConflict)
	}
	return p, nil
}

// Publications returns the campaign's publications in the order they were
// made (ErrNotFound for an unknown campaign).
func (c *Codes) Publications(ctx context.Context, campaignID string) ([]codes.Publication, error) {
	camp, err := c.lookup(ctx, c.pool, campaignID, false)
	if err != nil {
		return nil, err
	}
	rows, err := c.pool.Query(ctx, `SELECT `+pubCols+` FROM publications p JOIN campaigns c ON c.id = p.campaign_id
		WHERE p.campaign_id = $1 ORDER BY p.seq`, camp.camp.ID)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	defer rows.Close()
	out := []codes.Publication{}
	for rows.Next() {
		p, err := scanPublication(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, ctxErr(ctx, rows.Err())
}

// Remaining returns how many pool codes the campaign can still publish,
// or -1 for an auto-update campaign (see codes.Campaigns.Remaining).
func (c *Codes) Remaining(ctx context.Context, campaignID string) (int, error) {
	camp, err := c.lookup(ctx, c.pool, campaignID, false)
	if err != nil {
		return 0, err
	}
	if camp.camp.Type == codes.AutoUpdate {
		return -1, nil
	}
	var n int
	err = c.pool.QueryRow(ctx, `SELECT count(*) FROM codes WHERE campaign_id = $1 AND publication_id IS NULL`, camp.camp.ID).Scan(&n)
	return n, ctxErr(ctx, err)
}

// Published returns how many codes the campaign has published (one per
// publication; see codes.Memory.Published), in one count over an index.
// An unknown campaign fails with codes.ErrNotFound.
func (c *Codes) Published(ctx context.Context, campaignID string) (int, error) {
	camp, err := c.lookup(ctx, c.pool, campaignID, false)
	if err != nil {
		return 0, err
	}
	var n int
	err = c.pool.QueryRow(ctx, `SELECT count(*) FROM publications WHERE campaign_id = $1`, camp.camp.ID).Scan(&n)
	return n, ctxErr(ctx, err)
}

// Pool returns the pool the Codes uses.
func (c *Codes) Pool() *pgxpool.Pool { return c.pool }
