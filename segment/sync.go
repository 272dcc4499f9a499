package segment

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/codedrop/codedrop/customer"
)

// SyncBatchWriter is an optional interface of a [Store]: what a sync
// writes after a batch of customers, in one write instead of up to three.
// store.Memory and store/postgres implement it; store/storetest checks
// it.
type SyncBatchWriter interface {
	// WriteSyncBatch writes b atomically: its Add become members of
	// segment b.SegmentID and its Remove leave, as AddMembers and
	// RemoveMembers do, and when b.Total >= 0 the segment's progress
	// becomes b.Checked of b.Total, as SetSyncProgress does. A missing
	// segment fails with an error wrapping ErrNotFound, and nothing is
	// written.
	WriteSyncBatch(ctx context.Context, b SyncBatch) error
}

// SyncBatch is what [SyncBatchWriter.WriteSyncBatch] writes.
type SyncBatch struct {
	SegmentID      string
	Add, Remove    []string
	Checked, Total int // the progress; Total < 0 leaves it as it is
	// Lazy allows the store to return before the write is durable
	// (PostgreSQL: synchronous_commit off), the write becoming durable
	// with the store's next durable commit. The Engine sets it for the
	// batches of a Sync that report no change as an event: the segment
	// stays Syncing until Sync's durable SetSyncStatus, and one still
	// Syncing after a crash is synced again.
	Lazy bool
}

// CustomerScanner is an optional interface of Config.Customers: a store
// that can show its customers one by one without making a copy of each
// (store.Memory implements it). A full sync then allocates next to
// nothing per customer, which keeps the garbage collector away from a
// large in-memory population. A wrapper of such a store that changes what
// Customers yields must change ScanCustomers alike.
type CustomerScanner interface {
	// ScanCustomers calls fn with each stored customer in ascending ID
	// order, starting after the ID after, until fn returns false. c is
	// valid only during the call: fn must not keep c or its maps and
	// slices (strings it may keep) and must not change them. It returns
	// ctx's error when ctx ends.
	ScanCustomers(ctx context.Context, after string, fn func(c *customer.Customer) bool) error
}

// SyncProgress reports a running sync after each batch.
type SyncProgress struct {
	// Checked counts the customers checked so far.
	Checked int
	// Changes are the membership changes of the latest batch, already
	// persisted.
	Changes []Change
}

// SyncResult sums up a finished sync.
type SyncResult struct {
	// Checked counts the customers checked: every customer in a full
	// scan; with a FilterPusher, the customers it returned and the former
	// members it did not return.
	Checked int
	Entered int // customers who joined a segment
	Left    int // customers who left a segment
}

// Sync checks every customer against a rule segment, in batches, and
// persists the membership changes. The segment is Syncing until every
// customer has been checked, then Synced; its progress (SyncChecked of
// SyncTotal) is stored after each batch. progress (may be nil) is called
// after each batch with that batch's changes, once persisted: in batch
// order, one call at a time, possibly on another goroutine (a batch is
// written while the next is read), and never after Sync returns. Changes
// of a segment's first sync have Emit false (the initial members did not
// "enter"); later syncs emit as usual for auto-update segments. Members
// whose customer no longer exists are removed without an event.
//
// When Config.Customers implements [FilterPusher], the Evaluator is
// DefaultEvaluator without a Schema and the store can evaluate the
// segment's Filter, Sync reads only the customers the store selects
// (each still checked with the compiled rule) and then looks up the
// former members it did not select: a deleted customer is removed without
// an event, one that no longer matches leaves as in a full scan.
//
// Syncing a static segment only marks it Synced. Syncing a segment that is
// already being synced fails with ErrConflict. If ctx ends, Sync returns
// ctx's error and the segment stays Syncing (see [Engine.Unsynced]). If
// [Engine.Update] changes the segment's rule or type meanwhile, Sync stops
// at its next batch with an error matching [ErrSuperseded]; the segment
// stays Syncing for the caller to sync again.
func (e *Engine) Sync(ctx context.Context, id string, progress func(SyncProgress)) (SyncResult, error) {
	// The stored definition rules: another engine (replica) may have
	// created or changed the segment.
	e.memMu.Lock()
	r, err := e.refreshOne(ctx, id)
	e.memMu.Unlock()
	if err != nil {
		return SyncResult{}, err
	}
	if r == nil { // a static segment
		return SyncResult{}, e.store.SetSyncStatus(ctx, id, Synced, e.now())
	}
	total, err := e.countCustomers(ctx)
	if err != nil {
		return SyncResult{}, err
	}
	if err := e.store.SetSyncStatus(ctx, id, Syncing, e.now()); err != nil {
		return SyncResult{}, err
	}
	if err := e.store.SetSyncProgress(ctx, id, 0, total); err != nil {
		return SyncResult{}, err
	}
	_, progressWritten := e.store.(SyncBatchWriter) // with each batch's changes
	res, err := e.syncRules(ctx, []*rule{r}, total, func(p SyncProgress) error {
		if !progressWritten {
			if err := e.store.SetSyncProgress(ctx, id, p.Checked, max(total, p.Checked)); err != nil {
				return fmt.Errorf("segment %s: sync progress: %w", id, err)
			}
		}
		if progress != nil {
			progress(p)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	// Mark it synced unless Update replaced the rule meanwhile: under
	// memMu, which Update holds while it stores the new rule.
	e.memMu.Lock()
	defer e.memMu.Unlock()
	if !e.current(r) {
		return res, fmt.Errorf("segment %s: %w", id, ErrSuperseded)
	}
	done := max(total, res.Checked)
	if err := e.store.SetSyncProgress(ctx, id, done, done); err != nil {
		return res, err
	}
	at := e.now()
	if err := e.store.SetSyncStatus(ctx, id, Synced, at); err != nil {
		return res, err
	}
	e.mu.Lock()
	if cur := e.rules[id]; cur != nil {
		next := *cur
		next.seg.SyncStatus, next.seg.SyncedAt, next.seg.UpdatedAt = Synced, at, at
		e.rules[id] = &next
		e.relist()
	}
	e.mu.Unlock()
	e.log.DebugContext(ctx, "segment synced", "segment", id, "checked", res.Checked, "entered", res.Entered, "left", res.Left)
	return res, nil
}

// Resync re-checks every customer against the rule segments whose result
// can change with time alone (relative-time operators, expressions using
// now, and rules of Matchers that do not say), in one pass over the
// customers, and persists and reports the changes like Sync. Segments
// being synced right now are skipped. The Manager calls it periodically
// (daily rules need it at least once a day). Sync status is left as it is.
func (e *Engine) Resync(ctx context.Context, progress func(SyncProgress)) (SyncResult, error) {
	e.mu.RLock()
	var rs []*rule
	for _, r := range e.list {
		if r.timeDep && e.syncing[r.seg.ID] == nil && r.seg.SyncStatus == Synced {
			rs = append(rs, r)
		}
	}
	e.mu.RUnlock()
	if len(rs) == 0 {
		return SyncResult{}, nil
	}
	return e.syncRules(ctx, rs, -1, func(p SyncProgress) error {
		if progress != nil {
			progress(p)
		}
		return nil
	})
}

// syncRules checks every customer against rs and persists the changes,
// calling onBatch after each batch; an error from onBatch stops it. With
// one rule and total >= 0 (a Sync, which counted total customers), a
// SyncBatchWriter store writes each batch's progress with its changes.
func (e *Engine) syncRules(ctx context.Context, rs []*rule, total int, onBatch func(SyncProgress) error) (SyncResult, error) {
	// Register first, so a customer change from now on is seen as touched.
	e.mu.Lock()
	states := make([]*syncState, len(rs))
	for i, r := range rs {
		if e.syncing[r.seg.ID] != nil {
			for _, prev := range rs[:i] {
				delete(e.syncing, prev.seg.ID)
			}
			e.mu.Unlock()
			return SyncResult{}, fmt.Errorf("segment %s: a sync is already running: %w", r.seg.ID, ErrConflict)
		}
		states[i] = &syncState{touched: map[string]bool{}}
		e.syncing[r.seg.ID] = states[i]
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		for _, r := range rs {
			delete(e.syncing, r.seg.ID)
		}
		e.mu.Unlock()
	}()

	// The members before the sync; what is left at the end has left.
	old := make([]map[string]struct{}, len(rs))
	for i, r := range rs {
		old[i] = map[string]struct{}{}
		for id, err := range e.store.Members(ctx, r.seg.ID, MemberOptions{}) {
			if err != nil {
				return SyncResult{}, fmt.Errorf("segment %s: read members: %w", r.seg.ID, err)
			}
			old[i][id] = struct{}{}
		}
	}

	now := e.now()
	var (
		res   SyncResult
		batch []Change
		n     int
		cur   customer.Customer // one variable: Match gets a pointer, which must not escape per customer
	)
	emit := make([]bool, len(rs))
	for i, r := range rs {
		emit[i] = r.seg.Type == AutoUpdate && !r.seg.SyncedAt.IsZero()
	}
	// A batch is written (apply, then onBatch) on a goroutine of its own
	// while the next is read, so that the store's write and the reading
	// overlap: one write at a time, in batch order, and none left running
	// when syncRules returns. An error of a write stops the sync at the
	// next batch.
	type written struct {
		entered, left int
		err           error
	}
	var pending chan written
	wait := func() error {
		if pending == nil {
			return nil
		}
		w := <-pending
		pending = nil
		res.Entered += w.entered
		res.Left += w.left
		return w.err
	}
	defer func() { _ = wait() }()
	flush := func() error {
		if err := wait(); err != nil {
			return err
		}
		b, checked := batch, res.Checked
		batch = make([]Change, 0, cap(b))
		prog := -1
		if len(rs) == 1 && total >= 0 {
			prog = max(total, checked)
		}
		done := make(chan written, 1)
		pending = done
		go func() {
			var w written
			changes, err := e.apply(ctx, rs, states, b, checked, prog)
			if err == nil {
				for _, c := range changes {
					if c.Entered {
						w.entered++
					} else {
						w.left++
					}
				}
				err = onBatch(SyncProgress{Checked: checked, Changes: changes})
			}
			w.err = err
			done <- w
		}()
		return nil
	}
	var customers iter.Seq2[customer.Customer, error]
	if len(rs) == 1 && e.pusher != nil && rs[0].seg.Filter != nil && !rs[0].timeDep {
		if seq, ok := e.pusher.CustomersMatching(ctx, rs[0].seg.Filter, customer.ListOptions{}); ok {
			customers = seq
			e.log.DebugContext(ctx, "segment sync pushed down to the store", "segment", rs[0].seg.ID)
		}
	}
	pushed := customers != nil
	check := func(c *customer.Customer) error {
		for i, r := range rs {
			_, was := old[i][c.ID]
			if was {
				delete(old[i], c.ID)
			}
			if is := r.m.Match(c, now); is != was {
				batch = append(batch, Change{SegmentID: r.seg.ID, CustomerID: c.ID, Entered: is, Emit: emit[i]})
			}
		}
		res.Checked++
		if n++; n == e.batch {
			n = 0
			return flush()
		}
		return nil
	}
	if sc, ok := e.customers.(CustomerScanner); ok && !pushed {
		var checkErr error
		err := sc.ScanCustomers(ctx, "", func(c *customer.Customer) bool {
			checkErr = check(c)
			return checkErr == nil
		})
		if checkErr != nil {
			return res, checkErr
		}
		if err != nil {
			return res, fmt.Errorf("segment sync: read customers: %w", err)
		}
	} else {
		if !pushed {
			customers = e.customers.Customers(ctx, customer.ListOptions{})
		}
		for c, err := range customers {
			if err != nil {
				return res, fmt.Errorf("segment sync: read customers: %w", err)
			}
			cur = c
			if err := check(&cur); err != nil {
				return res, err
			}
		}
	}
	if pushed {
		// The store did not select these members: look each up. One that
		// still matches stays (the store and the rule disagree: the rule
		// wins); one that no longer matches leaves.
		r := rs[0]
		for id := range old[0] {
			c, err := e.customers.GetCustomer(ctx, id)
			switch {
			case errors.Is(err, ErrNotFound) || err == nil && c.ID != id:
				batch = append(batch, Change{SegmentID: r.seg.ID, CustomerID: id})
			case err != nil:
				return res, fmt.Errorf("segment sync: read customer %s: %w", id, err)
			default:
				res.Checked++
				if r.m.Match(&c, now) {
					e.log.WarnContext(ctx, "segment sync: the store did not select a customer the rule matches", "segment", r.seg.ID, "customer", id)
				} else {
					batch = append(batch, Change{SegmentID: r.seg.ID, CustomerID: id, Emit: emit[0]})
				}
			}
			if len(batch) >= e.batch {
				if err := flush(); err != nil {
					return res, err
				}
			}
		}
		clear(old[0])
	}
	// Members not seen in the scan no longer exist as customers.
	for i, r := range rs {
		for id := range old[i] {
			batch = append(batch, Change{SegmentID: r.seg.ID, CustomerID: id})
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	err := wait()
	return res, err
}

// apply persists a batch of sync changes, leaving out customers that a
// concurrent CustomerChanged has handled and rules that Update replaced,
// and returns what it persisted. When every rule was replaced it fails
// with ErrSuperseded.
func (e *Engine) apply(ctx context.Context, rs []*rule, states []*syncState, batch []Change, checked, total int) ([]Change, error) {
	e.memMu.Lock()
	defer e.memMu.Unlock()
	w, batched := e.store.(SyncBatchWriter)
	var out []Change
	live := 0
	for i, r := range rs {
		if !e.current(r) {
			continue
		}
		live++
		var add, remove []string
		for _, c := range batch {
			if c.SegmentID != r.seg.ID || states[i].touched[c.CustomerID] {
				continue
			}
			if c.Entered {
				add = append(add, c.CustomerID)
			} else {
				remove = append(remove, c.CustomerID)
			}
			out = append(out, c)
		}
		if batched {
			if len(add) > 0 || len(remove) > 0 || total >= 0 {
				lazy := total >= 0 // a Sync's batch: durable with its SetSyncStatus...
				for _, c := range out {
					lazy = lazy && !c.Emit // ...unless it reports an event
				}
				b := SyncBatch{SegmentID: r.seg.ID, Add: add, Remove: remove, Checked: checked, Total: total, Lazy: lazy}
				if err := w.WriteSyncBatch(ctx, b); err != nil {
					return nil, fmt.Errorf("segment %s: write a sync batch: %w", r.seg.ID, err)
				}
			}
			continue
		}
		if len(add) > 0 {
			if err := e.store.AddMembers(ctx, r.seg.ID, add); err != nil {
				return nil, fmt.Errorf("segment %s: add members: %w", r.seg.ID, err)
			}
		}
		if len(remove) > 0 {
			if err := e.store.RemoveMembers(ctx, r.seg.ID, remove); err != nil {
				return nil, fmt.Errorf("segment %s: remove members: %w", r.seg.ID, err)
			}
		}
	}
	if live == 0 {
		return nil, fmt.Errorf("segment %s: %w", rs[0].seg.ID, ErrSuperseded)
	}
	return out, nil
}
