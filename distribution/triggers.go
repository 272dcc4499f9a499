package distribution

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/codedrop/codedrop/segment"
)

// validateTrigger checks an automatic distribution's trigger (normalized in
// place: a campaign name becomes its id).
func (m *Manager) validateTrigger(ctx context.Context, d *Distribution) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("distribution %q: %s: %s: %w", d.Name, field, fmt.Sprintf(format, args...), ErrInvalid)
	}
	t := &d.Trigger
	if t.Event == "" {
		return bad("trigger.event", "required for an automatic distribution")
	}
	k, ok := eventKinds[t.Event]
	if !ok {
		return bad("trigger.event", "%q is not a supported event type", t.Event)
	}
	if k.segment {
		if t.SegmentID == "" {
			return bad("trigger.segment_id", "required for %s", t.Event)
		}
		s, err := m.store.GetSegment(ctx, t.SegmentID)
		if err != nil {
			return fmt.Errorf("distribution %q: trigger.segment_id: %w", d.Name, err)
		}
		if s.Type != segment.AutoUpdate {
			return bad("trigger.segment_id", "segment %s is %s; only auto-update segments emit entered/left events", s.ID, s.Type)
		}
	} else if t.SegmentID != "" {
		return bad("trigger.segment_id", "only customer.segment.entered and customer.segment.left are narrowed by segment")
	}
	if t.IncludeExisting && t.Event != EventSegmentEntered {
		return bad("trigger.include_existing", "only for customer.segment.entered")
	}
	if t.CampaignID != "" {
		if !k.campaign {
			return bad("trigger.campaign_id", "%s is not narrowed by campaign (only voucher, redemption, reward and publication events are)", t.Event)
		}
		if m.campaignLookup != nil {
			c, err := m.campaignLookup.Campaign(ctx, t.CampaignID)
			if err != nil {
				return fmt.Errorf("distribution %q: trigger.campaign_id: %w", d.Name, err)
			}
			t.CampaignID = c.ID
		}
	}
	if t.Event == EventPublication && d.Campaign != "" {
		return bad("campaign", "a distribution triggered by %s sends the published code and never publishes another (no loops); leave campaign empty", t.Event)
	}
	return nil
}

// autoEntry is an active automatic distribution, ready to send: its
// plan compiled once.
type autoEntry struct {
	d    Distribution
	plan *plan
	keys []string // campaign keys (id and name) of a campaign-narrowed trigger
	seq  int      // when this Manager first saw the distribution
}

// autoIndex finds the active automatic distributions an event matches
// without scanning them all: by event type, then by segment or campaign.
// It is immutable; changes build a new one.
type autoIndex struct {
	byType map[string]*typeIndex
}

type typeIndex struct {
	any   []*autoEntry            // not narrowed
	byKey map[string][]*autoEntry // segment id, or campaign id and name
}

// compareEntries orders distributions oldest first: by CreatedAt, then by
// the order this Manager first saw them (ids made in one millisecond do not
// sort by time), then by id.
func compareEntries(a, b *autoEntry) int {
	if c := a.d.CreatedAt.Compare(b.d.CreatedAt); c != 0 {
		return c
	}
	if a.seq != b.seq {
		return cmp.Compare(a.seq, b.seq)
	}
	return strings.Compare(a.d.ID, b.d.ID)
}

// buildIndex indexes all; each list is oldest distribution first, so an
// event's deliveries go out in that order (which decides who wins a
// frequency cap).
func buildIndex(all map[string]*autoEntry) *autoIndex {
	ix := &autoIndex{byType: map[string]*typeIndex{}}
	sorted := make([]*autoEntry, 0, len(all))
	for _, e := range all {
		sorted = append(sorted, e)
	}
	slices.SortFunc(sorted, compareEntries)
	for _, e := range sorted {
		ti := ix.byType[e.d.Trigger.Event]
		if ti == nil {
			ti = &typeIndex{byKey: map[string][]*autoEntry{}}
			ix.byType[e.d.Trigger.Event] = ti
		}
		switch {
		case e.d.Trigger.SegmentID != "":
			ti.byKey[e.d.Trigger.SegmentID] = append(ti.byKey[e.d.Trigger.SegmentID], e)
		case len(e.keys) > 0:
			for _, k := range e.keys {
				ti.byKey[k] = append(ti.byKey[k], e)
			}
		default:
			ti.any = append(ti.any, e)
		}
	}
	return ix
}

// has reports whether some distribution may match events of typ.
func (ix *autoIndex) has(typ string) bool {
	return ix != nil && ix.byType[typ] != nil
}

// match returns the distributions e matches.
func (ix *autoIndex) match(e *Event) []*autoEntry {
	if ix == nil {
		return nil
	}
	ti := ix.byType[e.Type]
	if ti == nil {
		return nil
	}
	if e.Segment != nil {
		return ti.byKey[e.Segment.ID]
	}
	out := ti.any
	if e.Voucher != nil && len(ti.byKey) > 0 {
		var keyed []*autoEntry
		for _, k := range [2]string{e.Voucher.CampaignID, e.Voucher.Campaign} {
			if k == "" {
				continue
			}
		next:
			for _, en := range ti.byKey[k] {
				for _, have := range keyed {
					if have == en {
						continue next
					}
				}
				keyed = append(keyed, en)
			}
		}
		if len(keyed) > 0 {
			out = append(append([]*autoEntry(nil), out...), keyed...)
			slices.SortFunc(out, compareEntries)
		}
	}
	return out
}

// triggers is the Manager's index of the active automatic distributions:
// which ones an event matches, without scanning them all. Safe for
// concurrent use.
type triggers struct {
	channels  map[string]Channel
	campaigns campaignLookup // nil: campaign names are not resolved
	log       *slog.Logger

	mu   sync.Mutex
	all  map[string]*autoEntry // active automatic distributions by id
	seen map[string]int        // distribution id -> order first seen
	idx  atomic.Pointer[autoIndex]
}

func newTriggers(channels map[string]Channel, campaigns campaignLookup, log *slog.Logger) *triggers {
	return &triggers{channels: channels, campaigns: campaigns, log: log, all: map[string]*autoEntry{}, seen: map[string]int{}}
}

// match returns the active distributions e matches, oldest first.
func (t *triggers) match(e *Event) []*autoEntry { return t.idx.Load().match(e) }

// listens reports whether some active distribution matches e.
func (t *triggers) listens(e *Event) bool {
	ix := t.idx.Load()
	return ix.has(e.Type) && len(ix.match(e)) > 0
}

// index adds d to the index when it is an active automatic distribution
// and removes it otherwise.
func (t *triggers) index(ctx context.Context, d Distribution) {
	var e *autoEntry
	if d.Mode == Automatic && d.Status == StatusActive {
		pl, err := newPlan(d.Clone(), t.channels)
		if err != nil {
			t.log.ErrorContext(ctx, "automatic distribution does not compile; not indexed", "distribution", d.ID, "err", err)
		} else {
			e = &autoEntry{d: pl.d, plan: pl}
			if cid := d.Trigger.CampaignID; cid != "" {
				e.keys = []string{cid}
				if t.campaigns != nil {
					if c, err := t.campaigns.Campaign(ctx, cid); err == nil && c.Name != cid {
						e.keys = append(e.keys, c.Name)
					}
				}
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	seq, ok := t.seen[d.ID]
	if !ok {
		seq = len(t.seen)
		t.seen[d.ID] = seq
	}
	if e == nil {
		if _, ok := t.all[d.ID]; !ok {
			return
		}
		delete(t.all, d.ID)
	} else {
		e.seq = seq
		t.all[d.ID] = e
	}
	t.idx.Store(buildIndex(t.all))
}

// load indexes the active automatic distributions in ds and drops the
// indexed ones ds does not hold.
func (t *triggers) load(ctx context.Context, ds []Distribution) {
	fresh := map[string]bool{}
	for _, d := range ds {
		fresh[d.ID] = true
		t.index(ctx, d)
	}
	t.mu.Lock()
	var stale []string
	for id := range t.all {
		if !fresh[id] {
			stale = append(stale, id)
		}
	}
	t.mu.Unlock()
	for _, id := range stale {
		t.index(ctx, Distribution{ID: id}) // not active: removed
	}
}

// ReloadTriggers rebuilds the event index from the Store. A Manager keeps
// the index of its own Activate, Pause, UpdateDistribution and Cancel
// calls current; when several replicas share a Store, call it on the
// others after such a change (or periodically) so they match events
// against the same distributions.
func (m *Manager) ReloadTriggers(ctx context.Context) error {
	if err := m.init(ctx); err != nil {
		return err
	}
	ds, err := m.store.ListDistributions(ctx, StatusActive)
	if err != nil {
		return err
	}
	m.triggers.load(ctx, ds)
	return nil
}
