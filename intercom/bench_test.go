package intercom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// The two benchmarks send the same message to the same local intercomtest
// server: BenchmarkSendMessage through the Client (limiter disabled as
// srv.Client does, JSON encode, headers, retry bookkeeping, decode),
// BenchmarkRawPost as a bare net/http POST of the same body. Their ratio is
// the client's overhead.

func benchMessage(srv *intercomtest.Server) intercom.Message {
	return intercom.Message{Type: intercom.InApp, Body: "Hi Ann, your code is WELCOME-7Q2X", FromAdminID: srv.AdminID(),
		To: intercom.Recipient{Role: intercom.RoleUser, ID: ann.ID}}
}

func BenchmarkSendMessage(b *testing.B) {
	srv := intercomtest.NewServer(intercomtest.Contacts(ann))
	defer srv.Close()
	c := srv.Client()
	msg := benchMessage(srv)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SendMessage(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawPost(b *testing.B) {
	srv := intercomtest.NewServer(intercomtest.Contacts(ann))
	defer srv.Close()
	hc := srv.HTTPClient()
	msg := benchMessage(srv)
	body, _ := json.Marshal(map[string]any{"message_type": "inapp", "body": msg.Body,
		"from": map[string]string{"type": "admin", "id": msg.FromAdminID}, "to": map[string]string{"type": "user", "id": msg.To.ID}})
	auth := "Bearer " + srv.Token()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkSendMessageParallel sends concurrently, as the Manager does.
func BenchmarkSendMessageParallel(b *testing.B) {
	srv := intercomtest.NewServer(intercomtest.Contacts(ann))
	defer srv.Close()
	c := srv.Client()
	msg := benchMessage(srv)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.SendMessage(context.Background(), msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
