package distributiontest_test

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

// Time moves only when the test says so; a timer fires when the clock
// passes its time.
func ExampleFakeClock() {
	clk := distributiontest.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	fired := make(chan time.Time, 1)
	clk.AfterFunc(10*time.Minute, func() { fired <- clk.Now() })

	clk.Advance(5 * time.Minute)
	fmt.Println("at", clk.Now().Format("15:04"), "pending timers:", clk.Pending())
	clk.Advance(5 * time.Minute)
	fmt.Println("fired at", (<-fired).Format("15:04"), "pending timers:", clk.Pending())
	// Output:
	// at 09:05 pending timers: 1
	// fired at 09:10 pending timers: 0
}

// A TimerScheduler on a FakeClock hands a job out when the clock reaches
// its time, without sleeping.
func ExampleFakeClock_scheduler() {
	clk := distributiontest.NewFakeClock(time.Time{})
	s := distribution.NewTimerScheduler(clk)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan distribution.Job, 1)
	go s.Run(ctx, func(_ context.Context, j distribution.Job) error { ran <- j; return nil })

	if err := s.Schedule(ctx, distribution.Job{ID: "send:d1", Kind: distribution.JobSend, Target: "d1",
		RunAt: clk.Now().Add(10 * time.Minute)}); err != nil {
		fmt.Println(err)
		return
	}
	clk.Advance(10 * time.Minute)
	j := <-ran
	fmt.Println(j.ID, "at", clk.Now().Format(time.DateTime))
	// Output:
	// send:d1 at 2026-01-01 00:10:00
}

// A host channel recorded in a test: an automatic distribution sends
// through it before HandleEvent returns, so the test reads what was sent
// at once. One customer's sends fail.
func ExampleChannel() {
	ctx := context.Background()
	sms := distributiontest.NewChannel("sms")
	sms.PlainText = true
	sms.FailCustomer("u2", distribution.PermanentError(errors.New("no such number")))
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Clock: distributiontest.NewFakeClock(time.Time{}),
		Channels: []distribution.Channel{sms},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range []customer.Customer{{SourceID: "u1", Name: "Ann & Co", Phone: "+48100"}, {SourceID: "u2", Name: "Bob", Phone: "+48200"}} {
		if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{}); err != nil {
			fmt.Println(err)
			return
		}
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Thanks", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "Thanks for order {{order.id}}, {{customer.name}}!"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.Activate(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	for i, who := range []string{"u1", "u2"} {
		_ = m.HandleEvent(ctx, distribution.Event{ID: fmt.Sprint("evt-", i), Type: distribution.EventOrderPaid,
			CustomerID: who, Order: &distribution.Order{ID: fmt.Sprint("ord-", i)}})
	}
	for _, call := range sms.Calls() {
		fmt.Printf("%s %q: receipt %q, err %v\n", call.Message.Customer.Phone, call.Message.Body, call.Receipt.ProviderMessageID, call.Err)
	}
	fmt.Println("sent:", len(sms.Messages()))
	// Output:
	// +48100 "Thanks for order ord-0, Ann & Co!": receipt "sms-1", err <nil>
	// +48200 "Thanks for order ord-1, Bob!": receipt "", err no such number
	// sent: 1
}

// FailNext scripts the outcome of the next calls, whoever they go to.
func ExampleChannel_FailNext() {
	ctx := context.Background()
	ch := distributiontest.NewChannel("webhook")
	ch.FailNext(distribution.TransientError(errors.New("503"), time.Minute), nil)
	for i := range 3 {
		msg := distribution.Message{Customer: &customer.Customer{ID: fmt.Sprint("c", i)}, Body: "hi"}
		r, err := ch.Send(ctx, msg)
		fmt.Printf("call %d: %q %v\n", i+1, r.ProviderMessageID, err)
	}
	// Output:
	// call 1: "" 503
	// call 2: "webhook-2" <nil>
	// call 3: "webhook-3" <nil>
}
