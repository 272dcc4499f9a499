package intercomtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// RateLimit enforces limit calls per window (fixed windows, as Intercom
// counts them) and answers 429 rate_limit_exceeded beyond it. Without it
// the server never limits but still sends X-RateLimit-* headers. Windows
// start at multiples of window (plus RateLimitPhase); Windows reports
// what each one served.
func RateLimit(limit int, window time.Duration) Option {
	return func(c *config) { c.limit, c.window = limit, window }
}

// RateLimitPhase shifts the rate-limit windows by phase: they start at
// phase past each multiple of the window (Unix time), as Intercom's
// windows need not start on a whole second of the client's clock. With a
// phase that is not a whole second, ResetTruncate makes
// X-RateLimit-Reset name a second before the window really resets.
func RateLimitPhase(phase time.Duration) Option {
	return func(c *config) { c.phase = phase }
}

// ResetRounding says how X-RateLimit-Reset, a Unix time in whole seconds,
// rounds a window end that falls within a second.
type ResetRounding int

const (
	// ResetRoundUp names the second at or after the reset (the default):
	// a client that waits until the header's time is never early.
	ResetRoundUp ResetRounding = iota
	// ResetTruncate names the second at or before the reset, as a
	// Unix-seconds header may: a client that sends right at the header's
	// time can be up to a second early and refused. The harder case.
	ResetTruncate
)

// RateLimitReset sets how X-RateLimit-Reset is rounded (default
// ResetRoundUp).
func RateLimitReset(r ResetRounding) Option {
	return func(c *config) { c.reset = r }
}

// Window is what one rate-limit window served.
type Window struct {
	// Start is when the window began; it ends one window length later.
	Start time.Time
	// Calls is how many calls it performed (at most the limit).
	Calls int
	// Refused is how many calls it answered with 429.
	Refused int
}

// Windows returns the rate-limit windows that saw calls, oldest first
// (none without RateLimit).
func (s *Server) Windows() []Window {
	s.rlMu.Lock()
	defer s.rlMu.Unlock()
	return append([]Window(nil), s.windows...)
}

// rateLimit counts the call in the current window, sets the X-RateLimit-*
// headers and answers 429 when the window is used up.
func (s *Server) rateLimit(w http.ResponseWriter) bool {
	h := w.Header()
	if s.cfg.limit <= 0 {
		h["X-Ratelimit-Limit"] = unlimited
		h["X-Ratelimit-Remaining"] = unlimited
		return true
	}
	now := s.cfg.now()
	start := now.Add(-s.cfg.phase).Truncate(s.cfg.window).Add(s.cfg.phase)
	s.rlMu.Lock()
	if n := len(s.windows); n == 0 || !s.windows[n-1].Start.Equal(start) {
		s.windows = append(s.windows, Window{Start: start})
	}
	win := &s.windows[len(s.windows)-1]
	used := win.Calls + win.Refused + 1
	refused := used > s.cfg.limit
	if refused {
		win.Refused++
	} else {
		win.Calls++
	}
	s.rlMu.Unlock()
	reset := start.Add(s.cfg.window)
	resetSec := reset.Unix()
	if reset.Nanosecond() != 0 && s.cfg.reset == ResetRoundUp {
		resetSec++
	}
	h["X-Ratelimit-Limit"] = []string{strconv.Itoa(s.cfg.limit)}
	h["X-Ratelimit-Remaining"] = []string{strconv.Itoa(max(0, s.cfg.limit-used))}
	h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(resetSec, 10)}
	if refused {
		s.limited.Add(1)
		writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded",
			fmt.Sprintf("Exceeded rate limit of %d in %s", s.cfg.limit, s.cfg.window), "")
		return false
	}
	return true
}
