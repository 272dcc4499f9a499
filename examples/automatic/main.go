// Command automatic runs two automatic distributions offline, against a
// fake Intercom (intercomtest): one thanks every customer whose order is
// paid with a unique code, the other welcomes customers who enter the "3
// orders" segment. A few order events drive them; the program prints what
// Intercom received and each customer's order summary.
//
//	go run ./examples/automatic
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "automatic:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ID: "ic-ann", ExternalID: "u-1001", Name: "Ann Kowalska"},
		intercom.Contact{ID: "ic-bob", ExternalID: "u-1002", Name: "Bob Nowak"},
	))
	defer srv.Close()
	// A fake clock makes the run (and its output) the same every time.
	clock := distributiontest.NewFakeClock(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: clock,
	})
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()

	for _, c := range []customer.Customer{{SourceID: "u-1001", Name: "Ann Kowalska"}, {SourceID: "u-1002", Name: "Bob Nowak"}} {
		if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{}); err != nil {
			return err
		}
	}
	loyal, err := m.CreateSegment(ctx, segment.Segment{
		Name: "3 orders", Type: segment.AutoUpdate, Expression: "summary.orders.total_count >= 3",
	})
	if err != nil {
		return err
	}
	for loyal.SyncStatus != segment.Synced { // the first sync runs in the background
		time.Sleep(time.Millisecond)
		if loyal, err = m.Segment(ctx, loyal.ID); err != nil {
			return err
		}
	}
	thanks, err := m.CreateCampaign(ctx, codes.Campaign{Name: "Thanks", Codes: []string{"THANKS-A1", "THANKS-B2", "THANKS-C3", "THANKS-D4", "THANKS-E5"}})
	if err != nil {
		return err
	}
	for _, d := range []distribution.Distribution{
		{
			Name: "Thank you for your order", Mode: distribution.Automatic,
			Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
			Campaign: thanks.ID,
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp,
				Body: "Thanks for order {{order.id}} ({{order.amount}} PLN), {{customer.name}}! 10% off next time: {{voucher.code}}"}},
		},
		{
			Name: "Welcome to the club", Mode: distribution.Automatic,
			Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: loyal.ID},
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp,
				Body: "{{customer.name}}, you are in {{segment.name}}: free shipping from now on."}},
		},
	} {
		d, err := m.CreateDistribution(ctx, d)
		if err != nil {
			return err
		}
		if _, err := m.Activate(ctx, d.ID); err != nil {
			return err
		}
	}

	events := []distribution.Event{
		{ID: "evt-1", Type: distribution.EventOrderCreated, CustomerID: "u-1001", Order: &distribution.Order{ID: "A-1", Amount: 120}},
		{ID: "evt-2", Type: distribution.EventOrderPaid, CustomerID: "u-1001", Order: &distribution.Order{ID: "A-1", Amount: 120}},
		{ID: "evt-3", Type: distribution.EventOrderPaid, CustomerID: "u-1001", Order: &distribution.Order{ID: "A-2", Amount: 80}},
		{ID: "evt-3", Type: distribution.EventOrderPaid, CustomerID: "u-1001", Order: &distribution.Order{ID: "A-2", Amount: 80}}, // a repeat: ignored
		{ID: "evt-4", Type: distribution.EventOrderPaid, CustomerID: "u-1002", Order: &distribution.Order{ID: "B-1", Amount: 35.5}},
		{ID: "evt-5", Type: distribution.EventOrderPaid, CustomerID: "u-1001", Order: &distribution.Order{ID: "A-3", Amount: 40}},
	}
	for _, ev := range events {
		if err := m.HandleEvent(ctx, ev); err != nil {
			return err
		}
		clock.Advance(time.Hour)
	}

	fmt.Fprintln(out, "Intercom received:")
	for _, msg := range srv.Messages() {
		fmt.Fprintf(out, "  to %s: %s\n", msg.To.ID, msg.Body)
	}
	fmt.Fprintln(out, "Order summaries:")
	for _, id := range []string{"u-1001", "u-1002"} {
		c, err := m.Customer(ctx, id)
		if err != nil {
			return err
		}
		o := c.Summary.Orders
		fmt.Fprintf(out, "  %s: %d orders, %.2f total, %.2f average, last %.2f on %s\n",
			c.Name, o.TotalCount, o.TotalAmount, o.AverageAmount, o.LastOrderAmount, o.LastOrderDate.Format(time.DateTime))
	}
	return nil
}
