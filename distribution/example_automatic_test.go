package distribution_test

import (
	"context"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store"
)

// An automatic distribution thanks each customer whose order is paid with
// a unique code. HandleEvent sends before it returns; a repeated event id
// sends nothing.
func ExampleManager_HandleEvent() {
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
	camp, _ := m.CreateCampaign(ctx, codes.Campaign{Name: "Thanks", Codes: []string{"THANKS-1", "THANKS-2"}})
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name:     "Thank you for your order",
		Mode:     distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp,
			Body: "Thanks for order {{order.id}} ({{order.amount}} EUR), {{customer.name}}! Next time: {{voucher.code}}"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, _ = m.Activate(ctx, d.ID)
	fmt.Println("status:", d.Status)

	paid := distribution.Event{ID: "evt-1", Type: distribution.EventOrderPaid, CustomerID: "u1",
		Order: &distribution.Order{ID: "ord-1", Amount: 49.9}}
	for range 2 { // the second call is a repeat: ignored
		if err := m.HandleEvent(ctx, paid); err != nil {
			fmt.Println(err)
			return
		}
	}
	for _, msg := range srv.Messages() {
		fmt.Println(msg.To.ID+":", msg.Body)
	}
	c, _ := m.Customer(ctx, "u1")
	fmt.Printf("orders: %d, total %.2f\n", c.Summary.Orders.TotalCount, c.Summary.Orders.TotalAmount)
	// Output:
	// status: active
	// c1: Thanks for order ord-1 (49.9 EUR), Ann! Next time: THANKS-1
	// orders: 1, total 49.90
}
