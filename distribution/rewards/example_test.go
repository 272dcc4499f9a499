package rewards_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/rewards"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store"
)

// A teammate sends a reward code from a conversation: the Rewards app's
// handlers are mounted at the Canvas Kit URLs, and intercomtest plays
// Intercom's inbox (signed requests) and records the reply.
func ExampleNew() {
	ctx := context.Background()
	srv := intercomtest.NewServer()
	defer srv.Close()
	contact := srv.AddContact(intercom.Contact{ExternalID: "cust-1", Name: "Jo"})

	m, _ := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID()})
	m.UpsertCustomer(ctx, customer.Customer{SourceID: "cust-1", Name: "Jo"}, customer.UpsertOptions{})
	camp, _ := m.CreateCampaign(ctx, codes.Campaign{Name: "Sorry", Codes: []string{"SORRY-1", "SORRY-2"}})

	app, err := rewards.New(m, rewards.Config{
		Secret: "client-secret", // the Intercom app's client secret
		Rewards: []distribution.Reward{{
			ID: "sorry", Name: "Sorry coupon", Label: "Complaint — high", Campaign: camp.ID,
			Message: "Sorry, {{customer.name}}! Your code: {{voucher.code}}",
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A host mounts the handlers at the URLs it registers in Intercom.
	mux := http.NewServeMux()
	mux.Handle("POST /intercom/rewards/initialize", app.InitializeHandler())
	mux.Handle("POST /intercom/rewards/submit", app.SubmitHandler())
	mux.Handle("POST /intercom/rewards/messenger", app.MessengerInitializeHandler())

	// Intercom's inbox: teammate opens the app in conversation 524 and clicks.
	inbox := srv.Inbox(intercomtest.CanvasApp{Secret: "client-secret",
		Initialize: app.InitializeHandler(), Submit: app.SubmitHandler(), MessengerInitialize: app.MessengerInitializeHandler()}, "524", contact)
	inbox.Initialize(ctx)
	inbox.Submit(ctx, "send:sorry", nil)
	resp, _ := inbox.Submit(ctx, "send:sorry", nil) // a double click
	fmt.Println(resp.Canvas.Content.Components[2].(*intercom.TextComponent).Text)
	for _, r := range srv.Replies() {
		fmt.Println(r.ConversationID, r.Body)
	}
	// Output:
	// Already sent in this conversation; no new code was published.
	// 524 Sorry, Jo! Your code: SORRY-1
}
