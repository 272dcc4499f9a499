package distribution_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store"
)

// A host's webhook endpoint hands events to EnqueueEvent, which checks and
// stores them and returns at once; Run processes them (here, or on another
// replica sharing the store). An unknown customer with customer data is
// created; a bad event is refused with the field named and nothing stored.
func ExampleManager_EnqueueEvent() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ID: "c1", ExternalID: "u1", Name: "Ann"}))
	defer srv.Close()
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: distributiontest.NewFakeClock(time.Time{}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.Run(runCtx)

	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Order thanks", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Thanks for order {{order.id}}, {{customer.name}}!"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.Activate(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}

	paid := distribution.Event{ID: "evt-1", Type: distribution.EventOrderPaid, CustomerID: "u1",
		Customer: &customer.Customer{Name: "Ann"}, Order: &distribution.Order{ID: "ord-1", Amount: 25}}
	fmt.Println("accepted:", m.EnqueueEvent(ctx, paid))
	fmt.Println("repeat:", m.EnqueueEvent(ctx, paid))
	err = m.EnqueueEvent(ctx, distribution.Event{ID: "evt-2", Type: distribution.EventOrderPaid, CustomerID: "u1"}) // no order
	fmt.Println("bad:", errors.Is(err, distribution.ErrInvalid), err)

	if err := distributiontest.WaitIdle(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	for _, msg := range srv.Messages() {
		fmt.Println(msg.To.ID+":", msg.Body)
	}
	// Output:
	// accepted: <nil>
	// repeat: <nil>
	// bad: true distribution: event "evt-2": order: required for customer.order.paid: codedrop: invalid input
	// c1: Thanks for order ord-1, Ann!
}

// Replica "a" accepted an event and died while processing it: its claim
// holds for a few seconds, and until it lapses HandleEvent on another
// replica fails with ErrEventInProgress and does nothing. Afterwards the
// same call takes the event over and finishes it (Run would too).
func ExampleErrEventInProgress() {
	ctx := context.Background()
	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ID: "c1", ExternalID: "u1", Name: "Ann"}))
	defer srv.Close()
	st := store.NewMemory()
	clock := distributiontest.NewFakeClock(time.Time{})
	m, err := distribution.NewManager(distribution.Config{
		Store: st, Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: clock, ReplicaID: "b",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1", Name: "Ann"}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	d, _ := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Order thanks", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Thanks for order {{order.id}}!"}},
	})
	if _, err := m.Activate(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	paid := distribution.Event{ID: "evt-1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "ord-1"}}

	// What replica "a" left in the shared store: the event, claimed.
	claimed := paid
	claimed.ClaimedBy, claimed.ClaimedUntil = "a", clock.Now().Add(15*time.Second)
	if _, err := st.InsertEvent(ctx, claimed); err != nil {
		fmt.Println(err)
		return
	}

	err = m.HandleEvent(ctx, paid)
	fmt.Println(errors.Is(err, distribution.ErrEventInProgress), err)
	fmt.Println("messages:", len(srv.Messages()))

	clock.Advance(15 * time.Second) // a's claim lapses
	fmt.Println("again:", m.HandleEvent(ctx, paid))
	for _, msg := range srv.Messages() {
		fmt.Println(msg.To.ID+":", msg.Body)
	}
	// Output:
	// true distribution: event "evt-1": claimed by a until 2026-01-01T00:00:15Z: distribution: the event is being processed elsewhere
	// messages: 0
	// again: <nil>
	// c1: Thanks for order ord-1!
}
