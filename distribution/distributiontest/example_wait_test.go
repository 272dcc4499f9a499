package distributiontest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// WaitFor waits for a distribution's status without sleeping or polling:
// step the fake clock past the send delay, then wait for done. Give the
// context a deadline, so a test that goes wrong fails instead of hanging.
func ExampleWaitFor() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clk := distributiontest.NewFakeClock(time.Time{})
	sms := distributiontest.NewChannel("sms")
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Clock: clk, Channels: []distribution.Channel{sms}})
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
	d, _ := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Hello", Audience: distribution.Audience{CustomerID: "u1"},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "Hello, {{customer.name}}"}},
	})
	if _, err := m.Send(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	clk.Advance(distribution.DefaultManualDelay)
	d, err = distributiontest.WaitFor(ctx, m, d.ID, distribution.StatusDone)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Status, d.Report.Sent, sms.Messages()[0].Body)

	// A status the distribution can no longer reach fails at once, with
	// the status it has.
	d, err = distributiontest.WaitFor(ctx, m, d.ID, distribution.StatusCanceled)
	fmt.Println(err != nil, d.Status)
	// Output:
	// done 1 Hello, Ann
	// true done
}

// WaitIdle waits until the Manager has nothing in progress and nothing
// due: here, a rule segment's first sync, which runs in the background.
func ExampleWaitIdle() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Clock: distributiontest.NewFakeClock(time.Time{})})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range []customer.Customer{
		{SourceID: "u1", Metadata: customer.Metadata{"plan": "pro"}},
		{SourceID: "u2", Metadata: customer.Metadata{"plan": "free"}},
	} {
		if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{}); err != nil {
			fmt.Println(err)
			return
		}
	}
	seg, err := m.CreateSegment(ctx, segment.Segment{Name: "Pro", Type: segment.AutoUpdate, Expression: `metadata.plan == "pro"`})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := distributiontest.WaitIdle(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	seg, _ = m.Segment(ctx, seg.ID)
	n, _ := m.CountSegmentMembers(ctx, seg.ID)
	fmt.Println(seg.SyncStatus, n)
	// Output:
	// synced 1
}

// WaitUntil waits for any condition on the Manager's state, re-checking
// it whenever the Manager changes: here, until two messages went out.
func ExampleWaitUntil() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sms := distributiontest.NewChannel("sms")
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Clock: distributiontest.NewFakeClock(time.Time{}),
		Channels: []distribution.Channel{sms}})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.Run(runCtx)

	d, _ := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Thanks", Mode: distribution.Automatic, Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "Thanks for {{order.id}}"}},
	})
	if _, err := m.Activate(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	for i := range 2 { // queued, processed by Run
		err := m.EnqueueEvent(ctx, distribution.Event{ID: fmt.Sprint("evt-", i), Type: distribution.EventOrderPaid,
			CustomerID: fmt.Sprint("u", i), Customer: &customer.Customer{}, Order: &distribution.Order{ID: fmt.Sprint("ord-", i)}})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := distributiontest.WaitUntil(ctx, m, func() bool { return len(sms.Messages()) == 2 }); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sent:", len(sms.Messages()))
	// Output:
	// sent: 2
}
