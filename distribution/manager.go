package distribution

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/internal/ids"
	"github.com/codedrop/codedrop/segment"
)

// Manager runs distributions: it owns customer and segment writes (so
// memberships and sync status stay current), schedules manual sends,
// matches events to automatic distributions and hands every message to
// one delivery pipeline. Create one with NewManager and call Run. Safe for
// concurrent use.
//
// The Manager is a facade over small parts, each with its own
// dependencies: the pipeline (one recipient, admit to settle), the
// send-time policy, the trigger index, the segment engine, the
// scheduler and the store.
type Manager struct {
	store ManagerStore
	codes CodeSource
	// campaignLookup resolves campaign names and checks campaigns exist,
	// when the code source can (a codes.Registry; nil: a host's own
	// source, not checked).
	campaignLookup campaignLookup
	sched          Scheduler
	clock          Clock
	log            *slog.Logger
	channels       map[string]Channel
	adminID        string
	replier        Replier
	replica        string        // Config.ReplicaID
	claims         atomic.Uint64 // numbers the event claims of this replica (claimant)

	delay       time.Duration
	concurrency int
	// shared is sched when it is a SharedScheduler: manual fan-outs go in
	// chunks of chunkSize, worked one at a time (chunkGate).
	shared      SharedScheduler
	chunkSize   int
	chunkGate   chan struct{}
	sendTimeout time.Duration
	// interruptAfter is Config.InterruptAfter (zero: the default bound).
	interruptAfter time.Duration
	resyncEvery    time.Duration
	eventLease     time.Duration

	pipe     *pipeline
	tel      *telemetry
	policy   *policy
	triggers *triggers
	act      activity

	// segments and the startup snapshot are loaded by init, with the
	// first caller's context.
	initMu    sync.Mutex
	inited    atomic.Bool
	segments  *segment.Engine
	evaluator segment.Evaluator

	ready     chan struct{} // closed by the first Run once it started (Ready)
	readyOnce sync.Once
	running   atomic.Bool
	stopped   atomic.Bool // Run ended: leave new timed work to the next Run
	mu        sync.Mutex
	syncing   map[string]bool // segments this Manager is syncing
	active    map[string]bool // distributions being fanned out here -> run again when done
	snap      snapshot        // automatic work an earlier process left (guarded by mu)
	bg        sync.WaitGroup  // background work
}

// campaignLookup finds a campaign by id or unique name.
type campaignLookup interface {
	Campaign(ctx context.Context, idOrName string) (Campaign, error)
}

// campaignCreator creates campaigns (see Manager.CreateCampaign).
type campaignCreator interface {
	CreateCampaign(ctx context.Context, c Campaign) (Campaign, error)
}

// NewManager checks cfg and returns a Manager. Invalid configuration fails
// with an error wrapping ErrInvalid that names the field. It does no I/O:
// the Manager loads what it keeps in memory (segment rules, active
// triggers) from the Store on its first call, with that call's context.
func NewManager(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		store:          cfg.Store,
		codes:          cfg.Codes,
		sched:          cfg.Scheduler,
		clock:          cfg.Clock,
		log:            cfg.Logger,
		adminID:        cfg.AdminID,
		replica:        cfg.ReplicaID,
		delay:          or(cfg.ManualDelay, DefaultManualDelay),
		concurrency:    or(cfg.Concurrency, DefaultConcurrency),
		chunkSize:      or(cfg.ChunkSize, DefaultChunkSize),
		chunkGate:      make(chan struct{}, 1),
		sendTimeout:    or(cfg.SendTimeout, DefaultSendTimeout),
		interruptAfter: cfg.InterruptAfter,
		resyncEvery:    or(cfg.ResyncInterval, DefaultResyncInterval),
		eventLease:     or(cfg.EventLease, DefaultEventLease),
		evaluator:      cfg.Evaluator,
		channels:       map[string]Channel{},
		active:         map[string]bool{},
		ready:          make(chan struct{}),
		syncing:        map[string]bool{},
	}
	if m.clock == nil {
		m.clock = SystemClock{}
	}
	if m.replica = cfg.ReplicaID; m.replica == "" {
		m.replica = ids.New("rep")
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.codes == nil {
		if src, ok := cfg.Store.(codes.Source); ok {
			m.codes = src // store.Memory and store/postgres provide codes
		} else {
			m.codes = codes.NewMemory(codes.Config{Now: m.clock.Now})
		}
	}
	m.campaignLookup, _ = m.codes.(campaignLookup)
	if m.sched == nil {
		m.sched = NewTimerScheduler(m.clock)
	}
	m.shared, _ = m.sched.(SharedScheduler)
	if is, ok := m.sched.(idleScheduler); ok {
		is.notifyOnChange(m.act.notify)
	}
	m.replier = cfg.Replier
	if cfg.Intercom != nil {
		ic := newIntercomContacts(cfg.Intercom)
		m.channels[IntercomInApp] = &intercomChannel{name: IntercomInApp, typ: intercom.InApp, adminID: cfg.AdminID, ic: ic}
		m.channels[IntercomEmail] = &intercomChannel{name: IntercomEmail, typ: intercom.Email, adminID: cfg.AdminID, ic: ic}
		if r, ok := cfg.Intercom.(Replier); ok && m.replier == nil {
			m.replier = r
		}
	}
	for _, ch := range cfg.Channels {
		m.channels[ch.Name()] = ch
	}
	pol, field, msg := newPolicy(cfg, m.channels, m.clock, m.log)
	if field != "" {
		return nil, configErr(field, "%s", msg)
	}
	m.policy = pol
	m.triggers = newTriggers(cfg.Store, m.channels, m.campaignLookup, m.log)
	m.tel = newTelemetry(&cfg, m.log)
	m.pipe = &pipeline{
		ledger:      meteredLedger{cfg.Store, m.tel},
		tel:         m.tel,
		customers:   cfg.Store,
		events:      cfg.Store,
		codes:       m.codes,
		policy:      pol,
		sched:       m.sched,
		clock:       m.clock,
		log:         m.log,
		emit:        m.emitPublication,
		sendTimeout: m.sendTimeout,
		maxAttempts: or(cfg.MaxAttempts, DefaultMaxAttempts),
		retryDelay:  or(cfg.RetryDelay, DefaultRetryDelay),
	}
	m.pipe.batchCustomers, _ = cfg.Store.(CustomerBatchGetter)
	if bl, ok := cfg.Store.(DeliveryBatchUpdater); ok {
		m.pipe.batchLedger = meteredBatchLedger{bl, m.tel}
	}
	m.pipe.batchCodes, _ = m.codes.(BatchPublisher)
	return m, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// init loads, once, what the Manager keeps in memory: the segment rules,
// the active automatic distributions, and the snapshot of work an earlier
// process left for Run. A failed load is tried again by the next call.
func (m *Manager) init(ctx context.Context) error {
	if m.inited.Load() {
		return nil
	}
	m.initMu.Lock()
	defer m.initMu.Unlock()
	if m.inited.Load() {
		return nil
	}
	eng, err := segment.NewEngine(ctx, segment.Config{
		Store:     m.store,
		Customers: m.store,
		Evaluator: m.evaluator,
		Now:       m.clock.Now,
		Logger:    m.log,
	})
	if err != nil {
		return fmt.Errorf("distribution: loading segments: %w", err)
	}
	active, err := m.store.ListDistributions(ctx, StatusActive)
	if err != nil {
		return fmt.Errorf("distribution: loading automatic distributions: %w", err)
	}
	snap, err := m.takeSnapshot(ctx, active)
	if err != nil {
		return fmt.Errorf("distribution: loading unfinished automatic work: %w", err)
	}
	if err := m.triggers.fresh(ctx, time.Now()); err != nil {
		return err
	}
	m.segments = eng
	m.mu.Lock()
	m.snap = snap
	m.mu.Unlock()
	m.inited.Store(true)
	return nil
}

// Campaigns returns the in-memory code source the Manager publishes from:
// the code source itself when it is a *codes.Memory, or the one a
// store.Memory holds (its Codes method). It is nil with a durable or a
// host's own code source (store/postgres, Config.Codes): use that source,
// or CreateCampaign.
//
// Deprecated: use CreateCampaign, or the code source itself.
func (m *Manager) Campaigns() *Campaigns {
	switch c := m.codes.(type) {
	case *codes.Memory:
		return c
	case interface{ Codes() *codes.Memory }:
		return c.Codes()
	}
	return nil
}

// CreateCampaign creates a campaign in the Manager's code source, when it
// holds campaigns (a codes.Registry: store.Memory, store/postgres and
// codes.Memory do); otherwise it fails with ErrNoCampaigns.
func (m *Manager) CreateCampaign(ctx context.Context, c Campaign) (Campaign, error) {
	cc, ok := m.codes.(campaignCreator)
	if !ok {
		return Campaign{}, ErrNoCampaigns
	}
	return cc.CreateCampaign(ctx, c)
}

// Run runs the Manager's workers until ctx ends: it first recovers the
// work a previous process left (scheduled distributions are re-armed,
// interrupted fan-outs and events resume, unsynced segments are synced),
// then hands due jobs to workers, re-checks time-relative segments every
// Config.ResyncInterval and resolves deliveries left in sending every
// Config.InterruptAfter (see below). When ctx ends it stops starting
// sends, waits for the in-flight ones to finish and returns ctx's error.
// Run may be called once at a time.
//
// Several replicas may share one Store, so a delivery found in sending is
// taken as interrupted only once it has been in sending for longer than
// Config.InterruptAfter (by the Manager's Clock), and never while this
// Manager sends it: a younger one may be in flight on another replica
// right now; it is re-checked by a JobRecover job at that bound. This runs continuously, so the survivors of a
// crashed replica resolve its sends. Several replicas need a durable
// Scheduler that hands each job to one of them (store/postgres).
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return fmt.Errorf("distribution: Manager.Run is already running: %w", ErrConflict)
	}
	m.stopped.Store(false)
	defer func() {
		m.stopped.Store(true)
		m.bg.Wait()
		m.running.Store(false)
	}()
	if err := m.init(ctx); err != nil {
		return err
	}
	defer m.observeStore()()
	if err := m.recover(ctx); err != nil {
		return err
	}
	// Both loops' first timers are armed here, in this order, before Run
	// goes on: a test that sees a pending timer may advance past it.
	resync := m.every(ctx, m.resyncEvery, m.resync)
	sweep := m.every(ctx, m.interruptBound(), func(ctx context.Context) {
		if err := m.sweep(ctx); err != nil && ctx.Err() == nil {
			m.log.ErrorContext(ctx, "sweeping deliveries left in sending", "err", err)
		}
	})
	m.bg.Go(resync)
	m.bg.Go(sweep)
	m.readyOnce.Do(func() { close(m.ready) })
	return m.sched.Run(ctx, m.handle)
}

// Ready returns a channel that is closed once Run has recovered the work
// an earlier process left and started its workers and timers: from then
// on, due jobs are handed out and time-driven work (the sweep, segment
// resyncs) follows the Clock. A host's readiness probe, or a test about
// to advance a fake clock, waits on it.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// every arms a timer of the Manager's Clock and returns the loop that runs
// f each time it fires (then arms it again), until ctx ends.
func (m *Manager) every(ctx context.Context, d time.Duration, f func(context.Context)) (loop func()) {
	arm := func() (Timer, <-chan struct{}) {
		tick := make(chan struct{})
		return m.clock.AfterFunc(d, func() { close(tick) }), tick
	}
	t, tick := arm()
	return func() {
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-tick:
			}
			f(ctx)
			t, tick = arm()
		}
	}
}

// resync re-checks time-relative segment rules (every resyncEvery).
func (m *Manager) resync(ctx context.Context) {
	defer m.act.begin()()
	res, err := m.segments.Resync(ctx, func(p segment.SyncProgress) { m.segmentChanged(ctx, p.Changes, "") })
	if err != nil {
		if ctx.Err() == nil {
			m.log.ErrorContext(ctx, "segment resync failed", "err", err)
		}
		return
	}
	m.log.DebugContext(ctx, "segments resynced", "checked", res.Checked, "entered", res.Entered, "left", res.Left)
}

// handle runs one due job.
func (m *Manager) handle(ctx context.Context, j Job) error {
	defer m.act.begin()()
	var err error
	switch j.Kind {
	case JobSend:
		if err = m.fire(ctx, j.Target); ctx.Err() != nil {
			// Stopped mid-fan-out: a durable Scheduler drops a job whose
			// handler returned, so the job goes back for the next Run,
			// here or on another replica (a finished one does nothing).
			err = m.handBack(ctx, j)
		}
	case JobRetry:
		err = m.retry(ctx, j.Target)
	case JobChunk:
		err = m.runChunk(ctx, j)
	case JobRecover:
		err = m.recheckSending(ctx, j)
	case JobEvent:
		err = m.runEvent(ctx, j.Target)
	default:
		err = fmt.Errorf("unknown job kind %q", j.Kind)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		m.log.ErrorContext(ctx, "distribution job failed", "job", j.ID, "err", err)
	}
	return err
}

func sendJob(distID string, at time.Time) Job {
	return Job{ID: SendJobID(distID), Kind: JobSend, Target: distID, RunAt: at}
}

func retryJob(deliveryID string, at time.Time) Job {
	return Job{ID: RetryJobID(deliveryID), Kind: JobRetry, Target: deliveryID, RunAt: at}
}
