package distribution_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store"
)

// benchEvents sets up a Manager with `total` active automatic
// distributions of which 10 trigger on customer.order.paid (each
// publishing a code), and measures HandleEvent of one order.paid event,
// sends to intercomtest included.
func benchEvents(b *testing.B, total int) {
	const customers, matching = 1000, 10
	ctx := context.Background()
	srv := benchServer(customers)
	defer srv.Close()
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID()})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]customer.Customer, customers)
	for i := range batch {
		batch[i] = customer.Customer{SourceID: fmt.Sprintf("u%07d", i), Name: fmt.Sprintf("Customer %d", i)}
	}
	if _, err := m.UpsertCustomers(ctx, batch, customer.UpsertOptions{}); err != nil {
		b.Fatal(err)
	}
	camp, err := m.CreateCampaign(ctx, distribution.Campaign{Name: "Thanks", Type: distribution.CampaignAutoUpdate, Code: distribution.CodeConfig{Length: 12}})
	if err != nil {
		b.Fatal(err)
	}
	other, err := m.CreateCampaign(ctx, distribution.Campaign{Name: "Other", Type: distribution.CampaignAutoUpdate})
	if err != nil {
		b.Fatal(err)
	}
	// The others spread over every other event type (segment events
	// aside: their segments would slow the customer re-check, not the
	// matching); those narrowed by campaign name another campaign.
	types := []string{distribution.EventOrderCreated, distribution.EventOrderUpdated, distribution.EventOrderCanceled,
		distribution.EventGiftBalanceAdded, distribution.EventLoyaltyPointsAdded, distribution.EventRedemptionSucceeded,
		distribution.EventRedemptionRollback, distribution.EventRewarded, distribution.EventPublication}
	for i := range total {
		d := distribution.Distribution{Name: fmt.Sprintf("d%d", i), Mode: distribution.Automatic,
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Hi {{customer.name}}"}}}
		if i < matching {
			d.Trigger = distribution.Trigger{Event: distribution.EventOrderPaid}
			d.Campaign = camp.ID
			d.Channels[0].Body = "Thanks for {{order.id}} ({{order.amount}}), {{customer.name}}: {{voucher.code}}"
		} else {
			d.Trigger = distribution.Trigger{Event: types[i%len(types)]}
			if d.Trigger.Event == distribution.EventPublication || i%2 == 0 && d.Trigger.Event != distribution.EventOrderCreated &&
				d.Trigger.Event != distribution.EventOrderUpdated && d.Trigger.Event != distribution.EventOrderCanceled {
				d.Trigger.CampaignID = other.ID
			}
		}
		d, err := m.CreateDistribution(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Activate(ctx, d.ID); err != nil {
			b.Fatal(err)
		}
	}
	before := len(srv.Messages())
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev := distribution.Event{ID: fmt.Sprintf("evt-%d", i), Type: distribution.EventOrderPaid, CustomerID: fmt.Sprintf("u%07d", i%customers),
			Order: &distribution.Order{ID: fmt.Sprintf("ord-%d", i), Amount: 10}}
		if err := m.HandleEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got, want := len(srv.Messages())-before, b.N*matching; got != want {
		b.Fatalf("sent %d messages, want %d", got, want)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N*matching)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkHandleEvent: one customer.order.paid event, 1,000 active
// automatic distributions of which 10 match.
func BenchmarkHandleEvent(b *testing.B) { benchEvents(b, 1000) }

// BenchmarkHandleEventSmall: the same event with only the 10 matching
// distributions (the baseline of BenchmarkHandleEvent).
func BenchmarkHandleEventSmall(b *testing.B) { benchEvents(b, 10) }
