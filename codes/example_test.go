package codes_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/codedrop/codedrop/codes"
)

// A pool campaign of imported codes publishes them in order, once per
// idempotency key, and then runs out.
func ExampleMemory_Publish() {
	ctx := context.Background()
	src := codes.NewMemory(codes.Config{})
	camp, err := src.CreateCampaign(ctx, codes.Campaign{
		Name:  "Black Friday",
		Codes: []string{"BF-7K2Q", "BF-9XWD"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, customer := range []string{"cust_ann", "cust_bob", "cust_ann", "cust_cyd"} {
		pub, err := src.Publish(ctx, codes.PublishRequest{
			Key:            "distr_1/" + customer, // one code per distribution and customer
			CampaignID:     camp.ID,
			CustomerID:     customer,
			DistributionID: "distr_1",
			Channel:        "intercom",
		})
		switch {
		case errors.Is(err, codes.ErrNoCodesLeft):
			fmt.Println(customer, "-> no codes left")
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println(customer, "->", pub.Code)
		}
	}
	left, _ := src.Remaining(ctx, camp.ID)
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
func ExampleMemory_CreateCampaign() {
	ctx := context.Background()
	src := codes.NewMemory(codes.Config{
		Rand: rand.NewChaCha8([32]byte{}),
	})
	camp, err := src.CreateCampaign(ctx, codes.Campaign{
		Name: "Welcome",
		Code: codes.CodeConfig{Prefix: "WELCOME-", Pattern: "####-####", Charset: codes.CharsetUppercase},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	pub, err := src.Publish(ctx, codes.PublishRequest{Key: "k1", CampaignID: camp.ID, CustomerID: "cust_ann"})
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
func ExampleMemory_CreateCampaign_patternTooSmall() {
	src := codes.NewMemory(codes.Config{})
	_, err := src.CreateCampaign(context.Background(), codes.Campaign{
		Name:  "Spring",
		Count: 1000,
		Code:  codes.CodeConfig{Pattern: "SPRING-###", Charset: codes.CharsetNumbers},
	})
	fmt.Println(err)
	// Output:
	// code.pattern: pattern "SPRING-###" (3 random characters from a charset of 10) gives only 1000 possible codes; count 1000 needs at least 2000 (2x headroom): codedrop: invalid input
}

func ExampleCodeConfig_Capacity() {
	n, _ := codes.CodeConfig{Pattern: "##-##", Charset: codes.CharsetNumbers}.Capacity()
	fmt.Println(n)
	n, _ = codes.CodeConfig{}.Capacity() // 8 alphanumeric characters
	fmt.Println(n)
	// Output:
	// 10000
	// 218340105584896
}

// A source with a cheap membership check finds a free code with Find; in a
// small space it finds the last free code, then reports ErrNoCodesLeft.
func ExampleGenerator_Find() {
	gen, err := codes.NewGenerator(codes.CodeConfig{Prefix: "VIP-", Pattern: "#", Charset: "ABC"})
	if err != nil {
		fmt.Println(err)
		return
	}
	taken := map[string]bool{"VIP-A": true, "VIP-C": true}
	code, err := gen.Find(nil, func(code string) bool { return taken[code] })
	fmt.Println(code, err)
	taken[code] = true
	_, err = gen.Find(nil, func(code string) bool { return taken[code] })
	fmt.Println(errors.Is(err, codes.ErrNoCodesLeft), err)
	// Output:
	// VIP-B <nil>
	// true all 3 codes of the space are taken: codes: no codes left
}

// A database checks the candidates of a search in batches, e.g. with
// SELECT code FROM codes WHERE code = ANY($1), and claims the first free
// one; when the sequence ends, Exhausted words the error.
func ExampleGenerator_Candidates() {
	gen, err := codes.NewGenerator(codes.CodeConfig{Pattern: "##", Charset: codes.CharsetNumbers})
	if err != nil {
		fmt.Println(err)
		return
	}
	stored := map[string]bool{} // the database's codes
	for i := range 99 {
		stored[fmt.Sprintf("%02d", i)] = true // all but "99"
	}
	claim := func() (string, error) {
		c := gen.Candidates(nil)
		for n := 1; ; n = 64 {
			batch, err := c.Next(n)
			if err != nil {
				return "", err
			}
			if len(batch) == 0 {
				return "", c.Exhausted()
			}
			for _, code := range batch { // one query per batch
				if !stored[code] {
					stored[code] = true
					return code, nil
				}
			}
		}
	}
	code, err := claim()
	fmt.Println(code, err)
	_, err = claim()
	fmt.Println(err)
	// Output:
	// 99 <nil>
	// all 100 codes of the space are taken: codes: no codes left
}
