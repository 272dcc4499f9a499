package codes

import (
	"context"
	"fmt"
	"hash/maphash"
	"maps"
	"strings"
	"time"

	"github.com/codedrop/codedrop/internal/hashidx"
	"github.com/codedrop/codedrop/internal/ids"
)

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
	h := maphash.String(c.pubs.seed, req.Key)
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lookup(req.CampaignID)
	if err != nil {
		return Publication{}, err
	}
	if pos, ok := c.pubs.find(h, req.Key); ok {
		r := c.pubs.rec(pos)
		if c.pubs.routes[r.route].camp != st.idx || r.cust != req.CustomerID {
			p := c.publication(pos)
			return Publication{}, fmt.Errorf("key %q: already used to publish to customer %q from campaign %q: %w", req.Key, p.CustomerID, p.CampaignName, ErrConflict)
		}
		return c.publication(pos), nil
	}
	var code string
	generated := false
	switch {
	case st.next < len(st.pool):
		code = st.pool[st.next]
		st.pool[st.next] = "" // the publication holds it now
		st.next++
	case st.c.Type == AutoUpdate:
		code, err = st.gen.find(c.rnd, func(code string) bool { _, ok := c.owner(code); return ok })
		if err != nil {
			return Publication{}, fmt.Errorf("campaign %q: %w", st.c.Name, err)
		}
		generated = true
	default:
		return Publication{}, fmt.Errorf("campaign %q: all %d codes are published: %w", st.c.Name, len(st.pool), ErrNoCodesLeft)
	}
	id := ids.NewRaw()
	at := c.now().Round(0) // as it reads back
	pos := c.pubs.add(h, id, st.idx, code, generated, at, &req)
	st.pubs = append(st.pubs, pos)
	return Publication{
		ID:             ids.Format(pubPrefix, id),
		Key:            req.Key,
		CampaignID:     st.c.ID,
		CampaignName:   st.c.Name,
		Code:           code,
		CustomerID:     req.CustomerID,
		DistributionID: req.DistributionID,
		Channel:        req.Channel,
		Metadata:       req.Metadata, // the caller's own map; the stored one is a copy
		CreatedAt:      at,
	}, nil
}

// publication returns the publication at pos (c.mu held).
func (c *Memory) publication(pos uint32) Publication {
	t := &c.pubs
	r := t.rec(pos)
	rt := &t.routes[r.route]
	camp := &c.order[rt.camp].c
	p := Publication{
		ID:             ids.Format(pubPrefix, r.id),
		Key:            r.key,
		CampaignID:     camp.ID,
		CampaignName:   camp.Name,
		Code:           r.code,
		CustomerID:     r.cust,
		DistributionID: rt.dist,
		Channel:        rt.channel,
	}
	if r.flags&pubKeyJoined != 0 {
		p.Key = rt.dist + "/" + r.cust + "/" + r.key
	}
	if r.flags&pubMeta != 0 {
		p.Metadata = maps.Clone(t.meta[pos])
	}
	if r.flags&pubOddTime != 0 {
		p.CreatedAt = t.oddAt[pos]
	} else {
		p.CreatedAt = time.Unix(0, r.at).In(t.locs[r.loc])
	}
	return p
}

// Publications returns the campaign's publications in the order they
// were made. An unknown campaign fails with ErrNotFound.
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
	for i, pos := range st.pubs {
		out[i] = c.publication(pos)
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

const pubPrefix = "pub"

// pubTable holds a Memory's publications as compact records (80 bytes
// and an index entry each, against some 350 for a *Publication, its id,
// its key and its map entry), found by their key's hash. A record keeps the key once:
// a key "<distribution>/<customer>/<rest>" (a distribution's) as its rest.
type pubTable struct {
	seed  maphash.Seed
	recs  [][]pubRec
	n     uint32
	index hashidx.Index // by key
	// generated finds the records whose code was generated for them (not
	// taken from a pool), by code: with Memory.codes, every reserved code.
	generated hashidx.Index
	routes    []pubRoute
	route     map[pubRoute]uint32
	// rest is the last key rest stored per route (a copy: a record must
	// not keep the caller's whole key alive), which the next record of the
	// route shares when its rest is the same (a manual distribution's
	// "manual").
	rest  []string
	locs  []*time.Location
	meta  map[uint32]map[string]any // the publications with Metadata
	oddAt map[uint32]time.Time      // CreatedAt outside 1685-2255, or past the 255th location
}

// pubRec is one publication.
type pubRec struct {
	id    ids.Raw
	code  string
	cust  string
	key   string // the key, or what follows "<distribution>/<customer>/" (pubKeyJoined)
	at    int64  // CreatedAt, Unix ns
	route uint32 // campaign, distribution and channel: index in pubTable.routes
	loc   uint8  // CreatedAt's location: index in pubTable.locs
	flags uint8
}

// pubRec.flags.
const (
	pubKeyJoined = 1 << iota
	pubMeta
	pubOddTime
)

// pubRoute is what many publications share: their campaign (index in
// Memory.order), distribution and channel.
type pubRoute struct {
	camp          uint32
	dist, channel string
}

const (
	pubChunkBits = 10
	pubChunk     = 1 << pubChunkBits
)

func newPubTable() pubTable {
	return pubTable{seed: maphash.MakeSeed(), route: map[pubRoute]uint32{}, locs: []*time.Location{time.UTC, time.Local}}
}

func (t *pubTable) rec(pos uint32) *pubRec {
	return &t.recs[pos>>pubChunkBits][pos&(pubChunk-1)]
}

// keyIs reports whether r's key is key.
func (t *pubTable) keyIs(r *pubRec, key string) bool {
	if r.flags&pubKeyJoined == 0 {
		return r.key == key
	}
	dist := t.routes[r.route].dist
	n := len(dist) + 1 + len(r.cust) + 1
	return len(key) == n+len(r.key) && joins(key, dist, r.cust) && key[n:] == r.key
}

// joins reports whether key starts with dist + "/" + cust + "/".
func joins(key, dist, cust string) bool {
	n := len(dist) + 1 + len(cust) + 1
	return dist != "" && len(key) >= n && key[:len(dist)] == dist && key[len(dist)] == '/' &&
		key[len(dist)+1:n-1] == cust && key[n-1] == '/'
}

// keyHash returns the hash of r's key.
func (t *pubTable) keyHash(r *pubRec) uint64 {
	if r.flags&pubKeyJoined == 0 {
		return maphash.String(t.seed, r.key)
	}
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(t.routes[r.route].dist)
	h.WriteByte('/')
	h.WriteString(r.cust)
	h.WriteByte('/')
	h.WriteString(r.key)
	return h.Sum64()
}

// find returns the publication with key, of hash h.
func (t *pubTable) find(h uint64, key string) (uint32, bool) {
	return t.index.Find(h, func(pos uint32) bool { return t.keyIs(t.rec(pos), key) })
}

// findCode returns the record whose generated code is code.
func (t *pubTable) findCode(code string) (uint32, bool) {
	return t.generated.Find(maphash.String(t.seed, code), func(pos uint32) bool { return t.rec(pos).code == code })
}

// add stores a publication of req with id, campaign camp, code (generated
// for it, or from the campaign's pool) and CreatedAt at, and returns its
// position.
func (t *pubTable) add(h uint64, id ids.Raw, camp uint32, code string, generated bool, at time.Time, req *PublishRequest) uint32 {
	k := pubRoute{camp, req.DistributionID, req.Channel}
	route, ok := t.route[k]
	if !ok {
		route = uint32(len(t.routes))
		t.routes = append(t.routes, k)
		t.rest = append(t.rest, "")
		t.route[k] = route
	}
	pos := t.n
	if pos&(pubChunk-1) == 0 {
		t.recs = append(t.recs, make([]pubRec, pubChunk))
	}
	r := t.rec(pos)
	*r = pubRec{id: id, code: code, cust: req.CustomerID, key: req.Key, route: route}
	if joins(req.Key, req.DistributionID, req.CustomerID) {
		rest := req.Key[len(req.DistributionID)+1+len(req.CustomerID)+1:]
		if rest != t.rest[route] {
			t.rest[route] = strings.Clone(rest)
		}
		r.key = t.rest[route]
		r.flags |= pubKeyJoined
	}
	if req.Metadata != nil {
		if t.meta == nil {
			t.meta = map[uint32]map[string]any{}
		}
		t.meta[pos] = maps.Clone(req.Metadata)
		r.flags |= pubMeta
	}
	if loc, ok := t.locOf(at); ok {
		r.at, r.loc = at.UnixNano(), loc
	} else {
		if t.oddAt == nil {
			t.oddAt = map[uint32]time.Time{}
		}
		t.oddAt[pos] = at
		r.flags |= pubOddTime
	}
	t.n++
	t.index.Add(h, pos, func(pos uint32) uint64 { return t.keyHash(t.rec(pos)) })
	if generated {
		t.generated.Add(maphash.String(t.seed, code), pos, func(pos uint32) uint64 { return maphash.String(t.seed, t.rec(pos).code) })
	}
	return pos
}

// locOf returns the index of at's location, false when at does not fit in
// Unix nanoseconds (or the table of locations is full).
func (t *pubTable) locOf(at time.Time) (uint8, bool) {
	if sec := at.Unix(); sec < -9e9 || sec > 9e9 || at.IsZero() {
		return 0, false
	}
	loc := at.Location()
	for i, l := range t.locs {
		if l == loc {
			return uint8(i), true
		}
	}
	if len(t.locs) > 255 {
		return 0, false
	}
	t.locs = append(t.locs, loc)
	return uint8(len(t.locs) - 1), true
}
