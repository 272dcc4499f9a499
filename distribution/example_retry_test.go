package distribution_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// A manual distribution finished with a failed delivery (the provider
// refused it); once the cause is fixed, RetryFailed sends the failed
// deliveries again, and the distribution goes back to sending until they
// are final.
func ExampleManager_RetryFailed() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clock := distributiontest.NewFakeClock(time.Time{})
	sms := distributiontest.NewChannel("sms")
	sms.PlainText = true
	sms.FailCustomer("u2", distribution.PermanentError(errors.New("number not in service")))
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Clock: clock, Channels: []distribution.Channel{sms},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.Run(runCtx)

	for _, c := range []customer.Customer{{SourceID: "u1", Name: "Ann"}, {SourceID: "u2", Name: "Bob"}} {
		if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{}); err != nil {
			fmt.Println(err)
			return
		}
	}
	seg, _ := m.CreateSegment(ctx, segment.Segment{Name: "Pilot", Type: segment.Static, CustomerIDs: []string{"u1", "u2"}})
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name:     "Spring sale",
		Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "Spring sale, {{customer.name}}: 20% off this week."}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.Send(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	if err := distributiontest.WaitIdle(ctx, m); err != nil { // the countdown is armed
		fmt.Println(err)
		return
	}
	clock.Advance(distribution.DefaultManualDelay)
	if d, err = distributiontest.WaitFor(ctx, m, d.ID, distribution.StatusDone); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: sent %d, failed %d %v\n", d.Status, d.Report.Sent, d.Report.Failed, d.Report.FailReasons)

	sms.FailCustomer("u2", nil) // the number works again
	n, err := m.RetryFailed(ctx, d.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("re-queued:", n)
	if d, err = distributiontest.WaitFor(ctx, m, d.ID, distribution.StatusDone); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: sent %d, failed %d\n", d.Status, d.Report.Sent, d.Report.Failed)
	for _, msg := range sms.Messages() {
		fmt.Println(msg.Customer.SourceID+":", msg.Body)
	}
	// Output:
	// done: sent 1, failed 1 map[number not in service:1]
	// re-queued: 1
	// done: sent 2, failed 0
	// u1: Spring sale, Ann: 20% off this week.
	// u2: Spring sale, Bob: 20% off this week.
}
