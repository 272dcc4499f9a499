package codes_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/codedrop/codedrop/codes"
)

// Publications lists what a campaign gave out, in order, with the
// distribution and channel of each; Remaining says what is left. A pool's
// Count codes are generated when the campaign is created and published
// after its imported ones.
func ExampleMemory_Publications() {
	ctx := context.Background()
	src := codes.NewMemory(codes.Config{Rand: rand.NewChaCha8([32]byte{})})
	camp, err := src.CreateCampaign(ctx, codes.Campaign{
		Name: "Spring", Codes: []string{"SPRING-VIP"}, Count: 2,
		Code: codes.CodeConfig{Prefix: "SPRING-", Length: 4, Charset: codes.CharsetUppercase},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	left, _ := src.Remaining(ctx, camp.ID)
	fmt.Println(camp.Type, "codes:", left)
	for _, cust := range []string{"cust_ann", "cust_bob"} {
		if _, err := src.Publish(ctx, codes.PublishRequest{Key: "distr_1/" + cust, CampaignID: "Spring", // by name
			CustomerID: cust, DistributionID: "distr_1", Channel: "sms"}); err != nil {
			fmt.Println(err)
			return
		}
	}
	pubs, _ := src.Publications(ctx, camp.ID)
	for _, p := range pubs {
		fmt.Println(p.Code, p.CustomerID, p.DistributionID, p.Channel, p.CampaignName)
	}
	left, _ = src.Remaining(ctx, camp.ID)
	fmt.Println("left:", left)
	// Output:
	// pool codes: 3
	// SPRING-VIP cust_ann distr_1 sms Spring
	// SPRING-JFWY cust_bob distr_1 sms Spring
	// left: 1
}

// ValidateCampaign is the check every Registry runs before it stores a
// campaign: it fills in the defaults and names the field of an error.
func ExampleValidateCampaign() {
	c, gen, err := codes.ValidateCampaign(codes.Campaign{Name: "Welcome", Code: codes.CodeConfig{Pattern: "WELCOME-####"}})
	fmt.Println(c.Type, c.Code.Charset, gen, err)

	_, _, err = codes.ValidateCampaign(codes.Campaign{Name: "Bad", Codes: []string{"A-1", "A-1"}})
	fmt.Println(errors.Is(err, codes.ErrInvalid), err)
	// Output:
	// auto-update alphanumeric pattern "WELCOME-####" (4 random characters from a charset of 62) <nil>
	// true codes[1]: "A-1" duplicates codes[0]: codedrop: invalid input
}
