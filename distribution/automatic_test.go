package distribution_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
)

// activate creates d as an automatic distribution and activates it.
func (e *env) activate(d distribution.Distribution) distribution.Distribution {
	e.t.Helper()
	d.Mode = distribution.Automatic
	d = e.create(d)
	out, err := e.m.Activate(e.ctx, d.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if out.Status != distribution.StatusActive {
		e.t.Fatalf("Activate: status %s, want active", out.Status)
	}
	return out
}

func (e *env) event(ev distribution.Event) {
	e.t.Helper()
	if err := e.m.HandleEvent(e.ctx, ev); err != nil {
		e.t.Fatalf("HandleEvent(%s): %v", ev.ID, err)
	}
}

// bodies returns the bodies Intercom received, in order.
func (e *env) bodies() []string {
	var out []string
	for _, msg := range e.srv.Messages() {
		out = append(out, msg.Body)
	}
	return out
}

func inApp(body string) []distribution.ChannelMessage {
	return []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: body}}
}

func TestAutomaticEveryTrigger(t *testing.T) {
	t.Parallel()
	voucher := &distribution.EventVoucher{Code: "GIFT-1", Campaign: "Gifts"}
	for _, tc := range []struct {
		typ  string
		body string
		ev   distribution.Event
		want string
	}{
		{distribution.EventOrderCreated, "Order {{order.id}} ({{order.status}}) for {{order.amount}}: {{order.items_count}} items: {{order.items}}",
			distribution.Event{Order: &distribution.Order{ID: "o1", Amount: 120.5, Items: []distribution.OrderItem{{Name: "Shoe", Quantity: 2}, {ProductID: "hat", Quantity: 1}}}},
			"Order o1 (CREATED) for 120.5: 3 items: 2 × Shoe, 1 × hat"},
		{distribution.EventOrderUpdated, "Order {{order.id}} now {{order.amount}}",
			distribution.Event{Order: &distribution.Order{ID: "o1", Amount: 99}}, "Order o1 now 99"},
		{distribution.EventOrderPaid, "Paid {{order.id}} {{order.status}}",
			distribution.Event{Order: &distribution.Order{ID: "o1", Amount: 10}}, "Paid o1 PAID"},
		{distribution.EventOrderCanceled, "Canceled {{order.id}} {{order.status}}",
			distribution.Event{Order: &distribution.Order{ID: "o1", Amount: 10}}, "Canceled o1 CANCELED"},
		{distribution.EventGiftBalanceAdded, "{{gift.amount}} added to {{voucher.code}}; balance {{gift.balance}}",
			distribution.Event{Voucher: voucher, Balance: &distribution.BalanceChange{Added: 50, Balance: 150}}, "50 added to GIFT-1; balance 150"},
		{distribution.EventLoyaltyPointsAdded, "+{{loyalty.points}} points on {{voucher.code}} ({{loyalty.balance}})",
			distribution.Event{Voucher: voucher, Balance: &distribution.BalanceChange{Added: 10, Balance: 30}}, "+10 points on GIFT-1 (30)"},
		{distribution.EventRedemptionSucceeded, "Redeemed {{voucher.code}} in {{redemption.id}} for {{redemption.amount}}",
			distribution.Event{Voucher: voucher, Redemption: &distribution.EventRedemption{ID: "r1", Amount: 20}}, "Redeemed GIFT-1 in r1 for 20"},
		{distribution.EventRedemptionRollback, "Rolled back {{redemption.id}}",
			distribution.Event{Redemption: &distribution.EventRedemption{ID: "r1"}}, "Rolled back r1"},
		{distribution.EventRewarded, "You got {{reward.name}} ({{reward.type}})",
			distribution.Event{Reward: &distribution.EventReward{ID: "rew1", Name: "Free coffee", Type: "MATERIAL"}}, "You got Free coffee (MATERIAL)"},
		{distribution.EventPublication, "Your code {{voucher.code}} from {{campaign.name}} ({{publication.id}})",
			distribution.Event{Voucher: voucher, Publication: &distribution.EventPublished{ID: "pub_1"}}, "Your code GIFT-1 from Gifts (pub_1)"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ann := e.intercomCustomer("u1", "Ann", "ann@example.com")
			d := e.activate(distribution.Distribution{Name: "On " + tc.typ, Trigger: distribution.Trigger{Event: tc.typ},
				Channels: inApp("Hi {{customer.name}}. " + tc.body)})
			other := e.activate(distribution.Distribution{Name: "Other trigger", Trigger: distribution.Trigger{Event: otherType(tc.typ)},
				Channels: inApp("must not be sent")})
			ev := tc.ev
			ev.ID, ev.Type, ev.CustomerID = "evt-1", tc.typ, "u1"
			e.event(ev)
			if diff := cmp.Diff([]string{"Hi Ann. " + tc.want}, e.bodies()); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			dls := e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID})
			if len(dls) != 1 || dls[0].State != distribution.DeliverySent || dls[0].TriggerKey != "evt-1" || dls[0].CustomerID != ann.ID {
				t.Errorf("deliveries = %+v, want one sent to %s with trigger key evt-1", dls, ann.ID)
			}
			if got := e.deliveries(distribution.DeliveryFilter{DistributionID: other.ID}); len(got) != 0 {
				t.Errorf("distribution on %s got deliveries %+v", other.Trigger.Event, got)
			}
			rep, err := e.m.Report(e.ctx, d.ID)
			if err != nil || rep.Sent != 1 {
				t.Errorf("Report = %+v, %v; want Sent 1", rep, err)
			}
		})
	}
}

func otherType(typ string) string {
	if typ == distribution.EventOrderPaid {
		return distribution.EventOrderCreated
	}
	return distribution.EventOrderPaid
}

func autoSegment(t *testing.T, e *env, name, rule string) segment.Segment {
	t.Helper()
	s, err := e.m.CreateSegment(e.ctx, segment.Segment{Name: name, Type: segment.AutoUpdate, Expression: rule})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("segment sync", func() bool {
		s, _ = e.m.Segment(e.ctx, s.ID)
		return s.SyncStatus == segment.Synced
	})
	return s
}

func TestAutomaticSegmentEnteredAndLeft(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vip := autoSegment(t, e, "VIP", `metadata.tier == "vip"`)
	gold := autoSegment(t, e, "Gold", `metadata.tier == "gold"`)
	e.activate(distribution.Distribution{Name: "Welcome VIP", Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: vip.ID},
		Channels: inApp("{{customer.name}} entered {{segment.name}}")})
	e.activate(distribution.Distribution{Name: "Bye VIP", Trigger: distribution.Trigger{Event: distribution.EventSegmentLeft, SegmentID: vip.ID},
		Channels: inApp("{{customer.name}} left {{segment.name}}")})
	e.srv.AddContact(intercomContact("u1"))
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"tier": "gold"}}) // Gold: no trigger on it
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"tier": "vip"}})
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"tier": "vip", "x": "same segments"}})
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"tier": "gold"}})
	_ = gold
	want := []string{"Ann entered VIP", "Ann left VIP"}
	if diff := cmp.Diff(want, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestAutomaticSegmentTriggerRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	auto := autoSegment(t, e, "Auto", `metadata.tier == "vip"`)
	static, err := e.m.CreateSegment(e.ctx, segment.Segment{Name: "Static", Type: segment.Static})
	if err != nil {
		t.Fatal(err)
	}
	camp := e.campaign(distribution.Campaign{Name: "C"})
	for _, tc := range []struct {
		name  string
		d     distribution.Distribution
		field string
	}{
		{"no event", distribution.Distribution{}, "trigger.event: required"},
		{"unknown event", distribution.Distribution{Trigger: distribution.Trigger{Event: "customer.order.shipped"}}, "trigger.event"},
		{"segment missing", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered}}, "trigger.segment_id: required"},
		{"static segment", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventSegmentLeft, SegmentID: static.ID}}, "only auto-update"},
		{"segment on an order trigger", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventOrderPaid, SegmentID: auto.ID}}, "trigger.segment_id"},
		{"campaign on an order trigger", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventOrderPaid, CampaignID: camp.ID}}, "trigger.campaign_id"},
		{"include existing on left", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventSegmentLeft, SegmentID: auto.ID, IncludeExisting: true}}, "trigger.include_existing"},
		{"audience", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Audience: distribution.Audience{SegmentID: auto.ID}}, "audience"},
		{"publication trigger publishing", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventPublication}, Campaign: camp.ID}, "campaign: a distribution triggered by customer.publication.succeeded"},
		{"tag the trigger never provides", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventRedemptionSucceeded}, Channels: inApp("{{order.id}}")}, "channels[0].body"},
		{"order tag on a segment trigger", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: auto.ID}, Channels: inApp("{{order.amount}}")}, "unknown tag"},
		{"code without campaign on an order trigger", distribution.Distribution{Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("{{voucher.code}}")}, "needs a campaign"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			d.Name, d.Mode = tc.name, distribution.Automatic
			if d.Channels == nil {
				d.Channels = inApp("hi")
			}
			_, err := e.m.CreateDistribution(e.ctx, d)
			if !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("CreateDistribution = %v, want ErrInvalid naming %q", err, tc.field)
			}
		})
	}
	// Voucher tags without a campaign are fine where the event carries a voucher.
	if _, err := e.m.CreateDistribution(e.ctx, distribution.Distribution{Name: "ok", Mode: distribution.Automatic,
		Trigger: distribution.Trigger{Event: distribution.EventRedemptionSucceeded, CampaignID: camp.Name}, Channels: inApp("{{voucher.code}}")}); err != nil {
		t.Errorf("redemption trigger with {{voucher.code}}: %v", err)
	}
}

func TestAutomaticLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	d := e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{order.id}}")})
	if _, err := e.m.Send(e.ctx, d.ID); !errors.Is(err, distribution.ErrConflict) {
		t.Errorf("Send(automatic) = %v, want ErrConflict", err)
	}
	paid := func(id string) {
		e.event(distribution.Event{ID: id, Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: id, Amount: 1}})
	}
	paid("o1")
	if _, err := e.m.Pause(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	paid("o2") // paused: ignored
	// Editing an automatic distribution is allowed; the new text applies.
	cur, _ := e.m.Distribution(e.ctx, d.ID)
	cur.Channels = inApp("order {{order.id}} paid")
	if _, err := e.m.UpdateDistribution(e.ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Activate(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	paid("o3")
	if _, err := e.m.Cancel(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	paid("o4")
	if diff := cmp.Diff([]string{"paid o1", "order o3 paid"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if _, err := e.m.Activate(e.ctx, d.ID); !errors.Is(err, distribution.ErrConflict) {
		t.Errorf("Activate(canceled) = %v, want ErrConflict", err)
	}
	manual := e.create(distribution.Distribution{Name: "manual", Audience: distribution.Audience{CustomerID: "u1"}, Channels: inApp("x")})
	if _, err := e.m.Activate(e.ctx, manual.ID); !errors.Is(err, distribution.ErrConflict) {
		t.Errorf("Activate(manual) = %v, want ErrConflict", err)
	}
	if _, err := e.m.Pause(e.ctx, manual.ID); !errors.Is(err, distribution.ErrConflict) {
		t.Errorf("Pause(manual) = %v, want ErrConflict", err)
	}
}

func TestAutomaticRestartKeepsIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{order.id}}")})
	e.start(nil) // a new Manager on the same store
	e.event(distribution.Event{ID: "e1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "o1"}})
	if diff := cmp.Diff([]string{"paid o1"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestAutomaticCampaignNarrowing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	gifts := e.campaign(distribution.Campaign{Name: "Gifts"})
	e.campaign(distribution.Campaign{Name: "Other"})
	e.activate(distribution.Distribution{Name: "by id", Trigger: distribution.Trigger{Event: distribution.EventRedemptionSucceeded, CampaignID: gifts.ID},
		Channels: inApp("narrowed {{redemption.id}}")})
	e.activate(distribution.Distribution{Name: "any", Trigger: distribution.Trigger{Event: distribution.EventRedemptionSucceeded},
		Channels: inApp("any {{redemption.id}}")})
	redeem := func(id string, v *distribution.EventVoucher) {
		e.event(distribution.Event{ID: id, Type: distribution.EventRedemptionSucceeded, CustomerID: "u1", Voucher: v, Redemption: &distribution.EventRedemption{ID: id}})
	}
	redeem("r1", &distribution.EventVoucher{Code: "X", Campaign: "Other"})
	redeem("r2", &distribution.EventVoucher{Code: "Y", Campaign: "Gifts"})                       // by name
	redeem("r3", &distribution.EventVoucher{Code: "Z", CampaignID: gifts.ID, Campaign: "Gifts"}) // id and name: once
	redeem("r4", nil)
	got := e.bodies()
	slices.Sort(got)
	want := []string{"any r1", "any r2", "any r3", "any r4", "narrowed r2", "narrowed r3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	c, _ := e.m.Customer(e.ctx, "u1")
	if c.Summary.Redemptions.TotalSucceeded != 4 {
		t.Errorf("redemptions summary = %+v, want 4 succeeded", c.Summary.Redemptions)
	}
}

func TestAutomaticIncludeExisting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv.AddContact(intercomContact("u1"))
	e.srv.AddContact(intercomContact("u2"))
	e.srv.AddContact(intercomContact("u3"))
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"tier": "vip"}})
	e.customer(customer.Customer{SourceID: "u2", Name: "Bob", Metadata: customer.Metadata{"tier": "vip"}})
	vip := autoSegment(t, e, "VIP", `metadata.tier == "vip"`)
	plain := e.activate(distribution.Distribution{Name: "new only", Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: vip.ID},
		Channels: inApp("new only: {{customer.name}}")})
	d := e.activate(distribution.Distribution{Name: "all", Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: vip.ID, IncludeExisting: true},
		Channels: inApp("welcome {{customer.name}} to {{segment.name}}")})
	e.waitFor("existing members' messages", func() bool { return len(e.srv.Messages()) == 2 })
	// Pausing and activating again does not resend to them.
	if _, err := e.m.Pause(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Activate(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.customer(customer.Customer{SourceID: "u3", Name: "Cid", Metadata: customer.Metadata{"tier": "vip"}})
	e.waitFor("three deliveries", func() bool {
		return len(e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID, States: []distribution.DeliveryState{distribution.DeliverySent}})) == 3
	})
	got := e.bodies()
	slices.Sort(got)
	want := []string{"new only: Cid", "welcome Ann to VIP", "welcome Bob to VIP", "welcome Cid to VIP"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if n := len(e.deliveries(distribution.DeliveryFilter{DistributionID: plain.ID})); n != 1 {
		t.Errorf("the distribution without IncludeExisting has %d deliveries, want 1", n)
	}
}

func TestAutomaticRepeatedEventID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{order.id}}")})
	ev := distribution.Event{ID: "evt-7", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "o1", Amount: 30}}
	e.event(ev)
	e.event(ev)
	ev.Order.Amount = 50 // same id, other content: still a repeat
	e.event(ev)
	if n := len(e.srv.Messages()); n != 1 {
		t.Errorf("Intercom got %d messages, want 1", n)
	}
	c, _ := e.m.Customer(e.ctx, "u1")
	if c.Summary.Orders.TotalCount != 1 || c.Summary.Orders.TotalAmount != 30 {
		t.Errorf("order summary = %+v, want one order of 30", c.Summary.Orders)
	}
	err := e.m.HandleEvent(e.ctx, distribution.Event{ID: "evt-7", Type: distribution.EventOrderCreated, CustomerID: "u1", Order: &distribution.Order{ID: "o2"}})
	if !errors.Is(err, distribution.ErrConflict) {
		t.Errorf("the id of a paid event reused for another type: %v, want ErrConflict", err)
	}
}

func TestAutomaticUnknownCustomer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv.AddContact(intercomContact("new-1"))
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("thanks {{customer.name}}")})
	ev := distribution.Event{ID: "e1", Type: distribution.EventOrderPaid, CustomerID: "new-1", Order: &distribution.Order{ID: "o1", Amount: 5}}
	err := e.m.HandleEvent(e.ctx, ev)
	if !errors.Is(err, distribution.ErrNotFound) || !strings.Contains(err.Error(), "customer_id") {
		t.Fatalf("unknown source_id without data: %v, want ErrNotFound naming customer_id", err)
	}
	if _, err := e.st.GetEvent(e.ctx, "e1"); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("the failed event was stored: %v", err)
	}
	ev.Customer = &customer.Customer{Name: "Newcomer", Email: "new@example.com"}
	e.event(ev)
	c, err := e.m.Customer(e.ctx, "new-1")
	if err != nil {
		t.Fatalf("customer not created: %v", err)
	}
	if c.Name != "Newcomer" || c.Summary.Orders.TotalCount != 1 {
		t.Errorf("created customer = %+v, want Newcomer with one order", c)
	}
	if diff := cmp.Diff([]string{"thanks Newcomer"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestAutomaticBadEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("x")})
	order := &distribution.Order{ID: "o1", Amount: 1}
	for _, tc := range []struct {
		name  string
		ev    distribution.Event
		field string
	}{
		{"no id", distribution.Event{Type: distribution.EventOrderPaid, CustomerID: "u1", Order: order}, "id: required"},
		{"no type", distribution.Event{ID: "b1", CustomerID: "u1", Order: order}, "type: required"},
		{"unknown type", distribution.Event{ID: "b1", Type: "customer.order.shipped", CustomerID: "u1", Order: order}, "type: \"customer.order.shipped\""},
		{"segment event from outside", distribution.Event{ID: "b1", Type: distribution.EventSegmentEntered, CustomerID: "u1", Segment: &distribution.EventSegment{ID: "seg_1"}}, "type:"},
		{"no customer", distribution.Event{ID: "b1", Type: distribution.EventOrderPaid, Order: order}, "customer_id: required"},
		{"no order", distribution.Event{ID: "b1", Type: distribution.EventOrderPaid, CustomerID: "u1"}, "order: required"},
		{"no order id", distribution.Event{ID: "b1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{Amount: 3}}, "order.id: required"},
		{"negative amount", distribution.Event{ID: "b1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "o", Amount: -3}}, "order.amount"},
		{"bad status", distribution.Event{ID: "b1", Type: distribution.EventOrderUpdated, CustomerID: "u1", Order: &distribution.Order{ID: "o", Status: "LOST"}}, "order.status"},
		{"canceled with paid status", distribution.Event{ID: "b1", Type: distribution.EventOrderCanceled, CustomerID: "u1", Order: &distribution.Order{ID: "o", Status: "PAID"}}, "order.status"},
		{"bad item", distribution.Event{ID: "b1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "o", Items: []distribution.OrderItem{{Quantity: 1}, {Quantity: -1}}}}, "order.items[1].quantity"},
		{"foreign payload", distribution.Event{ID: "b1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: order, Reward: &distribution.EventReward{Name: "x"}}, "reward: not part"},
		{"gift without voucher", distribution.Event{ID: "b1", Type: distribution.EventGiftBalanceAdded, CustomerID: "u1", Balance: &distribution.BalanceChange{Added: 1}}, "voucher: required"},
		{"gift without balance", distribution.Event{ID: "b1", Type: distribution.EventGiftBalanceAdded, CustomerID: "u1", Voucher: &distribution.EventVoucher{Code: "G"}}, "balance: required"},
		{"voucher without code", distribution.Event{ID: "b1", Type: distribution.EventPublication, CustomerID: "u1", Voucher: &distribution.EventVoucher{Campaign: "C"}}, "voucher.code: required"},
		{"redemption without id", distribution.Event{ID: "b1", Type: distribution.EventRedemptionSucceeded, CustomerID: "u1", Redemption: &distribution.EventRedemption{}}, "redemption.id: required"},
		{"reward without name", distribution.Event{ID: "b1", Type: distribution.EventRewarded, CustomerID: "u1", Reward: &distribution.EventReward{}}, "reward: set id or name"},
		{"source ids differ", distribution.Event{ID: "b1", Type: distribution.EventOrderPaid, CustomerID: "new", Customer: &customer.Customer{SourceID: "other"}, Order: order}, "customer.source_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.m.HandleEvent(e.ctx, tc.ev)
			if !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("HandleEvent = %v, want ErrInvalid naming %q", err, tc.field)
			}
		})
	}
	for e2, err := range e.st.UnprocessedEvents(e.ctx) {
		t.Errorf("stored %+v, %v", e2, err)
	}
	if _, err := e.st.GetEvent(e.ctx, "b1"); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("a bad event was stored: %v", err)
	}
	if _, err := e.m.Customer(e.ctx, "new"); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("a bad event created a customer: %v", err)
	}
	c, _ := e.m.Customer(e.ctx, "u1")
	if c.Summary.Orders.TotalCount != 0 || len(e.srv.Messages()) != 0 {
		t.Errorf("bad events changed the summary (%+v) or sent %d messages", c.Summary.Orders, len(e.srv.Messages()))
	}
}

func TestAutomaticPublicationTriggerNoLoop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.intercomCustomer("u1", "Ann", "ann@example.com")
	camp := e.campaign(distribution.Campaign{Name: "Thanks", Code: distribution.CodeConfig{Pattern: "THX-####"}})
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Campaign: camp.ID,
		Channels: inApp("code {{voucher.code}}")})
	pubD := e.activate(distribution.Distribution{Name: "Published", Trigger: distribution.Trigger{Event: distribution.EventPublication, CampaignID: "Thanks"},
		Channels: inApp("published {{voucher.code}} of {{campaign.name}}")})
	e.activate(distribution.Distribution{Name: "Published elsewhere", Trigger: distribution.Trigger{Event: distribution.EventPublication, CampaignID: e.campaign(distribution.Campaign{Name: "Other"}).ID},
		Channels: inApp("must not be sent")})
	e.event(distribution.Event{ID: "e1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "o1"}})
	e.idle() // the publication event is queued, and handled by Run
	pubs, err := e.codes.Publications(e.ctx, camp.ID)
	if err != nil || len(pubs) != 1 {
		t.Fatalf("publications = %v, %v; want exactly one (no loop)", pubs, err)
	}
	code := pubs[0].Code
	got := e.bodies()
	slices.Sort(got)
	want := []string{"code " + code, "published " + code + " of Thanks"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	dls := e.deliveries(distribution.DeliveryFilter{DistributionID: pubD.ID})
	if len(dls) != 1 || dls[0].Code != code || dls[0].PublicationID != "" || dls[0].CustomerID != ann.ID {
		t.Errorf("publication-triggered delivery = %+v, want the published code %s and no publication of its own", dls, code)
	}
}

func TestSummarizeOrders(t *testing.T) {
	t.Parallel()
	day := func(d int) time.Time { return time.Date(2026, 5, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name   string
		orders []distribution.OrderRecord
		want   customer.OrderSummary
	}{
		{"none", nil, customer.OrderSummary{}},
		{"two", []distribution.OrderRecord{{ID: "a", Amount: 10, CreatedAt: day(1)}, {ID: "b", Amount: 30, Status: "PAID", CreatedAt: day(2)}},
			customer.OrderSummary{TotalAmount: 40, TotalCount: 2, AverageAmount: 20, LastOrderAmount: 30, LastOrderDate: day(2)}},
		{"the last canceled", []distribution.OrderRecord{{ID: "a", Amount: 10, CreatedAt: day(1)}, {ID: "b", Amount: 30, Status: "CANCELED", CreatedAt: day(2)}},
			customer.OrderSummary{TotalAmount: 10, TotalCount: 1, AverageAmount: 10, LastOrderAmount: 10, LastOrderDate: day(1)}},
		{"all canceled", []distribution.OrderRecord{{ID: "a", Amount: 10, Status: "CANCELED", CreatedAt: day(1)}}, customer.OrderSummary{}},
		{"same day: greater id last", []distribution.OrderRecord{{ID: "b", Amount: 2, CreatedAt: day(1)}, {ID: "a", Amount: 1, CreatedAt: day(1)}},
			customer.OrderSummary{TotalAmount: 3, TotalCount: 2, AverageAmount: 1.5, LastOrderAmount: 2, LastOrderDate: day(1)}},
	} {
		if diff := cmp.Diff(tc.want, distribution.SummarizeOrders(tc.orders)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestAutomaticOrdersDriveSegmentEntry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	three, err := e.m.CreateSegment(e.ctx, segment.Segment{Name: "3 orders", Type: segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"junction":"and","summary.orders.total_count":{"conditions":{"$more_than_equal":[3]}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("segment sync", func() bool { s, _ := e.m.Segment(e.ctx, three.ID); return s.SyncStatus == segment.Synced })
	e.activate(distribution.Distribution{Name: "Loyal", Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: three.ID},
		Channels: inApp("{{customer.name}} is in {{segment.name}}")})
	e.activate(distribution.Distribution{Name: "Not loyal", Trigger: distribution.Trigger{Event: distribution.EventSegmentLeft, SegmentID: three.ID},
		Channels: inApp("{{customer.name}} left {{segment.name}}")})
	send := func(id, typ, order string, amount float64) {
		e.event(distribution.Event{ID: id, Type: typ, CustomerID: "u1", At: e.clk.Now(), Order: &distribution.Order{ID: order, Amount: amount}})
		e.clk.Advance(time.Hour)
	}
	send("e1", distribution.EventOrderCreated, "o1", 10)
	send("e2", distribution.EventOrderPaid, "o1", 10)    // same order: counted once
	send("e3", distribution.EventOrderUpdated, "o1", 15) // amount changes, count does not
	send("e4", distribution.EventOrderPaid, "o2", 20)
	if n := len(e.srv.Messages()); n != 0 {
		t.Fatalf("sent %d messages with 2 orders", n)
	}
	send("e5", distribution.EventOrderPaid, "o3", 40)
	c, _ := e.m.Customer(e.ctx, "u1")
	want := customer.OrderSummary{TotalAmount: 75, TotalCount: 3, AverageAmount: 25, LastOrderAmount: 40, LastOrderDate: c.Summary.Orders.LastOrderDate}
	if diff := cmp.Diff(want, c.Summary.Orders); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if !c.Summary.Orders.LastOrderDate.Equal(time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)) {
		t.Errorf("last order date = %v, want the fifth event's", c.Summary.Orders.LastOrderDate)
	}
	send("e6", distribution.EventOrderCanceled, "o3", 40) // back to 2 orders: leaves
	c, _ = e.m.Customer(e.ctx, "u1")
	if c.Summary.Orders.TotalCount != 2 || c.Summary.Orders.LastOrderAmount != 20 {
		t.Errorf("after the cancel: %+v, want 2 orders, last 20", c.Summary.Orders)
	}
	if diff := cmp.Diff([]string{"Ann is in 3 orders", "Ann left 3 orders"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestAutomaticRetryFailedAndUsageRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) {
		c.Limits.Messages.Max = 10
		c.FrequencyCaps = []distribution.FrequencyCap{{Max: 1, Window: time.Hour}}
	})
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	d := e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{order.id}}")})
	e.srv.Inject(intercomtest.Fault{Method: "POST", Path: "/messages", Status: 400})
	e.event(distribution.Event{ID: "e1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "o1"}})
	if dl := e.only("e1"); dl.State != distribution.DeliveryFailed {
		t.Fatalf("delivery = %+v, want failed", dl)
	}
	// A failed (not sent) message counts neither against the limit nor the cap.
	if u, _ := e.m.Usage(e.ctx); u.Messages.Used != 0 {
		t.Errorf("usage after a failed send = %+v", u.Messages)
	}
	n, err := e.m.RetryFailed(e.ctx, d.ID)
	if err != nil || n != 1 {
		t.Fatalf("RetryFailed = %d, %v", n, err)
	}
	if dl := e.only("e1"); dl.State != distribution.DeliverySent {
		t.Errorf("after RetryFailed: %+v, want sent", dl)
	}
	if diff := cmp.Diff([]string{"paid o1"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if u, _ := e.m.Usage(e.ctx); u.Messages.Used != 1 {
		t.Errorf("usage = %+v, want 1", u.Messages)
	}
}

func TestManualPublicationEmitsEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	camp := e.campaign(distribution.Campaign{Name: "Welcome", Codes: []string{"W-1"}})
	e.activate(distribution.Distribution{Name: "Reminder", Trigger: distribution.Trigger{Event: distribution.EventPublication},
		Channels: inApp("reminder: {{voucher.code}}")})
	d := e.create(distribution.Distribution{Name: "Manual", Audience: distribution.Audience{CustomerID: "u1"}, Campaign: camp.ID, Channels: inApp("code {{voucher.code}}")})
	e.sendNow(d.ID, distribution.StatusDone)
	e.waitFor("two messages", func() bool { return len(e.srv.Messages()) == 2 })
	got := e.bodies()
	slices.Sort(got)
	if diff := cmp.Diff([]string{"code W-1", "reminder: W-1"}, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestAutomaticResumesUnfinishedEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{order.id}}")})
	c, _ := e.m.Customer(e.ctx, "u1")
	// A process accepted the event and stopped before handling it.
	ev := distribution.Event{ID: "e1", Type: distribution.EventOrderPaid, CustomerID: "u1", ResolvedCustomerID: c.ID, At: e.clk.Now(),
		Order: &distribution.Order{ID: "o1", Status: distribution.OrderPaid, Amount: 5}}
	if _, err := e.st.InsertEvent(e.ctx, ev); err != nil {
		t.Fatal(err)
	}
	e.start(nil) // restart: Run resumes it
	e.waitFor("the resumed message", func() bool { return len(e.srv.Messages()) == 1 })
	e.waitFor("the event processed", func() bool { got, _ := e.st.GetEvent(e.ctx, "e1"); return !got.ProcessedAt.IsZero() })
	c, _ = e.m.Customer(e.ctx, "u1")
	if c.Summary.Orders.TotalCount != 1 {
		t.Errorf("summary = %+v, want the order counted", c.Summary.Orders)
	}
	e.event(ev) // the host retries the webhook: a repeat
	if n := len(e.srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// Another Manager on the same store (a replica) follows activations and
// pauses made here at once, with no ReloadTriggers call.
func TestTriggersFollowTheStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	other, err := distribution.NewManager(distribution.Config{Store: e.st, Intercom: e.srv.Client(), AdminID: e.srv.AdminID(), Codes: e.codes, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.HandleEvent(e.ctx, paidEvent("e0", "u1")); err != nil { // other has loaded its view
		t.Fatal(err)
	}
	d := e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Channels: inApp("paid {{order.id}}")})
	if err := other.HandleEvent(e.ctx, paidEvent("e1", "u1")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Pause(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if err := other.HandleEvent(e.ctx, paidEvent("e2", "u1")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Activate(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if err := other.HandleEvent(e.ctx, paidEvent("e3", "u1")); err != nil {
		t.Fatal(err)
	}
	if err := other.ReloadTriggers(e.ctx); err != nil { // still works, no longer needed
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"paid e1", "paid e3"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestHandleEventConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 4 {
		e.intercomCustomer(fmt.Sprintf("u%d", i), fmt.Sprintf("C%d", i), "")
	}
	camp := e.campaign(distribution.Campaign{Name: "Thanks", Code: distribution.CodeConfig{Length: 10}})
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Campaign: camp.ID,
		Channels: inApp("{{voucher.code}}")})
	var wg sync.WaitGroup
	for i := range 40 {
		for range 2 { // every event twice, concurrently
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := distribution.Event{ID: fmt.Sprintf("e%d", i), Type: distribution.EventOrderPaid, CustomerID: fmt.Sprintf("u%d", i%4),
					Order: &distribution.Order{ID: fmt.Sprintf("o%d", i), Amount: 1}}
				// The duplicate that arrives while the other call processes
				// the event is told so (#13: never a silent nil).
				if err := e.m.HandleEvent(e.ctx, ev); err != nil && !errors.Is(err, distribution.ErrEventInProgress) {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	e.waitFor("40 messages", func() bool { return len(e.srv.Messages()) >= 40 })
	codes := map[string]bool{}
	for _, b := range e.bodies() {
		codes[b] = true
	}
	if n := len(e.srv.Messages()); n != 40 || len(codes) != 40 {
		t.Errorf("%d messages with %d distinct codes, want 40 and 40", n, len(codes))
	}
	for i := range 4 {
		c, _ := e.m.Customer(e.ctx, fmt.Sprintf("u%d", i))
		if c.Summary.Orders.TotalCount != 10 {
			t.Errorf("customer u%d: %d orders, want 10", i, c.Summary.Orders.TotalCount)
		}
	}
}

func TestAutomaticSegmentEnteredByResync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "")
	seg := autoSegment(t, e, "older than 2 days", `now - created_at > duration("48h")`)
	e.activate(distribution.Distribution{Name: "Two days in", Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: seg.ID},
		Channels: inApp("{{customer.name}}: two days with us")})
	e.waitFor("Run to arm its hourly resync", func() bool { return e.clk.Pending() > 0 })
	e.clk.Advance(49 * time.Hour) // the hourly resync moves the customer in
	e.waitFor("the message", func() bool { return len(e.srv.Messages()) == 1 })
	if diff := cmp.Diff([]string{"Ann: two days with us"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}
