package intercom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

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

// rawPoster posts the wire body of msg with bare net/http.
func rawPoster(srv *intercomtest.Server, msg intercom.Message) func(testing.TB) {
	hc := srv.HTTPClient()
	body, _ := json.Marshal(map[string]any{"message_type": "inapp", "body": msg.Body,
		"from": map[string]string{"type": "admin", "id": msg.FromAdminID}, "to": map[string]string{"type": "user", "id": msg.To.ID}})
	auth := "Bearer " + srv.Token()
	url := srv.URL + "/messages"
	return func(tb testing.TB) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			tb.Fatal(resp.Status)
		}
	}
}

func BenchmarkRawPost(b *testing.B) {
	srv := intercomtest.NewServer(intercomtest.Contacts(ann))
	defer srv.Close()
	post := rawPoster(srv, benchMessage(srv))
	b.ReportAllocs()
	for b.Loop() {
		post(b)
	}
}

// BenchmarkClientOverhead alternates a client send and a raw POST in every
// iteration and reports each one's time and their ratio, so that load on a
// shared machine affects both alike.
func BenchmarkClientOverhead(b *testing.B) {
	srv := intercomtest.NewServer(intercomtest.Contacts(ann))
	defer srv.Close()
	c := srv.Client()
	msg := benchMessage(srv)
	post := rawPoster(srv, msg)
	ctx := context.Background()
	var client, raw time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if i%2 == 0 {
			post(b)
		}
		t1 := time.Now()
		if _, err := c.SendMessage(ctx, msg); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if i%2 == 1 {
			post(b)
		}
		t3 := time.Now()
		client += t2.Sub(t1)
		raw += t1.Sub(t0) + t3.Sub(t2)
	}
	b.ReportMetric(float64(client.Nanoseconds())/float64(b.N), "client-ns/op")
	b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(client)/float64(raw), "ratio")
}

// BenchmarkSendMessageParallel sends concurrently, as the Manager does.
func BenchmarkSendMessageParallel(b *testing.B) {
	srv := intercomtest.NewServer(intercomtest.Contacts(ann))
	defer srv.Close()
	c := srv.Client()
	msg := benchMessage(srv)
	b.ReportAllocs()
	b.SetParallelism(8) // 8 senders per CPU
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.SendMessage(context.Background(), msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if got := srv.MessageCount(); got < b.N {
		b.Errorf("server recorded %d messages, want %d", got, b.N)
	}
}

// cannedTransport answers every request with the same message JSON, to
// measure the client's own cost without a network or a server.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(cannedMessage)), Request: r}, nil
}

var cannedMessage = []byte(messageOK)

// BenchmarkSendMessageNoNetwork is the client's own CPU cost per send
// (encode, headers, limiter, decode), without network or server.
// The limiter variant sets a limit too high to wait, to show its cost.
func BenchmarkSendMessageNoNetwork(b *testing.B) {
	for _, bc := range []struct {
		name string
		rl   intercom.RateLimit
	}{
		{"no limiter", intercom.RateLimit{Disabled: true}},
		{"limiter", intercom.RateLimit{PerMinute: 1 << 40}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := intercom.NewClient(intercom.Config{Token: "t", HTTPClient: &http.Client{Transport: cannedTransport{}}, RateLimit: bc.rl})
			if err != nil {
				b.Fatal(err)
			}
			msg := intercom.Message{Type: intercom.InApp, Body: "Hi Ann, your code is WELCOME-7Q2X", FromAdminID: "991267001", To: intercom.Recipient{Role: intercom.RoleUser, ID: "c1"}}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.SendMessage(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
