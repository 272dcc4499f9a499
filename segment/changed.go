package segment

import (
	"context"
	"fmt"

	"github.com/codedrop/codedrop/customer"
)

// MembershipBatcher is an optional interface of a [Store]: the memberships
// of many customers read, and changed, in one call each. With it,
// [Engine.CustomersChanged] costs two store calls per batch (one when
// nothing changes) instead of one or two per customer. store.Memory and
// store/postgres implement it; store/storetest checks it.
type MembershipBatcher interface {
	// CustomersSegments returns, for each of customerIDs that is a member
	// of a segment, the ids of its segments in ascending order, as
	// [Store.CustomerSegments] does; customers with no membership are
	// absent from the map.
	CustomersSegments(ctx context.Context, customerIDs []string) (map[string][]string, error)
	// ChangeMembershipsBatch applies each change as
	// [Store.ChangeMemberships] would, all or none. A customer appears in
	// at most one change.
	ChangeMembershipsBatch(ctx context.Context, changes []MembershipChange) error
}

// MembershipChange is one customer's joins and leaves (see
// [Store.ChangeMemberships]), each in ascending segment ID order.
type MembershipChange struct {
	CustomerID string
	Join       []string
	Leave      []string
}

// custStripes is how many locks Engine.custMu spreads customers over.
const custStripes = 256

// stripe returns the custMu index of customer id (FNV-1a).
func stripe(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % custStripes)
}

// lockCustomers takes memMu for reading and the stripes of ids (in
// ascending order, so two batches never wait for each other in a
// circle), and returns the function that releases them.
func (e *Engine) lockCustomers(ids []string) (unlock func()) {
	e.memMu.RLock()
	var set [custStripes]bool
	for _, id := range ids {
		set[stripe(id)] = true
	}
	for i := range set {
		if set[i] {
			e.custMu[i].Lock()
		}
	}
	return func() {
		for i := range set {
			if set[i] {
				e.custMu[i].Unlock()
			}
		}
		e.memMu.RUnlock()
	}
}

// CustomerChanged re-checks one customer (as stored after a write) against
// every rule segment, persists the membership changes and returns them in
// segment ID order. It is [Engine.CustomersChanged] of one customer: one
// Match per rule segment, one CustomerSegments read and one write when
// something changed; it never scans other customers. Static memberships
// are not touched.
func (e *Engine) CustomerChanged(ctx context.Context, c customer.Customer) ([]Change, error) {
	if c.ID == "" {
		return nil, fmt.Errorf("segment: changed customer has no ID: %w", ErrInvalid)
	}
	return e.CustomersChanged(ctx, []customer.Customer{c})
}

// CustomersChanged re-checks customers written together (as stored after
// the write, in write order) against every rule segment, persists the
// membership changes and returns them: customer by customer in the order
// of cs, each customer's in segment ID order. The result is what calling
// [Engine.CustomerChanged] for each customer in turn returns (a customer
// written twice in cs is checked twice, its second version against the
// memberships its first left), but it costs one Match per customer and
// rule segment plus, when the Store is a [MembershipBatcher], one
// membership read for the batch and one write when something changed.
// With no rule segment it does nothing at all.
//
// Changes of different customers run concurrently; changes of one
// customer take turns, and a sync running meanwhile leaves the
// customers alone (see [Engine]).
func (e *Engine) CustomersChanged(ctx context.Context, cs []customer.Customer) ([]Change, error) {
	for i := range cs {
		if cs[i].ID == "" {
			return nil, fmt.Errorf("segment: changed customer %d has no ID: %w", i, ErrInvalid)
		}
	}
	e.mu.RLock()
	list := e.list
	e.mu.RUnlock()
	if len(list) == 0 || len(cs) == 0 {
		return nil, nil
	}
	now := e.now()
	nl := len(list)
	var wantBuf [128]bool
	want := wantBuf[:0]
	if n := len(cs) * nl; n > len(wantBuf) {
		want = make([]bool, 0, n)
	}
	for i := range cs {
		for _, r := range list {
			want = append(want, r.m.Match(&cs[i], now))
		}
	}

	// The distinct customers, first seen first (slot[i] is cs[i]'s), and
	// their segments as stored, under their locks.
	var one [1]string
	var oneSlot [1]int
	var oneHave [1][]string
	ids, slot, have := one[:], oneSlot[:], oneHave[:]
	if len(cs) == 1 {
		one[0] = cs[0].ID
		e.memMu.RLock()
		m := &e.custMu[stripe(one[0])]
		m.Lock()
		defer e.memMu.RUnlock()
		defer m.Unlock()
		segs, err := e.store.CustomerSegments(ctx, one[0])
		if err != nil {
			return nil, fmt.Errorf("customer %s: read segments: %w", one[0], err)
		}
		have[0] = segs
	} else {
		ids, slot = distinctIDs(cs)
		unlock := e.lockCustomers(ids)
		defer unlock()
		var err error
		if have, err = e.memberships(ctx, ids); err != nil {
			return nil, err
		}
	}
	// member[k*nl+j]: is customer ids[k] in list[j]? As stored, then as
	// the changes leave it.
	var memberBuf [128]bool
	member := memberBuf[:0]
	if n := len(ids) * nl; n > len(memberBuf) {
		member = make([]bool, 0, n)
	}
	differ := 0 // from the stored memberships: a capacity for changes
	for k := range ids {
		// list and have[k] are both sorted by segment ID: walk them
		// together.
		h, segs := 0, have[k]
		for j, r := range list {
			for h < len(segs) && segs[h] < r.seg.ID {
				h++ // a static segment, or one this engine does not know
			}
			is := h < len(segs) && segs[h] == r.seg.ID
			member = append(member, is)
			if len(cs) == 1 && want[j] != is {
				differ++
			}
		}
	}
	var changes []Change
	var stored []bool // member as stored, copied before the first change
	for i := range cs {
		k := slot[i]
		for j, r := range list {
			w := want[i*nl+j]
			if w == member[k*nl+j] {
				continue
			}
			if stored == nil {
				stored = append(make([]bool, 0, len(member)), member...)
				changes = make([]Change, 0, max(differ, 4))
			}
			member[k*nl+j] = w
			changes = append(changes, Change{SegmentID: r.seg.ID, CustomerID: cs[i].ID, Entered: w, Emit: r.seg.Type == AutoUpdate})
		}
	}
	if len(changes) > 0 {
		muts := make([]MembershipChange, 0, len(ids))
		for k, id := range ids {
			joins, leaves := 0, 0
			for j := range list {
				if is, was := member[k*nl+j], stored[k*nl+j]; is && !was {
					joins++
				} else if !is && was {
					leaves++
				}
			}
			if joins+leaves == 0 {
				continue
			}
			segs := make([]string, 0, joins+leaves) // joins, then leaves: one allocation
			for j, r := range list {
				if member[k*nl+j] && !stored[k*nl+j] {
					segs = append(segs, r.seg.ID)
				}
			}
			for j, r := range list {
				if !member[k*nl+j] && stored[k*nl+j] {
					segs = append(segs, r.seg.ID)
				}
			}
			muts = append(muts, MembershipChange{CustomerID: id, Join: segs[:joins:joins], Leave: segs[joins:]})
		}
		if err := e.persistAll(ctx, muts); err != nil {
			return nil, err
		}
	}
	e.touch(ids...)
	return changes, nil
}

// distinctIDs returns the distinct ids of cs in first-seen order, and for
// each customer of cs the index of its id.
func distinctIDs(cs []customer.Customer) (ids []string, slot []int) {
	ids = make([]string, 0, len(cs))
	slot = make([]int, len(cs))
	seen := make(map[string]int, len(cs))
	for i := range cs {
		k, ok := seen[cs[i].ID]
		if !ok {
			k = len(ids)
			seen[cs[i].ID] = k
			ids = append(ids, cs[i].ID)
		}
		slot[i] = k
	}
	return ids, slot
}

// memberships reads the segments of each of ids (aligned with ids); the
// caller holds their locks.
func (e *Engine) memberships(ctx context.Context, ids []string) ([][]string, error) {
	out := make([][]string, len(ids))
	if b, ok := e.store.(MembershipBatcher); ok {
		m, err := b.CustomersSegments(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("customers %s...: read segments: %w", ids[0], err)
		}
		for k, id := range ids {
			out[k] = m[id]
		}
		return out, nil
	}
	for k, id := range ids {
		segs, err := e.store.CustomerSegments(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("customer %s: read segments: %w", id, err)
		}
		out[k] = segs
	}
	return out, nil
}

// persistAll writes the membership changes of several customers: in one
// call when the Store is a MembershipBatcher, else one per customer. The
// caller holds their locks.
func (e *Engine) persistAll(ctx context.Context, muts []MembershipChange) error {
	if b, ok := e.store.(MembershipBatcher); ok && len(muts) > 1 {
		if err := b.ChangeMembershipsBatch(ctx, muts); err != nil {
			return fmt.Errorf("customers %s...: change memberships: %w", muts[0].CustomerID, err)
		}
		return nil
	}
	for _, mc := range muts {
		if err := e.store.ChangeMemberships(ctx, mc.CustomerID, mc.Join, mc.Leave); err != nil {
			return fmt.Errorf("customer %s: change memberships: %w", mc.CustomerID, err)
		}
	}
	return nil
}

// persist writes one customer's changes; the caller holds its lock.
func (e *Engine) persist(ctx context.Context, customerID string, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	// One allocation: joins from the front, leaves from the back (both
	// stay in segment ID order).
	ids := make([]string, len(changes))
	nj, nl := 0, len(ids)
	for i := range changes {
		if ch := changes[i]; ch.Entered {
			ids[nj] = ch.SegmentID
			nj++
		}
		if ch := changes[len(changes)-1-i]; !ch.Entered {
			nl--
			ids[nl] = ch.SegmentID
		}
	}
	if err := e.store.ChangeMemberships(ctx, customerID, ids[:nj], ids[nl:]); err != nil {
		return fmt.Errorf("customer %s: change memberships: %w", customerID, err)
	}
	return nil
}

// touch tells running syncs that CustomersChanged or CustomerDeleted has
// handled the customers ids.
func (e *Engine) touch(ids ...string) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if len(e.syncing) == 0 {
		return
	}
	e.touchMu.Lock()
	defer e.touchMu.Unlock()
	for _, st := range e.syncing {
		for _, id := range ids {
			st.touched[id] = true
		}
	}
}

// CustomerDeleted ends every membership of a deleted customer (static ones
// too) and returns the changes; leaving an auto-update segment has Emit
// set, so the Manager can publish EventLeft with the customer as it was.
func (e *Engine) CustomerDeleted(ctx context.Context, customerID string) ([]Change, error) {
	e.mu.RLock()
	rules := e.rules
	e.mu.RUnlock()
	unlock := e.lockCustomers([]string{customerID})
	defer unlock()
	have, err := e.store.CustomerSegments(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("customer %s: read segments: %w", customerID, err)
	}
	changes := make([]Change, 0, len(have))
	for _, id := range have {
		emit := false
		e.mu.RLock()
		if r := rules[id]; r != nil {
			emit = r.seg.Type == AutoUpdate
		}
		e.mu.RUnlock()
		changes = append(changes, Change{SegmentID: id, CustomerID: customerID, Emit: emit})
	}
	if err := e.persist(ctx, customerID, changes); err != nil {
		return nil, err
	}
	e.touch(customerID)
	return changes, nil
}
