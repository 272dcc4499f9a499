package distribution_test

import (
	"context"
	"fmt"
	"time"
	_ "time/tzdata" // the customers' time zones, also where the system has none

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store"
)

// Quiet hours from 21:00 to 08:00 in each customer's own time zone. At
// 21:30 UTC it is 22:30 in Warsaw, so Ann's message is deferred to 08:00
// her time; in New York it is 16:30, so Bob's goes at once. When the clock
// reaches the window's end, Run sends Ann's.
func ExampleQuietHours() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ID: "c1", ExternalID: "ann", Name: "Ann"},
		intercom.Contact{ID: "c2", ExternalID: "bob", Name: "Bob"},
	))
	defer srv.Close()
	clock := distributiontest.NewFakeClock(time.Date(2026, 1, 15, 21, 30, 0, 0, time.UTC))
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: clock,
		QuietHours: distribution.QuietHours{Start: "21:00", End: "08:00"}, // Action: QuietDefer
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
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Thanks, {{customer.name}}!"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.Activate(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	zones := map[string]*time.Location{}
	for i, c := range []customer.Customer{
		{SourceID: "ann", Name: "Ann", Timezone: "Europe/Warsaw"},
		{SourceID: "bob", Name: "Bob", Timezone: "America/New_York"},
	} {
		zones[c.SourceID], _ = time.LoadLocation(c.Timezone)
		if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{}); err != nil {
			fmt.Println(err)
			return
		}
		if err := m.HandleEvent(ctx, distribution.Event{ID: fmt.Sprint("evt-", i), Type: distribution.EventOrderPaid,
			CustomerID: c.SourceID, Order: &distribution.Order{ID: fmt.Sprint("ord-", i)}}); err != nil {
			fmt.Println(err)
			return
		}
	}
	show := func() {
		for dl := range m.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID}) {
			c, _ := m.Customer(ctx, dl.CustomerID)
			switch dl.State {
			case distribution.DeliveryScheduled:
				fmt.Printf("%s: %s (%s) until %s local\n", c.SourceID, dl.State, dl.Reason, dl.NextAttemptAt.In(zones[c.SourceID]).Format("15:04"))
			default:
				fmt.Printf("%s: %s at %s local\n", c.SourceID, dl.State, dl.SentAt.In(zones[c.SourceID]).Format("15:04"))
			}
		}
	}
	show()

	clock.Set(time.Date(2026, 1, 16, 7, 0, 0, 0, time.UTC)) // 08:00 in Warsaw
	if err := distributiontest.WaitIdle(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	show()
	// Output:
	// ann: scheduled (deferred: quiet hours) until 08:00 local
	// bob: sent at 16:30 local
	// ann: sent at 08:00 local
	// bob: sent at 16:30 local
}
