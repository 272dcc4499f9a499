package distribution_test

import (
	"context"
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// sleepClock is the env's fake clock, telling when the Manager starts a
// short wait on it (a rate-limit reset: at most a second).
type sleepClock struct {
	*distributiontest.FakeClock
	slept chan time.Duration
}

func (c sleepClock) AfterFunc(d time.Duration, f func()) distribution.Timer {
	t := c.FakeClock.AfterFunc(d, f)
	if d <= time.Second {
		c.slept <- d
	}
	return t
}

// checkRateLimited runs one automatic send to a customer whose Intercom
// contact must be looked up, with the first refusals lookups answered 429
// (the client does not retry them itself). It advances the clock a second
// each time the Manager waits for a reset, and returns the delivery once
// HandleEvent returned, with how many of those waits happened in line
// (the delivery scheduled, nothing recorded).
func checkRateLimited(t *testing.T, refusals int) (dl distribution.Delivery, inLine int) {
	t.Helper()
	e := newEnv(t)
	clk := sleepClock{e.clk, make(chan time.Duration, 16)}
	e.start(func(c *distribution.Config) {
		cfg := e.srv.Config()
		cfg.MaxRetries = -1
		cfg.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() } // the Manager's clock does the waiting
		ic, err := intercom.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Intercom, c.Clock = ic, clk
	})
	e.intercomCustomer("u1", "Ann", "ann@example.com") // no contact id: Check looks it up
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("hi")})
	e.srv.Inject(intercomtest.Fault{Method: http.MethodGet, Path: "/contacts/find_by_external_id/", Status: http.StatusTooManyRequests, Times: refusals})
	done := make(chan error, 1)
	go func() { done <- e.m.HandleEvent(e.ctx, paidEvent("e1", "u1")) }()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return e.only("e1"), inLine
		case <-clk.slept:
			if dl := e.only("e1"); dl.State == distribution.DeliveryScheduled && dl.Attempts == 0 && dl.Reason == "" {
				inLine++
			}
			e.clk.Advance(time.Second)
		case <-timeout:
			t.Fatalf("HandleEvent did not return; delivery %+v", e.only("e1"))
		}
	}
}

// A contact lookup refused for the rate limit (429) is waited out until
// Intercom's reset and the check repeated in line: no attempt counted, no
// RetryDelay push-back.
func TestCheckRateLimitedKeepsPlace(t *testing.T) {
	t.Parallel()
	dl, inLine := checkRateLimited(t, 2)
	if dl.State != distribution.DeliverySent || dl.Attempts != 1 {
		t.Errorf("delivery %+v, want sent on its first attempt", dl)
	}
	if inLine != 2 {
		t.Errorf("%d waits in line, want 2", inLine)
	}
}

// Refused more often in a row than the pipeline waits in line, a check is
// retried by a job after Intercom's reset (a second), not RetryDelay (30
// seconds) later.
func TestCheckRateLimitedTooOftenRetriesAfterReset(t *testing.T) {
	t.Parallel()
	dl, inLine := checkRateLimited(t, 6)
	// HandleEvent returns once the delivery is scheduled for its retry.
	if dl.State != distribution.DeliveryScheduled || dl.Attempts != 1 {
		t.Fatalf("delivery %+v, want scheduled for a retry", dl)
	}
	if in := dl.NextAttemptAt.Sub(dl.UpdatedAt); in != time.Second {
		t.Errorf("retry in %v, want 1s (Intercom's reset), not RetryDelay", in)
	}
	if inLine != 5 {
		t.Errorf("%d waits in line, want 5", inLine)
	}
}

// labelLimiter is an intercom.RateLimiter that grants every call and
// records the label of each.
type labelLimiter struct {
	mu     sync.Mutex
	labels map[string]int
}

func (l *labelLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.labels[intercom.CallLabel(ctx)]++
	return nil
}

func (l *labelLimiter) Observe(context.Context, intercom.RateLimitStatus) {}

// Every Intercom call made for a distribution (contact lookups and
// sends, manual or automatic) is labelled with its id, for a shared
// budget's accounts.
func TestIntercomCallsLabelledByDistribution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lim := &labelLimiter{labels: map[string]int{}}
	e.start(func(c *distribution.Config) {
		cfg := e.srv.Config()
		cfg.RateLimiter = lim
		ic, err := intercom.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Intercom = ic
	})
	for _, u := range []string{"u1", "u2", "u3"} {
		e.intercomCustomer(u, "N "+u, u+"@example.com") // looked up by external id
	}
	seg := e.segment()
	manual := e.create(distribution.Distribution{Name: "manual", Audience: distribution.Audience{SegmentID: seg.ID}, Channels: inApp("hi")})
	e.sendNow(manual.ID, distribution.StatusDone)
	auto := e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("thanks")})
	if err := e.m.HandleEvent(e.ctx, paidEvent("e1", "u1")); err != nil {
		t.Fatal(err)
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	// Three lookups and three sends, then one send (the contact is known).
	if want := map[string]int{manual.ID: 6, auto.ID: 1}; !maps.Equal(lim.labels, want) {
		t.Errorf("calls by label = %v, want %v", lim.labels, want)
	}
}
