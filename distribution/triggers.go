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
	"time"

	"github.com/codedrop/codedrop/internal/fresh"
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

// triggerSource is what the trigger index reads of the store.
type triggerSource interface {
	TriggersVersion(ctx context.Context) (int64, error)
	ListDistributions(ctx context.Context, statuses ...Status) ([]Distribution, error)
}

// triggers is the Manager's index of the active automatic distributions:
// which ones an event matches, without scanning them all. It is a cache of
// the store, never the reason a send happens after a pause or an event is
// dropped: fresh reads the store's TriggersVersion and reloads the index
// when another replica (or this one) changed an automatic distribution.
// Safe for concurrent use.
type triggers struct {
	src       triggerSource
	channels  map[string]Channel
	campaigns campaignLookup // nil: campaign names are not resolved
	log       *slog.Logger

	mu   sync.Mutex
	all  map[string]*autoEntry // active automatic distributions by id
	seen map[string]int        // distribution id -> order first seen
	idx  atomic.Pointer[autoIndex]

	version int64 // the store's version the index reflects (guarded by mu)
	loaded  bool  // the index was loaded from the store once (guarded by mu)
	gate    fresh.Gate
}

func newTriggers(src triggerSource, channels map[string]Channel, campaigns campaignLookup, log *slog.Logger) *triggers {
	return &triggers{src: src, channels: channels, campaigns: campaigns, log: log, all: map[string]*autoEntry{}, seen: map[string]int{}}
}

// fresh makes the index reflect the store as of a moment after since (the
// wall clock's monotonic time at which the caller's work began): it
// reads the store's version (one read, started after since, serves every
// caller whose work began before it) and reloads the index when the
// version moved. An event handled after Activate returned is thus always
// matched against that activation, whichever replica made it.
func (t *triggers) fresh(ctx context.Context, since time.Time) error {
	return t.gate.Since(ctx, since, t.refresh)
}

// refresh reads the store's version and reloads the index when it moved.
func (t *triggers) refresh(ctx context.Context) (bool, error) {
	v, err := t.src.TriggersVersion(ctx)
	if err != nil {
		return false, fmt.Errorf("distribution: reading the triggers version: %w", err)
	}
	t.mu.Lock()
	same := t.loaded && v == t.version
	t.mu.Unlock()
	if !same {
		ds, err := t.src.ListDistributions(ctx, StatusActive)
		if err != nil {
			return false, fmt.Errorf("distribution: loading automatic distributions: %w", err)
		}
		t.load(ctx, ds)
	}
	t.mu.Lock()
	if !t.loaded || v >= t.version {
		t.version = v
	}
	t.loaded = true
	t.mu.Unlock()
	return true, nil
}

// active reports whether distribution id is active in the index, at
// revision rev or later.
func (t *triggers) active(id string, rev int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.all[id]
	return ok && e.d.Revision >= rev
}

// match returns the active distributions e matches, oldest first.
func (t *triggers) match(e *Event) []*autoEntry { return t.idx.Load().match(e) }

// listens reports whether some active distribution matches e.
func (t *triggers) listens(e *Event) bool {
	ix := t.idx.Load()
	return ix.has(e.Type) && len(ix.match(e)) > 0
}

// listensTo reports whether some active distribution of the index listens
// to events of type typ (listens may still find none for an event).
func (t *triggers) listensTo(typ string) bool {
	return t.idx.Load().has(typ)
}

// entry compiles d into an index entry (nil when d is not an active
// automatic distribution, or does not compile).
func (t *triggers) entry(ctx context.Context, d Distribution) *autoEntry {
	if d.Mode != Automatic || d.Status != StatusActive {
		return nil
	}
	pl, err := newPlan(d.Clone(), t.channels)
	if err != nil {
		t.log.ErrorContext(ctx, "automatic distribution does not compile; not indexed", "distribution", d.ID, "err", err)
		return nil
	}
	e := &autoEntry{d: pl.d, plan: pl}
	if cid := d.Trigger.CampaignID; cid != "" {
		e.keys = []string{cid}
		if t.campaigns != nil {
			if c, err := t.campaigns.Campaign(ctx, cid); err == nil && c.Name != cid {
				e.keys = append(e.keys, c.Name)
			}
		}
	}
	return e
}

// index adds d to the index when it is an active automatic distribution
// and removes it otherwise (this replica's own changes, at once; fresh
// catches everyone's).
func (t *triggers) index(ctx context.Context, d Distribution) {
	e := t.entry(ctx, d)
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.all[d.ID]; ok && cur.d.Revision > d.Revision {
		return // the index already holds a newer revision
	}
	if !t.putLocked(d.ID, e) {
		return
	}
	t.idx.Store(buildIndex(t.all))
}

// putLocked sets (or, for a nil e, removes) the entry of id; it reports
// whether the index changed.
func (t *triggers) putLocked(id string, e *autoEntry) bool {
	seq, ok := t.seen[id]
	if !ok {
		seq = len(t.seen)
		t.seen[id] = seq
	}
	if e == nil {
		if _, ok := t.all[id]; !ok {
			return false
		}
		delete(t.all, id)
		return true
	}
	e.seq = seq
	t.all[id] = e
	return true
}

// load makes the index hold exactly the active automatic distributions in
// ds, compiling only those that are new or changed.
func (t *triggers) load(ctx context.Context, ds []Distribution) {
	t.mu.Lock()
	have := make(map[string]int64, len(t.all))
	for id, e := range t.all {
		have[id] = e.d.Revision
	}
	t.mu.Unlock()
	entries := map[string]*autoEntry{}
	for _, d := range ds {
		if rev, ok := have[d.ID]; ok && rev == d.Revision {
			continue // unchanged
		}
		entries[d.ID] = t.entry(ctx, d)
	}
	keep := make(map[string]bool, len(ds))
	for _, d := range ds {
		keep[d.ID] = d.Mode == Automatic && d.Status == StatusActive
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	for id, e := range entries {
		changed = t.putLocked(id, e) || changed
	}
	for id := range t.all {
		if !keep[id] {
			changed = t.putLocked(id, nil) || changed
		}
	}
	if changed || t.idx.Load() == nil {
		t.idx.Store(buildIndex(t.all))
	}
}

// ReloadTriggers reloads the event index from the Store. It is no longer
// needed for correctness: before matching an event, every Manager checks
// the store's TriggersVersion and reloads what another replica changed.
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
