package distribution

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

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
	// DefaultChunkSize is how many deliveries make one chunk of a fan-out
	// shared by replicas (Config.ChunkSize).
	DefaultChunkSize = 500
	// DefaultResyncInterval is how often rule segments that depend on the
	// time alone ("created in the last 7 days") are re-checked.
	DefaultResyncInterval = time.Hour
)

// ManagerStore is everything the Manager persists: customers, segments and
// memberships, distributions and the delivery ledger, events, summaries,
// usage and the send log. store.Memory and the PostgreSQL store implement
// it; store/storetest checks an implementation. It grows with the
// Manager: implement it through store/storetest, and expect new methods
// in new versions.
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
	// Replier posts a reward's code as a teammate's reply (GiveReward
	// with RewardByReply); default: Intercom, when it implements Replier
	// (*intercom.Client does).
	Replier Replier
	// Scheduler holds timed jobs (manual sends, retries, queued events);
	// default: NewTimerScheduler(Clock).
	Scheduler Scheduler
	// Evaluator compiles segment rules; default: segment.DefaultEvaluator.
	Evaluator segment.Evaluator
	// Clock is the time source of every timed step; default: the system
	// clock. Tests pass a fake one (distributiontest.FakeClock).
	Clock Clock
	// Logger receives the Manager's log; default: discarded. Every call
	// that has a context passes it (the ...Context methods), so a
	// trace-aware handler can correlate records with spans.
	Logger *slog.Logger
	// MeterProvider provides the Manager's metrics (see the package
	// documentation for their names); default: the global provider
	// (otel.GetMeterProvider), a no-op until the host installs an SDK.
	MeterProvider metric.MeterProvider
	// TracerProvider provides the Manager's spans (fan-outs, sends,
	// events); default: the global provider (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
	// ReplicaID names this Manager among the replicas sharing the Store
	// (in event claims and logs); default: a random "rep_..." id per
	// Manager.
	ReplicaID string
	// ManualDelay is how long after Send (and after its segment synced) a
	// manual distribution fires; default DefaultManualDelay (10 minutes).
	// Negative is invalid.
	ManualDelay time.Duration
	// Concurrency is how many deliveries are sent at once; default
	// DefaultConcurrency.
	Concurrency int
	// ChunkSize is how many deliveries of a manual distribution make one
	// chunk when the Scheduler is a SharedScheduler: the fan-out is split
	// into JobChunk jobs that any replica claims, one at a time per
	// Manager (so Concurrency still bounds a replica's sends), and a dead
	// replica's chunk is taken over when its lease ends. Default
	// DefaultChunkSize. With the in-process Scheduler a fan-out is one
	// piece of work.
	ChunkSize int
	// MaxAttempts bounds the sends of one delivery after transient
	// failures; default DefaultMaxAttempts.
	MaxAttempts int
	// RetryDelay is the first retry's delay after a transient failure,
	// doubled on each further attempt (at most an hour); default
	// DefaultRetryDelay.
	RetryDelay time.Duration
	// SendTimeout bounds one provider call; default DefaultSendTimeout.
	SendTimeout time.Duration
	// InterruptAfter is how long a delivery (of any kind: manual,
	// automatic, reward) may stay in sending before it is taken as
	// interrupted by a crash and marked unknown (see Run); a younger one
	// may be in flight on another replica and is re-checked when it
	// reaches this age. A Manager never takes its own sends in flight as
	// interrupted, however long they take. Default: SendTimeout plus a
	// minute (for the store writes around the call and clock differences
	// between replicas). A single-process host may set it lower; with
	// several replicas it must exceed SendTimeout plus those writes.
	InterruptAfter time.Duration
	// EventLease is how long a replica's claim on an event it processes
	// holds without renewal (it renews it every third of this while it
	// works): when the replica dies, another takes the event over this
	// long after its last renewal. Default DefaultEventLease.
	EventLease time.Duration
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

// configErr is an invalid Config field.
func configErr(field, format string, args ...any) error {
	return fmt.Errorf("distribution: Config.%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalid)
}

// validate checks the fields of cfg that need no other part.
func (cfg *Config) validate() error {
	bad := configErr
	if cfg.Store == nil {
		return bad("Store", "required (store.NewMemory() is the in-memory default)")
	}
	if cfg.Intercom != nil && cfg.AdminID == "" {
		return bad("AdminID", "required with Intercom (the admin messages are sent from)")
	}
	switch {
	case cfg.ManualDelay < 0:
		return bad("ManualDelay", "%v is negative", cfg.ManualDelay)
	case cfg.Concurrency < 0:
		return bad("Concurrency", "%d is negative", cfg.Concurrency)
	case cfg.ChunkSize < 0:
		return bad("ChunkSize", "%d is negative", cfg.ChunkSize)
	case cfg.MaxAttempts < 0:
		return bad("MaxAttempts", "%d is negative", cfg.MaxAttempts)
	case cfg.RetryDelay < 0:
		return bad("RetryDelay", "%v is negative", cfg.RetryDelay)
	case cfg.SendTimeout < 0:
		return bad("SendTimeout", "%v is negative", cfg.SendTimeout)
	case cfg.InterruptAfter < 0:
		return bad("InterruptAfter", "%v is negative", cfg.InterruptAfter)
	case cfg.EventLease < 0:
		return bad("EventLease", "%v is negative", cfg.EventLease)
	case cfg.ResyncInterval < 0:
		return bad("ResyncInterval", "%v is negative", cfg.ResyncInterval)
	}
	seen := map[string]int{IntercomInApp: -1, IntercomEmail: -1}
	for i, ch := range cfg.Channels {
		field := fmt.Sprintf("Channels[%d]", i)
		if ch == nil {
			return bad(field, "nil channel")
		}
		name := ch.Name()
		switch j, dup := seen[name]; {
		case name == "":
			return bad(field, "empty Name()")
		case dup && j < 0:
			return bad(field, "name %q is a built-in channel", name)
		case dup:
			return bad(field, "name %q is registered twice", name)
		}
		seen[name] = i
	}
	return nil
}
