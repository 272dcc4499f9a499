package distribution_test

import (
	"context"
	"fmt"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store"
)

// Preview shows a distribution as one customer would get it, on every
// channel, without publishing a code or sending anything: the code is a
// placeholder in the campaign's format, and Skip says why the customer
// would not get a channel's message.
func ExampleManager_Preview() {
	ctx := context.Background()
	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ID: "c1", ExternalID: "u1", Name: "Ann"}))
	defer srv.Close()
	st := store.NewMemory()
	m, err := distribution.NewManager(distribution.Config{Store: st, Intercom: srv.Client(), AdminID: srv.AdminID()})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Ann has no email address.
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1", Name: "Ann <3"}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	camp, err := m.CreateCampaign(ctx, codes.Campaign{Name: "Welcome", Code: codes.CodeConfig{Pattern: "WELCOME-####"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name:     "Welcome codes",
		Audience: distribution.Audience{CustomerID: "u1"},
		Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{
			{Channel: distribution.IntercomInApp, Body: "Hi {{customer.name}}, your {{campaign.name}} code: {{voucher.code}}"},
			{Channel: distribution.IntercomEmail, Subject: "A gift for {{customer.name}}", Body: "<p>{{voucher.code}}</p>"},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	previews, err := m.Preview(ctx, d.ID, "u1")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range previews {
		fmt.Printf("%s: subject %q, body %q, skip %q\n", p.Channel, p.Subject, p.Body, p.Skip)
	}
	pubs, _ := st.Publications(ctx, camp.ID)
	fmt.Println("codes published:", len(pubs), "messages sent:", len(srv.Messages()))
	// Output:
	// intercom_inapp: subject "", body "Hi Ann &lt;3, your Welcome code: WELCOME-XXXX", skip ""
	// intercom_email: subject "A gift for Ann <3", body "<p>WELCOME-XXXX</p>", skip "customer has no email"
	// codes published: 0 messages sent: 0
}
