package distribution_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store"
)

func paidEvent(id, customerID string) distribution.Event {
	return distribution.Event{ID: id, Type: distribution.EventOrderPaid, CustomerID: customerID, Order: &distribution.Order{ID: id, Amount: 1}}
}

func (e *env) only(id string) distribution.Delivery {
	e.t.Helper()
	dls := e.deliveries(distribution.DeliveryFilter{TriggerKey: id})
	if len(dls) != 1 {
		e.t.Fatalf("deliveries of %s = %+v, want 1", id, dls)
	}
	return dls[0]
}

func TestMessageLimitDefers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) {
		c.Limits.Messages = distribution.Limit{Max: 2, Period: distribution.PeriodDay}
	})
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{order.id}}")})
	for _, id := range []string{"e1", "e2", "e3"} {
		e.event(paidEvent(id, "u1"))
	}
	if diff := cmp.Diff([]string{"paid e1", "paid e2"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	dl := e.only("e3")
	tomorrow := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	if dl.State != distribution.DeliveryScheduled || dl.Reason != distribution.ReasonDeferredLimit || !dl.NextAttemptAt.Equal(tomorrow) || dl.Attempts != 0 {
		t.Errorf("over the cap: %+v, want scheduled, %q, until %v, no attempt", dl, distribution.ReasonDeferredLimit, tomorrow)
	}
	u, err := e.m.Usage(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Messages.Used != 2 || u.Messages.Remaining != 0 || u.Messages.Deferred != 1 || !u.Messages.PeriodEnd.Equal(tomorrow) {
		t.Errorf("usage = %+v, want 2 used, 0 remaining, 1 deferred, ending %v", u.Messages, tomorrow)
	}
	e.clk.Set(tomorrow)
	e.waitFor("the deferred message", func() bool { return len(e.srv.Messages()) == 3 })
	e.waitFor("sent", func() bool { return e.only("e3").State == distribution.DeliverySent })
	if u, _ := e.m.Usage(e.ctx); u.Messages.Used != 1 || u.Messages.Remaining != 1 {
		t.Errorf("next day's usage = %+v, want 1 used", u.Messages)
	}
}

func TestMessageLimitSkips(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) {
		c.Limits = distribution.Limits{Messages: distribution.Limit{Max: 1, Period: distribution.PeriodMonth}, OverLimit: distribution.OverLimitSkip}
	})
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	d := e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid")})
	e.event(paidEvent("e1", "u1"))
	e.event(paidEvent("e2", "u1"))
	if dl := e.only("e2"); dl.State != distribution.DeliverySkipped || dl.Reason != distribution.ReasonLimitExceeded {
		t.Errorf("over the cap: %+v, want skipped with %q", dl, distribution.ReasonLimitExceeded)
	}
	rep, _ := e.m.Report(e.ctx, d.ID)
	if rep.Sent != 1 || rep.SkipReasons[distribution.ReasonLimitExceeded] != 1 {
		t.Errorf("report = %+v", rep)
	}
	if u, _ := e.m.Usage(e.ctx); u.Messages.Used != 1 || u.Messages.Skipped != 1 {
		t.Errorf("usage = %+v, want 1 used, 1 skipped", u.Messages)
	}
}

func TestFailedSendIsNotCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) {
		c.Limits.Messages.Max = 5
		c.FrequencyCaps = []distribution.FrequencyCap{{Max: 1, Window: time.Hour}}
	})
	// No Intercom contact: the channel skips before sending.
	e.customer(customer.Customer{SourceID: "ghost", Name: "Ghost"})
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid")})
	e.event(paidEvent("e1", "ghost"))
	e.event(paidEvent("e2", "u1"))
	if u, _ := e.m.Usage(e.ctx); u.Messages.Used != 1 {
		t.Errorf("usage = %+v, want only the sent message counted", u.Messages)
	}
}

func TestCountInbound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) {
		c.Limits.API = distribution.Limit{Max: 2, Period: distribution.PeriodHour}
	})
	for i := range 2 {
		if err := e.m.CountInbound(e.ctx); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	err := e.m.CountInbound(e.ctx)
	if !errors.Is(err, distribution.ErrLimitExceeded) || !strings.Contains(err.Error(), "2 calls per hour") {
		t.Fatalf("third call = %v, want ErrLimitExceeded naming the cap", err)
	}
	u, _ := e.m.Usage(e.ctx)
	want := distribution.MeterUsage{Used: 2, Max: 2, Remaining: 0, Rejected: 1,
		PeriodStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(want, u.API); diff != "" {
		t.Errorf("API usage (-want +got):\n%s", diff)
	}
	e.clk.Advance(time.Hour)
	if err := e.m.CountInbound(e.ctx); err != nil {
		t.Errorf("next hour: %v", err)
	}
	// Without a cap calls are counted, never refused.
	e.start(nil)
	for range 5 {
		if err := e.m.CountInbound(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := e.m.Usage(e.ctx); u.API.Used != 5 || u.API.Remaining != -1 {
		t.Errorf("uncapped usage = %+v, want 5 used, no cap", u.API)
	}
}

func TestConfigOfPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		edit  func(*distribution.Config)
		field string
	}{
		{func(c *distribution.Config) { c.Limits.Messages.Max = -1 }, "Limits.Messages.Max"},
		{func(c *distribution.Config) { c.Limits.API.Period = "week" }, "Limits.API.Period"},
		{func(c *distribution.Config) { c.Limits.OverLimit = "drop" }, "Limits.OverLimit"},
		{func(c *distribution.Config) {
			c.FrequencyCaps = []distribution.FrequencyCap{{Max: 0, Window: time.Hour}}
		}, "FrequencyCaps[0].Max"},
		{func(c *distribution.Config) {
			c.FrequencyCaps = []distribution.FrequencyCap{{Max: 1, Window: time.Hour}, {Max: 1}}
		}, "FrequencyCaps[1].Window"},
		{func(c *distribution.Config) {
			c.FrequencyCaps = []distribution.FrequencyCap{{Max: 1, Window: time.Hour, Channel: "sms"}}
		}, "FrequencyCaps[0].Channel"},
		{func(c *distribution.Config) { c.QuietHours = distribution.QuietHours{Start: "9pm", End: "08:00"} }, "QuietHours.Start"},
	} {
		cfg := distribution.Config{Store: store.NewMemory()}
		tc.edit(&cfg)
		_, err := distribution.NewManager(cfg)
		if !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("NewManager = %v, want ErrInvalid naming %s", err, tc.field)
		}
	}
}

func TestFrequencyCaps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) {
		c.FrequencyCaps = []distribution.FrequencyCap{{Max: 1, Window: 24 * time.Hour}}
	})
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.intercomCustomer("u2", "Bob", "bob@example.com")
	a := e.activate(distribution.Distribution{Name: "A", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("A {{customer.name}}")})
	b := e.activate(distribution.Distribution{Name: "B", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("B {{customer.name}}")})
	e.activate(distribution.Distribution{Name: "Receipt", Transactional: true, Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: inApp("receipt {{customer.name}}")})
	e.event(paidEvent("e1", "u1"))
	e.clk.Advance(23 * time.Hour)
	e.event(paidEvent("e2", "u1")) // still inside the window: A and B capped
	e.event(paidEvent("e3", "u2")) // another customer: own budget
	e.clk.Advance(time.Hour)       // 24h after the first: room for one again
	e.event(paidEvent("e4", "u1"))
	got := e.bodies()
	slices.Sort(got)
	want := []string{"A Ann", "A Ann", "A Bob", "receipt Ann", "receipt Ann", "receipt Ann", "receipt Bob"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	capped := 0
	for _, d := range []distribution.Distribution{a, b} {
		for _, dl := range e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID, States: []distribution.DeliveryState{distribution.DeliverySkipped}}) {
			capped++
			if dl.Reason != "frequency capped: 1 per 24h0m0s" {
				t.Errorf("skip reason %q", dl.Reason)
			}
		}
	}
	if capped != 5 { // B on e1, e3 and e4, A and B on e2
		t.Errorf("%d capped deliveries, want 5", capped)
	}
}

func TestFrequencyCapPerChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) {
		c.FrequencyCaps = []distribution.FrequencyCap{{Max: 1, Window: time.Hour, Channel: distribution.IntercomEmail}}
	})
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	d := e.activate(distribution.Distribution{Name: "Both", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: []distribution.ChannelMessage{
		{Channel: distribution.IntercomInApp, Body: "in-app"},
		{Channel: distribution.IntercomEmail, Subject: "s", Body: "email"},
	}})
	e.event(paidEvent("e1", "u1"))
	e.event(paidEvent("e2", "u1"))
	rep, _ := e.m.Report(e.ctx, d.ID)
	if rep.Sent != 3 || rep.SkipReasons["frequency capped: 1 per 1h0m0s on intercom_email"] != 1 {
		t.Errorf("report = %+v, want 3 sent and the second email capped", rep)
	}
}

func TestQuietHoursDefersInCustomerZone(t *testing.T) {
	t.Parallel()
	if _, err := time.LoadLocation("Europe/Warsaw"); err != nil {
		t.Fatal("time zone:", err)
	}
	e := newEnv(t)
	e.start(func(c *distribution.Config) {
		c.QuietHours = distribution.QuietHours{Start: "21:00", End: "08:00"}
	})
	// Saturday before the spring change: 21:30 UTC is 22:30 in Warsaw (CET),
	// 17:30 in New York (EDT since March 8).
	e.clk.Set(time.Date(2026, 3, 28, 21, 30, 0, 0, time.UTC))
	for _, c := range []struct{ src, tz string }{{"waw", "Europe/Warsaw"}, {"nyc", "America/New_York"}, {"none", ""}, {"bad", "Mars/Olympus"}} {
		e.srv.AddContact(intercomContact(c.src))
		e.customer(customer.Customer{SourceID: c.src, Name: c.src, Timezone: c.tz})
	}
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{customer.name}}")})
	e.activate(distribution.Distribution{Name: "Urgent", IgnoreQuietHours: true, Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: inApp("urgent {{customer.name}}")})
	e.event(paidEvent("w", "waw"))
	e.event(paidEvent("n", "nyc"))
	e.event(paidEvent("x", "none")) // UTC default: 21:30 is quiet too
	e.event(paidEvent("b", "bad"))  // unknown zone: the default
	got := e.bodies()
	slices.Sort(got)
	if diff := cmp.Diff([]string{"paid nyc", "urgent bad", "urgent none", "urgent nyc", "urgent waw"}, got); diff != "" {
		t.Errorf("messages at 21:30 UTC (-want +got):\n%s", diff)
	}
	// 08:00 CEST on the change day is 06:00 UTC (only 9 hours of night);
	// 08:00 UTC for the default zone.
	for key, want := range map[string]time.Time{
		"w": time.Date(2026, 3, 29, 6, 0, 0, 0, time.UTC),
		"x": time.Date(2026, 3, 29, 8, 0, 0, 0, time.UTC),
		"b": time.Date(2026, 3, 29, 8, 0, 0, 0, time.UTC),
	} {
		var dl distribution.Delivery
		for _, d := range e.deliveries(distribution.DeliveryFilter{TriggerKey: key, States: []distribution.DeliveryState{distribution.DeliveryScheduled}}) {
			dl = d
		}
		if dl.Reason != distribution.ReasonQuietHours || !dl.NextAttemptAt.Equal(want) {
			t.Errorf("event %s: %+v, want deferred (%q) to %v", key, dl, distribution.ReasonQuietHours, want)
		}
	}
	e.clk.Set(time.Date(2026, 3, 29, 6, 0, 0, 0, time.UTC))
	e.waitFor("Warsaw's morning message", func() bool { return len(e.srv.Messages()) == 6 })
	e.clk.Set(time.Date(2026, 3, 29, 8, 0, 0, 0, time.UTC))
	e.waitFor("UTC morning messages", func() bool { return len(e.srv.Messages()) == 8 })
}

func TestQuietHoursFallBackAndDrop(t *testing.T) {
	t.Parallel()
	if _, err := time.LoadLocation("Europe/Warsaw"); err != nil {
		t.Fatal("time zone:", err)
	}
	e := newEnv(t)
	e.start(func(c *distribution.Config) {
		c.QuietHours = distribution.QuietHours{Start: "21:00", End: "08:00", Location: mustZone(t, "Europe/Warsaw")}
	})
	e.clk.Set(time.Date(2026, 10, 24, 20, 30, 0, 0, time.UTC)) // 22:30 CEST
	e.srv.AddContact(intercomContact("u1"))
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann"}) // no zone: the workspace's (Warsaw)
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid")})
	e.event(paidEvent("e1", "u1"))
	// 08:00 CET after the fall-back night is 07:00 UTC (11 hours later).
	if dl := e.only("e1"); !dl.NextAttemptAt.Equal(time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("deferred to %v, want 2026-10-25T07:00Z", dl.NextAttemptAt)
	}
	e.clk.Set(time.Date(2026, 10, 25, 6, 59, 0, 0, time.UTC))
	if n := len(e.srv.Messages()); n != 0 {
		t.Fatalf("sent at 07:59 local: %d messages", n)
	}
	e.clk.Set(time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC))
	e.waitFor("the morning message", func() bool { return len(e.srv.Messages()) == 1 })

	// Drop instead of defer.
	e.start(func(c *distribution.Config) {
		c.QuietHours = distribution.QuietHours{Start: "21:00", End: "08:00", Action: distribution.QuietDrop, Location: mustZone(t, "Europe/Warsaw")}
	})
	e.clk.Set(time.Date(2026, 10, 25, 21, 0, 0, 0, time.UTC)) // 22:00 CET
	e.event(paidEvent("e2", "u1"))
	if dl := e.only("e2"); dl.State != distribution.DeliverySkipped || dl.Reason != distribution.ReasonQuietHoursDropped {
		t.Errorf("dropped delivery = %+v", dl)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal("time zone:", err)
	}
	return l
}
