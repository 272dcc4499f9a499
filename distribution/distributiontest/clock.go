package distributiontest

import (
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/internal/clock"
)

// FakeClock is a distribution.Clock for tests: its time stands still until
// Advance or Set moves it, and the timers that became due then fire, in
// time order (ties in the order they were armed), each in its own
// goroutine like time.AfterFunc. Give it to distribution.Config.Clock,
// distribution.NewTimerScheduler or postgres.SchedulerConfig.Clock.
//
// It is safe for concurrent use. Create one with NewFakeClock; the zero
// value is not usable.
type FakeClock struct {
	f *clock.Fake
}

// Both clocks have AtFunc, TimerScheduler's fast path (see
// distribution.Clock).
var (
	_ distribution.Clock = (*FakeClock)(nil)
	_ interface {
		AtFunc(time.Time, func()) distribution.Timer
	} = (*FakeClock)(nil)
)

// NewFakeClock returns a FakeClock set to start, or to
// 2026-01-01T00:00:00Z when start is zero.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{f: clock.NewFake(start)}
}

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time { return c.f.Now() }

// AfterFunc arranges for f to run once the clock reaches Now()+d; a
// non-positive d runs it at once (in its own goroutine). Stop on the
// returned Timer cancels it if it has not fired.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) distribution.Timer {
	return c.f.AfterFunc(d, f)
}

// AtFunc arranges for f to run once the clock reaches at (at once if it
// has). Unlike AfterFunc with a duration computed from an earlier Now, it
// cannot miss its time when another goroutine moves the clock meanwhile.
func (c *FakeClock) AtFunc(at time.Time, f func()) distribution.Timer {
	return c.f.AtFunc(at, f)
}

// Advance moves the clock forward by d and fires the timers that became
// due. It returns once they are started, not finished: wait for what they
// do on its own signal.
func (c *FakeClock) Advance(d time.Duration) { c.f.Advance(d) }

// Set moves the clock to t and fires the timers that became due; a t
// before Now leaves the time as it is (the clock never goes back).
func (c *FakeClock) Set(t time.Time) { c.f.Set(t) }

// Pending returns how many timers wait for their time.
func (c *FakeClock) Pending() int { return c.f.Pending() }
