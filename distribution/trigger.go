package distribution

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
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
		if m.campaigns != nil {
			c, err := m.campaigns.Campaign(ctx, t.CampaignID)
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
// templates compiled once.
type autoEntry struct {
	d        Distribution
	tpl      []compiled
	channels []Channel
	keys     []string // campaign keys (id and name) of a campaign-narrowed trigger
	seq      int      // when this Manager first saw the distribution
}

func (e *autoEntry) newRun() *run {
	return &run{d: e.d, tpl: e.tpl, channels: e.channels}
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

// autoState is the Manager's set of active automatic distributions.
type autoState struct {
	all     map[string]*autoEntry // guarded by Manager.mu
	seen    map[string]int        // distribution id -> order first seen (guarded by Manager.mu)
	idx     atomic.Pointer[autoIndex]
	pending []Event             // unfinished events found at startup, for Run (guarded by Manager.mu)
	waiting []waitingDeliveries // scheduled deliveries found at startup, for Run (guarded by Manager.mu)
}

// indexDistribution adds d to the event index when it is an active
// automatic distribution and removes it otherwise.
func (m *Manager) indexDistribution(d Distribution) {
	var e *autoEntry
	if d.Mode == Automatic && d.Status == StatusActive {
		tpl, err := compileChannels(&d)
		if err != nil {
			m.log.Error("automatic distribution does not compile; not indexed", "distribution", d.ID, "err", err)
		} else {
			e = &autoEntry{d: d.Clone(), tpl: tpl, channels: make([]Channel, len(d.Channels))}
			for i, ch := range d.Channels {
				e.channels[i] = m.channels[ch.Channel]
			}
			if cid := d.Trigger.CampaignID; cid != "" {
				e.keys = []string{cid}
				if m.campaigns != nil {
					if c, err := m.campaigns.Campaign(context.Background(), cid); err == nil && c.Name != cid {
						e.keys = append(e.keys, c.Name)
					}
				}
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seq, ok := m.auto.seen[d.ID]
	if !ok {
		seq = len(m.auto.seen)
		m.auto.seen[d.ID] = seq
	}
	if e == nil {
		if _, ok := m.auto.all[d.ID]; !ok {
			return
		}
		delete(m.auto.all, d.ID)
	} else {
		e.seq = seq
		m.auto.all[d.ID] = e
	}
	m.auto.idx.Store(buildIndex(m.auto.all))
}

// loadAutomatic indexes the stored active automatic distributions.
func (m *Manager) loadAutomatic(ctx context.Context) error {
	ds, err := m.store.ListDistributions(ctx, StatusActive)
	if err != nil {
		return err
	}
	for _, d := range ds {
		m.indexDistribution(d)
	}
	return m.snapshotAutomatic(ctx)
}

// ReloadTriggers rebuilds the event index from the Store. A Manager keeps
// the index of its own Activate, Pause, UpdateDistribution and Cancel
// calls current; when several replicas share a Store, call it on the
// others after such a change (or periodically) so they match events
// against the same distributions.
func (m *Manager) ReloadTriggers(ctx context.Context) error {
	ds, err := m.store.ListDistributions(ctx, StatusActive)
	if err != nil {
		return err
	}
	fresh := map[string]bool{}
	for _, d := range ds {
		fresh[d.ID] = true
		m.indexDistribution(d)
	}
	m.mu.Lock()
	var stale []string
	for id := range m.auto.all {
		if !fresh[id] {
			stale = append(stale, id)
		}
	}
	m.mu.Unlock()
	for _, id := range stale {
		m.indexDistribution(Distribution{ID: id}) // not active: removed
	}
	return nil
}
