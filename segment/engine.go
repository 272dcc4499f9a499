package segment

import (
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// DefaultBatchSize is how many customers a sync checks between two
// membership writes (and progress reports) when Config.BatchSize is zero.
const DefaultBatchSize = 1000

// Config configures an [Engine]. Store and Customers are required; every
// other zero value is a documented default.
type Config struct {
	// Store keeps segments and memberships (required).
	Store Store
	// Customers is scanned by full syncs (required). store.Memory
	// implements both Store and customer.Store. When it also implements
	// [FilterPusher] (store/postgres does), the sync of a Filter segment
	// asks it for the matching customers instead of scanning them all;
	// when it implements [CustomerCounter] (both do), a sync's SyncTotal
	// is known from the start.
	Customers customer.Store
	// Evaluator compiles rules; nil means DefaultEvaluator{} (no metadata
	// schema).
	Evaluator Evaluator
	// Now is the clock for relative-time rules and timestamps; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives sync progress at debug level; nil discards.
	Logger *slog.Logger
	// BatchSize is how many customers a sync checks per batch; 0 means
	// DefaultBatchSize.
	BatchSize int
}

// Engine keeps segment memberships current. It holds the compiled matcher
// of every rule segment, so re-checking one changed customer costs one
// Match per rule segment and one membership read, whatever the number of
// customers.
//
// The owner of the store (distribution.Manager) calls it: [Engine.Create]
// then [Engine.Sync] for a new segment, [Engine.Update] (then Sync when it
// reports a change) to edit one, [Engine.CustomerChanged] after every
// customer write, [Engine.CustomerDeleted] after a delete, and
// [Engine.Resync] periodically for rules that depend on the time. Each
// returns or reports the membership changes it persisted; changes with Emit
// set should be published as EventEntered / EventLeft.
//
// An Engine is safe for concurrent use. A customer change that arrives
// while a sync runs is handled by CustomerChanged and the sync leaves that
// customer alone. Several engines sharing one database (several replicas)
// must route syncs and customer changes of one segment through one engine
// (or accept that a concurrent sync may briefly undo a change). Each
// engine compiles the rules it knows: [Engine.Refresh] brings them in line
// with segments created, updated or deleted through the others, and
// [Engine.Sync] always syncs the stored definition.
type Engine struct {
	store     Store
	customers customer.Store
	pusher    FilterPusher    // non-nil when Customers implements it and the evaluator allows pushdown
	counter   CustomerCounter // non-nil when Customers implements it
	eval      Evaluator
	now       func() time.Time
	log       *slog.Logger
	batch     int

	mu      sync.RWMutex
	rules   map[string]*rule // rule segments by ID
	list    []*rule          // the same, by ID; replaced (never changed) on create/delete
	syncing map[string]*syncState

	// memMu orders membership writes: a sync batch, Update and Refresh
	// hold it for writing, so a sync batch never overwrites a fresher
	// customer change; customer changes hold it for reading, and the
	// stripes of their customers in custMu (changed.go), so that changes
	// of different customers run in parallel and those of one customer
	// take turns.
	memMu  sync.RWMutex
	custMu [custStripes]sync.Mutex

	// touchMu guards the touched sets of syncState, which customer
	// changes (holding memMu for reading) write concurrently.
	touchMu sync.Mutex

	// ver is what the engine knows of the Store's SegmentsVersion
	// (refresh.go); nil when the Store is not a Versioner.
	ver *versionState

	gens      atomic.Uint64 // the last rule.gen handed out
	refreshMu sync.Mutex
	refreshed time.Time // the last Refresh (or NewEngine's load), by the engine's clock
}

type rule struct {
	seg     Segment // ID, Type, SyncedAt are what the engine reads
	m       Matcher
	timeDep bool
	// gen identifies the compiled rule: a copy with new sync fields keeps
	// it, a new rule (Update, Refresh) gets a new one, and a sync started
	// with another gen is superseded.
	gen uint64
}

type syncState struct {
	// touched holds the customers handled by CustomerChanged or
	// CustomerDeleted during the sync; written under Engine.touchMu (and
	// memMu held for reading), read under memMu held for writing.
	touched map[string]bool
}

// NewEngine returns an Engine over cfg.Store, compiling the rules of the
// segments already stored. A stored rule that no longer compiles is an
// error (a *FilterError naming the segment).
func NewEngine(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("segment: Config.Store is required: %w", ErrInvalid)
	}
	if cfg.Customers == nil {
		return nil, fmt.Errorf("segment: Config.Customers is required: %w", ErrInvalid)
	}
	if cfg.BatchSize < 0 {
		return nil, fmt.Errorf("segment: Config.BatchSize %d is negative: %w", cfg.BatchSize, ErrInvalid)
	}
	e := &Engine{
		store:     cfg.Store,
		customers: cfg.Customers,
		eval:      cfg.Evaluator,
		now:       cfg.Now,
		log:       cfg.Logger,
		batch:     cfg.BatchSize,
		rules:     map[string]*rule{},
		syncing:   map[string]*syncState{},
	}
	if e.eval == nil {
		e.eval = DefaultEvaluator{}
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.batch == 0 {
		e.batch = DefaultBatchSize
	}
	if p, ok := cfg.Customers.(FilterPusher); ok && schemaless(e.eval) {
		e.pusher = p
	}
	e.counter, _ = cfg.Customers.(CustomerCounter)
	if v, ok := cfg.Store.(Versioner); ok {
		// Read before the segments: a change committed in between moves
		// the version again, and RefreshSince reloads.
		e.ver = &versionState{src: v}
		if err := e.ver.readInit(ctx); err != nil {
			return nil, err
		}
	}
	for s, err := range e.store.Segments(ctx) {
		if err != nil {
			return nil, fmt.Errorf("segment: load segments: %w", err)
		}
		if !s.Type.IsRule() {
			continue
		}
		r, err := e.compile(s)
		if err != nil {
			return nil, fmt.Errorf("segment %s: stored rule: %w", s.ID, err)
		}
		e.rules[s.ID] = r
	}
	e.relist()
	e.refreshed = e.now()
	return e, nil
}

// FilterPusher is an optional interface of Config.Customers: a store that
// can select the customers a Filter matches itself (a database, with an
// index), so that a full sync of a Filter segment reads those customers
// instead of every customer. store/postgres implements it.
type FilterPusher interface {
	// CustomersMatching iterates, in ID order, over exactly the customers
	// that DefaultEvaluator without a metadata Schema matches with f at
	// any time (a pushed-down filter must not depend on the time), after
	// opts.After and up to opts.Limit. ok is false when the store cannot
	// evaluate f (the Engine then scans every customer).
	CustomersMatching(ctx context.Context, f *Filter, opts customer.ListOptions) (seq iter.Seq2[customer.Customer, error], ok bool)
}

// schemaless reports whether ev is DefaultEvaluator without a Schema: the
// evaluator whose results a FilterPusher reproduces.
func schemaless(ev Evaluator) bool {
	switch ev := ev.(type) {
	case DefaultEvaluator:
		return ev.Schema == nil
	case *DefaultEvaluator:
		return ev != nil && ev.Schema == nil
	}
	return false
}

func (e *Engine) compile(s Segment) (*rule, error) {
	m, err := e.eval.Compile(s)
	if err != nil {
		return nil, err
	}
	timeDep := true
	if td, ok := m.(TimeDependent); ok {
		timeDep = td.TimeDependent()
	}
	s.CustomerIDs = nil
	return &rule{seg: s, m: m, timeDep: timeDep, gen: e.gens.Add(1)}, nil
}

// relist rebuilds e.list from e.rules; e.mu must be held for writing.
func (e *Engine) relist() {
	list := make([]*rule, 0, len(e.rules))
	for _, r := range e.rules {
		list = append(list, r)
	}
	slices.SortFunc(list, func(a, b *rule) int {
		switch {
		case a.seg.ID < b.seg.ID:
			return -1
		case a.seg.ID > b.seg.ID:
			return 1
		}
		return 0
	})
	e.list = list
}

// Create validates and stores a new segment and returns it as stored. An
// empty ID gets a new "seg_" id. A rule segment's rule is compiled now (a
// bad rule fails with a *FilterError and nothing is stored); the segment
// starts Syncing with no members, and the caller runs [Engine.Sync] to fill
// it. A static segment lists at most MaxStaticCustomers customers, each an
// existing customer's id or source_id (stored as ids); it starts Synced
// with those members.
func (e *Engine) Create(ctx context.Context, s Segment) (Segment, error) {
	if err := s.validate(); err != nil {
		return Segment{}, err
	}
	if s.ID == "" {
		s.ID = NewID()
	}
	now := e.now()
	s.CreatedAt, s.UpdatedAt, s.SyncedAt = now, now, time.Time{}
	var r *rule
	if s.Type == Static {
		ids, err := e.resolveStatic(ctx, s.CustomerIDs)
		if err != nil {
			return Segment{}, fmt.Errorf("segment %q: %w", s.Name, err)
		}
		s.CustomerIDs = ids
		s.SyncStatus, s.SyncedAt = Synced, now
	} else {
		var err error
		if r, err = e.compile(s); err != nil {
			return Segment{}, fmt.Errorf("segment %q: %w", s.Name, err)
		}
		s.SyncStatus = Syncing
		r.seg = s
	}
	if err := e.store.CreateSegment(ctx, s); err != nil {
		return Segment{}, fmt.Errorf("segment %q: %w", s.Name, err)
	}
	if s.Type == Static {
		for chunk := range slices.Chunk(s.CustomerIDs, e.batch) {
			if err := e.store.AddMembers(ctx, s.ID, chunk); err != nil {
				// Leave nothing half made.
				_ = e.store.DeleteSegment(context.WithoutCancel(ctx), s.ID)
				return Segment{}, fmt.Errorf("segment %s: add members: %w", s.ID, err)
			}
		}
		return s, nil
	}
	e.mu.Lock()
	e.rules[s.ID] = r
	e.relist()
	e.mu.Unlock()
	return s, nil
}

// resolveStatic maps ids or source ids to customer ids, dropping repeats.
func (e *Engine) resolveStatic(ctx context.Context, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for i, id := range in {
		if id == "" {
			return nil, fmt.Errorf("customer_ids[%d] is empty: %w", i, ErrInvalid)
		}
		c, err := e.customers.GetCustomer(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("customer_ids[%d]: %w", i, err)
		}
		if !seen[c.ID] {
			seen[c.ID] = true
			out = append(out, c.ID)
		}
	}
	return out, nil
}

// Delete removes a segment and its memberships. No events are produced.
func (e *Engine) Delete(ctx context.Context, id string) error {
	if err := e.store.DeleteSegment(ctx, id); err != nil {
		return err
	}
	e.mu.Lock()
	if _, ok := e.rules[id]; ok {
		delete(e.rules, id)
		e.relist()
	}
	e.mu.Unlock()
	return nil
}

// Unsynced returns the ids of the rule segments whose status is Syncing:
// new segments not yet synced, and syncs that were interrupted (by a
// restart) and must be run again. It leaves out syncs running now.
func (e *Engine) Unsynced() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []string
	for _, r := range e.list {
		if r.seg.SyncStatus == Syncing && e.syncing[r.seg.ID] == nil {
			out = append(out, r.seg.ID)
		}
	}
	return out
}

// Members iterates over a segment's member ids in ascending order (see
// [Store.Members]).
func (e *Engine) Members(ctx context.Context, segmentID string, opts MemberOptions) iter.Seq2[string, error] {
	return e.store.Members(ctx, segmentID, opts)
}

// Explain says which of a segment's conditions customer c meets, at the
// engine's current time. For a static segment it says whether c is on the
// list. The Matched field agrees with the stored membership once the
// segment is synced (and the customer unchanged since).
func (e *Engine) Explain(ctx context.Context, segmentID string, c customer.Customer) (Explanation, error) {
	e.mu.RLock()
	r := e.rules[segmentID]
	e.mu.RUnlock()
	var m Matcher
	if r != nil {
		m = r.m
	} else {
		s, err := e.store.GetSegment(ctx, segmentID)
		if err != nil {
			return Explanation{}, err
		}
		if m, err = e.eval.Compile(s); err != nil {
			return Explanation{}, fmt.Errorf("segment %s: %w", segmentID, err)
		}
	}
	ex := explain(m, &c, e.now())
	ex.SegmentID, ex.CustomerID = segmentID, c.ID
	return ex, nil
}

// explain uses m's Explainer, or says only whether c matches.
func explain(m Matcher, c *customer.Customer, now time.Time) Explanation {
	if x, ok := m.(Explainer); ok {
		return x.Explain(c, now)
	}
	return Explanation{Matched: m.Match(c, now), Reason: "the evaluator does not explain its rules"}
}
