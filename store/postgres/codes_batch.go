package postgres

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/internal/ids"
)

// PublishBatch implements codes.BatchPublisher. The requests of
// one campaign with distinct keys are published by one statement: a
// pool campaign's next free codes (FOR UPDATE SKIP LOCKED, in a
// transaction that rolls back as a whole if a concurrent Publish took one
// of the keys), or an auto-update campaign's generated codes (the ones
// that collide are drawn again, a few rounds). A request the statement does not settle
// (its key was published before, its pool code was not free, it names
// another campaign...) goes through Publish, so every result is exactly
// Publish's.
func (c *Codes) PublishBatch(ctx context.Context, reqs []codes.PublishRequest) ([]codes.Publication, []error) {
	pubs := make([]codes.Publication, len(reqs))
	errs := make([]error, len(reqs))
	settled := make([]bool, len(reqs))
	one := func(i int) {
		if !settled[i] {
			pubs[i], errs[i] = c.Publish(ctx, reqs[i])
			settled[i] = true
		}
	}
	finish := func() ([]codes.Publication, []error) {
		for i := range reqs {
			one(i)
		}
		return pubs, errs
	}
	if ctx.Err() != nil {
		return finish()
	}
	// The batch: valid requests of the first valid one's campaign, with
	// distinct keys.
	var (
		batch []int
		meta  = make([]*string, len(reqs))
		keys  = map[string]bool{}
	)
	for i, r := range reqs {
		if r.Key == "" || r.CampaignID == "" || r.CustomerID == "" || keys[r.Key] {
			continue
		}
		if len(batch) > 0 && r.CampaignID != reqs[batch[0]].CampaignID {
			continue
		}
		if r.Metadata != nil {
			b, err := json.Marshal(r.Metadata)
			if err != nil {
				continue // Publish reports it
			}
			s := string(b)
			meta[i] = &s
		}
		keys[r.Key] = true
		batch = append(batch, i)
	}
	if len(batch) < 2 {
		return finish()
	}
	camp, err := c.campaign(ctx, reqs[batch[0]].CampaignID)
	if err != nil {
		return finish() // Publish reports it
	}
	now := c.now().Truncate(time.Microsecond)
	made := func(i int, id, code string) {
		r := reqs[i]
		pubs[i] = codes.Publication{
			ID: id, Key: r.Key, CampaignID: camp.camp.ID, CampaignName: camp.camp.Name, Code: code,
			CustomerID: r.CustomerID, DistributionID: r.DistributionID, Channel: r.Channel,
			Metadata: maps.Clone(r.Metadata), CreatedAt: now,
		}
		settled[i] = true
	}
	switch {
	case !camp.poolEmpty.Load():
		c.publishPooled(ctx, camp, reqs, batch, meta, now, made)
	case camp.camp.Type == codes.AutoUpdate:
		c.publishGenerated(ctx, camp, reqs, batch, meta, now, made)
	}
	return finish()
}

// pubArgs are the per-request arrays of a batch publication statement.
func pubArgs(reqs []codes.PublishRequest, batch []int, meta []*string, pubIDs []string) []any {
	keys, custs, dists, chans, metas := make([]string, len(batch)), make([]string, len(batch)), make([]string, len(batch)), make([]string, len(batch)), make([]*string, len(batch))
	for j, i := range batch {
		r := reqs[i]
		keys[j], custs[j], dists[j], chans[j], metas[j] = r.Key, r.CustomerID, r.DistributionID, r.Channel, meta[i]
	}
	return []any{pubIDs, keys, custs, dists, chans, metas}
}

// batchReqs is the requests CTE of the batch statements ($1-$6).
const batchReqs = `r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
		WITH ORDINALITY AS r(id, key, customer_id, distribution_id, channel, metadata, ord)),
	a AS (SELECT set_config('synchronous_commit', 'off', true)),
	n AS (SELECT r.*, row_number() OVER (ORDER BY r.ord) AS rn FROM r
		WHERE NOT EXISTS (SELECT 1 FROM publications p WHERE p.key = r.key)),`

// batchPub inserts the publications of the requests that got a code (k:
// code, pid) and returns per request (in order) its code, if it got one,
// and whether its publication was inserted.
const batchPub = `p AS (INSERT INTO publications (id, key, campaign_id, code, customer_id, distribution_id, channel, metadata, created_at)
		SELECT n.id, n.key, $7, k.code, n.customer_id, n.distribution_id, n.channel, n.metadata::jsonb, $8
		FROM n JOIN k ON k.pid = n.id ORDER BY n.ord
		ON CONFLICT (key) DO NOTHING RETURNING id)
	SELECT (SELECT k.code FROM k WHERE k.pid = r.id), EXISTS (SELECT 1 FROM p WHERE p.id = r.id), (SELECT count(*) FROM a)
	FROM r ORDER BY r.ord`

// publishPooled takes pool codes for the batch in one statement, in a
// transaction: if a concurrent Publish took one of the keys, all of it
// rolls back (no code is ever seen taken by a publication that does not
// exist) and the requests go through Publish.
func (c *Codes) publishPooled(ctx context.Context, camp *campaignState, reqs []codes.PublishRequest, batch []int, meta []*string, now time.Time, made func(i int, id, code string)) {
	pubIDs := make([]string, len(batch))
	for j := range batch {
		pubIDs[j] = ids.New("pub")
	}
	codes := make([]*string, len(batch))
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH `+batchReqs+`
			f AS (SELECT code, row_number() OVER (ORDER BY seq) AS rn FROM (
				SELECT code, seq FROM codes WHERE campaign_id = $7 AND publication_id IS NULL
				ORDER BY seq LIMIT (SELECT count(*) FROM n) FOR UPDATE SKIP LOCKED) AS x),
			k AS (UPDATE codes c SET publication_id = n.id FROM n JOIN f ON f.rn = n.rn WHERE c.code = f.code
				RETURNING c.code, n.id AS pid),
			`+batchPub, append(pubArgs(reqs, batch, meta, pubIDs), camp.camp.ID, now)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for j := 0; rows.Next(); j++ {
			var (
				inserted bool
				off      int
			)
			if err := rows.Scan(&codes[j], &inserted, &off); err != nil {
				return err
			}
			if codes[j] != nil && !inserted {
				return errLostKey
			}
		}
		return rows.Err()
	})
	if err != nil {
		return // all through Publish
	}
	for j, i := range batch {
		if codes[j] != nil {
			made(i, pubIDs[j], *codes[j])
		}
	}
}

// batchRounds bounds the rounds of publishGenerated; the requests whose
// codes kept colliding go through Publish, which searches the whole
// candidate sequence.
const batchRounds = 4

// publishGenerated inserts generated codes for the batch in one statement
// per round: distinct codes drawn by the campaign's codes.Generator, none
// drawn before in this call; requests whose code collided draw again, up
// to batchRounds rounds.
func (c *Codes) publishGenerated(ctx context.Context, camp *campaignState, reqs []codes.PublishRequest, batch []int, meta []*string, now time.Time, made func(i int, id, code string)) {
	tried := map[string]struct{}{}
	for range batchRounds {
		if len(batch) == 0 || ctx.Err() != nil {
			return
		}
		drawn, err := camp.gen.FindN(nil, len(batch), func(code string) bool { _, ok := tried[code]; return ok })
		if len(drawn) == 0 {
			return // the rest go through Publish, which reports ErrNoCodesLeft
		}
		if err != nil {
			batch = batch[:len(drawn)] // the others go through Publish
		}
		pubIDs := make([]string, len(batch))
		for j := range batch {
			pubIDs[j] = ids.New("pub")
			tried[drawn[j]] = struct{}{}
		}
		rows, err := c.pool.Query(ctx, `WITH `+batchReqs+`
			k AS (INSERT INTO codes (code, campaign_id, publication_id)
				SELECT g.code, $7, n.id FROM n JOIN unnest($9::text[]) WITH ORDINALITY AS g(code, ord) ON g.ord = n.ord
				ORDER BY n.ord ON CONFLICT DO NOTHING RETURNING code, publication_id AS pid),
			`+batchPub, append(pubArgs(reqs, batch, meta, pubIDs), camp.camp.ID, now, drawn)...)
		if err != nil {
			return
		}
		var (
			again []int
			lost  []string // codes inserted for a key a concurrent Publish took
			lostP []string // and their publication ids
		)
		j := 0
		for ; rows.Next(); j++ {
			var (
				code     *string
				inserted bool
				off      int
			)
			if err := rows.Scan(&code, &inserted, &off); err != nil {
				break
			}
			switch {
			case code != nil && inserted:
				made(batch[j], pubIDs[j], *code)
			case code != nil:
				lost, lostP = append(lost, *code), append(lostP, pubIDs[j])
			default:
				again = append(again, batch[j]) // a collision, or a published key (Publish then finds it)
			}
		}
		rows.Close()
		if len(lost) > 0 {
			if _, err := c.pool.Exec(ctx, `DELETE FROM codes WHERE code = ANY($1) AND publication_id = ANY($2)`, lost, lostP); err != nil {
				return
			}
		}
		if rows.Err() != nil || j < len(batch) {
			return
		}
		// Keep drawing only for the requests whose key is not published.
		var keys []string
		for _, i := range again {
			keys = append(keys, reqs[i].Key)
		}
		if len(keys) == 0 {
			return
		}
		var taken []string
		if err := c.pool.QueryRow(ctx, `SELECT coalesce(array_agg(key), '{}') FROM publications WHERE key = ANY($1)`, keys).Scan(&taken); err != nil {
			return
		}
		published := make(map[string]bool, len(taken))
		for _, k := range taken {
			published[k] = true
		}
		batch = batch[:0]
		for _, i := range again {
			if !published[reqs[i].Key] {
				batch = append(batch, i)
			}
		}
	}
}
