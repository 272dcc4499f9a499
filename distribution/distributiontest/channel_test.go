package distributiontest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
)

func send(t *testing.T, ch *distributiontest.Channel, c *customer.Customer, body string) (string, error) {
	t.Helper()
	r, err := ch.Send(context.Background(), distribution.Message{Customer: c, Body: body})
	return r.ProviderMessageID, err
}

func TestChannelOutcomes(t *testing.T) {
	t.Parallel()
	errBusy, errGone := errors.New("busy"), errors.New("gone")
	ann := &customer.Customer{ID: "cus_1", SourceID: "ann"}
	bob := &customer.Customer{ID: "cus_2", SourceID: "bob"}
	for _, tc := range []struct {
		name  string
		setup func(*distributiontest.Channel)
		sends []*customer.Customer
		want  []string // receipt or error text per call
	}{
		{"all succeed", func(*distributiontest.Channel) {}, []*customer.Customer{ann, bob, ann}, []string{"sms-1", "sms-2", "sms-3"}},
		{"fail next in order", func(c *distributiontest.Channel) { c.FailNext(errBusy); c.FailNext(nil, errGone) },
			[]*customer.Customer{ann, ann, ann, ann}, []string{"busy", "sms-2", "gone", "sms-4"}},
		{"fail a customer by source id", func(c *distributiontest.Channel) { c.FailCustomer("bob", errGone) },
			[]*customer.Customer{ann, bob, bob}, []string{"sms-1", "gone", "gone"}},
		{"fail a customer by id", func(c *distributiontest.Channel) { c.FailCustomer("cus_1", errGone) },
			[]*customer.Customer{ann, bob}, []string{"gone", "sms-2"}},
		{"undo a customer failure", func(c *distributiontest.Channel) { c.FailCustomer("bob", errGone); c.FailCustomer("bob", nil) },
			[]*customer.Customer{bob}, []string{"sms-1"}},
		{"queued results before the customer's", func(c *distributiontest.Channel) { c.FailCustomer("bob", errGone); c.FailNext(nil, errBusy) },
			[]*customer.Customer{bob, bob, bob}, []string{"sms-1", "busy", "gone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := distributiontest.NewChannel("sms")
			tc.setup(ch)
			var got []string
			for i, c := range tc.sends {
				id, err := send(t, ch, c, fmt.Sprint("m", i))
				if err != nil {
					got = append(got, err.Error())
				} else {
					got = append(got, id)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			calls := ch.Calls()
			if len(calls) != len(tc.sends) {
				t.Fatalf("%d calls recorded, want %d", len(calls), len(tc.sends))
			}
			var ok []string
			for i, call := range calls {
				if call.Message.Body != fmt.Sprint("m", i) || call.Message.Customer.ID != tc.sends[i].ID {
					t.Errorf("call %d recorded %+v", i, call.Message)
				}
				if (call.Err == nil) != (call.Receipt.ProviderMessageID != "") {
					t.Errorf("call %d: receipt %q with error %v", i, call.Receipt.ProviderMessageID, call.Err)
				}
				if call.Err == nil {
					ok = append(ok, call.Message.Body)
				}
			}
			var msgs []string
			for _, m := range ch.Messages() {
				msgs = append(msgs, m.Body)
			}
			if diff := cmp.Diff(ok, msgs); diff != "" {
				t.Errorf("Messages are not the successful calls (-calls +Messages):\n%s", diff)
			}
		})
	}
}

func TestChannelSkipHTMLAndReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ch := distributiontest.NewChannel("sms")
	if ch.Name() != "sms" || !ch.HTMLBody() {
		t.Fatalf("Name %q HTMLBody %v, want sms, true", ch.Name(), ch.HTMLBody())
	}
	ch.PlainText = true
	if ch.HTMLBody() {
		t.Error("HTMLBody with PlainText = true")
	}
	ann := &customer.Customer{ID: "cus_1", SourceID: "ann"}
	ch.SkipCustomer("ann", "no phone")
	if r, err := ch.Check(ctx, ann); r != "no phone" || err != nil {
		t.Errorf("Check(ann) = %q, %v; want no phone", r, err)
	}
	if r, err := ch.Check(ctx, &customer.Customer{ID: "cus_2"}); r != "" || err != nil {
		t.Errorf("Check(other) = %q, %v; want reachable", r, err)
	}
	ch.SkipCustomer("ann", "")
	if r, _ := ch.Check(ctx, ann); r != "" {
		t.Errorf("Check after undo = %q", r)
	}

	// The recorded customer is a copy: the caller may reuse its own.
	c := &customer.Customer{ID: "cus_3", Name: "before"}
	send(t, ch, c, "x")
	c.Name = "after"
	if got := ch.Messages()[0].Customer.Name; got != "before" {
		t.Errorf("recorded customer name %q, want before", got)
	}
	ch.Reset()
	if n := len(ch.Calls()); n != 0 {
		t.Fatalf("%d calls after Reset", n)
	}
	if id, _ := send(t, ch, c, "y"); id != "sms-2" {
		t.Errorf("receipt after Reset %q, want sms-2 (receipts keep counting)", id)
	}
}

func TestChannelConcurrentSends(t *testing.T) {
	t.Parallel()
	ch := distributiontest.NewChannel("sms")
	ch.FailNext(errors.New("once"))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, _ = ch.Send(context.Background(), distribution.Message{Customer: &customer.Customer{ID: fmt.Sprint(i)}})
		})
	}
	wg.Wait()
	if calls, msgs := len(ch.Calls()), len(ch.Messages()); calls != 50 || msgs != 49 {
		t.Fatalf("%d calls, %d messages; want 50, 49", calls, msgs)
	}
	seen := map[string]bool{}
	for _, m := range ch.Calls() {
		if seen[m.Receipt.ProviderMessageID] && m.Err == nil {
			t.Errorf("receipt %s twice", m.Receipt.ProviderMessageID)
		}
		seen[m.Receipt.ProviderMessageID] = true
	}
}

// The recording channel works inside a Manager: a skipped customer is
// recorded with the channel's reason and never reaches Send.
func TestChannelInManager(t *testing.T) {
	t.Parallel()
	e := newManagerEnv(t)
	e.sms.SkipCustomer("u2", "opted out of sms")
	e.event("evt-1", "u1")
	e.event("evt-2", "u2")
	if n := len(e.sms.Calls()); n != 1 {
		t.Fatalf("%d sends, want 1 (u2 skipped)", n)
	}
	got := map[string]string{}
	for dl, err := range e.m.Deliveries(context.Background(), distribution.DeliveryFilter{DistributionID: e.d.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		got[string(dl.State)] += dl.Reason
	}
	if diff := cmp.Diff(map[string]string{"sent": "", "skipped": "opted out of sms"}, got); diff != "" {
		t.Errorf("deliveries by state (-want +got):\n%s", diff)
	}
}
