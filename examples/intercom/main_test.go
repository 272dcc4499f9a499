package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

func newServer(t *testing.T) *intercomtest.Server {
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ExternalID: "u1", Name: "Ann", Email: "ann@example.com"},
		intercom.Contact{ExternalID: "u2", Name: "Bob"},
		intercom.Contact{ExternalID: "u3", Name: "Cleo", Email: "cleo@example.com", UnsubscribedFromEmails: true},
		intercom.Contact{ID: "lead1", Role: intercom.RoleLead, Name: "Dan", Email: "dan@example.com"},
	))
	t.Cleanup(srv.Close)
	return srv
}

func args(srv *intercomtest.Server, extra ...string) []string {
	return append([]string{"-api-base", srv.URL, "-token", srv.Token(), "-admin-id", srv.AdminID()}, extra...)
}

// tail returns the output from the summary line on.
func tail(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, "sent ")
	if i < 0 {
		t.Fatalf("no summary line in:\n%s", out)
	}
	return out[i:]
}

func TestPreviewSendsNothing(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	var out bytes.Buffer
	if err := run(context.Background(), args(srv, "-message-type", "email", "-subject", "For {{customer.name}}"), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if n := srv.MessageCount(); n != 0 {
		t.Fatalf("preview sent %d messages", n)
	}
	for _, want := range []string{"synced 4 contacts", "preview of 4 recipients", `u1 (Ann) [intercom_email] "For Ann": Hi Ann, here is your code: GIFT-`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	want := "sent 0 skipped 2 failed 0\nskipped u2 (Bob): customer has no email\nskipped u3 (Cleo): unsubscribed from emails in Intercom\n"
	if got := tail(t, out.String()); got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
}

func TestSendEmail(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	var out bytes.Buffer
	if err := run(context.Background(), args(srv, "-message-type", "email", "-send", "-delay", "50ms"), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	want := "sent 2 skipped 2 failed 0\nskipped u2 (Bob): customer has no email\nskipped u3 (Cleo): unsubscribed from emails in Intercom\n"
	if got := tail(t, out.String()); got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("Intercom got %d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		if m.Type != intercom.Email || m.Subject != "A gift for you" || !strings.Contains(m.Body, "GIFT-") || m.FromAdminID != srv.AdminID() {
			t.Errorf("message %+v", m)
		}
	}
}

func TestSendInAppToFilteredLeads(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	var out bytes.Buffer
	err := run(context.Background(), args(srv, "-send", "-delay", "50ms", "-code-pattern", "",
		"-body", "Hello {{customer.name}}",
		"-filter", `{"junction":"and","metadata.intercom_role":{"conditions":{"$is":["lead"]}}}`), &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if got := tail(t, out.String()); got != "sent 1 skipped 0 failed 0\n" {
		t.Errorf("summary = %q", got)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].To != (intercom.Recipient{Role: intercom.RoleLead, ID: "lead1"}) || msgs[0].Body != "Hello Dan" {
		t.Fatalf("messages = %+v, want one plain in-app to the lead", msgs)
	}
}

func TestCtrlCDuringCountdownCancels(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args(srv, "-send", "-delay", "1h"), out) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "press Ctrl-C") {
		if time.Now().After(deadline) {
			t.Fatalf("no countdown:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("run after Ctrl-C = nil, want an error")
	}
	if !strings.Contains(out.String(), "canceled: nothing was sent") || srv.MessageCount() != 0 {
		t.Fatalf("after Ctrl-C: %d messages, output:\n%s", srv.MessageCount(), out.String())
	}
}

func TestFlagErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-api-base", srv.URL, "-token", "x"}, "-admin-id"},
		{args(srv, "-message-type", "sms"), "-message-type"},
		{args(srv, "-filter", `{"junction":"and","metadata.x":{"conditions":{"$nope":[1]}}}`), "-filter"},
		{args(srv, "-code-pattern", "NOHASH"), "-code-pattern"},
		{args(srv, "-body", "{{customer.nope}}"), "channels[0].body"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), tc.args, &out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error mentioning %s", tc.args, err, tc.want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
