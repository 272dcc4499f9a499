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

// channelManager returns a running Manager with one customer ("u1") and
// an active automatic distribution on customer.order.paid through ch.
func channelManager(ctx context.Context, clock distribution.Clock, ch distribution.Channel) (*distribution.Manager, error) {
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Clock: clock, Channels: []distribution.Channel{ch}})
	if err != nil {
		return nil, err
	}
	go m.Run(ctx)
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1"}, customer.UpsertOptions{}); err != nil {
		return nil, err
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Thanks", Mode: distribution.Automatic, Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: ch.Name(), Body: "Thanks!"}},
	})
	if err != nil {
		return nil, err
	}
	_, err = m.Activate(ctx, d.ID)
	return m, err
}

// A channel that could not send (the provider is down) returns a
// TransientError: the delivery stays scheduled and is sent again after
// the delay, by Run.
func ExampleTransientError() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clock := distributiontest.NewFakeClock(time.Time{})
	sms := distributiontest.NewChannel("sms")
	sms.FailNext(distribution.TransientError(errors.New("gateway unavailable"), time.Minute))
	m, err := channelManager(ctx, clock, sms)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := m.HandleEvent(ctx, distribution.Event{ID: "evt-1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "ord-1"}}); err != nil {
		fmt.Println(err)
		return
	}
	show := func() {
		for dl := range m.Deliveries(ctx, distribution.DeliveryFilter{TriggerKey: "evt-1"}) {
			fmt.Printf("%s after %d attempt(s) %q", dl.State, dl.Attempts, dl.Reason)
			if dl.State == distribution.DeliveryScheduled {
				fmt.Print(", again in ", dl.NextAttemptAt.Sub(clock.Now()))
			}
			fmt.Println()
		}
	}
	show()
	clock.Advance(time.Minute)
	if err := distributiontest.WaitIdle(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	show()
	// Output:
	// scheduled after 1 attempt(s) "gateway unavailable", again in 1m0s
	// sent after 2 attempt(s) ""
}

// A channel that cannot tell whether the provider got the message (a
// timeout after the request was written) returns an AmbiguousError: the
// delivery becomes unknown and is never sent again automatically, so the
// customer cannot get it twice. RetryFailed leaves it alone too.
func ExampleAmbiguousError() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sms := distributiontest.NewChannel("sms")
	sms.FailNext(distribution.AmbiguousError(errors.New("timeout after sending")))
	m, err := channelManager(ctx, distributiontest.NewFakeClock(time.Time{}), sms)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := m.HandleEvent(ctx, distribution.Event{ID: "evt-1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "ord-1"}}); err != nil {
		fmt.Println(err)
		return
	}
	for dl := range m.Deliveries(ctx, distribution.DeliveryFilter{TriggerKey: "evt-1"}) {
		fmt.Printf("%s %q\n", dl.State, dl.Reason)
		n, _ := m.RetryFailed(ctx, dl.DistributionID)
		fmt.Println("re-queued:", n)
	}
	fmt.Println("calls:", len(sms.Calls()))
	// Output:
	// unknown "timeout after sending"
	// re-queued: 0
	// calls: 1
}
