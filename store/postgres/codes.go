package postgres

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/internal/ids"
)

// Codes is a durable distribution.CodeSource and campaign registry, the
// PostgreSQL counterpart of distribution.Campaigns: campaigns, their codes
// and publications live in the campaigns, codes and publications tables,
// so several replicas publish from one pool of codes and a publication is
// idempotent by key across restarts (publications.key is unique). Codes
// are unique across all campaigns (codes.code is the primary key).
//
// Publish takes the next unpublished pool code with FOR UPDATE SKIP
// LOCKED (concurrent publishers never wait for each other), or for an
// auto-update campaign whose pool is used up generates a random code from
// its CodeConfig, retrying on a collision. It is safe for concurrent use.
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

var _ distribution.CodeSource = (*Codes)(nil)

// NewCodes returns a Codes over pool (migrated with [Migrate]). now is
// the clock for CreatedAt (time.Now when nil).
func NewCodes(pool *pgxpool.Pool, now func() time.Time) *Codes {
	if now == nil {
		now = time.Now
	}
	return &Codes{pool: pool, now: now}
}

var charsets = map[string]string{
	distribution.CharsetAlphanumeric: "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
	distribution.CharsetAlphabetic:   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
	distribution.CharsetLowercase:    "abcdefghijklmnopqrstuvwxyz",
	distribution.CharsetUppercase:    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	distribution.CharsetNumbers:      "0123456789",
}

// codeGen draws random codes of a normalized CodeConfig.
type codeGen struct {
	chars           []rune
	prefix, postfix string
	pattern         []rune
}

// normalize validates cfg (with distribution.CodeConfig.Capacity, so the
// errors are the in-memory registry's) and fills in its defaults.
func normalize(cfg distribution.CodeConfig) (distribution.CodeConfig, codeGen, uint64, error) {
	capacity, err := cfg.Capacity()
	if err != nil {
		return cfg, codeGen{}, 0, err
	}
	if cfg.Charset == "" {
		cfg.Charset = distribution.CharsetAlphanumeric
	}
	if cfg.Pattern != "" {
		cfg.Length = 0
	} else if cfg.Length == 0 {
		cfg.Length = distribution.DefaultCodeLength
	}
	set, ok := charsets[cfg.Charset]
	if !ok {
		set = cfg.Charset
	}
	g := codeGen{chars: []rune(set), prefix: cfg.Prefix, postfix: cfg.Postfix, pattern: []rune(cfg.Pattern)}
	if cfg.Pattern == "" {
		g.pattern = []rune(strings.Repeat("#", cfg.Length))
	}
	return cfg, g, capacity, nil
}

// random returns a random code (crypto/rand, no modulo bias).
func (g codeGen) random() (string, error) {
	var b strings.Builder
	b.WriteString(g.prefix)
	n := len(g.chars)
	limit := 256 - 256%n // n <= 256
	var buf [64]byte
	pos := len(buf)
	for _, r := range g.pattern {
		if r != '#' {
			b.WriteRune(r)
			continue
		}
		for {
			if pos == len(buf) {
				if _, err := rand.Read(buf[:]); err != nil {
					return "", err
				}
				pos = 0
			}
			v := int(buf[pos])
			pos++
			if n == 256 || v < limit {
				b.WriteRune(g.chars[v%n])
				break
			}
		}
	}
	b.WriteString(g.postfix)
	return b.String(), nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, distribution.ErrInvalid)...)
}

func validateCode(code string) error {
	switch {
	case code == "":
		return invalid("empty code")
	case !utf8.ValidString(code) || utf8.RuneCountInString(code) > 128:
		return invalid("code %q is not valid UTF-8 of at most 128 characters", code)
	case strings.IndexFunc(code, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return invalid("code %q contains a space or control character", code)
	}
	return nil
}

// CreateCampaign validates camp like distribution.Campaigns.CreateCampaign
// (same fields, same errors), stores it and its pool of codes (imported
// ones first, then Count generated ones) in one transaction, and returns
// it with ID, Type, CreatedAt and the normalized Code config set.
func (c *Codes) CreateCampaign(ctx context.Context, camp distribution.Campaign) (distribution.Campaign, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Campaign{}, err
	}
	switch {
	case camp.ID != "":
		return distribution.Campaign{}, invalid("id: %q must be empty, CreateCampaign sets it", camp.ID)
	case strings.TrimSpace(camp.Name) == "":
		return distribution.Campaign{}, invalid("name: required")
	case camp.Name != strings.TrimSpace(camp.Name):
		return distribution.Campaign{}, invalid("name: %q has leading or trailing spaces", camp.Name)
	case !camp.CreatedAt.IsZero():
		return distribution.Campaign{}, invalid("created_at: must be zero, CreateCampaign sets it")
	case camp.Count < 0 || camp.Count > distribution.MaxPoolCount:
		return distribution.Campaign{}, invalid("count: %d is not between 0 and %d", camp.Count, distribution.MaxPoolCount)
	case len(camp.Codes) > distribution.MaxPoolCount:
		return distribution.Campaign{}, invalid("codes: %d codes exceed %d", len(camp.Codes), distribution.MaxPoolCount)
	}
	switch camp.Type {
	case "":
		camp.Type = distribution.CampaignAutoUpdate
		if len(camp.Codes) > 0 || camp.Count > 0 {
			camp.Type = distribution.CampaignPool
		}
	case distribution.CampaignAutoUpdate, distribution.CampaignPool:
	default:
		return distribution.Campaign{}, invalid("type: unknown campaign type %q", camp.Type)
	}
	if camp.Type == distribution.CampaignPool && len(camp.Codes) == 0 && camp.Count == 0 {
		return distribution.Campaign{}, invalid("count: a pool campaign needs imported codes or a count of codes to generate")
	}
	seen := make(map[string]int, len(camp.Codes))
	for i, code := range camp.Codes {
		if err := validateCode(code); err != nil {
			return distribution.Campaign{}, fmt.Errorf("codes[%d]: %w", i, err)
		}
		if j, dup := seen[code]; dup {
			return distribution.Campaign{}, invalid("codes[%d]: %q duplicates codes[%d]", i, code, j)
		}
		seen[code] = i
	}
	cfg, gen, capacity, err := normalize(camp.Code)
	if err != nil {
		return distribution.Campaign{}, err
	}
	camp.Code = cfg
	if camp.Count > 0 && capacity/2 < uint64(camp.Count) {
		return distribution.Campaign{}, invalid("code: the code space holds %d codes; count %d needs at least %d (2x headroom)", capacity, camp.Count, 2*uint64(camp.Count))
	}
	camp.ID = ids.New("camp")
	camp.CreatedAt = c.now().Truncate(time.Microsecond)
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return distribution.Campaign{}, err
	}
	imported := camp.Codes
	if imported == nil {
		imported = []string{}
	}
	err = inTx(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO campaigns (id, name, type, code_config, imported, count, created_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
			camp.ID, camp.Name, string(camp.Type), string(cfgJSON), imported, camp.Count, camp.CreatedAt); err != nil {
			if code, cons := pgCode(err); code == uniqueViolation && cons == "campaigns_name_key" {
				return fmt.Errorf("name: a campaign named %q already exists: %w", camp.Name, distribution.ErrConflict)
			}
			return err
		}
		if len(camp.Codes) > 0 {
			var taken string
			err := tx.QueryRow(ctx, `SELECT code FROM codes WHERE code = ANY($1) LIMIT 1`, camp.Codes).Scan(&taken)
			if err == nil {
				return fmt.Errorf("codes[%d]: code %q already exists in another campaign: %w", seen[taken], taken, distribution.ErrConflict)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO codes (code, campaign_id)
				SELECT code, $1 FROM unnest($2::text[]) WITH ORDINALITY AS u(code, ord) ORDER BY ord`, camp.ID, camp.Codes); err != nil {
				return err
			}
		}
		// Generated codes, in batches; collisions (with any campaign) are
		// skipped by ON CONFLICT and drawn again.
		left := camp.Count
		for tries := 0; left > 0; tries++ {
			if tries > 48 {
				return fmt.Errorf("count: generated only %d of %d unique codes; other campaigns use the code space: %w", camp.Count-left, camp.Count, distribution.ErrConflict)
			}
			batch := make([]string, min(left, 10000))
			for i := range batch {
				if batch[i], err = gen.random(); err != nil {
					return err
				}
			}
			tag, err := tx.Exec(ctx, `INSERT INTO codes (code, campaign_id)
				SELECT code, $1 FROM unnest($2::text[]) WITH ORDINALITY AS u(code, ord) ORDER BY ord ON CONFLICT DO NOTHING`, camp.ID, batch)
			if err != nil {
				return err
			}
			left -= int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return distribution.Campaign{}, ctxErr(ctx, err)
	}
	return camp, nil
}

type campaignRow struct {
	camp distribution.Campaign
	gen  codeGen
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
		return r, fmt.Errorf("campaign %q: %w", idOrName, distribution.ErrNotFound)
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
	_, r.gen, _, err = normalize(r.camp.Code)
	return r, err
}

// Campaign returns the campaign with the given id or unique name
// (ErrNotFound when none).
func (c *Codes) Campaign(ctx context.Context, idOrName string) (distribution.Campaign, error) {
	r, err := c.lookup(ctx, c.pool, idOrName, true)
	return r.camp, err
}

const pubCols = `p.id, p.key, p.campaign_id, c.name, p.code, p.customer_id, p.distribution_id, p.channel, p.metadata, p.created_at`

func scanPublication(row pgx.Row) (distribution.Publication, error) {
	var (
		p    distribution.Publication
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

// Publish implements distribution.CodeSource (see Codes for how). The
// usual publication is one statement, one round trip: a CTE that checks
// the key, takes a pool code (or inserts a generated one) and inserts
// the publication.
func (c *Codes) Publish(ctx context.Context, req distribution.PublishRequest) (distribution.Publication, error) {
	if err := ctx.Err(); err != nil {
		return distribution.Publication{}, err
	}
	switch {
	case req.Key == "":
		return distribution.Publication{}, invalid("key: required")
	case req.CampaignID == "":
		return distribution.Publication{}, invalid("campaign_id: required")
	case req.CustomerID == "":
		return distribution.Publication{}, invalid("customer_id: required")
	}
	var meta *string
	if req.Metadata != nil {
		b, err := json.Marshal(req.Metadata)
		if err != nil {
			return distribution.Publication{}, invalid("metadata: %v", err)
		}
		s := string(b)
		meta = &s
	}
	camp, err := c.campaign(ctx, req.CampaignID)
	if err != nil {
		return distribution.Publication{}, err
	}
	p := distribution.Publication{
		ID: ids.New("pub"), Key: req.Key, CampaignID: camp.camp.ID, CampaignName: camp.camp.Name,
		CustomerID: req.CustomerID, DistributionID: req.DistributionID, Channel: req.Channel,
		Metadata: maps.Clone(req.Metadata), CreatedAt: c.now().Truncate(time.Microsecond),
	}
	args := func(extra ...any) []any {
		return append([]any{p.ID, p.Key, p.CampaignID, p.CustomerID, p.DistributionID, p.Channel, meta, p.CreatedAt}, extra...)
	}
	// synchronous_commit off: the delivery's move to sending, which
	// follows and is synchronous, flushes the publication to disk with it
	// (the WAL is written in order) before any message goes out.
	const insertPub = `a AS (SELECT set_config('synchronous_commit', 'off', true)),
		p AS (INSERT INTO publications (id, key, campaign_id, code, customer_id, distribution_id, channel, metadata, created_at)
			SELECT $1, $2, $3, k.code, $4, $5, $6, $7::jsonb, $8 FROM k ON CONFLICT (key) DO NOTHING RETURNING id)
		SELECT (SELECT code FROM k), (SELECT count(*) FROM p) + 0 * (SELECT count(*) FROM a), EXISTS (SELECT 1 FROM ex)`
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
			return distribution.Publication{}, ctxErr(ctx, err)
		case code != nil:
			p.Code = *code
			return p, nil
		}
		// No free code nobody holds. Codes held by statements that may
		// yet give them back count as left: wait for them.
		var held bool
		if err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM codes WHERE campaign_id = $1 AND publication_id IS NULL)`, camp.camp.ID).Scan(&held); err != nil {
			return distribution.Publication{}, ctxErr(ctx, err)
		}
		if !held {
			camp.poolEmpty.Store(true) // a pool never grows
			break
		}
		if wait >= 100 {
			return distribution.Publication{}, fmt.Errorf("campaign %q: pool codes stay locked by other publishers", camp.camp.Name)
		}
		select {
		case <-ctx.Done():
			return distribution.Publication{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	if camp.camp.Type != distribution.CampaignAutoUpdate {
		if pub, err := c.existing(ctx, req, camp); err == nil || !errors.Is(err, distribution.ErrNotFound) {
			return pub, err
		}
		return distribution.Publication{}, fmt.Errorf("campaign %q: all codes are published: %w", camp.camp.Name, distribution.ErrNoCodesLeft)
	}
	for range 48 {
		code, err := camp.gen.random()
		if err != nil {
			return distribution.Publication{}, err
		}
		var (
			got      *string
			inserted int
			exists   bool
		)
		err = c.pool.QueryRow(ctx, `WITH ex AS (SELECT 1 FROM publications WHERE key = $2),
			k AS (INSERT INTO codes (code, campaign_id, publication_id) SELECT $9, $3, $1 WHERE NOT EXISTS (SELECT 1 FROM ex)
				ON CONFLICT DO NOTHING RETURNING code),
			`+insertPub, args(code)...).Scan(&got, &inserted, &exists)
		switch {
		case err != nil:
			return distribution.Publication{}, ctxErr(ctx, err)
		case exists:
			return c.existing(ctx, req, camp)
		case got != nil && inserted == 1:
			p.Code = code
			return p, nil
		case got != nil:
			if _, err := c.pool.Exec(ctx, `DELETE FROM codes WHERE code = $1 AND publication_id = $2`, code, p.ID); err != nil {
				return distribution.Publication{}, ctxErr(ctx, err)
			}
			return c.existing(ctx, req, camp)
		}
		// The code exists (in any campaign): draw another.
	}
	return distribution.Publication{}, fmt.Errorf("campaign %q: 48 random codes in a row already exist: the code space is nearly exhausted: %w", camp.camp.Name, distribution.ErrNoCodesLeft)
}

// existing returns the publication made with req.Key, checking that it is
// for the same campaign and customer.
func (c *Codes) existing(ctx context.Context, req distribution.PublishRequest, camp *campaignState) (distribution.Publication, error) {
	p, err := scanPublication(c.pool.QueryRow(ctx, `SELECT `+pubCols+` FROM publications p JOIN campaigns c ON c.id = p.campaign_id WHERE p.key = $1`, req.Key))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("publication %q: %w", req.Key, distribution.ErrNotFound)
	}
	if err != nil {
		return p, ctxErr(ctx, err)
	}
	if p.CampaignID != camp.camp.ID || p.CustomerID != req.CustomerID {
		return distribution.Publication{}, fmt.Errorf("key %q: already used to publish to customer %q from campaign %q: %w", req.Key, p.CustomerID, p.CampaignName, distribution.ErrConflict)
	}
	return p, nil
}

// Publications returns the campaign's publications in the order they were
// made (ErrNotFound for an unknown campaign).
func (c *Codes) Publications(ctx context.Context, campaignID string) ([]distribution.Publication, error) {
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
	out := []distribution.Publication{}
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
// or -1 for an auto-update campaign (see distribution.Campaigns.Remaining).
func (c *Codes) Remaining(ctx context.Context, campaignID string) (int, error) {
	camp, err := c.lookup(ctx, c.pool, campaignID, false)
	if err != nil {
		return 0, err
	}
	if camp.camp.Type == distribution.CampaignAutoUpdate {
		return -1, nil
	}
	var n int
	err = c.pool.QueryRow(ctx, `SELECT count(*) FROM codes WHERE campaign_id = $1 AND publication_id IS NULL`, camp.camp.ID).Scan(&n)
	return n, ctxErr(ctx, err)
}

// Pool returns the pool the Codes uses.
func (c *Codes) Pool() *pgxpool.Pool { return c.pool }
