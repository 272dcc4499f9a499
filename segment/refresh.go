package segment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/codedrop/codedrop/internal/fresh"
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
	_, err := e.reload(ctx)
	return err
}

// Versioner is an optional interface of a [Store]: a cheap way to tell
// that the segments changed. With it, [Engine.RefreshSince] costs one
// version read (shared by concurrent callers) and reads the segments
// only when the version moved. store.Memory and store/postgres implement
// it; store/storetest checks it.
type Versioner interface {
	// SegmentsVersion returns a number that changes whenever a
	// CreateSegment, UpdateSegment, DeleteSegment or SetSyncStatus
	// commits (not SetSyncProgress or membership writes). A reader that
	// sees a version sees every write committed before it.
	SegmentsVersion(ctx context.Context) (int64, error)
}

// RefreshSince brings the engine's rules in line with the Store as of a
// moment after since (a time.Now reading taken when the caller's work
// began), like [Engine.Refresh] with no maxAge: a segment created,
// updated or deleted through another engine (replica) before since
// governs what the caller does next. When the Store is a [Versioner], it
// reads the version (one read, started after since, serves every caller
// whose work began before it) and reads the segments only when the
// version moved; otherwise it reads every segment each time.
// distribution.Manager calls it before re-checking written customers.
func (e *Engine) RefreshSince(ctx context.Context, since time.Time) error {
	if e.ver == nil {
		_, err := e.reload(ctx)
		return err
	}
	return e.ver.fresh(ctx, since, e)
}

// reload reads every segment and refreshes the rules (see Refresh). With
// a Versioner it reads the version first and records it; loaded reports
// whether it got that far (a rule that does not compile is an error
// then, the others are refreshed).
func (e *Engine) reload(ctx context.Context) (loaded bool, err error) {
	var v int64
	if e.ver != nil {
		if v, err = e.ver.src.SegmentsVersion(ctx); err != nil {
			return false, fmt.Errorf("segment: refresh: read the segments version: %w", err)
		}
	}
	// Under memMu, which Update holds while it writes the store: what is
	// read here is not older than what Update installed.
	e.memMu.Lock()
	defer e.memMu.Unlock()
	stored := map[string]Segment{}
	for s, err := range e.store.Segments(ctx) {
		if err != nil {
			return false, fmt.Errorf("segment: refresh: %w", err)
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
	if e.ver != nil {
		// Recorded with a rule that does not compile too: it is reported
		// once, not at every write.
		e.ver.set(v)
	}
	return true, errors.Join(errs...)
}

// versionState is what an engine knows of its Store's SegmentsVersion.
type versionState struct {
	src Versioner

	mu      sync.Mutex
	version int64 // the version the rules reflect
	gate    fresh.Gate
}

// readInit reads the version the engine starts from.
func (v *versionState) readInit(ctx context.Context) error {
	start := time.Now()
	n, err := v.src.SegmentsVersion(ctx)
	if err != nil {
		return fmt.Errorf("segment: read the segments version: %w", err)
	}
	v.version = n
	v.gate.Done(start)
	return nil
}

func (v *versionState) set(n int64) {
	v.mu.Lock()
	v.version = n
	v.mu.Unlock()
}

// fresh makes e's rules reflect the store as of a moment after since
// (see Engine.RefreshSince).
func (v *versionState) fresh(ctx context.Context, since time.Time, e *Engine) error {
	return v.gate.Since(ctx, since, func(ctx context.Context) (bool, error) { return v.check(ctx, e) })
}

// check reads the version and reloads e's rules when it moved; ok reports
// whether the rules now reflect the version read.
func (v *versionState) check(ctx context.Context, e *Engine) (ok bool, err error) {
	n, err := v.src.SegmentsVersion(ctx)
	if err != nil {
		return false, fmt.Errorf("segment: read the segments version: %w", err)
	}
	v.mu.Lock()
	same := n == v.version
	v.mu.Unlock()
	if same {
		return true, nil
	}
	return e.reload(ctx)
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
