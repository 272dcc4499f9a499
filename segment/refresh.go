package segment

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Refresh brings the engine's compiled rules in line with the Store, where
// other engines (other replicas) create, update and delete segments: it
// adopts rule segments it does not know, drops those deleted or made
// static, and recompiles those whose type or rule changed (a sync running
// here with the old rule then stops with [ErrSuperseded]). A rule that
// did not change keeps its compiled matcher and any sync running with it;
// only its sync fields are refreshed. A stored rule that no longer
// compiles is left as the engine has it and reported in the error (after
// the others are refreshed).
//
// Refresh does nothing when the last refresh (or NewEngine) is younger
// than maxAge by the engine's clock; 0 always refreshes. The Manager calls
// it before re-checking written customers, so a change made on another
// replica governs [Engine.CustomerChanged] here within maxAge. It reads
// every segment once (not the memberships).
func (e *Engine) Refresh(ctx context.Context, maxAge time.Duration) error {
	now := e.now()
	e.refreshMu.Lock()
	if maxAge > 0 && !e.refreshed.IsZero() && now.Sub(e.refreshed) < maxAge {
		e.refreshMu.Unlock()
		return nil
	}
	e.refreshed = now
	e.refreshMu.Unlock()

	// Under memMu, which Update holds while it writes the store: what is
	// read here is not older than what Update installed.
	e.memMu.Lock()
	defer e.memMu.Unlock()
	stored := map[string]Segment{}
	for s, err := range e.store.Segments(ctx) {
		if err != nil {
			return fmt.Errorf("segment: refresh: %w", err)
		}
		if s.Type.IsRule() {
			stored[s.ID] = s
		}
	}
	e.mu.RLock()
	cur := e.rules
	e.mu.RUnlock()
	next := make(map[string]*rule, len(stored))
	var errs []error
	for id, s := range stored {
		r, err := e.fresh(cur[id], s)
		if err != nil {
			errs = append(errs, fmt.Errorf("segment %s: stored rule: %w", id, err))
			if cur[id] != nil {
				next[id] = cur[id]
			}
			continue
		}
		next[id] = r
	}
	e.mu.Lock()
	e.rules = next
	e.relist()
	e.mu.Unlock()
	return errors.Join(errs...)
}

// refreshOne brings one segment's rule in line with the Store and returns
// it; nil (and the rule dropped) for a static segment. memMu must be held.
func (e *Engine) refreshOne(ctx context.Context, id string) (*rule, error) {
	s, err := e.store.GetSegment(ctx, id)
	if err != nil {
		return nil, err
	}
	e.mu.RLock()
	cur := e.rules[id]
	e.mu.RUnlock()
	if !s.Type.IsRule() {
		if cur != nil {
			e.mu.Lock()
			delete(e.rules, id)
			e.relist()
			e.mu.Unlock()
		}
		return nil, nil
	}
	r, err := e.fresh(cur, s)
	if err != nil {
		return nil, fmt.Errorf("segment %s: %w", id, err)
	}
	if r != cur {
		e.mu.Lock()
		e.rules[id] = r
		e.relist()
		e.mu.Unlock()
	}
	return r, nil
}

// fresh returns the rule for stored segment s: cur when s's type and rule
// are cur's (a copy with s's sync fields when those changed), else s
// compiled anew.
func (e *Engine) fresh(cur *rule, s Segment) (*rule, error) {
	if cur != nil && cur.seg.Type == s.Type && ruleText(cur.seg) == ruleText(s) {
		if cur.seg.SyncStatus == s.SyncStatus && cur.seg.SyncedAt.Equal(s.SyncedAt) {
			return cur, nil
		}
		c := *cur // same gen: a sync running with cur is not superseded
		c.seg.SyncStatus, c.seg.SyncedAt, c.seg.UpdatedAt = s.SyncStatus, s.SyncedAt, s.UpdatedAt
		return &c, nil
	}
	return e.compile(s)
}
