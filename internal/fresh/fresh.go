// Package fresh coalesces the checks a cache makes against its source of
// truth (a store's version counter): a check that started after a
// caller's work began serves that caller, so concurrent callers share one
// read instead of each making its own. The trigger index of package
// distribution and the rule cache of package segment use it.
package fresh

import (
	"context"
	"sync"
	"time"
)

// Gate runs checks one at a time and remembers when the last good one
// started. The zero value is ready; it is safe for concurrent use. Times
// are the wall clock's monotonic readings (time.Now), not a fake clock's:
// they order the caller's work against the check, they schedule nothing.
type Gate struct {
	mu     sync.Mutex
	last   time.Time // start of the last check that succeeded
	flight *flight
}

type flight struct {
	start time.Time
	done  chan struct{}
	err   error
}

// Since returns once a check that started after since has succeeded: at
// once when one has, after the one in flight when it started after since,
// else after running check itself. check reports whether the cache is
// now current (ok), and an error to report (a cache can be current and
// still have an error to report, such as one entry that did not load; ok
// false makes the next caller check again). It returns check's error, or
// ctx's while waiting for another caller's check.
func (g *Gate) Since(ctx context.Context, since time.Time, check func(ctx context.Context) (ok bool, err error)) error {
	for {
		g.mu.Lock()
		if g.last.After(since) {
			g.mu.Unlock()
			return nil
		}
		if f := g.flight; f != nil {
			g.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if f.start.After(since) {
				return f.err
			}
			continue // it began too early for this caller: check again
		}
		f := &flight{start: time.Now(), done: make(chan struct{})}
		g.flight = f
		g.mu.Unlock()
		ok, err := check(ctx)
		f.err = err
		g.mu.Lock()
		g.flight = nil
		if ok && f.start.After(g.last) {
			g.last = f.start
		}
		g.mu.Unlock()
		close(f.done)
		return err
	}
}

// Done records a check the caller made itself that started at start (for
// example the first load), as if Since had run it.
func (g *Gate) Done(start time.Time) {
	g.mu.Lock()
	if start.After(g.last) {
		g.last = start
	}
	g.mu.Unlock()
}
