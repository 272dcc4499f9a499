package distribution_test

import (
	"context"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store"
)

// sweepLog is a memory store that records when (by now) each sweep of
// the Manager began: a sweep lists every delivery in sending, then, as
// its last step, the unprocessed events.
type sweepLog struct {
	*store.Memory
	now     func() time.Time
	mu      sync.Mutex
	started time.Time // of the sweep under way (zero: none)
	swept   []time.Time
}

func (s *sweepLog) Deliveries(ctx context.Context, f distribution.DeliveryFilter) iter.Seq2[distribution.Delivery, error] {
	if f.DistributionID == "" && len(f.States) == 1 && f.States[0] == distribution.DeliverySending {
		s.mu.Lock()
		s.started = s.now()
		s.mu.Unlock()
	}
	return s.Memory.Deliveries(ctx, f)
}

func (s *sweepLog) UnprocessedEvents(ctx context.Context) iter.Seq2[distribution.Event, error] {
	s.mu.Lock()
	if !s.started.IsZero() {
		s.swept, s.started = append(s.swept, s.started), time.Time{}
	}
	s.mu.Unlock()
	return s.Memory.UnprocessedEvents(ctx)
}

// sweptSince reports whether a sweep that began at t or later has ended.
func (s *sweepLog) sweptSince(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, at := range s.swept {
		if !at.Before(t) {
			return true
		}
	}
	return false
}

// A Manager never takes its own send in flight as interrupted: with an
// InterruptAfter shorter than the send takes (a single-process host may
// set it low), the sweep leaves the delivery in sending and the send
// records it sent. Other replicas still apply the bound (see
// TestRecoveryMarksADeadReplicasSendLater).
func TestSweepLeavesItsOwnSendsAlone(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"fan-out", "event"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			sig := &sweepLog{Memory: e.mem, now: e.clk.Now}
			gate := newGate()
			e.start(func(c *distribution.Config) {
				c.Store, c.Channels, c.InterruptAfter = sig, []distribution.Channel{gate}, 10*time.Second
			})
			t.Cleanup(func() {
				select {
				case <-gate.release:
				default:
					close(gate.release)
				}
			})
			c := e.customer(customer.Customer{SourceID: "u1", Name: "Ann"})
			msg := []distribution.ChannelMessage{{Channel: "gate", Body: "hi"}}
			var d distribution.Distribution
			handled := make(chan error, 1)
			if mode == "fan-out" {
				d = e.create(distribution.Distribution{Name: "slow", Audience: distribution.Audience{CustomerID: c.ID}, Channels: msg})
				if _, err := e.m.Send(e.ctx, d.ID); err != nil {
					t.Fatal(err)
				}
				e.waitArmed(d.ID)
				e.clk.Advance(distribution.DefaultManualDelay)
			} else {
				d = e.activate(distribution.Distribution{Name: "slow", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: msg})
				go func() { handled <- e.m.HandleEvent(e.ctx, paidEvent("e1", "u1")) }()
			}
			dlID := <-gate.started
			inFlight, _ := e.st.GetDelivery(e.ctx, dlID)
			old := inFlight.UpdatedAt.Add(10 * time.Second) // InterruptAfter
			e.clk.Advance(11 * time.Second)                 // the send is older than InterruptAfter; the sweep runs
			e.waitFor("a sweep that finds the send old", func() bool { return sig.sweptSince(old) })
			if got, _ := e.st.GetDelivery(e.ctx, dlID); got.State != distribution.DeliverySending {
				t.Fatalf("the Manager's own send in flight became %s (%s) in its sweep, want still sending", got.State, got.Reason)
			}
			close(gate.release)
			if mode == "fan-out" {
				e.waitStatus(d.ID, distribution.StatusDone)
			} else if err := <-handled; err != nil {
				t.Fatal(err)
			}
			e.waitFor("the send to be recorded", func() bool {
				got, _ := e.st.GetDelivery(e.ctx, dlID)
				return got.State != distribution.DeliverySending
			})
			if got, _ := e.st.GetDelivery(e.ctx, dlID); got.State != distribution.DeliverySent {
				t.Errorf("delivery %+v, want sent", got)
			}
		})
	}
}
