package distribution

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// Reasons of the message limit: a deferred delivery stays scheduled with
// ReasonDeferredLimit and NextAttemptAt at the next period's start; a
// skipped one records ReasonLimitExceeded (ErrLimitExceeded's condition).
const (
	ReasonDeferredLimit = "deferred: message limit reached"
	ReasonLimitExceeded = "message limit exceeded"
)

// policy is the send-time policy step of the pipeline: quiet hours,
// frequency caps and the message limit, applied to a delivery about to
// be sent. It only decides and counts; the pipeline records its verdict
// in the ledger. Safe for concurrent use.
type policy struct {
	limits  Limits
	usage   UsageStore
	caps    []FrequencyCap
	sendLog SendLog
	quiet   quiet
	clock   Clock
	logger  *slog.Logger

	tzMu sync.Mutex
	tzs  map[string]*time.Location // IANA name -> zone (nil: unknown)
}

// newPolicy checks the policy part of cfg; it returns the invalid field
// and why on a bad one.
func newPolicy(cfg Config, channels map[string]Channel, clock Clock, logger *slog.Logger) (p *policy, field, msg string) {
	if f, msg := cfg.Limits.validate(); f != "" {
		return nil, f, msg
	}
	if f, msg := validateCaps(cfg.FrequencyCaps, channels); f != "" {
		return nil, f, msg
	}
	q, f, msg := cfg.QuietHours.compile()
	if f != "" {
		return nil, f, msg
	}
	return &policy{
		limits:  cfg.Limits,
		usage:   cfg.Store,
		caps:    append([]FrequencyCap(nil), cfg.FrequencyCaps...),
		sendLog: cfg.Store,
		quiet:   q,
		clock:   clock,
		logger:  logger,
		tzs:     map[string]*time.Location{},
	}, "", ""
}

// hold is what admit reserved for one send; release gives it back when
// the message is not sent after all.
type hold struct {
	capped  string // delivery id recorded in the send log
	counted time.Time
	res     *usageReserve // counted from this reservation (else in the store)
}

// verdict is admit's decision on a delivery it did not let through.
type verdict struct {
	// skip is the reason to skip the delivery ("" when deferred).
	skip string
	// until is when a deferred delivery may go (with reason).
	until  time.Time
	reason string
}

// admit applies the send-time policies to delivery dl of plan pl for
// customer c: quiet hours (defer or drop), frequency caps (skip) and the
// message limit (defer or skip). It returns a nil verdict and the hold to
// release if the message is not sent after all, or the verdict on a
// delivery it did not let through. res, when set, is the fan-out's block
// of uncapped message counts.
func (p *policy) admit(ctx context.Context, pl *plan, dl *Delivery, c *customer.Customer, res *usageReserve) (hold, *verdict, error) {
	var h hold
	now := p.clock.Now()
	if p.quiet.on && !pl.d.IgnoreQuietHours {
		loc := p.quiet.location(c.Timezone, p.location)
		if end, in := p.quiet.until(now, loc); in {
			if p.quiet.drop {
				return h, &verdict{skip: ReasonQuietHoursDropped}, nil
			}
			return h, &verdict{until: end, reason: ReasonQuietHours}, nil
		}
	}
	if len(p.caps) > 0 && !pl.d.Transactional {
		if caps := capsFor(p.caps, dl.Channel); len(caps) > 0 {
			i, err := p.sendLog.ReserveSend(ctx, SendRecord{DeliveryID: dl.ID, CustomerID: dl.CustomerID, Channel: dl.Channel, At: now}, caps)
			if err != nil {
				return h, nil, fmt.Errorf("checking frequency caps: %w", err)
			}
			if i >= 0 {
				return h, &verdict{skip: ReasonFrequencyCapped + ": " + caps[i].String()}, nil
			}
			h.capped = dl.ID
		}
	}
	meter := counter(MeterMessages, p.limits.Messages)
	start, end := p.periodOf(p.limits.Messages, now)
	var err error
	if res != nil && p.limits.Messages.Max <= 0 {
		// Uncapped: counted from a block the fan-out counted ahead.
		err = res.take(ctx, meter, start)
		h.res = res
	} else {
		_, err = p.usage.AddUsage(ctx, meter, start, 1, p.limits.Messages.Max)
	}
	if errors.Is(err, ErrLimitExceeded) {
		p.release(ctx, h)
		over := MeterMessagesDeferred
		if p.limits.OverLimit == OverLimitSkip {
			over = MeterMessagesSkipped
		}
		if _, err := p.usage.AddUsage(ctx, counter(over, p.limits.Messages), start, 1, 0); err != nil {
			p.logger.ErrorContext(ctx, "counting a send over the message limit", "err", err)
		}
		p.logger.WarnContext(ctx, "message limit reached", "delivery", dl.ID, "max", p.limits.Messages.Max, "period_end", end, "action", p.limits.OverLimit)
		if p.limits.OverLimit == OverLimitSkip {
			return hold{}, &verdict{skip: ReasonLimitExceeded}, nil
		}
		return hold{}, &verdict{until: end, reason: ReasonDeferredLimit}, nil
	}
	if err != nil {
		h.res = nil // nothing taken
		p.release(ctx, h)
		return hold{}, nil, fmt.Errorf("counting message usage: %w", err)
	}
	h.counted = start
	return h, nil, nil
}

// release gives back what admit reserved in h.
func (p *policy) release(ctx context.Context, h hold) {
	if h.capped != "" {
		if err := p.sendLog.ReleaseSend(ctx, h.capped); err != nil {
			p.logger.ErrorContext(ctx, "releasing a frequency-cap record", "delivery", h.capped, "err", err)
		}
	}
	meter := counter(MeterMessages, p.limits.Messages)
	if h.res != nil {
		h.res.give(ctx, meter, h.counted)
		return
	}
	if !h.counted.IsZero() {
		if _, err := p.usage.AddUsage(ctx, meter, h.counted, -1, 0); err != nil {
			p.logger.ErrorContext(ctx, "releasing message usage", "err", err)
		}
	}
}

// newReserve returns a block reservation of uncapped message counts for
// one fan-out (see usageReserve).
func (p *policy) newReserve() *usageReserve {
	return &usageReserve{usage: p.usage, log: p.logger}
}

// location returns the zone named tz, or nil when unknown (cached).
func (p *policy) location(tz string) *time.Location {
	p.tzMu.Lock()
	defer p.tzMu.Unlock()
	if l, ok := p.tzs[tz]; ok {
		return l
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		p.logger.Warn("unknown customer time zone; using the default", "timezone", tz)
		l = nil
	}
	p.tzs[tz] = l
	return l
}
