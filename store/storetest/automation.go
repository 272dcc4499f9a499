package storetest

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
	"github.com/codedrop/codedrop/store"
)

// runAutomation checks distribution.AutomationStore: events, summaries,
// usage counters and the send log.
func runAutomation(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cmpOpts := cmp.Options{cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })}
	addCustomer := func(t *testing.T, st store.Store, src string) customer.Customer {
		t.Helper()
		out, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: src, Name: src, CreatedAt: at, UpdatedAt: at}}, customer.UpsertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}

	t.Run("Events", func(t *testing.T) {
		st := newStore(t)
		e := distribution.Event{ID: "evt_1", Type: distribution.EventOrderPaid, CustomerID: "u1", ResolvedCustomerID: "cust_1", At: at,
			Order:   &distribution.Order{ID: "o1", Status: "PAID", Amount: 12.5, Items: []distribution.OrderItem{{Name: "Shoe", Quantity: 2}}},
			Voucher: &distribution.EventVoucher{Code: "C"}}
		if _, err := st.GetEvent(ctx, "evt_1"); !errors.Is(err, distribution.ErrNotFound) {
			t.Fatalf("GetEvent(missing) = %v, want ErrNotFound", err)
		}
		ok, err := st.InsertEvent(ctx, e)
		if err != nil || !ok {
			t.Fatalf("InsertEvent = %v, %v; want inserted", ok, err)
		}
		e.Order.Items[0].Name = "changed by the caller"
		dup := e
		dup.Type = distribution.EventOrderCreated
		if ok, err := st.InsertEvent(ctx, dup); err != nil || ok {
			t.Fatalf("InsertEvent(same id) = %v, %v; want not inserted", ok, err)
		}
		got, err := st.GetEvent(ctx, "evt_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != distribution.EventOrderPaid || got.Order.Items[0].Name != "Shoe" || got.Order.Amount != 12.5 || got.Voucher.Code != "C" || !got.At.Equal(at) {
			t.Errorf("GetEvent = %+v (order %+v): want the first insert, unaffected by the caller's changes", got, got.Order)
		}
		got.Order.ID = "mutated"
		if again, _ := st.GetEvent(ctx, "evt_1"); again.Order.ID != "o1" {
			t.Errorf("GetEvent returned shared memory")
		}
		if _, err := st.InsertEvent(ctx, distribution.Event{ID: "evt_2", Type: distribution.EventSegmentEntered, Segment: &distribution.EventSegment{ID: "seg_1"}}); err != nil {
			t.Fatal(err)
		}
		unprocessed := func() []string {
			var out []string
			for e, err := range st.UnprocessedEvents(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, e.ID)
			}
			return out
		}
		if diff := cmp.Diff([]string{"evt_1", "evt_2"}, unprocessed()); diff != "" {
			t.Errorf("UnprocessedEvents (-want +got):\n%s", diff)
		}
		if err := st.MarkEventProcessed(ctx, "evt_1", at.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.GetEvent(ctx, "evt_1"); !got.ProcessedAt.Equal(at.Add(time.Second)) {
			t.Errorf("ProcessedAt = %v", got.ProcessedAt)
		}
		if diff := cmp.Diff([]string{"evt_2"}, unprocessed()); diff != "" {
			t.Errorf("UnprocessedEvents after marking (-want +got):\n%s", diff)
		}
		if err := st.MarkEventProcessed(ctx, "nope", at); !errors.Is(err, distribution.ErrNotFound) {
			t.Errorf("MarkEventProcessed(missing) = %v, want ErrNotFound", err)
		}
	})

	t.Run("EventInsertRace", func(t *testing.T) {
		st := newStore(t)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := st.InsertEvent(ctx, distribution.Event{ID: "evt_r", Type: distribution.EventOrderPaid})
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d concurrent inserts of one id succeeded, want 1", wins.Load())
		}
	})

	t.Run("Orders", func(t *testing.T) {
		st := newStore(t)
		c := addCustomer(t, st, "u1")
		day := func(d int) time.Time { return at.AddDate(0, 0, d) }
		steps := []struct {
			o    distribution.OrderRecord
			want customer.OrderSummary
		}{
			{distribution.OrderRecord{ID: "o1", Status: "CREATED", Amount: 10, CreatedAt: day(0), UpdatedAt: day(0)},
				customer.OrderSummary{TotalAmount: 10, TotalCount: 1, AverageAmount: 10, LastOrderAmount: 10, LastOrderDate: day(0)}},
			// The same order again, later and with a new amount: counted once,
			// its creation date kept.
			{distribution.OrderRecord{ID: "o1", Status: "PAID", Amount: 20, CreatedAt: day(1), UpdatedAt: day(1)},
				customer.OrderSummary{TotalAmount: 20, TotalCount: 1, AverageAmount: 20, LastOrderAmount: 20, LastOrderDate: day(0)}},
			{distribution.OrderRecord{ID: "o2", Status: "PAID", Amount: 40, CreatedAt: day(2), UpdatedAt: day(2)},
				customer.OrderSummary{TotalAmount: 60, TotalCount: 2, AverageAmount: 30, LastOrderAmount: 40, LastOrderDate: day(2)}},
			{distribution.OrderRecord{ID: "o2", Status: "CANCELED", Amount: 40, UpdatedAt: day(3)},
				customer.OrderSummary{TotalAmount: 20, TotalCount: 1, AverageAmount: 20, LastOrderAmount: 20, LastOrderDate: day(0)}},
		}
		for i, s := range steps {
			got, err := st.RecordOrder(ctx, c.ID, s.o)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if diff := cmp.Diff(s.want, got.Summary.Orders, cmpOpts); diff != "" {
				t.Errorf("step %d: returned summary (-want +got):\n%s", i, diff)
			}
			stored, _ := st.GetCustomer(ctx, c.ID)
			if diff := cmp.Diff(s.want, stored.Summary.Orders, cmpOpts); diff != "" {
				t.Errorf("step %d: stored summary (-want +got):\n%s", i, diff)
			}
		}
		// A profile write keeps the summary.
		if _, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: "u1", Name: "renamed"}}, customer.UpsertOptions{}); err != nil {
			t.Fatal(err)
		}
		if stored, _ := st.GetCustomer(ctx, c.ID); stored.Summary.Orders.TotalCount != 1 || stored.Name != "renamed" {
			t.Errorf("after a profile write: %+v", stored)
		}
		if _, err := st.RecordOrder(ctx, "cust_missing", distribution.OrderRecord{ID: "o"}); !errors.Is(err, distribution.ErrNotFound) {
			t.Errorf("RecordOrder(unknown customer) = %v, want ErrNotFound", err)
		}
	})

	t.Run("Redemptions", func(t *testing.T) {
		st := newStore(t)
		c := addCustomer(t, st, "u1")
		for _, r := range []distribution.RedemptionRecord{
			{ID: "r1", Result: distribution.RedemptionSucceeded, At: at},
			{ID: "r1", Result: distribution.RedemptionSucceeded, At: at}, // repeated: counted once
			{ID: "r2", Result: distribution.RedemptionSucceeded, At: at},
			{ID: "r2", Result: distribution.RedemptionRolledBack, At: at},
			{ID: "r3", Result: distribution.RedemptionFailed, At: at},
		} {
			if _, err := st.RecordRedemption(ctx, c.ID, r); err != nil {
				t.Fatal(err)
			}
		}
		stored, _ := st.GetCustomer(ctx, c.ID)
		want := customer.RedemptionSummary{TotalSucceeded: 2, TotalFailed: 1, TotalRolledBack: 1}
		if diff := cmp.Diff(want, stored.Summary.Redemptions); diff != "" {
			t.Errorf("redemptions (-want +got):\n%s", diff)
		}
		if _, err := st.RecordRedemption(ctx, "cust_missing", distribution.RedemptionRecord{ID: "r"}); !errors.Is(err, distribution.ErrNotFound) {
			t.Errorf("RecordRedemption(unknown customer) = %v, want ErrNotFound", err)
		}
	})

	t.Run("Usage", func(t *testing.T) {
		st := newStore(t)
		p1, p2 := at, at.Add(time.Hour)
		for i, want := range []int64{1, 2, 3} {
			if n, err := st.AddUsage(ctx, "messages/day", p1, 1, 3); err != nil || n != want {
				t.Fatalf("add %d: %d, %v; want %d", i, n, err, want)
			}
		}
		if n, err := st.AddUsage(ctx, "messages/day", p1, 1, 3); !errors.Is(err, distribution.ErrLimitExceeded) || n != 3 {
			t.Errorf("over the cap: %d, %v; want 3 and ErrLimitExceeded", n, err)
		}
		if n, err := st.AddUsage(ctx, "messages/day", p1, -1, 3); err != nil || n != 2 {
			t.Errorf("release: %d, %v; want 2", n, err)
		}
		if n, _ := st.AddUsage(ctx, "messages/day", p2, 5, 0); n != 5 {
			t.Errorf("another period, no cap: %d, want 5", n)
		}
		if n, _ := st.AddUsage(ctx, "api/day", p1, -4, 0); n != 0 {
			t.Errorf("release below zero: %d, want 0", n)
		}
		for _, c := range []struct {
			meter string
			p     time.Time
			want  int64
		}{{"messages/day", p1, 2}, {"messages/day", p2, 5}, {"api/day", p1, 0}, {"never", p1, 0}} {
			if n, err := st.Usage(ctx, c.meter, c.p); err != nil || n != c.want {
				t.Errorf("Usage(%s, %v) = %d, %v; want %d", c.meter, c.p, n, err, c.want)
			}
		}
		// Concurrent adds never pass the cap.
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := st.AddUsage(ctx, "race", p1, 1, 7); err == nil {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 7 {
			t.Errorf("%d concurrent adds passed a cap of 7", ok.Load())
		}
	})

	t.Run("SendLog", func(t *testing.T) {
		st := newStore(t)
		caps := []distribution.FrequencyCap{{Max: 2, Window: 24 * time.Hour}, {Max: 1, Window: time.Hour, Channel: "email"}}
		rec := func(dlv, cust, ch string, off time.Duration) distribution.SendRecord {
			return distribution.SendRecord{DeliveryID: dlv, CustomerID: cust, Channel: ch, At: at.Add(off)}
		}
		// The caller passes the caps of the record's channel.
		capsOf := func(ch string) []distribution.FrequencyCap {
			if ch == "email" {
				return caps
			}
			return caps[:1]
		}
		for _, s := range []struct {
			r    distribution.SendRecord
			want int
		}{
			{rec("d1", "c1", "email", 0), -1},
			{rec("d1", "c1", "email", time.Minute), -1}, // the same delivery again: no second record
			{rec("d2", "c1", "email", 30*time.Minute), 1},
			{rec("d3", "c1", "inapp", 30*time.Minute), -1},
			{rec("d4", "c1", "inapp", 2*time.Hour), 0}, // two in 24h
			{rec("d5", "c2", "inapp", 2*time.Hour), -1},
			{rec("d6", "c1", "email", 24*time.Hour), -1}, // d1 left the window
		} {
			got, err := st.ReserveSend(ctx, s.r, capsOf(s.r.Channel))
			if err != nil || got != s.want {
				t.Errorf("ReserveSend(%+v) = %d, %v; want %d", s.r, got, err, s.want)
			}
		}
		// Released records no longer count.
		if err := st.ReleaseSend(ctx, "d6"); err != nil {
			t.Fatal(err)
		}
		if err := st.ReleaseSend(ctx, "unknown"); err != nil {
			t.Errorf("ReleaseSend(unknown) = %v", err)
		}
		if got, _ := st.ReserveSend(ctx, rec("d7", "c1", "email", 24*time.Hour+time.Minute), caps); got != -1 {
			t.Errorf("after a release: %d, want room", got)
		}
		// Concurrent reservations for one customer never pass a cap.
		var ok atomic.Int32
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got, err := st.ReserveSend(ctx, rec(fmt.Sprintf("r%d", i), "c9", "inapp", 0), caps[:1]); err == nil && got == -1 {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 2 {
			t.Errorf("%d concurrent reservations passed a cap of 2", ok.Load())
		}
	})
}
