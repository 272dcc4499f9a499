package distribution

import (
	"time"

	"github.com/codedrop/codedrop/internal/clock"
)

// Clock tells the time and runs functions later. The Manager and its
// default Scheduler use it for every timed step (the manual send delay,
// retries, quiet hours, limits), so a test drives a distribution with a
// fake clock (distributiontest.FakeClock) instead of sleeping.
//
// Implementations must be safe for concurrent use: the Manager, its
// Scheduler and its send workers call Now and AfterFunc from many
// goroutines at once, and Stop may be called on a Timer while its
// function is starting.
//
// A Clock may also have the method
//
//	AtFunc(at time.Time, f func()) Timer
//
// that calls f once the time reaches at (at once if it has). The
// TimerScheduler then arms its timers with it, so a job cannot slip when
// the clock moves between reading Now and arming the timer. SystemClock
// and distributiontest.FakeClock have it.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed (at once
	// when d <= 0) and returns a Timer that can cancel the call.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending Clock.AfterFunc call: Stop prevents the call if it has
// not started yet and reports whether it did so. A *time.Timer is one.
//
// It is an alias of an unnamed interface type, so a Clock defined in
// another package (which cannot name distribution.Timer without importing
// it) satisfies Clock when its AfterFunc returns any interface{ Stop()
// bool }.
type Timer = interface{ Stop() bool }

// SystemClock is the real clock, the default of Config.Clock and of
// NewTimerScheduler.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc returns time.AfterFunc(d, f).
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// AtFunc calls f at time at: time.AfterFunc with the time left until at.
func (SystemClock) AtFunc(at time.Time, f func()) Timer { return time.AfterFunc(time.Until(at), f) }

// FakeClock is a manual clock: time stands still until Advance or Set moves
// it; due timers then fire.
//
// Deprecated: use distributiontest.FakeClock, whose methods go doc shows.
type FakeClock = clock.Fake

// NewFakeClock returns a FakeClock set to start (2026-01-01T00:00:00Z when
// start is zero).
//
// Deprecated: use distributiontest.NewFakeClock.
func NewFakeClock(start time.Time) *FakeClock { return clock.NewFake(start) }
