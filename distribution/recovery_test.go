package distribution_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// crashEnv sets up 3 Intercom customers, a campaign and a distribution to
// them, run by a Manager whose store fails the first delivery update to
// state failTo.
func crashEnv(t *testing.T, failTo distribution.DeliveryState) (*env, distribution.Distribution, distribution.Campaign) {
	e := newEnv(t)
	for _, src := range []string{"a", "b", "c"} {
		e.intercomCustomer(src, src, src+"@example.com")
	}
	seg := e.segment()
	camp := e.campaign(distribution.Campaign{Name: "C", Code: distribution.CodeConfig{Length: 10}})
	faulty := &faultyStore{ManagerStore: e.st}
	faulty.failTo.Store(failTo)
	faulty.fails.Store(1)
	e.start(func(c *distribution.Config) { c.Store = faulty })
	d := e.create(distribution.Distribution{Name: "crash", Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "{{voucher.code}}"}}})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.waitArmed(d.ID)
	e.clk.Advance(distribution.DefaultManualDelay)
	return e, d, camp
}

// checkOnce checks that every customer got exactly one message and one
// code, and that the message carried the code.
func checkOnce(t *testing.T, e *env, d distribution.Distribution, camp distribution.Campaign) {
	t.Helper()
	pubs, err := e.codes.Publications(e.ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 3 {
		t.Errorf("%d codes published, want 3 (one per customer)", len(pubs))
	}
	perBody := map[string]int{}
	for _, m := range e.srv.Messages() {
		perBody[m.Body]++
	}
	for _, p := range pubs {
		if perBody[p.Code] != 1 {
			t.Errorf("code %s of customer %s sent %d times, want 1", p.Code, p.CustomerID, perBody[p.Code])
		}
	}
	if n := e.srv.MessageCount(); n != 3 {
		t.Errorf("Intercom got %d messages, want 3", n)
	}
}

func TestCrashBetweenPublishAndSend(t *testing.T) {
	t.Parallel()
	e, d, camp := crashEnv(t, distribution.DeliverySending)
	// The first run publishes 3 codes but records only 2 sends.
	e.waitFor("two sends", func() bool { return e.srv.MessageCount() == 2 })
	e.waitFor("three codes", func() bool {
		pubs, _ := e.codes.Publications(e.ctx, camp.ID)
		return len(pubs) == 3
	})
	e.waitFor("the pass to end", func() bool {
		r, _ := e.m.Report(e.ctx, d.ID)
		return r.Sent == 2 && r.ToProcess == 1
	})
	if got, _ := e.m.Distribution(e.ctx, d.ID); got.Status != distribution.StatusSending {
		t.Fatalf("status after the crash = %s, want sending", got.Status)
	}

	e.start(nil) // restart on the same store, codes and Intercom
	done := e.waitStatus(d.ID, distribution.StatusDone)
	if done.Report.Sent != 3 || done.Report.Deliveries != 3 {
		t.Errorf("report = %+v, want 3 sent", done.Report)
	}
	checkOnce(t, e, d, camp)
}

func TestCrashBetweenSendAndLedger(t *testing.T) {
	t.Parallel()
	e, d, camp := crashEnv(t, distribution.DeliverySent)
	e.waitFor("the pass to end", func() bool {
		r, _ := e.m.Report(e.ctx, d.ID)
		return r.Sent == 2 && r.ToProcess == 1
	})
	if n := e.srv.MessageCount(); n != 3 {
		t.Fatalf("Intercom got %d messages before the restart, want 3", n)
	}

	e.start(nil)
	// The delivery caught mid-send could be another replica's send in
	// flight until SendTimeout plus a minute has passed.
	e.clk.Advance(interruptBound)
	done := e.waitStatus(d.ID, distribution.StatusDone)
	if done.Report.Sent != 2 || done.Report.Unknown != 1 {
		t.Errorf("report = %+v, want 2 sent, 1 unknown", done.Report)
	}
	unknown := e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID, States: []distribution.DeliveryState{distribution.DeliveryUnknown}})
	if len(unknown) != 1 || unknown[0].Reason != distribution.ReasonInterrupted || unknown[0].Code == "" {
		t.Errorf("unknown deliveries = %+v, want 1 interrupted, with its code", unknown)
	}
	checkOnce(t, e, d, camp)
	// A later restart changes nothing.
	e.start(nil)
	e.clk.Advance(time.Hour)
	if n := e.srv.MessageCount(); n != 3 {
		t.Errorf("after another restart Intercom has %d messages, want 3", n)
	}
}

func TestAmbiguousSendIsNotRepeated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("a", "A", "")
	e.srv.Inject(intercomtest.Fault{Method: "POST", Path: "/messages", Status: 500, AfterHandling: true})
	d := e.create(distribution.Distribution{Name: "amb", Audience: distribution.Audience{CustomerID: "a"},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi"}}})
	done := e.sendNow(d.ID, distribution.StatusDone)
	if done.Report.Unknown != 1 || done.Report.Sent != 0 {
		t.Fatalf("report = %+v, want 1 unknown", done.Report)
	}
	e.start(nil)
	e.clk.Advance(time.Hour)
	if _, err := e.m.RetryFailed(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.MessageCount(); n != 1 {
		t.Fatalf("Intercom got %d messages, want 1 (an unknown send is never repeated)", n)
	}
}

func TestTransientFailureRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("a", "A", "")
	e.srv.Inject(intercomtest.Fault{Method: "POST", Path: "/messages", Status: 404, Times: 2})
	d := e.create(distribution.Distribution{Name: "retry", Audience: distribution.Audience{CustomerID: "a"},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi"}}})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.waitArmed(d.ID)
	e.clk.Advance(distribution.DefaultManualDelay)
	waitDelivery := func(attempts int) distribution.Delivery {
		var dl distribution.Delivery
		e.waitFor("a scheduled retry", func() bool {
			ds := e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID})
			if len(ds) == 1 {
				dl = ds[0]
			}
			return dl.Attempts == attempts && dl.State == distribution.DeliveryScheduled
		})
		return dl
	}
	dl := waitDelivery(1)
	if want := e.clk.Now().Add(distribution.DefaultRetryDelay); !dl.NextAttemptAt.Equal(want) || dl.Reason == "" {
		t.Fatalf("after the first failure: %+v, want a retry at %v with the error", dl, want)
	}
	e.clk.Advance(distribution.DefaultRetryDelay)
	dl = waitDelivery(2)
	if want := e.clk.Now().Add(2 * distribution.DefaultRetryDelay); !dl.NextAttemptAt.Equal(want) {
		t.Fatalf("second retry at %v, want %v (doubled)", dl.NextAttemptAt, want)
	}
	e.clk.Advance(2 * distribution.DefaultRetryDelay)
	done := e.waitStatus(d.ID, distribution.StatusDone)
	if done.Report.Sent != 1 {
		t.Fatalf("report = %+v, want sent", done.Report)
	}
	if got := e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID})[0]; got.Attempts != 3 || got.State != distribution.DeliverySent {
		t.Fatalf("delivery = %+v, want sent on attempt 3", got)
	}
}

func TestRetryFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("a", "A", "")
	e.intercomCustomer("b", "B", "")
	seg := e.segment()
	e.srv.Inject(intercomtest.Fault{Method: "POST", Path: "/messages", Status: 400})
	d := e.create(distribution.Distribution{Name: "rf", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi"}}})
	done := e.sendNow(d.ID, distribution.StatusDone)
	if done.Report.Failed != 1 || done.Report.Sent != 1 || len(done.Report.FailReasons) != 1 {
		t.Fatalf("report = %+v, want 1 failed (with its reason), 1 sent", done.Report)
	}
	failed := e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID, States: []distribution.DeliveryState{distribution.DeliveryFailed}})
	n, err := e.m.RetryFailed(e.ctx, d.ID)
	if err != nil || n != 1 {
		t.Fatalf("RetryFailed = %d, %v; want 1", n, err)
	}
	e.waitFor("the retry", func() bool {
		r, _ := e.m.Report(e.ctx, d.ID)
		return r.Sent == 2
	})
	done = e.waitStatus(d.ID, distribution.StatusDone)
	if done.Report.Failed != 0 || e.srv.MessageCount() != 2 {
		t.Fatalf("after RetryFailed: report %+v, %d messages; want 2 sent", done.Report, e.srv.MessageCount())
	}
	if got := e.deliveries(distribution.DeliveryFilter{CustomerID: failed[0].CustomerID}); len(got) != 1 || got[0].State != distribution.DeliverySent {
		t.Fatalf("retried delivery = %+v", got)
	}
}

func TestPendingRetrySurvivesRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("a", "A", "")
	e.srv.Inject(intercomtest.Fault{Method: "POST", Path: "/messages", Status: 404})
	d := e.create(distribution.Distribution{Name: "retry-restart", Audience: distribution.Audience{CustomerID: "a"},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi"}}})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.waitArmed(d.ID)
	e.clk.Advance(distribution.DefaultManualDelay)
	e.waitFor("a scheduled retry", func() bool {
		ds := e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID})
		return len(ds) == 1 && ds[0].Attempts == 1 && ds[0].State == distribution.DeliveryScheduled
	})
	e.start(nil) // the retry timer dies with the old Manager
	// On the fake clock: the old Manager's retry timer (its scheduler no
	// longer runs), the new Manager's segment-resync timer and, once
	// re-armed, its retry timer.
	e.waitFor("the retry to be re-armed", func() bool { return e.clk.Pending() >= 3 })
	e.clk.Advance(distribution.DefaultRetryDelay)
	done := e.waitStatus(d.ID, distribution.StatusDone)
	if done.Report.Sent != 1 || e.srv.MessageCount() != 1 {
		t.Fatalf("report %+v, %d messages; want sent once after the restart", done.Report, e.srv.MessageCount())
	}
}

func TestRunDrainsInFlightSends(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 12
	for i := range n {
		e.customer(customer.Customer{SourceID: fmt.Sprintf("u%02d", i), Metadata: customer.Metadata{"source": "Intercom"}})
	}
	seg := e.segment()
	gate := newGate()
	e.start(func(c *distribution.Config) {
		c.Concurrency = 2
		c.Channels = []distribution.Channel{gate}
	})
	d := e.create(distribution.Distribution{Name: "drain", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{{Channel: "gate", Body: "hi"}}})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.waitArmed(d.ID)
	e.clk.Advance(distribution.DefaultManualDelay)
	inFlight := map[string]bool{<-gate.started: true, <-gate.started: true} // both workers are sending
	e.cancelRun()
	close(gate.release) // the provider answers after Run was told to stop
	e.stopRun()         // Run returns once the in-flight sends are recorded

	states := map[distribution.DeliveryState]int{}
	for _, dl := range e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID}) {
		states[dl.State]++
		if inFlight[dl.ID] != (dl.State == distribution.DeliverySent) {
			t.Errorf("after Run returned: %s is %s; want the %d sends in flight sent, the rest scheduled", dl.ID, dl.State, len(inFlight))
		}
	}
	if states[distribution.DeliverySent] != 2 || states[distribution.DeliveryScheduled] != n-2 || len(gate.started) != 0 {
		t.Fatalf("after Run returned: %v, %d more sends begun; want the 2 in flight recorded sent, no new send, the rest scheduled",
			states, len(gate.started))
	}

	e.start(func(c *distribution.Config) { c.Channels = []distribution.Channel{gate} })
	done := e.waitStatus(d.ID, distribution.StatusDone)
	if done.Report.Sent != n || len(gate.started) != n-2 {
		t.Fatalf("after the restart: report %+v, %d more sends; want %d sent, each once", done.Report, len(gate.started), n)
	}
}
