package intercom

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter is the budget of Intercom calls a Client draws from. The
// default (Config.RateLimiter nil) is an in-process limiter shaped by
// Config.RateLimit; replicas of a host that share one Intercom app share
// one budget through a RateLimiter backed by their database
// (store/postgres.Budget). Implementations must be safe for concurrent
// use.
type RateLimiter interface {
	// Wait blocks until one more call may be made now and takes it from
	// the budget. It returns ctx's error if ctx ends first. The call's
	// CallLabel(ctx), when set, says on whose behalf it is made (for the
	// budget's accounting).
	Wait(ctx context.Context) error
	// Observe reports what Intercom said about the budget in one answer:
	// its X-RateLimit-* headers and whether it refused the call (429).
	// The Client calls it for every answer, before it returns or retries.
	Observe(ctx context.Context, s RateLimitStatus)
}

// RateLimitStatus is what one answer from Intercom says about the rate
// budget.
type RateLimitStatus struct {
	// At is when the answer arrived (the Client's Config.Now).
	At time.Time
	// Limit is X-RateLimit-Limit: the calls allowed per window (0 when
	// absent or unreadable).
	Limit int
	// Remaining is X-RateLimit-Remaining: the calls left in the current
	// window (-1 when absent or unreadable).
	Remaining int
	// Reset is X-RateLimit-Reset: when the window resets, in whole
	// seconds as Intercom sends it (truncated or rounded; zero when
	// absent). For a refused call without it, Retry-After is used.
	Reset time.Time
	// Refused is set for a 429: Intercom did not perform the call.
	Refused bool
}

// callLabelKey is the context key of CallLabel.
type callLabelKey struct{}

// WithCallLabel returns ctx labelled with label: the calls made with it
// are accounted to label by a RateLimiter that keeps such accounts
// (store/postgres.Budget counts them per distribution). It is a name for
// accounting, not a dependency; package distribution labels its calls
// with the distribution id.
func WithCallLabel(ctx context.Context, label string) context.Context {
	return context.WithValue(ctx, callLabelKey{}, label)
}

// CallLabel returns the label WithCallLabel put on ctx ("" when none).
func CallLabel(ctx context.Context) string {
	s, _ := ctx.Value(callLabelKey{}).(string)
	return s
}

// rateLimitStatus reads the rate-limit headers of one answer.
func rateLimitStatus(status int, h http.Header, now time.Time) RateLimitStatus {
	s := RateLimitStatus{At: now, Remaining: -1, Refused: status == http.StatusTooManyRequests}
	if v := h["X-Ratelimit-Limit"]; len(v) > 0 {
		if n, err := strconv.Atoi(v[0]); err == nil && n > 0 {
			s.Limit = n
		}
	}
	if v := h["X-Ratelimit-Remaining"]; len(v) > 0 {
		if n, err := strconv.Atoi(v[0]); err == nil && n >= 0 {
			s.Remaining = n
		}
	}
	if t, ok := parseReset(h); ok {
		s.Reset = t
	} else if s.Refused {
		if ra, err := strconv.Atoi(h.Get("Retry-After")); err == nil && ra >= 0 {
			s.Reset = now.Add(time.Duration(ra) * time.Second).Truncate(time.Second)
		}
	}
	return s
}

func parseReset(h http.Header) (time.Time, bool) {
	v := h["X-Ratelimit-Reset"]
	if len(v) == 0 {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// localLimiter is the in-process RateLimiter: a token bucket shaped by
// Config.RateLimit (nil when disabled) and a pause Intercom's headers ask
// for.
type localLimiter struct {
	bucket     *rate.Limiter
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
	log        logger
	pauseUntil atomic.Int64 // unix nanos; set from rate-limit headers
}

// logger is what localLimiter logs through (a *slog.Logger).
type logger interface {
	Debug(msg string, args ...any)
}

// newLocalLimiter returns the limiter for rl, or an error naming the bad
// field.
func newLocalLimiter(rl RateLimit, now func() time.Time, sleep func(context.Context, time.Duration) error, log logger) (*localLimiter, error) {
	l := &localLimiter{now: now, sleep: sleep, log: log}
	if rl.Disabled {
		return l, nil
	}
	perMin, window := rl.PerMinute, rl.Window
	if perMin < 0 || window < 0 {
		return nil, errNegativeRateLimit(perMin, window)
	}
	if perMin == 0 {
		perMin = 10000
	}
	if window == 0 {
		window = 10 * time.Second
	}
	perWindow := float64(perMin) * window.Seconds() / 60
	burst := max(1, int(perWindow/10))
	l.bucket = rate.NewLimiter(rate.Limit(float64(perMin)/60), burst)
	return l, nil
}

// Wait implements RateLimiter: it waits out any pause the headers asked
// for, then the token bucket.
func (l *localLimiter) Wait(ctx context.Context) error {
	now := l.now()
	if until := l.pauseUntil.Load(); until != 0 && now.UnixNano() < until {
		if err := l.sleep(ctx, time.Duration(until-now.UnixNano())); err != nil {
			return err
		}
		now = l.now()
	}
	if l.bucket == nil {
		return nil
	}
	res := l.bucket.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		if err := l.sleep(ctx, d); err != nil {
			res.CancelAt(l.now())
			return err
		}
	}
	return nil
}

// Observe implements RateLimiter: a refused call pauses every call until
// the reset; with no calls left in the window it pauses until
// X-RateLimit-Reset; with less than a tenth of X-RateLimit-Limit left it
// spreads the remaining calls evenly until the reset.
func (l *localLimiter) Observe(_ context.Context, s RateLimitStatus) {
	if s.Refused && !s.Reset.IsZero() && s.Reset.After(s.At) {
		l.pause(s.Reset)
	}
	rem := s.Remaining
	if rem < 0 || rem > 0 && (s.Limit == 0 || rem*10 >= s.Limit) || s.Reset.IsZero() {
		return
	}
	d := s.Reset.Sub(s.At)
	if d <= 0 {
		return
	}
	if rem == 0 {
		l.pause(s.Reset)
		l.log.Debug("intercom: rate-limit window exhausted; pausing", "until", s.Reset)
		return
	}
	l.pause(s.At.Add(d / time.Duration(rem+1)))
}

// pause holds every call until t (keeping the later of two pauses).
func (l *localLimiter) pause(t time.Time) {
	n := t.UnixNano()
	for {
		cur := l.pauseUntil.Load()
		if cur >= n || l.pauseUntil.CompareAndSwap(cur, n) {
			return
		}
	}
}

func errNegativeRateLimit(perMin int, window time.Duration) error {
	return fmt.Errorf("intercom: Config.RateLimit: negative PerMinute %d or Window %v", perMin, window)
}
