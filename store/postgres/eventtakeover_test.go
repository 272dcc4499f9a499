package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
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
	if stored.ClaimedBy != "victim" || !stored.ProcessedAt.IsZero() {
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
