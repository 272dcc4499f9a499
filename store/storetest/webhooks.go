package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/store"
)

// runWebhooks checks intercom.WebhookStore, for stores that implement it
// (an optional interface: the suite skips it for the others).
func runWebhooks(t *testing.T, newStore func(t *testing.T) store.Store) {
	webhooks := func(t *testing.T) (store.Store, intercom.WebhookStore) {
		st := newStore(t)
		ws, ok := st.(intercom.WebhookStore)
		if !ok {
			t.Skip("the store does not implement intercom.WebhookStore")
		}
		return st, ws
	}
	t.Run("Claims", func(t *testing.T) { t.Parallel(); testWebhookClaims(t, webhooks) })
	t.Run("ConcurrentClaims", func(t *testing.T) { t.Parallel(); testWebhookConcurrentClaims(t, webhooks) })
	t.Run("ContactState", func(t *testing.T) { t.Parallel(); testWebhookContactState(t, webhooks) })
	t.Run("ContactLock", func(t *testing.T) { t.Parallel(); testWebhookContactLock(t, webhooks) })
	t.Run("Prune", func(t *testing.T) { t.Parallel(); testWebhookPrune(t, webhooks) })
}

type webhookStores func(t *testing.T) (store.Store, intercom.WebhookStore)

var hookAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func claim(t *testing.T, ws intercom.WebhookStore, id string, now time.Time, want intercom.ClaimResult) {
	t.Helper()
	got, err := ws.ClaimNotification(context.Background(), id, now, intercom.WebhookClaimLease)
	if err != nil {
		t.Fatalf("ClaimNotification(%s at %v): %v", id, now, err)
	}
	if got != want {
		t.Errorf("ClaimNotification(%s at %v) = %s, want %s", id, now, got, want)
	}
}

// testWebhookClaims: a claim is exclusive while its lease runs; a failed
// handler releases it; a handled id stays handled.
func testWebhookClaims(t *testing.T, webhooks webhookStores) {
	ctx := context.Background()
	_, ws := webhooks(t)
	lease := intercom.WebhookClaimLease
	claim(t, ws, "notif_1", hookAt, intercom.Claimed)
	claim(t, ws, "notif_1", hookAt.Add(lease/2), intercom.InFlight)
	// The handler failed: a redelivery is handled.
	if err := ws.FinishNotification(ctx, "notif_1", false, hookAt.Add(lease/2)); err != nil {
		t.Fatal(err)
	}
	claim(t, ws, "notif_1", hookAt.Add(lease/2), intercom.Claimed)
	// The handler died (no Finish): the claim lapses with its lease.
	claim(t, ws, "notif_1", hookAt.Add(lease/2+lease-time.Second), intercom.InFlight)
	claim(t, ws, "notif_1", hookAt.Add(2*lease), intercom.Claimed)
	if err := ws.FinishNotification(ctx, "notif_1", true, hookAt.Add(2*lease)); err != nil {
		t.Fatal(err)
	}
	claim(t, ws, "notif_1", hookAt.Add(2*lease), intercom.AlreadyHandled)
	claim(t, ws, "notif_1", hookAt.Add(48*time.Hour), intercom.AlreadyHandled)
	// A late Finish of a lapsed claim does not undo the handled record.
	if err := ws.FinishNotification(ctx, "notif_1", false, hookAt.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	claim(t, ws, "notif_1", hookAt.Add(48*time.Hour), intercom.AlreadyHandled)
	claim(t, ws, "notif_2", hookAt, intercom.Claimed)
}

// testWebhookConcurrentClaims: of many handlers claiming one id at once,
// one gets it.
func testWebhookConcurrentClaims(t *testing.T, webhooks webhookStores) {
	ctx := context.Background()
	_, ws := webhooks(t)
	const n = 16
	results := make(chan intercom.ClaimResult, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := ws.ClaimNotification(ctx, "notif_race", hookAt, intercom.WebhookClaimLease)
			if err != nil {
				t.Error(err)
			}
			results <- r
		})
	}
	wg.Wait()
	close(results)
	claimed := 0
	for r := range results {
		if r == intercom.Claimed {
			claimed++
		} else if r != intercom.InFlight {
			t.Errorf("a concurrent claim got %s, want claimed or in_flight", r)
		}
	}
	if claimed != 1 {
		t.Errorf("%d of %d concurrent claims succeeded, want 1", claimed, n)
	}
}

// testWebhookContactState: the state starts zero, fn's result is stored,
// an error stores nothing and comes back, and fn may write customers.
func testWebhookContactState(t *testing.T, webhooks webhookStores) {
	ctx := context.Background()
	st, ws := webhooks(t)
	want := intercom.ContactState{UpdatedAt: hookAt, SourceID: "u1"}
	if err := ws.UpdateContactState(ctx, "c1", func(cur intercom.ContactState) (intercom.ContactState, error) {
		if cur != (intercom.ContactState{}) {
			t.Errorf("state of an unknown contact = %+v, want zero", cur)
		}
		// fn writes a customer while the contact is locked.
		if _, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: "u1"}}, customer.UpsertOptions{}); err != nil {
			return cur, err
		}
		return want, nil
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := ws.UpdateContactState(ctx, "c1", func(cur intercom.ContactState) (intercom.ContactState, error) {
		if !cur.UpdatedAt.Equal(want.UpdatedAt) || cur.SourceID != want.SourceID || !cur.DeletedAt.IsZero() {
			t.Errorf("stored state = %+v, want %+v", cur, want)
		}
		return intercom.ContactState{SourceID: "other"}, boom
	}); !errors.Is(err, boom) {
		t.Errorf("UpdateContactState with a failing fn = %v, want its error", err)
	}
	if err := ws.UpdateContactState(ctx, "c1", func(cur intercom.ContactState) (intercom.ContactState, error) {
		if cur.SourceID != "u1" {
			t.Errorf("a failed fn changed the state: %+v", cur)
		}
		cur.DeletedAt = hookAt.Add(time.Hour)
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := ws.UpdateContactState(ctx, "c1", func(cur intercom.ContactState) (intercom.ContactState, error) {
		if !cur.DeletedAt.Equal(hookAt.Add(time.Hour)) {
			t.Errorf("DeletedAt = %v, want %v", cur.DeletedAt, hookAt.Add(time.Hour))
		}
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	if c, err := st.GetCustomer(ctx, "u1"); err != nil || c.SourceID != "u1" {
		t.Errorf("the customer fn wrote: %+v, %v", c, err)
	}
}

// testWebhookContactLock: concurrent read-modify-writes of one contact's
// state lose nothing (they are serialized); other contacts do not wait.
func testWebhookContactLock(t *testing.T, webhooks webhookStores) {
	ctx := context.Background()
	_, ws := webhooks(t)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := "c_shared"
			if i%5 == 0 {
				id = fmt.Sprintf("c_other_%d", i)
			}
			err := ws.UpdateContactState(ctx, id, func(cur intercom.ContactState) (intercom.ContactState, error) {
				if cur.UpdatedAt.IsZero() {
					cur.UpdatedAt = hookAt
				}
				for range 10 {
					runtime.Gosched() // let others read the same state, if they can
				}
				cur.UpdatedAt = cur.UpdatedAt.Add(time.Second)
				return cur, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := ws.UpdateContactState(ctx, "c_shared", func(cur intercom.ContactState) (intercom.ContactState, error) {
		if want := hookAt.Add((n - n/5) * time.Second); !cur.UpdatedAt.Equal(want) {
			t.Errorf("after %d concurrent increments: %v, want %v (updates were lost)", n-n/5, cur.UpdatedAt, want)
		}
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// testWebhookPrune: pruning forgets handled ids and lapsed claims older
// than the cutoff, and deleted contacts, and keeps the rest.
func testWebhookPrune(t *testing.T, webhooks webhookStores) {
	ctx := context.Background()
	_, ws := webhooks(t)
	day := 24 * time.Hour
	for _, n := range []struct {
		id string
		at time.Time
	}{{"old", hookAt}, {"new", hookAt.Add(10 * day)}} {
		claim(t, ws, n.id, n.at, intercom.Claimed)
		if err := ws.FinishNotification(ctx, n.id, true, n.at); err != nil {
			t.Fatal(err)
		}
	}
	claim(t, ws, "lapsed", hookAt, intercom.Claimed)
	set := func(id string, s intercom.ContactState) {
		if err := ws.UpdateContactState(ctx, id, func(intercom.ContactState) (intercom.ContactState, error) { return s, nil }); err != nil {
			t.Fatal(err)
		}
	}
	set("c_deleted", intercom.ContactState{UpdatedAt: hookAt, SourceID: "u1", DeletedAt: hookAt})
	set("c_deleted_lately", intercom.ContactState{UpdatedAt: hookAt, SourceID: "u2", DeletedAt: hookAt.Add(10 * day)})
	set("c_live", intercom.ContactState{UpdatedAt: hookAt, SourceID: "u3"})

	n, err := ws.PruneWebhookState(ctx, hookAt.Add(7*day))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("PruneWebhookState removed %d records, want 3 (old, lapsed, c_deleted)", n)
	}
	now := hookAt.Add(11 * day)
	claim(t, ws, "old", now, intercom.Claimed) // forgotten
	claim(t, ws, "new", now, intercom.AlreadyHandled)
	claim(t, ws, "lapsed", now, intercom.Claimed)
	for id, want := range map[string]string{"c_deleted": "", "c_deleted_lately": "u2", "c_live": "u3"} {
		if err := ws.UpdateContactState(ctx, id, func(cur intercom.ContactState) (intercom.ContactState, error) {
			if cur.SourceID != want {
				t.Errorf("after pruning, %s has source id %q, want %q", id, cur.SourceID, want)
			}
			return cur, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
