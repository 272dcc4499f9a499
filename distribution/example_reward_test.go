package distribution_test

import (
	"context"
	"fmt"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store"
)

// A teammate gives a customer a reward code in a conversation (what the
// Rewards inbox app, package distribution/rewards, does on a click). The
// code is posted as the teammate's reply and recorded in the ledger; a
// second click in the same conversation sends nothing new.
func ExampleManager_GiveReward() {
	ctx := context.Background()
	srv := intercomtest.NewServer()
	defer srv.Close()
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID()})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1", Name: "Jo"}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	camp, err := m.CreateCampaign(ctx, codes.Campaign{Name: "Sorry", Codes: []string{"SORRY-1", "SORRY-2"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	sorry := distribution.Reward{
		ID: "sorry", Name: "Sorry coupon", Label: "Complaint", Campaign: camp.ID,
		Message: "Sorry, {{customer.name}}! Here is {{reward.name}}: {{voucher.code}}",
	}
	for range 2 { // a double click
		res, err := m.GiveReward(ctx, distribution.RewardRequest{Reward: sorry, CustomerID: "u1", ConversationID: "524"})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s %s already=%v trigger=%s\n", res.Delivery.State, res.Delivery.Code, res.Already, res.Delivery.TriggerKey)
	}
	for _, r := range srv.Replies() {
		fmt.Println(r.ConversationID+":", r.Body)
	}
	for dl := range m.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: distribution.RewardDistributionID("sorry")}) {
		fmt.Println("ledger:", dl.Channel, dl.State, dl.Code)
	}
	// Output:
	// sent SORRY-1 already=false trigger=conversation:524
	// sent SORRY-1 already=true trigger=conversation:524
	// 524: Sorry, Jo! Here is Sorry coupon: SORRY-1
	// ledger: intercom_reply sent SORRY-1
}
