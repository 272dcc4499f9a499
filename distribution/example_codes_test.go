package distribution_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/codedrop/codedrop/distribution"
)

// A pool campaign of imported codes publishes them in order, once per
// idempotency key, and then runs out.
func ExampleCampaigns_Publish() {
	ctx := context.Background()
	codes := distribution.NewCampaigns(distribution.CampaignsConfig{})
	camp, err := codes.CreateCampaign(ctx, distribution.Campaign{
		Name:  "Black Friday",
		Codes: []string{"BF-7K2Q", "BF-9XWD"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, customer := range []string{"cust_ann", "cust_bob", "cust_ann", "cust_cyd"} {
		pub, err := codes.Publish(ctx, distribution.PublishRequest{
			Key:            "distr_1/" + customer, // one code per distribution and customer
			CampaignID:     camp.ID,
			CustomerID:     customer,
			DistributionID: "distr_1",
			Channel:        "intercom",
		})
		switch {
		case errors.Is(err, distribution.ErrNoCodesLeft):
			fmt.Println(customer, "-> no codes left")
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println(customer, "->", pub.Code)
		}
	}
	left, _ := codes.Remaining(ctx, camp.ID)
	fmt.Println("remaining:", left)
	// Output:
	// cust_ann -> BF-7K2Q
	// cust_bob -> BF-9XWD
	// cust_ann -> BF-7K2Q
	// cust_cyd -> no codes left
	// remaining: 0
}

// An auto-update campaign generates a code on demand from its code config.
// Tests and examples can make codes repeatable with a seeded random source;
// the default is crypto/rand.
func ExampleCampaigns_CreateCampaign() {
	ctx := context.Background()
	codes := distribution.NewCampaigns(distribution.CampaignsConfig{
		Rand: rand.NewChaCha8([32]byte{}),
	})
	camp, err := codes.CreateCampaign(ctx, distribution.Campaign{
		Name: "Welcome",
		Code: distribution.CodeConfig{Prefix: "WELCOME-", Pattern: "####-####", Charset: distribution.CharsetUppercase},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	pub, err := codes.Publish(ctx, distribution.PublishRequest{Key: "k1", CampaignID: camp.ID, CustomerID: "cust_ann"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(camp.Type, pub.Code)
	// Output:
	// auto-update WELCOME-JFWY-FCIQ
}

// A pool must fit in its code space with room to spare: the pattern is
// checked before any code is generated.
func ExampleCampaigns_CreateCampaign_patternTooSmall() {
	codes := distribution.NewCampaigns(distribution.CampaignsConfig{})
	_, err := codes.CreateCampaign(context.Background(), distribution.Campaign{
		Name:  "Spring",
		Count: 1000,
		Code:  distribution.CodeConfig{Pattern: "SPRING-###", Charset: distribution.CharsetNumbers},
	})
	fmt.Println(err)
	// Output:
	// code.pattern: pattern "SPRING-###" (3 random characters from a charset of 10) gives only 1000 possible codes; count 1000 needs at least 2000 (2x headroom): codedrop: invalid input
}

func ExampleCodeConfig_Capacity() {
	n, _ := distribution.CodeConfig{Pattern: "##-##", Charset: distribution.CharsetNumbers}.Capacity()
	fmt.Println(n)
	n, _ = distribution.CodeConfig{}.Capacity() // 8 alphanumeric characters
	fmt.Println(n)
	// Output:
	// 10000
	// 218340105584896
}
