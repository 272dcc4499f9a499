package intercomtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/codedrop/codedrop/intercom"
)

// Notification returns the body of a webhook notification_event with id,
// topic and data.item = item. An intercom.Contact item is rendered as
// Intercom's contact object; anything else is marshaled as is.
func Notification(id, topic string, item any) []byte {
	return NotificationAt(id, topic, item, time.Now())
}

// NotificationAt is Notification with created_at (and first_sent_at) at
// the given time: a notification's created_at orders those whose item has
// no updated_at (tag changes, deletions).
func NotificationAt(id, topic string, item any, at time.Time) []byte {
	if c, ok := item.(intercom.Contact); ok {
		item = contactJSON(&c)
	}
	b, err := json.Marshal(map[string]any{
		"type": "notification_event", "id": id, "topic": topic, "app_id": "testapp1",
		"created_at": at.Unix(), "first_sent_at": at.Unix(), "delivery_attempts": 1,
		"data": map[string]any{"type": "notification_event_data", "item": item},
	})
	if err != nil {
		panic("intercomtest: Notification: " + err.Error())
	}
	return b
}

// WebhookRequest returns a POST of body to target signed with secret
// (X-Hub-Signature) as Intercom signs webhooks, for calling a webhook
// handler directly (handler.ServeHTTP(w, req)).
func WebhookRequest(target, secret string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "intercom-parrot-service-client/1.0")
	r.Header.Set("X-Hub-Signature", intercom.Sign(secret, body))
	return r
}
