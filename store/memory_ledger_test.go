package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/internal/ids"
)

// The ledger's own id codec matches distribution.DeliveryID.
func TestDeliveryIDCodec(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		k := distribution.DeliveryKey{DistributionID: ids.New("distr"), CustomerID: fmt.Sprint("c", rnd.Uint64()),
			TriggerKey: distribution.ManualTrigger, Channel: "intercom_inapp"}
		if i%2 == 1 {
			k.TriggerKey = fmt.Sprint("evt_", rnd.Uint64())
		}
		h := keyHash(k.DistributionID, k.CustomerID, k.TriggerKey, k.Channel)
		id := distribution.DeliveryID(k)
		if got := formatDeliveryID(h); got != id {
			t.Fatalf("formatDeliveryID(%+v) = %q, want %q", k, got, id)
		}
		if back, ok := parseDeliveryID(id); !ok || back != h {
			t.Fatalf("parseDeliveryID(%q) = %x, %v; want %x", id, back, ok, h)
		}
	}
	id := distribution.DeliveryID(distribution.DeliveryKey{DistributionID: "d", CustomerID: "c", TriggerKey: "t", Channel: "x"})
	last := id[len(id)-1]
	padded := b32digits[(b32values[last]|1)&31] // a bit past the 128th
	for _, bad := range []string{"", "dlv_", id[:len(id)-1], id + "0", "dlx_" + id[4:], "dlv_" + id[4:29] + "U", id[:len(id)-1] + string(padded)} {
		if h, ok := parseDeliveryID(bad); ok {
			t.Errorf("parseDeliveryID(%q) = %x, true; want false", bad, h)
		}
	}
}

// sameTime compares times by instant and location, as a row must give
// them back.
var sameTime = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) && a.Location() == b.Location() })

// Values a compact row cannot hold go aside and come back unchanged.
func TestMemoryLedgerOddValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, paris)
	canon := func(dist, cust, ch string) distribution.Delivery {
		k := distribution.DeliveryKey{DistributionID: dist, CustomerID: cust, TriggerKey: distribution.ManualTrigger, Channel: ch}
		return distribution.Delivery{ID: distribution.DeliveryID(k), DistributionID: dist, CustomerID: cust, TriggerKey: k.TriggerKey,
			Channel: ch, State: distribution.DeliveryScheduled, CreatedAt: at, UpdatedAt: at.UTC()}
	}
	stolen := canon("distr_1", "cust_b", "email")
	stolen.ID = canon("distr_1", "cust_other", "email").ID // a DeliveryID, of another key
	custom := canon("distr_1", "cust_c", "email")
	custom.ID = "my-own-id"
	tests := []struct {
		name   string
		insert distribution.Delivery
		update func(d *distribution.Delivery)
	}{
		{"canonical", canon("distr_1", "cust_a", "email"), func(d *distribution.Delivery) {
			d.State, d.Attempts, d.Code, d.PublicationID = distribution.DeliverySent, 1, "CODE-1", ids.New("pub")
			d.ProviderMessageID, d.SentAt = "msg_1", at.Add(time.Second)
		}},
		{"id of another key", stolen, func(d *distribution.Delivery) {
			d.State, d.Reason, d.ReasonDetail = distribution.DeliverySkipped, distribution.ReasonConsentMissing, "cnst_1"
		}},
		{"own id", custom, func(d *distribution.Delivery) {
			d.State, d.PublicationID, d.Attempts = distribution.DeliveryFailed, "pub-from-elsewhere", 1<<40
			d.Reason = "boom"
		}},
		{"far times", canon("distr_1", "cust_d", "email"), func(d *distribution.Delivery) {
			d.NextAttemptAt = time.Date(3000, 1, 1, 0, 0, 0, 1, time.UTC)
			d.UpdatedAt = time.Date(1, 1, 1, 0, 0, 0, 1, paris)
		}},
		{"own state", canon("distr_2", "cust_a", "sms"), func(d *distribution.Delivery) {
			d.State, d.NextAttemptAt = "parked", at.Add(time.Hour).In(time.FixedZone("X", -7200))
		}},
	}
	m := NewMemory()
	for _, tt := range tests {
		if _, err := m.InsertDeliveries(ctx, []distribution.Delivery{tt.insert}); err != nil {
			t.Fatalf("%s: insert: %v", tt.name, err)
		}
	}
	for _, tt := range tests {
		got, err := m.GetDelivery(ctx, tt.insert.ID)
		if diff := cmp.Diff(tt.insert, got, sameTime); err != nil || diff != "" {
			t.Fatalf("%s: GetDelivery after insert: %v (-want +got):\n%s", tt.name, err, diff)
		}
		want := tt.insert
		tt.update(&want)
		if err := m.UpdateDelivery(ctx, want, distribution.DeliveryScheduled); err != nil {
			t.Fatalf("%s: update: %v", tt.name, err)
		}
		got, err = m.GetDelivery(ctx, tt.insert.ID)
		if diff := cmp.Diff(want, got, sameTime); err != nil || diff != "" {
			t.Fatalf("%s: GetDelivery after update: %v (-want +got):\n%s", tt.name, err, diff)
		}
		// And back to plain values.
		plain := want
		plain.State, plain.PublicationID, plain.Attempts, plain.UpdatedAt, plain.NextAttemptAt = distribution.DeliveryScheduled, "", 2, at, time.Time{}
		plain.Reason, plain.ReasonDetail = "", ""
		if err := m.UpdateDelivery(ctx, plain, want.State); err != nil {
			t.Fatalf("%s: update back: %v", tt.name, err)
		}
		if got, err = m.GetDelivery(ctx, tt.insert.ID); err != nil || cmp.Diff(plain, got, sameTime) != "" {
			t.Fatalf("%s: GetDelivery after plain update: %v (-want +got):\n%s", tt.name, err, cmp.Diff(plain, got, sameTime))
		}
	}
	// The canonical id of the key whose id was taken is not that row's.
	if _, err := m.GetDelivery(ctx, distribution.DeliveryID(stolen.Key())); !errors.Is(err, distribution.ErrNotFound) {
		t.Fatalf("GetDelivery(DeliveryID(key of a row with another id)) = %v, want ErrNotFound", err)
	}
	// The id a row took cannot be reused by its own key.
	other := canon("distr_1", "cust_other", "email")
	if _, err := m.InsertDeliveries(ctx, []distribution.Delivery{other}); !errors.Is(err, distribution.ErrConflict) {
		t.Fatalf("insert with a taken id = %v, want ErrConflict", err)
	}
	var list []string
	for d, err := range m.Deliveries(ctx, distribution.DeliveryFilter{After: custom.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, d.CustomerID)
	}
	if diff := cmp.Diff([]string{"cust_d", "cust_a"}, list); diff != "" {
		t.Errorf("Deliveries after an own id (-want +got):\n%s", diff)
	}
}

// A row stays compact: what the fan-out memory target rests on.
func TestDeliveryRowSize(t *testing.T) {
	t.Parallel()
	if n := unsafe.Sizeof(dlvRow{}); n > 152 {
		t.Errorf("a ledger row takes %d bytes, want at most 152", n)
	}
}

// A batch naming one delivery twice is refused whole, short or long.
func TestMemoryUpdateDeliveriesRepeated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, n := range []int{3, 40} {
		m := NewMemory()
		var ds []distribution.Delivery
		for i := range n {
			k := distribution.DeliveryKey{DistributionID: "distr_1", CustomerID: fmt.Sprint("cust_", i), TriggerKey: distribution.ManualTrigger, Channel: "email"}
			ds = append(ds, distribution.Delivery{ID: distribution.DeliveryID(k), DistributionID: k.DistributionID, CustomerID: k.CustomerID,
				TriggerKey: k.TriggerKey, Channel: k.Channel, State: distribution.DeliveryScheduled})
		}
		if _, err := m.InsertDeliveries(ctx, ds); err != nil {
			t.Fatal(err)
		}
		batch := append([]distribution.Delivery(nil), ds...)
		batch = append(batch, ds[1])
		for i := range batch {
			batch[i].State = distribution.DeliverySending
		}
		_, err := m.UpdateDeliveries(ctx, batch, distribution.DeliveryScheduled)
		if !errors.Is(err, distribution.ErrInvalid) || err.Error() != fmt.Sprintf("deliveries[%d]: %s repeats deliveries[1]: %v", n, ds[1].ID, distribution.ErrInvalid) {
			t.Fatalf("%d deliveries, one repeated: %v, want ErrInvalid naming both", n+1, err)
		}
		if got, _ := m.GetDelivery(ctx, ds[0].ID); got.State != distribution.DeliveryScheduled {
			t.Fatalf("%d deliveries: a refused batch changed a delivery to %s", n+1, got.State)
		}
	}
}
