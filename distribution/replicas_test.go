package distribution_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/store"
)

// insertHook runs after once after the first InsertDeliveries.
type insertHook struct {
	*store.Memory
	once  sync.Once
	after func()
}

func (s *insertHook) InsertDeliveries(ctx context.Context, ds []distribution.Delivery) (int, error) {
	n, err := s.Memory.InsertDeliveries(ctx, ds)
	s.once.Do(s.after)
	return n, err
}

// A pause that commits while another replica matches an event: that
// replica records the delivery, sees the pause when it reads the store
// again, cancels the delivery and sends nothing.
func TestPauseWhileMatchingSendsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	d := e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid")})
	hook := &insertHook{Memory: e.mem, after: func() {
		if _, err := e.m.Pause(e.ctx, d.ID); err != nil {
			t.Error(err)
		}
	}}
	b, err := distribution.NewManager(distribution.Config{Store: hook, Intercom: e.srv.Client(), AdminID: e.srv.AdminID(), Codes: e.codes, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.HandleEvent(e.ctx, paidEvent("e1", "u1")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.srv.Messages()); n != 0 {
		t.Fatalf("%d messages after the distribution was paused", n)
	}
	dls := e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID})
	if len(dls) != 1 || dls[0].State != distribution.DeliveryCanceled || dls[0].Reason != distribution.ReasonNotActive {
		t.Errorf("deliveries %+v, want one canceled (%s)", dls, distribution.ReasonNotActive)
	}
}

// An event a dead replica accepted is reported in progress while its
// claim holds, and finished by a live replica once it lapses, without a
// restart; a host's retry then returns nil.
func TestEventOfADeadReplicaIsTakenOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) { c.InterruptAfter = 20 * time.Second })
	c := e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{order.id}}")})
	ev := paidEvent("e1", "u1")
	stored := ev
	stored.ResolvedCustomerID, stored.At = c.ID, e.clk.Now()
	stored.ClaimedBy, stored.ClaimedUntil = "rep_dead", e.clk.Now().Add(15*time.Second)
	if _, err := e.st.InsertEvent(e.ctx, stored); err != nil {
		t.Fatal(err)
	}
	if err := e.m.HandleEvent(e.ctx, ev); !errors.Is(err, distribution.ErrEventInProgress) {
		t.Fatalf("HandleEvent while the dead replica's claim holds = %v, want ErrEventInProgress", err)
	}
	e.clk.Advance(21 * time.Second) // the claim lapsed; the sweep runs
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := distributiontest.WaitUntil(ctx, e.m, func() bool {
		got, _ := e.st.GetEvent(e.ctx, "e1")
		return !got.ProcessedAt.IsZero()
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.HandleEvent(e.ctx, ev); err != nil {
		t.Errorf("retry after the take-over = %v, want nil", err)
	}
	if got := e.bodies(); len(got) != 1 || got[0] != "paid e1" {
		t.Errorf("messages %v, want the event's one message", got)
	}
}

// A host's retry of an event whose claim lapsed resumes it at once.
func TestHandleEventResumesALapsedClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{order.id}}")})
	ev := paidEvent("e1", "u1")
	stored := ev
	stored.ResolvedCustomerID, stored.At = c.ID, e.clk.Now().Add(-time.Minute)
	stored.ClaimedBy, stored.ClaimedUntil = "rep_dead", e.clk.Now().Add(-time.Second)
	if _, err := e.st.InsertEvent(e.ctx, stored); err != nil {
		t.Fatal(err)
	}
	if err := e.m.HandleEvent(e.ctx, ev); err != nil {
		t.Fatal(err)
	}
	if got := e.bodies(); len(got) != 1 {
		t.Errorf("messages %v, want one", got)
	}
	if got, _ := e.st.GetEvent(e.ctx, "e1"); got.ProcessedAt.IsZero() {
		t.Error("the event is not processed")
	}
}

// EnqueueEvent returns once the event is stored; Run processes it.
func TestEnqueueEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := e.startGated()
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "gate", Body: "paid {{order.id}}"}}})
	done := make(chan error, 1)
	go func() { done <- e.m.EnqueueEvent(e.ctx, paidEvent("e1", "u1")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("EnqueueEvent waited for the send")
	}
	if err := e.m.EnqueueEvent(e.ctx, paidEvent("e1", "u1")); err != nil {
		t.Errorf("repeated id = %v, want nil", err)
	}
	select {
	case <-gate.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the queued event was not processed")
	}
	close(gate.release)
	e.idle()
	if got, _ := e.st.GetEvent(e.ctx, "e1"); got.ProcessedAt.IsZero() {
		t.Error("the event is not processed")
	}
	// Bad input is refused and nothing is stored.
	if err := e.m.EnqueueEvent(e.ctx, paidEvent("e2", "nobody")); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("unknown customer = %v, want ErrNotFound", err)
	}
	if err := e.m.EnqueueEvent(e.ctx, distribution.Event{ID: "e3", Type: distribution.EventOrderPaid, CustomerID: "u1"}); !errors.Is(err, distribution.ErrInvalid) {
		t.Errorf("no order = %v, want ErrInvalid", err)
	}
	for _, id := range []string{"e2", "e3"} {
		if _, err := e.st.GetEvent(e.ctx, id); !errors.Is(err, distribution.ErrNotFound) {
			t.Errorf("event %s stored after a refusal: %v", id, err)
		}
	}
	// A new customer's data travels with the event; it is created when the
	// event is processed.
	nc := paidEvent("e4", "u9")
	nc.Customer = &customer.Customer{Name: "Nina"}
	if err := e.m.EnqueueEvent(e.ctx, nc); err != nil {
		t.Fatal(err)
	}
	e.idle()
	if c, err := e.m.Customer(e.ctx, "u9"); err != nil || c.Name != "Nina" {
		t.Errorf("customer u9 = %+v, %v; want created by the event", c, err)
	}
}

// Two concurrent calls with one event id on the same Manager: one
// processes it, the other is told it is in progress (nil once processed).
func TestHandleEventTwiceAtOnceOnOneManager(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := e.startGated()
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "gate", Body: "paid"}}})
	first := make(chan error, 1)
	go func() { first <- e.m.HandleEvent(e.ctx, paidEvent("e1", "u1")) }()
	<-gate.started // the first call is sending
	if err := e.m.HandleEvent(e.ctx, paidEvent("e1", "u1")); !errors.Is(err, distribution.ErrEventInProgress) {
		t.Errorf("second call while the first sends = %v, want ErrEventInProgress", err)
	}
	close(gate.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := e.m.HandleEvent(e.ctx, paidEvent("e1", "u1")); err != nil {
		t.Errorf("call after it was processed = %v, want nil", err)
	}
}
