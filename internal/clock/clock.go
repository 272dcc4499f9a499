// Package clock holds the clock implementations shared by codedrop's
// packages: the system clock and a fake clock that tests advance by hand.
// Hosts never import it: distribution.Clock is the interface they see,
// distribution.SystemClock the real clock and distributiontest.FakeClock
// the fake one (a wrapper of Fake). Timer is an alias of an unnamed
// interface type, identical to distribution.Timer, so the clocks here
// satisfy distribution.Clock without importing package distribution.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and runs functions after a delay. Implementations
// must be safe for concurrent use.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, from
	// Advance) once d has elapsed, and returns a Timer that can stop it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call: Stop prevents the call if it has not
// happened yet and reports whether it did so. It is an alias of an unnamed
// type so that it is identical to distribution.Timer.
type Timer = interface{ Stop() bool }

// System is the real clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Fake is a manual clock for tests: time stands still until Advance or Set
// moves it, and timers whose time has come then fire in time order, each
// in its own goroutine, like time.AfterFunc. Safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c   *Fake
	at  time.Time
	seq int
	f   func()
}

// NewFake returns a fake clock set to start (or to 2026-01-01T00:00:00Z
// when start is zero).
func NewFake(start time.Time) *Fake {
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Fake{now: start}
}

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run once the fake time reaches Now()+d. A
// non-positive d fires at once.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	at := c.now.Add(d)
	c.mu.Unlock()
	return c.AtFunc(at, f)
}

// AtFunc schedules f to run once the fake time reaches at (at once if it
// has). Unlike AfterFunc with a duration computed from an earlier Now, it
// cannot miss its time when another goroutine advances the clock
// meanwhile.
func (c *Fake) AtFunc(at time.Time, f func()) Timer {
	c.mu.Lock()
	c.seq++
	t := &fakeTimer{c: c, at: at, seq: c.seq, f: f}
	if !at.After(c.now) {
		c.mu.Unlock()
		go f()
		return t
	}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return t
}

// AtFunc calls f at time at (time.AfterFunc with the remaining duration).
func (System) AtFunc(at time.Time, f func()) Timer { return time.AfterFunc(time.Until(at), f) }

// AtFuncer is an optional interface of a Clock: run f at an absolute time.
// Schedulers use it when available, so a job cannot slip when the clock
// moves between reading Now and arming the timer.
type AtFuncer interface {
	AtFunc(at time.Time, f func()) Timer
}

// Stop implements Timer.
func (t *fakeTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves the clock forward by d and fires the timers that became due.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	to := c.now.Add(d)
	c.mu.Unlock()
	c.Set(to)
}

// Set moves the clock to t (never backwards) and fires the timers that
// became due, in time order.
func (c *Fake) Set(t time.Time) {
	c.mu.Lock()
	if t.Before(c.now) {
		t = c.now
	}
	c.now = t
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, x := range c.timers {
		if !x.at.After(t) {
			due = append(due, x)
		} else {
			keep = append(keep, x)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool {
		if !due[i].at.Equal(due[j].at) {
			return due[i].at.Before(due[j].at)
		}
		return due[i].seq < due[j].seq
	})
	for _, x := range due {
		go x.f()
	}
}

// Pending returns how many timers are waiting.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
