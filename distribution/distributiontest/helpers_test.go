package distributiontest_test

import (
	"context"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/store"
)

// managerEnv is a Manager with an automatic distribution on order paid
// that sends through a recording "sms" channel, and customers u1, u2.
type managerEnv struct {
	t   *testing.T
	m   *distribution.Manager
	sms *distributiontest.Channel
	clk *distributiontest.FakeClock
	d   distribution.Distribution
}

func newManagerEnv(t *testing.T) *managerEnv {
	t.Helper()
	ctx := context.Background()
	e := &managerEnv{t: t, sms: distributiontest.NewChannel("sms"), clk: distributiontest.NewFakeClock(time.Time{})}
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Clock: e.clk, Channels: []distribution.Channel{e.sms}})
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	for _, id := range []string{"u1", "u2"} {
		if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: id}, customer.UpsertOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{Name: "thanks", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "thanks"}}})
	if err != nil {
		t.Fatal(err)
	}
	if e.d, err = m.Activate(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *managerEnv) event(id, customerID string) {
	e.t.Helper()
	if err := e.m.HandleEvent(context.Background(), distribution.Event{ID: id, Type: distribution.EventOrderPaid,
		CustomerID: customerID, Order: &distribution.Order{ID: id}}); err != nil {
		e.t.Fatal(err)
	}
}
