package distribution_test

import (
	"context"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/store"
)

// A frequency cap of one message a day per customer, across
// distributions: the second message of the day is skipped with the stable
// reason ReasonFrequencyCapped and the cap in ReasonDetail. A
// Transactional distribution (an order confirmation) is neither capped nor
// counted.
func ExampleFrequencyCap() {
	ctx := context.Background()
	clock := distributiontest.NewFakeClock(time.Time{})
	sms := distributiontest.NewChannel("sms")
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Clock: clock, Channels: []distribution.Channel{sms},
		FrequencyCaps: []distribution.FrequencyCap{{Max: 1, Window: 24 * time.Hour}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1"}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range []distribution.Distribution{
		{Name: "Order confirmation", Transactional: true, Trigger: distribution.Trigger{Event: distribution.EventOrderCreated}},
		{Name: "Thanks for paying", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}},
	} {
		d.Mode = distribution.Automatic
		d.Channels = []distribution.ChannelMessage{{Channel: "sms", Body: d.Name}}
		if d, err = m.CreateDistribution(ctx, d); err == nil {
			_, err = m.Activate(ctx, d.ID)
		}
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	event := func(id, typ, order string) {
		if err := m.HandleEvent(ctx, distribution.Event{ID: id, Type: typ, CustomerID: "u1", Order: &distribution.Order{ID: order}}); err != nil {
			fmt.Println(err)
			return
		}
		for dl := range m.Deliveries(ctx, distribution.DeliveryFilter{TriggerKey: id}) {
			fmt.Printf("%s: %s %q %q\n", id, dl.State, dl.Reason, dl.ReasonDetail)
		}
	}
	event("created-1", distribution.EventOrderCreated, "ord-1") // transactional: not counted
	event("paid-1", distribution.EventOrderPaid, "ord-1")
	event("created-2", distribution.EventOrderCreated, "ord-2")
	event("paid-2", distribution.EventOrderPaid, "ord-2") // the day's second marketing message
	clock.Advance(24 * time.Hour)
	event("paid-3", distribution.EventOrderPaid, "ord-3")
	// Output:
	// created-1: sent "" ""
	// paid-1: sent "" ""
	// created-2: sent "" ""
	// paid-2: skipped "frequency capped" "1 per 24h0m0s"
	// paid-3: sent "" ""
}
