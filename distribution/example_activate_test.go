package distribution_test

import (
	"context"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// Pause stops an automatic distribution: events that come while it is
// paused send nothing (they still update the customer), and Activate
// resumes it for the events that follow.
func ExampleManager_Pause() {
	ctx := context.Background()
	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ID: "c1", ExternalID: "u1", Name: "Ann"}))
	defer srv.Close()
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: distributiontest.NewFakeClock(time.Time{}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1", Name: "Ann"}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Order thanks", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Thanks for order {{order.id}}!"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	paid := func(order string) {
		err := m.HandleEvent(ctx, distribution.Event{ID: "evt-" + order, Type: distribution.EventOrderPaid, CustomerID: "u1",
			Order: &distribution.Order{ID: order, Amount: 10}})
		if err != nil {
			fmt.Println(err)
		}
	}

	d, _ = m.Activate(ctx, d.ID)
	fmt.Println(d.Status)
	paid("ord-1")
	d, _ = m.Pause(ctx, d.ID)
	fmt.Println(d.Status)
	paid("ord-2") // nothing is sent for it
	d, _ = m.Activate(ctx, d.ID)
	fmt.Println(d.Status)
	paid("ord-3")

	for _, msg := range srv.Messages() {
		fmt.Println(msg.To.ID+":", msg.Body)
	}
	c, _ := m.Customer(ctx, "u1")
	fmt.Println("orders counted:", c.Summary.Orders.TotalCount)
	// Output:
	// active
	// paused
	// active
	// c1: Thanks for order ord-1!
	// c1: Thanks for order ord-3!
	// orders counted: 3
}

// A distribution on customer.segment.entered with IncludeExisting also
// sends, when it is first activated, to the customers already in the
// segment (in the background); from then on each customer who enters the
// segment gets it once.
func ExampleManager_Activate() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ID: "c1", ExternalID: "u1", Name: "Ann"},
		intercom.Contact{ID: "c2", ExternalID: "u2", Name: "Bob"},
	))
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

	vip, _ := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"tier": "gold"}}, customer.UpsertOptions{})
	seg, err := m.CreateSegment(ctx, segment.Segment{Name: "Gold", Type: segment.AutoUpdate, Expression: `metadata.tier == "gold"`})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Welcome to gold", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: seg.ID, IncludeExisting: true},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Welcome to {{segment.name}}, {{customer.name}}!"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := distributiontest.WaitIdle(ctx, m); err != nil { // the segment is synced
		fmt.Println(err)
		return
	}
	if d, err = m.Activate(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Status)
	if err := distributiontest.WaitIdle(ctx, m); err != nil { // the existing member got it
		fmt.Println(err)
		return
	}
	fmt.Println("existing:", vip.SourceID, "->", len(srv.Messages()), "message")

	// Bob enters the segment: the write fires customer.segment.entered.
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u2", Name: "Bob", Metadata: customer.Metadata{"tier": "gold"}}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	if err := distributiontest.WaitIdle(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	for _, msg := range srv.Messages() {
		fmt.Println(msg.To.ID+":", msg.Body)
	}
	// Output:
	// active
	// existing: u1 -> 1 message
	// c1: Welcome to Gold, Ann!
	// c2: Welcome to Gold, Bob!
}
