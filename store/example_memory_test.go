package store_test

import (
	"context"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/store"
)

// One store.Memory holds everything, campaigns and publications included:
// a Manager made on it publishes from it without Config.Codes, so a
// campaign created through one Manager is there for every Manager on the
// same store, and the store lists what was published.
func ExampleNewMemory() {
	ctx := context.Background()
	st := store.NewMemory()
	sms := distributiontest.NewChannel("sms")
	newManager := func() *distribution.Manager {
		m, err := distribution.NewManager(distribution.Config{
			Store: st, Clock: distributiontest.NewFakeClock(time.Time{}), Channels: []distribution.Channel{sms},
		})
		if err != nil {
			panic(err)
		}
		return m
	}

	first := newManager()
	camp, err := first.CreateCampaign(ctx, codes.Campaign{Name: "Thanks", Codes: []string{"THANKS-1", "THANKS-2"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := first.CreateDistribution(ctx, distribution.Distribution{
		Name: "Order thanks", Mode: distribution.Automatic, Campaign: camp.ID,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "Thanks! Next time: {{voucher.code}}"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := first.Activate(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}

	// Another Manager on the same store (a restart, or a second one in
	// the process) finds the campaign and the distribution.
	second := newManager()
	if _, err := second.UpsertCustomer(ctx, customer.Customer{SourceID: "u1"}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	if err := second.HandleEvent(ctx, distribution.Event{ID: "evt-1", Type: distribution.EventOrderPaid, CustomerID: "u1",
		Order: &distribution.Order{ID: "ord-1"}}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sent:", sms.Messages()[0].Body)

	got, _ := st.Campaign(ctx, "Thanks") // by id or unique name
	pubs, _ := st.Publications(ctx, got.ID)
	for _, p := range pubs {
		c, _ := st.GetCustomer(ctx, p.CustomerID)
		fmt.Println("published:", p.Code, "to", c.SourceID)
	}
	left, _ := st.Remaining(ctx, got.ID)
	fmt.Println("codes left:", left)
	// Output:
	// sent: Thanks! Next time: THANKS-1
	// published: THANKS-1 to u1
	// codes left: 1
}
