package intercom_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

var (
	ann  = intercom.Contact{ID: "c-ann", Role: intercom.RoleUser, ExternalID: "u-ann", Email: "ann@example.com", Name: "Ann"}
	lead = intercom.Contact{ID: "c-lead", Role: intercom.RoleLead, Email: "lead@example.com"}
)

func newServer(t *testing.T, opts ...intercomtest.Option) (*intercomtest.Server, *intercom.Client) {
	t.Helper()
	srv := intercomtest.NewServer(append([]intercomtest.Option{intercomtest.Contacts(ann, lead)}, opts...)...)
	t.Cleanup(srv.Close)
	return srv, srv.Client()
}

func TestSendMessageRecorded(t *testing.T) {
	t.Parallel()
	srv, c := newServer(t)
	ctx := context.Background()
	msgs := []intercom.Message{
		{Type: intercom.InApp, Body: "Your code: ABC", FromAdminID: srv.AdminID(), To: intercom.Recipient{Role: intercom.RoleUser, ID: ann.ID}},
		{Type: intercom.Email, Subject: "A gift", Body: "<p>XYZ</p>", Template: intercom.TemplatePersonal, FromAdminID: srv.AdminID(), To: intercom.Recipient{Role: intercom.RoleLead, ID: lead.ID}},
	}
	for _, m := range msgs {
		sent, err := c.SendMessage(ctx, m)
		if err != nil {
			t.Fatalf("SendMessage(%+v): %v", m, err)
		}
		if sent.ID == "" || sent.ConversationID == "" || sent.Type != m.Type || sent.CreatedAt.IsZero() {
			t.Errorf("SendMessage = %+v, want ids, type %q and a time", sent, m.Type)
		}
	}
	var got []intercom.Message
	for _, m := range srv.Messages() {
		got = append(got, m.Message)
	}
	if diff := cmp.Diff(msgs, got); diff != "" {
		t.Errorf("recorded messages (-want +got):\n%s", diff)
	}
}

func TestSendMessageErrors(t *testing.T) {
	t.Parallel()
	srv, c := newServer(t)
	ctx := context.Background()
	base := intercom.Message{Type: intercom.InApp, Body: "hi", FromAdminID: srv.AdminID(), To: intercom.Recipient{Role: intercom.RoleUser, ID: ann.ID}}
	tests := []struct {
		name   string
		edit   func(*intercom.Message)
		want   error
		status int
	}{
		{"no body", func(m *intercom.Message) { m.Body = "" }, intercom.ErrInvalid, 0},
		{"email without subject", func(m *intercom.Message) { m.Type = intercom.Email }, intercom.ErrInvalid, 0},
		{"bad type", func(m *intercom.Message) { m.Type = "sms" }, intercom.ErrInvalid, 0},
		{"bad template", func(m *intercom.Message) { m.Type, m.Subject, m.Template = intercom.Email, "s", "fancy" }, intercom.ErrInvalid, 0},
		{"no admin", func(m *intercom.Message) { m.FromAdminID = "" }, intercom.ErrInvalid, 0},
		{"unknown contact", func(m *intercom.Message) { m.To.ID = "nobody" }, intercom.ErrNotFound, http.StatusNotFound},
		{"unknown admin", func(m *intercom.Message) { m.FromAdminID = "1" }, intercom.ErrNotFound, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base
			tt.edit(&m)
			_, err := c.SendMessage(ctx, m)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var apiErr *intercom.Error
			if tt.status != 0 && (!errors.As(err, &apiErr) || apiErr.StatusCode != tt.status || apiErr.RequestID == "" || len(apiErr.Errors) == 0) {
				t.Errorf("err = %#v, want *intercom.Error with status %d, a request id and details", err, tt.status)
			}
		})
	}
	if n := srv.MessageCount(); n != 0 {
		t.Errorf("server recorded %d messages, want 0", n)
	}
}

func TestGetAndFindContact(t *testing.T) {
	t.Parallel()
	srv, c := newServer(t)
	ctx := context.Background()
	got, err := c.GetContact(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	ignore := cmpopts.IgnoreFields(intercom.Contact{}, "CreatedAt", "UpdatedAt", "CustomAttributes")
	if diff := cmp.Diff(ann, got, ignore); diff != "" {
		t.Errorf("GetContact (-want +got):\n%s", diff)
	}
	got, err = c.FindContactByExternalID(ctx, "u-ann")
	if err != nil || got.ID != ann.ID {
		t.Errorf("FindContactByExternalID = %+v, %v; want %s", got, err, ann.ID)
	}
	_, err = c.FindContactByExternalID(ctx, "nobody")
	if !errors.Is(err, intercom.ErrNotFound) || !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("unknown external id: err = %v, want ErrNotFound (and customer.ErrNotFound)", err)
	}
	srv.MergeContact(ann.ID, lead.ID)
	_, err = c.GetContact(ctx, ann.ID)
	var apiErr *intercom.Error
	if !errors.Is(err, intercom.ErrContactMerged) || !errors.As(err, &apiErr) || apiErr.CanonicalContactID != lead.ID {
		t.Errorf("merged contact: err = %v, want ErrContactMerged with canonical %s", err, lead.ID)
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	cfg := srv.Config()
	cfg.Token = "wrong-secret-token"
	c, err := intercom.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Me(context.Background())
	if !errors.Is(err, intercom.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if s := err.Error(); contains(s, "wrong-secret-token") {
		t.Errorf("error %q leaks the token", s)
	}
}

func contains(s, sub string) bool { return len(sub) > 0 && len(s) >= len(sub) && indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

var _ = time.Second
