package distribution_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/store"
)

// A scheduled manual distribution can be edited until it fires: it then
// sends the new content. After that, edits fail with ErrWindowClosed and
// nothing changes.
func ExampleManager_UpdateDistribution() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clock := distributiontest.NewFakeClock(time.Time{})
	sms := distributiontest.NewChannel("sms")
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Clock: clock, Channels: []distribution.Channel{sms}})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.Run(runCtx)

	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1", Name: "Ann"}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name:     "Sale",
		Audience: distribution.Audience{CustomerID: "u1"},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "Sale: 10% off"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if d, err = m.Send(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	clock.Advance(5 * time.Minute)
	d.Channels[0].Body = "Sale: 15% off, {{customer.name}}"
	if d, err = m.UpdateDistribution(ctx, d); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Status, "sends in", d.SendAt.Sub(clock.Now()))

	clock.Advance(5 * time.Minute)
	if d, err = distributiontest.WaitFor(ctx, m, d.ID, distribution.StatusDone); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Status+":", sms.Messages()[0].Body)

	d.Channels[0].Body = "Sale: 50% off"
	_, err = m.UpdateDistribution(ctx, d)
	fmt.Println(errors.Is(err, distribution.ErrWindowClosed))
	_, err = m.Cancel(ctx, d.ID)
	fmt.Println(errors.Is(err, distribution.ErrWindowClosed))
	// Output:
	// scheduled sends in 5m0s
	// done: Sale: 15% off, Ann
	// true
	// true
}

// Cancel stops a scheduled distribution before it fires: nothing is sent.
func ExampleManager_Cancel() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clock := distributiontest.NewFakeClock(time.Time{})
	sms := distributiontest.NewChannel("sms")
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Clock: clock, Channels: []distribution.Channel{sms}})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.Run(runCtx)

	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1"}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	d, _ := m.CreateDistribution(ctx, distribution.Distribution{
		Name:     "Oops",
		Audience: distribution.Audience{CustomerID: "u1"},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "Sale: 100% off"}},
	})
	if _, err := m.Send(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	if d, err = m.Cancel(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Status)
	clock.Advance(time.Hour)
	if err := distributiontest.WaitIdle(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("messages:", len(sms.Messages()))
	// Output:
	// canceled
	// messages: 0
}
