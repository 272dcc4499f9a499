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

// A cap of two messages a day: the third send of the day is deferred to
// the next day (it stays scheduled, with the reason and the time it
// goes), and Usage reports what the period used. When the clock reaches
// midnight the deferred message goes out, counted in the new day.
func ExampleManager_Usage() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ID: "c1", ExternalID: "u1"},
		intercom.Contact{ID: "c2", ExternalID: "u2"},
		intercom.Contact{ID: "c3", ExternalID: "u3"},
	))
	defer srv.Close()
	clock := distributiontest.NewFakeClock(time.Date(2026, 3, 2, 22, 0, 0, 0, time.UTC))
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: clock,
		Limits: distribution.Limits{Messages: distribution.Limit{Max: 2, Period: distribution.PeriodDay}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.Run(runCtx) // sends the deferred message when it is due

	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Order thanks", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Thanks for order {{order.id}}!"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.Activate(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	for i, u := range []string{"u1", "u2", "u3"} {
		if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: u}, customer.UpsertOptions{}); err != nil {
			fmt.Println(err)
			return
		}
		if err := m.HandleEvent(ctx, distribution.Event{ID: fmt.Sprint("evt-", i), Type: distribution.EventOrderPaid,
			CustomerID: u, Order: &distribution.Order{ID: fmt.Sprint("ord-", i)}}); err != nil {
			fmt.Println(err)
			return
		}
	}
	for dl, err := range m.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		c, _ := m.Customer(ctx, dl.CustomerID)
		if dl.State == distribution.DeliveryScheduled {
			fmt.Printf("%s: %s (%s) until %s\n", c.SourceID, dl.State, dl.Reason, dl.NextAttemptAt.Format(time.DateTime))
		} else {
			fmt.Printf("%s: %s\n", c.SourceID, dl.State)
		}
	}
	u, _ := m.Usage(ctx)
	fmt.Printf("today: %d of %d messages, %d remaining, %d deferred\n", u.Messages.Used, u.Messages.Max, u.Messages.Remaining, u.Messages.Deferred)

	clock.Advance(2 * time.Hour) // midnight: a new period
	if err := distributiontest.WaitIdle(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("messages received:", len(srv.Messages()))
	u, _ = m.Usage(ctx)
	fmt.Printf("%s: %d of %d messages\n", u.Messages.PeriodStart.Format(time.DateOnly), u.Messages.Used, u.Messages.Max)
	// Output:
	// u1: sent
	// u2: sent
	// u3: scheduled (deferred: message limit reached) until 2026-03-03 00:00:00
	// today: 2 of 2 messages, 0 remaining, 1 deferred
	// messages received: 3
	// 2026-03-03: 1 of 2 messages
}

// With OverLimit set to OverLimitSkip, a send over the message cap is
// skipped instead of deferred, with the stable reason ReasonLimitExceeded
// that reports count.
func ExampleLimits() {
	ctx := context.Background()
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ID: "c1", ExternalID: "u1"},
		intercom.Contact{ID: "c2", ExternalID: "u2"},
	))
	defer srv.Close()
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: distributiontest.NewFakeClock(time.Time{}),
		Limits: distribution.Limits{
			Messages:  distribution.Limit{Max: 1, Period: distribution.PeriodHour},
			OverLimit: distribution.OverLimitSkip,
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, _ := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Order thanks", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Thanks!"}},
	})
	if _, err := m.Activate(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	for i, u := range []string{"u1", "u2"} {
		_, _ = m.UpsertCustomer(ctx, customer.Customer{SourceID: u}, customer.UpsertOptions{})
		_ = m.HandleEvent(ctx, distribution.Event{ID: fmt.Sprint("evt-", i), Type: distribution.EventOrderPaid,
			CustomerID: u, Order: &distribution.Order{ID: fmt.Sprint("ord-", i)}})
	}
	for dl := range m.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID}) {
		fmt.Printf("%s %q\n", dl.State, dl.Reason)
	}
	u, _ := m.Usage(ctx)
	fmt.Printf("this hour: %d sent, %d skipped\n", u.Messages.Used, u.Messages.Skipped)
	// Output:
	// sent ""
	// skipped "message limit exceeded"
	// this hour: 1 sent, 1 skipped
}

// CountInbound meters calls that come in from Intercom (webhooks,
// Messenger app actions) against Config.Limits.API; over the cap it
// refuses them with ErrLimitExceeded, and the host answers Intercom with
// an error such as HTTP 429. (Manager.WebhookConfig and the Rewards app
// call it for every request.)
func ExampleManager_CountInbound() {
	ctx := context.Background()
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Clock: distributiontest.NewFakeClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)),
		Limits: distribution.Limits{API: distribution.Limit{Max: 2, Period: distribution.PeriodHour}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		err := m.CountInbound(ctx)
		switch {
		case errors.Is(err, distribution.ErrLimitExceeded):
			fmt.Println("429:", err)
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println("200")
		}
	}
	u, _ := m.Usage(ctx)
	fmt.Printf("API: %d used, %d rejected, period ends %s\n", u.API.Used, u.API.Rejected, u.API.PeriodEnd.Format(time.Kitchen))
	// Output:
	// 200
	// 200
	// 429: distribution: API limit of 2 calls per hour reached (2 used; resets at 2026-03-02T10:00:00Z): distribution: limit exceeded
	// API: 2 used, 1 rejected, period ends 10:00AM
}
