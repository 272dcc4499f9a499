package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store"
)

func runDistributions(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cmpOpts := cmp.Options{cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })}
	dist := func(id, name string) distribution.Distribution {
		return distribution.Distribution{
			ID: id, Name: name, Mode: distribution.Manual, Status: distribution.StatusDraft,
			Audience: distribution.Audience{SegmentID: "seg_1"},
			Consents: distribution.ConsentPolicy{Required: []string{"cnst_1"}},
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Hi {{customer.name}}"}},
			Campaign: "camp_1", CreatedAt: at, UpdatedAt: at,
		}
	}
	delivery := func(distID, custID, channel string) distribution.Delivery {
		k := distribution.DeliveryKey{DistributionID: distID, CustomerID: custID, TriggerKey: distribution.ManualTrigger, Channel: channel}
		return distribution.Delivery{
			ID: distribution.DeliveryID(k), DistributionID: distID, CustomerID: custID, TriggerKey: distribution.ManualTrigger,
			Channel: channel, State: distribution.DeliveryScheduled, CreatedAt: at, UpdatedAt: at,
		}
	}
	collect := func(t *testing.T, st store.Store, f distribution.DeliveryFilter) []distribution.Delivery {
		t.Helper()
		var out []distribution.Delivery
		for d, err := range st.Deliveries(ctx, f) {
			if err != nil {
				t.Fatalf("Deliveries(%+v): %v", f, err)
			}
			out = append(out, d)
		}
		return out
	}
	ids := func(ds []distribution.Delivery) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.CustomerID + "/" + d.Channel
		}
		return out
	}

	t.Run("DistributionCreateGetList", func(t *testing.T) {
		st := newStore(t)
		d := dist("distr_1", "Welcome")
		d.Revision = 42 // ignored: a new distribution is revision 1
		if err := st.CreateDistribution(ctx, d); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetDistribution(ctx, "distr_1")
		if err != nil {
			t.Fatal(err)
		}
		want := d
		want.Revision = 1
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Fatalf("GetDistribution (-want +got):\n%s", diff)
		}
		got.Channels[0].Body = "changed" // a copy
		if again, _ := st.GetDistribution(ctx, "distr_1"); again.Channels[0].Body != d.Channels[0].Body {
			t.Fatal("GetDistribution returned shared memory")
		}
		if err := st.CreateDistribution(ctx, dist("distr_1", "Other")); !errors.Is(err, distribution.ErrConflict) {
			t.Fatalf("duplicate id = %v, want ErrConflict", err)
		}
		if err := st.CreateDistribution(ctx, dist("distr_2", "Welcome")); !errors.Is(err, distribution.ErrNameTaken) || !errors.Is(err, distribution.ErrConflict) {
			t.Fatalf("duplicate name = %v, want ErrNameTaken (and ErrConflict)", err)
		}
		if _, err := st.GetDistribution(ctx, "distr_nope"); !errors.Is(err, distribution.ErrNotFound) {
			t.Fatalf("missing = %v, want ErrNotFound", err)
		}
		d2 := dist("distr_2", "Second")
		d2.Status = distribution.StatusScheduled
		if err := st.CreateDistribution(ctx, d2); err != nil {
			t.Fatal(err)
		}
		all, err := st.ListDistributions(ctx)
		if err != nil || len(all) != 2 || all[0].ID != "distr_1" || all[1].ID != "distr_2" {
			t.Fatalf("ListDistributions() = %v, %v; want distr_1, distr_2", all, err)
		}
		sched, err := st.ListDistributions(ctx, distribution.StatusScheduled, distribution.StatusSending)
		if err != nil || len(sched) != 1 || sched[0].ID != "distr_2" {
			t.Fatalf("ListDistributions(scheduled, sending) = %v, %v; want distr_2", sched, err)
		}
	})

	t.Run("DistributionCompareAndSet", func(t *testing.T) {
		st := newStore(t)
		if err := st.CreateDistribution(ctx, dist("distr_1", "A")); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateDistribution(ctx, dist("distr_2", "B")); err != nil {
			t.Fatal(err)
		}
		d, _ := st.GetDistribution(ctx, "distr_1")
		d.Status = distribution.StatusScheduled
		rev, err := st.UpdateDistribution(ctx, d)
		if err != nil || rev != 2 {
			t.Fatalf("UpdateDistribution = %d, %v; want revision 2", rev, err)
		}
		// The same stale revision loses.
		d.Status = distribution.StatusCanceled
		if _, err := st.UpdateDistribution(ctx, d); !errors.Is(err, distribution.ErrConflict) {
			t.Fatalf("stale revision = %v, want ErrConflict", err)
		}
		if got, _ := st.GetDistribution(ctx, "distr_1"); got.Status != distribution.StatusScheduled || got.Revision != 2 {
			t.Fatalf("after a lost update: %s rev %d, want scheduled rev 2", got.Status, got.Revision)
		}
		d.Revision = 2
		d.Name = "B"
		if _, err := st.UpdateDistribution(ctx, d); !errors.Is(err, distribution.ErrNameTaken) {
			t.Fatalf("rename to a taken name = %v, want ErrNameTaken", err)
		}
		d.Name = "A2"
		if _, err := st.UpdateDistribution(ctx, d); err != nil {
			t.Fatalf("rename: %v", err)
		}
		// The old name is free again.
		if err := st.CreateDistribution(ctx, dist("distr_3", "A")); err != nil {
			t.Fatalf("reusing a released name: %v", err)
		}
		missing := dist("distr_nope", "x")
		if _, err := st.UpdateDistribution(ctx, missing); !errors.Is(err, distribution.ErrNotFound) {
			t.Fatalf("missing = %v, want ErrNotFound", err)
		}

		// Concurrent writers of one revision: exactly one wins.
		cur, _ := st.GetDistribution(ctx, "distr_2")
		var wg sync.WaitGroup
		wins := make(chan int, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := cur
				c.Purpose = fmt.Sprint(i)
				if _, err := st.UpdateDistribution(ctx, c); err == nil {
					wins <- i
				}
			}()
		}
		wg.Wait()
		close(wins)
		if n := len(wins); n != 1 {
			t.Fatalf("%d concurrent updates of one revision won, want 1", n)
		}
	})

	t.Run("Consents", func(t *testing.T) {
		st := newStore(t)
		c := distribution.Consent{ID: "cnst_1", Name: "Newsletter", Description: "d", Category: "marketing", CreatedAt: at, UpdatedAt: at}
		if err := st.CreateConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateConsent(ctx, distribution.Consent{ID: "cnst_2", Name: "Newsletter"}); !errors.Is(err, distribution.ErrNameTaken) {
			t.Fatalf("duplicate name = %v, want ErrNameTaken", err)
		}
		if err := st.CreateConsent(ctx, distribution.Consent{ID: "cnst_1", Name: "Other"}); !errors.Is(err, distribution.ErrConflict) {
			t.Fatalf("duplicate id = %v, want ErrConflict", err)
		}
		if err := st.CreateConsent(ctx, distribution.Consent{ID: "cnst_2", Name: "SMS"}); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetConsent(ctx, "cnst_1")
		if diff := cmp.Diff(c, got, cmpOpts); err != nil || diff != "" {
			t.Fatalf("GetConsent: %v (-want +got):\n%s", err, diff)
		}
		c.Name = "SMS"
		if err := st.UpdateConsent(ctx, c); !errors.Is(err, distribution.ErrNameTaken) {
			t.Fatalf("rename to a taken name = %v, want ErrNameTaken", err)
		}
		c.Name = "News"
		if err := st.UpdateConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
		list, err := st.ListConsents(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "News" || list[1].ID != "cnst_2" {
			t.Fatalf("ListConsents = %+v, %v", list, err)
		}
		if err := st.DeleteConsent(ctx, "cnst_1"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetConsent(ctx, "cnst_1"); !errors.Is(err, distribution.ErrNotFound) {
			t.Fatalf("deleted consent = %v, want ErrNotFound", err)
		}
		if err := st.DeleteConsent(ctx, "cnst_1"); !errors.Is(err, distribution.ErrNotFound) {
			t.Fatalf("delete twice = %v, want ErrNotFound", err)
		}
		if err := st.UpdateConsent(ctx, c); !errors.Is(err, distribution.ErrNotFound) {
			t.Fatalf("update deleted = %v, want ErrNotFound", err)
		}
	})

	t.Run("DeliveriesUniqueKey", func(t *testing.T) {
		st := newStore(t)
		batch := []distribution.Delivery{
			delivery("distr_1", "cust_a", distribution.IntercomInApp),
			delivery("distr_1", "cust_a", distribution.IntercomEmail),
			delivery("distr_1", "cust_b", distribution.IntercomInApp),
		}
		n, err := st.InsertDeliveries(ctx, batch)
		if err != nil || n != 3 {
			t.Fatalf("InsertDeliveries = %d, %v; want 3", n, err)
		}
		// A repeated batch (a resumed fan-out) inserts only what is new and
		// leaves existing rows as they are.
		sent := batch[0]
		sent.State, sent.Code, sent.ProviderMessageID, sent.Attempts = distribution.DeliverySent, "CODE", "msg_1", 1
		if err := st.UpdateDelivery(ctx, sent, distribution.DeliveryScheduled); err != nil {
			t.Fatal(err)
		}
		again := append(append([]distribution.Delivery(nil), batch...), delivery("distr_1", "cust_c", distribution.IntercomInApp))
		n, err = st.InsertDeliveries(ctx, again)
		if err != nil || n != 1 {
			t.Fatalf("InsertDeliveries again = %d, %v; want 1", n, err)
		}
		got, err := st.GetDelivery(ctx, sent.ID)
		if diff := cmp.Diff(sent, got, cmpOpts); err != nil || diff != "" {
			t.Fatalf("existing delivery changed by a repeated insert: %v (-want +got):\n%s", err, diff)
		}
		// Another trigger key is another delivery.
		other := delivery("distr_1", "cust_a", distribution.IntercomInApp)
		other.TriggerKey = "order_1"
		other.ID = distribution.DeliveryID(other.Key())
		if n, err := st.InsertDeliveries(ctx, []distribution.Delivery{other}); err != nil || n != 1 {
			t.Fatalf("insert with another trigger key = %d, %v; want 1", n, err)
		}
		if _, err := st.GetDelivery(ctx, "dlv_nope"); !errors.Is(err, distribution.ErrNotFound) {
			t.Fatalf("missing delivery = %v, want ErrNotFound", err)
		}
		bad := delivery("distr_1", "", distribution.IntercomInApp)
		if _, err := st.InsertDeliveries(ctx, []distribution.Delivery{delivery("distr_9", "cust_z", "x"), bad}); !errors.Is(err, distribution.ErrInvalid) {
			t.Fatalf("batch with an invalid row = %v, want ErrInvalid", err)
		}
		if got := collect(t, st, distribution.DeliveryFilter{DistributionID: "distr_9"}); len(got) != 0 {
			t.Fatalf("a failed batch stored %d rows, want 0 (atomic)", len(got))
		}
	})

	t.Run("DeliveriesCompareAndSet", func(t *testing.T) {
		st := newStore(t)
		d := delivery("distr_1", "cust_a", distribution.IntercomInApp)
		if _, err := st.InsertDeliveries(ctx, []distribution.Delivery{d}); err != nil {
			t.Fatal(err)
		}
		// Many workers race to claim one delivery: one wins.
		var wg sync.WaitGroup
		wins := make(chan struct{}, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := d
				c.State, c.Attempts = distribution.DeliverySending, 1
				if err := st.UpdateDelivery(ctx, c, distribution.DeliveryScheduled); err == nil {
					wins <- struct{}{}
				} else if !errors.Is(err, distribution.ErrConflict) {
					t.Errorf("losing claim = %v, want ErrConflict", err)
				}
			}()
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("%d workers claimed one delivery, want 1", len(wins))
		}
		moved := d
		moved.CustomerID = "cust_b"
		moved.State = distribution.DeliverySent
		if err := st.UpdateDelivery(ctx, moved, distribution.DeliverySending); err == nil {
			t.Fatal("UpdateDelivery changed the key fields")
		}
		missing := delivery("distr_1", "cust_nope", "x")
		if err := st.UpdateDelivery(ctx, missing, distribution.DeliveryScheduled); !errors.Is(err, distribution.ErrNotFound) {
			t.Fatalf("missing = %v, want ErrNotFound", err)
		}
	})

	t.Run("DeliveriesFilterAndCount", func(t *testing.T) {
		st := newStore(t)
		var batch []distribution.Delivery
		for _, c := range []string{"cust_a", "cust_b", "cust_c"} {
			for _, ch := range []string{distribution.IntercomInApp, distribution.IntercomEmail} {
				batch = append(batch, delivery("distr_1", c, ch))
			}
		}
		batch = append(batch, delivery("distr_2", "cust_a", distribution.IntercomInApp))
		if _, err := st.InsertDeliveries(ctx, batch); err != nil {
			t.Fatal(err)
		}
		set := func(i int, state distribution.DeliveryState, reason string) {
			d := batch[i]
			d.State, d.Reason = state, reason
			if err := st.UpdateDelivery(ctx, d, distribution.DeliveryScheduled); err != nil {
				t.Fatal(err)
			}
		}
		set(0, distribution.DeliverySkipped, "no codes left")
		set(1, distribution.DeliverySkipped, "no codes left")
		set(2, distribution.DeliveryFailed, "boom")
		set(3, distribution.DeliverySkipped, "customer has no email")

		for _, tc := range []struct {
			f    distribution.DeliveryFilter
			want []string
		}{
			{distribution.DeliveryFilter{DistributionID: "distr_1"}, []string{"cust_a/intercom_inapp", "cust_a/intercom_email", "cust_b/intercom_inapp", "cust_b/intercom_email", "cust_c/intercom_inapp", "cust_c/intercom_email"}},
			{distribution.DeliveryFilter{CustomerID: "cust_a"}, []string{"cust_a/intercom_inapp", "cust_a/intercom_email", "cust_a/intercom_inapp"}},
			{distribution.DeliveryFilter{DistributionID: "distr_1", Channel: distribution.IntercomEmail}, []string{"cust_a/intercom_email", "cust_b/intercom_email", "cust_c/intercom_email"}},
			{distribution.DeliveryFilter{DistributionID: "distr_1", States: []distribution.DeliveryState{distribution.DeliverySkipped, distribution.DeliveryFailed}}, []string{"cust_a/intercom_inapp", "cust_a/intercom_email", "cust_b/intercom_inapp", "cust_b/intercom_email"}},
			{distribution.DeliveryFilter{Reason: "no codes"}, []string{"cust_a/intercom_inapp", "cust_a/intercom_email"}},
			{distribution.DeliveryFilter{DistributionID: "distr_1", Limit: 2}, []string{"cust_a/intercom_inapp", "cust_a/intercom_email"}},
			{distribution.DeliveryFilter{DistributionID: "distr_1", After: batch[3].ID, Limit: 1}, []string{"cust_c/intercom_inapp"}},
		} {
			if diff := cmp.Diff(tc.want, ids(collect(t, st, tc.f))); diff != "" {
				t.Errorf("Deliveries(%+v) (-want +got):\n%s", tc.f, diff)
			}
		}
		cnt, err := st.CountDeliveries(ctx, "distr_1")
		if err != nil {
			t.Fatal(err)
		}
		want := distribution.DeliveryCounts{
			States: map[distribution.DeliveryState]int{distribution.DeliverySkipped: 3, distribution.DeliveryFailed: 1, distribution.DeliveryScheduled: 2},
			Reasons: map[distribution.DeliveryState]map[string]int{
				distribution.DeliverySkipped: {"no codes left": 2, "customer has no email": 1},
				distribution.DeliveryFailed:  {"boom": 1},
			},
		}
		if diff := cmp.Diff(want, cnt); diff != "" {
			t.Errorf("CountDeliveries (-want +got):\n%s", diff)
		}
	})
}
