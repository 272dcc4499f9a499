package intercom_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/intercom"
)

const webhookSecret = "client-secret-xyz"

func notification(id, topic, item string) string {
	return `{"type":"notification_event","app_id":"abc123","id":"` + id + `","topic":"` + topic +
		`","created_at":1700000000,"delivery_attempts":1,"first_sent_at":1700000001,"data":{"type":"notification_event_data","item":` + item + `}}`
}

const userItem = `{"type":"contact","id":"c1","role":"user","external_id":"u1","email":"ann@example.com","name":"Ann","unsubscribed_from_emails":false,"custom_attributes":{"plan":"pro"},"tags":{"type":"list","data":[{"type":"tag","id":"t1","name":"VIP"}]}}`

type hostRecorder struct {
	mu     sync.Mutex
	events []intercom.ContactEvent
	others []intercom.Notification
	fail   error
}

func (h *hostRecorder) contact(ctx context.Context, ev intercom.ContactEvent) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return h.fail
	}
	h.events = append(h.events, ev)
	return nil
}

func (h *hostRecorder) other(ctx context.Context, n intercom.Notification) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.others = append(h.others, n)
	return nil
}

func newWebhook(t *testing.T, max int64) (*intercom.WebhookHandler, *hostRecorder) {
	t.Helper()
	rec := &hostRecorder{}
	h, err := intercom.NewWebhookHandler(intercom.WebhookConfig{Secret: webhookSecret, OnContact: rec.contact, OnNotification: rec.other, MaxBodyBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	return h, rec
}

func post(h http.Handler, body, sig string) int {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/intercom", strings.NewReader(body))
	if sig != "" {
		r.Header.Set("X-Hub-Signature", sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func TestWebhookSignatures(t *testing.T) {
	t.Parallel()
	body := notification("notif_1", "contact.user.created", userItem)
	mac := hmac.New(sha1.New, []byte(webhookSecret))
	mac.Write([]byte(body))
	valid := "sha1=" + hex.EncodeToString(mac.Sum(nil))
	sha256mac := hmac.New(sha256.New, []byte(webhookSecret))
	sha256mac.Write([]byte(body))
	tests := []struct {
		name     string
		body     string
		sig      string
		want     int
		wantHost int
	}{
		{"valid", body, valid, 200, 1},
		{"missing", body, "", 401, 0},
		{"invalid hex", body, "sha1=zz" + valid[7:], 401, 0},
		{"wrong digest", body, intercom.Sign("other-secret", []byte(body)), 401, 0},
		{"no algorithm prefix", body, valid[len("sha1="):], 401, 0},
		{"wrong algorithm prefix", body, "sha256=" + hex.EncodeToString(sha256mac.Sum(nil)), 401, 0},
		{"sha256 prefix on the sha1 digest", body, "sha256=" + valid[len("sha1="):], 401, 0},
		{"body altered after signing", strings.Replace(body, "Ann", "Eve", 1), valid, 401, 0},
		{"truncated signature", body, valid[:len(valid)-2], 401, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, rec := newWebhook(t, 0)
			if got := post(h, tt.body, tt.sig); got != tt.want {
				t.Errorf("status = %d, want %d", got, tt.want)
			}
			if len(rec.events) != tt.wantHost {
				t.Errorf("host called %d times, want %d", len(rec.events), tt.wantHost)
			}
		})
	}
	if valid != intercom.Sign(webhookSecret, []byte(body)) || !intercom.VerifySignature(webhookSecret, []byte(body), valid) {
		t.Error("Sign and VerifySignature disagree with a hand-made HMAC-SHA1")
	}
}

func TestWebhookHEADAndLimits(t *testing.T) {
	t.Parallel()
	h, rec := newWebhook(t, 512)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/", nil))
	if w.Code != 200 {
		t.Errorf("HEAD = %d, want 200", w.Code)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 405 {
		t.Errorf("GET = %d, want 405", w.Code)
	}
	big := notification("notif_big", "contact.user.updated", `{"id":"c1","name":"`+strings.Repeat("x", 600)+`"}`)
	if got := post(h, big, intercom.Sign(webhookSecret, []byte(big))); got != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d, want 413", got)
	}
	junk := `{"type":"notification_event"}`
	if got := post(h, junk, intercom.Sign(webhookSecret, []byte(junk))); got != 400 {
		t.Errorf("envelope without id/topic = %d, want 400", got)
	}
	if len(rec.events)+len(rec.others) != 0 {
		t.Errorf("host was called")
	}
}

func TestWebhookDispatchAndDedupe(t *testing.T) {
	t.Parallel()
	h, rec := newWebhook(t, 0)
	send := func(body string) int { return post(h, body, intercom.Sign(webhookSecret, []byte(body))) }
	bodies := []string{
		notification("notif_1", "contact.user.created", userItem),
		notification("notif_1", "contact.user.created", userItem), // repeated delivery
		notification("notif_2", "contact.lead.updated", `{"type":"contact","id":"c2","role":"lead","email":"l@example.com"}`),
		notification("notif_3", "contact.user.tag.created", `{"type":"contact_tag","tag":{"type":"tag","id":"t2","name":"Gold"},"contact":{"type":"contact","id":"c1","role":"user","external_id":"u1"}}`),
		notification("notif_4", "contact.deleted", `{"type":"contact","id":"c3","external_id":"u3"}`),
		notification("notif_5", "ping", `{"type":"ping","message":"hi"}`),
	}
	for i, b := range bodies {
		if got := send(b); got != 200 {
			t.Fatalf("delivery %d: status %d", i, got)
		}
	}
	type summary struct {
		ID, Topic string
		Kind      intercom.ContactEventKind
		SourceID  string
		Tags      any
	}
	var got []summary
	for _, ev := range rec.events {
		cu := ev.Customer()
		got = append(got, summary{ev.Notification.ID, ev.Notification.Topic, ev.Kind, cu.SourceID, cu.Metadata[intercom.MetaIntercomTags]})
	}
	want := []summary{
		{"notif_1", "contact.user.created", intercom.ContactChanged, "u1", []any{"VIP"}},
		{"notif_2", "contact.lead.updated", intercom.ContactChanged, "intercom:c2", []any{}},
		{"notif_3", "contact.user.tag.created", intercom.ContactTagAdded, "u1", []any{"Gold"}},
		{"notif_4", "contact.deleted", intercom.ContactDeleted, "u3", []any{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("contact events (-want +got):\n%s", diff)
	}
	if len(rec.others) != 1 || rec.others[0].Topic != "ping" || rec.others[0].AppID != "abc123" || rec.others[0].DeliveryAttempts != 1 {
		t.Errorf("other notifications = %+v", rec.others)
	}
	ev := rec.events[0]
	if ev.Notification.CreatedAt.Unix() != 1700000000 || ev.Contact.Email != "ann@example.com" || ev.Contact.CustomAttributes["plan"] != "pro" {
		t.Errorf("first event = %+v", ev)
	}

	// A host error answers 500 and forgets the id, so a redelivery is processed.
	rec.fail = errors.New("db down")
	b := notification("notif_9", "contact.user.updated", userItem)
	if got := send(b); got != 500 {
		t.Errorf("host error: status %d, want 500", got)
	}
	rec.fail = nil
	if got := send(b); got != 200 || len(rec.events) != 5 {
		t.Errorf("redelivery after failure: status %d, events %d; want 200 and 5", got, len(rec.events))
	}
	bad := notification("notif_10", "contact.user.updated", `{"type":"contact"}`)
	if got := send(bad); got != 400 {
		t.Errorf("contact without id: status %d, want 400", got)
	}
}

func TestWebhookDedupeForgetsOldest(t *testing.T) {
	t.Parallel()
	rec := &hostRecorder{}
	h, err := intercom.NewWebhookHandler(intercom.WebhookConfig{Secret: webhookSecret, OnContact: rec.contact, RememberIDs: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2", "n3", "n1"} {
		b := notification(id, "contact.user.updated", userItem)
		post(h, b, intercom.Sign(webhookSecret, []byte(b)))
	}
	if len(rec.events) != 4 {
		t.Errorf("events = %d, want 4 (n1 was forgotten after 2 newer ids)", len(rec.events))
	}
}
