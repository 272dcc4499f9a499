package distribution

import (
	"time"

	"github.com/codedrop/codedrop/internal/clock"
)

// Clock tells the time and runs functions after a delay; the Manager and
// its default Scheduler use it for every timed step, so a test can drive
// a distribution with a FakeClock. Implementations must be safe for
// concurrent use.
type Clock = clock.Clock

// Timer is a pending Clock.AfterFunc call.
type Timer = clock.Timer

// FakeClock is a Clock for tests: time stands still until Advance or Set
// moves it; due timers then fire. It lives in package distribution (not a
// separate test package) because hosts testing their own distributions
// need it together with the Manager, and exporting it costs one type.
type FakeClock = clock.Fake

// NewFakeClock returns a FakeClock set to start (2026-01-01T00:00:00Z when
// start is zero).
func NewFakeClock(start time.Time) *FakeClock { return clock.NewFake(start) }

// SystemClock is the real clock, the default.
type SystemClock = clock.System
