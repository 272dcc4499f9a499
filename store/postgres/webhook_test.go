package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestWebhookReplicas: two replicas (each its own pool, Store, Manager
// and webhook handler) share one database. Every notification delivered
// to both, at once and again afterwards, is handled once; notifications
// about one contact delivered out of order, across both, leave the newest
// data; every delivery is counted against the API limit in the shared
// usage counter.
func TestWebhookReplicas(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	dsn := testDSN(t)
	ctx := context.Background()
	const secret = "client-secret"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	var mu sync.Mutex
	handled := map[string]int{} // notification id -> host calls
	var handlers []*intercom.WebhookHandler
	var managers []*distribution.Manager
	for range 2 {
		// A small pool: UpdateContactState holds at most half of it.
		pool := openPool(t, dsn, schema, 4)
		m, err := distribution.NewManager(distribution.Config{Store: postgres.New(pool), Clock: distribution.NewFakeClock(t0)})
		if err != nil {
			t.Fatal(err)
		}
		cfg := m.WebhookConfig(secret)
		cfg.OnContact = func(ctx context.Context, ev intercom.ContactEvent) error {
			mu.Lock()
			defer mu.Unlock()
			handled[ev.Notification.ID]++
			return nil
		}
		h, err := intercom.NewWebhookHandler(cfg)
		if err != nil {
			t.Fatal(err)
		}
		handlers = append(handlers, h)
		managers = append(managers, m)
	}
	var deliveries sync.WaitGroup
	var count sync.Mutex
	calls := 0
	deliver := func(h http.Handler, id string, c intercom.Contact) {
		deliveries.Go(func() {
			// Intercom tries again while the answer is not 2xx (503: being
			// handled by the other replica).
			for {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, intercomtest.WebhookRequest("/hooks", secret, intercomtest.NotificationAt(id, "contact.user.updated", c, t0)))
				count.Lock()
				calls++
				count.Unlock()
				if w.Code == http.StatusOK {
					return
				}
				if w.Code != http.StatusServiceUnavailable {
					t.Errorf("%s: status %d", id, w.Code)
					return
				}
			}
		})
	}

	// Distinct contacts, each notification to both replicas at once.
	const n = 20
	for i := range n {
		c := intercom.Contact{ID: fmt.Sprint("c", i), Role: intercom.RoleUser, ExternalID: fmt.Sprint("u", i), Name: "Ann", UpdatedAt: t0}
		for _, h := range handlers {
			deliver(h, fmt.Sprint("notif_", i), c)
		}
	}
	// One contact, versions 1..v delivered in a random order across both.
	const v = 12
	order := rand.Perm(v)
	for j, k := range order {
		c := intercom.Contact{ID: "c_shared", Role: intercom.RoleUser, ExternalID: "u_shared", Name: fmt.Sprint("version ", k+1),
			UpdatedAt: t0.Add(time.Duration(k+1) * time.Second)}
		deliver(handlers[j%2], fmt.Sprint("notif_shared_", k+1), c)
	}
	deliveries.Wait()
	// And every notification once more, to each replica.
	for i := range n {
		for _, h := range handlers {
			deliver(h, fmt.Sprint("notif_", i), intercom.Contact{ID: fmt.Sprint("c", i), Role: intercom.RoleUser, ExternalID: fmt.Sprint("u", i), UpdatedAt: t0})
		}
	}
	deliveries.Wait()

	for i := range n {
		if got := handled[fmt.Sprint("notif_", i)]; got != 1 {
			t.Errorf("notif_%d handled %d times, want 1", i, got)
		}
	}
	c, err := managers[1].Customer(ctx, "u_shared")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint("version ", v); c.Name != want {
		t.Errorf("after out-of-order deliveries (order %v): name %q, want %q", order, c.Name, want)
	}
	u, err := managers[0].Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.API.Used != int64(calls) {
		t.Errorf("API usage %d, want %d (every delivery, both replicas)", u.API.Used, calls)
	}
}

// TestUpdateContactStateNeedsTwoConnections: a one-connection pool would
// deadlock (the callback's writes wait for the held connection); it is
// refused instead.
func TestUpdateContactStateNeedsTwoConnections(t *testing.T) {
	t.Parallel()
	st := postgres.New(openPool(t, testDSN(t), newSchema(t), 1))
	err := st.UpdateContactState(context.Background(), "c1", func(s intercom.ContactState) (intercom.ContactState, error) { return s, nil })
	if err == nil {
		t.Fatal("UpdateContactState on a one-connection pool: nil error")
	}
}
