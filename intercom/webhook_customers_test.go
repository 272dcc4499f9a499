package intercom_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store"
)

// memCustomers is intercom.WebhookCustomers over a store.Memory.
type memCustomers struct {
	*store.Memory
	upserts atomic.Int32
}

func (m *memCustomers) Customer(ctx context.Context, id string) (customer.Customer, error) {
	return m.GetCustomer(ctx, id)
}

func (m *memCustomers) UpsertCustomer(ctx context.Context, c customer.Customer, opts customer.UpsertOptions) (customer.Customer, error) {
	m.upserts.Add(1)
	out, err := m.UpsertCustomers(ctx, []customer.Customer{c}, opts)
	if err != nil {
		return customer.Customer{}, err
	}
	return out[0], nil
}

// tagList is an intercom.TagLister that counts its calls.
type tagList struct {
	tags  []intercom.Tag
	calls atomic.Int32
}

func (l *tagList) Tags(context.Context) ([]intercom.Tag, error) {
	l.calls.Add(1)
	return l.tags, nil
}

// fakeNow is a settable clock.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type hookEnv struct {
	t     *testing.T
	h     *intercom.WebhookHandler
	cust  *memCustomers
	store intercom.WebhookStore
	clock *fakeNow
}

func newHookEnv(t *testing.T, edit func(*intercom.WebhookConfig)) *hookEnv {
	t.Helper()
	e := &hookEnv{t: t, cust: &memCustomers{Memory: store.NewMemory()}, clock: &fakeNow{t: t0}}
	e.store = e.cust.Memory
	cfg := intercom.WebhookConfig{Secret: webhookSecret, Customers: e.cust, Store: e.store, Now: e.clock.Now}
	if edit != nil {
		edit(&cfg)
	}
	h, err := intercom.NewWebhookHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

// deliver posts a notification created now (by the env's clock).
func (e *hookEnv) deliver(id, topic string, item any) int {
	e.t.Helper()
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, intercomtest.WebhookRequest("/webhooks/intercom", webhookSecret, intercomtest.NotificationAt(id, topic, item, e.clock.Now())))
	return w.Code
}

func deliverTo(h http.Handler, id, topic string, item any) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, intercomtest.WebhookRequest("/webhooks/intercom", webhookSecret, intercomtest.NotificationAt(id, topic, item, t0)))
	return w.Code
}

func (e *hookEnv) customer(id string) (customer.Customer, bool) {
	e.t.Helper()
	c, err := e.cust.GetCustomer(context.Background(), id)
	if errors.Is(err, customer.ErrNotFound) {
		return c, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return c, true
}

func tagItem(contactID, externalID, tagID, tagName string) map[string]any {
	return map[string]any{"type": "contact_tag",
		"tag":     map[string]any{"type": "tag", "id": tagID, "name": tagName},
		"contact": map[string]any{"type": "contact", "id": contactID, "role": "user", "external_id": externalID}}
}

// TestWebhookKeepsCustomersCurrent plays a contact's life through the
// handler: every topic becomes the customer write SyncContacts would make.
func TestWebhookKeepsCustomersCurrent(t *testing.T) {
	t.Parallel()
	tags := &tagList{tags: []intercom.Tag{{ID: "t1", Name: "VIP"}, {ID: "t2", Name: "Gold"}}}
	e := newHookEnv(t, func(c *intercom.WebhookConfig) { c.Tags = tags })
	ann := intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "u1", Name: "Ann", Email: "ann@example.com",
		CustomAttributes: map[string]any{"plan": "pro"}, Tags: []intercom.Tag{{ID: "t1"}}, CreatedAt: t0, UpdatedAt: t0}

	type view struct {
		Name, Email string
		Metadata    customer.Metadata
	}
	look := func(id string) *view {
		c, ok := e.customer(id)
		if !ok {
			return nil
		}
		return &view{c.Name, c.Email, c.Metadata}
	}
	meta := func(tags []any, unsub bool) customer.Metadata {
		return customer.Metadata{"plan": "pro", intercom.MetaIntercomTags: tags, intercom.MetaIntercomID: "c1",
			intercom.MetaIntercomRole: "user", intercom.MetaUnsubscribedFromEmails: unsub, intercom.MetaSource: intercom.SourceIntercom}
	}
	steps := []struct {
		name         string
		id, topic    string
		item         any
		lookup       string
		want         *view
		wantTagCalls int32
	}{
		{"created: tag names listed once", "n1", "contact.user.created", ann, "u1",
			&view{"Ann", "ann@example.com", meta([]any{"VIP"}, false)}, 1},
		{"updated", "n2", "contact.user.updated", func() intercom.Contact { c := ann; c.Name, c.UpdatedAt = "Ann B", t0.Add(2*time.Minute); return c }(), "u1",
			&view{"Ann B", "ann@example.com", meta([]any{"VIP"}, false)}, 1},
		{"tag added: the rest stays", "n3", "contact.user.tag.created", tagItem("c1", "u1", "t2", "Gold"), "u1",
			&view{"Ann B", "ann@example.com", meta([]any{"VIP", "Gold"}, false)}, 1},
		{"tag removed", "n4", "contact.user.tag.deleted", tagItem("c1", "u1", "t1", "VIP"), "u1",
			&view{"Ann B", "ann@example.com", meta([]any{"Gold"}, false)}, 1},
		{"unsubscribed", "n5", "contact.unsubscribed", func() intercom.Contact {
			c := ann
			c.Name, c.UnsubscribedFromEmails, c.Tags, c.UpdatedAt = "Ann B", true, []intercom.Tag{{ID: "t2"}}, t0.Add(time.Hour)
			return c
		}(), "u1", &view{"Ann B", "ann@example.com", meta([]any{"Gold"}, true)}, 1},
		{"lead created", "n6", "contact.lead.created", intercom.Contact{ID: "c2", Role: intercom.RoleLead, Email: "lead@example.com", UpdatedAt: t0}, "intercom:c2",
			&view{"", "lead@example.com", customer.Metadata{intercom.MetaIntercomTags: []any{}, intercom.MetaIntercomID: "c2",
				intercom.MetaIntercomRole: "lead", intercom.MetaUnsubscribedFromEmails: false, intercom.MetaSource: intercom.SourceIntercom}}, 1},
		{"deleted, by id only", "n7", "contact.deleted", map[string]any{"type": "contact", "id": "c1"}, "u1", nil, 1},
		{"an update after the deletion is dropped", "n8", "contact.user.updated", func() intercom.Contact { c := ann; c.UpdatedAt = t0.Add(2 * time.Hour); return c }(), "u1", nil, 1},
		{"lead deleted (contact.lead.deleted)", "n9", "contact.lead.deleted", map[string]any{"type": "contact", "id": "c2"}, "intercom:c2", nil, 1},
	}
	for _, s := range steps {
		e.clock.Add(time.Minute) // each notification is created a minute after the last
		if code := e.deliver(s.id, s.topic, s.item); code != http.StatusOK {
			t.Fatalf("%s: status %d", s.name, code)
		}
		if diff := cmp.Diff(s.want, look(s.lookup)); diff != "" {
			t.Errorf("%s: customer %s (-want +got):\n%s", s.name, s.lookup, diff)
		}
		if n := tags.calls.Load(); n != s.wantTagCalls {
			t.Errorf("%s: tags listed %d times, want %d", s.name, n, s.wantTagCalls)
		}
	}
}

// TestWebhookOlderNeverOverwritesNewer: notifications about one contact
// arriving out of order; the older one is answered 200 and dropped.
func TestWebhookOlderNeverOverwritesNewer(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "store", false: "no store"}[shared]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newHookEnv(t, func(c *intercom.WebhookConfig) {
				if !shared {
					c.Store = nil
				}
			})
			v := func(name string, at time.Time) intercom.Contact {
				return intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "u1", Name: name, UpdatedAt: at}
			}
			for _, d := range []struct {
				id   string
				c    intercom.Contact
				want string
			}{
				{"n2", v("Newer", t0.Add(time.Minute)), "Newer"},
				{"n1", v("Older", t0), "Newer"},                              // late and older: dropped
				{"n3", v("Same second", t0.Add(time.Minute)), "Same second"}, // not older: applied
				{"n4", v("Newest", t0.Add(time.Hour)), "Newest"},
				{"n0", v("Oldest", t0.Add(-time.Hour)), "Newest"},
			} {
				if code := e.deliver(d.id, "contact.user.updated", d.c); code != http.StatusOK {
					t.Fatalf("%s: status %d", d.id, code)
				}
				if c, _ := e.customer("u1"); c.Name != d.want {
					t.Errorf("after %s: name %q, want %q", d.id, c.Name, d.want)
				}
			}
			// A tag notification (created at t0) older than the applied
			// version is dropped too.
			if code := e.deliver("n5", "contact.user.tag.created", tagItem("c1", "u1", "t9", "Late")); code != 200 {
				t.Fatalf("tag: status %d", code)
			}
			if c, _ := e.customer("u1"); !cmp.Equal(c.Metadata[intercom.MetaIntercomTags], []any{}) {
				t.Errorf("an older tag notification was applied: tags %v", c.Metadata[intercom.MetaIntercomTags])
			}
		})
	}
}

// TestWebhookDedupeSharedStore: one notification delivered to two
// handlers on one store (two replicas) is handled once; one being handled
// elsewhere answers 503 so Intercom tries again later.
func TestWebhookDedupeSharedStore(t *testing.T) {
	t.Parallel()
	shared := &intercom.MemoryWebhookStore{}
	var handled atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	cust := &memCustomers{Memory: store.NewMemory()}
	newHandler := func(block bool) *intercom.WebhookHandler {
		h, err := intercom.NewWebhookHandler(intercom.WebhookConfig{Secret: webhookSecret, Store: shared, Customers: cust,
			OnContact: func(ctx context.Context, ev intercom.ContactEvent) error {
				handled.Add(1)
				if block {
					entered <- struct{}{}
					<-release
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	a, b := newHandler(true), newHandler(false)
	item := intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "u1", Name: "Ann", UpdatedAt: t0}

	done := make(chan int)
	go func() { done <- deliverTo(a, "notif_1", "contact.user.created", item) }()
	<-entered // a is handling it
	if code := deliverTo(b, "notif_1", "contact.user.created", item); code != http.StatusServiceUnavailable {
		t.Errorf("the same notification on b while a handles it: status %d, want 503", code)
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("a: status %d", code)
	}
	for _, h := range []*intercom.WebhookHandler{b, a} {
		if code := deliverTo(h, "notif_1", "contact.user.created", item); code != http.StatusOK {
			t.Errorf("a repeat: status %d, want 200", code)
		}
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("handled %d times, want 1", n)
	}
	if n := cust.upserts.Load(); n != 1 {
		t.Errorf("customer written %d times, want 1", n)
	}

	// A failed handling forgets the claim: the redelivery, to either
	// handler, is handled.
	h, err := intercom.NewWebhookHandler(intercom.WebhookConfig{Secret: webhookSecret, Store: shared,
		OnContact: func(context.Context, intercom.ContactEvent) error { return errors.New("db down") }})
	if err != nil {
		t.Fatal(err)
	}
	if code := deliverTo(h, "notif_2", "contact.user.updated", item); code != http.StatusInternalServerError {
		t.Errorf("failing handler: status %d, want 500", code)
	}
	if code := deliverTo(b, "notif_2", "contact.user.updated", item); code != http.StatusOK || handled.Load() != 2 {
		t.Errorf("redelivery after a failure: status %d, handled %d; want 200, 2", code, handled.Load())
	}
}

// meter is an intercom.InboundMeter with a cap.
type meter struct {
	mu    sync.Mutex
	n     int
	limit int
}

func (m *meter) CountInbound(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.limit > 0 && m.n >= m.limit {
		return errors.Join(errors.New("distribution: limit exceeded"), intercom.ErrInboundLimit)
	}
	m.n++
	return nil
}

// TestWebhookMeter: every signed notification counts against the API
// limit, repeats included; over the cap it answers 429 and handles
// nothing, so a redelivery after the reset is handled.
func TestWebhookMeter(t *testing.T) {
	t.Parallel()
	m := &meter{limit: 3}
	e := newHookEnv(t, func(c *intercom.WebhookConfig) { c.Meter = m })
	item := intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "u1", Name: "Ann", UpdatedAt: t0}
	for i, want := range []int{200, 200} { // the same notification twice: two calls
		if code := e.deliver("n1", "contact.user.updated", item); code != want {
			t.Errorf("delivery %d: status %d, want %d", i, code, want)
		}
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, intercomtest.WebhookRequest("/", "forged", intercomtest.Notification("n9", "ping", nil)))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("forged: %d", w.Code)
	}
	if m.n != 2 {
		t.Errorf("counted %d calls, want 2 (repeats count, forgeries do not)", m.n)
	}
	if code := e.deliver("n2", "contact.user.updated", item); code != 200 {
		t.Errorf("third call: status %d", code)
	}
	item.Name, item.UpdatedAt = "Over the cap", t0.Add(time.Hour)
	if code := e.deliver("n3", "contact.user.updated", item); code != http.StatusTooManyRequests {
		t.Errorf("over the cap: status %d, want 429", code)
	}
	if c, _ := e.customer("u1"); c.Name != "Ann" {
		t.Errorf("a notification over the cap was handled: name %q", c.Name)
	}
	m.mu.Lock()
	m.n = 0 // a new period
	m.mu.Unlock()
	if code := e.deliver("n3", "contact.user.updated", item); code != 200 {
		t.Errorf("redelivery after the reset: status %d", code)
	}
	if c, _ := e.customer("u1"); c.Name != "Over the cap" {
		t.Errorf("redelivery after the reset not handled: name %q", c.Name)
	}
}

// TestWebhookRetention: handled ids are kept for Retention, then pruned
// lazily by the handler (or by Prune).
func TestWebhookRetention(t *testing.T) {
	t.Parallel()
	var hostCalls atomic.Int32
	e := newHookEnv(t, func(c *intercom.WebhookConfig) {
		c.Customers = nil
		c.OnNotification = func(context.Context, intercom.Notification) error { hostCalls.Add(1); return nil }
	})
	e.deliver("n1", "ping", map[string]any{"type": "ping"})
	e.clock.Add(intercom.DefaultWebhookRetention - time.Minute)
	e.deliver("n1", "ping", map[string]any{"type": "ping"}) // still remembered
	if n := hostCalls.Load(); n != 1 {
		t.Fatalf("host called %d times within the retention, want 1", n)
	}
	e.clock.Add(2 * time.Minute)
	e.deliver("n2", "ping", map[string]any{"type": "ping"}) // prunes: the last prune was at t0
	e.deliver("n1", "ping", map[string]any{"type": "ping"}) // forgotten: handled again
	if n := hostCalls.Load(); n != 3 {
		t.Errorf("host called %d times, want 3 (n1 forgotten after the retention)", n)
	}
	if n, err := e.h.Prune(context.Background()); err != nil || n != 0 {
		t.Errorf("Prune = %d, %v; want nothing left to prune", n, err)
	}
}

func TestWebhookConfigErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []intercom.WebhookConfig{
		{Secret: ""},
		{Secret: "s"},
		{Secret: "s", Customers: &memCustomers{}, Retention: -time.Hour},
	} {
		if _, err := intercom.NewWebhookHandler(cfg); err == nil {
			t.Errorf("NewWebhookHandler(%+v) = nil error", cfg)
		}
	}
}
