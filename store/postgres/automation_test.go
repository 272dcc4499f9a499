package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestEventCustomerMetadataTypes checks that an event's customer data keeps
// the Go types of its metadata (dates, datetimes, geopoints), as customers
// do, and that a ProcessedAt set on insert is stored.
func TestEventCustomerMetadataTypes(t *testing.T) {
	t.Parallel()
	st := postgres.New(newPool(t))
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	meta := customer.Metadata{
		"plan":   "pro",
		"born":   customer.Date{Year: 1990, Month: 5, Day: 17},
		"seen":   at,
		"where":  customer.GeoPoint{Lat: 52.2, Lng: 21},
		"nested": map[string]any{"a": 1.0},
	}
	e := distribution.Event{ID: "evt_m", Type: distribution.EventPublication, CustomerID: "u1", At: at,
		Customer: &customer.Customer{SourceID: "u1", Name: "Ann", Metadata: meta},
		Voucher:  &distribution.EventVoucher{Code: "C"}, ProcessedAt: at.Add(time.Minute)}
	if ok, err := st.InsertEvent(ctx, e); err != nil || !ok {
		t.Fatalf("InsertEvent = %v, %v", ok, err)
	}
	got, err := st.GetEvent(ctx, "evt_m")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta, got.Customer.Metadata); diff != "" {
		t.Errorf("customer metadata (-want +got):\n%s", diff)
	}
	if got.Customer.Name != "Ann" || !got.ProcessedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("GetEvent = %+v", got)
	}
	for e, err := range st.UnprocessedEvents(ctx) {
		t.Errorf("UnprocessedEvents yielded %v, %v; want nothing (the event was inserted processed)", e.ID, err)
	}
}

// TestReserveSendAcrossReplicas checks that reservations made through
// two Stores on separate pools (two replicas) never both pass a cap.
func TestReserveSendAcrossReplicas(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	a := postgres.New(openPool(t, testDSN(t), schema, 4))
	b := postgres.New(openPool(t, testDSN(t), schema, 4))
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	caps := []distribution.FrequencyCap{{Max: 3, Window: time.Hour}}
	var passed atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := st.ReserveSend(ctx, distribution.SendRecord{DeliveryID: fmt.Sprintf("d%d", i), CustomerID: "c1", Channel: "inapp", At: at}, caps)
			if err != nil {
				t.Error(err)
			}
			if got == -1 {
				passed.Add(1)
			}
		}()
	}
	wg.Wait()
	if passed.Load() != 3 {
		t.Errorf("%d reservations passed a cap of 3", passed.Load())
	}
}

// TestPruneSendLog checks that pruning deletes only the old records, and
// that a pruned record no longer counts.
func TestPruneSendLog(t *testing.T) {
	t.Parallel()
	st := postgres.New(newPool(t))
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	caps := []distribution.FrequencyCap{{Max: 1, Window: 48 * time.Hour}}
	for i, off := range []time.Duration{0, 30 * time.Hour} {
		if got, err := st.ReserveSend(ctx, distribution.SendRecord{DeliveryID: fmt.Sprintf("d%d", i), CustomerID: fmt.Sprintf("c%d", i), At: at.Add(off)}, caps); err != nil || got != -1 {
			t.Fatalf("ReserveSend %d = %d, %v", i, got, err)
		}
	}
	n, err := st.PruneSendLog(ctx, at.Add(24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneSendLog = %d, %v; want 1", n, err)
	}
	// c0's record is gone, c1's stays.
	if got, _ := st.ReserveSend(ctx, distribution.SendRecord{DeliveryID: "d2", CustomerID: "c0", At: at.Add(time.Hour)}, caps); got != -1 {
		t.Errorf("c0 after pruning: %d, want room", got)
	}
	if got, _ := st.ReserveSend(ctx, distribution.SendRecord{DeliveryID: "d3", CustomerID: "c1", At: at.Add(31 * time.Hour)}, caps); got != 0 {
		t.Errorf("c1 after pruning: %d, want capped", got)
	}
}

// TestSummaryGoesWithCustomer checks that a deleted customer's orders
// and redemptions go with it (ON DELETE CASCADE).
func TestSummaryGoesWithCustomer(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	st := postgres.New(pool)
	ctx := context.Background()
	cs, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: "u1"}}, customer.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordOrder(ctx, cs[0].ID, distribution.OrderRecord{ID: "o1", Status: distribution.OrderPaid, Amount: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordRedemption(ctx, cs[0].ID, distribution.RedemptionRecord{ID: "r1", Result: distribution.RedemptionSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCustomer(ctx, cs[0].ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM redemptions)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d order and redemption rows left after deleting their customer", n)
	}
	if _, err := st.RecordOrder(ctx, cs[0].ID, distribution.OrderRecord{ID: "o2"}); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("RecordOrder(deleted customer) = %v, want ErrNotFound", err)
	}
}

// TestAutomaticDistributionOnPostgres runs an automatic distribution
// through the Manager on PostgreSQL: a paid order sends once, a repeated
// event is ignored, and the customer's summary is stored.
func TestAutomaticDistributionOnPostgres(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "u1", Name: "Ann"}))
	t.Cleanup(srv.Close)
	st := postgres.New(pool)
	codes := postgres.NewCodes(pool, nil)
	m, err := distribution.NewManager(distribution.Config{
		Store: st, Codes: codes, Intercom: srv.Client(), AdminID: srv.AdminID(),
		Clock:         distributiontest.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		FrequencyCaps: []distribution.FrequencyCap{{Max: 5, Window: 24 * time.Hour}},
		Limits:        distribution.Limits{Messages: distribution.Limit{Max: 10, Period: distribution.PeriodDay}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1", Name: "Ann"}, customer.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	camp, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "Thanks", Codes: []string{"THANKS-1", "THANKS-2"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name: "Thanks", Mode: distribution.Automatic, Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Order {{order.id}}: {{voucher.code}}"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Activate(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	paid := distribution.Event{ID: "evt-1", Type: distribution.EventOrderPaid, CustomerID: "u1", Order: &distribution.Order{ID: "ord-1", Amount: 49.9}}
	for range 2 {
		if err := m.HandleEvent(ctx, paid); err != nil {
			t.Fatal(err)
		}
	}
	var bodies []string
	for _, msg := range srv.Messages() {
		bodies = append(bodies, msg.Body)
	}
	if diff := cmp.Diff([]string{"Order ord-1: THANKS-1"}, bodies); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	c, err := m.Customer(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Summary.Orders.TotalCount != 1 || c.Summary.Orders.TotalAmount != 49.9 {
		t.Errorf("summary = %+v", c.Summary.Orders)
	}
	e, err := st.GetEvent(ctx, "evt-1")
	if err != nil || e.ProcessedAt.IsZero() || e.ResolvedCustomerID != c.ID {
		t.Errorf("stored event = %+v, %v; want processed, resolved to %s", e, err, c.ID)
	}
	var sends, usage int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM send_log), (SELECT coalesce(sum(n), 0) FROM usage_counters WHERE meter LIKE 'messages/%')`).Scan(&sends, &usage); err != nil {
		t.Fatal(err)
	}
	if sends != 1 || usage != 1 {
		t.Errorf("send_log has %d rows and the messages counter is %d; want 1 and 1", sends, usage)
	}
}
