package segment

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrSuperseded reports that a sync stopped because [Engine.Update]
// changed the segment's rule or type while it ran. The segment is left
// Syncing; sync it again (distribution.Manager does).
var ErrSuperseded = errors.New("segment: sync superseded by an update of the segment")

// CustomerCounter is an optional interface of Config.Customers: a store
// that counts its customers cheaply. A sync then knows its SyncTotal from
// the start. store.Memory and store/postgres implement it.
type CustomerCounter interface {
	CountCustomers(ctx context.Context) (int, error)
}

// countCustomers returns the number of customers, or 0 when the store
// cannot count them.
func (e *Engine) countCustomers(ctx context.Context) (int, error) {
	if e.counter == nil {
		return 0, nil
	}
	n, err := e.counter.CountCustomers(ctx)
	if err != nil {
		return 0, fmt.Errorf("segment sync: count customers: %w", err)
	}
	return n, nil
}

// current reports whether r is still the engine's rule for its segment
// (Update, Refresh and Delete replace or drop it).
func (e *Engine) current(r *rule) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	cur := e.rules[r.seg.ID]
	return cur != nil && cur.gen == r.gen
}

// Update changes a stored segment's Name, Type and rule (Filter or
// Expression), or a static segment's CustomerIDs, and returns the segment
// as stored. changed reports whether the update changes who belongs: a
// rule segment is then Syncing and the caller runs [Engine.Sync]; a static
// segment already has its new members.
// s.ID names the segment; every other field of s is validated as in
// [Engine.Create], and sync status, progress, SyncedAt and CreatedAt are
// the engine's. Invalid input fails with an error wrapping ErrInvalid (a
// bad rule as a *FilterError) and a missing segment with ErrNotFound; in
// both cases nothing is stored.
//
// What changes with the update:
//
//   - Only the name: the segment is stored with the new name; members and
//     sync status stay as they are (changed false).
//   - The rule or the type of a segment that is (now) a rule segment
//     (auto-update and passive count as different types): the
//     new rule replaces the old one at once for [Engine.CustomerChanged],
//     the segment is back to Syncing with progress 0, a sync running on
//     this engine stops with [ErrSuperseded], and changed is true: the
//     caller runs [Engine.Sync]. Members stay until that sync checks them;
//     its changes are emitted as usual (Emit set for an auto-update
//     segment that had been synced before), so customers who enter or
//     leave because of the new rule fire entered/left events.
//   - A static segment (or one that becomes static): its members become
//     the given CustomerIDs at once and it is Synced; changed is true when
//     the list or the type changed. No events are emitted for static
//     segments.
//
// Updates of one segment through several engines (replicas) must not run
// concurrently with a sync on another engine: see [Engine].
func (e *Engine) Update(ctx context.Context, s Segment) (out Segment, changed bool, err error) {
	if s.ID == "" {
		return Segment{}, false, fmt.Errorf("segment %q: id is required to update a segment: %w", s.Name, ErrInvalid)
	}
	if err := s.validate(); err != nil {
		return Segment{}, false, err
	}
	var (
		r   *rule
		ids []string
	)
	if s.Type == Static {
		if ids, err = e.resolveStatic(ctx, s.CustomerIDs); err != nil {
			return Segment{}, false, fmt.Errorf("segment %s: %w", s.ID, err)
		}
	} else if r, err = e.compile(s); err != nil {
		return Segment{}, false, fmt.Errorf("segment %s: %w", s.ID, err)
	}

	// Read and write under memMu: Sync marks a segment Synced under it, so
	// the sync fields read here are current.
	e.memMu.Lock()
	defer e.memMu.Unlock()
	cur, err := e.store.GetSegment(ctx, s.ID)
	if err != nil {
		return Segment{}, false, err
	}
	next := cur
	next.Name, next.Type, next.Filter, next.Expression, next.CustomerIDs = s.Name, s.Type, s.Filter, s.Expression, ids
	if s.Type == Static {
		changed = cur.Type != Static || !sameSet(cur.CustomerIDs, ids)
	} else {
		changed = cur.Type != next.Type || ruleText(cur) != ruleText(next)
	}
	now := e.now()
	next.UpdatedAt = now
	write := next
	if changed {
		next.SyncChecked, next.SyncTotal = 0, 0
		if next.Type == Static {
			next.SyncStatus, next.SyncedAt = Synced, now
		} else {
			next.SyncStatus = Syncing
		}
		write = next
	} else {
		write.SyncStatus = "" // leave the sync fields as a running sync sets them
	}
	if err := e.store.UpdateSegment(ctx, write); err != nil {
		return Segment{}, false, fmt.Errorf("segment %s: %w", s.ID, err)
	}
	if !changed {
		// The engine's rule (and a sync running with it) stays: it does
		// not read the name.
		return next, false, nil
	}
	e.mu.Lock()
	if r != nil {
		r.seg = next
		e.rules[s.ID] = r
	} else {
		delete(e.rules, s.ID)
	}
	e.relist()
	e.mu.Unlock()
	if next.Type == Static {
		if err := e.replaceMembers(ctx, s.ID, ids); err != nil {
			return Segment{}, false, err
		}
	}
	return next, true, nil
}

// ruleText is a rule's canonical form, to tell whether it changed.
func ruleText(s Segment) string {
	if s.Filter != nil {
		return "filter:" + s.Filter.String()
	}
	return "expr:" + s.Expression
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// replaceMembers makes ids the members of segment id; memMu must be held.
func (e *Engine) replaceMembers(ctx context.Context, id string, ids []string) error {
	want := make(map[string]bool, len(ids))
	for _, c := range ids {
		want[c] = true
	}
	var remove []string
	for c, err := range e.store.Members(ctx, id, MemberOptions{}) {
		if err != nil {
			return fmt.Errorf("segment %s: read members: %w", id, err)
		}
		if want[c] {
			delete(want, c)
		} else {
			remove = append(remove, c)
		}
	}
	for chunk := range slices.Chunk(remove, e.batch) {
		if err := e.store.RemoveMembers(ctx, id, chunk); err != nil {
			return fmt.Errorf("segment %s: remove members: %w", id, err)
		}
	}
	add := make([]string, 0, len(want))
	for _, c := range ids {
		if want[c] {
			add = append(add, c)
		}
	}
	for chunk := range slices.Chunk(add, e.batch) {
		if err := e.store.AddMembers(ctx, id, chunk); err != nil {
			return fmt.Errorf("segment %s: add members: %w", id, err)
		}
	}
	return nil
}
