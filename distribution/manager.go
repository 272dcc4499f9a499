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
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/segment"
)

// Defaults of Config's zero values.
const (
	DefaultManualDelay = 10 * time.Minute
	DefaultConcurrency = 8
	DefaultMaxAttempts = 5
	DefaultRetryDelay  = 30 * time.Second
	DefaultSendTimeout = 30 * time.Second
	// DefaultResyncInterval is how often rule segments that depend on the
	// time alone ("created in the last 7 days") are re-checked.
	DefaultResyncInterval = time.Hour
)

// ManagerStore is everything the Manager persists: customers, segments and
// memberships, distributions and the delivery ledger. store.Memory
// implements it (as does any store.Store).
type ManagerStore interface {
	customer.Store
	segment.Store
	Store
	AutomationStore
}

// Config configures a Manager. Store is required; every other zero value
// is a documented default.
type Config struct {
	// Store persists everything (required); store.NewMemory() is the
	// in-memory default.
	Store ManagerStore
	// Intercom sends the IntercomInApp and IntercomEmail channels. When
	// nil those channels are not available.
	Intercom intercom.Messenger
	// AdminID is the Intercom admin (teammate) messages are sent from;
	// required with Intercom.
	AdminID string
	// Codes publishes codes. Default: the Store when it provides codes
	// (implements codes.Source, as store.Memory and store/postgres.Store
	// do), else a fresh in-memory codes.Memory. When the code source is a
	// codes.Registry, Manager.CreateCampaign creates campaigns in it and
	// the campaigns that distributions, triggers and rewards name are
	// checked and resolved against it.
	Codes CodeSource
	// Scheduler holds timed jobs (manual sends, retries); default:
	// NewTimerScheduler(Clock).
	Scheduler Scheduler
	// Evaluator compiles segment rules; default: segment.DefaultEvaluator.
	Evaluator segment.Evaluator
	// Clock is the time source of every timed step; default: the system
	// clock. Tests pass a FakeClock.
	Clock Clock
	// Logger receives the Manager's log; default: discarded.
	Logger *slog.Logger
	// ManualDelay is how long after Send (and after its segment synced) a
	// manual distribution fires; default DefaultManualDelay (10 minutes).
	// Negative is invalid.
	ManualDelay time.Duration
	// Concurrency is how many deliveries are sent at once; default
	// DefaultConcurrency.
	Concurrency int
	// MaxAttempts bounds the sends of one delivery after transient
	// failures; default DefaultMaxAttempts.
	MaxAttempts int
	// RetryDelay is the first retry's delay after a transient failure,
	// doubled on each further attempt (at most an hour); default
	// DefaultRetryDelay.
	RetryDelay time.Duration
	// SendTimeout bounds one provider call; default DefaultSendTimeout.
	SendTimeout time.Duration
	// InterruptAfter is how long a delivery may stay in sending before a
	// starting Manager takes it as interrupted by a crash and marks it
	// unknown (see Run); a younger one may be in flight on another replica
	// and is re-checked when it reaches this age. Default: SendTimeout plus
	// a minute (for the store writes around the call and clock differences
	// between replicas). A single-process host may set it lower.
	InterruptAfter time.Duration
	// ResyncInterval is how often Run re-checks time-relative segment
	// rules; default DefaultResyncInterval.
	ResyncInterval time.Duration
	// Channels are extra channels (SMS, webhooks...). Names must be unique
	// and not those of the built-in channels.
	Channels []Channel

	// Limits meters outbound messages and inbound calls from Intercom per
	// period (see Limits); default: counted, no caps.
	Limits Limits
	// FrequencyCaps limit how many messages one customer receives per
	// window, across all distributions (see FrequencyCap); default none.
	FrequencyCaps []FrequencyCap
	// QuietHours is a daily window in each customer's time zone in which
	// nothing is sent (see QuietHours); default none.
	QuietHours QuietHours
}

// Manager runs distributions: it owns customer and segment writes (so
// memberships and sync status stay current), schedules manual sends and
// processes each recipient through the delivery ledger. Create one with
// NewManager and call Run. Safe for concurrent use.
type Manager struct {
	store     ManagerStore
	codes     CodeSource
	campaigns codes.Registry // the code source's campaigns; nil when it holds none
	sched     Scheduler
	segments  *segment.Engine
	clock     Clock
	log       *slog.Logger
	channels  map[string]Channel
	adminID   string

	delay       time.Duration
	concurrency int
	maxAttempts int
	retryDelay  time.Duration
	sendTimeout time.Duration
	// interruptAfter is Config.InterruptAfter (zero: the default bound).
	interruptAfter time.Duration
	resyncEvery    time.Duration

	running atomic.Bool
	stopped atomic.Bool // Run ended: leave new timed work to the next Run
	mu      sync.Mutex
	syncing map[string]bool // segments this Manager is syncing
	active  map[string]bool // distributions being fanned out here -> run again when done
	bg      sync.WaitGroup  // background segment syncs

	automation // automatic distributions, limits, caps, quiet hours (automatic.go)
}

// NewManager checks cfg and returns a Manager. Invalid configuration fails
// with an error wrapping ErrInvalid that names the field.
func NewManager(cfg Config) (*Manager, error) {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("distribution: Config.%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalid)
	}
	if cfg.Store == nil {
		return nil, bad("Store", "required (store.NewMemory() is the in-memory default)")
	}
	if cfg.Intercom != nil && cfg.AdminID == "" {
		return nil, bad("AdminID", "required with Intercom (the admin messages are sent from)")
	}
	switch {
	case cfg.ManualDelay < 0:
		return nil, bad("ManualDelay", "%v is negative", cfg.ManualDelay)
	case cfg.Concurrency < 0:
		return nil, bad("Concurrency", "%d is negative", cfg.Concurrency)
	case cfg.MaxAttempts < 0:
		return nil, bad("MaxAttempts", "%d is negative", cfg.MaxAttempts)
	case cfg.RetryDelay < 0:
		return nil, bad("RetryDelay", "%v is negative", cfg.RetryDelay)
	case cfg.SendTimeout < 0:
		return nil, bad("SendTimeout", "%v is negative", cfg.SendTimeout)
	case cfg.InterruptAfter < 0:
		return nil, bad("InterruptAfter", "%v is negative", cfg.InterruptAfter)
	case cfg.ResyncInterval < 0:
		return nil, bad("ResyncInterval", "%v is negative", cfg.ResyncInterval)
	}
	m := &Manager{
		store:          cfg.Store,
		codes:          cfg.Codes,
		sched:          cfg.Scheduler,
		clock:          cfg.Clock,
		log:            cfg.Logger,
		adminID:        cfg.AdminID,
		delay:          or(cfg.ManualDelay, DefaultManualDelay),
		concurrency:    or(cfg.Concurrency, DefaultConcurrency),
		maxAttempts:    or(cfg.MaxAttempts, DefaultMaxAttempts),
		retryDelay:     or(cfg.RetryDelay, DefaultRetryDelay),
		sendTimeout:    or(cfg.SendTimeout, DefaultSendTimeout),
		interruptAfter: cfg.InterruptAfter,
		resyncEvery:    or(cfg.ResyncInterval, DefaultResyncInterval),
		channels:       map[string]Channel{},
		active:         map[string]bool{},
		syncing:        map[string]bool{},
	}
	if m.clock == nil {
		m.clock = SystemClock{}
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.codes == nil {
		if src, ok := cfg.Store.(codes.Source); ok {
			m.codes = src
		} else {
			m.codes = codes.NewMemory(codes.Config{Now: m.clock.Now})
		}
	}
	m.campaigns, _ = m.codes.(codes.Registry)
	if m.sched == nil {
		m.sched = NewTimerScheduler(m.clock)
	}
	if cfg.Intercom != nil {
		ic := newIntercomContacts(cfg.Intercom)
		m.channels[IntercomInApp] = &intercomChannel{name: IntercomInApp, typ: intercom.InApp, adminID: cfg.AdminID, ic: ic}
		m.channels[IntercomEmail] = &intercomChannel{name: IntercomEmail, typ: intercom.Email, adminID: cfg.AdminID, ic: ic}
	}
	for i, ch := range cfg.Channels {
		if ch == nil {
			return nil, bad(fmt.Sprintf("Channels[%d]", i), "nil channel")
		}
		name := ch.Name()
		if name == "" {
			return nil, bad(fmt.Sprintf("Channels[%d]", i), "empty Name()")
		}
		if name == IntercomInApp || name == IntercomEmail {
			return nil, bad(fmt.Sprintf("Channels[%d]", i), "name %q is a built-in channel", name)
		}
		if _, dup := m.channels[name]; dup {
			return nil, bad(fmt.Sprintf("Channels[%d]", i), "name %q is registered twice", name)
		}
		m.channels[name] = ch
	}
	if field, msg := m.initAutomation(cfg); field != "" {
		return nil, bad(field, "%s", msg)
	}
	eng, err := segment.NewEngine(context.Background(), segment.Config{
		Store:     cfg.Store,
		Customers: cfg.Store,
		Evaluator: cfg.Evaluator,
		Now:       m.clock.Now,
		Logger:    m.log,
	})
	if err != nil {
		return nil, fmt.Errorf("distribution: loading segments: %w", err)
	}
	m.segments = eng
	if err := m.loadAutomatic(context.Background()); err != nil {
		return nil, fmt.Errorf("distribution: loading automatic distributions: %w", err)
	}
	return m, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Campaigns returns the in-memory code source the Manager publishes from:
// the code source itself when it is a *codes.Memory, or the one a
// store.Memory holds (its Codes method). It may be nil: with a durable or
// a host's own code source (store/postgres, Config.Codes), use that
// source, or CreateCampaign.
func (m *Manager) Campaigns() *Campaigns {
	switch c := m.codes.(type) {
	case *codes.Memory:
		return c
	case interface{ Codes() *codes.Memory }:
		return c.Codes()
	}
	return nil
}

// CreateCampaign creates a campaign in the Manager's code source (see
// codes.Registry.CreateCampaign): store.Memory, store/postgres and
// codes.Memory hold campaigns. With a code source that does not (a
// Config.Codes that is not a codes.Registry) it fails with ErrNoCampaigns.
func (m *Manager) CreateCampaign(ctx context.Context, c Campaign) (Campaign, error) {
	if m.campaigns == nil {
		return Campaign{}, ErrNoCampaigns
	}
	return m.campaigns.CreateCampaign(ctx, c)
}

// Run runs the Manager's workers until ctx ends: it first recovers the
// work a previous process left (deliveries caught mid-send become unknown,
// see below; scheduled distributions and retries are re-armed; interrupted fan-outs
// resume; unsynced segments are synced), then hands due jobs to workers.
// When ctx ends it stops starting sends, waits for the in-flight ones to
// finish and returns ctx's error. Run may be called once at a time.
//
// Several replicas may share one Store, so a delivery found in sending is
// taken as interrupted only once it has been in sending for longer than
// Config.InterruptAfter (by the Manager's Clock): a younger one may be
// in flight on another replica right now. Younger ones are re-checked by a
// JobRecover job at that bound, so a crashed replica's deliveries still
// become unknown. Several replicas need a durable Scheduler that hands
// each job to one of them (store/postgres).
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
	if err := m.recover(ctx); err != nil {
		return err
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		m.resyncLoop(ctx)
	}()
	return m.sched.Run(ctx, m.handle)
}

// resyncLoop re-checks time-relative segment rules every resyncEvery
// until ctx ends.
func (m *Manager) resyncLoop(ctx context.Context) {
	for {
		tick := make(chan struct{})
		t := m.clock.AfterFunc(m.resyncEvery, func() { close(tick) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-tick:
		}
		res, err := m.segments.Resync(ctx, func(p segment.SyncProgress) { m.segmentChanged(ctx, p.Changes, "") })
		if err != nil {
			if ctx.Err() == nil {
				m.log.Error("segment resync failed", "err", err)
			}
			continue
		}
		m.log.Debug("segments resynced", "checked", res.Checked, "entered", res.Entered, "left", res.Left)
	}
}

func (m *Manager) handle(ctx context.Context, j Job) error {
	var err error
	switch j.Kind {
	case JobSend:
		err = m.fire(ctx, j.Target)
	case JobRetry:
		err = m.retry(ctx, j.Target)
	case JobRecover:
		err = m.recheckSending(ctx, j)
	default:
		err = fmt.Errorf("unknown job kind %q", j.Kind)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		m.log.Error("distribution job failed", "job", j.ID, "err", err)
	}
	return err
}

// recover re-creates in-memory work from the Store after a (re)start.
func (m *Manager) recover(ctx context.Context) error {
	for _, id := range m.segments.Unsynced() {
		m.syncSegment(ctx, id)
	}
	if err := m.recoverAutomatic(ctx); err != nil {
		return fmt.Errorf("distribution: recovering automatic distributions: %w", err)
	}
	ds, err := m.store.ListDistributions(ctx, StatusScheduled, StatusSending)
	if err != nil {
		return fmt.Errorf("distribution: recovering: %w", err)
	}
	for _, d := range ds {
		switch d.Status {
		case StatusScheduled:
			if d.SendAt.IsZero() {
				if err := m.armIfSynced(ctx, d.ID); err != nil {
					return fmt.Errorf("distribution: recovering %s: %w", d.ID, err)
				}
				continue
			}
			if err := m.sched.Schedule(ctx, sendJob(d.ID, d.SendAt)); err != nil {
				return fmt.Errorf("distribution: recovering %s: %w", d.ID, err)
			}
		case StatusSending:
			if err := m.recoverSending(ctx, d.ID); err != nil {
				return fmt.Errorf("distribution: recovering %s: %w", d.ID, err)
			}
			if err := m.sched.Schedule(ctx, sendJob(d.ID, m.clock.Now())); err != nil {
				return fmt.Errorf("distribution: recovering %s: %w", d.ID, err)
			}
		}
	}
	return nil
}

func sendJob(distID string, at time.Time) Job {
	return Job{ID: SendJobID(distID), Kind: JobSend, Target: distID, RunAt: at}
}

func retryJob(deliveryID string, at time.Time) Job {
	return Job{ID: RetryJobID(deliveryID), Kind: JobRetry, Target: deliveryID, RunAt: at}
}
