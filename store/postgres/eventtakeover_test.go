package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store/postgres"
)

// eventLease is distribution's claim on an event (not configurable): a
// replica that dies inside HandleEvent leaves the event to the others
// once it lapses.
const eventLease = 15 * time.Second

// TestKilledInsideHandleEvent: a replica process handling an event (two
// automatic distributions match it) is killed with SIGKILL while the
// first message's request is in flight. A host's retry on another
// replica meanwhile says the event is in progress; once the dead
// replica's claim lapses, a replica that was running all along (no
// restart) completes the event: it sends the second message, never the
// first again (that one ends unknown), and the retry then returns nil.
func TestKilledInsideHandleEvent(t *testing.T) {
	t.Parallel()
	const (
		sendTimeout    = 3 * time.Second // the victim's
		interruptAfter = 5 * time.Second // the survivor's: above every replica's SendTimeout
	)
	ctx := context.Background()
	schema := newSchema(t)
	dsn := testDSN(t)
	pool := openPool(t, dsn, schema, 6)
	srv := newIntercom(t, 1)
	st := postgres.New(pool)
	seedCustomers(t, st, 1)

	admin := newReplica(t, pool, srv, replicaOpts{noRun: true})
	for _, name := range []string{"first", "second"} {
		d, err := admin.m.CreateDistribution(ctx, distribution.Distribution{Name: name, Mode: distribution.Automatic,
			Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: name + " {{order.id}}"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.m.Activate(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	survivor := newReplica(t, openPool(t, dsn, schema, 6), srv, replicaOpts{interruptAfter: interruptAfter})
	victim := startChild(t, schema, srv, helperConfig{ReplicaID: "victim", Control: true, SendTimeout: sendTimeout})
	victim.front.hold.Store(true) // its messages stay in flight

	ev := distribution.Event{ID: "e1", Type: distribution.EventOrderPaid, CustomerID: intercom.SourceID(contact(0)),
		Order: &distribution.Order{ID: "o1", Amount: 10}}
	hostErr := make(chan error, 1)
	go func() { hostErr <- victim.call(ctx, "handle", ev) }()
	waitFor(t, "the victim's first message to be in flight", func() bool { return victim.front.held.Load() == 1 })
	stored, err := st.GetEvent(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.ClaimedBy, "victim/") || !stored.ProcessedAt.IsZero() { // a claim of one of the victim replica's calls
		t.Fatalf("event at the kill = %+v, want claimed by the victim, unprocessed", stored)
	}
	states := map[distribution.DeliveryState]int{}
	for dl, err := range st.Deliveries(ctx, distribution.DeliveryFilter{TriggerKey: ev.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		states[dl.State]++
	}
	if states[distribution.DeliverySending] != 1 || states[distribution.DeliveryScheduled] != 1 {
		t.Fatalf("deliveries at the kill by state %v, want one sending and one scheduled", states)
	}
	// The host retries on another replica: the event is in progress.
	if err := survivor.m.HandleEvent(ctx, ev); !errors.Is(err, distribution.ErrEventInProgress) {
		t.Fatalf("HandleEvent on the survivor while the victim holds the event = %v, want ErrEventInProgress", err)
	}

	victim.kill()
	killedAt := time.Now()
	if err := <-hostErr; err == nil {
		t.Error("the host's call to the killed replica returned no error")
	}
	var processed distribution.Event
	waitFor(t, "the event to be completed", func() bool {
		if processed, err = st.GetEvent(ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(killedAt); d > eventLease+10*time.Second {
			t.Fatalf("event unprocessed %v after the kill: %+v", d, processed)
		}
		return !processed.ProcessedAt.IsZero()
	})
	takeover := time.Since(killedAt)
	if margin := 5 * time.Second; takeover > eventLease+margin {
		t.Errorf("event completed %v after the kill, want within the lease (%v) + %v", takeover, eventLease, margin)
	}
	if err := survivor.m.HandleEvent(ctx, ev); err != nil {
		t.Errorf("the host's retry after the take-over = %v, want nil", err)
	}

	// The first message's delivery ends unknown (it may have reached
	// Intercom; here it did not); the second was sent once.
	var unknownAfter time.Duration
	waitFor(t, "the interrupted delivery to be resolved", func() bool {
		states = map[distribution.DeliveryState]int{}
		for dl, err := range st.Deliveries(ctx, distribution.DeliveryFilter{TriggerKey: ev.ID}) {
			if err != nil {
				t.Fatal(err)
			}
			states[dl.State]++
			if dl.State == distribution.DeliveryUnknown {
				unknownAfter = dl.UpdatedAt.Sub(killedAt)
				if dl.Reason != distribution.ReasonInterrupted {
					t.Errorf("unknown delivery %s: reason %q, want %q", dl.ID, dl.Reason, distribution.ReasonInterrupted)
				}
			}
		}
		return states[distribution.DeliverySending] == 0 && states[distribution.DeliveryScheduled] == 0
	})
	if states[distribution.DeliverySent] != 1 || states[distribution.DeliveryUnknown] != 1 {
		t.Errorf("deliveries by state %v, want one sent and one unknown", states)
	}
	var bodies []string
	for _, msg := range srv.Messages() {
		bodies = append(bodies, msg.Body)
	}
	if len(bodies) != 1 || bodies[0] != "second o1" || victim.front.messages.Load() != 1 {
		t.Errorf("messages %q (%d through the victim), want the second distribution's once, from the survivor", bodies, victim.front.messages.Load())
	}
	t.Logf("victim's claim ran until %v after the kill; event completed %v after the kill (lease %v); interrupted delivery unknown %v after the kill (InterruptAfter %v); messages %q",
		stored.ClaimedUntil.Sub(killedAt).Round(time.Millisecond), takeover.Round(time.Millisecond), eventLease,
		unknownAfter.Round(time.Millisecond), interruptAfter, bodies)
}

// TestEventsSurviveAKilledReplica: a host hands events to one replica
// process (HandleEvent and EnqueueEvent, several at once) and that
// replica is killed with SIGKILL a third of the way through; the host
// then retries every event whose call failed on a surviving replica
// (ErrEventInProgress while the dead replica's claim holds, nil once
// processed). No event is lost, none is sent twice, and every delivery
// ends final: sent, or unknown for the sends the kill interrupted.
func TestEventsSurviveAKilledReplica(t *testing.T) {
	t.Parallel()
	const (
		events    = 150
		customers = 30
	)
	ctx := context.Background()
	schema := newSchema(t)
	pool := openPool(t, testDSN(t), schema, 6)
	srv := newIntercom(t, customers, intercomtest.Latency(20*time.Millisecond))
	st := postgres.New(pool)
	seedCustomers(t, st, customers)
	admin := newReplica(t, pool, srv, replicaOpts{noRun: true})
	d, err := admin.m.CreateDistribution(ctx, distribution.Distribution{Name: "paid", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "paid {{order.id}}"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.m.Activate(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	cfg := func(id string) helperConfig {
		return helperConfig{ReplicaID: id, Control: true, SendTimeout: 3 * time.Second, InterruptAfter: 5 * time.Second}
	}
	victim := startChild(t, schema, srv, cfg("victim"))
	survivors := []*child{startChild(t, schema, srv, cfg("s1")), startChild(t, schema, srv, cfg("s2"))}

	event := func(i int) distribution.Event {
		id := fmt.Sprintf("e%03d", i)
		return distribution.Event{ID: id, Type: distribution.EventOrderPaid, CustomerID: intercom.SourceID(contact(i % customers)),
			Order: &distribution.Order{ID: id, Amount: 10}}
	}
	failed := make([]bool, events)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 6 {
		wg.Go(func() {
			for i := range next {
				path := "handle"
				if i%2 == 1 {
					path = "enqueue"
				}
				failed[i] = victim.call(ctx, path, event(i)) != nil
			}
		})
	}
	var killedAt time.Time
	for i := range events {
		if killedAt.IsZero() && srv.MessageCount() >= events/3 {
			victim.kill()
			killedAt = time.Now()
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if killedAt.IsZero() {
		t.Fatalf("only %d messages for %d events: the victim was never killed", srv.MessageCount(), events)
	}
	retried := 0
	for i, f := range failed {
		if !f {
			continue
		}
		retried++
		r := survivors[i%2]
		waitFor(t, "a retry of "+event(i).ID+" to succeed", func() bool {
			err := r.call(ctx, "handle", event(i))
			if err != nil && !errors.Is(err, distribution.ErrEventInProgress) {
				t.Fatalf("retry of %s on %s: %v", event(i).ID, r.id, err)
			}
			return err == nil
		})
	}
	waitFor(t, "every event to be processed", func() bool {
		for i := range events {
			e, err := st.GetEvent(ctx, event(i).ID)
			if err != nil {
				t.Fatal(err)
			}
			if e.ProcessedAt.IsZero() {
				return false
			}
		}
		return true
	})
	allDone := time.Since(killedAt)
	waitFor(t, "every delivery to be final", func() bool {
		cnt, err := st.CountDeliveries(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		return cnt.States[distribution.DeliveryScheduled]+cnt.States[distribution.DeliverySending] == 0
	})
	perBody := map[string]int{}
	for _, m := range srv.Messages() {
		perBody[m.Body]++
	}
	states := map[distribution.DeliveryState]int{}
	unknownReached := 0
	for dl, err := range st.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		states[dl.State]++
		k := perBody["paid "+dl.TriggerKey]
		switch dl.State {
		case distribution.DeliverySent:
			if k != 1 {
				t.Errorf("event %s: sent, %d messages", dl.TriggerKey, k)
			}
		case distribution.DeliveryUnknown:
			if k > 1 || dl.Reason != distribution.ReasonInterrupted {
				t.Errorf("event %s: unknown (%s), %d messages", dl.TriggerKey, dl.Reason, k)
			}
			unknownReached += k
		default:
			t.Errorf("event %s: delivery %s (%s)", dl.TriggerKey, dl.State, dl.Reason)
		}
	}
	if n := states[distribution.DeliverySent] + states[distribution.DeliveryUnknown]; n != events {
		t.Errorf("%d deliveries (%v), want one per event (%d)", n, states, events)
	}
	for body, k := range perBody {
		if k != 1 {
			t.Errorf("message %q sent %d times", body, k)
		}
	}
	t.Logf("%d events; victim killed after %d messages through it; %d calls to it failed and were retried elsewhere; every event processed %v after the kill (event lease %v); %d sent, %d unknown (%d of which reached Intercom), 0 duplicates",
		events, victim.front.messages.Load(), retried, allDone.Round(time.Millisecond), eventLease, states[distribution.DeliverySent], states[distribution.DeliveryUnknown], unknownReached)
}
