package distribution_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/store"
)

// A template with an unknown tag is rejected when the distribution is
// saved; errors.As finds where.
func ExampleTemplateError() {
	ctx := context.Background()
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(),
		Channels: []distribution.Channel{distributiontest.NewChannel("sms")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1"}, customer.UpsertOptions{})
	_, err = m.CreateDistribution(ctx, distribution.Distribution{Name: "Hello",
		Audience: distribution.Audience{CustomerID: c.ID},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "Hi {{customer.name}},\nyour tier: {{customer.tier}}"}}})
	fmt.Println(errors.Is(err, distribution.ErrInvalid))
	var te *distribution.TemplateError
	if errors.As(err, &te) {
		fmt.Printf("%s, line %d, column %d, tag %q: %s\n", te.Field, te.Line, te.Col, te.Tag, te.Msg)
	}
	// Output:
	// true
	// channels[0].body, line 2, column 12, tag "customer.tier": unknown tag "customer.tier"
}
