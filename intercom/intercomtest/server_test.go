package intercomtest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

func TestServerRecordsAndAnswers(t *testing.T) {
	t.Parallel()
	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ExternalID: "u1", Name: "Ann"}))
	defer srv.Close()
	c := srv.Client()
	ctx := context.Background()
	ct, err := c.FindContactByExternalID(ctx, "u1")
	if err != nil || ct.ID == "" || ct.Role != intercom.RoleUser {
		t.Fatalf("seeded contact: %+v, %v", ct, err)
	}
	sent, err := c.SendMessage(ctx, intercom.Message{Type: intercom.InApp, Body: "b", FromAdminID: intercomtest.DefaultAdminID, To: intercom.Recipient{ID: ct.ID}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].ID != sent.ID || msgs[0].ConversationID != sent.ConversationID || msgs[0].To.ID != ct.ID {
		t.Errorf("Messages = %+v, sent %+v", msgs, sent)
	}
	if err := c.ReplyToConversation(ctx, sent.ConversationID, intercom.Reply{AdminID: intercomtest.DefaultAdminID, Body: "code X"}); err != nil {
		t.Fatal(err)
	}
	if r := srv.Replies(); len(r) != 1 || r[0].ConversationID != sent.ConversationID || r[0].Body != "code X" {
		t.Errorf("Replies = %+v", r)
	}
	if srv.MessageCount() != 1 {
		t.Errorf("a reply counted as a message")
	}

	// Rate-limit headers are sent on authenticated answers.
	req, _ := http.NewRequest("GET", srv.URL+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-RateLimit-Limit") == "" || resp.Header.Get("X-RateLimit-Remaining") == "" {
		t.Errorf("missing X-RateLimit headers: %v", resp.Header)
	}
	// Unknown routes answer an error.list 404.
	_, err = c.ContactTags(ctx, "nobody")
	if !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("unknown contact tags: %v", err)
	}
}

func TestFakeMessenger(t *testing.T) {
	t.Parallel()
	f := intercomtest.NewFakeMessenger(intercom.Contact{ID: "c1", ExternalID: "u1"}, intercom.Contact{ID: "c2", Role: intercom.RoleLead, ExternalID: "l1"})
	ctx := context.Background()
	var m intercom.Messenger = f
	if c, err := m.FindContactByExternalID(ctx, "u1"); err != nil || c.ID != "c1" {
		t.Errorf("find u1 = %+v, %v", c, err)
	}
	if _, err := m.FindContactByExternalID(ctx, "l1"); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("find lead by external id: %v, want ErrNotFound (users only)", err)
	}
	if _, err := m.SendMessage(ctx, intercom.Message{Type: intercom.Email, Body: "b", FromAdminID: "1", To: intercom.Recipient{ID: "c1"}}); !errors.Is(err, intercom.ErrInvalid) || !strings.Contains(err.Error(), "Subject") {
		t.Errorf("email without subject: %v", err)
	}
	if _, err := m.SendMessage(ctx, intercom.Message{Type: intercom.InApp, Body: "b", FromAdminID: "1", To: intercom.Recipient{ID: "zz"}}); !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("unknown recipient: %v", err)
	}
	f.Fail = func(method string) error {
		if method == "SendMessage" {
			return intercom.ErrAmbiguous
		}
		return nil
	}
	if _, err := m.SendMessage(ctx, intercom.Message{Type: intercom.InApp, Body: "b", FromAdminID: "1", To: intercom.Recipient{ID: "c1"}}); !errors.Is(err, intercom.ErrAmbiguous) {
		t.Errorf("injected failure: %v", err)
	}
	f.Fail = nil
	if _, err := m.SendMessage(ctx, intercom.Message{Type: intercom.InApp, Body: "b", FromAdminID: "1", To: intercom.Recipient{ID: "c1"}}); err != nil {
		t.Fatal(err)
	}
	if got := f.Messages(); len(got) != 1 || got[0].To.Role != intercom.RoleUser {
		t.Errorf("Messages = %+v", got)
	}
}

func TestWebhookHelpers(t *testing.T) {
	t.Parallel()
	var got []intercom.ContactEvent
	h, err := intercom.NewWebhookHandler(intercom.WebhookConfig{Secret: "s3cret", OnContact: func(ctx context.Context, ev intercom.ContactEvent) error {
		got = append(got, ev)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	body := intercomtest.Notification("notif_1", "contact.user.updated", intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "u1", Name: "Ann"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, intercomtest.WebhookRequest("/hooks", "s3cret", body))
	if w.Code != 200 || len(got) != 1 || got[0].Customer().SourceID != "u1" || got[0].Contact.Name != "Ann" {
		t.Errorf("status %d, events %+v", w.Code, got)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, intercomtest.WebhookRequest("/hooks", "other", body))
	if w.Code != 401 {
		t.Errorf("wrong secret: status %d, want 401", w.Code)
	}
}

// A recorded message says which client sent it (its User-Agent).
func TestMessageUserAgent(t *testing.T) {
	t.Parallel()
	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ID: "c1"}))
	defer srv.Close()
	cfg := srv.Config()
	cfg.UserAgent = "replica-2"
	c, err := intercom.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(context.Background(), intercom.Message{Type: intercom.InApp, Body: "b", FromAdminID: srv.AdminID(), To: intercom.Recipient{ID: "c1"}}); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].UserAgent != "replica-2" {
		t.Errorf("Messages = %+v, want one from replica-2", msgs)
	}
}
