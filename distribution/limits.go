package distribution

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLimitExceeded reports that a metered cap (Config.Limits) is reached
// for the current period: CountInbound returns it for the API cap; a send
// over the message cap is deferred or skipped with ReasonLimitExceeded.
var ErrLimitExceeded = errors.New("distribution: limit exceeded")

// Period is the span a Limit counts over. Periods start on calendar
// boundaries in Limits.Location.
type Period string

// The periods.
const (
	PeriodHour  Period = "hour"
	PeriodDay   Period = "day" // the default
	PeriodMonth Period = "month"
)

// Limit caps one meter per period.
type Limit struct {
	// Max is how many calls (or messages) a period allows; 0 means no cap
	// (usage is still counted). Negative is invalid.
	Max int64 `json:"max,omitempty"`
	// Period is the span Max counts over; default PeriodDay.
	Period Period `json:"period,omitempty"`
}

// OverLimit says what happens to a send over the message cap.
type OverLimit string

// The over-limit policies.
const (
	// OverLimitDefer (the default) keeps the delivery scheduled until the
	// next period starts (reason ReasonDeferredLimit).
	OverLimitDefer OverLimit = "defer"
	// OverLimitSkip skips the delivery (reason ReasonLimitExceeded).
	OverLimitSkip OverLimit = "skip"
)

// Limits meters what a workspace spends: outbound messages count against
// Intercom's *webhook* (message) limit, calls coming in from Intercom
// (webhooks, Messenger app actions) against the *API* limit. The zero
// value counts both without caps.
type Limits struct {
	// Messages caps outbound messages; each channel's message counts
	// separately.
	Messages Limit `json:"messages,omitzero"`
	// API caps inbound calls from Intercom, counted by CountInbound.
	API Limit `json:"api,omitzero"`
	// OverLimit is what happens to a send over the message cap; default
	// OverLimitDefer.
	OverLimit OverLimit `json:"over_limit,omitempty"`
	// Location is where periods start (midnight, the first of the month);
	// default UTC.
	Location *time.Location `json:"-"`
}

// Meters of the usage counters. The UsageStore meter is the meter, "/" and
// the period ("messages/day").
const (
	MeterMessages = "messages"
	MeterAPI      = "api"
	// MeterMessagesDeferred and MeterMessagesSkipped count sends turned
	// away by the message cap; MeterAPIRejected inbound calls turned away
	// by the API cap.
	MeterMessagesDeferred = "messages.deferred"
	MeterMessagesSkipped  = "messages.skipped"
	MeterAPIRejected      = "api.rejected"
)

// UsageStore keeps the per-period usage counters behind Config.Limits.
// Implementations must be safe for concurrent use; AddUsage must be
// atomic (several replicas share one cap).
type UsageStore interface {
	// AddUsage adds n to the counter (meter, period) and returns the new
	// value. When n > 0 and max > 0 and the result would exceed max, it
	// changes nothing and returns the current value with an error
	// wrapping ErrLimitExceeded. A negative n (a release) never fails
	// over the cap; the counter does not go below zero.
	AddUsage(ctx context.Context, meter string, period time.Time, n, max int64) (int64, error)
	// Usage returns the counter (meter, period); 0 when never counted.
	Usage(ctx context.Context, meter string, period time.Time) (int64, error)
}

// validate returns the invalid field of l and why, or "".
func (l Limits) validate() (field, msg string) {
	for _, f := range []struct {
		name string
		l    Limit
	}{{"Messages", l.Messages}, {"API", l.API}} {
		if f.l.Max < 0 {
			return "Limits." + f.name + ".Max", fmt.Sprintf("%d is negative", f.l.Max)
		}
		switch f.l.Period {
		case "", PeriodHour, PeriodDay, PeriodMonth:
		default:
			return "Limits." + f.name + ".Period", fmt.Sprintf("%q is not hour, day or month", f.l.Period)
		}
	}
	switch l.OverLimit {
	case "", OverLimitDefer, OverLimitSkip:
	default:
		return "Limits.OverLimit", fmt.Sprintf("%q is not defer or skip", l.OverLimit)
	}
	return "", ""
}

// bounds returns the period of l that holds t: [start, end).
func (l Limit) bounds(t time.Time, loc *time.Location) (start, end time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	y, mo, d := t.Date()
	switch l.Period {
	case PeriodHour:
		// The local hour began t.Minute() minutes ago, also across a DST
		// change and in zones with half-hour offsets.
		start = t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
		return start, start.Add(time.Hour)
	case PeriodMonth:
		return time.Date(y, mo, 1, 0, 0, 0, 0, loc), time.Date(y, mo+1, 1, 0, 0, 0, 0, loc)
	default:
		return time.Date(y, mo, d, 0, 0, 0, 0, loc), time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
	}
}

// counter is the UsageStore meter of meter counted per l's period: hourly
// and daily counters starting at the same instant stay apart.
func counter(meter string, l Limit) string { return meter + "/" + periodName(l.Period) }

// periodOf returns l's period in effect at t, normalized to UTC (the key of
// the usage counters).
func (p *policy) periodOf(l Limit, t time.Time) (start, end time.Time) {
	s, e := l.bounds(t, p.limits.Location)
	return s.UTC(), e.UTC()
}

// CountInbound counts one inbound call from Intercom (a webhook, a
// Messenger app action) against the API limit. When the period's cap is
// reached it counts nothing and returns an error wrapping
// ErrLimitExceeded (the caller should answer Intercom with an error, such
// as HTTP 429). Safe for concurrent use.
func (m *Manager) CountInbound(ctx context.Context) error { return m.policy.countInbound(ctx) }

func (p *policy) countInbound(ctx context.Context) error {
	now := p.clock.Now()
	start, end := p.periodOf(p.limits.API, now)
	n, err := p.usage.AddUsage(ctx, counter(MeterAPI, p.limits.API), start, 1, p.limits.API.Max)
	if errors.Is(err, ErrLimitExceeded) {
		if _, rerr := p.usage.AddUsage(ctx, counter(MeterAPIRejected, p.limits.API), start, 1, 0); rerr != nil {
			p.logger.ErrorContext(ctx, "counting a rejected inbound call", "err", rerr)
		}
		return fmt.Errorf("distribution: API limit of %d calls per %s reached (%d used; resets at %s): %w",
			p.limits.API.Max, periodName(p.limits.API.Period), n, end.Format(time.RFC3339), ErrLimitExceeded)
	}
	if err != nil {
		return fmt.Errorf("distribution: counting an inbound call: %w", err)
	}
	return nil
}

func periodName(p Period) string {
	if p == "" {
		return string(PeriodDay)
	}
	return string(p)
}

// MeterUsage is one meter's usage in the current period.
type MeterUsage struct {
	// Used is how many calls (messages) the period counted.
	Used int64 `json:"used"`
	// Max is the cap (0: none); Remaining is Max-Used (-1 without a cap).
	Max       int64 `json:"max"`
	Remaining int64 `json:"remaining"`
	// Rejected counts calls refused over the cap (API); for messages,
	// Deferred and Skipped count sends turned away by the cap.
	Rejected    int64     `json:"rejected,omitempty"`
	Deferred    int64     `json:"deferred,omitempty"`
	Skipped     int64     `json:"skipped,omitempty"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
}

// UsageReport is the metered usage of the current periods.
type UsageReport struct {
	// Messages is outbound messages (Intercom's webhook limit).
	Messages MeterUsage `json:"messages"`
	// API is inbound calls from Intercom (Intercom's API limit).
	API MeterUsage `json:"api"`
}

// Usage reports the message and API usage of the periods in effect now.
func (m *Manager) Usage(ctx context.Context) (UsageReport, error) { return m.policy.report(ctx) }

func (p *policy) report(ctx context.Context) (UsageReport, error) {
	now := p.clock.Now()
	var rep UsageReport
	for _, f := range []struct {
		dst    *MeterUsage
		l      Limit
		meters [4]string // used, rejected, deferred, skipped
	}{
		{&rep.Messages, p.limits.Messages, [4]string{MeterMessages, "", MeterMessagesDeferred, MeterMessagesSkipped}},
		{&rep.API, p.limits.API, [4]string{MeterAPI, MeterAPIRejected, "", ""}},
	} {
		start, end := p.periodOf(f.l, now)
		var vals [4]int64
		for i, meter := range f.meters {
			if meter == "" {
				continue
			}
			v, err := p.usage.Usage(ctx, counter(meter, f.l), start)
			if err != nil {
				return UsageReport{}, fmt.Errorf("distribution: usage of %s: %w", meter, err)
			}
			vals[i] = v
		}
		*f.dst = MeterUsage{Used: vals[0], Max: f.l.Max, Remaining: -1, Rejected: vals[1], Deferred: vals[2], Skipped: vals[3],
			PeriodStart: start, PeriodEnd: end}
		if f.l.Max > 0 {
			f.dst.Remaining = max(0, f.l.Max-vals[0])
		}
	}
	return rep, nil
}
